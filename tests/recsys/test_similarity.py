"""Tests of recsys.similarity against a dense NumPy oracle written independently here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import recsys.similarity
from recsys import SIMILARITIES, DataValidationError, item_similarity

RTOL = 1e-5

# --------------------------------------------------------------------------- oracle


def dense_counts(matrix: np.ndarray) -> dict[str, np.ndarray | int]:
    """Return the co-occurrence quantities of a dense users x items matrix."""
    weighted = matrix.astype(np.float64)
    present = (weighted > 0).astype(np.float64)
    return {
        "c": weighted.T @ weighted,
        "n_ij": present.T @ present,
        "n_i": present.sum(axis=0),
        "norm": np.sqrt((weighted**2).sum(axis=0)),
        "n_users": int((present.sum(axis=1) > 0).sum()),
    }


def dunning_g2(k11: float, n_i: float, n_j: float, n_users: int) -> float:
    """Return Dunning's G^2 of the 2 x 2 table of items i and j, 0 unless k11 is above chance."""
    if k11 * n_users <= n_i * n_j:
        return 0.0
    table = np.array([[k11, n_i - k11], [n_j - k11, n_users - n_i - n_j + k11]])
    rows = table.sum(axis=1)
    cols = table.sum(axis=0)
    g2 = 0.0
    for r in range(2):
        for c in range(2):
            if table[r, c] > 0:
                expected = rows[r] * cols[c] / n_users
                g2 += table[r, c] * math.log(table[r, c] / expected)
    return 2.0 * g2


def oracle_scores(matrix: np.ndarray, similarity: str, min_support: int = 1) -> np.ndarray:
    """Return the unpruned items x items scores: no diagonal, pairs below min_support set to 0."""
    counts = dense_counts(matrix)
    c, n_ij, n_i, norm, n_users = (counts[key] for key in ("c", "n_ij", "n_i", "norm", "n_users"))
    n_items = matrix.shape[1]
    scores = np.zeros((n_items, n_items))
    for i in range(n_items):
        for j in range(n_items):
            if i == j or n_ij[i, j] < min_support or n_ij[i, j] == 0:
                continue
            if similarity == "cooccurrence":
                scores[i, j] = c[i, j]
            elif similarity == "cosine":
                scores[i, j] = c[i, j] / (norm[i] * norm[j])
            elif similarity == "jaccard":
                scores[i, j] = n_ij[i, j] / (n_i[i] + n_i[j] - n_ij[i, j])
            elif similarity == "lift":
                scores[i, j] = n_ij[i, j] * n_users / (n_i[i] * n_i[j])
            elif similarity == "conditional":
                scores[i, j] = n_ij[i, j] / n_i[i]
            elif similarity == "llr":
                scores[i, j] = dunning_g2(n_ij[i, j], n_i[i], n_i[j], n_users)
            else:
                raise AssertionError(f"the oracle has no formula for {similarity!r}")
    return scores


# --------------------------------------------------------------------------- helpers


def stored_rows(result: sp.csr_array) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return each row's (columns, scores) in stored order."""
    rows = []
    for i in range(result.shape[0]):
        start, stop = result.indptr[i], result.indptr[i + 1]
        rows.append((np.asarray(result.indices[start:stop]), np.asarray(result.data[start:stop])))
    return rows


def assert_same_result(actual: sp.csr_array, expected: sp.csr_array) -> None:
    assert actual.shape == expected.shape
    assert np.array_equal(actual.indptr, expected.indptr)
    assert np.array_equal(actual.indices, expected.indices)
    assert np.array_equal(actual.data, expected.data)


