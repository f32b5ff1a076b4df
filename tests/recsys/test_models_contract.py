"""The Recommender contract, checked on every model class with the same tests."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import (
    EASE,
    CrossOccurrence,
    DataValidationError,
    ImplicitALS,
    ImplicitBM25,
    ImplicitCosine,
    ImplicitTFIDF,
    ItemKNN,
    MostPopular,
    NotFittedError,
    Recommendations,
    Recommender,
    RP3Beta,
    UnknownItemError,
    UnknownUserError,
    load,
)
from recsys.persistence import content_version

MODEL_FACTORIES: list[Callable[[], Recommender]] = [
    lambda: ItemKNN(similarity="cosine", n_neighbors=10),
    lambda: ItemKNN(similarity="cooccurrence", n_neighbors=5),
    lambda: ItemKNN(similarity="jaccard", n_neighbors=10, min_support=2),
    lambda: ItemKNN(similarity="lift", n_neighbors=10),
    lambda: ItemKNN(similarity="conditional", n_neighbors=10),
    lambda: ItemKNN(similarity="llr", n_neighbors=10),
    lambda: ItemKNN(weighting="bm25", shrinkage=2.0, n_neighbors=10),
    lambda: MostPopular(),
    lambda: RP3Beta(n_neighbors=10),
    lambda: EASE(l2=50.0),
    lambda: ImplicitCosine(n_neighbors=10),
    lambda: ImplicitBM25(n_neighbors=10),
    lambda: ImplicitTFIDF(n_neighbors=10),
    lambda: ImplicitALS(factors=8, iterations=5),
    lambda: CrossOccurrence(n_neighbors=10),
    lambda: CrossOccurrence(n_neighbors=5, min_llr=1.0, indicator_weights={"view": 0.5}),
]
MODEL_IDS = [
    "knn-cosine",
    "knn-cooccurrence",
    "knn-jaccard",
    "knn-lift",
    "knn-conditional",
    "knn-llr",
    "knn-bm25-shrunk",
    "popular",
    "rp3beta",
    "ease",
    "implicit-cosine",
    "implicit-bm25",
    "implicit-tfidf",
    "implicit-als",
    "cross-occurrence",
    "cross-occurrence-weighted",
]
#: Models fitted with the implicit package, a development dependency.
NEEDS_IMPLICIT = {"implicit-cosine", "implicit-bm25", "implicit-tfidf", "implicit-als"}
requires_implicit = pytest.mark.skipif(
    importlib.util.find_spec("implicit") is None, reason="implicit is not installed"
)


def make_events(id_scheme: str) -> pd.DataFrame:
    """Build 40 users x 25 items of random views, carts and purchases (seeded)."""
    generator = np.random.default_rng(7)
    rows = []
    for user in range(40):
        n_events = int(generator.integers(1, 9))
        items = generator.choice(25, size=n_events, replace=True)
        kinds = generator.choice(["view", "cart", "purchase"], size=n_events, p=[0.6, 0.2, 0.2])
        rows.extend((user, int(item), str(kind)) for item, kind in zip(items, kinds, strict=True))
    frame = pd.DataFrame(rows, columns=["user", "item", "event"])
    if id_scheme == "str-users-int-items":
        frame["user_id"] = [f"user {user:02d}" for user in frame["user"]]
        frame["item_id"] = frame["item"] + 1000
    else:
        frame["user_id"] = frame["user"] * 7
        frame["item_id"] = [f"商品-{item:02d}" for item in frame["item"]]
    return frame[["user_id", "item_id", "event"]]


@pytest.fixture(scope="module", params=["str-users-int-items", "int-users-str-items"])
def events(request: pytest.FixtureRequest) -> pd.DataFrame:
    return make_events(request.param)


@pytest.fixture(
    params=[
        pytest.param(factory, id=model_id, marks=[requires_implicit] if model_id in NEEDS_IMPLICIT else [])
        for factory, model_id in zip(MODEL_FACTORIES, MODEL_IDS, strict=True)
    ]
)
def model_factory(request: pytest.FixtureRequest) -> Callable[[], Recommender]:
    return request.param


@pytest.fixture
def model(model_factory: Callable[[], Recommender], events: pd.DataFrame) -> Recommender:
    return model_factory().fit(events)


@pytest.fixture
def unknown_item(model: Recommender) -> object:
    """An item id of the model's id type that the model does not know."""
    return 999_999 if model.item_ids_.kind == "int" else "no such item"


def seen_items(events: pd.DataFrame, user_id: object) -> set[object]:
    return set(events.loc[events["user_id"] == user_id, "item_id"].tolist())


def all_users(model: Recommender) -> list[object]:
    return model.user_ids_.ids_of(range(len(model.user_ids_)))


