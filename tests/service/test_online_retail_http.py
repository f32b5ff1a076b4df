"""The demo path on real data: train on Online Retail, serve with uvicorn, ask over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from recsys import Interactions, ItemKNN
from recsys.datasets import load_online_retail
from tests.conftest import ONLINE_RETAIL
from tests.service.live_server import live_server

pytestmark = pytest.mark.slow

CUSTOMER = 17850
POPULAR_ITEM = "85123A"


def test_retail_over_real_http(tmp_path: Path) -> None:
    events, items = load_online_retail(ONLINE_RETAIL)
    model = ItemKNN().fit(Interactions.from_events(events, item_metadata=items))
    model.save(tmp_path / "retail")
    bought = set(events.loc[events["user_id"] == CUSTOMER, "item_id"])

    with (
        live_server(tmp_path / "retail", tmp_path / "server.log") as base_url,
        httpx.Client(base_url=base_url, timeout=10.0, trust_env=False) as http,
    ):
        similar = http.get(f"/v1/items/{POPULAR_ITEM}/similar", params={"n": 10}).json()
        user = http.get(f"/v1/users/{CUSTOMER}/recommendations", params={"n": 10}).json()
        ready = http.get("/readyz").json()

    assert len(similar["items"]) >= 5
    assert all(item["because"] == [POPULAR_ITEM] for item in similar["items"])
    assert all(item["metadata"]["description"] for item in similar["items"])
    assert [item["item_id"] for item in similar["items"]] == model.similar_items(POPULAR_ITEM, 10).item_ids
    assert user["known_user"] is True
    assert len(user["items"]) == 10
    assert not bought & {item["item_id"] for item in user["items"]}
    assert ready["model_version"] == model.version_
