"""The service under a real uvicorn process, called over TCP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.service.sample_data import TOKYO_CUP, USER_1

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0
# The server configures the root logger in plain text first, as `recsys serve` does, so
# the test also checks that the service's JSON log lines survive that.
SERVER_CODE = (
    "import logging, os, sys\n"
    "from pathlib import Path\n"
    "from service.main import serve\n"
    "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')\n"
    "serve(Path(os.environ['RECSYS_MODEL_DIR']), host='127.0.0.1', port=int(sys.argv[1]))\n"
)


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    """Poll /readyz until it returns 200; fail when the server exits or the timeout passes."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(base_url=base_url, timeout=1.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(
                    f"server exited with status {process.returncode} during startup:\n{log_path.read_text()}"
                )
            try:
                if http.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"server not ready after {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server started by this test, by its PID."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def test_uvicorn_serves_requests(retail_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    env = {**os.environ, "RECSYS_MODEL_DIR": str(retail_model_dir)}

    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER_CODE, str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(process, base_url, log_path)
            with httpx.Client(base_url=base_url, timeout=5.0, trust_env=False) as http:
                similar = http.get(
                    "/v1/items/%E5%95%86%E5%93%81-%E6%9D%B1%E4%BA%AC-01/similar",
                    headers={"X-Request-ID": "real-server-1"},
                )
                user = http.get("/v1/users/%E7%94%A8%E6%88%B7%201/recommendations")
                basket = http.post("/v1/recommendations", json={"items": [TOKYO_CUP], "n": 1})
                invalid = http.post(
                    "/v1/recommendations",
                    content=b'{"items": [',
                    headers={"Content-Type": "application/json"},
                )
        finally:
            stop(process)

    assert similar.status_code == 200
    assert [item["item_id"] for item in similar.json()["items"]] == ["mug", "tea"]
    assert similar.headers["X-Request-ID"] == "real-server-1"
    assert user.status_code == 200
    assert user.json()["user_id"] == USER_1
    assert [item["item_id"] for item in user.json()["items"]] == ["tea"]
    assert basket.status_code == 200
    assert [item["item_id"] for item in basket.json()["items"]] == ["mug"]
    assert invalid.status_code == 422
    assert invalid.json()["request_id"] == invalid.headers["X-Request-ID"]

    log_lines = log_path.read_text(encoding="utf-8").splitlines()
    access = [json.loads(line) for line in log_lines if '"recsys.service.access"' in line]
    [entry] = [entry for entry in access if entry["request_id"] == "real-server-1"]
    assert entry["path"] == f"/v1/items/{TOKYO_CUP}/similar"
    assert entry["status"] == 200
    # The JSON handler stops the records there, so the plain-text root handler prints none of them.
    assert not [line for line in log_lines if line.startswith("INFO recsys.")]
