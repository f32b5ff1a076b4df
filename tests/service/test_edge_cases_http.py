"""Field failures of recommenders, checked over HTTP on tiny models with hand-worked answers.

Every event is a purchase and the similarity is cosine (the default).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pandas as pd
import pytest

import recsys
from service.config import Settings
from service.main import create_app
from service.state import load_serving_model
from tests.conftest import purchases
from tests.service.conftest import running_app
from tests.service.live_server import live_server

pytestmark = pytest.mark.anyio


def save(model_dir: Path, events: pd.DataFrame) -> Path:
    recsys.ItemKNN().fit(events).save(model_dir)
    return model_dir


def ids(response: httpx.Response) -> list:
    return [item["item_id"] for item in response.json()["items"]]


@pytest.fixture
async def three_buyers(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """a bought x1 x2; b bought x1 x3; c bought x1."""
    model_dir = save(tmp_path / "m", purchases({"a": ["x1", "x2"], "b": ["x1", "x3"], "c": ["x1"]}))
    async with running_app(create_app(Settings(model_dir=model_dir))) as client:
        yield client


@pytest.fixture
async def two_groups(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """a, b bought x1 x2; c bought x1 x3; d bought x4 x5."""
    baskets = {"a": ["x1", "x2"], "b": ["x1", "x2"], "c": ["x1", "x3"], "d": ["x4", "x5"]}
    model_dir = save(tmp_path / "m", purchases(baskets))
    async with running_app(create_app(Settings(model_dir=model_dir))) as client:
        yield client


async def test_unknown_user_fallback_flagged(three_buyers):
    response = await three_buyers.get("/v1/users/zz/recommendations", params={"n": 2})

    assert response.status_code == 200
    assert ids(response) == ["x1", "x2"]
    assert response.json()["fallback"] is True
    assert response.json()["known_user"] is False
    assert {item["reason"] for item in response.json()["items"]} == {"popular"}


async def test_unknown_user_strict_404(three_buyers):
    response = await three_buyers.get("/v1/users/zz/recommendations", params={"n": 2, "strict": "true"})

    assert response.status_code == 404
    assert "'zz'" in response.json()["detail"]


async def test_basket_fresh_visitor(two_groups):
    response = await two_groups.post("/v1/recommendations", json={"items": ["x1"], "n": 2})

    assert response.status_code == 200
    assert ids(response) == ["x2", "x3"]


async def test_basket_empty_is_empty(two_groups):
    response = await two_groups.post("/v1/recommendations", json={"items": [], "n": 2})

    assert response.status_code == 200
    assert ids(response) == []


async def test_basket_empty_backfill_flagged(two_groups):
    response = await two_groups.post("/v1/recommendations", json={"items": [], "n": 2, "backfill": True})

    assert ids(response) == ["x1", "x2"]
    assert response.json()["fallback"] is True


async def test_unicode_ids_through_encoded_paths(tmp_path):
    user, item, other = "用户 1", "商品-東京-01", "商品 02"
    model_dir = save(tmp_path / "m", purchases({user: [item], "b": [item, other], "c": [other]}))

    async with running_app(create_app(Settings(model_dir=model_dir))) as client:
        similar = await client.get(f"/v1/items/{quote(item, safe='')}/similar")
        user_answer = await client.get(f"/v1/users/{quote(user, safe='')}/recommendations")

    assert ids(similar) == [other]
    assert similar.json()["item_id"] == item
    assert user_answer.json()["user_id"] == user
    assert ids(user_answer) == [other]


async def test_int_ids_stay_int(tmp_path):
    events = pd.DataFrame({"user_id": [1, 2, 2], "item_id": [1001, 1001, 1002], "event": "purchase"})
    model_dir = save(tmp_path / "m", events)

    async with running_app(create_app(Settings(model_dir=model_dir))) as client:
        response = await client.get("/v1/items/1001/similar")

    assert response.json()["items"][0]["item_id"] == 1002
    assert response.json()["items"][0]["because"] == [1001]


# ---------------------------------------------------------------- concurrency


def concurrency_events(seed: int) -> pd.DataFrame:
    """Forty users over twenty items, drawn with a fixed seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    items = [f"i{index:02d}" for index in range(20)]
    baskets = {
        f"u{user}": list(rng.choice(items, size=rng.integers(2, 7), replace=False)) for user in range(40)
    }
    return purchases(baskets)


def request_mix(count: int) -> list[tuple[str, str, dict | None]]:
    """User, similar-item and basket requests in turn, unknown users included."""
    requests: list[tuple[str, str, dict | None]] = []
    for index in range(count):
        if index % 3 == 0:
            requests.append(("GET", f"/v1/users/u{index % 45}/recommendations?n=4&backfill=true", None))
        elif index % 3 == 1:
            requests.append(("GET", f"/v1/items/i{index % 20:02d}/similar?n=4", None))
        else:
            basket = [f"i{(index + offset) % 20:02d}" for offset in range(3)]
            requests.append(("POST", "/v1/recommendations", {"items": basket, "n": 4}))
    return requests


async def send(client: httpx.AsyncClient, request: tuple[str, str, dict | None]) -> httpx.Response:
    method, url, body = request
    return await client.request(method, url, json=body)


def answer(response: httpx.Response) -> tuple:
    body = response.json()
    return (
        response.status_code,
        body["model_version"],
        [(item["item_id"], item["score"]) for item in body["items"]],
    )


async def test_real_server_concurrent_equals_serial(tmp_path):
    model_dir = save(tmp_path / "m", concurrency_events(seed=1))
    requests = request_mix(200)

    with live_server(model_dir, tmp_path / "server.log") as base_url:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(
            base_url=base_url, timeout=30.0, limits=limits, trust_env=False
        ) as client:
            serial = [answer(await send(client, request)) for request in requests]
            concurrent = await asyncio.gather(*(send(client, request) for request in requests))

    assert [answer(response) for response in concurrent] == serial
    assert all(status == 200 for status, _, _ in serial)


async def test_reload_mid_run_never_mixes_models(tmp_path):
    old_dir = save(tmp_path / "old", concurrency_events(seed=1))
    new_dir = save(tmp_path / "new", concurrency_events(seed=2))
    requests = request_mix(200)
    first, second = requests[:100], requests[100:]
    app = create_app(Settings(model_dir=old_dir))

    async with running_app(app) as client:
        expected = {}
        for model_dir in (new_dir, old_dir):
            app.state.serving = load_serving_model(model_dir)
            for request in requests:
                expected[(model_dir, request[1], str(request[2]))] = answer(await send(client, request))

        done = 0
        enough_done = asyncio.Event()

        async def send_counted(request: tuple[str, str, dict | None]) -> httpx.Response:
            nonlocal done
            response = await send(client, request)
            done += 1
            if done == 30:
                enough_done.set()
            return response

        async def swap_then_send_rest() -> list[httpx.Response]:
            # Swap while most of the first hundred are still in flight, then keep sending.
            await enough_done.wait()
            app.state.serving = load_serving_model(new_dir)
            return await asyncio.gather(*(send(client, request) for request in second))

        *first_responses, second_responses = await asyncio.gather(
            *(send_counted(request) for request in first), swap_then_send_rest()
        )

    versions = {recsys.load(path).version_: path for path in (old_dir, new_dir)}
    responses = [*first_responses, *second_responses]
    for request, response in zip(requests, responses, strict=True):
        version = response.json()["model_version"]
        # Each answer is exactly what the model it names gives when asked alone.
        assert answer(response) == expected[(versions[version], request[1], str(request[2]))]
    served = {response.json()["model_version"] for response in responses}
    assert served == set(versions)
