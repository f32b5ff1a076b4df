"""GET /v1/items/{item_id}/similar."""

from __future__ import annotations

import math
from urllib.parse import quote

import httpx
import pytest

from tests.service.sample_data import TOKYO_CUP

pytestmark = pytest.mark.anyio


def similar_url(item_id: str) -> str:
    return f"/v1/items/{quote(item_id, safe='')}/similar"


async def test_similar_items(client: httpx.AsyncClient) -> None:
    response = await client.get(similar_url(TOKYO_CUP))

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == ["mug", "tea"]
    assert [item["score"] for item in body["items"]] == pytest.approx([2 / math.sqrt(6), 0.5])
    assert {item["reason"] for item in body["items"]} == {"similar"}
    assert body["items"][0]["because"] == [TOKYO_CUP]
    assert body["items"][0]["metadata"] == {"description": "WHITE HANGING HEART T-LIGHT HOLDER"}
    assert body["items"][1]["metadata"] == {}
    assert body["item_id"] == TOKYO_CUP
    assert body["fallback"] is False
    assert body["unknown_items"] == []


async def test_similar_items_tie_goes_to_smaller_id(client: httpx.AsyncClient) -> None:
    response = await client.get(similar_url("mug"))

    assert response.status_code == 200
    # tea and TOKYO_CUP both score 2/sqrt(6); "tea" sorts first by code point.
    assert [item["item_id"] for item in response.json()["items"]] == ["tea", TOKYO_CUP]


async def test_similar_items_n_and_exclude(client: httpx.AsyncClient) -> None:
    response = await client.get(similar_url("mug"), params={"n": 1, "exclude": ["tea", "gone"]})

    assert response.status_code == 200
    body = response.json()
    assert [item["item_id"] for item in body["items"]] == [TOKYO_CUP]
    assert body["unknown_items"] == ["gone"]


async def test_similar_items_unknown_item_404(client: httpx.AsyncClient) -> None:
    response = await client.get(similar_url("no-such-item"))

    assert response.status_code == 404
    body = response.json()
    assert "'no-such-item'" in body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_similar_items_unknown_unicode_item_404(client: httpx.AsyncClient) -> None:
    response = await client.get(similar_url("商品-大阪-99"))

    assert response.status_code == 404
    assert "'商品-大阪-99'" in response.json()["detail"]


async def test_similar_items_percent_encoded_unicode(client: httpx.AsyncClient) -> None:
    url = "/v1/items/%E5%95%86%E5%93%81-%E6%9D%B1%E4%BA%AC-01/similar"

    response = await client.get(url)

    assert response.status_code == 200
    assert response.json()["item_id"] == TOKYO_CUP
    assert [item["item_id"] for item in response.json()["items"]] == ["mug", "tea"]


async def test_similar_items_id_with_slash(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/items/bag%2Fred/similar")

    assert response.status_code == 200
    body = response.json()
    assert body["item_id"] == "bag/red"
    assert [item["item_id"] for item in body["items"]] == ["zzz"]
    assert body["items"][0]["because"] == ["bag/red"]


async def test_similar_items_numeric_model(numeric_client: httpx.AsyncClient) -> None:
    response = await numeric_client.get("/v1/items/1001/similar")

    assert response.status_code == 200
    body = response.json()
    assert body["item_id"] == "1001"
    assert [item["item_id"] for item in body["items"]] == [1002, 1003]
    assert all(type(item["item_id"]) is int for item in body["items"])
    assert body["items"][0]["because"] == [1001]
    assert [item["score"] for item in body["items"]] == pytest.approx([1.0, 0.5])


async def test_similar_items_numeric_exclude(numeric_client: httpx.AsyncClient) -> None:
    response = await numeric_client.get("/v1/items/1001/similar", params={"exclude": "1002"})

    assert response.status_code == 200
    assert [item["item_id"] for item in response.json()["items"]] == [1003]
    assert response.json()["unknown_items"] == []


async def test_similar_items_numeric_unknown_404(numeric_client: httpx.AsyncClient) -> None:
    response = await numeric_client.get("/v1/items/01001/similar")

    assert response.status_code == 404
    assert "'01001'" in response.json()["detail"]
