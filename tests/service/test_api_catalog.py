"""PUT /v1/items and the rule and min_support parameters of the recommendation endpoints.

The retail model of sample_data: mug's neighbours are tea and TOKYO_CUP (cosine
2/sqrt(6) each, two co-buyers each, tea first by id); TOKYO_CUP's are mug
(2/sqrt(6)) and tea (1/2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from service.config import Settings
from service.main import create_app
from service.state import load_serving_model
from tests.service.conftest import running_app
from tests.service.sample_data import TOKYO_CUP

pytestmark = pytest.mark.anyio

API_KEY = "catalog-test-key"
KEY = {"X-API-Key": API_KEY}
CATALOG: list[dict[str, Any]] = [
    {"item_id": "mug", "category": "kitchen", "price": 4.5, "in_stock": True},
    {"item_id": "tea", "category": "food", "price": 3.0, "in_stock": False},
    {"item_id": TOKYO_CUP, "category": "kitchen", "price": 12.0, "in_stock": True},
    {"item_id": "bag/red", "category": "bags", "available_until": "2000-01-01T00:00:00Z"},
    {"item_id": "not-in-model", "category": "kitchen"},
]


def make_app(model_dir: Path, tmp_path: Path) -> FastAPI:
    settings = Settings(
        model_dir=model_dir, database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}", api_keys=[API_KEY]
    )
    return create_app(settings)


@pytest.fixture
async def client(retail_model_dir: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_app(retail_model_dir, tmp_path)) as http:
        yield http


async def put_catalog(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> httpx.Response:
    return await client.put("/v1/items", json={"items": items}, headers=KEY)


def similar_ids(response: httpx.Response) -> list[Any]:
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


async def test_put_catalog_summary(client: httpx.AsyncClient) -> None:
    response = await put_catalog(client, CATALOG)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["items"] == 5
    assert body["matched"] == 4
    assert body["unknown_items"] == 1
    assert body["unknown_item_ids"] == ["not-in-model"]
    assert body["missing_items"] == 1
    assert body["columns"] == {
        "category": "string",
        "price": "number",
        "in_stock": "bool",
        "available_until": "datetime",
    }
    assert body["stored"] == "database"


async def test_filter_and_metadata(client: httpx.AsyncClient) -> None:
    await put_catalog(client, CATALOG)

    response = await client.get("/v1/items/mug/similar", params={"filter": "category:kitchen"})

    assert similar_ids(response) == [TOKYO_CUP]
    assert response.json()["items"][0]["metadata"] == {"category": "kitchen", "price": 12.0, "in_stock": True}


async def test_filter_range_and_filter_out(client: httpx.AsyncClient) -> None:
    await put_catalog(client, CATALOG)

    cheap = await client.get("/v1/items/mug/similar", params={"filter": "price:..5"})
    in_stock = await client.get("/v1/items/mug/similar", params={"filter_out": "in_stock:false"})

    assert similar_ids(cheap) == ["tea"]
    assert similar_ids(in_stock) == [TOKYO_CUP]


async def test_boost_and_cap(client: httpx.AsyncClient) -> None:
    await put_catalog(client, CATALOG)

    boosted = await client.get("/v1/items/mug/similar", params={"boost": "category:kitchen:2"})
    capped = await client.get(f"/v1/items/{quote(TOKYO_CUP)}/similar", params={"max_per_category": 1, "n": 2})

    assert similar_ids(boosted) == [TOKYO_CUP, "tea"]
    # mug (kitchen) and tea (food) differ in category, so the cap of 1 keeps both.
    assert similar_ids(capped) == ["mug", "tea"]


async def test_availability_hides_item(client: httpx.AsyncClient) -> None:
    await put_catalog(client, CATALOG)

    response = await client.get("/v1/items/zzz/similar")

    assert similar_ids(response) == []
    assert response.json()["short_of_evidence"] is True


async def test_min_support_flag(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/items/mug/similar", params={"min_support": 3})

    assert similar_ids(response) == []
    assert response.json()["short_of_evidence"] is True
    assert response.json()["below_min_support"] == 2


async def test_basket_rules_body(client: httpx.AsyncClient) -> None:
    await put_catalog(client, CATALOG)

    response = await client.post(
        "/v1/recommendations",
        json={
            "items": ["mug"],
            "n": 3,
            "rules": {
                "include": {"price": {"min": 4}},
                "boost": [{"where": {"category": "kitchen"}, "factor": 2}],
            },
            "min_support": 2,
            "backfill": True,
        },
    )

    assert similar_ids(response) == [TOKYO_CUP]
    body = response.json()
    assert body["short_of_evidence"] is True
    assert body["below_min_support"] == 0


async def test_basket_reversed_range_rejected(client: httpx.AsyncClient) -> None:
    await put_catalog(client, CATALOG)

    response = await client.post(
        "/v1/recommendations",
        json={"items": ["mug"], "rules": {"include": {"price": {"min": 10, "max": 1}}}},
    )

    assert response.status_code == 422
    assert "Range min 10 is above max 1" in response.json()["detail"]


async def test_user_rules_query(client: httpx.AsyncClient) -> None:
    await put_catalog(client, CATALOG)

    response = await client.get("/v1/users/u3/recommendations", params={"filter": "category:kitchen"})

    assert similar_ids(response) == [TOKYO_CUP]


async def test_put_duplicate_rejected_old_kept(client: httpx.AsyncClient) -> None:
    await put_catalog(client, CATALOG)

    response = await put_catalog(client, [{"item_id": "mug"}, {"item_id": "tea"}, {"item_id": "mug"}])

    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "items[2].item_id"
    assert "duplicate ids: 'mug'" in body["detail"]
    assert "request_id" in body
    still = await client.get("/v1/items/mug/similar", params={"filter": "category:kitchen"})
    assert similar_ids(still) == [TOKYO_CUP]


async def test_put_bad_value_names_field(client: httpx.AsyncClient) -> None:
    response = await put_catalog(
        client, [{"item_id": "mug", "price": 1}, {"item_id": "tea", "price": "cheap"}]
    )

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "items[1].price"
    assert error["value"] == "cheap"


async def test_put_bad_date_names_field(client: httpx.AsyncClient) -> None:
    response = await put_catalog(client, [{"item_id": "mug", "available_from": "soon"}])

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "items[0].available_from"


async def test_put_nested_value_rejected(client: httpx.AsyncClient) -> None:
    response = await put_catalog(client, [{"item_id": "mug", "tags": ["a", "b"]}])

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "items[0].tags"


async def test_put_missing_item_id(client: httpx.AsyncClient) -> None:
    response = await put_catalog(client, [{"category": "x"}])

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "items[0].item_id"


async def test_put_requires_key(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/items", json={"items": CATALOG})

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter": "category"}, "must be written attribute:value"),
        ({"filter": "colour:red"}, "attribute 'colour'"),
        ({"boost": "category:kitchen"}, "attribute:value:factor"),
        ({"filter": "price:abc"}, "cannot use 'abc'"),
        ({"filter": "price:10..1"}, "invalid query parameter 'filter': has the range 'price:10..1'"),
        ({"filter_out": "price:10..1"}, "write it as price:1..10"),
    ],
)
async def test_bad_rule_parameters(client: httpx.AsyncClient, params: dict[str, str], message: str) -> None:
    await put_catalog(client, CATALOG)

    response = await client.get("/v1/items/mug/similar", params=params)

    assert response.status_code == 422
    assert message in response.json()["detail"]


async def test_backwards_range_names_the_parameter(client: httpx.AsyncClient) -> None:
    await put_catalog(client, CATALOG)

    response = await client.get("/v1/items/mug/similar", params={"filter_out": "price:10..1"})

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["location"], error["field"], error["value"]) == ("query", "filter_out", "price:10..1")


async def test_catalog_survives_restart_and_reload(retail_model_dir: Path, tmp_path: Path) -> None:
    async with running_app(make_app(retail_model_dir, tmp_path)) as first:
        await put_catalog(first, CATALOG)

    app = make_app(retail_model_dir, tmp_path)
    async with running_app(app) as second:
        restarted = await second.get("/v1/items/mug/similar", params={"filter": "category:kitchen"})
        assert similar_ids(restarted) == [TOKYO_CUP]

        # A reload swaps in a freshly loaded model, which has the saved catalogue only.
        app.state.serving = load_serving_model(retail_model_dir)
        reloaded = await second.get("/v1/items/mug/similar", params={"filter": "category:kitchen"})
        assert similar_ids(reloaded) == [TOKYO_CUP]
