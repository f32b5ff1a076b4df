"""Compiled kernels of the similarity computation (numba).

The measures and their notation are documented in :mod:`recsys.similarity`; this
module holds the loops. Every kernel works on plain CSR arrays and writes the top
``k`` neighbours of each item into preallocated ``(n_items, k)`` arrays, so the
memory it needs is linear in the catalogue whatever the data.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["MEASURES", "knn_from_cooccurrence", "knn_from_user_items", "scratch_space"]

#: Kernel code of each measure.
MEASURES = {"cooccurrence": 0, "cosine": 1, "jaccard": 2, "lift": 3, "conditional": 4, "llr": 5}

_COOCCURRENCE, _COSINE, _JACCARD, _LIFT, _CONDITIONAL, _LLR = range(6)

#: Items per block of the dense scan in :func:`_nonzero_positions`.
_SCAN_BLOCK = 1024


@numba.njit(cache=True, inline="always")
def _xlogx(x: float) -> float:
    return x * np.log(x) if x > 0.0 else 0.0


@numba.njit(cache=True, inline="always")
def _score(
    measure: int,
    weighted: float,
    support: float,
    i: int,
    j: int,
    norms: np.ndarray,
    counts: np.ndarray,
    n_users: float,
) -> float:
    """Return the similarity of item j as a neighbour of item i; 0 means none."""
    if measure == _COOCCURRENCE:
        return weighted
    if measure == _COSINE:
        denominator = norms[i] * norms[j]
        return weighted / denominator if denominator > 0.0 else 0.0
    n_i = counts[i]
    n_j = counts[j]
    if measure == _JACCARD:
        union = n_i + n_j - support
        return support / union if union > 0.0 else 0.0
    if measure == _LIFT:
        denominator = n_i * n_j
        return support * n_users / denominator if denominator > 0.0 else 0.0
    if measure == _CONDITIONAL:
        return support / n_i if n_i > 0.0 else 0.0
    # Log-likelihood ratio, only for pairs seen together more often than chance.
    if support * n_users <= n_i * n_j:
        return 0.0
    k11 = support
    k12 = n_i - support
    k21 = n_j - support
    k22 = n_users - n_i - n_j + support
    # G^2 = 2 (sum k log k - sum row log row - sum col log col + N log N)
    g2 = 2.0 * (
        _xlogx(k11)
        + _xlogx(k12)
        + _xlogx(k21)
        + _xlogx(k22)
        - _xlogx(n_i)
        - _xlogx(n_users - n_i)
        - _xlogx(n_j)
        - _xlogx(n_users - n_j)
        + _xlogx(n_users)
    )
    return g2 if g2 > 0.0 else 0.0


@numba.njit(cache=True, inline="always")
def _worse(value_a: float | np.floating, index_a: int, value_b: float | np.floating, index_b: int) -> bool:
    """Whether candidate a ranks below b: lower score, or equal score and larger column."""
    return bool(value_a < value_b or (value_a == value_b and index_a > index_b))


@numba.njit(cache=True, inline="always")
def _sift_down(
    values: np.ndarray, indices: np.ndarray, size: int, value: float | np.floating, index: int
) -> None:
    """Place a candidate at the root of a heap (worst kept at the root) and restore the order."""
    position = 0
    while True:
        child = 2 * position + 1
        if child >= size:
            break
        right = child + 1
        if right < size and _worse(values[right], indices[right], values[child], indices[child]):
            child = right
        if not _worse(values[child], indices[child], value, index):
            break
        values[position] = values[child]
        indices[position] = indices[child]
        position = child
    values[position] = value
    indices[position] = index


@numba.njit(cache=True, inline="always")
def _heap_offer(
    values: np.ndarray, indices: np.ndarray, size: int, value: float | np.floating, index: int
) -> int:
    """Offer a candidate to a bounded min-heap whose root is the worst kept candidate.

    Returns the new size. The heap keeps the ``len(values)`` best candidates.
    """
    capacity = len(values)
    if size < capacity:
        position = size
        # Sift up.
        while position > 0:
            parent = (position - 1) // 2
            if not _worse(value, index, values[parent], indices[parent]):
                break
            values[position] = values[parent]
            indices[position] = indices[parent]
            position = parent
        values[position] = value
        indices[position] = index
        return size + 1
    if _worse(values[0], indices[0], value, index):
        _sift_down(values, indices, size, value, index)
    return size


@numba.njit(cache=True)
def _emit(
    row: int,
    heap_values: np.ndarray,
    heap_indices: np.ndarray,
    size: int,
    out_indices: np.ndarray,
    out_values: np.ndarray,
    out_lengths: np.ndarray,
) -> None:
    """Write a row's kept neighbours in column order (canonical CSR)."""
    order = np.argsort(heap_indices[:size])
    for position in range(size):
        out_indices[row, position] = heap_indices[order[position]]
        out_values[row, position] = heap_values[order[position]]
    out_lengths[row] = size


