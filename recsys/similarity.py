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

How it is computed: a compiled kernel (:mod:`recsys._kernels`) walks, for each
item ``i``, the users of ``i`` and their items, accumulating row ``i`` of the
co-occurrence in a dense per-thread buffer, then keeps the best ``n_neighbors``
with a bounded heap. The cost is the number of pair visits, ``sum_u d_u^2`` for
``d_u`` items of user ``u``; memory is linear in the catalogue. Very active users
(resellers, bots) dominate that sum, so ``max_items_per_user`` can down-sample
them.

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
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys import _kernels
from recsys.exceptions import DataValidationError

__all__ = ["SIMILARITIES", "ItemStats", "cap_user_items", "item_similarity", "similarity_from_cooccurrence"]

logger = logging.getLogger(__name__)

SIMILARITIES = tuple(_kernels.MEASURES)
_WEIGHTED = ("cooccurrence", "cosine")

# Items per kernel call: each call advances the progress bar once.
_ITEMS_PER_CALL = 4096

# A row whose pair visits reach n_items / _DENSE_FRACTION finds its candidates by
# scanning the whole accumulator rather than by listing each first visit.
_DENSE_FRACTION = 2


@dataclass(frozen=True)
class ItemStats:
    """Per-item sums that the measures need, additive over disjoint sets of users.

    Attributes
    ----------
    squared_norms : ndarray of float64
        ``sum_u x_ui^2`` per item.
    counts : ndarray of float64
        ``n_i``, the number of users with item ``i``.
    n_users : int
        ``N``, the number of users with at least one item.
    """

    squared_norms: np.ndarray
    counts: np.ndarray
    n_users: int

    @classmethod
    def of(cls, user_items: sp.csr_array, *, binary: bool = False) -> ItemStats:
        """Compute the statistics of a canonical ``user_items`` matrix.

        With ``binary=True`` every stored weight counts as 1.
        """
        counts: np.ndarray = np.bincount(user_items.indices, minlength=user_items.shape[1]).astype(np.float64)
        squares: np.ndarray
        if binary:
            squares = counts.copy()
        else:
            squares = np.bincount(
                user_items.indices,
                weights=np.square(user_items.data, dtype=np.float64),
                minlength=user_items.shape[1],
            )
        n_users = int(np.count_nonzero(np.diff(user_items.indptr)))
        return cls(squares, counts, n_users)

    def __add__(self, other: ItemStats) -> ItemStats:
        return ItemStats(
            self.squared_norms + other.squared_norms, self.counts + other.counts, self.n_users + other.n_users
        )