@st.composite
def user_item_matrices(draw: st.DrawFn) -> np.ndarray:
    """Draw a small dense non-negative users x items float32 matrix.

    The weights are small integers, so that equal scores (ties) are common, or
    floats, or floats below 1 such as time decay produces. Some columns are forced
    to zero.
    """
    n_users = draw(st.integers(1, 30))
    n_items = draw(st.integers(1, 15))
    kind = draw(st.sampled_from(["integer", "float", "below_one"]))
    if kind == "integer":
        weights = st.sampled_from([0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 3.0])
    elif kind == "float":
        weights = st.one_of(st.just(0.0), st.just(0.0), st.floats(0.25, 8.0, width=32))
    else:
        weights = st.one_of(st.just(0.0), st.just(0.0), st.floats(0.0625, 1.0, width=32))
    matrix = draw(arrays(np.float32, (n_users, n_items), elements=weights))
    empty_columns = draw(st.lists(st.integers(0, n_items - 1), max_size=3))
    matrix[:, empty_columns] = 0.0
    return matrix


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("similarity", SIMILARITIES)
@settings(max_examples=100, deadline=None)
@given(
    matrix=user_item_matrices(),
    n_neighbors=st.integers(1, 16),
    min_support=st.integers(1, 4),
)
def test_item_similarity_matches_oracle(
    similarity: str, matrix: np.ndarray, n_neighbors: int, min_support: int
) -> None:
    result = item_similarity(
        sp.csr_array(matrix), similarity=similarity, n_neighbors=n_neighbors, min_support=min_support
    )
    oracle = oracle_scores(matrix, similarity, min_support)
    support = dense_counts(matrix)["n_ij"]
    n_items = matrix.shape[1]
    integer_weights = bool(np.all(matrix == np.round(matrix)))

    assert result.shape == (n_items, n_items)
    assert result.dtype == np.float32

    for i, (columns, scores) in enumerate(stored_rows(result)):
        # Stored scores against the oracle.
        assert np.all(columns != i), f"row {i} stores its own item"
        assert np.all(np.isfinite(scores)), f"row {i} has a non-finite score"
        assert np.all(scores > 0), f"row {i} stores a score <= 0"
        assert len(columns) <= n_neighbors, f"row {i} keeps {len(columns)} > {n_neighbors} neighbours"
        assert len(set(columns.tolist())) == len(columns), f"row {i} stores a column twice"
        assert np.all(support[i, columns] >= min_support), f"row {i} keeps a pair below min_support"
        np.testing.assert_allclose(scores, oracle[i, columns], rtol=RTOL, err_msg=f"row {i}")

        # Canonical CSR: columns ascending within the row.
        assert np.all(np.diff(columns) > 0), f"row {i} is not sorted by column"

        # The kept set is a top-k of the oracle.
        candidates = np.flatnonzero(oracle[i] > 0)
        omitted = np.setdiff1d(candidates, columns)
        if len(columns) < n_neighbors:
            assert len(omitted) == 0, f"row {i} omits {omitted.tolist()} although it has room"
            continue
        smallest = oracle[i, columns].min()
        for j in omitted:
            assert oracle[i, j] <= smallest * (1 + RTOL), (
                f"row {i} omits column {j} scoring {oracle[i, j]} above the kept minimum {smallest}"
            )
        # At the boundary, a tie goes to the smaller column. Ties are compared at the
        # stored float32 precision, and only for integer weights: float weights make
        # the float32 co-occurrence sums differ from the exact ones in the last bit.
        if not integer_weights:
            continue
        boundary = np.float32(smallest)
        tied_kept = columns[oracle[i, columns].astype(np.float32) == boundary]
        tied_omitted = omitted[oracle[i, omitted].astype(np.float32) == boundary]
        if len(tied_kept) and len(tied_omitted):
            assert tied_omitted.min() > tied_kept.max(), (
                f"row {i} keeps column {tied_kept.max()} over the tied smaller column {tied_omitted.min()}"
            )