@numba.njit(cache=True, inline="always")
def _accumulate(
    i: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    t_data: np.ndarray,
    use_weights: bool,
    count_support: bool,
    accumulated: np.ndarray,
    shared: np.ndarray,
) -> None:
    """Add row ``i`` of the co-occurrence into ``accumulated`` (and ``shared``)."""
    for p in range(t_indptr[i], t_indptr[i + 1]):
        user = t_indices[p]
        weight_i = np.float64(t_data[p])
        for q in range(indptr[user], indptr[user + 1]):
            j = indices[q]
            if use_weights:
                accumulated[j] += weight_i * np.float64(data[q])
            else:
                accumulated[j] += 1.0
            if count_support:
                shared[j] += 1.0


@numba.njit(cache=True, inline="always")
def _accumulate_tracked(
    i: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    t_data: np.ndarray,
    use_weights: bool,
    count_support: bool,
    accumulated: np.ndarray,
    shared: np.ndarray,
    touched: np.ndarray,
) -> int:
    """Accumulate row ``i`` as :func:`_accumulate` does, list the items visited in ``touched`` and return their number."""
    n_touched = 0
    for p in range(t_indptr[i], t_indptr[i + 1]):
        user = t_indices[p]
        weight_i = np.float64(t_data[p])
        for q in range(indptr[user], indptr[user + 1]):
            j = indices[q]
            # Every visit adds > 0, so a zero accumulator marks a first visit. The
            # unconditional store and the boolean increment avoid a branch that the
            # CPU would mispredict on every new item.
            touched[n_touched] = j
            n_touched += accumulated[j] == 0.0
            if use_weights:
                accumulated[j] += weight_i * np.float64(data[q])
            else:
                accumulated[j] += 1.0
            if count_support:
                shared[j] += 1.0
    return n_touched


@numba.njit(cache=True, inline="always")
def _take_touched(
    j: int, accumulated: np.ndarray, shared: np.ndarray, use_weights: bool, count_support: bool
) -> tuple[float, float]:
    """Read the weighted co-occurrence and the support of touched item j, and zero its slots."""
    weighted = np.float64(accumulated[j])
    if count_support:
        support = shared[j]
        shared[j] = 0.0
    elif use_weights:
        # Only used with min_support <= 1, which every touched pair meets.
        support = 1.0
    else:
        support = weighted
    accumulated[j] = 0.0
    return weighted, support


@numba.njit(cache=True, inline="always")
def _emit_touched(
    i: int,
    out_row: int,
    n_touched: int,
    touched: np.ndarray,
    accumulated: np.ndarray,
    shared: np.ndarray,
    measure: int,
    use_weights: bool,
    count_support: bool,
    norms: np.ndarray,
    counts: np.ndarray,
    n_users: float,
    min_support: float,
    heap_values: np.ndarray,
    heap_indices: np.ndarray,
    out_indices: np.ndarray,
    out_values: np.ndarray,
    out_lengths: np.ndarray,
) -> None:
    """Score the touched items of row ``i`` and write its top-k into row ``out_row`` of the output.

    ``touched[:n_touched]`` lists the items that row ``i`` added to. Their slots of
    ``accumulated`` and ``shared`` are zeroed as they are read, so the scratch row
    is clean for the next item. ``heap_values`` and ``heap_indices`` are scratch
    space of length ``k``.
    """
    capacity = len(heap_values)
    size = 0
    for t in range(n_touched):
        j = touched[t]
        weighted, support = _take_touched(j, accumulated, shared, use_weights, count_support)
        if j == i or support < min_support:
            continue
        # Rank at the stored float32 precision, so equal stored scores tie exactly.
        score = np.float32(_score(measure, weighted, support, i, j, norms, counts, n_users))
        # Once the heap is full, most candidates lose to its worst entry. That test is
        # inlined here, so only winners pay for the heap call.
        if score > 0.0 and (size < capacity or _worse(heap_values[0], heap_indices[0], score, j)):
            size = _heap_offer(heap_values, heap_indices, size, score, j)
    _emit(out_row, heap_values, heap_indices, size, out_indices, out_values, out_lengths)


@numba.njit(cache=True)
def _nonzero_positions(accumulated: np.ndarray, block_order: np.ndarray, touched: np.ndarray) -> int:
    """List the nonzero positions of ``accumulated`` into ``touched`` and return their number.

    The scan goes block by block in ``block_order``, a fixed shuffle: within a
    block it is sequential, and across blocks the order no longer follows the
    item ids. Ids can correlate with popularity, and candidates that arrive in
    rising score order would make the heap replace its root at almost every step.
    """
    n_items = len(accumulated)
    n_touched = 0
    for block in block_order:
        start = block * _SCAN_BLOCK
        for j in range(start, min(start + _SCAN_BLOCK, n_items)):
            touched[n_touched] = j
            n_touched += accumulated[j] != 0.0
    return n_touched


