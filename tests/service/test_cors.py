"""CORS: the origins in RECSYS_CORS_ORIGINS may call the API from a browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from service.main import create_app
from tests.service.conftest import running_app

pytestmark = pytest.mark.anyio

SHOP = "https://shop.example"
OTHER = "https://other.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type, x-api-key, x-request-id",
}


@asynccontextmanager
async def client_for(model_dir: Path, origins: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(model_dir=model_dir, cors_origins=origins, reload_interval_s=0))
    async with running_app(app) as http:
        yield http


async def test_preflight_allowed_origin(retail_model_dir: Path) -> None:
    async with client_for(retail_model_dir, [SHOP]) as http:
        response = await http.options("/v1/recommendations", headers={"Origin": SHOP, **PREFLIGHT})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"x-api-key", "x-request-id", "content-type"} <= allowed
    assert response.headers["X-Request-ID"]


async def test_preflight_refused_origin(retail_model_dir: Path) -> None:
    async with client_for(retail_model_dir, [SHOP]) as http:
        response = await http.options("/v1/recommendations", headers={"Origin": OTHER, **PREFLIGHT})

    assert response.status_code == 400
    assert "Access-Control-Allow-Origin" not in response.headers
    body = response.json()
    assert body["detail"].startswith("CORS preflight rejected, not allowed: origin;")
    assert "RECSYS_CORS_ORIGINS" in body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_preflight_refused_header(retail_model_dir: Path) -> None:
    headers = {
        "Origin": SHOP,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-debug",
    }
    async with client_for(retail_model_dir, [SHOP]) as http:
        response = await http.options("/v1/recommendations", headers=headers)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("CORS preflight rejected, not allowed: headers;")


async def test_simple_request_allowed_origin(retail_model_dir: Path) -> None:
    async with client_for(retail_model_dir, [SHOP, OTHER]) as http:
        response = await http.get("/v1/items/mug/similar", headers={"Origin": SHOP})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert response.headers["Access-Control-Expose-Headers"] == "X-Request-ID"
    assert "Origin" in response.headers["Vary"]


async def test_simple_request_refused_origin(retail_model_dir: Path) -> None:
    async with client_for(retail_model_dir, [SHOP]) as http:
        response = await http.get("/v1/items/mug/similar", headers={"Origin": OTHER})

    # The server responds, and the browser withholds the response from the page.
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_any_origin_with_star(retail_model_dir: Path) -> None:
    async with client_for(retail_model_dir, ["*"]) as http:
        simple = await http.get("/healthz", headers={"Origin": OTHER})
        preflight = await http.options("/v1/recommendations", headers={"Origin": OTHER, **PREFLIGHT})

    assert simple.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


async def test_no_cors_headers_by_default(retail_model_dir: Path) -> None:
    async with client_for(retail_model_dir, []) as http:
        simple = await http.get("/healthz", headers={"Origin": SHOP})
        preflight = await http.options("/v1/recommendations", headers={"Origin": SHOP, **PREFLIGHT})

    assert "Access-Control-Allow-Origin" not in simple.headers
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.status_code == 405


def test_origins_from_environment(retail_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_CORS_ORIGINS", f"{SHOP}, {OTHER}")

    settings = Settings(model_dir=retail_model_dir)

    assert settings.cors_origins == [SHOP, OTHER]
