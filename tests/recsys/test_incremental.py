"""Tests of ItemKNN.partial_fit and ItemKNN.forget_users against full refits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recsys.incremental
from recsys import (
    DataValidationError,
    Interactions,
    ItemKNN,
    RP3Beta,
    UnknownUserError,
    load,
)

Purchases = Callable[[dict[str, list[str]]], pd.DataFrame]

SIMILARITIES = ("cooccurrence", "cosine", "jaccard", "lift", "conditional", "llr")
RTOL = 1e-5


@contextmanager
def partial_path(forced: bool) -> Iterator[None]:
    """Force the row-by-row recomputation even where a full pass looks cheaper."""
    saved = recsys.incremental._FULL_PASS_SHARE
    if forced:
        recsys.incremental._FULL_PASS_SHARE = float("inf")
    try:
        yield
    finally:
        recsys.incremental._FULL_PASS_SHARE = saved


def assert_same_model(actual: ItemKNN, expected: ItemKNN) -> None:
    """Check ids, histories, popularity, similarity and answers by id."""
    assert actual.user_ids_ == expected.user_ids_
    assert actual.item_ids_ == expected.item_ids_
    assert np.array_equal(actual.user_items_.indptr, expected.user_items_.indptr)
    assert np.array_equal(actual.user_items_.indices, expected.user_items_.indices)
    np.testing.assert_allclose(actual.user_items_.data, expected.user_items_.data, rtol=RTOL)
    assert np.array_equal(actual.seen_events_, expected.seen_events_)
    np.testing.assert_allclose(actual.popularity_, expected.popularity_, rtol=RTOL)
    assert np.array_equal(actual.similarity_.indptr, expected.similarity_.indptr)
    assert np.array_equal(actual.similarity_.indices, expected.similarity_.indices)
    assert actual.similarity_.data.dtype == expected.similarity_.data.dtype
    np.testing.assert_allclose(actual.similarity_.data, expected.similarity_.data, rtol=RTOL)
    if getattr(expected, "support_", None) is not None:
        assert np.array_equal(actual.support_.data, expected.support_.data)
    for user_id in expected.user_ids_.ids.tolist():
        got, want = actual.recommend(user_id, n=5), expected.recommend(user_id, n=5)
        assert got.item_ids == want.item_ids
        np.testing.assert_allclose(got.scores, want.scores, rtol=RTOL)
    for item_id in expected.item_ids_.ids.tolist():
        assert actual.similar_items(item_id).item_ids == expected.similar_items(item_id).item_ids


@st.composite
def event_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Events of up to 14 users on up to 10 items, with event types and integer weights."""
    n_rows = draw(st.integers(2, 45))
    users = draw(st.lists(st.integers(0, 13), min_size=n_rows, max_size=n_rows))
    items = draw(st.lists(st.integers(0, 9), min_size=n_rows, max_size=n_rows))
    events = draw(st.lists(st.sampled_from(["view", "cart", "purchase"]), min_size=n_rows, max_size=n_rows))
    weights = draw(st.lists(st.integers(1, 3), min_size=n_rows, max_size=n_rows))
    return pd.DataFrame(
        {
            "user_id": [f"user {user:02d}" for user in users],
            "item_id": [item * 7 for item in items],
            "event": events,
            "weight": np.asarray(weights, dtype=np.float64),
        }
    )


model_options = st.fixed_dictionaries(
    {
        "similarity": st.sampled_from(SIMILARITIES),
        "n_neighbors": st.integers(1, 4),
        "min_support": st.integers(1, 2),
        "shrinkage": st.sampled_from([0.0, 2.0]),
    }
)


# --------------------------------------------------------------------------- partial_fit


@settings(max_examples=40, deadline=None)
@given(
    events=event_tables(),
    split=st.lists(st.booleans(), min_size=45, max_size=45),
    options=model_options,
    forced=st.booleans(),
)
def test_partial_fit_equals_refit(
    events: pd.DataFrame, split: list[bool], options: dict, forced: bool
) -> None:
    in_old = np.asarray(split[: len(events)])
    old, new = events[in_old], events[~in_old]
    if old.empty or new.empty:
        old, new = events.iloc[:1], events.iloc[1:]

    with partial_path(forced):
        updated = ItemKNN(**options, count_repeats=True).fit(old).partial_fit(new)
    refit = ItemKNN(**options, count_repeats=True).fit(pd.concat([old, new]))

    assert_same_model(updated, refit)


