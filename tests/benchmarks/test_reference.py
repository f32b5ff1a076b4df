"""Tests of the SciPy reference neighbours and of the neighbour-list comparison."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import recsys
from benchmarks.reference import compare_neighbors, cosine_columns, exact_cosine, reference_neighbors

K = 5


@pytest.fixture(scope="module")
def weighted() -> sp.csr_array:
    """Users x items with random weights, so that no two scores tie."""
    rng = np.random.default_rng(3)
    dense = (rng.random((400, 30)) < 0.2) * rng.random((400, 30))
    return sp.csr_array(dense.astype(np.float32))


@pytest.fixture(scope="module")
def binary() -> sp.csr_array:
    """Users x items of ones, where many scores tie at the last place."""
    rng = np.random.default_rng(4)
    return sp.csr_array((rng.random((60, 40)) < 0.1).astype(np.float32))


def dense_cosine(matrix: sp.csr_array) -> np.ndarray:
    dense = matrix.toarray().astype(np.float64)
    norms = np.linalg.norm(dense, axis=0)
    norms[norms == 0] = 1.0
    scores = (dense / norms).T @ (dense / norms)
    np.fill_diagonal(scores, 0.0)
    return scores


def item_users_of(matrix: sp.csr_array) -> sp.csr_array:
    return cosine_columns(matrix).T.tocsr()


def test_reference_is_the_dense_top_k(weighted: sp.csr_array) -> None:
    scores = dense_cosine(weighted)
    reference = reference_neighbors(weighted, K).toarray()
    for item in range(scores.shape[0]):
        expected = np.argsort(-scores[item])[:K]
        expected = expected[scores[item, expected] > 0]
        assert set(np.flatnonzero(reference[item])) == set(expected)
        np.testing.assert_allclose(reference[item, expected], scores[item, expected], rtol=1e-12)


def test_reference_never_lists_the_item_itself(weighted: sp.csr_array) -> None:
    assert reference_neighbors(weighted, K).diagonal().max() == 0


def test_exact_cosine_matches_dense(weighted: sp.csr_array) -> None:
    scores = dense_cosine(weighted)
    rows = np.array([0, 3, 7, 29])
    cols = np.array([1, 3, 20, 0])
    expected = scores[rows, cols]
    expected[rows == cols] = 1.0  # dense_cosine zeroes the diagonal
    np.testing.assert_allclose(exact_cosine(item_users_of(weighted), rows, cols), expected, rtol=1e-12)


def test_reference_equals_itself(binary: sp.csr_array) -> None:
    reference = reference_neighbors(binary, K)
    comparison = compare_neighbors(reference, reference, item_users_of(binary), K)
    assert comparison.equal
    assert comparison.neighbor_overlap == 1.0
    assert not comparison.includes_self


@pytest.mark.parametrize("name", ["weighted", "binary"])
def test_recsys_cosine_equals_reference(request: pytest.FixtureRequest, name: str) -> None:
    matrix = request.getfixturevalue(name)
    neighbors = recsys.item_similarity(matrix, similarity="cosine", n_neighbors=K)
    comparison = compare_neighbors(neighbors, reference_neighbors(matrix, K), item_users_of(matrix), K)
    assert comparison.equal, comparison


def test_tie_swap_at_last_place_is_accepted(binary: sp.csr_array) -> None:
    scores = dense_cosine(binary)
    reference = reference_neighbors(binary, K)
    kept_scores = reference.toarray()
    # Find a row whose last kept score ties with an omitted column, and swap them.
    for item in range(scores.shape[0]):
        row = kept_scores[item]
        if np.count_nonzero(row) < K:
            continue
        last = np.flatnonzero(row)[np.argmin(row[row > 0])]
        omitted = np.flatnonzero((row == 0) & np.isclose(scores[item], row[last]) & (scores[item] > 0))
        omitted = omitted[omitted != item]
        if omitted.size:
            break
    else:
        pytest.fail("the fixture has no tie at the last place")
    swapped = kept_scores.copy()
    swapped[item, omitted[0]] = swapped[item, last]
    swapped[item, last] = 0.0
    comparison = compare_neighbors(sp.csr_array(swapped), reference, item_users_of(binary), K)
    assert comparison.equal
    assert comparison.neighbor_overlap < 1.0


def test_wrong_neighbor_is_rejected(weighted: sp.csr_array) -> None:
    scores = dense_cosine(weighted)
    reference = reference_neighbors(weighted, K)
    kept_scores = reference.toarray()
    row = kept_scores[0]
    last = np.flatnonzero(row)[np.argmin(row[row > 0])]
    # The best omitted column scores below the last kept one (no ties in this fixture).
    candidates = np.where((row == 0) & (np.arange(row.size) != 0), scores[0], -1.0)
    worse = int(np.argmax(candidates))
    wrong = kept_scores.copy()
    wrong[0, worse] = scores[0, worse]
    wrong[0, last] = 0.0
    comparison = compare_neighbors(sp.csr_array(wrong), reference, item_users_of(weighted), K)
    assert not comparison.equal
    assert comparison.rows_differing == 1


def test_wrong_score_is_rejected(weighted: sp.csr_array) -> None:
    reference = reference_neighbors(weighted, K)
    perturbed = reference.copy()
    perturbed.data[0] *= 1.001
    comparison = compare_neighbors(perturbed, reference, item_users_of(weighted), K)
    assert comparison.rows_differing == 1


def test_missing_neighbor_is_rejected(weighted: sp.csr_array) -> None:
    reference = reference_neighbors(weighted, K)
    shorter = reference.toarray()
    shorter[2, np.flatnonzero(shorter[2])[0]] = 0.0
    comparison = compare_neighbors(sp.csr_array(shorter), reference, item_users_of(weighted), K)
    assert comparison.rows_differing == 1


def test_self_listed_neighbors_compare_one_fewer(weighted: sp.csr_array) -> None:
    # implicit lists each item among its own K neighbours, with score 1.
    top = reference_neighbors(weighted, K - 1).toarray()
    np.fill_diagonal(top, 1.0)
    comparison = compare_neighbors(
        sp.csr_array(top), reference_neighbors(weighted, K), item_users_of(weighted), K
    )
    assert comparison.includes_self
    assert comparison.n_neighbors_compared == K - 1
    assert comparison.equal
