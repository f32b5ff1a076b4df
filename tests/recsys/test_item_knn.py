"""Tests of ItemKNN results against hand computations and dense re-computations."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys import DataValidationError, Interactions, ItemKNN, UnknownUserError, item_similarity
from recsys.persistence import content_version
from recsys.similarity import cap_user_items
from recsys.weighting import weight_user_items

Purchases = Callable[[dict[str, list[str]]], pd.DataFrame]


@pytest.fixture
def shop(purchases: Purchases) -> ItemKNN:
    """User a bought x1 and x2, b bought x1, x2 and x3, c bought x2 and x3, d bought x4.

    Every event is a purchase, so every weight is 5.
    """
    events = purchases({"a": ["x1", "x2"], "b": ["x1", "x2", "x3"], "c": ["x2", "x3"], "d": ["x4"]})
    return ItemKNN().fit(events)


@pytest.fixture
def random_model() -> ItemKNN:
    """ItemKNN on 60 users x 30 items with random event types (seeded)."""
    generator = np.random.default_rng(11)
    rows = []
    for user in range(60):
        for item in generator.choice(30, size=int(generator.integers(1, 8)), replace=False):
            kind = generator.choice(["view", "cart", "purchase"])
            rows.append((f"u{user}", f"i{item:02d}", str(kind)))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event"])
    return ItemKNN(similarity="cosine", n_neighbors=8).fit(events)


def dense_ranking(model: ItemKNN, weights: dict[int, float], blocked: set[int]) -> list[tuple[int, float]]:
    """Score every item as sum_i w_i * S[i] on the dense similarity, then rank as top_n does."""
    similarity = model.similarity_.toarray().astype(np.float64)
    scores = np.zeros(similarity.shape[1])
    for position, weight in weights.items():
        scores += weight * similarity[position]
    ranked = [(j, scores[j]) for j in range(len(scores)) if scores[j] > 0 and j not in blocked]
    ranked.sort(key=lambda pair: (-pair[1], pair[0]))
    return ranked


# --------------------------------------------------------------------------- hand-computed


def test_item_knn_shop_similarity(shop: ItemKNN) -> None:
    x1, x2, x3 = (shop.item_ids_.index_of(item) for item in ("x1", "x2", "x3"))

    assert shop.similarity_[x1, x2] == pytest.approx(2 / math.sqrt(6))
    assert shop.similarity_[x1, x3] == pytest.approx(1 / 2)
    assert shop.similarity_[x2, x3] == pytest.approx(2 / math.sqrt(6))


def test_item_knn_shop_recommend(shop: ItemKNN) -> None:
    result = shop.recommend("a", n=3)

    assert result.item_ids == ["x3"]
    assert result[0].reason == "similar"
    # Purchase weight 5 on x1 and x2: 5 * cos(x1, x3) + 5 * cos(x2, x3).
    assert result[0].score == pytest.approx(5 * 0.5 + 5 * 2 / math.sqrt(6))
    assert result[0].because == ("x2", "x1")


def test_item_knn_shop_backfill(shop: ItemKNN) -> None:
    result = shop.recommend("a", n=3, backfill=True)

    assert result.item_ids == ["x3", "x4"]
    assert [item.reason for item in result] == ["similar", "popular"]
    assert result[1].score == 5.0
    assert result[1].because == ()
    assert result.fallback is True


def test_item_knn_shop_isolated_user(shop: ItemKNN) -> None:
    # x4 co-occurs with nothing, so d gets no evidence-based items.
    assert shop.recommend("d").item_ids == []
    assert shop.recommend("d", n=2, backfill=True).item_ids == ["x2", "x1"]


def test_item_knn_shop_similar_items(shop: ItemKNN) -> None:
    result = shop.similar_items("x1")

    assert result.item_ids == ["x2", "x3"]
    assert all(item.because == ("x1",) for item in result)
    assert all(item.reason == "similar" for item in result)
    assert shop.similar_items("x4").item_ids == []


def test_item_knn_docstring_example(purchases: Purchases) -> None:
    model = ItemKNN().fit(purchases({"a": ["tea", "cup"], "b": ["tea", "cup"], "c": ["tea"]}))

    assert model.similar_items("tea").item_ids == ["cup"]
    assert model.recommend("c").item_ids == ["cup"]


def test_item_knn_n_neighbors_prunes(purchases: Purchases) -> None:
    events = purchases({"a": ["x", "y", "z"], "b": ["x", "y"]})

    model = ItemKNN(similarity="cooccurrence", n_neighbors=1).fit(events)

    assert model.similar_items("x").item_ids == ["y"]
    assert model.similar_items("z").item_ids == ["x"]


def test_item_knn_min_support(purchases: Purchases) -> None:
    events = purchases({"a": ["x", "y", "z"], "b": ["x", "y"]})

    model = ItemKNN(min_support=2).fit(events)

    assert model.similar_items("x").item_ids == ["y"]
    assert model.similar_items("z").item_ids == []


# --------------------------------------------------------------------------- scoring


def test_item_knn_basket_dense_scores(random_model: ItemKNN) -> None:
    basket = {"i03": 2.0, "i17": 0.5, "i08": 1.0}
    positions = {random_model.item_ids_.index_of(item): weight for item, weight in basket.items()}

    result = random_model.recommend_basket(basket, n=10)

    expected = dense_ranking(random_model, positions, set(positions))[:10]
    assert result.item_ids == random_model.item_ids_.ids_of([j for j, _ in expected])
    np.testing.assert_allclose(result.scores, [score for _, score in expected], rtol=1e-6)


def test_item_knn_user_dense_scores(random_model: ItemKNN) -> None:
    for user in range(len(random_model.user_ids_)):
        row = random_model.user_items_[[user]]
        weights = dict(zip(row.indices.tolist(), row.data.astype(np.float64).tolist(), strict=True))
        user_id = random_model.user_ids_.id_of(user)

        result = random_model.recommend(user_id, n=5)

        expected = dense_ranking(random_model, weights, set(weights))[:5]
        assert result.item_ids == random_model.item_ids_.ids_of([j for j, _ in expected]), f"{user_id}"
        np.testing.assert_allclose(result.scores, [score for _, score in expected], rtol=1e-6)


def test_item_knn_basket_repeats_count_once(random_model: ItemKNN) -> None:
    once = random_model.recommend_basket(["i03", "i08"], n=10)
    repeated = random_model.recommend_basket(["i03", "i08", "i03"], n=10)

    assert repeated.item_ids == once.item_ids
    assert repeated.scores == once.scores


def test_item_knn_basket_zero_weight_ignored(random_model: ItemKNN) -> None:
    with_zero = random_model.recommend_basket({"i03": 1.0, "i08": 0.0}, n=10)
    without = random_model.recommend_basket({"i03": 1.0}, exclude=["i08"], n=10)

    assert with_zero.item_ids == without.item_ids
    assert with_zero.scores == without.scores


def test_item_knn_empty_basket(random_model: ItemKNN) -> None:
    assert len(random_model.recommend_basket([], n=5)) == 0
    assert len(random_model.recommend_basket(["unknown"], n=5)) == 0


def test_item_knn_basket_single_str_rejected(random_model: ItemKNN) -> None:
    with pytest.raises(
        DataValidationError,
        match=r"items must be a list of ids, a mapping of id to weight, or a sparse row; got str 'i03'",
    ):
        random_model.recommend_basket("i03")


def test_item_knn_because_top_contributors(random_model: ItemKNN) -> None:
    similarity = random_model.similarity_.toarray().astype(np.float64)
    basket = {"i03": 2.0, "i17": 0.5, "i08": 1.0, "i21": 1.5, "i11": 0.25}
    positions = {random_model.item_ids_.index_of(item): weight for item, weight in basket.items()}

    result = random_model.recommend_basket(basket, n=10)

    assert len(result) > 0
    for item in result:
        target = random_model.item_ids_.index_of(item.item_id)
        shares = [(-weight * similarity[i, target], i) for i, weight in positions.items()]
        expected = [i for share, i in sorted(shares) if share < 0][:3]
        assert item.because == tuple(random_model.item_ids_.ids_of(expected)), f"item {item.item_id!r}"


def test_item_knn_explain_sums_to_score(random_model: ItemKNN) -> None:
    for user in range(0, len(random_model.user_ids_), 5):
        user_id = random_model.user_ids_.id_of(user)
        for item in random_model.recommend(user_id, n=5):
            frame = random_model.explain(item.item_id, user_id=user_id)

            assert frame["contribution"].sum() == pytest.approx(item.score, rel=1e-9)
            assert (frame["contribution"] > 0).all()
            assert frame["contribution"].is_monotonic_decreasing
            assert tuple(frame["history_item_id"][:3]) == item.because


def test_item_knn_explain_basket(random_model: ItemKNN) -> None:
    basket = {"i03": 2.0, "i17": 0.5}
    best = random_model.recommend_basket(basket, n=1)[0]

    frame = random_model.explain(best.item_id, basket=basket)

    assert list(frame.columns) == ["history_item_id", "weight", "contribution"]
    assert frame["contribution"].sum() == pytest.approx(best.score, rel=1e-9)
    assert set(frame["weight"]) <= {2.0, 0.5}


def test_item_knn_explain_arguments(random_model: ItemKNN) -> None:
    with pytest.raises(DataValidationError, match=r"explain needs exactly one of user_id or basket"):
        random_model.explain("i03")
    with pytest.raises(DataValidationError, match=r"explain needs exactly one of user_id or basket"):
        random_model.explain("i03", user_id="u1", basket=["i04"])
    with pytest.raises(UnknownUserError, match=r"unknown user_id 'nobody'"):
        random_model.explain("i03", user_id="nobody")


# --------------------------------------------------------------------------- seen items by event type


@pytest.fixture
def viewer() -> ItemKNN:
    """User u purchased p and only viewed v, and user w purchased both."""
    events = pd.DataFrame(
        {
            "user_id": ["u", "u", "w", "w"],
            "item_id": ["p", "v", "p", "v"],
            "event": ["purchase", "view", "purchase", "purchase"],
        }
    )
    return ItemKNN().fit(events)


def test_item_knn_exclude_seen_default(viewer: ItemKNN) -> None:
    assert viewer.recommend("u").item_ids == []


def test_item_knn_exclude_seen_purchase_only(viewer: ItemKNN) -> None:
    result = viewer.recommend("u", exclude_seen=["purchase"])

    assert result.item_ids == ["v"]


def test_item_knn_exclude_seen_view_only(viewer: ItemKNN) -> None:
    result = viewer.recommend("u", exclude_seen=["view"])

    assert result.item_ids == ["p"]


def test_item_knn_exclude_seen_false(viewer: ItemKNN) -> None:
    result = viewer.recommend("u", exclude_seen=False)

    assert sorted(result.item_ids) == ["p", "v"]


def test_item_knn_exclude_seen_empty_list(viewer: ItemKNN) -> None:
    assert sorted(viewer.recommend("u", exclude_seen=[]).item_ids) == ["p", "v"]


def test_item_knn_exclude_seen_str_rejected(viewer: ItemKNN) -> None:
    with pytest.raises(
        DataValidationError, match=r"exclude_seen must be True, False or a list of event types"
    ):
        viewer.recommend("u", exclude_seen="purchase")


# --------------------------------------------------------------------------- state


def test_item_knn_basket_leaves_model_unchanged(random_model: ItemKNN) -> None:
    arrays = {
        "similarity_data": random_model.similarity_.data.copy(),
        "similarity_indices": random_model.similarity_.indices.copy(),
        "similarity_indptr": random_model.similarity_.indptr.copy(),
        "user_items_data": random_model.user_items_.data.copy(),
        "popularity": random_model.popularity_.copy(),
        "seen_events": random_model.seen_events_.copy(),
    }
    n_users = len(random_model.user_ids_)
    version = random_model.version_

    random_model.recommend_basket({"i03": 2.0, "i05": 1.0, "new item": 1.0}, n=10, backfill=True)
    random_model.explain("i04", basket={"i03": 3.0})

    assert np.array_equal(random_model.similarity_.data, arrays["similarity_data"])
    assert np.array_equal(random_model.similarity_.indices, arrays["similarity_indices"])
    assert np.array_equal(random_model.similarity_.indptr, arrays["similarity_indptr"])
    assert np.array_equal(random_model.user_items_.data, arrays["user_items_data"])
    assert np.array_equal(random_model.popularity_, arrays["popularity"])
    assert np.array_equal(random_model.seen_events_, arrays["seen_events"])
    assert len(random_model.user_ids_) == n_users
    assert random_model.item_ids_.index_of("new item") == -1
    assert content_version(random_model) == version


def test_item_knn_fit_on_interactions(purchases: Purchases) -> None:
    events = purchases({"a": ["x", "y"], "b": ["x", "y", "z"]})
    interactions = Interactions.from_events(events, event_weights={"purchase": 2.0})

    from_interactions = ItemKNN().fit(interactions)
    from_events = ItemKNN(event_weights={"purchase": 2.0}).fit(events)

    assert from_interactions.recommend("a").item_ids == ["z"]
    assert from_interactions.recommend("a").scores == from_events.recommend("a").scores
    assert from_interactions.data_params_["event_weights"] == {"purchase": 2.0}


def test_item_knn_interactions_param_mismatch(purchases: Purchases) -> None:
    interactions = Interactions.from_events(purchases({"a": ["x", "y"]}))

    with pytest.raises(
        DataValidationError, match=r"half_life_days=7 on ItemKNN differs from the Interactions"
    ):
        ItemKNN(half_life_days=7).fit(interactions)


def test_item_knn_bad_similarity_on_fit(purchases: Purchases) -> None:
    with pytest.raises(DataValidationError, match=r"similarity must be one of"):
        ItemKNN(similarity="pearson").fit(purchases({"a": ["x", "y"]}))


def test_item_knn_item_metadata(purchases: Purchases) -> None:
    metadata = pd.DataFrame({"item_id": ["y"], "description": ["blue mug"], "price": [2.5]})
    interactions = Interactions.from_events(purchases({"a": ["x", "y"]}), item_metadata=metadata)

    model = ItemKNN().fit(interactions)

    assert model.get_item_metadata(["y", "x", "unknown"]) == [
        {"description": "blue mug", "price": 2.5},
        {},
        {},
    ]


def test_item_knn_repr_and_params() -> None:
    model = ItemKNN(similarity="llr", n_neighbors=30)

    assert repr(model) == "ItemKNN(similarity='llr', n_neighbors=30)"
    assert model.get_params()["min_support"] == 1


def test_similar_items_score_then_id_order(purchases: Purchases) -> None:
    # x1 shares two buyers with x3 and one each with x2 and x4, so x3 leads and the
    # tie between x2 and x4 goes to the smaller id.
    model = ItemKNN(similarity="cooccurrence").fit(
        purchases({"a": ["x1", "x3"], "b": ["x1", "x3"], "c": ["x1", "x2"], "d": ["x1", "x4"]})
    )

    result = model.similar_items("x1", 3)

    assert result.item_ids == ["x3", "x2", "x4"]
    assert result.scores == [50.0, 25.0, 25.0]


@pytest.mark.parametrize("items", [22423, None, 1.5])
def test_basket_not_a_list_rejected(shop: ItemKNN, items: object) -> None:
    with pytest.raises(DataValidationError, match=r"items must be a list of ids"):
        shop.recommend_basket(items)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- weighting and shrinkage


def random_interactions(seed: int, n_users: int = 50, n_items: int = 20) -> Interactions:
    """Build purchases with random float weights (seeded), so that ties are unlikely."""
    generator = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        for item in generator.choice(n_items, size=int(generator.integers(1, 9)), replace=False):
            rows.append((f"u{user:02d}", f"i{item:02d}", "purchase", float(generator.uniform(0.5, 4.0))))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "weight"])
    return Interactions.from_events(events)


def assert_same_csr(actual: sp.csr_array, expected: sp.csr_array) -> None:
    assert actual.shape == expected.shape
    assert np.array_equal(actual.indptr, expected.indptr)
    assert np.array_equal(actual.indices, expected.indices)
    assert np.array_equal(actual.data, expected.data)


def top_per_row(scores: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Keep each row's n_neighbors largest scores > 0 (float32 order, ties to the smaller column)."""
    pruned = np.zeros_like(scores)
    for i, row in enumerate(scores):
        rounded = row.astype(np.float32)
        candidates = [j for j in range(len(row)) if j != i and rounded[j] > 0]
        candidates.sort(key=lambda j: (-rounded[j], j))
        for j in candidates[:n_neighbors]:
            pruned[i, j] = row[j]
    return pruned


