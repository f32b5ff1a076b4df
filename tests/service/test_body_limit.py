"""Request body limit (413), and error bodies that never show a traceback or a file path."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import recsys
from service.config import Settings
from service.main import create_app
from tests.service.conftest import running_app
from tests.service.live_server import live_server

pytestmark = pytest.mark.anyio

LIMIT = 200
REPO = Path(__file__).resolve().parents[2]


def basket_body(size: int) -> bytes:
    """Return a JSON basket request of exactly ``size`` bytes."""
    body = json.dumps({"items": ["mug"], "n": 2, "exclude": [""]}).encode()
    padding = size - len(body)
    assert padding >= 0
    return json.dumps({"items": ["mug"], "n": 2, "exclude": ["x" * padding]}).encode()


@pytest.fixture
async def limited_client(retail_model_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(model_dir=retail_model_dir, max_body_bytes=LIMIT, reload_interval_s=0))
    async with running_app(app) as http:
        yield http


def assert_body_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    body = response.json()
    assert set(body) == {"detail", "request_id"}
    assert f"limit of {LIMIT} bytes" in body["detail"]
    assert "RECSYS_MAX_BODY_BYTES" in body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_body_at_limit_accepted(limited_client: httpx.AsyncClient) -> None:
    body = basket_body(LIMIT)

    response = await limited_client.post(
        "/v1/recommendations", content=body, headers={"Content-Type": "application/json"}
    )

    assert len(body) == LIMIT
    assert response.status_code == 200


async def test_content_length_over_limit_413(limited_client: httpx.AsyncClient) -> None:
    response = await limited_client.post(
        "/v1/recommendations", content=basket_body(LIMIT + 1), headers={"Content-Type": "application/json"}
    )

    assert_body_too_large(response)


async def test_chunked_body_over_limit_413(limited_client: httpx.AsyncClient) -> None:
    chunk_size = 64
    chunks_sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        for _ in range(100):
            chunks_sent += 1
            yield b" " * chunk_size

    response = await limited_client.post(
        "/v1/recommendations", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert "content-length" not in {name.lower() for name in response.request.headers}
    assert_body_too_large(response)
    # The chunk that passes the limit is the last one read: 4 * 64 > 200.
    assert chunks_sent == 4


async def test_chunked_body_under_limit_accepted(limited_client: httpx.AsyncClient) -> None:
    body = basket_body(LIMIT)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 50):
            yield body[start : start + 50]

    response = await limited_client.post(
        "/v1/recommendations", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200


async def test_body_limit_counted_in_metrics(limited_client: httpx.AsyncClient) -> None:
    await limited_client.post(
        "/v1/recommendations", content=basket_body(LIMIT + 1), headers={"Content-Type": "application/json"}
    )

    metrics = await limited_client.get("/metrics")

    assert 'recsys_http_requests_total{method="POST",route="unmatched",status="413"} 1.0' in metrics.text


def assert_no_internals(response: httpx.Response, *paths: Path) -> None:
    """Fail when the response shows a traceback, a Python file or one of ``paths``."""
    text = response.text + str(response.headers)
    assert "Traceback" not in text
    assert 'File "' not in text
    assert ".py" not in text
    assert str(REPO) not in text
    for path in paths:
        assert str(path) not in text


async def test_internal_error_hides_details(retail_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_recommend_basket(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"index out of range in {__file__} for {retail_model_dir}")

    monkeypatch.setattr(recsys.ItemKNN, "recommend_basket", broken_recommend_basket)
    app = create_app(Settings(model_dir=retail_model_dir, reload_interval_s=0))
    async with running_app(app) as http:
        response = await http.post("/v1/recommendations", json={"items": ["mug"]})

    assert response.status_code == 500
    assert response.json() == {
        "detail": "internal server error; the server logged the details under this request_id",
        "request_id": response.headers["X-Request-ID"],
    }
    assert_no_internals(response, retail_model_dir)


async def test_error_responses_hide_internals(
    retail_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = tmp_path / "current"
    link.symlink_to(retail_model_dir)
    settings = Settings(
        model_dir=link, api_keys=["key-1"], max_body_bytes=LIMIT, reload_interval_s=0, max_n=5
    )
    app = create_app(settings)

    async with running_app(app) as http:
        link.unlink()
        link.symlink_to(tmp_path / "absent")
        responses = [
            await http.post("/v1/admin/reload", headers={"X-API-Key": "key-1"}),
            await http.post("/v1/admin/reload"),
            await http.get("/v1/nowhere"),
            await http.delete("/v1/recommendations"),
            await http.get("/v1/items/mug/similar", params={"n": 50}),
            await http.get("/v1/users/nobody/recommendations", params={"strict": "true"}),
            await http.post(
                "/v1/recommendations", content=b'{"items": [', headers={"Content-Type": "application/json"}
            ),
            await http.post(
                "/v1/recommendations",
                content=basket_body(LIMIT + 1),
                headers={"Content-Type": "application/json"},
            ),
        ]

    assert [response.status_code for response in responses] == [409, 401, 404, 405, 422, 404, 422, 413]
    for response in responses:
        assert_no_internals(response, tmp_path, retail_model_dir)


def test_body_limit_in_uvicorn(retail_model_dir: Path, tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 64

    env = {"RECSYS_MAX_BODY_BYTES": str(LIMIT), "RECSYS_RELOAD_INTERVAL_S": "0"}
    headers = {"Content-Type": "application/json"}
    with (
        live_server(retail_model_dir, tmp_path / "server.log", env=env) as base_url,
        httpx.Client(base_url=base_url, timeout=5.0, trust_env=False) as http,
    ):
        declared = http.post("/v1/recommendations", content=basket_body(LIMIT + 1), headers=headers)
        chunked = http.post("/v1/recommendations", content=chunks(), headers=headers)
        accepted = http.post("/v1/recommendations", content=basket_body(LIMIT), headers=headers)

    assert_body_too_large(declared)
    assert_body_too_large(chunked)
    assert accepted.status_code == 200