def item_similarity(
    user_items: sp.csr_array | sp.csr_matrix,
    *,
    similarity: str = "cosine",
    n_neighbors: int = 50,
    min_support: int = 1,
    max_items_per_user: int | None = None,
    random_state: int = 0,
    show_progress: bool = False,
) -> sp.csr_array:
    """Compute the item-item similarity and keep the top ``n_neighbors`` of each item.

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
    max_items_per_user : int, optional
        Down-sample users with more items to this many, chosen at random with
        ``random_state`` (see :func:`cap_user_items`). None (the default) keeps
        every item of every user.
    random_state : int, default 0
        Seed of that sampling.
    show_progress : bool, default False
        Show a progress bar over the items.

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
        For an unknown ``similarity``, ``n_neighbors < 1``, ``min_support < 1``,
        ``max_items_per_user < 1``, or a negative or non-finite weight.
    """
    _check_parameters(similarity, n_neighbors, min_support)
    matrix = _prepare(user_items)
    if max_items_per_user is not None:
        matrix = cap_user_items(matrix, max_items_per_user, random_state=random_state)

    started = time.perf_counter()
    n_items = matrix.shape[1]
    # With equal weights (plain purchase data) the kernel counts instead of
    # multiplying and never reads the weights: cosine is unchanged by a common
    # factor w, and co-occurrence is the count times w * w.
    equal_weights = bool(matrix.nnz) and matrix.data.min() == matrix.data.max()
    use_weights = similarity in _WEIGHTED and not equal_weights
    scale = float(matrix.data[0]) ** 2 if similarity == "cooccurrence" and equal_weights else 1.0
    stats = ItemStats.of(matrix, binary=not use_weights)
    # Counting shared users separately is needed only when weights are summed and
    # min_support asks for more than the one user every visited pair has.
    count_support = use_weights and min_support > 1
    transposed = matrix.T.tocsr()
    scratch = _kernels.scratch_space(n_items, count_support, use_weights)
    n_blocks = -(-n_items // _kernels._SCAN_BLOCK)
    block_order = np.random.default_rng(0).permutation(n_blocks)
    out_indices, out_values, out_lengths = _output(n_items, n_neighbors)

    for first, last in _progress(_item_ranges(n_items), n_items, show_progress):
        _kernels.knn_from_user_items(
            matrix.indptr,
            matrix.indices,
            matrix.data,
            transposed.indptr,
            transposed.indices,
            transposed.data,
            _kernels.MEASURES[similarity],
            use_weights,
            count_support,
            np.sqrt(stats.squared_norms),
            stats.counts,
            float(stats.n_users),
            float(min_support),
            first,
            last,
            n_items // _DENSE_FRACTION,
            block_order,
            scratch,
            out_indices,
            out_values,
            out_lengths,
        )

    if scale != 1.0:
        out_values *= np.float32(scale)
    result = _to_csr(out_indices, out_values, out_lengths)
    logger.info(
        "computed %s similarity of %s items (%s neighbour pairs) in %.2f s",
        similarity,
        f"{n_items:,}",
        f"{result.nnz:,}",
        time.perf_counter() - started,
    )
    return result


def similarity_from_cooccurrence(
    weighted: sp.csr_array,
    support: sp.csr_array | None,
    stats: ItemStats,
    *,
    similarity: str = "cosine",
    n_neighbors: int = 50,
    min_support: int = 1,
) -> sp.csr_array:
    """Prune a precomputed items x items co-occurrence to the top ``n_neighbors`` per item.

    This is the last step of :func:`item_similarity` for callers that sum the
    co-occurrence themselves, for example over partitions of users on a cluster:
    the result equals ``item_similarity`` on the whole data.

    Parameters
    ----------
    weighted : csr_array, items x items
        ``sum_u x_ui * x_uj`` (for the count-based measures, the data may be binary,
        so this is the user count).
    support : csr_array, items x items, optional
        The number of users per pair, with the same sparsity pattern as
        ``weighted``; None when ``weighted`` already counts users.
    stats : ItemStats
        Statistics of the same data (sum them over partitions).
    similarity, n_neighbors, min_support
        As in :func:`item_similarity`.
    """
    _check_parameters(similarity, n_neighbors, min_support)
    weighted = sp.csr_array(weighted)
    weighted.sum_duplicates()
    if support is None:
        support_data = weighted.data
    else:
        support = sp.csr_array(support)
        support.sum_duplicates()
        if not (
            np.array_equal(support.indptr, weighted.indptr)
            and np.array_equal(support.indices, weighted.indices)
        ):
            raise DataValidationError("support must have the same sparsity pattern as weighted")
        support_data = support.data

    n_items = weighted.shape[0]
    out_indices, out_values, out_lengths = _output(n_items, n_neighbors)
    _kernels.knn_from_cooccurrence(
        weighted.indptr,
        weighted.indices,
        np.asarray(weighted.data, dtype=np.float64),
        np.asarray(support_data, dtype=np.float64),
        _kernels.MEASURES[similarity],
        np.sqrt(stats.squared_norms),
        stats.counts,
        float(stats.n_users),
        float(min_support),
        out_indices,
        out_values,
        out_lengths,
    )
    return _to_csr(out_indices, out_values, out_lengths)


def cap_user_items(
    user_items: sp.csr_array, max_items_per_user: int, *, random_state: int = 0
) -> sp.csr_array:
    """Keep at most ``max_items_per_user`` items per user, sampled without replacement.

    A user with ``d`` items costs ``d^2`` pair visits, so a few resellers or bots
    with thousands of items can dominate the fit time. Sampling them down, as
    Apache Mahout's item similarity job does with its per-user cap, bounds that cost
    and removes most of their weight from the similarities. Users at or under the
    cap are unchanged; the sample is reproducible for a given ``random_state``.
    """
    if (
        isinstance(max_items_per_user, bool)
        or not isinstance(max_items_per_user, (int, np.integer))
        or max_items_per_user < 1
    ):
        raise DataValidationError(
            f"max_items_per_user must be an int >= 1 or None; got {max_items_per_user!r}"
        )
    lengths = np.diff(user_items.indptr)
    if lengths.max(initial=0) <= max_items_per_user:
        return user_items
    rows = np.repeat(np.arange(user_items.shape[0]), lengths)
    keys = np.random.default_rng(random_state).random(user_items.nnz)
    order = np.lexsort((keys, rows))
    rank = np.empty(user_items.nnz, dtype=np.int64)
    rank[order] = np.arange(user_items.nnz) - np.repeat(user_items.indptr[:-1], lengths)
    keep = rank < max_items_per_user
    logger.info(
        "capped %s users to %s items each, keeping %s of %s interactions",
        f"{int((lengths > max_items_per_user).sum()):,}",
        max_items_per_user,
        f"{int(keep.sum()):,}",
        f"{user_items.nnz:,}",
    )
    capped = sp.csr_array(
        (
            user_items.data[keep],
            user_items.indices[keep],
            np.concatenate([[0], np.cumsum(np.minimum(lengths, max_items_per_user))]),
        ),
        shape=user_items.shape,
    )
    capped.has_sorted_indices = True
    return capped


def _check_parameters(similarity: str, n_neighbors: int, min_support: int) -> None:
    if similarity not in SIMILARITIES:
        raise DataValidationError(f"similarity must be one of {list(SIMILARITIES)}; got {similarity!r}")
    for name, value in (("n_neighbors", n_neighbors), ("min_support", min_support)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise DataValidationError(f"{name} must be an int >= 1; got {value!r}")


def _prepare(user_items: sp.csr_array | sp.csr_matrix) -> sp.csr_array:
    """Return ``user_items`` as canonical float32 CSR without explicit zeros, copied only if needed."""
    if not sp.issparse(user_items):
        raise DataValidationError(
            f"user_items must be a scipy sparse matrix (users x items); got {type(user_items).__name__}"
        )
    matrix = sp.csr_array(user_items)
    if matrix.nnz and (not np.isfinite(matrix.data).all() or matrix.data.min() < 0):
        raise DataValidationError("user_items must hold finite weights >= 0")
    if matrix.dtype == np.float32 and matrix.has_canonical_format and (matrix.data != 0).all():
        # Already what the kernel needs, as Interactions builds it; the kernel only
        # reads it, so no copy is made.
        return matrix
    matrix = matrix.astype(np.float32, copy=True)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _output(n_items: int, n_neighbors: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    capacity = max(1, min(n_neighbors, n_items))
    return (
        np.zeros((n_items, capacity), dtype=np.int64),
        np.zeros((n_items, capacity), dtype=np.float32),
        np.zeros(n_items, dtype=np.int64),
    )


def _to_csr(out_indices: np.ndarray, out_values: np.ndarray, out_lengths: np.ndarray) -> sp.csr_array:
    """Gather the kernel's fixed-width rows into a canonical CSR matrix."""
    n_items, capacity = out_indices.shape
    keep = np.arange(capacity)[None, :] < out_lengths[:, None]
    index_dtype = np.int32 if max(n_items, int(out_lengths.sum())) < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n_items + 1, dtype=index_dtype)
    np.cumsum(out_lengths, out=indptr[1:])
    result: sp.csr_array = sp.csr_array(
        (out_values[keep], out_indices[keep].astype(index_dtype), indptr), shape=(n_items, n_items)
    )
    result.has_sorted_indices = True
    return result


def _item_ranges(n_items: int) -> Iterator[tuple[int, int]]:
    for first in range(0, n_items, _ITEMS_PER_CALL):
        yield first, min(first + _ITEMS_PER_CALL, n_items)


def _progress(
    ranges: Iterator[tuple[int, int]], n_items: int, show_progress: bool
) -> Iterator[tuple[int, int]]:
    if not show_progress:
        yield from ranges
        return
    from tqdm.auto import tqdm

    with tqdm(total=n_items, desc="similarity", unit="item") as bar:
        for first, last in ranges:
            yield first, last
            bar.update(last - first)
