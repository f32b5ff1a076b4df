"""Tests of recsys.weighting against dense loops written independently here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys import DataValidationError
from recsys.weighting import WEIGHTINGS, bm25, inverse_user_frequency, tfidf, weight_user_items

# --------------------------------------------------------------------------- oracles


def random_matrix(seed: int, n_users: int = 30, n_items: int = 12, density: float = 0.3) -> np.ndarray:
    """Return a dense users x items matrix of weights in {0, 1, 3, 5} and some floats."""
    generator = np.random.default_rng(seed)
    weights = generator.choice([1.0, 3.0, 5.0, 0.5, 2.25], size=(n_users, n_items))
    present = generator.random((n_users, n_items)) < density
    return np.where(present, weights, 0.0)


def oracle_idf(matrix: np.ndarray, user: int, smooth: bool) -> float:
    n_items = matrix.shape[1]
    n_u = int((matrix[user] > 0).sum())
    value = math.log(n_items) - (math.log(1 + n_u) if smooth else math.log(n_u))
    return max(0.0, value)


def oracle_bm25(matrix: np.ndarray, k1: float, b: float) -> np.ndarray:
    lengths = matrix.sum(axis=0)
    mean_length = lengths.mean()
    result = np.zeros_like(matrix)
    for u in range(matrix.shape[0]):
        for i in range(matrix.shape[1]):
            x = matrix[u, i]
            if x > 0:
                norm = 1 - b + b * lengths[i] / mean_length
                result[u, i] = x * (k1 + 1) / (k1 * norm + x) * oracle_idf(matrix, u, smooth=True)
    return result


def oracle_tfidf(matrix: np.ndarray) -> np.ndarray:
    result = np.zeros_like(matrix)
    for u in range(matrix.shape[0]):
        for i in range(matrix.shape[1]):
            if matrix[u, i] > 0:
                result[u, i] = math.sqrt(matrix[u, i]) * oracle_idf(matrix, u, smooth=True)
    return result


def oracle_iuf(matrix: np.ndarray) -> np.ndarray:
    result = np.zeros_like(matrix)
    for u in range(matrix.shape[0]):
        for i in range(matrix.shape[1]):
            if matrix[u, i] > 0:
                result[u, i] = matrix[u, i] * oracle_idf(matrix, u, smooth=False)
    return result


def assert_same_pattern(result: sp.csr_array, matrix: np.ndarray) -> None:
    expected = sp.csr_array(matrix)
    assert result.dtype == np.float32
    assert result.shape == matrix.shape
    assert np.array_equal(result.indptr, expected.indptr)
    assert np.array_equal(result.indices, expected.indices)


# --------------------------------------------------------------------------- formulas


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (0.0, 0.5), (100.0, 0.8), (2.0, 0.0), (1.0, 1.0)])
def test_bm25_matches_oracle(seed: int, k1: float, b: float) -> None:
    matrix = random_matrix(seed)

    result = bm25(sp.csr_array(matrix), k1=k1, b=b)

    assert_same_pattern(result, matrix)
    np.testing.assert_allclose(result.toarray(), oracle_bm25(matrix, k1, b), rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tfidf_matches_oracle(seed: int) -> None:
    matrix = random_matrix(seed)

    result = tfidf(sp.csr_array(matrix))

    assert_same_pattern(result, matrix)
    np.testing.assert_allclose(result.toarray(), oracle_tfidf(matrix), rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iuf_matches_oracle(seed: int) -> None:
    matrix = random_matrix(seed)

    result = inverse_user_frequency(sp.csr_array(matrix))

    assert_same_pattern(result, matrix)
    np.testing.assert_allclose(result.toarray(), oracle_iuf(matrix), rtol=1e-6)


def test_weighting_active_user_down_weighted() -> None:
    # User 0 has four of the five items, user 1 one: the same weight counts less for user 0.
    matrix = np.array([[1.0, 1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]])

    for weigh in (bm25, tfidf, inverse_user_frequency):
        result = weigh(sp.csr_array(matrix)).toarray()
        assert result[0, 0] < result[1, 0], weigh.__name__


def test_weighting_all_items_user_zero() -> None:
    # The IDF of a user with all N items is log N - log(1 + N) < 0 smoothed, 0
    # unsmoothed; both are clipped to 0 and stay stored.
    matrix = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]])

    for weigh in (bm25, tfidf, inverse_user_frequency):
        result = weigh(sp.csr_array(matrix))
        assert_same_pattern(result, matrix)
        assert result.toarray()[0].tolist() == [0.0, 0.0, 0.0], weigh.__name__
        assert (result.data >= 0).all(), weigh.__name__


def test_weighting_canonical_input() -> None:
    duplicates = sp.coo_array(([1.0, 2.0, 0.0], ([0, 0, 1], [0, 0, 1])), shape=(2, 3))
    summed = np.array([[3.0, 0.0, 0.0], [0.0, 0.0, 0.0]])

    result = inverse_user_frequency(duplicates)

    assert_same_pattern(result, summed)
    assert result.toarray()[0, 0] == pytest.approx(3.0 * math.log(3.0))


def test_weighting_leaves_input_unchanged() -> None:
    matrix = sp.csr_array(random_matrix(4), dtype=np.float32)
    before = matrix.data.copy()

    for weigh in (bm25, tfidf, inverse_user_frequency):
        weigh(matrix)

    assert np.array_equal(matrix.data, before)


def test_weighting_empty_matrix() -> None:
    empty = sp.csr_array((3, 4), dtype=np.float32)

    for weigh in (bm25, tfidf, inverse_user_frequency):
        result = weigh(empty)
        assert result.shape == (3, 4), weigh.__name__
        assert result.nnz == 0, weigh.__name__


# --------------------------------------------------------------------------- implicit


@pytest.mark.parametrize("seed", [0, 1])
def test_bm25_tfidf_match_implicit(seed: int) -> None:
    nearest_neighbours = pytest.importorskip("implicit.nearest_neighbours")
    matrix = random_matrix(seed)
    # implicit weights items x users, items being the documents.
    items_users = sp.csr_matrix(matrix.T)

    expected_bm25 = nearest_neighbours.bm25_weight(items_users, K1=1.2, B=0.75).T.toarray()
    expected_tfidf = nearest_neighbours.tfidf_weight(items_users).T.toarray()

    np.testing.assert_allclose(bm25(sp.csr_array(matrix)).toarray(), expected_bm25, rtol=1e-6)
    np.testing.assert_allclose(tfidf(sp.csr_array(matrix)).toarray(), expected_tfidf, rtol=1e-6)


# --------------------------------------------------------------------------- dispatch and errors


def test_weight_user_items_dispatch() -> None:
    matrix = sp.csr_array(random_matrix(5))

    assert weight_user_items(matrix, "none") is matrix
    assert np.array_equal(weight_user_items(matrix, "bm25").data, bm25(matrix).data)
    assert np.array_equal(weight_user_items(matrix, "tfidf").data, tfidf(matrix).data)
    assert np.array_equal(weight_user_items(matrix, "iuf").data, inverse_user_frequency(matrix).data)
    assert WEIGHTINGS == ("none", "bm25", "tfidf", "iuf")


def test_weight_user_items_unknown_name() -> None:
    with pytest.raises(DataValidationError, match=r"weighting must be one of .*; got 'okapi'"):
        weight_user_items(sp.csr_array(random_matrix(5)), "okapi")


@pytest.mark.parametrize(
    ("k1", "b", "message"),
    [
        (-1.0, 0.75, r"k1 must be a finite number >= 0; got -1.0"),
        (math.inf, 0.75, r"k1 must be a finite number >= 0; got inf"),
        (True, 0.75, r"k1 must be a finite number >= 0; got True"),
        (1.2, 1.5, r"b must be a number between 0 and 1; got 1.5"),
        (1.2, math.nan, r"b must be a number between 0 and 1; got nan"),
        (1.2, "0.7", r"b must be a number between 0 and 1; got '0.7'"),
    ],
)
def test_bm25_invalid_parameters(k1: object, b: object, message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        bm25(sp.csr_array(random_matrix(5)), k1=k1, b=b)  # type: ignore[arg-type]


@pytest.mark.parametrize("weigh", [bm25, tfidf, inverse_user_frequency])
def test_weighting_rejects_bad_input(weigh: object) -> None:
    negative = sp.csr_array(np.array([[1.0, -2.0]]))

    with pytest.raises(DataValidationError, match=r"user_items must hold finite weights >= 0"):
        weigh(negative)  # type: ignore[operator]
    with pytest.raises(DataValidationError, match=r"user_items must be a scipy sparse matrix"):
        weigh(np.ones((2, 2)))  # type: ignore[operator]
