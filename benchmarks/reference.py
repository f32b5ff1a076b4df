"""Plain SciPy cosine neighbours, and the check of other neighbour lists against them.

The reference normalises every item column of ``user_items`` to unit length, so that
``X.T @ X`` is the cosine similarity, and keeps the ``n_neighbors`` largest positive
scores of each row with ``numpy.argpartition``, the item itself excluded. The product
is computed one block of item rows at a time and each block is made dense, so memory
stays bounded for the large synthetic sizes. It works in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Comparison", "compare_neighbors", "cosine_columns", "exact_cosine", "reference_neighbors"]

#: Cells of one dense block of the product. Each block needs two arrays of this many
#: float64 or int64 values, 128 MB in all.
_BLOCK_CELLS = 8_000_000

#: Stored values per chunk when ``exact_cosine`` gathers item rows.
_EXACT_CHUNK_VALUES = 20_000_000


def cosine_columns(user_items: sp.csr_array | sp.csr_matrix) -> sp.csr_array:
    """Return ``user_items`` in float64 with every non-empty column scaled to unit length."""
    matrix = sp.csr_array(user_items).astype(np.float64)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    scaled = sp.csr_array(matrix @ sp.diags_array(1.0 / norms))
    scaled.sort_indices()
    return scaled


def reference_neighbors(user_items: sp.csr_array | sp.csr_matrix, n_neighbors: int) -> sp.csr_array:
    """Compute the cosine similarity and keep the top ``n_neighbors`` of each item.

    Returns an items x items float64 ``csr_array``. Row ``i`` contains at most
    ``n_neighbors`` neighbours of item ``i`` with a score > 0, never ``i`` itself.
    Among equal scores at the last place, ``argpartition`` keeps an arbitrary subset.
    """
    normalized = cosine_columns(user_items)
    item_users = normalized.T.tocsr()
    n_items = normalized.shape[1]
    k = min(n_neighbors, n_items - 1)
    block_rows = max(1, _BLOCK_CELLS // max(n_items, 1))

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for start in range(0, n_items if k > 0 else 0, block_rows):
        stop = min(start + block_rows, n_items)
        block = (item_users[start:stop] @ normalized).toarray()
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        top = np.argpartition(block, n_items - k, axis=1)[:, n_items - k :]
        scores = np.take_along_axis(block, top, axis=1)
        positive = scores > 0
        rows.append(np.nonzero(positive)[0] + start)
        cols.append(top[positive])
        vals.append(scores[positive])

    if not rows:
        return sp.csr_array((n_items, n_items), dtype=np.float64)
    result = sp.coo_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items)
    ).tocsr()
    result.sort_indices()
    return result


def exact_cosine(item_users: sp.csr_array, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Return the cosine of each item pair ``(rows[p], cols[p])``.

    ``item_users`` is the items x users matrix with unit-length rows, the transpose of
    :func:`cosine_columns`.
    """
    result = np.empty(len(rows), dtype=np.float64)
    degrees = np.diff(item_users.indptr).astype(np.int64)
    cost = np.cumsum(degrees[rows] + degrees[cols])
    start = 0
    while start < len(rows):
        # Gather about _EXACT_CHUNK_VALUES stored values at a time, at least one pair.
        limit = (cost[start - 1] if start else 0) + _EXACT_CHUNK_VALUES
        stop = max(start + 1, int(np.searchsorted(cost, limit, side="right")))
        left = item_users[rows[start:stop]]
        right = item_users[cols[start:stop]]
        result[start:stop] = np.asarray(left.multiply(right).sum(axis=1)).ravel()
        start = stop
    return result


@dataclass(frozen=True)
class Comparison:
    """Outcome of comparing one method's neighbour lists with the reference.

    Attributes
    ----------
    equal : bool
        Whether every row matches (``rows_differing == 0``).
    rows_differing : int
        Items whose neighbour list differs beyond ties and ``rtol``.
    neighbor_overlap : float
        Share of the reference's neighbour pairs that the method also kept.
    n_neighbors_compared : int
        Neighbours per item compared: ``n_neighbors``, or one fewer when the method
        lists each item among its own neighbours.
    includes_self : bool
        Whether the method listed items as their own neighbours; those pairs are
        dropped before comparing.
    """

    equal: bool
    rows_differing: int
    neighbor_overlap: float
    n_neighbors_compared: int
    includes_self: bool


