"""Tests of RP3Beta against a dense random-walk computation written independently here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import recsys.models.rp3beta
from recsys import DataValidationError, Interactions, ItemKNN, RP3Beta
from recsys.models.rp3beta import rp3beta_similarity

# --------------------------------------------------------------------------- oracle


def random_matrix(seed: int, n_users: int = 25, n_items: int = 14, density: float = 0.3) -> np.ndarray:
    """Return a dense users x items matrix of float weights; every item has a user."""
    generator = np.random.default_rng(seed)
    weights = generator.uniform(0.5, 5.0, size=(n_users, n_items))
    present = generator.random((n_users, n_items)) < density
    present[generator.integers(0, n_users, size=n_items), np.arange(n_items)] = True
    return np.where(present, weights, 0.0)


def oracle_walk(matrix: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Return W_ij = sum_u P(u|i)^alpha P(j|u)^alpha / pop_j^beta, diagonal included."""
    n_users, n_items = matrix.shape
    item_totals = matrix.sum(axis=0)
    user_totals = matrix.sum(axis=1)
    popularity = (matrix > 0).sum(axis=0)
    walk = np.zeros((n_items, n_items))
    for i in range(n_items):
        for j in range(n_items):
            total = 0.0
            for u in range(n_users):
                if matrix[u, i] > 0 and matrix[u, j] > 0:
                    total += (matrix[u, i] / item_totals[i]) ** alpha * (
                        matrix[u, j] / user_totals[u]
                    ) ** alpha
            walk[i, j] = total / popularity[j] ** beta
    return walk


def oracle_top(walk: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Keep each row's n_neighbors largest off-diagonal weights (float32 order, ties to the smaller column)."""
    pruned = np.zeros_like(walk)
    for i, row in enumerate(walk):
        rounded = row.astype(np.float32)
        candidates = sorted(
            (j for j in range(len(row)) if j != i and rounded[j] > 0), key=lambda j: (-rounded[j], j)
        )
        for j in candidates[:n_neighbors]:
            pruned[i, j] = row[j]
    return pruned


# --------------------------------------------------------------------------- weights


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 0.5), (1.0, 0.0), (0.5, 0.8), (1.7, 0.3)])
@pytest.mark.parametrize("n_neighbors", [3, 13])
def test_rp3beta_matches_oracle(seed: int, alpha: float, beta: float, n_neighbors: int) -> None:
    matrix = random_matrix(seed)

    result = rp3beta_similarity(sp.csr_array(matrix), alpha=alpha, beta=beta, n_neighbors=n_neighbors)

    expected = oracle_top(oracle_walk(matrix, alpha, beta), n_neighbors)
    assert result.dtype == np.float32
    assert result.has_canonical_format
    assert np.array_equal(result.toarray() != 0, expected != 0)
    np.testing.assert_allclose(result.toarray(), expected, rtol=1e-6)


def test_rp3beta_walk_probabilities_sum_to_one() -> None:
    # With alpha 1 and beta 0, row i of the full W is the distribution of the
    # item reached from i in two steps, so the pruned weights plus W_ii sum to 1.
    matrix = random_matrix(2)
    n_items = matrix.shape[1]

    result = rp3beta_similarity(sp.csr_array(matrix), alpha=1.0, beta=0.0, n_neighbors=n_items)

    self_weights = np.diag(oracle_walk(matrix, 1.0, 0.0))
    np.testing.assert_allclose(result.toarray().sum(axis=1) + self_weights, 1.0, rtol=1e-6)


def test_rp3beta_blocks_equal_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    matrix = sp.csr_array(random_matrix(3, n_items=14))
    whole = rp3beta_similarity(matrix, n_neighbors=4)

    # Two rows per block, seven blocks.
    monkeypatch.setattr(recsys.models.rp3beta, "_BLOCK_CELLS", 2 * 14)
    blocked = rp3beta_similarity(matrix, n_neighbors=4)

    assert np.array_equal(blocked.indptr, whole.indptr)
    assert np.array_equal(blocked.indices, whole.indices)
    assert np.array_equal(blocked.data, whole.data)


def test_rp3beta_ties_go_to_smaller_column() -> None:
    # Item 0 reaches 1, 2 and 3 with the same probability and popularity.
    matrix = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]])

    result = rp3beta_similarity(sp.csr_array(matrix), n_neighbors=2)

    assert result[[0]].indices.tolist() == [1, 2]


