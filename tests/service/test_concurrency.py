"""Concurrent requests get the same responses as the same requests sent one at a time.

A mixed set of user, similar-item and basket requests (options, unknown ids and
404s included) is first sent serially. The same requests, repeated and shuffled,
are then sent at once from many threads and from many async clients, to a real
uvicorn process and to the app in process. Every response, status and body except
the request id, must equal the serial one.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
import pytest

import recsys
from service.config import Settings
from service.main import create_app
from tests.service.conftest import running_app
from tests.service.live_server import live_server
from tests.service.sample_data import purchase_events

pytestmark = pytest.mark.anyio

N_USERS = 60
N_ITEMS = 25
#: Times each distinct request is repeated in the concurrent phase.
REPEATS = 4
THREADS = 16
ASYNC_CLIENTS = 16

# (method, path, query parameters, JSON body as text), hashable so it can key the serial responses.
Request = tuple[str, str, tuple[tuple[str, Any], ...], str | None]


def item_id(index: int) -> str:
    # Every third id is non-ASCII, so concurrency is also checked on percent-encoded paths.
    return f"商品-{index:02d}" if index % 3 == 0 else f"item/{index:02d}"


@pytest.fixture(scope="module")
def mixed_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ItemKNN over sixty users and twenty-five items drawn with a fixed seed, with some descriptions."""
    rng = np.random.default_rng(7)
    baskets = {
        f"user {user}": [
            item_id(int(index)) for index in rng.choice(N_ITEMS, rng.integers(2, 8), replace=False)
        ]
        for user in range(N_USERS)
    }
    metadata = pd.DataFrame(
        {
            "item_id": [item_id(index) for index in range(0, N_ITEMS, 2)],
            "description": [f"description of {item_id(index)}" for index in range(0, N_ITEMS, 2)],
        }
    )
    interactions = recsys.Interactions.from_events(purchase_events(baskets), item_metadata=metadata)
    path = tmp_path_factory.mktemp("concurrency") / "model"
    recsys.ItemKNN().fit(interactions).save(path)
    return path


def request_mix() -> list[Request]:
    """Return the distinct requests: every endpoint with its options, unknown ids and 404s."""
    requests: list[Request] = []
    for user in range(0, N_USERS + 4, 4):
        # Users from N_USERS on are unknown to the model.
        path = f"/v1/users/{quote(f'user {user}', safe='')}/recommendations"
        requests.append(("GET", path, (), None))
        requests.append(
            ("GET", path, (("n", 3), ("backfill", "true"), ("exclude", item_id(user % N_ITEMS))), None)
        )
    requests.append(
        ("GET", f"/v1/users/{quote('nobody', safe='')}/recommendations", (("strict", "true"),), None)
    )
    for index in range(N_ITEMS):
        path = f"/v1/items/{quote(item_id(index), safe='')}/similar"
        requests.append(("GET", path, (("n", 1 + index % 5),), None))
    requests.append(("GET", "/v1/items/unknown-item/similar", (), None))
    for start in range(0, N_ITEMS, 3):
        basket = [item_id((start + offset) % N_ITEMS) for offset in range(3)]
        requests.append(("POST", "/v1/recommendations", (), _encoded({"items": basket})))
        requests.append(
            (
                "POST",
                "/v1/recommendations",
                (),
                _encoded(
                    {
                        "items": [*basket, "not-in-model"],
                        "n": 4,
                        "exclude": [item_id((start + 5) % N_ITEMS)],
                        "backfill": True,
                    }
                ),
            )
        )
        allowed = [item_id((start + offset) % N_ITEMS) for offset in range(4, 12)]
        requests.append(("POST", "/v1/recommendations", (), _encoded({"items": basket, "allow": allowed})))
    requests.append(("POST", "/v1/recommendations", (), _encoded({"items": [], "n": 0})))
    return requests


