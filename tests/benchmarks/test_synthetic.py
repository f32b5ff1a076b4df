"""Tests of the synthetic purchase-data generator of the benchmarks, on tiny sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import recsys
from benchmarks import synthetic
from benchmarks.synthetic import SIZES, activity_distribution, generate_user_items, to_events

N_USERS, N_ITEMS, N_INTERACTIONS = 5_000, 1_000, 50_000


@pytest.fixture(scope="module")
def matrix() -> sp.csr_array:
    return generate_user_items(N_USERS, N_ITEMS, N_INTERACTIONS, seed=7)


def keys_of(matrix: sp.csr_array) -> np.ndarray:
    coo = matrix.tocoo()
    return coo.row.astype(np.int64) * matrix.shape[1] + coo.col


def top_share(counts: np.ndarray, fraction: float) -> float:
    """Return the share of the total held by the largest ``fraction`` of the counts."""
    ordered = np.sort(counts)[::-1]
    return float(ordered[: max(1, int(fraction * len(ordered)))].sum() / ordered.sum())


def test_same_seed_same_matrix(matrix: sp.csr_array) -> None:
    again = generate_user_items(N_USERS, N_ITEMS, N_INTERACTIONS, seed=7)
    assert np.array_equal(again.indptr, matrix.indptr)
    assert np.array_equal(again.indices, matrix.indices)
    assert np.array_equal(again.data, matrix.data)


def test_other_seed_other_matrix(matrix: sp.csr_array) -> None:
    other = generate_user_items(N_USERS, N_ITEMS, N_INTERACTIONS, seed=8)
    assert not np.array_equal(keys_of(other), keys_of(matrix))


def test_shape_dtype_and_approximate_nnz(matrix: sp.csr_array) -> None:
    assert isinstance(matrix, sp.csr_array)
    assert matrix.shape == (N_USERS, N_ITEMS)
    assert matrix.dtype == np.float32
    assert matrix.indices.dtype == np.int32
    assert np.all(matrix.data == 1.0)
    assert abs(matrix.nnz - N_INTERACTIONS) < 0.1 * N_INTERACTIONS


def test_no_duplicate_pairs(matrix: sp.csr_array) -> None:
    assert len(np.unique(keys_of(matrix))) == matrix.nnz


def test_columns_increase_within_each_row(matrix: sp.csr_array) -> None:
    steps = np.diff(matrix.indices.astype(np.int64))
    # Drop the steps from the last column of a row to the first of the next.
    crosses_row = np.zeros(steps.size, dtype=bool)
    crosses_row[matrix.indptr[1:-1] - 1] = True
    assert np.all(steps[~crosses_row] > 0)


def test_every_user_has_one_to_catalogue_items(matrix: sp.csr_array) -> None:
    counts = np.diff(matrix.indptr)
    assert counts.min() >= 1
    assert counts.max() <= N_ITEMS


def test_popularity_is_skewed(matrix: sp.csr_array) -> None:
    item_counts = np.bincount(matrix.indices, minlength=N_ITEMS)
    assert top_share(item_counts, 0.01) > 0.05
    assert top_share(item_counts, 0.10) > 0.30


def test_activity_is_skewed(matrix: sp.csr_array) -> None:
    user_counts = np.diff(matrix.indptr)
    assert top_share(user_counts, 0.01) > 0.05
    assert user_counts.max() > 10 * np.median(user_counts)


def test_popular_items_are_not_the_first_columns(matrix: sp.csr_array) -> None:
    item_counts = np.bincount(matrix.indices, minlength=N_ITEMS)
    top_items = np.argsort(-item_counts)[:10]
    assert not np.array_equal(np.sort(top_items), np.arange(10))


def test_users_can_reach_the_catalogue_cap() -> None:
    # A mean of 10 of 12 items forces many users onto the Gumbel-top-k path and to the cap.
    small = generate_user_items(2_000, 12, 12_000, seed=3)
    counts = np.diff(small.indptr)
    assert counts.max() == 12
    assert len(np.unique(keys_of(small))) == small.nnz


@pytest.mark.parametrize("heavy_fraction", [0.5, 0.02], ids=["redraw-rounds", "gumbel-top-k"])
def test_draws_follow_successive_sampling(monkeypatch: pytest.MonkeyPatch, heavy_fraction: float) -> None:
    # With 6 items the heavy limit is 3 items at fraction 0.5 and 1 item at 0.02, so
    # users of 2 items take the redraw path in the first case, Gumbel-top-k in the second.
    monkeypatch.setattr(synthetic, "_HEAVY_FRACTION", heavy_fraction)
    n_items = 6
    matrix = generate_user_items(200_000, n_items, 400_000, seed=11, popularity_exponent=1.0)
    counts = np.diff(matrix.indptr)
    # A user with one item has a single weighted draw, so those users estimate the weights.
    single = np.bincount(matrix[np.flatnonzero(counts == 1)].indices, minlength=n_items)
    weights = single / single.sum()
    # Inclusion probability of item i in two draws without replacement.
    expected = weights + np.array(
        [
            sum(weights[j] * weights[i] / (1 - weights[j]) for j in range(n_items) if j != i)
            for i in range(n_items)
        ]
    )
    pairs = matrix[np.flatnonzero(counts == 2)]
    observed = np.bincount(pairs.indices, minlength=n_items) / pairs.shape[0]
    np.testing.assert_allclose(observed, expected, atol=0.01)


def test_activity_distribution_has_the_requested_mean() -> None:
    shift, pmf = activity_distribution(10_000, 20.0, 3.0)
    assert shift > -1
    assert pmf.sum() == pytest.approx(1.0)
    assert np.arange(1, 10_001) @ pmf == pytest.approx(20.0, rel=1e-6)
    assert np.all(np.diff(pmf) <= 0)


@pytest.mark.parametrize("mean", [0.5, 5_000.5, 6_000.0])
def test_activity_distribution_rejects_unreachable_means(mean: float) -> None:
    with pytest.raises(ValueError, match="mean number of items per user"):
        activity_distribution(10_000, mean, 3.0)


@pytest.mark.parametrize(
    ("shape", "exponents", "message"),
    [
        ((0, 50, 500), {}, "n_users"),
        ((100, 0, 500), {}, "n_items"),
        ((100, 50, 10), {}, "mean number of items per user"),
        ((100, 50, 500), {"activity_exponent": 1.0}, "activity_exponent"),
        ((100, 50, 500), {"popularity_exponent": -0.1}, "popularity_exponent"),
    ],
)
def test_invalid_arguments_raise(
    shape: tuple[int, int, int], exponents: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_user_items(*shape, **exponents)


def test_named_sizes() -> None:
    assert [(s.n_users, s.n_items, s.n_interactions) for s in SIZES.values()] == [
        (50_000, 10_000, 1_000_000),
        (500_000, 50_000, 10_000_000),
        (2_000_000, 200_000, 50_000_000),
    ]


def test_events_round_trip_through_interactions() -> None:
    tiny = generate_user_items(300, 40, 3_000, seed=5)
    events = to_events(tiny)
    assert list(events.columns) == ["user_id", "item_id", "event"]
    assert len(events) == tiny.nnz
    assert not events.duplicated(["user_id", "item_id"]).any()

    # Every user and item of this matrix has an event, so the positions match.
    interactions = recsys.Interactions.from_events(events, event_weights={"purchase": 1.0})
    assert interactions.shape == tiny.shape
    assert (interactions.user_items != tiny).nnz == 0


def test_events_reject_large_matrices() -> None:
    tiny = generate_user_items(300, 40, 3_000, seed=5)
    with pytest.raises(ValueError, match="max_rows"):
        to_events(tiny, max_rows=100)
    assert isinstance(to_events(tiny, max_rows=tiny.nnz), pd.DataFrame)