def all_items(model: Recommender) -> list[object]:
    return model.item_ids_.ids_of(range(len(model.item_ids_)))


def as_tuples(result: Recommendations) -> list[tuple[object, type, float, str, tuple[object, ...]]]:
    """Flatten a result into comparable rows, id type included."""
    return [(item.item_id, type(item.item_id), item.score, item.reason, item.because) for item in result]


# --------------------------------------------------------------------------- fit


def test_fit_returns_self(model_factory: Callable[[], Recommender], events: pd.DataFrame) -> None:
    model = model_factory()

    assert model.fit(events) is model
    assert model.is_fitted


def test_fit_same_data_same_version(model_factory: Callable[[], Recommender], events: pd.DataFrame) -> None:
    first = model_factory().fit(events)
    second = model_factory().fit(events)

    assert first.version_ == second.version_
    assert content_version(first) == first.version_


def test_fit_empty_data_rejected(model_factory: Callable[[], Recommender]) -> None:
    frame = pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "event": ["view"], "weight": [0.0]})

    with pytest.raises(DataValidationError, match=r"cannot fit on empty data"):
        model_factory().fit(frame)


# --------------------------------------------------------------------------- recommend


@pytest.mark.parametrize("backfill", [False, True])
@pytest.mark.parametrize("n", [1, 3, 50])
def test_recommend_at_most_n(model: Recommender, events: pd.DataFrame, n: int, backfill: bool) -> None:
    for user_id in all_users(model):
        result = model.recommend(user_id, n, backfill=backfill)

        assert len(result) <= n, f"user {user_id!r}"
        if backfill:
            # Every item has popularity > 0, so backfill fills up to n unless the
            # user has seen nearly everything.
            available = len(model.item_ids_) - len(seen_items(events, user_id))
            assert len(result) == min(n, available), f"user {user_id!r}"


def test_recommend_skips_seen_and_excluded(model: Recommender, events: pd.DataFrame) -> None:
    exclude = all_items(model)[::4]

    for user_id in all_users(model):
        result = model.recommend(user_id, 10, exclude=exclude, backfill=True)

        assert not set(result.item_ids) & seen_items(events, user_id), f"user {user_id!r}"
        assert not set(result.item_ids) & set(exclude), f"user {user_id!r}"


def test_recommend_scores_finite_positive(model: Recommender) -> None:
    for user_id in all_users(model):
        for item in model.recommend(user_id, 20, backfill=True):
            assert math.isfinite(item.score), f"user {user_id!r} item {item.item_id!r}"
            assert item.score > 0, f"user {user_id!r} item {item.item_id!r}"


def test_recommend_no_duplicates(model: Recommender) -> None:
    for user_id in all_users(model):
        ids = model.recommend(user_id, 20, backfill=True).item_ids

        assert len(ids) == len(set(ids)), f"user {user_id!r}"


def test_recommend_id_types(model: Recommender) -> None:
    expected = int if model.item_ids_.kind == "int" else str

    for user_id in all_users(model):
        for item in model.recommend(user_id, 20, backfill=True):
            assert type(item.item_id) is expected
            assert all(type(reason_id) is expected for reason_id in item.because)


def test_recommend_deterministic(model: Recommender) -> None:
    for user_id in all_users(model):
        first = model.recommend(user_id, 10, backfill=True)
        second = model.recommend(user_id, 10, backfill=True)

        assert as_tuples(first) == as_tuples(second), f"user {user_id!r}"


def test_recommend_reasons(model: Recommender) -> None:
    for user_id in all_users(model):
        for item in model.recommend(user_id, 20, backfill=True):
            assert item.reason in ("similar", "popular")
            if item.reason == "popular":
                assert item.because == ()
                assert item.score == model.popularity_[model.item_ids_.index_of(item.item_id)]


def test_recommend_known_user_flag(model: Recommender) -> None:
    user_id = all_users(model)[0]

    assert model.recommend(user_id).known_user is True


def test_recommend_user_id_as_text(model: Recommender) -> None:
    # The lookup rule: an int-keyed model finds 7 from "7".
    user_id = all_users(model)[1]

    result = model.recommend(str(user_id), 5, backfill=True)

    assert result.known_user is True
    assert as_tuples(result) == as_tuples(model.recommend(user_id, 5, backfill=True))


def test_recommend_unknown_user_fallback(model: Recommender) -> None:
    result = model.recommend("nobody", 5)

    popular = np.argsort(-model.popularity_, kind="stable")[:5]
    assert result.known_user is False
    assert result.item_ids == model.item_ids_.ids_of(popular)
    assert all(item.reason == "popular" for item in result)
    assert all(item.because == () for item in result)
    assert result.scores == model.popularity_[popular].tolist()


