"""serve() and ``recsys serve`` options for throughput: worker processes, event loop, HTTP parser."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import recsys
import service.main
from recsys.cli import main as cli_main
from service.main import (
    APP_FACTORY,
    create_app_from_env,
    resolve_server_implementations,
    serve,
)
from tests.service.conftest import running_app
from tests.service.live_server import REPO, free_port, stop, wait_until_ready
from tests.service.sample_data import TOKYO_CUP

pytestmark = pytest.mark.anyio

UVLOOP_INSTALLED = importlib.util.find_spec("uvloop") is not None
HTTPTOOLS_INSTALLED = importlib.util.find_spec("httptools") is not None


@pytest.fixture
def server_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let serve() set RECSYS_MODEL_DIR and RECSYS_LOG_LEVEL, and restore them after the test."""
    monkeypatch.delenv("RECSYS_MODEL_DIR", raising=False)
    monkeypatch.setenv("RECSYS_LOG_LEVEL", "INFO")


def test_serve_two_workers_uses_factory(
    retail_model_dir: Path,
    uvicorn_calls: list[tuple[Any, dict[str, Any]]],
    server_environment: None,
    recsys_logger_restored: None,
) -> None:
    serve(retail_model_dir, port=8765, log_level="warning", workers=2)

    [(app, options)] = uvicorn_calls
    assert app == APP_FACTORY
    assert options["factory"] is True
    assert options["workers"] == 2
    assert options["port"] == 8765
    assert options["access_log"] is False
    assert os.environ["RECSYS_MODEL_DIR"] == str(retail_model_dir)
    assert os.environ["RECSYS_LOG_LEVEL"] == "WARNING"


def test_serve_one_worker_passes_app(
    retail_model_dir: Path,
    uvicorn_calls: list[tuple[Any, dict[str, Any]]],
    recsys_logger_restored: None,
) -> None:
    serve(retail_model_dir, port=8765)

    [(app, options)] = uvicorn_calls
    assert not isinstance(app, str)
    assert "workers" not in options
    assert "factory" not in options


def test_serve_logs_loop_and_parser(
    retail_model_dir: Path,
    uvicorn_calls: list[tuple[Any, dict[str, Any]]],
    recsys_logger_restored: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve(retail_model_dir, port=8765, loop="asyncio", http="h11")

    [(_, options)] = uvicorn_calls
    assert options["loop"] == "asyncio"
    assert options["http"] == "h11"
    assert "with 1 worker(s), event loop asyncio, HTTP parser h11" in capsys.readouterr().err


@pytest.mark.skipif(not (UVLOOP_INSTALLED and HTTPTOOLS_INSTALLED), reason="uvloop or httptools missing")
def test_serve_auto_picks_uvloop_httptools(
    retail_model_dir: Path,
    uvicorn_calls: list[tuple[Any, dict[str, Any]]],
    recsys_logger_restored: None,
) -> None:
    serve(retail_model_dir, port=8765)

    [(_, options)] = uvicorn_calls
    assert options["loop"] == "uvloop"
    assert options["http"] == "httptools"


def test_serve_missing_model_with_workers_raises(
    tmp_path: Path,
    uvicorn_calls: list[tuple[Any, dict[str, Any]]],
    server_environment: None,
    recsys_logger_restored: None,
) -> None:
    with pytest.raises(recsys.ModelFormatError, match="model directory not found"):
        serve(tmp_path / "absent", port=8765, workers=2)

    assert uvicorn_calls == []
    assert "RECSYS_MODEL_DIR" not in os.environ


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_serve_invalid_workers_raises(
    retail_model_dir: Path, uvicorn_calls: list[tuple[Any, dict[str, Any]]], workers: Any
) -> None:
    with pytest.raises(recsys.DataValidationError, match="workers must be an integer of at least 1"):
        serve(retail_model_dir, port=8765, workers=workers)

    assert uvicorn_calls == []


def test_resolve_auto_without_fast_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service.main.importlib.util, "find_spec", lambda name: None)

    assert resolve_server_implementations() == ("asyncio", "h11")


def test_resolve_explicit_choices() -> None:
    assert resolve_server_implementations("asyncio", "h11") == ("asyncio", "h11")