@pytest.mark.parametrize("weighting", ["bm25", "tfidf", "iuf"])
@pytest.mark.parametrize("similarity", ["cosine", "cooccurrence"])
def test_item_knn_weighting_feeds_similarity(weighting: str, similarity: str) -> None:
    interactions = random_interactions(1)

    model = ItemKNN(similarity=similarity, n_neighbors=6, weighting=weighting).fit(interactions)

    weighted = weight_user_items(interactions.user_items, weighting)
    expected = item_similarity(weighted, similarity=similarity, n_neighbors=6)
    assert_same_csr(model.similarity_, expected)
    assert not np.array_equal(
        model.similarity_.data, item_similarity(interactions.user_items, similarity=similarity).data
    )


def test_item_knn_weighting_keeps_raw_histories() -> None:
    interactions = random_interactions(2)
    model = ItemKNN(weighting="bm25").fit(interactions)
    user = 3
    row = interactions.user_items[[user]]
    weights = dict(zip(row.indices.tolist(), row.data.astype(np.float64).tolist(), strict=True))

    result = model.recommend(model.user_ids_.id_of(user), n=5)

    assert np.array_equal(model.user_items_.data, interactions.user_items.data)
    expected = dense_ranking(model, weights, set(weights))[:5]
    assert result.item_ids == model.item_ids_.ids_of([j for j, _ in expected])
    np.testing.assert_allclose(result.scores, [score for _, score in expected], rtol=1e-6)


