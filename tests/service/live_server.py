"""Start and stop a real uvicorn process serving a model on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

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


@contextmanager
def live_server(model_dir: Path, log_path: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Serve ``model_dir`` in a uvicorn process; yield its base URL and stop it by PID on exit.

    ``env`` adds environment variables of the server, such as ``RECSYS_API_KEYS``.
    """
    with live_server_process(model_dir, log_path, env) as (_process, base_url):
        yield base_url


@contextmanager
def live_server_process(
    model_dir: Path, log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Like :func:`live_server`, but yield the server process too, so a test can kill it.

    ``env`` may set ``RECSYS_DATABASE_URL`` and ``RECSYS_API_KEYS``, for example.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **(env or {}), "RECSYS_MODEL_DIR": str(model_dir)}
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
            yield process, base_url
        finally:
            stop(process)
