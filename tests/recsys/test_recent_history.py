"""Recent events change recommendations without refitting."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys import DataValidationError, ItemKNN
from tests.conftest import purchases


@pytest.fixture
def model() -> ItemKNN:
    # x1 goes with x2, and x4 with x5; a bought only x1.
    return ItemKNN().fit(purchases({"a": ["x1"], "b": ["x1", "x2"], "c": ["x4", "x5"], "d": ["x4", "x5"]}))


def views(*items: str) -> pd.DataFrame:
    return pd.DataFrame({"item_id": list(items), "event": "view"})


def test_recent_view_changes_answer(model):
    before = model.recommend("a", n=5)
    after = model.recommend("a", n=5, recent=views("x4"))

    assert before.item_ids == ["x2"]
    assert after.item_ids[0] == "x2"
    assert "x5" in after.item_ids


def test_recent_items_count_as_seen(model):
    result = model.recommend("a", n=5, recent=views("x4"))

    assert "x4" not in result.item_ids


def test_recent_view_kept_when_only_purchases_excluded(model):
    result = model.recommend("a", n=5, exclude_seen=["purchase"], recent=views("x2", "x5"))

    assert "x2" in result.item_ids
    assert "x4" in result.item_ids


def test_recent_gives_unknown_user_similar_items(model):
    result = model.recommend("new visitor", n=5, recent=views("x4"))

    assert result.item_ids == ["x5"]
    assert result.known_user is False
    assert result[0].reason == "similar"
    assert result[0].because == ("x4",)


def test_strict_accepts_unknown_user_with_recent(model):
    assert model.recommend("new visitor", n=1, strict=True, recent=views("x1")).item_ids == ["x2"]


def test_recent_mapping_weights(model):
    result = model.recommend("a", n=5, recent={"x4": 10.0})

    assert result.item_ids[0] == "x5"
    assert "x4" not in result.item_ids


def test_recent_unknown_item_reported(model):
    result = model.recommend("a", n=5, recent=views("nope", "x4"))

    assert result.unknown_items == ("nope",)
    assert "x5" in result.item_ids


def test_recent_unknown_event_type_named(model):
    events = pd.DataFrame({"item_id": ["x4"], "event": ["wishlist"]})

    with pytest.raises(DataValidationError, match=r"event types \['wishlist'\]"):
        model.recommend("a", recent=events)


def test_recent_weight_beyond_float32_named(model):
    # A purchase weighs 5 in the default event weights, so 1e38 becomes 5e38.
    events = pd.DataFrame({"item_id": ["x4", "x1"], "event": ["view", "purchase"], "weight": [1.0, 1e38]})

    with pytest.raises(DataValidationError, match=r"must fit in float32 .* first at row 1"):
        model.recommend("a", 3, recent=events)


def test_recent_bad_weight_named(model):
    events = pd.DataFrame({"item_id": ["x4"], "event": ["view"], "weight": [float("nan")]})

    with pytest.raises(DataValidationError, match="'weight' of recent events"):
        model.recommend("a", recent=events)


def test_recent_leaves_model_unchanged(model):
    version = model.version_
    nnz = model.user_items_.nnz

    model.recommend("a", recent=views("x4", "x5"))

    assert model.version_ == version
    assert model.user_items_.nnz == nnz


def test_weigh_events_rules(model):
    events = pd.DataFrame(
        {"item_id": ["x1", "x1", "x1", "x2"], "event": ["view", "view", "purchase", "cart"], "weight": [1, 2, 1, 1]}
    )

    # Repeats of (x1, view) count once with the largest value (2); event types add up.
    assert model.weigh_events(events) == {"x1": 1.0 * 2 + 5.0, "x2": 3.0}


def test_weigh_events_count_repeats() -> None:
    model = ItemKNN(count_repeats=True).fit(purchases({"a": ["x1", "x2"]}))
    events = pd.DataFrame({"item_id": ["x1", "x1"], "event": ["view", "view"]})

    assert model.weigh_events(events) == {"x1": 2.0}
