"""Seeded synthetic browse and purchase events with a known ground truth.

The data is synthetic. It is built so that views, carts and purchases carry
the same hidden taste at different rates and noise levels, which makes it useful
for testing whether a model or an event weighting can use browse signals. Numbers
measured on it are not results on real shop data.

The generative model, for ``n_users`` users and ``n_items`` items:

1. **Item clusters.** The items are shuffled and dealt into ``n_clusters``
   clusters of equal size (plus or minus one). Within a cluster, the item of
   popularity rank ``r`` is drawn with probability proportional to
   ``1 / r ** popularity_exponent``.
2. **User taste.** User ``u`` has a taste ``theta_u`` over the clusters, drawn from
   a symmetric Dirichlet law with concentration ``taste_concentration``. Small
   values (below 1) give users one or two favourite clusters.
3. **Sessions.** User ``u`` has ``1 + Poisson(sessions_per_user - 1)`` sessions,
   each starting at a uniform time within ``days`` days from ``start``. A session
   has one cluster drawn from ``theta_u``.
4. **Views.** A session has ``1 + Poisson(views_per_session - 1)`` views, one
   minute apart on average (exponential gaps). Each view is, with probability
   ``view_noise``, a uniformly random item of the whole catalogue (noise), and
   otherwise an item of the session's cluster drawn by popularity.
5. **Carts.** Each distinct item viewed in a session is added to the cart with
   probability ``cart_rate``; noise views with ``cart_rate * noise_action_factor``.
6. **Purchases.** A carted item is bought with probability ``purchase_from_cart``,
   an item only viewed with probability ``purchase_from_view`` (noise views again
   times ``noise_action_factor``). Every purchase is of an item viewed in the
   same session, a few minutes after the session's last view.

Ground truth: :attr:`SyntheticBrowse.user_tastes` and
:attr:`SyntheticBrowse.item_clusters`. The expected appeal of item ``i`` to user
``u`` is ``theta_u[cluster(i)]`` times the item's within-cluster popularity,
which :meth:`SyntheticBrowse.relevance` returns.

Limits: tastes do not drift over time, sessions are independent given the taste,
items do not substitute or complement each other beyond sharing a cluster, and
there are no repeat purchases across sessions beyond chance. Real shop data has
all of these. Same arguments and seed, same events; a change to this module may
change the events drawn for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.exceptions import DataValidationError

__all__ = ["SyntheticBrowse", "make_browse_purchase"]


@dataclass(frozen=True, eq=False)
class SyntheticBrowse:
    """Synthetic events and the hidden variables that produced them.

    Attributes
    ----------
    events : DataFrame
        Columns ``user_id`` (int), ``item_id`` (int), ``event`` (``view``,
        ``cart`` or ``purchase``) and ``timestamp`` (UTC), sorted by time.
    user_tastes : ndarray of float64, n_users x n_clusters
        ``theta_u`` per user; each row sums to 1.
    item_clusters : ndarray of int64
        Cluster of each item.
    item_popularity : ndarray of float64
        Draw probability of each item within its cluster; sums to 1 per cluster.
    params : dict
        The arguments of :func:`make_browse_purchase`.
    """

    events: pd.DataFrame
    user_tastes: np.ndarray
    item_clusters: np.ndarray
    item_popularity: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def relevance(self) -> np.ndarray:
        """Return the expected appeal of every item to every user, n_users x n_items.

        It is ``theta_u[cluster(i)] * popularity(i)``: the probability that a
        non-noise view of user ``u`` lands on item ``i``.
        """
        return self.user_tastes[:, self.item_clusters] * self.item_popularity[np.newaxis, :]


def make_browse_purchase(
    n_users: int = 2_000,
    n_items: int = 500,
    *,
    n_clusters: int = 10,
    days: float = 60.0,
    sessions_per_user: float = 4.0,
    views_per_session: float = 6.0,
    view_noise: float = 0.2,
    cart_rate: float = 0.15,
    purchase_from_cart: float = 0.5,
    purchase_from_view: float = 0.03,
    noise_action_factor: float = 0.2,
    taste_concentration: float = 0.3,
    popularity_exponent: float = 0.8,
    start: str = "2026-01-01",
    seed: int = 0,
) -> SyntheticBrowse:
    """Draw synthetic sessions of views, carts and purchases (see the module notes).

    Parameters
    ----------
    n_users, n_items : int
        Sizes, >= 1; ``n_items >= n_clusters``.
    n_clusters : int, default 10
        Taste clusters, >= 1.
    days : float, default 60
        Time span of the sessions, > 0.
    sessions_per_user, views_per_session : float
        Means of the session and view counts, >= 1.
    view_noise : float, default 0.2
        Share of views on a uniformly random item, in [0, 1].
    cart_rate, purchase_from_cart, purchase_from_view, noise_action_factor : float
        Probabilities (and the factor for noise views), in [0, 1].
    taste_concentration : float, default 0.3
        Dirichlet concentration of the tastes, > 0.
    popularity_exponent : float, default 0.8
        Zipf exponent of the within-cluster popularity, >= 0.
    start : str, default "2026-01-01"
        Time of day 0, read as UTC.
    seed : int, default 0

    Returns
    -------
    SyntheticBrowse

    Raises
    ------
    DataValidationError
        For a parameter outside its range, naming it.
    """
    params = dict(locals())
    _check_params(params)
    rng = np.random.default_rng(seed)

    item_clusters = np.empty(n_items, dtype=np.int64)
    item_clusters[rng.permutation(n_items)] = np.arange(n_items) % n_clusters
    item_popularity = np.zeros(n_items)
    cluster_items = []
    for cluster in range(n_clusters):
        members = np.flatnonzero(item_clusters == cluster)
        weights = 1.0 / np.arange(1, len(members) + 1) ** popularity_exponent
        item_popularity[members] = weights / weights.sum()
        cluster_items.append(members)

    tastes = rng.dirichlet(np.full(n_clusters, taste_concentration), size=n_users)

    # Sessions: user, start time, cluster.
    n_sessions = 1 + rng.poisson(sessions_per_user - 1, size=n_users)
    session_user = np.repeat(np.arange(n_users), n_sessions)
    session_start = rng.random(len(session_user)) * days * 86_400.0
    cumulative = np.cumsum(tastes[session_user], axis=1)
    draws = rng.random(len(session_user))[:, np.newaxis]
    session_cluster = np.minimum((cumulative < draws).sum(axis=1), n_clusters - 1)

    # Views: session, item, noise flag, seconds since the session start.
    n_views = 1 + rng.poisson(views_per_session - 1, size=len(session_user))
    view_session = np.repeat(np.arange(len(session_user)), n_views)
    noise = rng.random(len(view_session)) < view_noise
    view_item = rng.integers(0, n_items, size=len(view_session))
    view_cluster = session_cluster[view_session]
    for cluster, members in enumerate(cluster_items):
        chosen = ~noise & (view_cluster == cluster)
        view_item[chosen] = rng.choice(members, size=int(chosen.sum()), p=item_popularity[members])
    gaps = rng.exponential(60.0, size=len(view_session))
    first_view = np.repeat(np.cumsum(n_views) - n_views, n_views)
    elapsed = np.cumsum(gaps)
    offsets = elapsed - (elapsed[first_view] - gaps[first_view])
    view_time = session_start[view_session] + offsets

    # Carts and purchases act on the distinct items of a session, at its end.
    pairs = pd.DataFrame({"session": view_session, "item": view_item, "noise": noise, "time": view_time})
    distinct = pairs.groupby(["session", "item"], sort=True).agg(noise=("noise", "all"), time=("time", "max"))
    session_end = pairs.groupby("session")["time"].max()
    session_of = distinct.index.get_level_values("session").to_numpy()
    factor = np.where(distinct["noise"].to_numpy(), noise_action_factor, 1.0)
    carted = rng.random(len(distinct)) < cart_rate * factor
    bought_probability = np.where(carted, purchase_from_cart, purchase_from_view) * factor
    bought = rng.random(len(distinct)) < bought_probability
    end_time = session_end.to_numpy()[session_of]
    cart_time = distinct["time"].to_numpy() + 30.0
    purchase_time = end_time + 60.0 + rng.exponential(180.0, size=len(distinct))

    frames = [
        _events(session_user[view_session], view_item, "view", view_time),
        _events(
            session_user[session_of[carted]],
            distinct.index.get_level_values("item")[carted],
            "cart",
            cart_time[carted],
        ),
        _events(
            session_user[session_of[bought]],
            distinct.index.get_level_values("item")[bought],
            "purchase",
            purchase_time[bought],
        ),
    ]
    events = pd.concat(frames, ignore_index=True)
    origin = pd.Timestamp(start, tz="UTC")
    events["timestamp"] = origin + pd.to_timedelta(np.round(events.pop("seconds").to_numpy()), unit="s")
    events = events.sort_values(["timestamp", "user_id", "item_id"], kind="stable").reset_index(drop=True)
    return SyntheticBrowse(events, tastes, item_clusters, item_popularity, params)


def _events(users: np.ndarray, items: Any, event: str, seconds: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": np.asarray(users, dtype=np.int64),
            "item_id": np.asarray(items, dtype=np.int64),
            "event": event,
            "seconds": np.asarray(seconds, dtype=np.float64),
        }
    )


def _check_params(params: dict[str, Any]) -> None:
    def fail(name: str, expected: str) -> DataValidationError:
        return DataValidationError(f"{name} must be {expected}; got {params[name]!r}")

    for name in ("n_users", "n_items", "n_clusters", "seed"):
        value = params[name]
        minimum = 0 if name == "seed" else 1
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise fail(name, f"an int >= {minimum}")
    if params["n_items"] < params["n_clusters"]:
        raise fail("n_items", f"at least n_clusters={params['n_clusters']}")
    checks = {
        "days": lambda v: v > 0,
        "sessions_per_user": lambda v: v >= 1,
        "views_per_session": lambda v: v >= 1,
        "taste_concentration": lambda v: v > 0,
        "popularity_exponent": lambda v: v >= 0,
    }
    ranges = {
        "days": "a number > 0",
        "sessions_per_user": "a number >= 1",
        "views_per_session": "a number >= 1",
        "taste_concentration": "a number > 0",
        "popularity_exponent": "a number >= 0",
    }
    for name in (
        "view_noise",
        "cart_rate",
        "purchase_from_cart",
        "purchase_from_view",
        "noise_action_factor",
    ):
        checks[name] = lambda v: 0 <= v <= 1
        ranges[name] = "a probability in [0, 1]"
    for name, check in checks.items():
        value = params[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.integer, np.floating))
            or not np.isfinite(value)
            or not check(value)
        ):
            raise fail(name, ranges[name])