def scratch_space(
    n_items: int, count_support: bool, use_weights: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allocate the accumulators of :func:`knn_from_user_items`, once per fit.

    There is one row per chunk of work: four chunks per thread balance the load
    without the kernel asking which thread runs it, which would keep numba from
    caching the compiled code. Counts (no weights) accumulate in float32, which is
    exact up to 2**24 users per pair and halves the buffer, so more of it stays in
    the CPU cache; weighted sums keep float64.
    """
    n_chunks = 4 * numba.get_num_threads()
    accumulator = np.float64 if use_weights else np.float32
    return (
        np.zeros((n_chunks, n_items), dtype=accumulator),
        np.zeros((n_chunks, n_items if count_support else 1), dtype=np.float64),
        # One slot more than the catalogue: the last visit of a row always stores.
        np.empty((n_chunks, n_items + 1), dtype=np.int32),
    )


@numba.njit(cache=True, parallel=True)
def knn_from_user_items(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    t_data: np.ndarray,
    measure: int,
    use_weights: bool,
    count_support: bool,
    norms: np.ndarray,
    counts: np.ndarray,
    n_users: float,
    min_support: float,
    first_item: int,
    last_item: int,
    dense_visits: int,
    block_order: np.ndarray,
    scratch: tuple[np.ndarray, np.ndarray, np.ndarray],
    out_indices: np.ndarray,
    out_values: np.ndarray,
    out_lengths: np.ndarray,
) -> None:
    """Compute the top-k neighbours of items ``first_item..last_item - 1``.

    ``indptr/indices/data`` is ``user_items`` in CSR form (rows = users) and
    ``t_*`` its transpose (rows = items). For each item ``i`` the kernel walks its
    users, and for each user all their items ``j``, adding ``x_ui * x_uj`` (or 1
    without weights) into a dense accumulator: the pair visits of the
    co-occurrence, one row at a time, with no items x items matrix. Work goes out
    in interleaved chunks so that popular items spread over the threads; each
    chunk reuses its own row of ``scratch`` (see :func:`scratch_space`), which the
    kernel leaves zeroed.
    """
    accumulated_all, shared_all, touched_all = scratch
    n_rows = last_item - first_item
    capacity = out_indices.shape[1]
    n_chunks = min(n_rows, accumulated_all.shape[0])
    for chunk in numba.prange(n_chunks):
        accumulated = accumulated_all[chunk]
        shared = shared_all[chunk]
        touched = touched_all[chunk]
        heap_values = np.empty(capacity, dtype=np.float32)
        heap_indices = np.empty(capacity, dtype=np.int64)
        for row in range(chunk, n_rows, n_chunks):
            i = first_item + row
            visits = 0
            for p in range(t_indptr[i], t_indptr[i + 1]):
                user = t_indices[p]
                visits += indptr[user + 1] - indptr[user]
            if visits >= dense_visits:
                _accumulate(
                    i,
                    indptr,
                    indices,
                    data,
                    t_indptr,
                    t_indices,
                    t_data,
                    use_weights,
                    count_support,
                    accumulated,
                    shared,
                )
                n_touched = _nonzero_positions(accumulated, block_order, touched)
            else:
                n_touched = _accumulate_tracked(
                    i,
                    indptr,
                    indices,
                    data,
                    t_indptr,
                    t_indices,
                    t_data,
                    use_weights,
                    count_support,
                    accumulated,
                    shared,
                    touched,
                )

            _emit_touched(
                i,
                i,
                n_touched,
                touched,
                accumulated,
                shared,
                measure,
                use_weights,
                count_support,
                norms,
                counts,
                n_users,
                min_support,
                heap_values,
                heap_indices,
                out_indices,
                out_values,
                out_lengths,
            )


@numba.njit(cache=True, parallel=True)
def knn_from_cooccurrence(
    indptr: np.ndarray,
    indices: np.ndarray,
    weighted: np.ndarray,
    support: np.ndarray,
    measure: int,
    norms: np.ndarray,
    counts: np.ndarray,
    n_users: float,
    min_support: float,
    out_indices: np.ndarray,
    out_values: np.ndarray,
    out_lengths: np.ndarray,
) -> None:
    """Compute the top-k neighbours of every item from a precomputed co-occurrence.

    ``indptr/indices`` is an items x items CSR pattern with the weighted
    co-occurrence in ``weighted`` and the user counts in ``support`` (the same
    array when the data is binary).
    """
    n_items = len(indptr) - 1
    capacity = out_indices.shape[1]
    n_chunks = min(n_items, 64)
    for chunk in numba.prange(n_chunks):
        heap_values = np.empty(capacity, dtype=np.float32)
        heap_indices = np.empty(capacity, dtype=np.int64)
        for i in range(chunk, n_items, n_chunks):
            size = 0
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                if j == i or support[p] < min_support:
                    continue
                score = np.float32(_score(measure, weighted[p], support[p], i, j, norms, counts, n_users))
                if score > 0.0:
                    size = _heap_offer(heap_values, heap_indices, size, score, j)
            _emit(i, heap_values, heap_indices, size, out_indices, out_values, out_lengths)
