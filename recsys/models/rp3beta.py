"""RP3beta: item-item weights from a three-step random walk, discounted by popularity."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any, cast

import numba
import numpy as np
import scipy.sparse as sp

from recsys.data import Interactions
from recsys.exceptions import DataValidationError
from recsys.models.item_knn import ItemKNN
from recsys.similarity import ItemStats, similarity_from_cooccurrence

__all__ = ["RP3Beta", "rp3beta_similarity"]

logger = logging.getLogger(__name__)

# Maximum cells (rows x n_items) of one block of rows of W. The sparse product of a
# block stores at most this many entries at about 13 bytes each (int32 column,
# float64 value, one flag), so a block needs at most about 55 MB, an estimate from
# the array sizes that ignores SciPy's temporaries.
_BLOCK_CELLS = 1 << 22


class RP3Beta(ItemKNN):
    """Item-item recommender on RP3beta random-walk weights.

    A random walk goes from item ``i`` to a user who has it, then to another item
    ``j`` of that user. The product of its transition probabilities, each raised to
    ``alpha``, divided by the popularity of ``j`` raised to ``beta``, is the weight
    ``W_ij`` (see :func:`rp3beta_similarity`). Each item keeps its ``n_neighbors``
    largest weights. Requests are scored exactly as by :class:`ItemKNN`,
    ``score(j) = sum_i w_i * W_ij`` over the history, so filters, reasons,
    ``explain`` and batch output behave the same.

    Parameters
    ----------
    alpha : float, default 1.0
        Exponent of the transition probabilities, > 0. 1 gives the plain
        three-step walk probability (P3).
    beta : float, default 0.5
        Exponent of the popularity discount, >= 0. 0 turns the discount off;
        larger values favour less popular items.
    n_neighbors : int, default 100
        Neighbours kept per item.
    event_weights, half_life_days, count_repeats
        See :class:`~recsys.models.base.Recommender`.
    show_progress : bool, default False
        Show a progress bar over the blocks of items while fitting.

    Attributes
    ----------
    similarity_ : csr_array, items x items, float32
        Row ``i`` contains the weights ``W_ij`` of the neighbours of item ``i``.

    Notes
    -----
    ``W`` is not symmetric: the popularity discount applies to the target ``j``.
    The event weights enter the transition probabilities, so a purchase of weight
    5 is walked five times as often as a view of weight 1.

    References
    ----------
    F. Christoffel, B. Paudel, C. Newell, A. Bernstein, "Blockbusters and
    wallflowers: accurate, diverse, and scalable recommendations with random
    walks", RecSys 2015.
    B. Paudel, F. Christoffel, C. Newell, A. Bernstein, "Updatable, accurate,
    diverse, and scalable recommendations for interactive applications", ACM
    Transactions on Interactive Intelligent Systems 7(1), 2017.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 0.5,
        n_neighbors: int = 100,
        *,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        count_repeats: bool | None = None,
        show_progress: bool = False,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.n_neighbors = n_neighbors
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.count_repeats = count_repeats
        self.show_progress = show_progress

    def _fit_model(self, interactions: Interactions) -> None:
        self.similarity_ = rp3beta_similarity(
            interactions.user_items,
            alpha=self.alpha,
            beta=self.beta,
            n_neighbors=self.n_neighbors,
            show_progress=self.show_progress,
        )


def rp3beta_similarity(
    user_items: Any,
    *,
    alpha: float = 1.0,
    beta: float = 0.5,
    n_neighbors: int = 100,
    show_progress: bool = False,
) -> sp.csr_array:
    """Compute the RP3beta item-item weights and keep the top ``n_neighbors`` of each item.

    Parameters
    ----------
    user_items : sparse matrix, users x items
        Finite weights >= 0.
    alpha : float, default 1.0
        Exponent of the transition probabilities, > 0.
    beta : float, default 0.5
        Exponent of the popularity discount, >= 0.
    n_neighbors : int, default 100
        Neighbours kept per item, >= 1.
    show_progress : bool, default False
        Show a progress bar over the blocks of items.

    Returns
    -------
    csr_array, items x items, float32
        Row ``i`` contains the largest positive ``W_ij``, ``j != i``, at most
        ``n_neighbors`` of them (ties go to the smaller column), in canonical form.

    Raises
    ------
    DataValidationError
        For an invalid parameter, or weights that are negative or not finite.

    Notes
    -----
    With ``x_ui`` the weight of item ``i`` for user ``u`` and ``pop_j`` the number of
    users with item ``j`` (the degree of ``j`` in the user-item graph):

    .. math::

        P(u \\mid i) = \\frac{x_{ui}}{\\sum_{v} x_{vi}}, \\qquad
        P(j \\mid u) = \\frac{x_{uj}}{\\sum_{k} x_{uk}}, \\qquad
        W_{ij} = \\frac{\\sum_u P(u \\mid i)^{\\alpha} \\, P(j \\mid u)^{\\alpha}}{\\mathrm{pop}_j^{\\beta}}

    With ``alpha = 1`` and ``beta = 0``, ``W_ij`` is the probability that a walk
    from ``i`` to a user and on to an item ends at ``j``. The self-weight ``W_ii``
    is dropped because an item is never its own neighbour.

    ``W`` is computed one block of rows at a time, as the sparse product of the
    block's rows of ``P(u|i)^alpha`` with ``P(j|u)^alpha / pop_j^beta``, and each
    block is pruned to its top ``n_neighbors`` before the next one is computed.
    Memory therefore stays near ``n_items * n_neighbors`` pairs plus one block of
    at most about four million cells.
    """
    _check_rp3beta_parameters(alpha, beta, n_neighbors)
    started = time.perf_counter()
    matrix = _float_matrix(user_items)
    n_items = matrix.shape[1]

    item_to_user = _normalized_rows(matrix.T.tocsr(), alpha)
    user_to_item = _normalized_rows(matrix, alpha)
    popularity = np.bincount(matrix.indices, minlength=n_items).astype(np.float64)
    discount = np.zeros(n_items)
    np.power(popularity, -float(beta), out=discount, where=popularity > 0)
    user_to_item.data *= discount[user_to_item.indices]

    rows_per_block = max(1, _BLOCK_CELLS // max(n_items, 1))
    rows, columns, values = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)], [np.empty(0)]
    for start in _progress(range(0, n_items, rows_per_block), n_items, rows_per_block, show_progress):
        stop = min(start + rows_per_block, n_items)
        block = sp.csr_array(item_to_user[start:stop] @ user_to_item)
        block_rows, block_columns, block_values = _top_per_row(block, start, n_neighbors)
        rows.append(block_rows)
        columns.append(block_columns)
        values.append(block_values)

    pruned = sp.csr_array(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=(n_items, n_items)
    )
    # The blocks are already pruned, and this call applies the one pruning rule of
    # recsys.similarity again to return its canonical float32 form. The kernel
    # compares the support with min_support, so every pair gets support 1.
    ones = sp.csr_array((np.ones(pruned.nnz), pruned.indices, pruned.indptr), shape=pruned.shape)
    result = similarity_from_cooccurrence(
        pruned,
        ones,
        ItemStats.of(matrix, binary=True),
        similarity="cooccurrence",
        n_neighbors=n_neighbors,
        min_support=1,
    )
    logger.info(
        "computed RP3beta weights of %s items (%s neighbour pairs) in %.2f s",
        f"{n_items:,}",
        f"{result.nnz:,}",
        time.perf_counter() - started,
    )
    return result


