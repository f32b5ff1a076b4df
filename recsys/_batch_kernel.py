"""Compiled kernel of :mod:`recsys.batch`: rank a block of users of an ItemKNN model.

The kernel reproduces ItemKNN.recommend for one user at a time:

- score(j) = sum over the history, in stored order, of float64(s_ij) * w_i, each
  sum starting from 0.0. These are the operations of np.bincount in
  ItemKNN._score, in the same order, so the float64 results are bit-identical.
  Both factors are float32 values, so each product is exact in float64, and
  fastmath, which could reorder the sums, is off. A scipy product H @ S
  (scipy 1.17) sums in the same order today, but that order is not part of its
  interface.
- each score times the item's boost multiplier (1.0 without boosts, which
  leaves it unchanged), as Recommender._rank, then the top n by (score
  descending, position ascending) among unblocked items with a score > 0, as
  rules.top_n;
- up to N_REASONS history items per recommended item, by (contribution
  descending, position ascending), contributions > 0 only, as
  Recommender._similar_items_with_reasons;
- popular backfill as rules.backfill, always for unknown users (position -1).
  With boosts the caller passes the order and the scores of popularity times
  the multiplier, as rules.backfill_ranked.

Scratch arrays are per block of users, and the blocks run in parallel. The
seen_by stamp contains the index (within the call) of the last user who had the
item, so it needs no reset between users.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from recsys._kernels import _heap_offer, _sift_down, _worse

__all__ = ["POPULAR", "SIMILAR", "rank_users"]

#: Reason codes written by the kernel.
SIMILAR, POPULAR = 0, 1


@numba.njit(cache=True, nogil=True, inline="always")
def _insert_reason(
    reason_scores: Any, reason_items: Any, reason_counts: Any, slot: int, contribution: float, item: int
) -> None:
    """Insert a history item into the best-first reasons of one recommended item."""
    count = reason_counts[slot]
    limit = reason_scores.shape[1]
    position = count
    while position > 0 and _worse(
        reason_scores[slot, position - 1], reason_items[slot, position - 1], contribution, item
    ):
        position -= 1
    if position >= limit:
        return
    for moved in range(min(count, limit - 1), position, -1):
        reason_scores[slot, moved] = reason_scores[slot, moved - 1]
        reason_items[slot, moved] = reason_items[slot, moved - 1]
    reason_scores[slot, position] = contribution
    reason_items[slot, position] = item
    reason_counts[slot] = min(count + 1, limit)


@numba.njit(cache=True, nogil=True, inline="always")
def _rank_one_user(
    u: int,
    user: int,
    user_indptr: Any,
    user_indices: Any,
    user_data: Any,
    seen_events: Any,
    seen_mask: int,
    sim_indptr: Any,
    sim_indices: Any,
    sim_data: Any,
    blocked: Any,
    multiplier: Any,
    popular_order: Any,
    popularity: Any,
    backfill: bool,
    out_items: Any,
    out_scores: Any,
    out_reasons: Any,
    out_because: Any,
    out_counts: Any,
    scores: Any,
    touched: Any,
    seen_by: Any,
    chosen_bits: Any,
    slot_of: Any,
    heap_scores: Any,
    heap_items: Any,
    reason_scores: Any,
    reason_items: Any,
    reason_counts: Any,
) -> None:
    slots = heap_scores.shape[0]
    base = u * slots
    start = 0
    stop = 0
    if user >= 0:
        start = user_indptr[user]
        stop = user_indptr[user + 1]

    # Scores, summed in history order as np.bincount does. Every term is >= 0, so
    # a zero term leaves a sum unchanged and can be skipped, and a score that is
    # no longer 0 never returns to 0: "score == 0" therefore means "not touched".
    n_touched = 0
    for t in range(start, stop):
        item = user_indices[t]
        weight = np.float64(user_data[t])
        if seen_mask < 0 or (np.int64(seen_events[t]) & seen_mask) != 0:
            seen_by[item] = u
        for k in range(sim_indptr[item], sim_indptr[item + 1]):
            j = sim_indices[k]
            term = np.float64(sim_data[k]) * weight
            current = scores[j]
            if current == 0.0:
                if term == 0.0:
                    continue
                touched[n_touched] = j
                n_touched += 1
            scores[j] = current + term

    # Top n among touched items that are neither seen nor blocked. Seen items get
    # score 0 here, which drops them as candidates.
    for t in range(start, stop):
        item = user_indices[t]
        if seen_by[item] == u:
            scores[item] = 0.0
    # The same loop resets the scores to 0 for the next user.
    size = 0
    for t in range(n_touched):
        j = touched[t]
        score = scores[j]
        scores[j] = 0.0
        if score > 0.0 and not blocked[j]:
            score = score * multiplier[j]
            if score > 0.0:
                size = _heap_offer(heap_scores, heap_items, size, score, j)
    count = size
    while size > 0:
        size -= 1
        out_items[base + size] = heap_items[0]
        out_scores[base + size] = heap_scores[0]
        if size > 0:
            _sift_down(heap_scores, heap_items, size, heap_scores[size], heap_items[size])

    # Reasons: walk the history again, keeping the best contributions per chosen
    # item. The chosen items are bits of a small bitmap, which stays in L1 cache.
    for slot in range(count):
        j = out_items[base + slot]
        out_reasons[base + slot] = SIMILAR
        chosen_bits[j >> 6] |= np.int64(1) << (j & 63)
        slot_of[j] = slot
        reason_counts[slot] = 0
    if count > 0:
        for t in range(start, stop):
            item = user_indices[t]
            weight = np.float64(user_data[t])
            for k in range(sim_indptr[item], sim_indptr[item + 1]):
                j = sim_indices[k]
                if ((chosen_bits[j >> 6] >> (j & 63)) & 1) != 0:
                    contribution = np.float64(sim_data[k]) * weight
                    if contribution > 0:
                        _insert_reason(
                            reason_scores, reason_items, reason_counts, slot_of[j], contribution, item
                        )
    for slot in range(count):
        for r in range(out_because.shape[1]):
            out_because[base + slot, r] = reason_items[slot, r] if r < reason_counts[slot] else -1

    # Popular backfill, always for an unknown user.
    if backfill or user < 0:
        for t in range(popular_order.shape[0]):
            if count >= slots:
                break
            j = popular_order[t]
            if blocked[j] or seen_by[j] == u or ((chosen_bits[j >> 6] >> (j & 63)) & 1) != 0:
                continue
            out_items[base + count] = j
            out_scores[base + count] = popularity[j]
            out_reasons[base + count] = POPULAR
            for r in range(out_because.shape[1]):
                out_because[base + count, r] = -1
            count += 1
    for slot in range(count):
        j = out_items[base + slot]
        chosen_bits[j >> 6] = 0
    out_counts[u] = count


@numba.njit(cache=True, parallel=True)
def rank_users(
    users: Any,
    user_indptr: Any,
    user_indices: Any,
    user_data: Any,
    seen_events: Any,
    seen_mask: int,
    sim_indptr: Any,
    sim_indices: Any,
    sim_data: Any,
    blocked: Any,
    multiplier: Any,
    popular_order: Any,
    popularity: Any,
    slots: int,
    backfill: bool,
    n_blocks: int,
    out_items: Any,
    out_scores: Any,
    out_reasons: Any,
    out_because: Any,
    out_counts: Any,
) -> None:
    """Rank ``users`` (positions, -1 for unknown) into ``slots`` rows each.

    User ``u`` of the call writes rows ``u * slots`` to ``u * slots + out_counts[u]``.
    Block ``b`` takes users ``b, b + n_blocks, ...``, which spreads heavy and
    light users evenly over the threads.
    """
    n_items = blocked.shape[0]
    n_users = users.shape[0]
    n_reasons = out_because.shape[1]
    for block in numba.prange(n_blocks):
        # Scratch: each user leaves scores at 0 and chosen_bits clear for the next.
        scores = np.zeros(n_items)
        touched = np.empty(n_items, dtype=np.int32)
        # An int32 stamp cannot overflow: a call has at most _MAX_SLOTS_PER_CALL users.
        seen_by = np.full(n_items, -1, dtype=np.int32)
        chosen_bits = np.zeros((n_items + 63) // 64, dtype=np.int64)
        slot_of = np.zeros(n_items, dtype=np.int32)
        heap_scores = np.empty(slots)
        heap_items = np.empty(slots, dtype=np.int64)
        reason_scores = np.empty((slots, n_reasons))
        reason_items = np.empty((slots, n_reasons), dtype=np.int64)
        reason_counts = np.zeros(slots, dtype=np.int64)
        for u in range(block, n_users, n_blocks):
            _rank_one_user(
                u,
                users[u],
                user_indptr,
                user_indices,
                user_data,
                seen_events,
                seen_mask,
                sim_indptr,
                sim_indices,
                sim_data,
                blocked,
                multiplier,
                popular_order,
                popularity,
                backfill,
                out_items,
                out_scores,
                out_reasons,
                out_because,
                out_counts,
                scores,
                touched,
                seen_by,
                chosen_bits,
                slot_of,
                heap_scores,
                heap_items,
                reason_scores,
                reason_items,
                reason_counts,
            )