@pytest.mark.parametrize("similarity", ["jaccard", "lift", "conditional", "llr"])
def test_item_knn_weighting_count_measure_rejected(similarity: str) -> None:
    with pytest.raises(
        DataValidationError,
        match=rf"weighting='tfidf' has no effect with similarity='{similarity}', which counts users",
    ):
        ItemKNN(similarity=similarity, weighting="tfidf").fit(random_interactions(1))


@pytest.mark.parametrize("weighting", ["okapi", "", None, 1])
def test_item_knn_weighting_invalid(weighting: object) -> None:
    with pytest.raises(DataValidationError, match=rf"weighting must be one of .*; got {weighting!r}"):
        ItemKNN(weighting=weighting).fit(random_interactions(1))  # type: ignore[arg-type]


@pytest.mark.parametrize("shrinkage", [-1.0, math.nan, math.inf, True, "10", None])
def test_item_knn_shrinkage_invalid(shrinkage: object) -> None:
    with pytest.raises(DataValidationError, match=r"shrinkage must be a finite number >= 0; got "):
        ItemKNN(shrinkage=shrinkage).fit(random_interactions(1))  # type: ignore[arg-type]


def test_item_knn_shrinkage_zero_unchanged() -> None:
    interactions = random_interactions(3)

    plain = ItemKNN(n_neighbors=5).fit(interactions)
    zero = ItemKNN(n_neighbors=5, shrinkage=0).fit(interactions)

    assert_same_csr(zero.similarity_, plain.similarity_)