@pytest.mark.parametrize("similarity", SIMILARITIES)
@settings(max_examples=30, deadline=None)
@given(matrix=user_item_matrices(), n_neighbors=st.integers(1, 16), min_support=st.integers(1, 3))
def test_item_similarity_blocks_match_one_block(
    similarity: str, matrix: np.ndarray, n_neighbors: int, min_support: int
) -> None:
    user_items = sp.csr_array(matrix)
    options = {"similarity": similarity, "n_neighbors": n_neighbors, "min_support": min_support}
    one_block = item_similarity(user_items, **options)

    with pytest.MonkeyPatch.context() as patch:
        # Two items per kernel call, so a catalogue of 3 or more items takes several calls.
        patch.setattr(recsys.similarity, "_ITEMS_PER_CALL", 2)
        several_blocks = item_similarity(user_items, **options)

    assert_same_result(several_blocks, one_block)


def test_item_similarity_block_path_used(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    matrix = (rng.random((40, 12)) < 0.3).astype(np.float32) * rng.integers(1, 4, (40, 12))
    one_block = item_similarity(sp.csr_array(matrix), similarity="llr", n_neighbors=5)
    monkeypatch.setattr(recsys.similarity, "_ITEMS_PER_CALL", 1)

    calls = list(recsys.similarity._item_ranges(12))
    several_calls = item_similarity(sp.csr_array(matrix), similarity="llr", n_neighbors=5)

    assert len(calls) == 12
    assert_same_result(several_calls, one_block)


# --------------------------------------------------------------------------- hand-computed cases


@pytest.fixture
def checkerboard() -> sp.csr_array:
    """Four users and four items: users 0 and 2 have items 0 and 2, users 1 and 3 have items 1 and 3.

    Item pairs (0, 2) and (1, 3) co-occur for two users each. No other pair co-occurs.
    """
    matrix = np.array(
        [
            [1, 0, 1, 0],
            [0, 1, 0, 1],
            [1, 0, 1, 0],
            [0, 1, 0, 1],
        ],
        dtype=np.float32,
    )
    return sp.csr_array(matrix)


@pytest.mark.parametrize(
    ("similarity", "expected"),
    [
        ("cooccurrence", 2.0),
        ("cosine", 1.0),
        ("jaccard", 1.0),
        ("lift", 2.0),  # 2 * 4 / (2 * 2)
        ("conditional", 1.0),
        ("llr", 8 * math.log(2)),  # 2 * (2 ln(2*4/(2*2)) + 2 ln(2*4/(2*2)))
    ],
)
def test_item_similarity_checkerboard(checkerboard: sp.csr_array, similarity: str, expected: float) -> None:
    result = item_similarity(checkerboard, similarity=similarity)

    assert result.nnz == 4
    for i, j in [(0, 2), (2, 0), (1, 3), (3, 1)]:
        assert result[i, j] == pytest.approx(expected, rel=1e-6)
    for i, j in [(0, 1), (0, 3), (1, 2), (2, 3)]:
        assert result[i, j] == 0.0


def test_item_similarity_checkerboard_min_support(checkerboard: sp.csr_array) -> None:
    assert item_similarity(checkerboard, min_support=2).nnz == 4
    assert item_similarity(checkerboard, min_support=3).nnz == 0


@pytest.fixture
def shop() -> sp.csr_array:
    """User a has x1 and x2, b has x1, x2 and x3, c has x2 and x3, d has x4 (binary weights)."""
    matrix = np.array(
        [
            [1, 1, 0, 0],
            [1, 1, 1, 0],
            [0, 1, 1, 0],
            [0, 0, 0, 1],
        ],
        dtype=np.float32,
    )
    return sp.csr_array(matrix)


def test_item_similarity_cosine_by_hand(shop: sp.csr_array) -> None:
    result = item_similarity(shop, similarity="cosine").toarray()
    expected = np.array(
        [
            [0, 2 / math.sqrt(6), 1 / 2, 0],
            [2 / math.sqrt(6), 0, 2 / math.sqrt(6), 0],
            [1 / 2, 2 / math.sqrt(6), 0, 0],
            [0, 0, 0, 0],
        ]
    )

    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_item_similarity_conditional_asymmetric(shop: sp.csr_array) -> None:
    result = item_similarity(shop, similarity="conditional")

    assert result[0, 1] == pytest.approx(1.0)  # every user of x1 has x2
    assert result[1, 0] == pytest.approx(2 / 3)  # two of the three users of x2 have x1


def test_item_similarity_lift_by_hand(shop: sp.csr_array) -> None:
    result = item_similarity(shop, similarity="lift")

    assert result[0, 1] == pytest.approx(2 * 4 / (2 * 3))
    assert result[0, 2] == pytest.approx(1 * 4 / (2 * 2))


def test_item_similarity_llr_drops_avoidance() -> None:
    # Items 0 and 1 co-occur for one user out of four, below the 2 * 3 / 4 expected by chance.
    matrix = np.array([[1, 1], [1, 0], [0, 1], [0, 1]], dtype=np.float32)

    result = item_similarity(sp.csr_array(matrix), similarity="llr")

    assert result.nnz == 0


def test_item_similarity_ties_to_smaller_column() -> None:
    # Item 0 co-occurs once with each of items 1, 2 and 3.
    matrix = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1]], dtype=np.float32)

    result = item_similarity(sp.csr_array(matrix), similarity="cooccurrence", n_neighbors=2)
    columns, scores = stored_rows(result)[0]

    assert columns.tolist() == [1, 2]
    assert scores.tolist() == [1.0, 1.0]


