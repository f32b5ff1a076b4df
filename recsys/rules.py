"""Business rules applied to scores: which items may be returned, in what order.

Every function works on item positions and dense per-item arrays, so the models
stay free of filtering code. Order is always descending score, ties broken by the
smaller position, which is the smaller id (see :class:`recsys.data.IdMap`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["backfill", "blocked_mask", "top_n"]

# Above this many candidates per requested item, a partition first narrows the
# candidates before the stable sort.
_PARTITION_FACTOR = 8


def blocked_mask(
    n_items: int,
    *,
    excluded: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """Return a boolean mask of the items that must not be returned.

    Parameters
    ----------
    n_items : int
    excluded : int array, optional
        Positions that must not be returned (seen items, exclude list, basket).
    allowed : int array, optional
        When given, only these positions may be returned; an empty array blocks
        everything.
    """
    if allowed is None:
        blocked = np.zeros(n_items, dtype=bool)
    else:
        blocked = np.ones(n_items, dtype=bool)
        blocked[allowed] = False
    if excluded is not None and len(excluded):
        blocked[excluded] = True
    return blocked


def top_n(scores: np.ndarray, blocked: np.ndarray, n: int) -> np.ndarray:
    """Return the positions of the ``n`` best unblocked items with a score > 0.

    Ties in score go to the smaller position. Fewer than ``n`` positions come back
    when fewer items have evidence; nothing is padded.
    """
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    candidates = np.flatnonzero((scores > 0) & ~blocked)
    if len(candidates) > _PARTITION_FACTOR * n:
        # Keep every candidate scoring at least the n-th best, ties included, so
        # the stable sort below still breaks ties by position.
        threshold = np.partition(scores[candidates], len(candidates) - n)[len(candidates) - n]
        candidates = candidates[scores[candidates] >= threshold]
    order = np.argsort(-scores[candidates], kind="stable")
    return candidates[order[:n]]


def backfill(
    chosen: np.ndarray,
    popular_order: np.ndarray,
    blocked: np.ndarray,
    n: int,
) -> np.ndarray:
    """Return popular positions that fill ``chosen`` up to ``n`` items.

    ``popular_order`` lists the items with popularity > 0, most popular first. The
    result skips blocked and already chosen items.
    """
    needed = n - len(chosen)
    if needed <= 0:
        return np.empty(0, dtype=np.int64)
    skip = blocked.copy()
    skip[chosen] = True
    available = popular_order[~skip[popular_order]]
    return available[:needed].astype(np.int64)