def _encoded(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


def _decoded(body: str | None) -> Any:
    return None if body is None else json.loads(body)


def concurrent_order(requests: list[Request]) -> list[Request]:
    """Repeat each request REPEATS times, shuffled with a fixed seed."""
    repeated = requests * REPEATS
    order = np.random.default_rng(11).permutation(len(repeated))
    return [repeated[int(position)] for position in order]


def status_and_body(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """Return the status and the body without the request id, which differs on every request."""
    body = response.json()
    body.pop("request_id", None)
    return response.status_code, body


def send_sync(client: httpx.Client, request: Request) -> tuple[int, dict[str, Any]]:
    method, path, params, body = request
    return status_and_body(client.request(method, path, params=list(params), json=_decoded(body)))


async def send_async(client: httpx.AsyncClient, request: Request) -> tuple[int, dict[str, Any]]:
    method, path, params, body = request
    return status_and_body(await client.request(method, path, params=list(params), json=_decoded(body)))


def serial_responses(client: httpx.Client, requests: list[Request]) -> dict[Request, Any]:
    return {request: send_sync(client, request) for request in requests}


def check_mix_responses(expected: dict[Request, Any]) -> None:
    """Check that the serial responses cover the intended mix: 200s with items, and 404s."""
    statuses = [status for status, _ in expected.values()]
    assert statuses.count(404) == 2
    assert all(status in (200, 404) for status in statuses)
    assert (
        sum(1 for status, body in expected.values() if status == 200 and body["items"]) > len(expected) // 2
    )


def send_from_threads(
    base_url: str, requests: list[Request]
) -> list[tuple[Request, tuple[int, dict[str, Any]]]]:
    """Send ``requests`` from THREADS threads, each with an httpx.Client of its own."""
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def client_of_thread() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base_url, timeout=30.0, trust_env=False)
            with lock:
                clients.append(local.client)
        return local.client

    def send(request: Request) -> tuple[Request, tuple[int, dict[str, Any]]]:
        return request, send_sync(client_of_thread(), request)

    def wait_for_all_threads(_: int) -> None:
        # Each thread opens its client, then all start sending together.
        client_of_thread()
        start.wait(timeout=30)

    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            list(pool.map(wait_for_all_threads, range(THREADS)))
            return list(pool.map(send, requests))
    finally:
        for client in clients:
            client.close()


async def send_from_async_clients(
    make_client: Any, requests: list[Request]
) -> list[tuple[Request, tuple[int, dict[str, Any]]]]:
    """Send ``requests`` from ASYNC_CLIENTS clients at once, each with its share in flight together."""
    clients = [make_client() for _ in range(ASYNC_CLIENTS)]

    async def send(client: httpx.AsyncClient, request: Request) -> tuple[Request, tuple[int, dict[str, Any]]]:
        return request, await send_async(client, request)

    try:
        return list(
            await asyncio.gather(
                *(send(clients[index % ASYNC_CLIENTS], request) for index, request in enumerate(requests))
            )
        )
    finally:
        for client in clients:
            await client.aclose()


def assert_equal_to_serial(
    results: list[tuple[Request, tuple[int, dict[str, Any]]]], expected: dict[Request, Any]
) -> None:
    assert len(results) == len(expected) * REPEATS
    different = [(request, got) for request, got in results if got != expected[request]]
    assert not different, f"{len(different)} responses differ from the serial ones, first: {different[0]}"


@pytest.fixture(scope="module")
def live_base_url(mixed_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One uvicorn process serving the mixed model for the tests of this module."""
    log_path = tmp_path_factory.mktemp("concurrency-server") / "server.log"
    with live_server(mixed_model_dir, log_path) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def live_serial(live_base_url: str) -> dict[Request, Any]:
    with httpx.Client(base_url=live_base_url, timeout=30.0, trust_env=False) as client:
        expected = serial_responses(client, request_mix())
    check_mix_responses(expected)
    return expected


def test_live_server_threads_equal_serial(live_base_url: str, live_serial: dict[Request, Any]) -> None:
    results = send_from_threads(live_base_url, concurrent_order(list(live_serial)))

    assert_equal_to_serial(results, live_serial)


async def test_live_server_async_clients_equal_serial(
    live_base_url: str, live_serial: dict[Request, Any]
) -> None:
    def make_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=live_base_url, timeout=30.0, trust_env=False)

    results = await send_from_async_clients(make_client, concurrent_order(list(live_serial)))

    assert_equal_to_serial(results, live_serial)


async def test_in_process_async_clients_equal_serial(mixed_model_dir: Path) -> None:
    app = create_app(Settings(model_dir=mixed_model_dir))
    requests = request_mix()

    async with running_app(app) as client:
        expected = {request: await send_async(client, request) for request in requests}
        transport = httpx.ASGITransport(app=app)

        def make_client() -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=transport, base_url="http://testserver")

        results = await send_from_async_clients(make_client, concurrent_order(requests))

    check_mix_responses(expected)
    assert_equal_to_serial(results, expected)


async def test_in_process_threads_equal_serial(mixed_model_dir: Path) -> None:
    app = create_app(Settings(model_dir=mixed_model_dir))
    requests = request_mix()
    order = concurrent_order(requests)
    chunks = [order[index::THREADS] for index in range(THREADS)]
    start = threading.Barrier(THREADS)

    async def send_chunk(chunk: list[Request]) -> list[tuple[Request, tuple[int, dict[str, Any]]]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return [(request, await send_async(client, request)) for request in chunk]

    def run_in_thread(chunk: list[Request]) -> list[tuple[Request, tuple[int, dict[str, Any]]]]:
        # Each thread runs its own event loop, and all of them call the one app at once.
        start.wait(timeout=30)
        return asyncio.run(send_chunk(chunk))

    async with running_app(app) as client:
        expected = {request: await send_async(client, request) for request in requests}
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = [result for chunk in pool.map(run_in_thread, chunks) for result in chunk]

    check_mix_responses(expected)
    assert_equal_to_serial(results, expected)


async def test_live_responses_equal_in_process(live_serial: dict[Request, Any], mixed_model_dir: Path) -> None:
    async with running_app(create_app(Settings(model_dir=mixed_model_dir))) as client:
        in_process = {request: await send_async(client, request) for request in live_serial}

    assert in_process == live_serial
