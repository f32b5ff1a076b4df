"""serve() loads the model before uvicorn starts, and create_app() serves a model it is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import recsys
import service.main
from service.config import Settings
from service.main import create_app, serve
from service.state import ServingModel, load_serving_model
from tests.service.conftest import running_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def model_loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record the model directories that service.main loads."""
    loads: list[Path] = []

    def load_and_record(model_dir: Path) -> ServingModel:
        loads.append(model_dir)
        return load_serving_model(model_dir)

    monkeypatch.setattr(service.main, "load_serving_model", load_and_record)
    return loads


def test_serve_missing_model_raises(
    tmp_path: Path, uvicorn_calls: list[tuple[Any, dict[str, Any]]], recsys_logger_restored: None
) -> None:
    model_dir = tmp_path / "absent"

    with pytest.raises(recsys.ModelFormatError, match="model directory not found"):
        serve(model_dir, port=8765)

    assert uvicorn_calls == []


async def test_serve_loads_model_once(
    retail_model_dir: Path,
    uvicorn_calls: list[tuple[Any, dict[str, Any]]],
    model_loads: list[Path],
    recsys_logger_restored: None,
) -> None:
    serve(retail_model_dir, port=8765)

    assert model_loads == [retail_model_dir]
    [(app, options)] = uvicorn_calls
    assert options["host"] == "127.0.0.1"
    assert options["port"] == 8765
    assert options["access_log"] is False
    async with running_app(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["model_version"] == recsys.load(retail_model_dir).version_
    assert model_loads == [retail_model_dir]


async def test_create_app_serves_given_model(tmp_path: Path, retail_model_dir: Path) -> None:
    serving = load_serving_model(retail_model_dir)
    # The settings name a directory that does not exist, so a load in the lifespan would fail.
    app = create_app(Settings(model_dir=tmp_path / "absent"), serving=serving)

    async with running_app(app) as http:
        response = await http.get("/v1/items/mug/similar")
        served = app.state.serving

    assert response.status_code == 200
    assert response.json()["model_version"] == serving.model.version_
    assert served is serving
    assert app.state.serving is None


async def test_create_app_given_model_each_startup(tmp_path: Path, retail_model_dir: Path) -> None:
    serving = load_serving_model(retail_model_dir)
    app = create_app(Settings(model_dir=tmp_path / "absent"), serving=serving)

    for _ in range(2):
        async with running_app(app) as http:
            response = await http.get("/readyz")
        assert response.status_code == 200