def test_recommend_unknown_user_filters(model: Recommender, unknown_item: object) -> None:
    items = all_items(model)

    result = model.recommend("nobody", 30, exclude=[items[0], unknown_item], allow=items[:5])

    assert result.item_ids
    assert set(result.item_ids) <= set(items[1:5])
    assert result.unknown_items == (unknown_item,)


def test_recommend_unknown_user_strict(model: Recommender) -> None:
    with pytest.raises(UnknownUserError, match=r"unknown user_id 'nobody'") as error:
        model.recommend("nobody", strict=True)

    assert error.value.id == "nobody"
    assert isinstance(error.value, KeyError)


@pytest.mark.parametrize("bad", [1.5, None, True])
def test_recommend_bad_user_id_type(model: Recommender, bad: object) -> None:
    with pytest.raises(DataValidationError, match=r"user_id must be an int or a str"):
        model.recommend(bad)  # type: ignore[arg-type]


def test_recommend_allow_restricts(model: Recommender) -> None:
    allow = all_items(model)[::3]

    for user_id in all_users(model):
        result = model.recommend(user_id, 10, allow=allow, backfill=True)

        assert set(result.item_ids) <= set(allow), f"user {user_id!r}"


def test_recommend_empty_allow(model: Recommender) -> None:
    user_id = all_users(model)[0]

    assert len(model.recommend(user_id, 10, allow=[], backfill=True)) == 0
    assert len(model.recommend("nobody", 10, allow=[])) == 0


def test_recommend_n_zero(model: Recommender) -> None:
    user_id = all_users(model)[0]
    item_id = all_items(model)[0]

    assert len(model.recommend(user_id, 0)) == 0
    assert len(model.recommend(user_id, 0, backfill=True)) == 0
    assert len(model.recommend("nobody", 0)) == 0
    assert len(model.recommend_basket([item_id], 0, backfill=True)) == 0
    assert len(model.similar_items(item_id, 0)) == 0


@pytest.mark.parametrize("bad", [-1, 2.5, True, "3"])
def test_n_invalid_rejected(model: Recommender, bad: object) -> None:
    user_id = all_users(model)[0]
    item_id = all_items(model)[0]
    pattern = rf"n must be an int >= 0; got {bad!r}"

    with pytest.raises(DataValidationError, match=pattern):
        model.recommend(user_id, bad)  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match=pattern):
        model.recommend_basket([item_id], bad)  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match=pattern):
        model.similar_items(item_id, bad)  # type: ignore[arg-type]


def test_recommend_unknown_ids_reported(model: Recommender, unknown_item: object) -> None:
    user_id = all_users(model)[0]
    items = all_items(model)

    result = model.recommend(user_id, 5, exclude=[items[0], unknown_item], allow=[*items, "ghost"])

    assert result.unknown_items == (unknown_item, "ghost")


def test_exclude_single_str_rejected(model: Recommender) -> None:
    user_id = all_users(model)[0]

    with pytest.raises(DataValidationError, match=r"exclude must be a list of ids; got str"):
        model.recommend(user_id, exclude="abc")


def test_recommend_exclude_seen_unknown_event(model: Recommender) -> None:
    user_id = all_users(model)[0]

    with pytest.raises(DataValidationError, match=r"exclude_seen names event type 'click'"):
        model.recommend(user_id, exclude_seen=["click"])


# --------------------------------------------------------------------------- batch


def test_recommend_batch_matches_single(model: Recommender) -> None:
    users = all_users(model)
    batch_users = [users[3], "nobody", users[0], users[3]]

    results = model.recommend_batch(batch_users, 4, backfill=True)

    assert len(results) == len(batch_users)
    for user_id, result in zip(batch_users, results, strict=True):
        assert as_tuples(result) == as_tuples(model.recommend(user_id, 4, backfill=True))
        assert result.known_user == (user_id != "nobody")


def test_recommend_batch_strict(model: Recommender) -> None:
    with pytest.raises(UnknownUserError, match=r"unknown user_id 'nobody'"):
        model.recommend_batch([all_users(model)[0], "nobody"], strict=True)


def test_recommend_batch_empty(model: Recommender) -> None:
    assert model.recommend_batch([]) == []


def test_similar_items_batch_matches_single(model: Recommender) -> None:
    items = all_items(model)
    batch_items = [items[2], items[0], items[2]]

    results = model.similar_items_batch(batch_items, 3)

    assert len(results) == 3
    for item_id, result in zip(batch_items, results, strict=True):
        assert as_tuples(result) == as_tuples(model.similar_items(item_id, 3))


# --------------------------------------------------------------------------- basket