def test_item_similarity_canonical_rows() -> None:
    # Item 0 co-occurs with item 3 three times, with item 1 twice and with item 2 once.
    matrix = np.array([[1, 1, 0, 1], [1, 1, 0, 1], [1, 0, 1, 1]], dtype=np.float32)

    result = item_similarity(sp.csr_array(matrix), similarity="cooccurrence")
    columns, scores = stored_rows(result)[0]

    assert columns.tolist() == [1, 2, 3]
    assert scores.tolist() == [2.0, 1.0, 3.0]
    assert result.has_canonical_format


def test_item_similarity_top_k_keeps_best() -> None:
    # Same data with n_neighbors=2: item 2 (one co-buyer) is the one dropped.
    matrix = np.array([[1, 1, 0, 1], [1, 1, 0, 1], [1, 0, 1, 1]], dtype=np.float32)

    result = item_similarity(sp.csr_array(matrix), similarity="cooccurrence", n_neighbors=2)

    assert stored_rows(result)[0][0].tolist() == [1, 3]


@pytest.mark.parametrize("similarity", ["cooccurrence", "cosine"])
def test_item_similarity_weights_below_one(similarity: str) -> None:
    # Two users with both items at weight 0.5, as time decay can leave them: the
    # weighted co-occurrence is 0.5, but the support is 2 users.
    matrix = sp.csr_array(np.full((2, 2), 0.5, dtype=np.float32))

    result = item_similarity(matrix, similarity=similarity)

    expected = 0.5 if similarity == "cooccurrence" else 1.0
    assert result[0, 1] == pytest.approx(expected)
    assert result[1, 0] == pytest.approx(expected)
    assert item_similarity(matrix, similarity=similarity, min_support=2).nnz == 2
    assert item_similarity(matrix, similarity=similarity, min_support=3).nnz == 0


def test_item_similarity_float32_ties_by_column() -> None:
    # With one user every cosine is 1. In float64 the two scores of item 2 differ in
    # the last bits, but they are stored as the same float32.
    matrix = sp.csr_array(np.array([[1.1, 1.0, 1.1]], dtype=np.float32))

    result = item_similarity(matrix, similarity="cosine")
    columns, scores = stored_rows(result)[2]

    assert scores[0] == scores[1]
    assert columns.tolist() == [0, 1]


