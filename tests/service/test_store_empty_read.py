"""EventStore.read_user_events for a user without events returns a fresh empty frame."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from service.store import EventStore, NewEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_empty_read_matches_filled_columns(tmp_path: Path) -> None:
    with EventStore(f"sqlite:///{tmp_path / 'events.sqlite3'}") as store:
        store.create_tables()
        store.add_events([NewEvent(user_id="u", item_id="mug", event="purchase", weight=1.0)])
        filled = store.read_user_events("u", T0)
        empty = store.read_user_events("nobody", T0)

    assert len(filled) == 1
    assert empty.empty
    assert list(empty.columns) == list(filled.columns)
    assert empty.dtypes.to_dict() == filled.dtypes.to_dict()


def test_empty_read_is_a_new_frame(tmp_path: Path) -> None:
    with EventStore(f"sqlite:///{tmp_path / 'events.sqlite3'}") as store:
        store.create_tables()
        first = store.read_user_events("nobody", T0)
        first["extra"] = np.zeros(0)
        second = store.read_user_events("nobody", T0)

    assert first is not second
    assert "extra" not in second.columns
