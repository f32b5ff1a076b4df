"""GET /v1/users/{user_id}/recommendations and POST /v1/recommendations."""

from __future__ import annotations

import math
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
import pytest

from service.responses import json_metadata
from tests.service.sample_data import TOKYO_CUP, USER_1

pytestmark = pytest.mark.anyio

COS_2_OF_6 = 2 / math.sqrt(6)


def user_url(user_id: str) -> str:
    return f"/v1/users/{quote(user_id, safe='')}/recommendations"


async def test_user_recommendations_known_user(client: httpx.AsyncClient) -> None:
    response = await client.get(user_url(USER_1))

    assert response.status_code == 200
    body = response.json()
    # The user has TOKYO_CUP and mug; only tea shares buyers with them.
    assert [item["item_id"] for item in body["items"]] == ["tea"]
    tea = body["items"][0]
    assert tea["reason"] == "similar"
    assert tea["score"] == pytest.approx(5 * 0.5 + 5 * COS_2_OF_6)
    assert tea["because"] == ["mug", TOKYO_CUP]
    assert tea["metadata"] == {}
    assert body["user_id"] == USER_1
    assert body["known_user"] is True
    assert body["fallback"] is False
    assert body["unknown_items"] == []


async def test_user_recommendations_backfill(client: httpx.AsyncClient) -> None:
    response = await client.get(user_url(USER_1), params={"n": 3, "backfill": "true"})

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == ["tea", "bag/red", "zzz"]
    assert [item["reason"] for item in body["items"]] == ["similar", "popular", "popular"]
    assert body["items"][1]["because"] == []
    assert body["fallback"] is True
    assert body["known_user"] is True


async def test_user_recommendations_exclude(client: httpx.AsyncClient) -> None:
    response = await client.get(
        user_url(USER_1), params={"n": 3, "backfill": "true", "exclude": ["tea", "gone"]}
    )

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == ["bag/red", "zzz"]
    assert body["unknown_items"] == ["gone"]


async def test_user_recommendations_unknown_user(client: httpx.AsyncClient) -> None:
    response = await client.get(user_url("nobody"), params={"n": 3})

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == ["mug", "tea", TOKYO_CUP]
    assert {item["reason"] for item in body["items"]} == {"popular"}
    assert body["items"][0]["score"] == pytest.approx(15.0)
    assert body["items"][0]["metadata"] == {"description": "WHITE HANGING HEART T-LIGHT HOLDER"}
    assert body["items"][2]["metadata"] == {"description": "東京 TEA CUP"}
    assert body["fallback"] is True
    assert body["known_user"] is False
    assert body["user_id"] == "nobody"


async def test_user_recommendations_unknown_user_n_zero(client: httpx.AsyncClient) -> None:
    response = await client.get(user_url("nobody"), params={"n": 0})

    assert response.status_code == 200
    body = response.json()
    assert body["items"] == []
    assert body["fallback"] is True
    assert body["known_user"] is False


async def test_user_recommendations_strict_unknown_404(client: httpx.AsyncClient) -> None:
    response = await client.get(user_url("ghost-42"), params={"strict": "true"})

    assert response.status_code == 404
    body = response.json()
    assert "'ghost-42'" in body["detail"]
    assert "strict=true" in body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_user_recommendations_strict_known_user(client: httpx.AsyncClient) -> None:
    response = await client.get(user_url(USER_1), params={"strict": "true"})

    assert response.status_code == 200
    assert [item["item_id"] for item in response.json()["items"]] == ["tea"]


async def test_user_id_percent_encoded_unicode(client: httpx.AsyncClient) -> None:
    url = "/v1/users/%E7%94%A8%E6%88%B7%201/recommendations"

    response = await client.get(url)

    assert response.status_code == 200
    assert response.json()["user_id"] == USER_1
    assert response.json()["known_user"] is True


async def test_user_recommendations_numeric_model(numeric_client: httpx.AsyncClient) -> None:
    response = await numeric_client.get("/v1/users/1/recommendations")

    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == "1"
    assert body["known_user"] is True
    [item] = body["items"]
    assert item["item_id"] == 1003
    assert isinstance(item["item_id"], int)
    # 1001 and 1002 contribute 5 * 1/2 each; the tie goes to the smaller id.
    assert item["because"] == [1001, 1002]
    assert item["score"] == pytest.approx(5.0)


async def test_user_id_not_canonical_is_unknown(numeric_client: httpx.AsyncClient) -> None:
    # "01" is not the canonical text of 1, so the model treats it as another user.
    response = await numeric_client.get("/v1/users/01/recommendations")

    assert response.status_code == 200
    assert response.json()["known_user"] is False
    assert [item["item_id"] for item in response.json()["items"]] == [1001, 1002, 1003]


async def test_basket_recommendations(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/recommendations", json={"items": [TOKYO_CUP]})

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == ["mug", "tea"]
    assert [item["score"] for item in body["items"]] == pytest.approx([COS_2_OF_6, 0.5])
    assert body["items"][0]["because"] == [TOKYO_CUP]
    assert body["items"][0]["metadata"] == {"description": "WHITE HANGING HEART T-LIGHT HOLDER"}
    assert body["fallback"] is False
    assert body["unknown_items"] == []
    assert "user_id" not in body
    assert "known_user" not in body


async def test_basket_unknown_items_reported(client: httpx.AsyncClient) -> None:
    payload = {"items": [TOKYO_CUP, "nope"], "exclude": ["tea", "gone"]}

    response = await client.post("/v1/recommendations", json=payload)

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == ["mug"]
    assert body["unknown_items"] == ["nope", "gone"]


async def test_basket_allow_list(client: httpx.AsyncClient) -> None:
    payload = {"items": ["mug"], "allow": [TOKYO_CUP, "ghost"]}

    response = await client.post("/v1/recommendations", json=payload)

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == [TOKYO_CUP]
    assert body["unknown_items"] == ["ghost"]


async def test_basket_empty_with_backfill(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/recommendations", json={"items": [], "n": 2, "backfill": True})

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == ["mug", "tea"]
    assert body["fallback"] is True


async def test_basket_numeric_ids_keep_json_types(numeric_client: httpx.AsyncClient) -> None:
    # The str "1001" finds the int item 1001; unknown ids come back with the type they were sent.
    payload = {"items": ["1001", 999], "exclude": ["77"]}

    response = await numeric_client.post("/v1/recommendations", json=payload)

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == [1002, 1003]
    assert all(isinstance(item["item_id"], int) for item in body["items"])
    assert body["items"][0]["because"] == [1001]
    assert body["unknown_items"] == [999, "77"]
    assert isinstance(body["unknown_items"][0], int)
    assert isinstance(body["unknown_items"][1], str)


async def test_basket_unicode_ids_unchanged(client: httpx.AsyncClient) -> None:
    unknown = "未知の商品 ☕"

    response = await client.post("/v1/recommendations", json={"items": ["mug", unknown]})

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == ["tea", TOKYO_CUP]
    assert body["unknown_items"] == [unknown]
    assert body["model_version"]


def test_json_metadata_drops_missing_values() -> None:
    attributes = {
        "description": "MUG",
        "colour": float("nan"),
        "size": pd.NA,
        "weight": float("inf"),
        "stock": np.int64(3),
    }

    cleaned = json_metadata(attributes)

    assert cleaned == {"description": "MUG", "stock": 3}
    assert type(cleaned["stock"]) is int