def test_item_similarity_weighted_cooccurrence() -> None:
    matrix = np.array([[2, 3], [1, 4]], dtype=np.float32)

    result = item_similarity(sp.csr_array(matrix), similarity="cooccurrence")

    assert result[0, 1] == pytest.approx(2 * 3 + 1 * 4)


def test_item_similarity_ignores_explicit_zeros() -> None:
    dense = np.array([[1, 1, 0], [1, 0, 1]], dtype=np.float32)
    with_zeros = sp.csr_array(
        (np.array([1, 1, 0, 1, 0, 1], dtype=np.float32), np.array([0, 1, 2, 0, 1, 2]), np.array([0, 3, 6])),
        shape=(2, 3),
    )

    for similarity in SIMILARITIES:
        expected = item_similarity(sp.csr_array(dense), similarity=similarity)
        actual = item_similarity(with_zeros, similarity=similarity, min_support=1)
        assert_same_result(actual, expected)


def test_item_similarity_empty_matrix() -> None:
    result = item_similarity(sp.csr_array((3, 4), dtype=np.float32))

    assert result.shape == (4, 4)
    assert result.nnz == 0


def test_item_similarity_accepts_csr_matrix(shop: sp.csr_array) -> None:
    expected = item_similarity(shop)

    actual = item_similarity(sp.csr_matrix(shop))

    assert_same_result(actual, expected)


def test_item_similarity_input_unchanged(shop: sp.csr_array) -> None:
    before = shop.copy()

    item_similarity(shop, similarity="llr")

    assert np.array_equal(shop.toarray(), before.toarray())


# --------------------------------------------------------------------------- errors


def test_item_similarity_unknown_measure(shop: sp.csr_array) -> None:
    with pytest.raises(DataValidationError, match=r"similarity must be one of \[.*'llr'\]; got 'pearson'"):
        item_similarity(shop, similarity="pearson")


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "5"])
def test_item_similarity_bad_n_neighbors(shop: sp.csr_array, value: object) -> None:
    with pytest.raises(DataValidationError, match=rf"n_neighbors must be an int >= 1; got {value!r}"):
        item_similarity(shop, n_neighbors=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -3])
def test_item_similarity_bad_min_support(shop: sp.csr_array, value: int) -> None:
    with pytest.raises(DataValidationError, match=rf"min_support must be an int >= 1; got {value}"):
        item_similarity(shop, min_support=value)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_item_similarity_bad_weights(bad: float) -> None:
    matrix = sp.csr_array(np.array([[1.0, bad], [1.0, 1.0]], dtype=np.float32))

    with pytest.raises(DataValidationError, match=r"user_items must hold finite weights >= 0"):
        item_similarity(matrix)


def test_item_similarity_dense_input_rejected() -> None:
    with pytest.raises(DataValidationError, match=r"user_items must be a scipy sparse matrix.*got ndarray"):
        item_similarity(np.ones((2, 2)))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- equal weights, caps, partitions


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_item_similarity_equal_weights_oracle(similarity: str, rng: np.random.Generator) -> None:
    # All weights 5, as plain purchase data gets: the kernel counts instead of multiplying.
    matrix = (rng.random((40, 12)) < 0.35).astype(np.float32) * 5.0
    result = item_similarity(sp.csr_array(matrix), similarity=similarity, n_neighbors=12)
    oracle = oracle_scores(matrix, similarity)

    rows, columns = result.nonzero()
    np.testing.assert_allclose(result.data, oracle[rows, columns], rtol=RTOL)
    assert result.nnz == np.count_nonzero(oracle)


def test_cap_user_items_bounds_rows(rng: np.random.Generator) -> None:
    matrix = sp.csr_array((rng.random((30, 50)) < 0.5).astype(np.float32))

    capped = recsys.similarity.cap_user_items(matrix, 10, random_state=3)

    assert np.diff(capped.indptr).max() == 10
    assert np.array_equal(np.diff(capped.indptr), np.minimum(np.diff(matrix.indptr), 10))
    # Every kept entry is an entry of the original.
    assert (capped.multiply(matrix) != capped).nnz == 0


