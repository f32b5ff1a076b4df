"""Tests of recsys.data: event validation, reading files and building Interactions."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import DEFAULT_EVENT_WEIGHTS, DataValidationError, Interactions, read_events, validate_events
from recsys.data import validate_event_weights


def events(**columns: object) -> pd.DataFrame:
    """Build an events frame whose ``event`` column defaults to "purchase" on every row."""
    frame = pd.DataFrame(columns)
    if "event" not in frame.columns:
        frame["event"] = "purchase"
    return frame


def cell(interactions: Interactions, user_id: object, item_id: object) -> float:
    """Return the ``user_items`` value of one (user, item) pair."""
    user = interactions.user_ids.index_of(user_id)
    item = interactions.item_ids.index_of(item_id)
    assert user >= 0, f"user {user_id!r} missing"
    assert item >= 0, f"item {item_id!r} missing"
    return float(interactions.user_items[user, item])


def bad_rows_pattern(column: str, count: int, first: int) -> str:
    """Match the part of a validation message that names the column and the bad rows."""
    return rf"column '{column}' .*; {count} bad row\(s\), first at row {first} \(0-based\)"


# --------------------------------------------------------------------------- validation errors


def test_validate_events_missing_column() -> None:
    frame = pd.DataFrame({"user_id": ["a"], "item_id": ["x"]})

    with pytest.raises(DataValidationError, match=r"missing the required column\(s\) \['event'\]"):
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)


def test_validate_events_missing_columns_listed() -> None:
    frame = pd.DataFrame({"customer": ["a"], "item_id": ["x"]})

    with pytest.raises(
        DataValidationError,
        match=r"\['user_id', 'event'\]; got columns \['customer', 'item_id'\]",
    ):
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)


def test_validate_events_not_a_frame() -> None:
    with pytest.raises(DataValidationError, match=r"events must be a pandas DataFrame; got list"):
        validate_events([("a", "x", "view")], DEFAULT_EVENT_WEIGHTS)  # type: ignore[arg-type]


def test_validate_events_null_ids() -> None:
    frame = events(user_id=["a", None, "c", None], item_id=["x", "y", "z", "w"])

    with pytest.raises(DataValidationError, match=bad_rows_pattern("user_id", 2, 1)) as error:
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)

    assert "must not contain null ids" in str(error.value)
    assert "item_id='y'" in str(error.value)


def test_validate_events_null_int_ids() -> None:
    frame = events(user_id=["a", "b", "c"], item_id=[1, None, 3])

    with pytest.raises(DataValidationError, match=bad_rows_pattern("item_id", 1, 1)):
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)


def test_validate_events_empty_string_id() -> None:
    frame = events(user_id=["a", "b", "c"], item_id=["x", "", "   "])

    with pytest.raises(DataValidationError, match=bad_rows_pattern("item_id", 2, 1)) as error:
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)

    assert "must not contain empty ids" in str(error.value)
    assert "user_id='b'" in str(error.value)


def test_validate_events_mixed_id_types() -> None:
    frame = events(user_id=["a", 7, "b", 8], item_id=["x", "y", "z", "w"])

    with pytest.raises(DataValidationError, match=bad_rows_pattern("user_id", 2, 1)) as error:
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)

    assert "mixes int and str ids" in str(error.value)
    assert "events['user_id'].astype(str)" in str(error.value)
    assert "user_id=7" in str(error.value)


def test_validate_events_fractional_float_ids() -> None:
    frame = events(user_id=[1.0, 2.5, 3.0, 4.5], item_id=["x", "y", "z", "w"])

    with pytest.raises(DataValidationError, match=bad_rows_pattern("user_id", 2, 1)) as error:
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)

    assert "not fractional numbers" in str(error.value)
    assert "2.5" in str(error.value)


def test_validate_events_infinite_float_ids() -> None:
    frame = events(user_id=["a", "b"], item_id=[1.0, np.inf])

    with pytest.raises(DataValidationError, match=bad_rows_pattern("item_id", 1, 1)):
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)


def test_validate_events_bool_ids() -> None:
    frame = events(user_id=[True, False], item_id=["x", "y"])

    with pytest.raises(DataValidationError, match=r"column 'user_id' must hold int or str ids; got bool"):
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)


def test_validate_events_unknown_event_type() -> None:
    frame = events(user_id=["a", "b", "c"], item_id=["x", "y", "z"], event=["view", "click", "click"])

    with pytest.raises(DataValidationError, match=bad_rows_pattern("event", 2, 1)) as error:
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)

    assert "event types ['click'] missing from event_weights ['cart', 'purchase', 'view']" in str(error.value)
    assert "user_id='b'" in str(error.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -1.0, "heavy"])
def test_validate_events_bad_weight(bad: object) -> None:
    frame = events(user_id=["a", "b", "c"], item_id=["x", "y", "z"], weight=[1.0, bad, bad])

    with pytest.raises(DataValidationError, match=bad_rows_pattern("weight", 2, 1)) as error:
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)

    assert "must hold finite numbers >= 0" in str(error.value)
    assert "user_id='b'" in str(error.value)


def test_validate_events_bad_timestamp() -> None:
    frame = events(
        user_id=["a", "b", "c"],
        item_id=["x", "y", "z"],
        timestamp=["2024-01-01", "2024-01-02T10:00:00Z", "not a time"],
    )

    with pytest.raises(DataValidationError, match=bad_rows_pattern("timestamp", 1, 2)) as error:
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)

    assert "timestamp='not a time'" in str(error.value)


def test_validate_events_empty_timestamp() -> None:
    frame = events(user_id=["a", "b"], item_id=["x", "y"], timestamp=[None, "2024-01-01"])

    with pytest.raises(DataValidationError, match=bad_rows_pattern("timestamp", 1, 0)):
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)


def test_validate_events_row_is_position() -> None:
    # The reported row is the 0-based position, whatever the index labels are.
    frame = events(user_id=["a", None], item_id=["x", "y"])
    frame.index = [100, 200]

    with pytest.raises(DataValidationError, match=bad_rows_pattern("user_id", 1, 1)):
        validate_events(frame, DEFAULT_EVENT_WEIGHTS)


# --------------------------------------------------------------------------- clean output


def test_validate_events_clean_columns() -> None:
    frame = events(user_id=["a"], item_id=["x"], extra=["dropped"])

    clean = validate_events(frame, DEFAULT_EVENT_WEIGHTS)

    assert list(clean.columns) == ["user_id", "item_id", "event", "weight"]
    assert clean["weight"].tolist() == [1.0]


def test_validate_events_timestamps_utc() -> None:
    frame = events(
        user_id=["a", "b", "c"],
        item_id=["x", "y", "z"],
        timestamp=["2024-01-01T00:00:00", "2024-01-01T02:00:00+02:00", "2024-01-01T00:00:00Z"],
    )

    clean = validate_events(frame, DEFAULT_EVENT_WEIGHTS)

    expected = pd.Timestamp("2024-01-01", tz="UTC")
    assert str(clean["timestamp"].dt.tz) == "UTC"
    assert (clean["timestamp"] == expected).all()


def test_validate_events_unix_seconds() -> None:
    frame = events(user_id=[1], item_id=[2], timestamp=[1_704_067_200])

    clean = validate_events(frame, DEFAULT_EVENT_WEIGHTS)

    assert clean["timestamp"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_int_ids_stay_int64() -> None:
    frame = events(user_id=[10, 20], item_id=[1001, 1002])

    interactions = Interactions.from_events(frame)

    assert interactions.user_ids.kind == "int"
    assert interactions.item_ids.kind == "int"
    assert interactions.item_ids.ids.dtype == np.int64
    assert interactions.item_ids.ids.tolist() == [1001, 1002]


def test_int_ids_with_float_weight() -> None:
    frame = events(user_id=[10, 20], item_id=[1001, 1002], weight=[0.5, 1.5])

    interactions = Interactions.from_events(frame)

    assert interactions.item_ids.ids.dtype == np.int64
    assert interactions.user_ids.ids.dtype == np.int64
    assert cell(interactions, 20, 1002) == pytest.approx(5 * 1.5)


def test_int_ids_made_float_by_pandas() -> None:
    # A missing value turns an int column into float64. After dropna the ids are
    # integral floats, which must come back as int64.
    frame = events(user_id=[10, 20, 30], item_id=[1001, 1002, None]).dropna()
    assert frame["item_id"].dtype == np.float64

    interactions = Interactions.from_events(frame)

    assert interactions.item_ids.kind == "int"
    assert interactions.item_ids.ids.dtype == np.int64
    assert interactions.item_ids.ids.tolist() == [1001, 1002]


def test_nullable_int_ids_stay_int64() -> None:
    frame = events(user_id=pd.array([1, 2], dtype="Int64"), item_id=pd.array([5, 6], dtype="Int64"))

    interactions = Interactions.from_events(frame)

    assert interactions.user_ids.ids.dtype == np.int64
    assert interactions.item_ids.ids.tolist() == [5, 6]


def test_object_int_ids_stay_int64() -> None:
    frame = events(user_id=pd.Series([1, 2], dtype=object), item_id=["x", "y"])

    interactions = Interactions.from_events(frame)

    assert interactions.user_ids.kind == "int"
    assert interactions.user_ids.ids.tolist() == [1, 2]


def test_unicode_ids_kept_exactly() -> None:
    frame = events(user_id=["用户 1", " user 2 "], item_id=["商品-東京-01", "café"])

    interactions = Interactions.from_events(frame)

    assert sorted(interactions.user_ids.ids.tolist()) == [" user 2 ", "用户 1"]
    assert sorted(interactions.item_ids.ids.tolist()) == ["café", "商品-東京-01"]
    assert cell(interactions, "用户 1", "商品-東京-01") == 5.0


# --------------------------------------------------------------------------- weighting


def test_repeats_count_once_by_default() -> None:
    frame = events(user_id=["a", "a", "b"], item_id=["x", "x", "x"])

    interactions = Interactions.from_events(frame)

    assert cell(interactions, "a", "x") == 5.0
    assert cell(interactions, "b", "x") == 5.0
    assert interactions.n_events == 3


def test_repeats_presence_keeps_largest() -> None:
    frame = events(user_id=["a", "a"], item_id=["x", "x"], weight=[1.0, 3.0])

    interactions = Interactions.from_events(frame)

    assert cell(interactions, "a", "x") == 15.0


def test_count_repeats_sums() -> None:
    frame = events(user_id=["a", "a", "a"], item_id=["x", "x", "x"], weight=[1.0, 3.0, 2.0])

    interactions = Interactions.from_events(frame, count_repeats=True)

    assert cell(interactions, "a", "x") == 30.0
    assert interactions.count_repeats is True


def test_event_types_sum() -> None:
    frame = events(user_id=["a", "a", "a"], item_id=["x", "x", "y"], event=["view", "purchase", "cart"])

    interactions = Interactions.from_events(frame)

    assert cell(interactions, "a", "x") == 1.0 + 5.0
    assert cell(interactions, "a", "y") == 3.0


def test_event_user_items_per_type() -> None:
    frame = events(user_id=["a", "a"], item_id=["x", "x"], event=["view", "purchase"])

    interactions = Interactions.from_events(frame)

    assert sorted(interactions.event_user_items) == ["cart", "purchase", "view"]
    assert interactions.event_user_items["view"][0, 0] == 1.0
    assert interactions.event_user_items["purchase"][0, 0] == 5.0
    assert interactions.event_user_items["cart"].nnz == 0


def test_custom_event_weights() -> None:
    frame = events(user_id=["a", "a"], item_id=["x", "y"], event=["click", "buy"])

    interactions = Interactions.from_events(frame, event_weights={"click": 0.5, "buy": 2})

    assert cell(interactions, "a", "x") == 0.5
    assert cell(interactions, "a", "y") == 2.0
    assert interactions.event_weights == {"click": 0.5, "buy": 2.0}


def test_zero_weight_rows_dropped() -> None:
    frame = events(user_id=["a", "a", "b"], item_id=["x", "y", "y"], weight=[1.0, 0.0, 1.0])

    interactions = Interactions.from_events(frame)

    assert interactions.user_items.nnz == 2
    assert interactions.user_items[0, interactions.item_ids.index_of("y")] == 0.0
    assert interactions.n_events == 3


def test_zero_weight_item_absent() -> None:
    frame = events(user_id=["a", "b"], item_id=["x", "only-zero"], weight=[1.0, 0.0])

    interactions = Interactions.from_events(frame)

    assert interactions.item_ids.ids.tolist() == ["x"]
    assert interactions.user_ids.ids.tolist() == ["a"]


def test_zero_event_weight_dropped() -> None:
    frame = events(user_id=["a", "a"], item_id=["x", "y"], event=["view", "purchase"])

    interactions = Interactions.from_events(frame, event_weights={"view": 0, "purchase": 1})

    assert interactions.item_ids.ids.tolist() == ["y"]
    assert interactions.event_user_items["view"].nnz == 0


# --------------------------------------------------------------------------- time decay


@pytest.fixture
def dated_events() -> pd.DataFrame:
    return events(
        user_id=["a", "a", "b"],
        item_id=["old", "new", "later"],
        timestamp=["2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z", "2024-01-15T00:00:00Z"],
    )


def test_decay_half_life_halves(dated_events: pd.DataFrame) -> None:
    interactions = Interactions.from_events(
        dated_events, half_life_days=7, reference_time="2024-01-08T00:00:00Z"
    )

    assert cell(interactions, "a", "old") == pytest.approx(2.5)
    assert cell(interactions, "a", "new") == pytest.approx(5.0)


def test_decay_future_events_capped(dated_events: pd.DataFrame) -> None:
    interactions = Interactions.from_events(
        dated_events, half_life_days=7, reference_time="2024-01-08T00:00:00Z"
    )

    assert cell(interactions, "b", "later") == pytest.approx(5.0)


def test_decay_reference_defaults_newest(dated_events: pd.DataFrame) -> None:
    interactions = Interactions.from_events(dated_events, half_life_days=7)

    assert interactions.reference_time == pd.Timestamp("2024-01-15", tz="UTC")
    assert cell(interactions, "a", "old") == pytest.approx(5.0 / 4)
    assert cell(interactions, "a", "new") == pytest.approx(2.5)
    assert cell(interactions, "b", "later") == pytest.approx(5.0)


def test_decay_reference_naive_is_utc(dated_events: pd.DataFrame) -> None:
    interactions = Interactions.from_events(dated_events, half_life_days=7, reference_time="2024-01-08")

    assert interactions.reference_time == pd.Timestamp("2024-01-08", tz="UTC")
    assert cell(interactions, "a", "old") == pytest.approx(2.5)


def test_decay_reference_other_zone(dated_events: pd.DataFrame) -> None:
    reference = pd.Timestamp("2024-01-08T01:00:00", tz="Europe/Paris")

    interactions = Interactions.from_events(dated_events, half_life_days=7, reference_time=reference)

    assert interactions.reference_time == pd.Timestamp("2024-01-08", tz="UTC")


def test_decay_off_ignores_timestamps(dated_events: pd.DataFrame) -> None:
    interactions = Interactions.from_events(dated_events)

    assert interactions.reference_time is None
    assert cell(interactions, "a", "old") == 5.0


def test_decay_needs_timestamp() -> None:
    with pytest.raises(DataValidationError, match=r"half_life_days needs a 'timestamp' column"):
        Interactions.from_events(events(user_id=["a"], item_id=["x"]), half_life_days=7)


@pytest.mark.parametrize("bad", [0, -1.0, np.nan, np.inf, True, "7"])
def test_decay_bad_half_life(dated_events: pd.DataFrame, bad: object) -> None:
    with pytest.raises(DataValidationError, match=r"half_life_days must be a (finite )?number > 0 or None"):
        Interactions.from_events(dated_events, half_life_days=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["yesterday", "NaT"])
def test_decay_bad_reference_time(dated_events: pd.DataFrame, bad: str) -> None:
    with pytest.raises(DataValidationError, match=rf"reference_time must be a timestamp; got '{bad}'"):
        Interactions.from_events(dated_events, half_life_days=7, reference_time=bad)


# --------------------------------------------------------------------------- files


def test_read_events_csv_id_types(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,event\n1,007,purchase\n22,NA,view\n1,42,cart\n",
        encoding="utf-8",
    )

    frame = read_events(path)

    assert frame["user_id"].dtype == np.int64
    assert frame["user_id"].tolist() == [1, 22, 1]
    assert frame["item_id"].tolist() == ["007", "NA", "42"]
    assert all(type(value) is str for value in frame["item_id"])


@pytest.mark.parametrize("text", ["1001.0", "01", "+5", " 7"])
def test_read_events_csv_noncanonical_stays_str(tmp_path: Path, text: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text(f'user_id,item_id,event\n1,"{text}",view\n2,3,view\n', encoding="utf-8")

    frame = read_events(path)

    assert frame["item_id"].tolist() == [text, "3"]


def test_read_events_csv_empty_id_is_null(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,event\n1,,view\n2,NA,view\n", encoding="utf-8")

    with pytest.raises(DataValidationError, match=bad_rows_pattern("item_id", 1, 0)):
        Interactions.from_events(path)


def test_read_events_csv_gzip(tmp_path: Path) -> None:
    path = tmp_path / "events.csv.gz"
    events(user_id=["用户 1"], item_id=["商品-東京-01"]).to_csv(path, index=False)

    interactions = Interactions.from_events(path)

    assert interactions.user_ids.ids.tolist() == ["用户 1"]
    assert interactions.item_ids.ids.tolist() == ["商品-東京-01"]


def test_read_events_csv_timestamps_and_weights(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,event,timestamp,weight\n"
        "u,x,purchase,2024-01-01T00:00:00Z,2\n"
        "u,y,purchase,2024-01-08T00:00:00Z,1\n",
        encoding="utf-8",
    )

    interactions = Interactions.from_events(path, half_life_days=7)

    assert cell(interactions, "u", "x") == pytest.approx(5.0)
    assert cell(interactions, "u", "y") == pytest.approx(5.0)


def test_read_events_parquet(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    source = events(
        user_id=np.array([7, 8], dtype=np.int64),
        item_id=["商品-東京-01", "007"],
        timestamp=pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
    )
    source.to_parquet(path)

    frame = read_events(path)
    interactions = Interactions.from_events(path)

    assert frame["user_id"].dtype == np.int64
    assert frame["item_id"].tolist() == ["商品-東京-01", "007"]
    assert interactions.user_ids.ids.tolist() == [7, 8]
    assert interactions.item_ids.ids.tolist() == ["007", "商品-東京-01"]


def test_read_events_frame_unchanged() -> None:
    frame = events(user_id=["a"], item_id=["x"])

    assert read_events(frame) is frame


def test_read_events_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"

    with pytest.raises(DataValidationError, match=rf"events file not found: {re.escape(repr(str(path)))}"):
        read_events(path)


# --------------------------------------------------------------------------- event weights


def test_validate_event_weights_default() -> None:
    assert validate_event_weights(None) == dict(DEFAULT_EVENT_WEIGHTS)


def test_validate_event_weights_plain_floats() -> None:
    checked = validate_event_weights({"view": 1, "buy": np.float32(2.5)})

    assert checked == {"view": 1.0, "buy": 2.5}
    assert all(type(value) is float for value in checked.values())


@pytest.mark.parametrize(
    ("weights", "pattern"),
    [
        ({}, r"event_weights must be a non-empty mapping"),
        ([("view", 1.0)], r"event_weights must be a non-empty mapping"),
        ({"": 1.0}, r"event_weights keys must be non-empty str; got ''"),
        ({1: 1.0}, r"event_weights keys must be non-empty str; got 1"),
        ({"view": -1.0}, r"event weight for 'view' must be a finite number >= 0; got -1.0"),
        ({"view": float("nan")}, r"event weight for 'view' must be a finite number >= 0; got nan"),
        ({"view": float("inf")}, r"event weight for 'view' must be a finite number >= 0; got inf"),
        ({"view": True}, r"event weight for 'view' must be a finite number >= 0; got True"),
        ({"view": "1"}, r"event weight for 'view' must be a finite number >= 0; got '1'"),
        ({f"e{i}": 1.0 for i in range(33)}, r"event_weights may name at most 32 event types; got 33"),
    ],
)
def test_validate_event_weights_errors(weights: object, pattern: str) -> None:
    with pytest.raises(DataValidationError, match=pattern):
        validate_event_weights(weights)  # type: ignore[arg-type]


def test_interactions_bad_event_weights() -> None:
    with pytest.raises(DataValidationError, match=r"event weight for 'view' must be a finite number"):
        Interactions.from_events(events(user_id=["a"], item_id=["x"]), event_weights={"view": -2})


# --------------------------------------------------------------------------- metadata


def test_item_metadata_aligned() -> None:
    metadata = pd.DataFrame(
        {"item_id": ["y", "unknown", "y"], "description": ["mug", "ghost", "duplicate row"]}
    )

    interactions = Interactions.from_events(
        events(user_id=["a", "a"], item_id=["x", "y"]), item_metadata=metadata
    )

    assert interactions.item_metadata is not None
    assert interactions.item_metadata["description"].tolist() == [None, "mug"]


def test_item_metadata_needs_item_id() -> None:
    with pytest.raises(DataValidationError, match=r"item_metadata needs an 'item_id' column"):
        Interactions.from_events(
            events(user_id=["a"], item_id=["x"]), item_metadata=pd.DataFrame({"sku": ["x"]})
        )


def test_missing_user_column_hint():
    events = pd.DataFrame({"customer": ["a"], "item_id": ["x"], "event": ["purchase"]})

    with pytest.raises(DataValidationError, match=r"missing the required column\(s\) \['user_id'\]") as error:
        Interactions.from_events(events)

    assert "add an 'event' column" not in str(error.value)


def test_empty_events_rejected():
    events = pd.DataFrame({"user_id": [], "item_id": [], "event": []})

    with pytest.raises(DataValidationError, match="events contain no rows"):
        Interactions.from_events(events)


@pytest.mark.parametrize("data", [None, [("a", "x", "purchase")], 42])
def test_fit_wrong_input_type_named(data):
    from recsys import ItemKNN

    with pytest.raises(DataValidationError, match=r"fit needs Interactions, a pandas DataFrame"):
        ItemKNN().fit(data)


def test_timestamps_follow_any_index():
    # A slice of a larger frame keeps its index labels (5, 6, 7), not 0..2.
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "item_id": ["x1", "x2", "x1"],
            "event": "purchase",
            "timestamp": ["2024-01-01", "2024-01-02", "2024-01-03"],
        },
        index=[5, 6, 7],
    )

    interactions = Interactions.from_events(events, half_life_days=1.0)

    assert interactions.user_items.nnz == 3
    assert interactions.reference_time == pd.Timestamp("2024-01-03", tz="UTC")
    # a's x1 is two half-lives old, x2 one: 5 * 0.25 and 5 * 0.5.
    np.testing.assert_allclose(interactions.user_items.toarray()[0], [1.25, 2.5])
