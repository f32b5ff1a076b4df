"""Hot reload: POST /v1/admin/reload and the watcher of the model directory."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import recsys
import service.reload
from service.config import Settings
from service.main import create_app
from service.state import ServingModel
from tests.service.conftest import running_app
from tests.service.model_versions import deploy, save_incompatible_model, save_model_b

pytestmark = pytest.mark.anyio

KEY = "reload-test-key"
HEADERS = {"X-API-Key": KEY}
BASKET = {"items": ["mug"], "n": 3}
WATCH_INTERVAL_S = 0.05
WATCH_TIMEOUT_S = 5.0


@pytest.fixture
def versions(tmp_path: Path, retail_model_dir: Path) -> dict[str, Path]:
    """Model directories v1 (the retail model) and v2 (version B), and the symlink current -> v1."""
    v1 = tmp_path / "v1"
    shutil.copytree(retail_model_dir, v1)
    v2 = save_model_b(tmp_path / "v2")
    current = tmp_path / "current"
    current.symlink_to(v1)
    return {"v1": v1, "v2": v2, "current": current}


def settings_for(model_dir: Path, *, interval_s: float = 0.0) -> Settings:
    return Settings(model_dir=model_dir, api_keys=[KEY], reload_interval_s=interval_s)


def version_of(path: Path) -> str:
    return recsys.load(path).version_


async def wait_for(condition: Callable[[], bool]) -> None:
    """Let the watcher run until ``condition()`` holds; fail after WATCH_TIMEOUT_S seconds."""
    deadline = time.monotonic() + WATCH_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, "the watcher did not act in time"
        await asyncio.sleep(WATCH_INTERVAL_S)


async def test_reload_follows_switched_symlink(versions: dict[str, Path]) -> None:
    app = create_app(settings_for(versions["current"]))
    async with running_app(app) as http:
        before = await http.post("/v1/recommendations", json=BASKET)
        deploy(versions["current"], versions["v2"])
        reload = await http.post("/v1/admin/reload", headers=HEADERS)
        after = await http.post("/v1/recommendations", json=BASKET)
        ready = await http.get("/readyz")

    assert reload.status_code == 200
    body = reload.json()
    assert body["previous_version"] == version_of(versions["v1"])
    assert body["model_version"] == version_of(versions["v2"])
    assert body["model_dir"] == "v2"
    assert body["reloads"] == 1
    assert body["request_id"] == reload.headers["X-Request-ID"]
    assert before.json()["model_version"] == version_of(versions["v1"])
    assert "zzz" not in [item["item_id"] for item in before.json()["items"]]
    assert after.json()["model_version"] == version_of(versions["v2"])
    assert "zzz" in [item["item_id"] for item in after.json()["items"]]
    assert ready.json()["model_version"] == version_of(versions["v2"])
    assert ready.json()["model_dir"] == "v2"
    assert ready.json()["reloads"] == 1


async def test_readyz_names_resolved_directory(versions: dict[str, Path]) -> None:
    app = create_app(settings_for(versions["current"]))
    async with running_app(app) as http:
        ready = await http.get("/readyz")

    assert ready.json()["model_dir"] == "v1"
    assert ready.json()["reloads"] == 0


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("missing", "model directory not found: 'current'"),
        ("incompatible", "format version 99"),
        ("corrupt", "checksum mismatch for 'popularity.npy' in 'current'"),
    ],
)
async def test_reload_rejects_bad_directory(
    versions: dict[str, Path],
    tmp_path: Path,
    retail_model_dir: Path,
    caplog: pytest.LogCaptureFixture,
    breakage: str,
    expected: str,
) -> None:
    broken = tmp_path / "broken"
    if breakage == "incompatible":
        save_incompatible_model(retail_model_dir, broken)
    elif breakage == "corrupt":
        shutil.copytree(retail_model_dir, broken)
        (broken / "popularity.npy").write_bytes(b"not the saved array")
    version_1 = version_of(versions["v1"])
    app = create_app(settings_for(versions["current"]))

    async with running_app(app) as http:
        deploy(versions["current"], broken)
        reload = await http.post("/v1/admin/reload", headers=HEADERS)
        after = await http.post("/v1/recommendations", json=BASKET)
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")

    assert reload.status_code == 409
    detail = reload.json()["detail"]
    assert expected in detail
    assert f"version {version_1} keeps serving" in detail
    assert str(tmp_path) not in reload.text
    assert reload.json()["request_id"] == reload.headers["X-Request-ID"]
    assert after.status_code == 200
    assert after.json()["model_version"] == version_1
    assert ready.json()["model_version"] == version_1
    assert ready.json()["reloads"] == 0
    assert "recsys_model_reload_failures_total 1.0" in metrics.text
    [record] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "model reload (admin)" in record.getMessage()
    assert str(broken) in record.getMessage()


async def test_reload_unchanged_directory(versions: dict[str, Path]) -> None:
    app = create_app(settings_for(versions["current"]))
    async with running_app(app) as http:
        reload = await http.post("/v1/admin/reload", headers=HEADERS)

    assert reload.status_code == 200
    assert reload.json()["previous_version"] == reload.json()["model_version"]
    assert reload.json()["reloads"] == 1


async def test_concurrent_reloads_run_serially(
    versions: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    running = 0
    max_running = 0
    real_load = service.reload.load_serving_model

    def slow_load(model_dir: Path) -> ServingModel:
        nonlocal running, max_running
        running += 1
        max_running = max(max_running, running)
        time.sleep(0.05)
        try:
            return real_load(model_dir)
        finally:
            running -= 1

    monkeypatch.setattr(service.reload, "load_serving_model", slow_load)
    app = create_app(settings_for(versions["current"]))
    async with running_app(app) as http:
        responses = await asyncio.gather(*(http.post("/v1/admin/reload", headers=HEADERS) for _ in range(3)))

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert sorted(response.json()["reloads"] for response in responses) == [1, 2, 3]
    assert max_running == 1


async def test_reload_unexpected_error_keeps_model(
    versions: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_load(model_dir: Path) -> ServingModel:
        raise RuntimeError(f"disk exploded under {model_dir.resolve()}")

    monkeypatch.setattr(service.reload, "load_serving_model", failing_load)
    app = create_app(settings_for(versions["current"]))
    async with running_app(app) as http:
        reload = await http.post("/v1/admin/reload", headers=HEADERS)
        ready = await http.get("/readyz")

    assert reload.status_code == 500
    assert "exploded" not in reload.text
    assert str(versions["v1"]) not in reload.text
    assert ready.json()["model_version"] == version_of(versions["v1"])


async def test_watcher_follows_symlink(versions: dict[str, Path]) -> None:
    version_2 = version_of(versions["v2"])
    app = create_app(settings_for(versions["current"], interval_s=WATCH_INTERVAL_S))

    async with running_app(app) as http:
        deploy(versions["current"], versions["v2"])
        await wait_for(lambda: app.state.serving.model.version_ == version_2)
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")

    assert ready.json()["model_dir"] == "v2"
    assert ready.json()["reloads"] == 1
    assert "recsys_model_reloads_total 1.0" in metrics.text
    assert f'recsys_model_info{{model_class="ItemKNN",version="{version_2}"}} 1.0' in metrics.text


async def test_watcher_sees_resaved_directory(tmp_path: Path, retail_model_dir: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(retail_model_dir, model_dir)
    version_2 = version_of(save_model_b(tmp_path / "b"))
    app = create_app(settings_for(model_dir, interval_s=WATCH_INTERVAL_S))

    async with running_app(app):
        save_model_b(model_dir)
        await wait_for(lambda: app.state.serving.model.version_ == version_2)

    assert app.state.reloader.reload_count == 1


async def test_watcher_logs_failure_once_per_change(
    versions: dict[str, Path],
    tmp_path: Path,
    retail_model_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = save_incompatible_model(retail_model_dir, tmp_path / "broken")
    version_1 = version_of(versions["v1"])
    version_2 = version_of(versions["v2"])
    app = create_app(settings_for(versions["current"], interval_s=WATCH_INTERVAL_S))
    reloader = app.state.reloader

    async with running_app(app):
        deploy(versions["current"], broken)
        await wait_for(lambda: reloader.metrics.reload_failures._value.get() == 1)
        # Many more checks of the unchanged broken directory.
        await asyncio.sleep(10 * WATCH_INTERVAL_S)
        serving_while_broken = app.state.serving.model.version_
        failures_while_broken = [record for record in caplog.records if record.levelno == logging.ERROR]
        deploy(versions["current"], versions["v2"])
        await wait_for(lambda: app.state.serving.model.version_ == version_2)

    assert serving_while_broken == version_1
    assert len(failures_while_broken) == 1
    assert "model reload (watcher)" in failures_while_broken[0].getMessage()
    assert reloader.reload_count == 1


async def test_watcher_off_at_zero_interval(versions: dict[str, Path]) -> None:
    app = create_app(settings_for(versions["current"], interval_s=0))

    async with running_app(app):
        deploy(versions["current"], versions["v2"])
        await asyncio.sleep(0.2)
        version = app.state.serving.model.version_

    assert version == version_of(versions["v1"])


async def test_model_served_after_directory_removed(versions: dict[str, Path]) -> None:
    app = create_app(settings_for(versions["current"]))

    async with running_app(app) as http:
        before = await http.post("/v1/recommendations", json=BASKET)
        shutil.rmtree(versions["v1"])
        after = await http.post("/v1/recommendations", json=BASKET)

    assert after.status_code == 200
    assert after.json()["items"] == before.json()["items"]
    assert after.json()["model_version"] == before.json()["model_version"]