@pytest.mark.parametrize("similarity", ["cosine", "jaccard", "llr"])
@pytest.mark.parametrize("shrinkage", [0.5, 3.0, 25.0])
def test_item_knn_shrinkage_matches_dense(similarity: str, shrinkage: float) -> None:
    # 2 * n_neighbors >= n_items - 1, so every pair is a candidate and the result
    # is the dense shrunk similarity pruned to n_neighbors.
    interactions = random_interactions(4, n_items=12)
    n_neighbors = 6
    present = (interactions.user_items.toarray() > 0).astype(np.float64)
    shared = present.T @ present

    model = ItemKNN(similarity=similarity, n_neighbors=n_neighbors, shrinkage=shrinkage).fit(interactions)

    unpruned = item_similarity(interactions.user_items, similarity=similarity, n_neighbors=12)
    dense = unpruned.toarray().astype(np.float64)
    shrunk = dense * shared / (shared + shrinkage)
    expected = top_per_row(shrunk, n_neighbors)
    actual = model.similarity_.toarray()
    assert np.array_equal(actual != 0, expected != 0)
    np.testing.assert_allclose(actual, expected, rtol=1e-6)


def test_item_knn_shrinkage_candidate_pool() -> None:
    interactions = random_interactions(5, n_users=80, n_items=30)
    present = (interactions.user_items.toarray() > 0).astype(np.float64)
    shared = present.T @ present

    model = ItemKNN(n_neighbors=3, shrinkage=4.0).fit(interactions)

    candidates = item_similarity(interactions.user_items, n_neighbors=6).toarray().astype(np.float64)
    expected = top_per_row(candidates * shared / (shared + 4.0), 3)
    np.testing.assert_allclose(model.similarity_.toarray(), expected, rtol=1e-6)
    assert np.array_equal(model.similarity_.toarray() != 0, expected != 0)