@pytest.mark.parametrize(
    ("loop", "http", "message"),
    [
        ("uvloop", "auto", "loop='uvloop' needs the uvloop package"),
        ("auto", "httptools", "http='httptools' needs the httptools package"),
    ],
)
def test_resolve_missing_package_raises(
    monkeypatch: pytest.MonkeyPatch, loop: str, http: str, message: str
) -> None:
    monkeypatch.setattr(service.main.importlib.util, "find_spec", lambda name: None)

    with pytest.raises(recsys.DataValidationError, match=message):
        resolve_server_implementations(loop, http)


@pytest.mark.parametrize(("loop", "http", "option"), [("trio", "auto", "loop"), ("auto", "h2", "http")])
def test_resolve_unknown_choice_raises(loop: str, http: str, option: str) -> None:
    with pytest.raises(recsys.DataValidationError, match=f"{option} must be one of"):
        resolve_server_implementations(loop, http)


async def test_app_factory_reads_environment(
    retail_model_dir: Path, monkeypatch: pytest.MonkeyPatch, recsys_logger_restored: None
) -> None:
    monkeypatch.setenv("RECSYS_MODEL_DIR", str(retail_model_dir))
    monkeypatch.setenv("RECSYS_MAX_N", "1")

    app = create_app_from_env()
    async with running_app(app) as http:
        response = await http.get("/v1/items/mug/similar")

    assert response.status_code == 200
    assert response.json()["model_version"] == recsys.load(retail_model_dir).version_
    assert len(response.json()["items"]) == 1


def test_app_factory_import_string_resolves() -> None:
    module_name, _, attribute = APP_FACTORY.partition(":")

    assert getattr(importlib.import_module(module_name), attribute) is create_app_from_env


def test_cli_passes_server_options(retail_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Path, dict[str, Any]]] = []
    monkeypatch.setattr(
        service.main, "serve", lambda model_dir, **options: calls.append((model_dir, options))
    )

    argv = ["serve", "--model", str(retail_model_dir), "--workers", "3", "--loop", "asyncio", "--http", "h11"]
    assert cli_main(argv) == 0

    [(model_dir, options)] = calls
    assert model_dir == retail_model_dir
    assert options["workers"] == 3
    assert options["loop"] == "asyncio"
    assert options["http"] == "h11"


def test_cli_defaults_one_worker_auto(retail_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(service.main, "serve", lambda model_dir, **options: calls.append(options))

    assert cli_main(["serve", "--model", str(retail_model_dir)]) == 0

    [options] = calls
    assert options["workers"] == 1
    assert options["loop"] == "auto"
    assert options["http"] == "auto"


@pytest.mark.parametrize("workers", ["0", "-2", "two"])
def test_cli_invalid_workers_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["serve", "--model", str(tmp_path), "--workers", workers])

    assert exit_info.value.code == 2
    assert "must be an integer of at least 1" in capsys.readouterr().err


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_worker_server_answers_and_stops(retail_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    command = [
        sys.executable,
        "-m",
        "recsys.cli",
        "serve",
        "--model",
        str(retail_model_dir),
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(process, base_url, log_path)
            with httpx.Client(base_url=base_url, timeout=5.0, trust_env=False) as http:
                similar = http.get("/v1/items/mug/similar")
                basket = http.post("/v1/recommendations", json={"items": [TOKYO_CUP], "n": 1})
        finally:
            stop(process)

    log_text = log_path.read_text(encoding="utf-8")
    assert similar.status_code == 200
    assert [item["item_id"] for item in similar.json()["items"]] == ["tea", TOKYO_CUP]
    assert basket.status_code == 200
    assert [item["item_id"] for item in basket.json()["items"]] == ["mug"]
    assert process.returncode == 0, log_text
    assert "with 2 worker(s)" in log_text
    worker_pids = [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log_text)]
    assert len(worker_pids) == 2, log_text
    # The parent waits for its workers before it exits, so none is left running.
    deadline = time.monotonic() + 10
    while any(_process_exists(pid) for pid in worker_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in worker_pids if _process_exists(pid)]
