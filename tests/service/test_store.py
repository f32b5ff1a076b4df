"""The event store on SQLite and PostgreSQL: batches, idempotency, id types and reads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect, text

import recsys
from recsys.exceptions import DataValidationError
from service.store import (
    _WRITE_LOCK_KEY,
    EventIdConflictError,
    EventStore,
    NewEvent,
    default_database_url,
    read_recent_history,
)
from tests.service.postgres import DATABASE_KINDS, temporary_database
from tests.service.sample_data import NUMERIC_BASKETS, TOKYO_CUP, purchase_events

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=DATABASE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    """An empty store with its tables, on each database kind."""
    with temporary_database(request.param, tmp_path) as url, EventStore(url) as event_store:
        event_store.create_tables()
        yield event_store


def test_create_tables_is_idempotent(store: EventStore) -> None:
    store.add_events([NewEvent("u", "i", "view")])

    store.create_tables()

    assert "events" in inspect(store.engine).get_table_names()
    assert store.count_events() == 1


def test_add_events_stores_batch(store: EventStore) -> None:
    result = store.add_events(
        [NewEvent("u1", "i1", "view"), NewEvent("u1", "i2", "purchase", weight=2.5)], received_at=T0
    )

    assert result.accepted == 2
    assert result.duplicates == 0
    events = store.read_events()
    assert events["item_id"].tolist() == ["i1", "i2"]
    assert events["weight"].tolist() == [1.0, 2.5]


def test_ids_keep_json_type_and_unicode(store: EventStore) -> None:
    ids: list[int | str] = [1, "1", TOKYO_CUP, " spaced id ", "emoji 🛒", -7]
    store.add_events([NewEvent("user", item_id, "view") for item_id in ids], received_at=T0)

    recent = store.read_user_events("user", T0)

    assert recent["item_id"].tolist() == ids
    assert [type(value) for value in recent["item_id"]] == [type(value) for value in ids]


def test_int_and_text_event_ids_differ(store: EventStore) -> None:
    result = store.add_events(
        [NewEvent("u", "a", "view", event_id=1), NewEvent("u", "b", "view", event_id="1")]
    )

    assert result.accepted == 2
    assert result.duplicates == 0


def test_same_event_id_and_content_duplicate(store: EventStore) -> None:
    event = NewEvent("u", "i", "cart", timestamp=T0, weight=2.0, event_id="e-1")
    store.add_events([event], received_at=T0)

    retry = store.add_events([event], received_at=T0 + timedelta(minutes=5))

    assert retry.accepted == 0
    assert retry.duplicates == 1
    assert store.count_events() == 1


def test_duplicate_ignores_spelling_of_same_content(store: EventStore) -> None:
    store.add_events([NewEvent("u", "i", "view", timestamp=T0, event_id="e")])
    same_instant = T0.astimezone(timezone(timedelta(hours=9)))

    retry = store.add_events([NewEvent("u", "i", "view", timestamp=same_instant, weight=1.0, event_id="e")])

    assert retry.duplicates == 1
    assert store.count_events() == 1


def test_duplicate_without_timestamp_ignores_receive_time(store: EventStore) -> None:
    store.add_events([NewEvent("u", "i", "view", event_id="e")], received_at=T0)

    retry = store.add_events([NewEvent("u", "i", "view", event_id="e")], received_at=T0 + timedelta(hours=1))

    assert retry.duplicates == 1


def test_repeat_within_batch_is_duplicate(store: EventStore) -> None:
    event = NewEvent("u", "i", "view", event_id="e")

    result = store.add_events([event, event, NewEvent("u", "j", "view")])

    assert result.accepted == 2
    assert result.duplicates == 1
    assert store.count_events() == 2


def test_conflicting_event_id_rejects_whole_batch(store: EventStore) -> None:
    store.add_events([NewEvent("u", "i", "view", event_id="e-7")])

    with pytest.raises(
        EventIdConflictError, match=r"event_id 'e-7' \(events\[1\]\) is already stored"
    ) as caught:
        store.add_events(
            [NewEvent("u", "new", "view", event_id="e-8"), NewEvent("u", "i", "cart", event_id="e-7")]
        )

    assert caught.value.event_id == "e-7"
    assert caught.value.index == 1
    assert store.count_events() == 1


def test_conflict_within_batch_stores_nothing(store: EventStore) -> None:
    with pytest.raises(EventIdConflictError, match="earlier in the batch"):
        store.add_events([NewEvent("u", "i", "view", event_id=5), NewEvent("u", "j", "view", event_id=5)])

    assert store.count_events() == 0


def test_timestamp_defaults_to_receive_time(store: EventStore) -> None:
    given = datetime(2026, 11, 30, 8, 0, tzinfo=timezone(timedelta(hours=-5)))
    store.add_events(
        [NewEvent("u", "a", "view"), NewEvent("u", "b", "view", timestamp=given)], received_at=T0
    )

    events = store.read_user_events("u", T0)

    assert events["timestamp"].tolist() == [T0, given.astimezone(UTC)]
    assert events["received_at"].tolist() == [T0, T0]
    assert all(value.tzinfo == UTC for value in events["timestamp"])


def test_read_user_events_since_and_order(store: EventStore) -> None:
    store.add_events([NewEvent("u", "old", "view")], received_at=T0 - timedelta(seconds=1))
    store.add_events([NewEvent("u", "first", "view"), NewEvent("other", "x", "view")], received_at=T0)
    store.add_events([NewEvent("u", "second", "cart")], received_at=T0 + timedelta(microseconds=1))

    events = store.read_user_events("u", T0)

    assert events["item_id"].tolist() == ["first", "second"]
    assert events["event"].tolist() == ["view", "cart"]


def test_read_user_events_matches_id_text(store: EventStore) -> None:
    store.add_events([NewEvent(7, "int user", "view"), NewEvent("7", "str user", "view")], received_at=T0)

    assert store.read_user_events("7", T0)["item_id"].tolist() == ["int user", "str user"]
    assert store.read_user_events(7, T0)["item_id"].tolist() == ["int user", "str user"]
    assert store.read_user_events("07", T0).empty


def test_read_user_events_keeps_newest(store: EventStore) -> None:
    for second in range(5):
        store.add_events([NewEvent("u", f"i{second}", "view")], received_at=T0 + timedelta(seconds=second))

    events = store.read_user_events("u", T0, limit=2)

    assert events["item_id"].tolist() == ["i3", "i4"]


def test_read_user_events_empty_frame(store: EventStore) -> None:
    events = store.read_user_events("nobody", T0)

    assert events.empty
    assert list(events.columns) == ["item_id", "event", "weight", "timestamp", "received_at", "row_id"]


def test_read_user_events_after_row_id(store: EventStore) -> None:
    store.add_events([NewEvent("u", "a", "view"), NewEvent("other", "x", "view")], received_at=T0)
    mark = store.read_events_with_mark().high_water_mark
    # Received earlier than the read events, but stored after the read.
    store.add_events([NewEvent("u", "b", "view")], received_at=T0 - timedelta(hours=1))

    events = store.read_user_events("u", after_row_id=mark)
    every = store.read_user_events("u")

    assert events["item_id"].tolist() == ["b"]
    assert events["row_id"].tolist() == [mark + 1]
    assert every["item_id"].tolist() == ["b", "a"]


def test_read_events_with_mark(store: EventStore) -> None:
    empty = store.read_events_with_mark()
    store.add_events([NewEvent("u", "a", "view"), NewEvent("v", "b", "cart")], received_at=T0)
    store.add_events([NewEvent("u", "c", "view")], received_at=T0)

    read = store.read_events_with_mark()
    with store.engine.connect() as connection:
        largest_id = connection.execute(text("SELECT max(id) FROM events")).scalar_one()

    assert empty.high_water_mark is None
    assert empty.events.empty
    assert read.high_water_mark == largest_id
    assert read.events["item_id"].tolist() == ["a", "b", "c"]
    assert read.events.equals(store.read_events())


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_postgres_writers_wait_for_write_lock(store: EventStore) -> None:
    # Row ids stay in commit order only if a writer waits while another holds the lock.
    finished = threading.Event()

    def write() -> None:
        store.add_events([NewEvent("u", "late", "view")], received_at=T0)
        finished.set()

    with store.engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITE_LOCK_KEY})
        writer = threading.Thread(target=write)
        writer.start()
        waited = not finished.wait(timeout=1.0)
    writer.join(timeout=30)

    assert waited
    assert finished.is_set()
    assert store.read_events()["item_id"].tolist() == ["late"]


def test_read_events_int_ids_are_int64(store: EventStore) -> None:
    store.add_events([NewEvent(1, 1001, "purchase"), NewEvent(2, 1002, "view", weight=0.5)], received_at=T0)

    events = store.read_events()

    assert events["user_id"].dtype == np.int64
    assert events["item_id"].tolist() == [1001, 1002]
    assert str(events["timestamp"].dt.tz) == "UTC"
    assert list(events.columns) == ["user_id", "item_id", "event", "timestamp", "weight"]


def test_read_events_mixed_ids_become_text(store: EventStore, caplog: pytest.LogCaptureFixture) -> None:
    store.add_events([NewEvent(1, "a", "view"), NewEvent("u2", "b", "view")])

    with caplog.at_level(logging.WARNING, logger="recsys.service.store"):
        events = store.read_events()

    assert events["user_id"].tolist() == ["1", "u2"]
    assert "1 of 2 stored user_id values are integers" in caplog.text


def test_read_events_trains_a_model(store: EventStore) -> None:
    events = purchase_events(NUMERIC_BASKETS)
    store.add_events(
        [NewEvent(row.user_id, row.item_id, row.event) for row in events.itertuples()], received_at=T0
    )

    model = recsys.ItemKNN().fit(store.read_events())

    assert model.similar_items(1001, 1).item_ids == [1002]


def test_concurrent_retries_store_each_event_once(store: EventStore) -> None:
    batch = [NewEvent("u", f"i{index}", "view", event_id=f"e{index}") for index in range(50)]
    results = []

    def post() -> None:
        results.append(store.add_events(batch))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(results) == 4
    assert sum(result.accepted for result in results) == 50
    assert sum(result.duplicates for result in results) == 150
    assert store.count_events() == 50


def test_add_events_rejects_bad_values(store: EventStore) -> None:
    with pytest.raises(DataValidationError, match="user_id must be an int or a str"):
        store.add_events([NewEvent(True, "i", "view")])
    with pytest.raises(DataValidationError, match="timestamp must have a time zone"):
        store.add_events([NewEvent("u", "i", "view", timestamp=datetime(2026, 1, 1))])
    with pytest.raises(DataValidationError, match="weight must be a finite number"):
        store.add_events([NewEvent("u", "i", "view", weight=float("nan"))])

    assert store.count_events() == 0


def test_recent_history_keeps_model_items(store: EventStore) -> None:
    interactions = recsys.Interactions.from_events(
        purchase_events(NUMERIC_BASKETS), event_weights={"purchase": 5.0}
    )
    model = recsys.ItemKNN().fit(interactions)
    model.fitted_at_ = T0.isoformat(timespec="seconds")
    store.add_events([NewEvent(9, 1003, "purchase")], received_at=T0 - timedelta(seconds=1))
    store.add_events(
        [NewEvent(9, 1001, "purchase"), NewEvent(9, 5555, "purchase"), NewEvent(9, 1002, "view")],
        received_at=T0,
    )

    recent = read_recent_history(store, model, "9")

    # 1003 came before the fit, 5555 is not a model item, and the model has no "view" type.
    assert recent is not None
    assert recent.to_dict(orient="list") == {"item_id": [1001], "event": ["purchase"], "weight": [1.0]}
    assert read_recent_history(store, model, "nobody") is None


def test_sqlite_runs_wal_with_full_sync(tmp_path: Path) -> None:
    with EventStore(f"sqlite:///{tmp_path / 'nested' / 'events.sqlite3'}") as sqlite_store:
        sqlite_store.create_tables()
        with sqlite_store.engine.connect() as connection:
            journal_mode = connection.execute(text("PRAGMA journal_mode")).scalar_one()
            synchronous = connection.execute(text("PRAGMA synchronous")).scalar_one()
            busy_timeout = connection.execute(text("PRAGMA busy_timeout")).scalar_one()

    assert journal_mode == "wal"
    assert synchronous == 2  # FULL
    assert busy_timeout > 0


def test_default_url_is_file_beside_model(tmp_path: Path) -> None:
    url = default_database_url(tmp_path / "models" / "retail")

    assert url == f"sqlite:///{tmp_path / 'models' / 'events.sqlite3'}"


def test_plain_postgresql_url_uses_psycopg() -> None:
    store = EventStore("postgresql://user@127.0.0.1/recsys")

    assert store.engine.dialect.driver == "psycopg"
    store.dispose()


def test_password_hidden_in_repr() -> None:
    store = EventStore("postgresql+psycopg://user:secret@127.0.0.1/recsys")

    assert "secret" not in repr(store)
    store.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "invalid database URL"),
        ("mysql://user@127.0.0.1/recsys", "unsupported database 'mysql'"),
    ],
)
def test_bad_url_raises(url: str, message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        EventStore(url)


def test_events_frame_passes_library_validation(store: EventStore) -> None:
    store.add_events([NewEvent("u", "i", "cart", timestamp=T0, weight=0.0)], received_at=T0)

    clean = recsys.data.validate_events(store.read_events(), recsys.data.DEFAULT_EVENT_WEIGHTS)

    assert clean["timestamp"].tolist() == [pd.Timestamp(T0)]
