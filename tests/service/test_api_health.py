"""GET /healthz and /readyz, and what startup does with a bad model directory."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

import recsys
from service.config import Settings
from service.main import create_app
from service.state import load_serving_model
from tests.service.conftest import running_app

pytestmark = pytest.mark.anyio


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "alive"
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


async def test_readyz_describes_model(client: httpx.AsyncClient, retail_model_dir: Path) -> None:
    model: recsys.Recommender = recsys.load(retail_model_dir)

    response = await client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["model_version"] == model.version_
    assert body["fitted_at"] == model.fitted_at_
    assert body["model_class"] == "ItemKNN"
    assert body["counts"] == {"users": 4, "items": 5, "user_items_nonzeros": 9, "events": 9}
    assert body["loaded_at"]


async def test_model_version_in_responses(client: httpx.AsyncClient, retail_model_dir: Path) -> None:
    model: recsys.Recommender = recsys.load(retail_model_dir)

    response = await client.get("/v1/items/mug/similar")

    assert response.json()["model_version"] == model.version_


async def test_readyz_503_without_model(retail_model_dir: Path) -> None:
    app = create_app(Settings(model_dir=retail_model_dir))
    async with running_app(app) as http:
        app.state.serving = None
        ready = await http.get("/readyz")
        similar = await http.get("/v1/items/mug/similar")
        health = await http.get("/healthz")

    assert ready.status_code == 503
    assert ready.json()["request_id"] == ready.headers["X-Request-ID"]
    assert similar.status_code == 503
    assert "/readyz" in similar.json()["detail"]
    assert health.status_code == 200


async def test_model_swap_used_by_next_request(retail_model_dir: Path, numeric_model_dir: Path) -> None:
    app = create_app(Settings(model_dir=retail_model_dir))
    async with running_app(app) as http:
        before = await http.get("/readyz")
        app.state.serving = load_serving_model(numeric_model_dir)
        after = await http.get("/v1/items/1001/similar")

    assert before.json()["model_version"] == recsys.load(retail_model_dir).version_
    assert after.status_code == 200
    assert after.json()["model_version"] == recsys.load(numeric_model_dir).version_
    assert [item["item_id"] for item in after.json()["items"]] == [1002, 1003]


async def test_startup_fails_on_missing_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(Settings(model_dir=tmp_path / "absent"))

    with pytest.raises(recsys.ModelFormatError, match="model directory not found"):
        async with running_app(app):
            pass

    [record] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "startup failed" in record.getMessage()
    assert str(tmp_path / "absent") in record.getMessage()


async def test_startup_fails_on_corrupt_model(
    tmp_path: Path, retail_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt = tmp_path / "corrupt"
    recsys.load(retail_model_dir).save(corrupt)
    manifest = json.loads((corrupt / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 99
    (corrupt / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    app = create_app(Settings(model_dir=corrupt))

    with pytest.raises(recsys.ModelFormatError, match="format version 99"):
        async with running_app(app):
            pass

    assert "format version 99" in caplog.text


async def test_openapi_lists_handlers(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) == {
        "/v1/users/{user_id}/recommendations",
        "/v1/recommendations",
        "/v1/items/{item_id}/similar",
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/admin/reload",
        "/v1/events",
        "/v1/items",
        "/v1/nurture/campaigns/{campaign_id}",
        "/v1/nurture/campaigns/{campaign_id}/rounds/{round_number}",
        "/v1/nurture/campaigns/{campaign_id}/leads/{lead_id}/next-best",
        "/v1/nurture/campaigns/{campaign_id}/leads/{lead_id}/engagement",
    }
    operation = paths["/v1/items/{item_id}/similar"]["get"]
    assert operation["operationId"].startswith("read_similar_items")
    assert operation["description"]