@settings(max_examples=25, deadline=None)
@given(events=event_tables(), options=model_options, forced=st.booleans())
def test_partial_fit_new_users_only(events: pd.DataFrame, options: dict, forced: bool) -> None:
    # Purchases only and no repeats, so the default repeat rule merges exactly.
    events = events.assign(event="purchase", weight=1.0).drop_duplicates(["user_id", "item_id"])
    users = sorted(events["user_id"].unique())
    newcomers = set(users[len(users) // 2 :])
    old = events[~events["user_id"].isin(newcomers)]
    new = events[events["user_id"].isin(newcomers)]
    if old.empty or new.empty:
        return

    with partial_path(forced):
        updated = ItemKNN(**options).fit(old).partial_fit(new)
    refit = ItemKNN(**options).fit(events)

    assert_same_model(updated, refit)


def test_partial_fit_inserts_ids_in_order(purchases: Purchases) -> None:
    old = purchases({"anna": ["tea", "cup"], "carl": ["tea", "pot"], "dora": ["cup", "pot"]})
    new = purchases({"bert": ["tea", "mug", "cup"], "anna": ["mug"]})

    updated = ItemKNN(n_neighbors=2).fit(old).partial_fit(new)
    refit = ItemKNN(n_neighbors=2).fit(pd.concat([old, new]))

    assert updated.user_ids_.ids.tolist() == ["anna", "bert", "carl", "dora"]
    assert updated.item_ids_.ids.tolist() == ["cup", "mug", "pot", "tea"]
    assert updated.similar_items("mug").item_ids == refit.similar_items("mug").item_ids
    assert_same_model(updated, refit)


def test_partial_fit_max_rule_single_type(purchases: Purchases) -> None:
    old = purchases({"a": ["x", "y"], "b": ["x"]})
    new = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "item_id": ["x", "y", "y"],
            "event": ["purchase", "view", "view"],
        }
    )

    updated = ItemKNN().fit(old).partial_fit(new)
    refit = ItemKNN().fit(pd.concat([old, new]))

    # A repeated purchase counts once; a view adds 1 to the purchase's 5.
    a = updated.user_ids_.index_of("a")
    assert updated.user_items_[[a], :].toarray().ravel().tolist() == [5.0, 6.0]
    assert_same_model(updated, refit)


def test_partial_fit_max_rule_ambiguous_raises() -> None:
    old = pd.DataFrame({"user_id": ["a", "a"], "item_id": ["x", "x"], "event": ["view", "purchase"]})
    new = pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "event": ["view"]})
    model = ItemKNN().fit(old)

    with pytest.raises(DataValidationError, match=r"user_id='a', item_id='x'.*count_repeats=True"):
        model.partial_fit(new)


def test_partial_fit_count_repeats_sums() -> None:
    old = pd.DataFrame({"user_id": ["a", "a"], "item_id": ["x", "x"], "event": ["view", "purchase"]})
    new = pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "event": ["view"]})

    updated = ItemKNN(count_repeats=True).fit(old).partial_fit(new)

    assert updated.user_items_.data.tolist() == [7.0]


def test_partial_fit_accepts_interactions(purchases: Purchases) -> None:
    old = purchases({"a": ["x", "y"], "b": ["y", "z"]})
    new = purchases({"c": ["x", "z"]})
    batch = Interactions.from_events(new)

    updated = ItemKNN().fit(old).partial_fit(batch)

    assert_same_model(updated, ItemKNN().fit(pd.concat([old, new])))


def test_partial_fit_interactions_other_weights(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"]}))
    batch = Interactions.from_events(purchases({"b": ["x"]}), event_weights={"purchase": 1.0})

    with pytest.raises(DataValidationError, match=r"event_weights="):
        model.partial_fit(batch)


def test_partial_fit_id_kind_mismatch(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"]}))
    new = pd.DataFrame({"user_id": [7], "item_id": ["x"], "event": ["purchase"]})

    with pytest.raises(DataValidationError, match=r"int user_id values.*str ids"):
        model.partial_fit(new)


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"weighting": "bm25", "similarity": "cosine"}, "weighting='bm25'"),
        ({"weighting": "tfidf", "similarity": "cosine"}, "weighting='tfidf'"),
        ({"weighting": "iuf", "similarity": "cosine"}, "weighting='iuf'"),
        ({"max_items_per_user": 5}, "max_items_per_user=5"),
    ],
)
def test_partial_fit_unsupported_option(purchases: Purchases, options: dict, option: str) -> None:
    model = ItemKNN(**options).fit(purchases({"a": ["x", "y"], "b": ["x"]}))

    with pytest.raises(DataValidationError, match=rf"{option}.*refit"):
        model.partial_fit(purchases({"c": ["x", "y"]}))
    with pytest.raises(DataValidationError, match=rf"{option}.*refit"):
        model.forget_users(["a"])


