"""API keys: write and admin endpoints always require one, read endpoints when configured."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.config import Settings
from service.main import create_app
from tests.service.conftest import running_app
from tests.service.sample_data import TOKYO_CUP

pytestmark = pytest.mark.anyio

KEY_1 = "k1-3f9a0c7e5b"
KEY_2 = "k2-81d2e6b4aa"
WRONG_KEY = KEY_1 + "0"

# One request per read endpoint: (method, path, JSON body or None).
READ_REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/v1/items/mug/similar", None),
    ("GET", "/v1/users/u2/recommendations", None),
    ("POST", "/v1/recommendations", {"items": [TOKYO_CUP]}),
]
ADMIN_REQUEST = ("POST", "/v1/admin/reload", None)


@asynccontextmanager
async def client_for(model_dir: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(model_dir=model_dir, reload_interval_s=0, **settings))
    async with running_app(app) as http:
        yield http


async def call(
    http: httpx.AsyncClient, request: tuple[str, str, Any], key: str | bytes | None = None
) -> httpx.Response:
    method, path, body = request
    headers = {} if key is None else {"X-API-Key": key}
    return await http.request(method, path, json=body, headers=headers)


async def test_admin_403_without_configured_keys(retail_model_dir: Path) -> None:
    async with client_for(retail_model_dir) as http:
        without_key = await call(http, ADMIN_REQUEST)
        with_key = await call(http, ADMIN_REQUEST, KEY_1)

    assert without_key.status_code == 403
    assert "RECSYS_API_KEYS" in without_key.json()["detail"]
    assert without_key.json()["request_id"] == without_key.headers["X-Request-ID"]
    assert with_key.status_code == 403


@pytest.mark.parametrize("key", [None, "", WRONG_KEY, KEY_1.upper(), KEY_1[:-1]])
async def test_admin_401_without_valid_key(retail_model_dir: Path, key: str | None) -> None:
    async with client_for(retail_model_dir, api_keys=[KEY_1, KEY_2]) as http:
        response = await call(http, ADMIN_REQUEST, key)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "X-API-Key"
    assert "X-API-Key" in response.json()["detail"]


@pytest.mark.parametrize("key", [KEY_1, KEY_2])
async def test_admin_accepts_any_configured_key(retail_model_dir: Path, key: str) -> None:
    async with client_for(retail_model_dir, api_keys=[KEY_1, KEY_2]) as http:
        response = await call(http, ADMIN_REQUEST, key)

    assert response.status_code == 200


async def test_non_ascii_key_sent_as_utf8(retail_model_dir: Path) -> None:
    key = "clé-東京-7"
    async with client_for(retail_model_dir, api_keys=[key]) as http:
        valid = await call(http, ADMIN_REQUEST, key.encode("utf-8"))
        wrong = await call(http, ADMIN_REQUEST, "clé-東京-8".encode())

    assert valid.status_code == 200
    assert wrong.status_code == 401


@pytest.mark.parametrize("request_", READ_REQUESTS, ids=lambda request: f"{request[0]} {request[1]}")
async def test_read_open_by_default(retail_model_dir: Path, request_: tuple[str, str, Any]) -> None:
    async with client_for(retail_model_dir, api_keys=[KEY_1]) as http:
        without_key = await call(http, request_)
        wrong_key = await call(http, request_, WRONG_KEY)

    assert without_key.status_code == 200
    # A key is not checked where none is required.
    assert wrong_key.status_code == 200


@pytest.mark.parametrize("request_", READ_REQUESTS, ids=lambda request: f"{request[0]} {request[1]}")
async def test_read_requires_key_when_configured(
    retail_model_dir: Path, request_: tuple[str, str, Any]
) -> None:
    async with client_for(retail_model_dir, api_keys=[KEY_1, KEY_2], read_requires_key=True) as http:
        without_key = await call(http, request_)
        wrong_key = await call(http, request_, WRONG_KEY)
        valid_key = await call(http, request_, KEY_2)

    assert without_key.status_code == 401
    assert wrong_key.status_code == 401
    assert valid_key.status_code == 200


async def test_read_key_required_without_keys_403(retail_model_dir: Path) -> None:
    async with client_for(retail_model_dir, read_requires_key=True) as http:
        response = await call(http, READ_REQUESTS[0], KEY_1)

    assert response.status_code == 403
    assert response.json()["detail"].startswith("read endpoints are disabled")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_probes_open_when_reads_keyed(retail_model_dir: Path, path: str) -> None:
    async with client_for(retail_model_dir, api_keys=[KEY_1], read_requires_key=True) as http:
        response = await http.get(path)

    assert response.status_code == 200


async def test_keys_from_environment(retail_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_MODEL_DIR", str(retail_model_dir))
    monkeypatch.setenv("RECSYS_API_KEYS", f" {KEY_1}, {KEY_2} ,")
    monkeypatch.setenv("RECSYS_READ_REQUIRES_KEY", "true")
    monkeypatch.setenv("RECSYS_RELOAD_INTERVAL_S", "0")
    settings = Settings()  # type: ignore[call-arg]

    async with running_app(create_app(settings)) as http:
        read_1 = await call(http, READ_REQUESTS[0], KEY_1)
        read_2 = await call(http, READ_REQUESTS[0], KEY_2)
        read_none = await call(http, READ_REQUESTS[0])
        admin = await call(http, ADMIN_REQUEST, KEY_2)

    assert [key.get_secret_value() for key in settings.api_keys] == [KEY_1, KEY_2]
    assert settings.read_requires_key is True
    assert read_1.status_code == 200
    assert read_2.status_code == 200
    assert read_none.status_code == 401
    assert admin.status_code == 200


async def test_keys_never_logged_or_returned(
    retail_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(
        model_dir=retail_model_dir, api_keys=[KEY_1, KEY_2], read_requires_key=True, reload_interval_s=0
    )

    async with running_app(create_app(settings)) as http:
        responses = [
            await call(http, ADMIN_REQUEST, KEY_1),
            await call(http, ADMIN_REQUEST, WRONG_KEY),
            await call(http, READ_REQUESTS[2], KEY_2),
            await call(http, READ_REQUESTS[2], WRONG_KEY),
            await http.get("/v1/items/mug/similar", params={"n": "many"}, headers={"X-API-Key": KEY_1}),
            await http.get("/metrics"),
            await http.get("/readyz"),
        ]

    assert [response.status_code for response in responses] == [200, 401, 200, 401, 422, 200, 200]
    for secret in (KEY_1, KEY_2, WRONG_KEY):
        assert secret not in repr(settings)
        assert secret not in caplog.text
        for response in responses:
            assert secret not in response.text
            assert secret not in str(response.headers)