def test_cap_user_items_is_reproducible(rng: np.random.Generator) -> None:
    matrix = sp.csr_array((rng.random((30, 50)) < 0.5).astype(np.float32))

    first = recsys.similarity.cap_user_items(matrix, 10, random_state=3)
    second = recsys.similarity.cap_user_items(matrix, 10, random_state=3)
    other = recsys.similarity.cap_user_items(matrix, 10, random_state=4)

    assert_same_result(first, second)
    assert not np.array_equal(first.indices, other.indices)


def test_cap_user_items_leaves_light_users(rng: np.random.Generator) -> None:
    matrix = sp.csr_array((rng.random((30, 8)) < 0.5).astype(np.float32))

    assert recsys.similarity.cap_user_items(matrix, 8) is matrix


def test_cap_user_items_rejects_zero() -> None:
    with pytest.raises(DataValidationError, match=r"max_items_per_user must be an int >= 1 or None; got 0"):
        recsys.similarity.cap_user_items(sp.csr_array(np.ones((2, 2), dtype=np.float32)), 0)


def test_item_similarity_cap_drops_heavy_user() -> None:
    # The heavy user links x0 with everything; capped to 2 items, most of those links go.
    matrix = np.zeros((4, 6), dtype=np.float32)
    matrix[0, :] = 1.0
    matrix[1, [1, 2]] = 1.0
    matrix[2, [1, 2]] = 1.0
    matrix[3, [4, 5]] = 1.0
    full = item_similarity(sp.csr_array(matrix), similarity="cooccurrence")
    capped = item_similarity(sp.csr_array(matrix), similarity="cooccurrence", max_items_per_user=2)

    assert full[[0]].nnz == 5
    assert capped[[0]].nnz <= 1
    assert capped[1, 2] == 2.0


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("min_support", [1, 2])
def test_similarity_from_cooccurrence_equals_fit(
    similarity: str, min_support: int, rng: np.random.Generator
) -> None:
    # Sum the co-occurrence over three partitions of users, as a cluster would.
    matrix = (rng.random((60, 15)) < 0.3).astype(np.float32) * rng.integers(1, 4, (60, 15)).astype(np.float32)
    user_items = sp.csr_array(matrix)
    parts = [user_items[start : start + 20] for start in (0, 20, 40)]
    binary_parts = [part.astype(bool).astype(np.float32) for part in parts]
    weighted_source = parts if similarity in ("cooccurrence", "cosine") else binary_parts
    weighted = sum(part.T @ part for part in weighted_source)
    support = sum(part.T @ part for part in binary_parts)
    stats = sum(
        (recsys.similarity.ItemStats.of(part) for part in parts[1:]), recsys.similarity.ItemStats.of(parts[0])
    )

    result = recsys.similarity.similarity_from_cooccurrence(
        weighted, support, stats, similarity=similarity, n_neighbors=6, min_support=min_support
    )
    expected = item_similarity(user_items, similarity=similarity, n_neighbors=6, min_support=min_support)

    assert np.array_equal(result.indptr, expected.indptr)
    assert np.array_equal(result.indices, expected.indices)
    np.testing.assert_allclose(result.data, expected.data, rtol=RTOL)


def test_item_stats_add_partitions(rng: np.random.Generator) -> None:
    matrix = sp.csr_array((rng.random((20, 7)) < 0.4).astype(np.float32) * 2.0)
    whole = recsys.similarity.ItemStats.of(matrix)

    summed = recsys.similarity.ItemStats.of(matrix[:8]) + recsys.similarity.ItemStats.of(matrix[8:])

    np.testing.assert_allclose(summed.squared_norms, whole.squared_norms)
    np.testing.assert_array_equal(summed.counts, whole.counts)
    assert summed.n_users == whole.n_users
