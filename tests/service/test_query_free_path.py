"""Requests without a query string take a shorter path that returns what FastAPI's path returns.

The user and similar-items routes pass a request without a query string to a
handler that calls the endpoint with every query parameter at its default. A
query that sets a parameter to its default goes through FastAPI, so both must
return the same status, body and headers.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.config import Settings
from service.main import create_app
from tests.service.conftest import running_app
from tests.service.sample_data import TOKYO_CUP, USER_1

pytestmark = pytest.mark.anyio

KEY = "k1-3f9a0c7e5b"
# A query that leaves every parameter at its default, so the request goes through FastAPI.
DEFAULT_QUERY = "?n=10"
PATHS = [
    "/v1/users/u2/recommendations",
    f"/v1/users/{urllib.parse.quote(USER_1)}/recommendations",
    "/v1/users/nobody/recommendations",
    "/v1/items/mug/similar",
    f"/v1/items/{urllib.parse.quote(TOKYO_CUP)}/similar",
    "/v1/items/bag/red/similar",
    "/v1/items/no-such-item/similar",
]


def response_parts(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    """Return the status, the body without its request id, and the headers without the request id."""
    body = response.json()
    assert body.pop("request_id") == response.headers["X-Request-ID"]
    headers = {name: value for name, value in response.headers.items() if name != "x-request-id"}
    return response.status_code, body, headers


@pytest.mark.parametrize("path", PATHS)
async def test_query_free_matches_fastapi(client: httpx.AsyncClient, path: str) -> None:
    query_free = await client.get(path)
    with_query = await client.get(path + DEFAULT_QUERY)

    assert response_parts(query_free) == response_parts(with_query)


@pytest.mark.parametrize("key", [None, "", KEY + "0", KEY])
@pytest.mark.parametrize("path", ["/v1/users/u2/recommendations", "/v1/items/mug/similar"])
async def test_query_free_read_key(retail_model_dir: Path, path: str, key: str | None) -> None:
    settings = Settings(model_dir=retail_model_dir, api_keys=[KEY], read_requires_key=True)
    headers = {} if key is None else {"X-API-Key": key}
    async with running_app(create_app(settings)) as http:
        query_free = await http.get(path, headers=headers)
        with_query = await http.get(path + DEFAULT_QUERY, headers=headers)

    assert query_free.status_code == (200 if key == KEY else 401)
    assert response_parts(query_free) == response_parts(with_query)


@pytest.mark.parametrize("path", ["/v1/users/u2/recommendations", "/v1/items/mug/similar"])
async def test_query_free_without_model(retail_model_dir: Path, path: str) -> None:
    # Without the lifespan no model is loaded, so both paths return 503.
    app = create_app(Settings(model_dir=retail_model_dir))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        query_free = await http.get(path)
        with_query = await http.get(path + DEFAULT_QUERY)

    assert query_free.status_code == 503
    assert response_parts(query_free) == response_parts(with_query)
