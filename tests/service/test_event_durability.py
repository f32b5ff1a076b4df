"""A server killed with SIGKILL while it receives events loses none that it acknowledged.

A client thread posts batches to a real uvicorn process. The test kills the
process mid-stream, starts a new one on the same store and checks that
every acknowledged event is there, none is stored twice, and posting the
unacknowledged batches again with the same event ids stores each event once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import distinct, func, select

from service.store import EventStore, events_table
from tests.service.live_server import live_server_process

API_KEY = "durability-test-key"
N_BATCHES = 40
BATCH_SIZE = 10
# Batches acknowledged before the kill. The rest of the stream is still running then.
KILL_AFTER_BATCHES = 8
TIMEOUT_S = 30.0


def make_batch(batch: int) -> dict[str, list[dict[str, str]]]:
    return {
        "events": [
            {
                "event_id": f"batch-{batch}-event-{index}",
                "user_id": f"用户 {index % 3}",
                "item_id": "mug" if index % 2 else "tea",
                "event": "view",
            }
            for index in range(BATCH_SIZE)
        ]
    }


def event_ids(batches: list[int]) -> set[str]:
    return {event["event_id"] for batch in batches for event in make_batch(batch)["events"]}


class Stream:
    """Posts every batch in order from a thread, until the first failed request."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.acknowledged: list[int] = []
        self.unacknowledged: list[int] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {"X-API-Key": API_KEY}
        with httpx.Client(base_url=self.base_url, timeout=10.0, trust_env=False) as http:
            for batch in range(N_BATCHES):
                try:
                    response = http.post("/v1/events", json=make_batch(batch), headers=headers)
                except httpx.TransportError:
                    self.unacknowledged.extend(range(batch, N_BATCHES))
                    return
                if response.is_success:
                    self.acknowledged.append(batch)
                else:
                    self.unacknowledged.append(batch)


def stored_counts(url: str) -> tuple[int, int, set[str]]:
    """Return the number of stored events, of distinct event ids, and the ids."""
    with EventStore(url) as store, store.engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(events_table)).scalar_one()
        distinct_ids = connection.execute(select(func.count(distinct(events_table.c.event_id)))).scalar_one()
        ids = set(connection.execute(select(events_table.c.event_id)).scalars())
    return int(total), int(distinct_ids), ids


def test_sigkill_loses_no_acknowledged_event(
    retail_model_dir: Path, tmp_path: Path, database_url: str
) -> None:
    env = {"RECSYS_DATABASE_URL": database_url, "RECSYS_API_KEYS": API_KEY, "RECSYS_LOG_LEVEL": "WARNING"}

    with live_server_process(retail_model_dir, tmp_path / "first.log", env) as (process, base_url):
        stream = Stream(base_url)
        stream.thread.start()
        deadline = time.monotonic() + TIMEOUT_S
        while len(stream.acknowledged) < KILL_AFTER_BATCHES and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        stream.thread.join(timeout=TIMEOUT_S)

    assert not stream.thread.is_alive()
    assert len(stream.acknowledged) >= KILL_AFTER_BATCHES
    assert stream.unacknowledged, "the stream ended before the kill; raise N_BATCHES"
    total, distinct_ids, stored_ids = stored_counts(database_url)
    assert event_ids(stream.acknowledged) <= stored_ids
    assert total == distinct_ids
    assert stored_ids <= event_ids(list(range(N_BATCHES)))

    accepted = duplicates = 0
    with (
        live_server_process(retail_model_dir, tmp_path / "second.log", env) as (_process, base_url),
        httpx.Client(base_url=base_url, timeout=10.0, trust_env=False) as http,
    ):
        for batch in stream.unacknowledged:
            response = http.post("/v1/events", json=make_batch(batch), headers={"X-API-Key": API_KEY})
            assert response.is_success, response.text
            accepted += response.json()["accepted"]
            duplicates += response.json()["duplicates"]

    # A batch committed before the kill but never acknowledged comes back as duplicates.
    assert duplicates == len(stored_ids) - len(event_ids(stream.acknowledged))
    assert accepted + duplicates == len(stream.unacknowledged) * BATCH_SIZE
    total, distinct_ids, stored_ids = stored_counts(database_url)
    assert total == N_BATCHES * BATCH_SIZE
    assert distinct_ids == total
    assert stored_ids == event_ids(list(range(N_BATCHES)))