def test_rp3beta_popularity_discount() -> None:
    # From x, one user leads to a popular item p and one to a rare item r.
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "c", "d", "e"],
            "item_id": ["x", "p", "x", "r", "p", "p", "p"],
            "event": "purchase",
        }
    )

    plain = RP3Beta(beta=0.0).fit(events)
    discounted = RP3Beta(beta=0.5).fit(events)

    assert plain.similar_items("x").scores == pytest.approx([0.25, 0.25])
    assert discounted.similar_items("x").item_ids == ["r", "p"]
    assert discounted.similar_items("x").scores == pytest.approx([0.25, 0.25 / 2])


# --------------------------------------------------------------------------- model


def test_rp3beta_defaults() -> None:
    params = RP3Beta().get_params()

    assert params["alpha"] == 1.0
    assert params["beta"] == 0.5
    assert params["n_neighbors"] == 100
    assert "similarity" not in params


def test_rp3beta_model_scores_like_item_knn() -> None:
    matrix = random_matrix(4)
    users, items = np.nonzero(matrix)
    events = pd.DataFrame(
        {
            "user_id": users,
            "item_id": items,
            "event": "purchase",
            "weight": matrix[users, items],
        }
    )
    interactions = Interactions.from_events(events, event_weights={"purchase": 1.0})

    model = RP3Beta(alpha=0.9, beta=0.4, n_neighbors=5).fit(interactions)

    expected = rp3beta_similarity(interactions.user_items, alpha=0.9, beta=0.4, n_neighbors=5)
    assert isinstance(model, ItemKNN)
    assert np.array_equal(model.similarity_.toarray(), expected.toarray())
    basket = {3: 2.0, 7: 0.5}
    scores = sum(weight * expected.toarray()[item].astype(np.float64) for item, weight in basket.items())
    result = model.recommend_basket(basket, n=3)
    best = [j for j in np.argsort(-scores, kind="stable") if j not in basket][:3]
    assert result.item_ids == best
    np.testing.assert_allclose(result.scores, scores[best], rtol=1e-9)


def test_rp3beta_batch_matches_recommend(tmp_path: Path) -> None:
    matrix = random_matrix(5)
    users, items = np.nonzero(matrix)
    events = pd.DataFrame({"user_id": users, "item_id": items, "event": "purchase"})
    model = RP3Beta(n_neighbors=5).fit(events)

    path = model.write_recommendations(tmp_path / "out.parquet", n=4)

    frame = pd.read_parquet(path)
    for user_id, rows in frame.groupby("user_id"):
        expected = model.recommend(int(user_id), n=4)
        assert rows["item_id"].tolist() == expected.item_ids
        assert rows["score"].tolist() == expected.scores


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"alpha": 0.0}, r"alpha must be a finite number > 0; got 0.0"),
        ({"alpha": math.nan}, r"alpha must be a finite number > 0; got nan"),
        ({"alpha": "1"}, r"alpha must be a finite number > 0; got '1'"),
        ({"beta": -0.1}, r"beta must be a finite number >= 0; got -0.1"),
        ({"beta": math.inf}, r"beta must be a finite number >= 0; got inf"),
        ({"n_neighbors": 0}, r"n_neighbors must be an int >= 1; got 0"),
        ({"n_neighbors": 2.5}, r"n_neighbors must be an int >= 1; got 2.5"),
    ],
)
def test_rp3beta_invalid_parameters(params: dict[str, object], message: str) -> None:
    events = pd.DataFrame({"user_id": ["a", "a"], "item_id": ["x", "y"], "event": "purchase"})

    with pytest.raises(DataValidationError, match=message):
        RP3Beta(**params).fit(events)  # type: ignore[arg-type]


def test_rp3beta_rejects_bad_matrix() -> None:
    with pytest.raises(DataValidationError, match=r"user_items must hold finite weights >= 0"):
        rp3beta_similarity(sp.csr_array(np.array([[1.0, -1.0]])))
    with pytest.raises(DataValidationError, match=r"user_items must be a scipy sparse matrix"):
        rp3beta_similarity(np.ones((2, 2)))
