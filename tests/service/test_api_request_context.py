"""Request ids, the access log, and the error bodies the middleware and handlers build."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from recsys import DataValidationError
from service.config import Settings
from service.logs import ACCESS_LOGGER, JsonFormatter
from service.main import create_app
from service.middleware import accept_request_id
from tests.service.conftest import running_app

pytestmark = pytest.mark.anyio


async def test_request_id_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/items/mug/similar", headers={"X-Request-ID": "checkout-7f3a"})

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "checkout-7f3a"
    assert response.json()["request_id"] == "checkout-7f3a"


async def test_request_id_generated(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")

    request_id = first.headers["X-Request-ID"]
    assert len(request_id) == 32
    assert int(request_id, 16) >= 0
    assert first.json()["request_id"] == request_id
    assert second.headers["X-Request-ID"] != request_id


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * 129, id="too-long"),
        pytest.param("has space", id="space"),
        pytest.param("tab\there", id="control-character"),
    ],
)
def test_invalid_request_id_replaced(header: str) -> None:
    request_id = accept_request_id(header)

    assert request_id != header
    assert len(request_id) == 32


def test_valid_request_id_kept() -> None:
    assert accept_request_id("x" * 128) == "x" * 128
    assert accept_request_id("a1:b2/c3_d4.e5-f6") == "a1:b2/c3_d4.e5-f6"


async def test_invalid_request_id_header_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "x" * 500})

    assert response.headers["X-Request-ID"] != "x" * 500
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("method", "url", "payload", "status"),
    [
        pytest.param("GET", "/v1/items/nope/similar", None, 404, id="unknown-item"),
        pytest.param("GET", "/v1/items/mug/similar?n=-1", None, 422, id="invalid-n"),
        pytest.param("POST", "/v1/recommendations", {"items": [True]}, 422, id="invalid-body"),
        pytest.param("GET", "/v2/nothing", None, 404, id="unknown-route"),
        pytest.param("DELETE", "/healthz", None, 405, id="wrong-method"),
    ],
)
async def test_error_body_has_request_id(
    client: httpx.AsyncClient, method: str, url: str, payload: Any, status: int
) -> None:
    response = await client.request(method, url, json=payload, headers={"X-Request-ID": "trace-1"})

    assert response.status_code == status
    body = response.json()
    assert body["request_id"] == "trace-1"
    assert response.headers["X-Request-ID"] == "trace-1"
    assert isinstance(body["detail"], str)
    assert body["detail"]


async def test_unknown_route_names_path(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/nothing")

    assert response.status_code == 404
    assert "GET /v2/nothing" in response.json()["detail"]


async def test_unexpected_error_500(
    retail_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk read failed at /srv/secret/model.npy")

    app = create_app(Settings(model_dir=retail_model_dir))
    async with running_app(app) as http:
        monkeypatch.setattr(app.state.serving.model, "similar_items", fail)
        response = await http.get("/v1/items/mug/similar", headers={"X-Request-ID": "boom-1"})

    assert response.status_code == 500
    body = response.json()
    assert body["request_id"] == "boom-1"
    assert response.headers["X-Request-ID"] == "boom-1"
    assert "internal server error" in body["detail"]
    assert "/srv/secret" not in response.text
    assert "Traceback" not in response.text
    [record] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert record.exc_info is not None
    assert "/srv/secret" in str(record.exc_info[1])
    assert getattr(record, "fields", {})["request_id"] == "boom-1"


async def test_data_validation_error_422(retail_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def reject(*args: Any, **kwargs: Any) -> Any:
        raise DataValidationError("exclude must be a list of ids")

    app = create_app(Settings(model_dir=retail_model_dir))
    async with running_app(app) as http:
        monkeypatch.setattr(app.state.serving.model, "recommend_basket", reject)
        response = await http.post("/v1/recommendations", json={"items": ["mug"]})

    assert response.status_code == 422
    assert response.json()["detail"] == "invalid request: exclude must be a list of ids"
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


async def test_path_with_invalid_utf8(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/items/%FF%FE/similar")

    assert response.status_code == 404
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


async def test_access_log_line(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    await client.get("/v1/items/mug/similar", headers={"X-Request-ID": "log-1"})

    [record] = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["method"] == "GET"
    assert entry["path"] == "/v1/items/mug/similar"
    assert entry["status"] == 200
    assert entry["request_id"] == "log-1"
    assert entry["duration_ms"] >= 0
    assert entry["logger"] == ACCESS_LOGGER


async def test_access_log_error_status(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    await client.get("/v1/items/nope/similar")

    [record] = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    assert getattr(record, "fields", {})["status"] == 404


async def test_access_log_long_path_shortened(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    user_id = "u" * 50_000

    await client.get(f"/v1/users/{user_id}/recommendations")

    [record] = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    entry = json.loads(JsonFormatter().format(record))
    assert entry["path"].startswith("/v1/users/uuu")
    # The path has 10 + 50000 + 16 characters, and the field keeps the first 512.
    assert entry["path"].endswith("...[49514 more characters]")
    assert len(entry["path"]) < 600
    assert entry["message"].startswith("GET /v1/users/uuu")
    assert entry["message"].endswith(" more characters] 422")
    assert len(entry["message"]) < 200


async def test_access_log_message_short_path(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)

    await client.get("/v1/items/mug/similar")

    [record] = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    assert record.getMessage() == "GET /v1/items/mug/similar 200"


async def test_unknown_route_long_path_shortened(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/" + "z" * 50_000)

    assert response.status_code == 404
    assert "GET /v2/zzz" in response.json()["detail"]
    assert len(response.text) < 1000
