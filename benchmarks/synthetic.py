"""Seeded synthetic purchase data: a users x items matrix of ones.

The data is synthetic. Its skew is modelled on purchase logs, but timings measured on
it are not results on real data, and its neighbour lists mean nothing.

Model, for ``n_users`` users, ``n_items`` items and a target of ``n_interactions``
(user, item) pairs:

1. **Item popularity.** Every item gets a popularity rank 1..``n_items`` in a seeded
   random order, so item positions are independent of popularity. One draw picks the
   item of rank ``r`` with probability proportional to ``1 / r ** popularity_exponent``
   (Zipf's law; default exponent 0.8).
2. **User activity.** User ``u`` buys ``d_u`` distinct items, drawn independently per
   user from a shifted discrete power law (the Zipf-Mandelbrot law)
   ``P(d) ∝ (d + shift) ** -activity_exponent`` for ``d = 1 .. n_items``. The minimum
   is 1 and the cap is the catalogue size, because a user cannot buy more distinct
   items than exist. The default exponent is 3.0. ``shift`` (> -1) is solved
   numerically so that the mean of this distribution is exactly
   ``n_interactions / n_users``.
3. **Items of a user.** The ``d_u`` items are drawn by successive sampling without
   replacement with the popularity weights of step 1. Each next item is drawn among
   the items the user does not have yet, with probability proportional to its weight.
   This is the law of ``numpy.random.Generator.choice(replace=False, p=...)``. It is
   implemented by drawing with replacement and redrawing the duplicates in rounds.
   Users with more than 2 % of the catalogue, and the few users still short after 32
   rounds, instead get the exactly equivalent Gumbel-top-k draw (top ``d_u`` of
   ``log(weight) + Gumbel noise`` over the items they do not have yet).
4. **Matrix.** The pairs become a ``csr_array`` of float32 ones, with sorted column
   indices and no duplicate (user, item) pairs.

How the interaction count is met: every user gets exactly ``d_u`` distinct items, so
``nnz = sum(d_u)``. Its expectation is ``n_interactions``. Its relative standard
deviation is ``std(d) / (mean(d) * sqrt(n_users))``, about 1.3 % for size S and
below 0.5 % for L and XL.

Why a shifted power law: a pure power law ``P(d) ∝ d ** -a`` with minimum 1 has a
mean of 20 items per user only for ``a`` ≈ 1.74 with 10,000 items (1.81 with
50,000). Most of its
co-occurrence pairs ``sum(d_u ** 2)`` then come from a few users near the catalogue
cap, about 9e10 pairs for size L. The shift makes the head flat but keeps a power-law
tail. The defaults follow the bundled Online Retail data (4,335 customers, 3,659
products) as a guide. There, the Hill estimate of the customers' tail exponent
rises from 2.0 above 30 items to 2.9 above 100 items. The rank-frequency slope of
product popularity is 0.46 over ranks 10 to 1,000 and 0.81 over ranks 100 to 2,000.

Same arguments and seed, same matrix. A change to this module (to its chunk size,
for example) may change the matrices drawn for a seed.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import brentq

__all__ = [
    "DEFAULT_ACTIVITY_EXPONENT",
    "DEFAULT_POPULARITY_EXPONENT",
    "DEFAULT_SEED",
    "SIZES",
    "SyntheticSize",
    "activity_distribution",
    "generate_user_items",
    "to_events",
]

DEFAULT_SEED = 20_240_601
DEFAULT_ACTIVITY_EXPONENT = 3.0
DEFAULT_POPULARITY_EXPONENT = 0.8

#: Users whose item count exceeds this fraction of the catalogue get the Gumbel-top-k
#: draw, because redrawing duplicates converges slowly once a user has most of
#: the popularity mass.
_HEAVY_FRACTION = 0.02

#: Redraw rounds for the other users. Each round redraws only the duplicates, so the
#: missing counts shrink geometrically. Users still short after the last round get
#: the Gumbel-top-k draw.
_MAX_ROUNDS = 32

#: Users are processed in chunks of about this many interactions, which bounds the
#: temporary arrays (a few int64 and float64 arrays of this length).
_CHUNK_INTERACTIONS = 4_000_000


@dataclass(frozen=True)
class SyntheticSize:
    """Named benchmark size: users, items and the target number of interactions."""

    name: str
    n_users: int
    n_items: int
    n_interactions: int


SIZES: dict[str, SyntheticSize] = {
    size.name: size
    for size in (
        SyntheticSize("S", 50_000, 10_000, 1_000_000),
        SyntheticSize("L", 500_000, 50_000, 10_000_000),
        SyntheticSize("XL", 2_000_000, 200_000, 50_000_000),
    )
}


def generate_user_items(
    n_users: int,
    n_items: int,
    n_interactions: int,
    *,
    seed: int = DEFAULT_SEED,
    activity_exponent: float = DEFAULT_ACTIVITY_EXPONENT,
    popularity_exponent: float = DEFAULT_POPULARITY_EXPONENT,
) -> sp.csr_array:
    """Draw a users x items matrix of purchase-like ones (see the module notes).

    Parameters
    ----------
    n_users, n_items : int
        Shape of the matrix, each >= 1.
    n_interactions : int
        Target number of stored ones. The result has about this many. It must lie
        between ``n_users`` (one item each) and ``n_users * (n_items + 1) / 2``,
        the mean of a flat distribution of item counts.
    seed : int
        Seed of ``numpy.random.default_rng``; the same arguments give the same matrix.
    activity_exponent : float, default 3.0
        Tail exponent of the item count per user, > 1.
    popularity_exponent : float, default 0.8
        Zipf exponent of item popularity, >= 0 (0 makes every item equally likely).

    Returns
    -------
    csr_array, shape (n_users, n_items), float32
        Ones at the bought (user, item) pairs; int32 indices when they fit.

    Raises
    ------
    ValueError
        For a size or exponent outside the ranges above.
    """
    _check_arguments(n_users, n_items, n_interactions, activity_exponent, popularity_exponent)
    rng = np.random.default_rng(seed)

    _, activity_pmf = activity_distribution(n_items, n_interactions / n_users, activity_exponent)
    item_counts = _draw_from_pmf(rng, activity_pmf, n_users) + 1

    rank_weights = np.arange(1, n_items + 1, dtype=np.float64) ** -popularity_exponent
    item_of_rank = rng.permutation(n_items)
    rank_cdf = _cdf(rank_weights)
    log_item_weights = np.empty(n_items)
    log_item_weights[item_of_rank] = np.log(rank_weights)
    sampler = _ItemSampler(rng, n_items, rank_cdf, item_of_rank, log_item_weights)

    chunks = [
        sampler.draw_users(start, item_counts[start:stop])
        for start, stop in _chunks(item_counts, _CHUNK_INTERACTIONS)
    ]
    keys = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
    return _keys_to_csr(keys, n_users, n_items)


def activity_distribution(n_items: int, mean: float, exponent: float) -> tuple[float, np.ndarray]:
    """Solve the shift of the item-count law for ``mean`` and return (shift, pmf).

    ``pmf[d - 1]`` is the probability of ``d`` items, for ``d = 1 .. n_items``, and is
    proportional to ``(d + shift) ** -exponent``.

    Raises
    ------
    ValueError
        If ``mean`` is not in ``[1, (n_items + 1) / 2)``.
    """
    counts = np.arange(1, n_items + 1, dtype=np.float64)
    flat_mean = (n_items + 1) / 2
    if not 1.0 <= mean < flat_mean:
        raise ValueError(
            f"the mean number of items per user must be in [1, {flat_mean:g}) for {n_items:,} items; "
            f"got {mean:g}. Change n_interactions or n_users."
        )
    if n_items == 1:
        return 0.0, np.ones(1)

    def pmf_of(shift: float) -> np.ndarray:
        log_weights = -exponent * np.log(counts + shift)
        weights = np.exp(log_weights - log_weights.max())
        return weights / weights.sum()

    def excess_mean(shift: float) -> float:
        return float(counts @ pmf_of(shift)) - mean

    # The mean grows with the shift, from about 1 (shift near -1) towards flat_mean.
    low = -1.0 + 1e-12
    if excess_mean(low) >= 0:
        return low, pmf_of(low)
    high = 1.0
    while excess_mean(high) < 0:
        high *= 4.0
        if high > 1e15:
            raise ValueError(f"no shift of the item-count law gives a mean of {mean:g} items per user")
    shift = float(brentq(excess_mean, low, high, xtol=1e-10, rtol=1e-12))
    return shift, pmf_of(shift)


def to_events(user_items: sp.csr_array, *, max_rows: int = 1_000_000) -> pd.DataFrame:
    """Return the ones of ``user_items`` as purchase events, for tiny sizes.

    The columns are ``user_id`` and ``item_id`` (the row and column positions, int64)
    and ``event`` (always ``"purchase"``), ready for ``recsys.Interactions.from_events``.
    Items and users without any event then have no position, so that matrix can be
    smaller than ``user_items``.

    Raises
    ------
    ValueError
        If there are more than ``max_rows`` ones, because a DataFrame of the larger
        sizes needs several GB.
    """
    matrix = sp.csr_array(user_items)
    if matrix.nnz > max_rows:
        raise ValueError(
            f"user_items has {matrix.nnz:,} ones, above max_rows={max_rows:,}; "
            f"use the matrix directly or raise max_rows"
        )
    coo = matrix.tocoo()
    return pd.DataFrame(
        {
            "user_id": coo.row.astype(np.int64),
            "item_id": coo.col.astype(np.int64),
            "event": "purchase",
        }
    )


class _ItemSampler:
    """Successive sampling without replacement of each user's items."""

    def __init__(
        self,
        rng: np.random.Generator,
        n_items: int,
        rank_cdf: np.ndarray,
        item_of_rank: np.ndarray,
        log_item_weights: np.ndarray,
    ) -> None:
        self.rng = rng
        self.n_items = n_items
        self.rank_cdf = rank_cdf
        self.item_of_rank = item_of_rank
        self.log_item_weights = log_item_weights
        self.heavy_limit = max(1, int(_HEAVY_FRACTION * n_items))

    def draw_users(self, first_user: int, item_counts: np.ndarray) -> np.ndarray:
        """Return the sorted keys ``user * n_items + item`` of consecutive users.

        ``item_counts[i]`` is the number of distinct items of user ``first_user + i``.
        """
        n_items = self.n_items
        missing = item_counts.astype(np.int64)
        heavy = missing > self.heavy_limit
        missing[heavy] = 0
        # Keys are local to the chunk (user offset * n_items + item) until the end.
        owned_keys = self._redraw_rounds(missing)
        missing[heavy] = item_counts[heavy]

        short = np.flatnonzero(missing > 0)
        if short.size:
            extra = [self._gumbel_top_k(int(user), owned_keys, int(missing[user])) for user in short]
            owned_keys = np.sort(np.concatenate([owned_keys, *extra]))
        return owned_keys + first_user * n_items

    def _redraw_rounds(self, missing: np.ndarray) -> np.ndarray:
        """Draw with replacement, drop duplicates and redraw the shortfall; update ``missing``."""
        n_items = self.n_items
        owned_keys = np.empty(0, dtype=np.int64)
        for _ in range(_MAX_ROUNDS):
            active = np.flatnonzero(missing > 0)
            if active.size == 0:
                break
            owners = np.repeat(active, missing[active])
            ranks = np.searchsorted(self.rank_cdf, self.rng.random(owners.size), side="right")
            drawn = _sorted_unique(owners * n_items + self.item_of_rank[ranks])
            if owned_keys.size:
                drawn = drawn[~_sorted_contains(owned_keys, drawn)]
            owned_keys = np.sort(np.concatenate([owned_keys, drawn]))
            missing -= np.bincount(drawn // n_items, minlength=missing.size)
        return owned_keys

    def _gumbel_top_k(self, user: int, owned_keys: np.ndarray, k: int) -> np.ndarray:
        """Draw ``k`` more items for one user, among those the user does not have yet."""
        n_items = self.n_items
        start, stop = np.searchsorted(owned_keys, [user * n_items, (user + 1) * n_items])
        keys = self.log_item_weights + self.rng.gumbel(size=n_items)
        keys[owned_keys[start:stop] - user * n_items] = -np.inf
        if k >= n_items:
            chosen = np.flatnonzero(np.isfinite(keys))
        else:
            chosen = np.argpartition(keys, n_items - k)[n_items - k :]
        return user * n_items + np.asarray(chosen, dtype=np.int64)


def _check_arguments(
    n_users: int, n_items: int, n_interactions: int, activity_exponent: float, popularity_exponent: float
) -> None:
    for name, value in (("n_users", n_users), ("n_items", n_items), ("n_interactions", n_interactions)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    if not activity_exponent > 1:
        raise ValueError(f"activity_exponent must be > 1; got {activity_exponent!r}")
    if not popularity_exponent >= 0:
        raise ValueError(f"popularity_exponent must be >= 0; got {popularity_exponent!r}")
    # activity_distribution checks the mean n_interactions / n_users.


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    cdf[-1] = 1.0  # so that searchsorted of a uniform draw in [0, 1) stays in range
    return cdf


def _draw_from_pmf(rng: np.random.Generator, pmf: np.ndarray, size: int) -> np.ndarray:
    """Return ``size`` draws of the positions 0..len(pmf)-1, by inverse CDF."""
    return np.searchsorted(_cdf(pmf), rng.random(size), side="right").astype(np.int64)


def _chunks(item_counts: np.ndarray, chunk_interactions: int) -> list[tuple[int, int]]:
    """Split the users into consecutive ranges of about ``chunk_interactions`` items each."""
    ends = np.cumsum(item_counts, dtype=np.int64)
    boundaries = np.flatnonzero(np.diff(ends // chunk_interactions)) + 1
    edges = [0, *boundaries.tolist(), len(item_counts)]
    return [(start, stop) for start, stop in itertools.pairwise(edges) if stop > start]


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Return the distinct keys, sorted.

    This is faster here than ``np.unique``, which in NumPy 2.4 hashes before sorting.
    """
    keys = np.sort(keys)
    if keys.size == 0:
        return keys
    first = np.empty(keys.size, dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    return keys[first]


def _sorted_contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Return for each of ``keys`` whether it is in the sorted array ``sorted_keys``."""
    positions = np.searchsorted(sorted_keys, keys)
    positions[positions == sorted_keys.size] = 0
    return sorted_keys[positions] == keys


def _keys_to_csr(keys: np.ndarray, n_users: int, n_items: int) -> sp.csr_array:
    """Build the CSR matrix of ones from sorted, unique keys ``user * n_items + item``."""
    index_dtype = np.int32 if max(n_users, n_items, keys.size) < np.iinfo(np.int32).max else np.int64
    users = keys // n_items
    indices = (keys - users * n_items).astype(index_dtype)
    indptr = np.zeros(n_users + 1, dtype=index_dtype)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    matrix = sp.csr_array((np.ones(keys.size, dtype=np.float32), indices, indptr), shape=(n_users, n_items))
    matrix.has_sorted_indices = True
    return matrix


def main(argv: list[str] | None = None) -> None:
    """Draw one named size and print its shape, skew and the time it took."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("size", choices=sorted(SIZES), help="named size to draw")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    parser.add_argument("--out", help="also save the matrix to this .npz file (scipy.sparse.save_npz)")
    args = parser.parse_args(argv)

    size = SIZES[args.size]
    started = time.perf_counter()
    matrix = generate_user_items(size.n_users, size.n_items, size.n_interactions, seed=args.seed)
    elapsed = time.perf_counter() - started
    user_counts = np.diff(matrix.indptr)
    item_counts = np.sort(np.bincount(matrix.indices, minlength=size.n_items))[::-1]
    top_share = item_counts[: max(1, size.n_items // 100)].sum() / max(1, matrix.nnz)
    print(
        f"{size.name}: {matrix.shape[0]:,} users x {matrix.shape[1]:,} items, {matrix.nnz:,} ones "
        f"(target {size.n_interactions:,}) in {elapsed:.1f} s; items per user: median "
        f"{np.median(user_counts):g}, max {user_counts.max():,}; top 1 % of items hold "
        f"{100 * top_share:.1f} % of the ones; pairs sum(d_u^2) = {np.square(user_counts, dtype=np.float64).sum():.3g}"
    )
    if args.out:
        sp.save_npz(args.out, matrix, compressed=False)


if __name__ == "__main__":
    main()