def compare_neighbors(
    neighbors: sp.csr_array | sp.csr_matrix,
    reference: sp.csr_array,
    item_users: sp.csr_array,
    n_neighbors: int,
    *,
    rtol: float = 1e-4,
) -> Comparison:
    """Compare each item's neighbours with the reference's top ``n_neighbors``.

    A row matches when the method keeps as many neighbours as the reference, every
    shared neighbour's score equals the reference score within ``rtol``, and each
    difference in the kept set is a tie at the last place. A neighbour that only the
    reference kept must score the reference's ``k``-th score. A neighbour that only
    the method kept must have that same exact cosine, computed from ``item_users``
    by :func:`exact_cosine`, and its stored score must equal it. All these
    comparisons use ``rtol``.

    ``reference`` comes from :func:`reference_neighbors` with at least
    ``n_neighbors`` per row. A method that lists each item as its own neighbour
    (implicit's item-item models do) keeps ``n_neighbors - 1`` others, so it is
    compared with the reference's top ``n_neighbors - 1``.
    """
    n_items = reference.shape[0]
    method = sp.csr_array(neighbors).tocoo()
    rows = method.row.astype(np.int64)
    cols = method.col.astype(np.int64)
    scores = method.data.astype(np.float64)
    is_self = rows == cols
    includes_self = bool(is_self.any())
    keep = ~is_self & (scores > 0)
    rows, cols, scores = rows[keep], cols[keep], scores[keep]
    k = n_neighbors - 1 if includes_self else n_neighbors

    ref_rows, ref_cols, ref_scores, kth_score = _top_of_each_row(reference, k)
    ref_keys = ref_rows * n_items + ref_cols
    bad_row = np.bincount(rows, minlength=n_items) != np.bincount(ref_rows, minlength=n_items)

    # Neighbours both kept: the scores must agree.
    keys = rows * n_items + cols
    positions = np.searchsorted(ref_keys, keys)
    positions[positions == ref_keys.size] = 0
    shared = ref_keys[positions] == keys if ref_keys.size else np.zeros(keys.size, dtype=bool)
    score_ok = _close(scores[shared], ref_scores[positions[shared]], rtol)
    bad_row[rows[shared][~score_ok]] = True

    # Neighbours only the reference kept: allowed when they tie with its k-th score.
    ref_shared = np.zeros(ref_keys.size, dtype=bool)
    ref_shared[positions[shared]] = True
    only_ref = ~ref_shared
    tie_ok = _close(ref_scores[only_ref], kth_score[ref_rows[only_ref]], rtol)
    bad_row[ref_rows[only_ref][~tie_ok]] = True

    # Neighbours only the method kept, in rows still matching: check their true score.
    only_method = ~shared & ~bad_row[rows]
    true_scores = exact_cosine(item_users, rows[only_method], cols[only_method])
    extra_ok = _close(scores[only_method], true_scores, rtol) & _close(
        true_scores, kth_score[rows[only_method]], rtol
    )
    bad_row[rows[only_method][~extra_ok]] = True

    rows_differing = int(bad_row.sum())
    return Comparison(
        equal=rows_differing == 0,
        rows_differing=rows_differing,
        neighbor_overlap=float(shared.sum() / ref_keys.size) if ref_keys.size else 1.0,
        n_neighbors_compared=k,
        includes_self=includes_self,
    )


def _top_of_each_row(matrix: sp.csr_array, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the ``k`` best pairs of each row, sorted by key, and each row's k-th score.

    The pairs come as (rows, cols, scores) sorted by ``row * n + col``. The k-th score
    is the lowest kept score of the row, 0 for a row with nothing kept. Ties at the
    last place are broken by column, which ``compare_neighbors`` tolerates.
    """
    coo = sp.csr_array(matrix).tocoo()
    rows = coo.row.astype(np.int64)
    cols = coo.col.astype(np.int64)
    scores = coo.data.astype(np.float64)
    order = np.lexsort((cols, -scores, rows))
    rows, cols, scores = rows[order], cols[order], scores[order]

    n_rows = matrix.shape[0]
    row_starts = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=row_starts[1:])
    kept_per_row = np.minimum(np.diff(row_starts), k)
    kth_score = np.zeros(n_rows, dtype=np.float64)
    nonempty = kept_per_row > 0
    kth_score[nonempty] = scores[row_starts[:-1][nonempty] + kept_per_row[nonempty] - 1]

    rank = np.arange(rows.size) - row_starts[rows]
    keep = rank < k
    rows, cols, scores = rows[keep], cols[keep], scores[keep]
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], scores[order], kth_score


def _close(values: np.ndarray, expected: np.ndarray, rtol: float) -> np.ndarray:
    return np.abs(values - expected) <= rtol * np.abs(expected)