def test_partial_fit_half_life_raises() -> None:
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "item_id": ["x", "y", "x"],
            "event": "purchase",
            "timestamp": ["2026-01-01", "2026-01-02", "2026-01-03"],
        }
    )
    model = ItemKNN(half_life_days=7).fit(events)

    with pytest.raises(DataValidationError, match=r"half_life_days=7.0.*refit"):
        model.partial_fit(events.iloc[:1])


def test_partial_fit_subclass_raises(purchases: Purchases) -> None:
    model = RP3Beta().fit(purchases({"a": ["x", "y"], "b": ["x"]}))

    with pytest.raises(DataValidationError, match=r"RP3Beta.partial_fit is not supported.*refit"):
        model.partial_fit(purchases({"c": ["x"]}))


def test_partial_fit_changes_version(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"], "b": ["x"]}))
    before = model.version_

    model.partial_fit(purchases({"c": ["x", "y"]}))

    assert model.version_ != before


def timed(events: pd.DataFrame, start: str) -> pd.DataFrame:
    """Give events one timestamp per row, a minute apart from ``start``."""
    times = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(range(len(events)), unit="min")
    return events.assign(timestamp=times)


def test_partial_fit_moves_data_until(purchases: Purchases) -> None:
    old = timed(purchases({"a": ["x", "y"], "b": ["x"]}), "2026-01-01")
    new = timed(purchases({"c": ["x", "y"]}), "2026-02-01")
    model = ItemKNN().fit(old)
    model.store_high_water_mark_ = 41

    model.partial_fit(new)

    assert model.data_until_ == pd.Timestamp("2026-02-01 00:01", tz="UTC")
    assert model.data_until_ == ItemKNN().fit(pd.concat([old, new])).data_until_
    # The new events need not come from the store, so its mark no longer applies.
    assert model.store_high_water_mark_ is None


def test_partial_fit_older_events_keep_data_until(purchases: Purchases) -> None:
    model = ItemKNN().fit(timed(purchases({"a": ["x", "y"]}), "2026-03-01"))

    model.partial_fit(timed(purchases({"b": ["x", "y"]}), "2026-01-01"))

    assert model.data_until_ == pd.Timestamp("2026-03-01 00:01", tz="UTC")


def test_partial_fit_untimed_events_unknown_end(purchases: Purchases) -> None:
    model = ItemKNN().fit(timed(purchases({"a": ["x", "y"]}), "2026-03-01"))

    model.partial_fit(purchases({"b": ["x", "y"]}))

    assert model.data_until_ is None


def test_partial_fit_untimed_model_stays_unknown(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"]}))

    model.partial_fit(timed(purchases({"b": ["x", "y"]}), "2026-03-01"))

    assert model.data_until_ is None


def test_partial_fit_save_load(purchases: Purchases, tmp_path: Path) -> None:
    old = purchases({"a": ["x", "y"], "b": ["x", "z"]})
    new = purchases({"c": ["y", "z", "w"]})
    model = ItemKNN().fit(old).partial_fit(new)

    model.save(tmp_path / "model")
    loaded = load(tmp_path / "model")

    assert loaded.version_ == model.version_
    assert_same_model(loaded, ItemKNN().fit(pd.concat([old, new])))


def test_partial_fit_keeps_metadata(purchases: Purchases) -> None:
    interactions = Interactions.from_events(
        purchases({"a": ["x", "y"]}),
        item_metadata=pd.DataFrame({"item_id": ["x", "y"], "description": ["Tea", "Cup"]}),
    )
    model = ItemKNN().fit(interactions).partial_fit(purchases({"b": ["w", "x"]}))

    assert model.get_item_metadata(["w", "x", "y"]) == [{}, {"description": "Tea"}, {"description": "Cup"}]


# --------------------------------------------------------------------------- forget_users


@settings(max_examples=40, deadline=None)
@given(
    events=event_tables(),
    drop=st.lists(st.integers(0, 13), min_size=1, max_size=4),
    options=model_options,
    forced=st.booleans(),
)
def test_forget_users_equals_refit(
    events: pd.DataFrame, drop: list[int], options: dict, forced: bool
) -> None:
    users = sorted(events["user_id"].unique())
    forgotten = sorted({users[index % len(users)] for index in drop})
    remaining = events[~events["user_id"].isin(forgotten)]
    if remaining.empty:
        return

    with partial_path(forced):
        model = ItemKNN(**options).fit(events).forget_users(forgotten)
    refit = ItemKNN(**options).fit(remaining)

    assert_same_model(model, refit)


def test_forget_users_drops_lone_items(purchases: Purchases) -> None:
    events = purchases({"a": ["x", "y"], "b": ["x", "y"], "secret": ["x", "rare"]})

    model = ItemKNN().fit(events).forget_users(["secret"])

    assert model.user_ids_.ids.tolist() == ["a", "b"]
    assert model.item_ids_.ids.tolist() == ["x", "y"]
    assert model.popularity_.tolist() == [10.0, 10.0]
    assert_same_model(model, ItemKNN().fit(purchases({"a": ["x", "y"], "b": ["x", "y"]})))


def test_forget_users_saved_model_has_no_trace(purchases: Purchases, tmp_path: Path) -> None:
    events = purchases({"a": ["x", "y"], "b": ["x", "y"], "zoë-private": ["x", "y", "z"]})
    model = ItemKNN().fit(events).forget_users(["zoë-private"])

    model.save(tmp_path / "model")

    for file in (tmp_path / "model").iterdir():
        assert "zoë-private".encode() not in file.read_bytes()
    loaded = load(tmp_path / "model")
    assert loaded.user_ids_.index_of("zoë-private") == -1
    assert loaded.version_ == model.version_
    assert_same_model(loaded, ItemKNN().fit(purchases({"a": ["x", "y"], "b": ["x", "y"]})))


def test_forget_users_keeps_data_end(purchases: Purchases, tmp_path: Path) -> None:
    model = ItemKNN().fit(timed(purchases({"a": ["x", "y"], "b": ["x", "z"]}), "2026-01-01"))
    model.store_high_water_mark_ = 4

    model.forget_users(["b"])
    model.save(tmp_path / "model")
    loaded = load(tmp_path / "model")

    # The newest event was b's, but the kept events were still read up to it.
    assert model.data_until_ == pd.Timestamp("2026-01-01 00:03", tz="UTC")
    assert model.store_high_water_mark_ == 4
    assert loaded.data_until_ == model.data_until_
    assert loaded.store_high_water_mark_ == 4


def test_forget_users_unknown_raises(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"], "b": ["x"]}))
    before = model.version_

    with pytest.raises(UnknownUserError, match=r"'nobody'.*ignore_unknown=True") as error:
        model.forget_users(["a", "nobody"])

    assert isinstance(error.value, KeyError)
    assert model.version_ == before
    assert model.user_ids_.index_of("a") == 0


def test_forget_users_ignore_unknown(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"], "b": ["x", "y"], "c": ["y"]}))

    model.forget_users(["nobody", "c", "c"], ignore_unknown=True)

    assert model.user_ids_.ids.tolist() == ["a", "b"]


def test_forget_users_only_unknown_keeps_model(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"]}))
    before = model.version_

    model.forget_users(["nobody"], ignore_unknown=True)

    assert model.version_ == before


def test_forget_users_every_user_raises(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"], "b": ["x"]}))

    with pytest.raises(DataValidationError, match=r"every user"):
        model.forget_users(["a", "b"])


def test_forget_users_string_argument_raises(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"], "b": ["x"]}))

    with pytest.raises(DataValidationError, match=r"list of user ids"):
        model.forget_users("a")  # type: ignore[arg-type]


def test_forget_users_changes_version(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"], "b": ["x", "y"], "c": ["y", "z"]}))
    before = model.version_

    model.forget_users(["c"])

    assert model.version_ != before


def test_forget_then_partial_fit_restores(purchases: Purchases) -> None:
    events = purchases({"a": ["x", "y"], "b": ["x", "z"], "c": ["y", "z", "x"]})
    model = ItemKNN(similarity="jaccard").fit(events)

    model.forget_users(["c"]).partial_fit(purchases({"c": ["y", "z", "x"]}))

    assert_same_model(model, ItemKNN(similarity="jaccard").fit(events))