def _check_rp3beta_parameters(alpha: Any, beta: Any, n_neighbors: Any) -> None:
    if not _is_number(alpha) or not math.isfinite(alpha) or alpha <= 0:
        raise DataValidationError(f"alpha must be a finite number > 0; got {alpha!r}")
    if not _is_number(beta) or not math.isfinite(beta) or beta < 0:
        raise DataValidationError(f"beta must be a finite number >= 0; got {beta!r}")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 1:
        raise DataValidationError(f"n_neighbors must be an int >= 1; got {n_neighbors!r}")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def _float_matrix(user_items: Any) -> sp.csr_array:
    """Return ``user_items`` as a canonical float64 CSR copy without stored zeros."""
    if not sp.issparse(user_items):
        raise DataValidationError(
            f"user_items must be a scipy sparse matrix (users x items); got {type(user_items).__name__}"
        )
    matrix = sp.csr_array(cast(Any, user_items)).astype(np.float64, copy=True)
    matrix.sum_duplicates()
    if matrix.nnz and (not np.isfinite(matrix.data).all() or matrix.data.min() < 0):
        raise DataValidationError("user_items must hold finite weights >= 0")
    matrix.eliminate_zeros()
    return matrix


def _normalized_rows(matrix: sp.csr_array, alpha: float) -> sp.csr_array:
    """Divide each row by its sum (a transition probability), then raise it to ``alpha``."""
    totals = np.repeat(np.asarray(matrix.sum(axis=1)).ravel(), np.diff(matrix.indptr))
    result = matrix.copy()
    # Rows of stored zeros were removed, so every total of a stored entry is > 0.
    result.data = np.power(result.data / totals, float(alpha))
    return result


def _top_per_row(block: sp.csr_array, first_row: int, n_neighbors: int) -> tuple[np.ndarray, ...]:
    """Keep the ``n_neighbors`` best off-diagonal entries > 0 of each row of a block.

    Returns the global rows, the columns and the values of the kept entries.
    """
    block.sum_duplicates()
    keep = np.zeros(block.nnz, dtype=np.bool_)
    _mark_top_per_row(
        np.asarray(block.indptr, dtype=np.int64),
        np.asarray(block.indices, dtype=np.int64),
        block.data,
        first_row,
        n_neighbors,
        keep,
    )
    kept = np.flatnonzero(keep)
    rows = np.searchsorted(block.indptr, kept, side="right") - 1 + first_row
    return rows.astype(np.int64), block.indices[kept].astype(np.int64), block.data[kept]


@numba.njit(cache=True, parallel=True)
def _mark_top_per_row(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    first_row: int,
    n_neighbors: int,
    keep: np.ndarray,
) -> None:
    """Mark the entries each row keeps, in the order of the similarity kernel.

    That order is the value rounded to float32, descending, then the smaller
    column. Columns are sorted within a row, so a stable sort by value alone
    keeps the smaller column first among ties.
    """
    for row in numba.prange(len(indptr) - 1):
        start = indptr[row]
        stop = indptr[row + 1]
        candidates = np.empty(stop - start, dtype=np.int64)
        negated = np.empty(stop - start, dtype=np.float32)
        size = 0
        for p in range(start, stop):
            value = np.float32(data[p])
            if indices[p] != first_row + row and value > 0:
                candidates[size] = p
                negated[size] = -value
                size += 1
        if size <= n_neighbors:
            for position in range(size):
                keep[candidates[position]] = True
        else:
            order = np.argsort(negated[:size], kind="mergesort")
            for position in range(n_neighbors):
                keep[candidates[order[position]]] = True


def _progress(blocks: range, n_items: int, rows_per_block: int, show_progress: bool) -> Iterator[int]:
    if not show_progress:
        yield from blocks
        return
    from tqdm.auto import tqdm

    with tqdm(total=n_items, desc="RP3beta", unit="item") as bar:
        for start in blocks:
            yield start
            bar.update(min(rows_per_block, n_items - start))
