"""A CrossOccurrence model trained with the CLI on the OTTO sample, served over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

import recsys
from recsys.cli import main as cli_main
from service.config import Settings
from service.main import create_app
from tests.conftest import OTTO_DIR
from tests.service.conftest import running_app

pytestmark = pytest.mark.anyio

API_KEY = "cross-occurrence-test-key"
KEY = {"X-API-Key": API_KEY}

# In the OTTO sample, session 4 viewed item 255379 and later bought item 298827, and
# sessions 0 and 3 bought items together (305831 with 461689, 543308 and 1199474).
VIEWED = 255379
BOUGHT_AFTER_VIEW = 298827
BOUGHT_TOGETHER = 305831


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model that ``recsys train --model cross-occurrence`` writes for the OTTO sample."""
    out = tmp_path_factory.mktemp("models") / "otto-cco"
    argv = ["-q", "train", "--format", "otto", "--events", str(OTTO_DIR / "otto_train_20sessions.jsonl.gz")]
    assert cli_main([*argv, "--model", "cross-occurrence", "--out", str(out)]) == 0
    return out


@pytest.fixture
def model(model_dir: Path) -> recsys.CrossOccurrence:
    return recsys.CrossOccurrence.load(model_dir)


@pytest.fixture
async def cco_client(model_dir: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        model_dir=model_dir,
        database_url=f"sqlite:///{tmp_path / 'events.sqlite3'}",
        api_keys=[API_KEY],
    )
    async with running_app(create_app(settings)) as http:
        yield http


def signal_pairs(item: dict[str, object]) -> list[tuple[object, object]]:
    signals = item["signals"]
    assert isinstance(signals, list)
    return [(signal["event"], signal["item_id"]) for signal in signals]


async def test_ready_names_model_class(cco_client: httpx.AsyncClient) -> None:
    response = await cco_client.get("/readyz", headers=KEY)

    assert response.status_code == 200
    assert response.json()["model_class"] == "CrossOccurrence"


async def test_posted_view_drives_user_pick(
    cco_client: httpx.AsyncClient, model: recsys.CrossOccurrence
) -> None:
    event = {"user_id": "999", "item_id": VIEWED, "event": "view"}
    posted = await cco_client.post("/v1/events", json={"events": [event]}, headers=KEY)
    assert posted.status_code == 201

    response = await cco_client.get("/v1/users/999/recommendations", params={"n": 5}, headers=KEY)

    assert response.status_code == 200
    body = response.json()
    assert body["known_user"] is False
    assert body["recent_events"] == 1
    assert body["fallback"] is False
    expected = model.recommend(999, 5, recent=pd.DataFrame({"item_id": [VIEWED], "event": ["view"]}))
    assert [item["item_id"] for item in body["items"]] == expected.item_ids
    assert [item["score"] for item in body["items"]] == expected.scores
    assert BOUGHT_AFTER_VIEW in expected.item_ids
    pick = next(item for item in body["items"] if item["item_id"] == BOUGHT_AFTER_VIEW)
    assert signal_pairs(pick) == [("view", VIEWED)]
    assert pick["because"] == [VIEWED]


async def test_posted_cart_counts_as_cart(
    cco_client: httpx.AsyncClient, model: recsys.CrossOccurrence
) -> None:
    event = {"user_id": "998", "item_id": BOUGHT_AFTER_VIEW, "event": "cart"}
    posted = await cco_client.post("/v1/events", json={"events": [event]}, headers=KEY)
    assert posted.status_code == 201

    response = await cco_client.get("/v1/users/998/recommendations", headers=KEY)

    body = response.json()
    expected = model.recommend(998, recent=pd.DataFrame({"item_id": [BOUGHT_AFTER_VIEW], "event": ["cart"]}))
    assert [item["item_id"] for item in body["items"]] == expected.item_ids
    assert all(event == "cart" for item in body["items"] for event, _ in signal_pairs(item))


async def test_unknown_event_type_rejected(cco_client: httpx.AsyncClient) -> None:
    event = {"user_id": "997", "item_id": VIEWED, "event": "orders"}

    response = await cco_client.post("/v1/events", json={"events": [event]}, headers=KEY)

    assert response.status_code == 422
    assert "orders" in response.text


async def test_fitted_user_answers(cco_client: httpx.AsyncClient, model: recsys.CrossOccurrence) -> None:
    response = await cco_client.get(
        "/v1/users/4/recommendations", params={"n": 3, "backfill": "true"}, headers=KEY
    )

    body = response.json()
    assert body["known_user"] is True
    expected = model.recommend(4, 3, backfill=True)
    assert [item["item_id"] for item in body["items"]] == expected.item_ids
    assert [item["reason"] for item in body["items"]] == [item.reason for item in expected]
    assert [signal_pairs(item) for item in body["items"]] == [list(item.signals) for item in expected]


async def test_basket_signals_name_purchases(
    cco_client: httpx.AsyncClient, model: recsys.CrossOccurrence
) -> None:
    response = await cco_client.post(
        "/v1/recommendations", json={"items": [BOUGHT_TOGETHER], "n": 3}, headers=KEY
    )

    assert response.status_code == 200
    items = response.json()["items"]
    expected = model.recommend_basket([BOUGHT_TOGETHER], 3)
    assert len(expected) == 3
    assert [item["item_id"] for item in items] == expected.item_ids
    assert [item["score"] for item in items] == expected.scores
    assert all(signal_pairs(item) == [("purchase", BOUGHT_TOGETHER)] for item in items)


async def test_similar_items_match_model(
    cco_client: httpx.AsyncClient, model: recsys.CrossOccurrence
) -> None:
    response = await cco_client.get(f"/v1/items/{BOUGHT_TOGETHER}/similar", params={"n": 5}, headers=KEY)

    assert response.status_code == 200
    items = response.json()["items"]
    expected = model.similar_items(BOUGHT_TOGETHER, 5)
    assert len(expected) > 0
    assert [item["item_id"] for item in items] == expected.item_ids
    assert [item["because"] for item in items] == [[BOUGHT_TOGETHER]] * len(items)


async def test_item_knn_items_have_empty_signals(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/recommendations", json={"items": ["mug"], "backfill": True})

    items = response.json()["items"]
    assert items
    assert all(item["signals"] == [] for item in items)


async def test_openapi_documents_signals(cco_client: httpx.AsyncClient) -> None:
    schema = (await cco_client.get("/openapi.json")).json()

    item = schema["components"]["schemas"]["RecommendedItem"]
    assert "signals" in item["properties"]
    assert "signals" not in item.get("required", [])
    assert set(schema["components"]["schemas"]["Signal"]["required"]) == {"event", "item_id"}
