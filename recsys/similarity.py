"""Item-item similarity from ``user_items``, pruned to the top ``n_neighbors`` per item.

Notation, for items ``i`` and ``j`` of a users x items matrix ``X`` with weights
``x_ui >= 0``:

- ``c_ij = sum_u x_ui * x_uj``: weighted co-occurrence;
- ``n_ij``: number of users with both items (binary co-occurrence, the *support*);
- ``n_i``: number of users with item ``i``; ``N``: number of users with any item.

=================  ==============================================================
``cooccurrence``   ``c_ij``
``cosine``         ``c_ij / (||x_i|| * ||x_j||)``
``jaccard``        ``n_ij / (n_i + n_j - n_ij)``
``lift``           ``n_ij * N / (n_i * n_j)``
``conditional``    ``n_ij / n_i``, the probability of ``j`` given ``i`` (asymmetric)
``llr``            Dunning's log-likelihood ratio of the 2 x 2 table
                   ``[[n_ij, n_i - n_ij], [n_j - n_ij, N - n_i - n_j + n_ij]]``,
                   kept only when ``j`` is over-represented among users of ``i``
                   (``n_ij * N > n_i * n_j``), so that avoidance is not taken for
                   affinity
=================  ==============================================================

The weighted measures use the event weights; the count-based ones only use
presence. Every measure keeps a pair only when ``n_ij >= min_support`` and its
score is > 0; an item is never its own neighbour.

References
----------
T. Dunning, "Accurate methods for the statistics of surprise and coincidence",
Computational Linguistics 19(1), 1993.
B. Sarwar, G. Karypis, J. Konstan, J. Riedl, "Item-based collaborative filtering
recommendation algorithms", WWW 2001.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy

from recsys.exceptions import DataValidationError

__all__ = ["SIMILARITIES", "item_similarity"]

logger = logging.getLogger(__name__)

SIMILARITIES = ("cooccurrence", "cosine", "jaccard", "lift", "conditional", "llr")
_WEIGHTED = ("cooccurrence", "cosine")

# Upper bound on the cells of one dense block of the co-occurrence matrix. Each block
# needs a few float64 arrays of this size, about 200 MB in all at 8M cells.
_BLOCK_CELLS = 8_000_000


def item_similarity(
    user_items: sp.csr_array | sp.csr_matrix,
    *,
    similarity: str = "cosine",
    n_neighbors: int = 50,
    min_support: int = 1,
    show_progress: bool = False,
) -> sp.csr_array:
    """Compute the item-item similarity and keep the top ``n_neighbors`` of each item.

    The co-occurrence matrix is computed one block of items at a time, so peak memory
    is bounded by the block size, not by the square of the catalogue.

    Parameters
    ----------
    user_items : csr_array, users x items
        Non-negative weights; explicit zeros are ignored.
    similarity : str, default "cosine"
        One of :data:`SIMILARITIES` (see the module notes for the formulas).
    n_neighbors : int, default 50
        Neighbours kept per item, >= 1.
    min_support : int, default 1
        Minimum number of users who have both items for the pair to be kept.
    show_progress : bool, default False
        Show a progress bar over the item blocks.

    Returns
    -------
    csr_array, items x items, float32
        Row ``i`` contains the neighbours of item ``i`` (at most ``n_neighbors``; when
        more tie for the last place, the smaller columns are kept). The matrix is in
        canonical form, columns sorted within each row. Every stored score is finite
        and > 0.

    Raises
    ------
    DataValidationError
        For an unknown ``similarity``, ``n_neighbors < 1``, ``min_support < 1`` or a
        negative or non-finite weight.
    """
    _check_parameters(similarity, n_neighbors, min_support)
    weighted = _prepare(user_items)
    binary = weighted.copy()
    binary.data[:] = 1.0

    started = time.perf_counter()
    stats = _ItemStats.of(weighted, binary)
    n_items = weighted.shape[1]
    needs_weighted = similarity in _WEIGHTED
    source = weighted if needs_weighted else binary
    source_t = source.T.tocsr()
    # The support equals the weighted product's pattern when every pair needs only
    # one user, so the second product is needed only for min_support > 1.
    binary_t = binary.T.tocsr() if needs_weighted and min_support > 1 else None

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for start, stop in _progress(_blocks(n_items), n_items, show_progress):
        block = (source_t[start:stop] @ source).toarray().astype(np.float64)
        scores = _score_block(similarity, block, stats, start, stop)
        # A binary block counts users, so it is the support itself. A weighted block
        # sums weights, which can be below 1 for a pair that users share, so it is never
        # compared with min_support. For min_support 1, its zeros mark the pairs no user shares.
        if binary_t is not None:
            scores[(binary_t[start:stop] @ binary).toarray() < min_support] = 0.0
        elif not needs_weighted:
            scores[block < min_support] = 0.0
        scores[np.arange(stop - start), np.arange(start, stop)] = 0.0
        # Rank at the stored float32 precision, so scores stored as equal are ordered
        # by column rather than by float64 rounding noise.
        block_rows, block_cols, block_vals = _top_k(scores.astype(np.float32), n_neighbors)
        rows.append(block_rows + start)
        cols.append(block_cols)
        vals.append(block_vals)

    result = _assemble(rows, cols, vals, n_items)
    logger.info(
        "computed %s similarity of %s items (%s neighbour pairs) in %.2f s",
        similarity,
        f"{n_items:,}",
        f"{result.nnz:,}",
        time.perf_counter() - started,
    )
    return result


def _check_parameters(similarity: str, n_neighbors: int, min_support: int) -> None:
    if similarity not in SIMILARITIES:
        raise DataValidationError(f"similarity must be one of {list(SIMILARITIES)}; got {similarity!r}")
    for name, value in (("n_neighbors", n_neighbors), ("min_support", min_support)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise DataValidationError(f"{name} must be an int >= 1; got {value!r}")


def _prepare(user_items: sp.csr_array | sp.csr_matrix) -> sp.csr_array:
    """Return a canonical float32 CSR copy without explicit zeros."""
    if not sp.issparse(user_items):
        raise DataValidationError(
            f"user_items must be a scipy sparse matrix (users x items); got {type(user_items).__name__}"
        )
    matrix = sp.csr_array(user_items).astype(np.float32, copy=True)
    if matrix.nnz and (not np.isfinite(matrix.data).all() or matrix.data.min() < 0):
        raise DataValidationError("user_items must hold finite weights >= 0")
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


class _ItemStats:
    """Per-item quantities the measures need."""

    def __init__(self, norms: np.ndarray, counts: np.ndarray, n_users: int) -> None:
        self.norms = norms
        self.counts = counts
        self.n_users = n_users

    @classmethod
    def of(cls, weighted: sp.csr_array, binary: sp.csr_array) -> _ItemStats:
        squares = weighted.multiply(weighted).sum(axis=0)
        counts = np.asarray(binary.sum(axis=0), dtype=np.float64).ravel()
        n_users = int(np.count_nonzero(np.diff(weighted.indptr)))
        return cls(np.sqrt(np.asarray(squares, dtype=np.float64).ravel()), counts, n_users)


def _score_block(similarity: str, block: np.ndarray, stats: _ItemStats, start: int, stop: int) -> np.ndarray:
    """Turn one block of co-occurrence rows (items start..stop) into scores."""
    if similarity == "cooccurrence":
        return block
    with np.errstate(divide="ignore", invalid="ignore"):
        if similarity == "cosine":
            scores = block / np.outer(stats.norms[start:stop], stats.norms)
        else:
            row_counts = stats.counts[start:stop, None]
            col_counts = stats.counts[None, :]
            if similarity == "jaccard":
                scores = block / (row_counts + col_counts - block)
            elif similarity == "lift":
                scores = block * stats.n_users / (row_counts * col_counts)
            elif similarity == "conditional":
                scores = block / row_counts
            else:
                scores = _llr(block, row_counts, col_counts, stats.n_users)
    # Items without users give 0/0, so those pairs have no evidence.
    scores[~np.isfinite(scores)] = 0.0
    return scores


def _llr(k11: np.ndarray, n_i: np.ndarray, n_j: np.ndarray, n: int) -> np.ndarray:
    """Dunning's G^2 = 2 * sum k * log(k * N / (row * col)), zero unless k11 is above chance."""
    k12 = n_i - k11
    k21 = n_j - k11
    k22 = n - n_i - n_j + k11
    row_other = n - n_i
    col_other = n - n_j
    g2 = (
        xlogy(k11, k11 * n / (n_i * n_j))
        + xlogy(k12, k12 * n / (n_i * col_other))
        + xlogy(k21, k21 * n / (row_other * n_j))
        + xlogy(k22, k22 * n / (row_other * col_other))
    )
    g2 *= 2.0
    g2[k11 * n <= n_i * n_j] = 0.0
    np.maximum(g2, 0.0, out=g2)  # rounding can leave tiny negatives
    return g2


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep each row's ``k`` largest positive scores; ties go to the smaller column.

    Returns (rows, columns, values) sorted by row, then descending value, then column.
    """
    n_cols = scores.shape[1]
    keep = scores > 0
    if k < n_cols:
        # The k-th largest value per row, by a linear-time partition instead of a sort.
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
        above = scores > kth
        tied = scores == kth
        room = k - above.sum(axis=1, keepdims=True)
        keep &= above | (tied & (np.cumsum(tied, axis=1) <= room))
    rows, cols = np.nonzero(keep)
    values = scores[rows, cols]
    order = np.lexsort((cols, -values, rows))
    return rows[order], cols[order], values[order]


def _assemble(
    rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray], n_items: int
) -> sp.csr_array:
    """Build a canonical CSR matrix (columns sorted within each row) from the kept pairs."""
    all_rows = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    indices = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
    data = np.concatenate(vals).astype(np.float32) if vals else np.empty(0, dtype=np.float32)
    order = np.lexsort((indices, all_rows))
    index_dtype = np.int32 if max(n_items, len(indices)) < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n_items + 1, dtype=index_dtype)
    np.cumsum(np.bincount(all_rows, minlength=n_items), out=indptr[1:])
    result: sp.csr_array = sp.csr_array(
        (data[order], indices[order].astype(index_dtype), indptr), shape=(n_items, n_items)
    )
    result.has_sorted_indices = True
    return result


def _blocks(n_items: int) -> Iterator[tuple[int, int]]:
    size = max(1, min(n_items, _BLOCK_CELLS // max(n_items, 1)))
    for start in range(0, n_items, size):
        yield start, min(start + size, n_items)


def _progress(
    blocks: Iterator[tuple[int, int]], n_items: int, show_progress: bool
) -> Iterator[tuple[int, int]]:
    if not show_progress:
        yield from blocks
        return
    from tqdm.auto import tqdm

    with tqdm(total=n_items, desc="similarity", unit="item") as bar:
        for start, stop in blocks:
            yield start, stop
            bar.update(stop - start)