def test_recommend_basket_excludes_basket(model: Recommender) -> None:
    basket = all_items(model)[:3]

    result = model.recommend_basket(basket, 30, backfill=True)

    assert not set(result.item_ids) & set(basket)
    assert len(result.item_ids) == len(set(result.item_ids))
    assert len(result) == min(30, len(model.item_ids_) - 3)


def test_recommend_basket_unknown_ids_reported(model: Recommender, unknown_item: object) -> None:
    items = all_items(model)

    result = model.recommend_basket([items[0], unknown_item], 5, exclude=["ghost"], allow=items)

    assert result.unknown_items == (unknown_item, "ghost")
    assert result.known_user is None


def test_recommend_basket_empty_backfill(model: Recommender) -> None:
    result = model.recommend_basket([], 5, backfill=True)

    assert result.item_ids == model.recommend("nobody", 5).item_ids
    assert all(item.reason == "popular" for item in result)


def test_recommend_basket_bad_weight(model: Recommender) -> None:
    item_id = all_items(model)[0]

    with pytest.raises(DataValidationError, match=rf"basket weight for item {item_id!r} must be a finite"):
        model.recommend_basket({item_id: -1.0})


# --------------------------------------------------------------------------- similar items


def test_similar_items_contract(model: Recommender) -> None:
    for item_id in all_items(model):
        result = model.similar_items(item_id, 5)

        assert len(result) <= 5
        assert item_id not in result.item_ids
        assert len(result.item_ids) == len(set(result.item_ids))
        assert all(math.isfinite(score) and score > 0 for score in result.scores)
        assert result.scores == sorted(result.scores, reverse=True)


def test_similar_items_unknown_item(model: Recommender, unknown_item: object) -> None:
    with pytest.raises(UnknownItemError, match=rf"unknown item_id {unknown_item!r}") as error:
        model.similar_items(unknown_item)

    assert error.value.id == unknown_item


def test_similar_items_filters(model: Recommender, unknown_item: object) -> None:
    items = all_items(model)

    result = model.similar_items(items[0], 30, exclude=[items[1], unknown_item], allow=items[:12])

    assert set(result.item_ids) <= set(items[2:12])
    assert result.unknown_items == (unknown_item,)


def test_explain_unknown_item(model: Recommender, unknown_item: object) -> None:
    with pytest.raises(UnknownItemError, match=rf"unknown item_id {unknown_item!r}"):
        model.explain(unknown_item, user_id=all_users(model)[0])


# --------------------------------------------------------------------------- not fitted


def test_not_fitted_errors(model_factory: Callable[[], Recommender], tmp_path: Path) -> None:
    model = model_factory()
    pattern = r"is not fitted yet; call fit\(\) or recsys.load\(\) first"

    assert not model.is_fitted
    with pytest.raises(NotFittedError, match=pattern):
        model.recommend("a")
    with pytest.raises(NotFittedError, match=pattern):
        model.recommend_batch(["a"])
    with pytest.raises(NotFittedError, match=pattern):
        model.recommend_basket(["x"])
    with pytest.raises(NotFittedError, match=pattern):
        model.similar_items("x")
    with pytest.raises(NotFittedError, match=pattern):
        model.explain("x", basket=["y"])
    with pytest.raises(NotFittedError, match=pattern):
        model.get_item_metadata(["x"])
    with pytest.raises(NotFittedError, match=pattern):
        model.save(tmp_path / "model")


# --------------------------------------------------------------------------- persistence


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(model: Recommender, tmp_path: Path, mmap: bool) -> None:
    model.save(tmp_path / "model")

    loaded = type(model).load(tmp_path / "model", mmap=mmap)

    assert type(loaded) is type(model)
    assert loaded.version_ == model.version_
    assert content_version(loaded) == model.version_
    assert loaded.get_params() == model.get_params()
    assert loaded.fitted_at_ == model.fitted_at_
    for user_id in [*all_users(model), "nobody"]:
        expected = model.recommend(user_id, 10, backfill=True)
        actual = loaded.recommend(user_id, 10, backfill=True)
        assert as_tuples(actual) == as_tuples(expected), f"user {user_id!r}"
        assert actual.known_user == expected.known_user
    for item_id in all_items(model):
        expected = model.similar_items(item_id, 10)
        assert as_tuples(loaded.similar_items(item_id, 10)) == as_tuples(expected), f"item {item_id!r}"
    basket = all_items(model)[:2]
    assert as_tuples(loaded.recommend_basket(basket)) == as_tuples(model.recommend_basket(basket))


def test_load_any_model(model: Recommender, tmp_path: Path) -> None:
    model.save(tmp_path / "model")

    loaded = load(tmp_path / "model")

    assert type(loaded) is type(model)
    assert loaded.version_ == model.version_
    assert isinstance(Recommender.load(tmp_path / "model"), type(model))
