"""A reload in a real uvicorn process while clients keep sending requests.

Every response must come whole from model A or whole from model B: its items and
its model_version together equal what one of the two models returns.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from service.config import Settings
from service.main import create_app
from tests.service.conftest import running_app
from tests.service.live_server import live_server
from tests.service.model_versions import deploy, save_model_b
from tests.service.sample_data import TOKYO_CUP

KEY = "load-test-key"
CLIENT_THREADS = 3
# The clients stop once enough requests were sent after the reload returned, or at
# the deadline. The cap bounds the run on a fast machine.
MAX_REQUESTS_PER_THREAD = 3000
SECONDS_BEFORE_RELOAD = 0.5
ANSWERS_AFTER_RELOAD = 30
DEADLINE_AFTER_RELOAD_S = 20.0

# (method, path, JSON body or None)
REQUESTS: list[tuple[str, str, Any]] = [
    ("POST", "/v1/recommendations", {"items": ["mug"], "n": 3}),
    ("POST", "/v1/recommendations", {"items": [TOKYO_CUP], "n": 4, "backfill": True}),
    ("GET", "/v1/items/mug/similar", None),
    ("GET", "/v1/users/u3/recommendations", None),
]


@dataclass(frozen=True)
class Answer:
    """One request sent during the test and what came back."""

    request_index: int
    started: float
    status: int | None
    body: dict[str, Any] | None
    error: str | None


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if name != "request_id"}


def expected_answers(model_dir: Path) -> list[dict[str, Any]]:
    """Return the response bodies to REQUESTS from the model in ``model_dir``, computed in process."""

    async def answer_all() -> list[httpx.Response]:
        app = create_app(Settings(model_dir=model_dir, reload_interval_s=0))
        async with running_app(app) as http:
            return [await http.request(method, path, json=body) for method, path, body in REQUESTS]

    responses = anyio.run(answer_all)
    assert [response.status_code for response in responses] == [200] * len(REQUESTS)
    return [without_request_id(response.json()) for response in responses]


def send_requests(base_url: str, offset: int, stop: threading.Event, answers: list[Answer]) -> None:
    """Send REQUESTS in turn until ``stop`` is set or MAX_REQUESTS_PER_THREAD were sent."""
    with httpx.Client(base_url=base_url, timeout=5.0, trust_env=False) as http:
        for count in range(MAX_REQUESTS_PER_THREAD):
            if stop.is_set():
                return
            index = (offset + count) % len(REQUESTS)
            method, path, body = REQUESTS[index]
            started = time.monotonic()
            try:
                response = http.request(method, path, json=body)
            except httpx.HTTPError as error:
                answers.append(Answer(index, started, None, None, repr(error)))
                continue
            answers.append(Answer(index, started, response.status_code, response.json(), None))


def test_reload_under_load_never_mixes_models(tmp_path: Path, retail_model_dir: Path) -> None:
    v1 = tmp_path / "v1"
    shutil.copytree(retail_model_dir, v1)
    v2 = save_model_b(tmp_path / "v2")
    current = tmp_path / "current"
    current.symlink_to(v1)
    expected_a = expected_answers(v1)
    expected_b = expected_answers(v2)
    # The test can tell A from B only where their responses differ.
    assert [a["items"] != b["items"] for a, b in zip(expected_a, expected_b, strict=True)].count(True) >= 2

    stop = threading.Event()
    answers: list[list[Answer]] = [[] for _ in range(CLIENT_THREADS)]
    env = {"RECSYS_API_KEYS": KEY, "RECSYS_RELOAD_INTERVAL_S": "0"}
    with live_server(current, tmp_path / "server.log", env=env) as base_url:
        threads = [
            threading.Thread(target=send_requests, args=(base_url, offset, stop, answers[offset]))
            for offset in range(CLIENT_THREADS)
        ]
        for thread in threads:
            thread.start()
        try:
            time.sleep(SECONDS_BEFORE_RELOAD)
            deploy(current, v2)
            with httpx.Client(base_url=base_url, timeout=30.0, trust_env=False) as http:
                reload = http.post("/v1/admin/reload", headers={"X-API-Key": KEY})
            reloaded_at = time.monotonic()
            # A loaded machine can take longer to reload than to send a fixed number of
            # requests, so wait for responses to requests sent after the reload instead.
            deadline = reloaded_at + DEADLINE_AFTER_RELOAD_S
            while time.monotonic() < deadline and any(thread.is_alive() for thread in threads):
                sent_after = sum(
                    answer.started > reloaded_at
                    for thread_answers in answers
                    for answer in list(thread_answers)
                )
                if sent_after >= ANSWERS_AFTER_RELOAD:
                    break
                time.sleep(0.05)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)

    assert reload.status_code == 200, reload.text
    assert reload.json()["previous_version"] == expected_a[0]["model_version"]
    assert reload.json()["model_version"] == expected_b[0]["model_version"]
    assert reload.json()["model_dir"] == "v2"

    every_answer = [answer for thread_answers in answers for answer in thread_answers]
    failed = [answer for answer in every_answer if answer.status != 200]
    assert failed == []
    from_a = [
        answer
        for answer in every_answer
        if answer.body is not None and without_request_id(answer.body) == expected_a[answer.request_index]
    ]
    from_b = [
        answer
        for answer in every_answer
        if answer.body is not None and without_request_id(answer.body) == expected_b[answer.request_index]
    ]
    mixed = [answer for answer in every_answer if answer not in from_a and answer not in from_b]
    assert mixed == []
    assert from_a
    assert from_b
    # A request sent after the reload returned must get model B.
    assert [answer for answer in from_a if answer.started > reloaded_at] == []
    assert 20 <= len(every_answer) <= CLIENT_THREADS * MAX_REQUESTS_PER_THREAD