def test_item_knn_shrinkage_prefers_support(purchases: Purchases) -> None:
    # cos(x, y) = 1/sqrt(3) from one shared buyer; cos(x, z) = 2/sqrt(15) from two.
    events = purchases(
        {"a": ["x", "y"], "b": ["x", "z"], "c": ["x", "z"], "d": ["z"], "e": ["z"], "f": ["z"]}
    )

    plain = ItemKNN().fit(events)
    shrunk = ItemKNN(shrinkage=1.0).fit(events)

    assert plain.similar_items("x").item_ids == ["y", "z"]
    assert shrunk.similar_items("x").item_ids == ["z", "y"]
    assert shrunk.similar_items("x").scores == pytest.approx(
        [2 / math.sqrt(15) * 2 / 3, 1 / math.sqrt(3) / 2], rel=1e-6
    )


def test_item_knn_shrinkage_counts_sampled_users() -> None:
    interactions = random_interactions(6)

    model = ItemKNN(n_neighbors=4, shrinkage=2.0, max_items_per_user=3, random_state=7).fit(interactions)

    capped = cap_user_items(interactions.user_items, 3, random_state=7)
    present = (capped.toarray() > 0).astype(np.float64)
    shared = present.T @ present
    candidates = item_similarity(capped, n_neighbors=8).toarray().astype(np.float64)
    expected = top_per_row(candidates * shared / (shared + 2.0), 4)
    np.testing.assert_allclose(model.similarity_.toarray(), expected, rtol=1e-6)


def test_item_knn_weighting_params_saved(tmp_path: Path) -> None:
    model = ItemKNN(weighting="iuf", shrinkage=5, n_neighbors=4).fit(random_interactions(7))

    model.save(tmp_path / "model")
    loaded = ItemKNN.load(tmp_path / "model")

    assert loaded.get_params()["weighting"] == "iuf"
    assert loaded.get_params()["shrinkage"] == 5
    assert repr(loaded) == "ItemKNN(n_neighbors=4, weighting='iuf', shrinkage=5)"
    assert_same_csr(loaded.similarity_, model.similarity_)
    assert loaded.version_ == model.version_
