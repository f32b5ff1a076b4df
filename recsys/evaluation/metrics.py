"""Ranking metrics at a cutoff ``k``, per user, and list-level metrics.

Per-user metrics compare one ranked list of recommended items with the set of
items that are relevant to the user (the held-out test items). Relevance is
binary. An item that appears more than once in a list counts at its first
position only. Every per-user metric is NaN when the relevant set is empty,
because such a user has nothing to find and averaging a 0 for them would bias the
mean down.

List-level metrics describe the lists themselves: how much of the catalogue they
cover, how popular their items are, and how varied their categories are.

The public functions take plain Python sequences. :func:`recsys.evaluation.evaluate`
computes the same quantities for every test user at once with the private array
functions below, which the public functions also call, so both paths share one
implementation.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recsys.exceptions import DataValidationError

__all__ = [
    "LIST_METRICS",
    "RANKING_METRICS",
    "average_precision_at_k",
    "catalogue_coverage",
    "hit_rate_at_k",
    "intra_list_diversity",
    "item_popularity",
    "mean_popularity",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank_at_k",
]

#: Per-user ranking metrics, in the order :func:`~recsys.evaluation.evaluate` reports them.
#: The mean of ``map`` over users is the mean average precision, of ``mrr`` the mean
#: reciprocal rank, and of ``hit_rate`` the share of users with at least one hit.
RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")

#: List-level metrics: catalogue coverage, mean item popularity, intra-list diversity.
LIST_METRICS = ("coverage", "popularity", "diversity")


# --------------------------------------------------------------------------- per user


def precision_at_k(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Compute the share of the first ``k`` slots that hold a relevant item.

    Parameters
    ----------
    recommended : sequence of ids
        The ranked list, best first.
    relevant : collection of ids
        The items the user is known to want.
    k : int
        The cutoff, >= 1.

    Returns
    -------
    float
        In [0, 1], or NaN when ``relevant`` is empty.

    Notes
    -----
    .. math:: P@k = \\frac{|\\{i \\le k : r_i = 1\\}|}{k}

    where :math:`r_i` is 1 when the item at rank :math:`i` is relevant. The
    denominator is ``k`` even when the list is shorter, so a list that leaves slots
    empty scores lower than a full list with the same hits.
    """
    return float(_single(recommended, relevant, k)["precision"])


def recall_at_k(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Compute the share of the relevant items found in the first ``k`` slots.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k`.

    Returns
    -------
    float
        In [0, 1], or NaN when ``relevant`` is empty.

    Notes
    -----
    .. math:: R@k = \\frac{|\\{i \\le k : r_i = 1\\}|}{|\\mathrm{rel}|}

    The denominator is the whole relevant set, so recall cannot reach 1 when
    :math:`|\\mathrm{rel}| > k`, and relevant items that no model can recommend
    (for example items absent from the training data) still count.
    """
    return float(_single(recommended, relevant, k)["recall"])


def ndcg_at_k(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Compute the normalised discounted cumulative gain of the first ``k`` slots.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k`.

    Returns
    -------
    float
        In [0, 1], or NaN when ``relevant`` is empty.

    Notes
    -----
    With binary relevance and the log2 discount,

    .. math::

        \\mathrm{DCG}@k = \\sum_{i=1}^{k} \\frac{r_i}{\\log_2(i + 1)}, \\qquad
        \\mathrm{IDCG}@k = \\sum_{i=1}^{\\min(k, |\\mathrm{rel}|)} \\frac{1}{\\log_2(i + 1)}, \\qquad
        \\mathrm{nDCG}@k = \\frac{\\mathrm{DCG}@k}{\\mathrm{IDCG}@k}

    The ideal list puts every relevant item first, so nDCG is 1 exactly when the
    first :math:`\\min(k, |\\mathrm{rel}|)` slots are all hits.

    References
    ----------
    K. Järvelin, J. Kekäläinen, "Cumulated gain-based evaluation of IR techniques",
    ACM Transactions on Information Systems 20(4): 422-446, 2002.
    """
    return float(_single(recommended, relevant, k)["ndcg"])


def average_precision_at_k(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Compute the average precision of the first ``k`` slots.

    The mean of this value over users is the mean average precision (MAP@k).

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k`.

    Returns
    -------
    float
        In [0, 1], or NaN when ``relevant`` is empty.

    Notes
    -----
    .. math::

        \\mathrm{AP}@k = \\frac{1}{\\min(k, |\\mathrm{rel}|)} \\sum_{i=1}^{k} P@i \\cdot r_i

    Normalising by :math:`\\min(k, |\\mathrm{rel}|)` rather than
    :math:`|\\mathrm{rel}|` lets a perfect list reach 1 when the user has more than
    ``k`` relevant items.
    """
    return float(_single(recommended, relevant, k)["map"])


def hit_rate_at_k(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Return 1.0 when a relevant item is among the first ``k`` slots, else 0.0.

    The mean over users is the hit rate: the share of users with at least one hit.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k`.

    Returns
    -------
    float
        0.0 or 1.0, or NaN when ``relevant`` is empty.

    Notes
    -----
    .. math:: \\mathrm{HR}@k = \\mathbb{1}\\left[\\sum_{i=1}^{k} r_i > 0\\right]
    """
    return float(_single(recommended, relevant, k)["hit_rate"])


def reciprocal_rank_at_k(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Compute one over the rank of the first relevant item among the first ``k`` slots.

    The mean over users is the mean reciprocal rank (MRR@k).

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k`.

    Returns
    -------
    float
        In [0, 1], and 0.0 when no relevant item is in the first ``k`` slots. NaN
        when ``relevant`` is empty.

    Notes
    -----
    .. math:: \\mathrm{RR}@k = \\frac{1}{\\min\\{i \\le k : r_i = 1\\}}

    with :math:`\\mathrm{RR}@k = 0` when the set is empty.
    """
    return float(_single(recommended, relevant, k)["mrr"])


# --------------------------------------------------------------------------- lists


def catalogue_coverage(
    recommendation_lists: Iterable[Sequence[Hashable]], catalogue_size: int, k: int
) -> float:
    """Compute the share of the catalogue that appears in at least one list.

    Parameters
    ----------
    recommendation_lists : iterable of sequences of ids
        One ranked list per user.
    catalogue_size : int
        Number of items that could be recommended, >= 1: for a fitted model,
        ``len(model.item_ids_)``.
    k : int
        Only the first ``k`` items of each list count, >= 1.

    Returns
    -------
    float
        In [0, 1] when every recommended item belongs to the catalogue.

    Notes
    -----
    .. math::

        \\mathrm{coverage}@k = \\frac{\\left|\\bigcup_u L_u[1..k]\\right|}{|I|}

    where :math:`L_u` is the list of user :math:`u` and :math:`I` the catalogue.
    Coverage grows with the number of users, so compare it only between models
    evaluated on the same users.
    """
    k = _check_k(k)
    size = _check_positive_int(catalogue_size, "catalogue_size")
    distinct: set[Hashable] = set()
    for items in recommendation_lists:
        distinct.update(list(items)[:k])
    return len(distinct) / size


def mean_popularity(recommended: Sequence[Hashable], popularity: Mapping[Hashable, float], k: int) -> float:
    """Compute the mean popularity of the first ``k`` items of a list.

    A low value means the list favours rarely chosen items, which is a measure of
    novelty.

    Parameters
    ----------
    recommended : sequence of ids
        The ranked list, best first.
    popularity : mapping of id to float
        Popularity of each item, such as the output of :func:`item_popularity` on
        the training events. Items missing from the mapping count as 0.
    k : int
        The cutoff, >= 1.

    Returns
    -------
    float
        NaN for an empty list.

    Notes
    -----
    .. math:: \\mathrm{pop}@k = \\frac{1}{|L[1..k]|} \\sum_{i \\in L[1..k]} p_i

    where :math:`p_i` is the popularity of item :math:`i`.
    """
    k = _check_k(k)
    items = _distinct_prefix(recommended, k)
    values = np.array([[float(popularity.get(item, 0.0)) for item in items]], dtype=np.float64)
    return float(_mean_popularity_rows(values.reshape(1, -1), k)[0])


def intra_list_diversity(
    recommended: Sequence[Hashable], item_categories: Mapping[Hashable, Hashable], k: int
) -> float:
    """Compute the share of item pairs in the first ``k`` slots whose categories differ.

    Parameters
    ----------
    recommended : sequence of ids
        The ranked list, best first.
    item_categories : mapping of id to category
        The category of each item. Items without a category (missing from the
        mapping, or mapped to None or NaN) are left out of the pairs.
    k : int
        The cutoff, >= 1.

    Returns
    -------
    float
        In [0, 1], or NaN when fewer than two of the first ``k`` items have a category.

    Notes
    -----
    For the :math:`m` categorised items :math:`c_1, \\dots, c_m` among the first
    ``k``,

    .. math::

        \\mathrm{ILD}@k = \\frac{2}{m (m - 1)} \\sum_{i < j} \\mathbb{1}[c_i \\ne c_j]

    References
    ----------
    C.-N. Ziegler, S. M. McNee, J. A. Konstan, G. Lausen, "Improving recommendation
    lists through topic diversification", WWW 2005.
    """
    k = _check_k(k)
    items = _distinct_prefix(recommended, k)
    categories = pd.Series([item_categories.get(item) for item in items], dtype=object)
    codes = _category_codes(categories).reshape(1, -1)
    return float(_diversity_rows(codes, k)[0])


def item_popularity(events: pd.DataFrame) -> pd.Series:
    """Compute the share of users who have each item, from an events table.

    Parameters
    ----------
    events : DataFrame
        With ``user_id`` and ``item_id`` columns, such as ``Split.train``. Every
        event type counts, and a user counts once per item.

    Returns
    -------
    pandas.Series
        Indexed by ``item_id``, values in (0, 1], most popular first (ties by id).

    Notes
    -----
    .. math:: p_i = \\frac{|\\{u : u \\text{ has an event on } i\\}|}{|U|}

    where :math:`U` is the set of users in ``events``.
    """
    if not isinstance(events, pd.DataFrame):
        raise DataValidationError(f"events must be a pandas DataFrame; got {type(events).__name__}")
    missing = [column for column in ("user_id", "item_id") if column not in events.columns]
    if missing:
        raise DataValidationError(
            f"events are missing the column(s) {missing}; got columns {list(map(str, events.columns))}"
        )
    n_users = events["user_id"].nunique()
    if n_users == 0:
        return pd.Series([], dtype=np.float64, name="popularity")
    pairs = events[["user_id", "item_id"]].drop_duplicates()
    counts = pairs.groupby("item_id", sort=True)["user_id"].size()
    shares = (counts / n_users).astype(np.float64)
    shares = shares.iloc[np.argsort(-shares.to_numpy(), kind="stable")]
    shares.name = "popularity"
    return shares


# --------------------------------------------------------------------------- checks


def _check_k(k: Any, name: str = "k") -> int:
    """Return ``k`` as an int, or raise DataValidationError unless it is an int >= 1."""
    return _check_positive_int(k, name)


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataValidationError(f"{name} must be an int >= 1; got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- arrays


def _ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Compute every metric of :data:`RANKING_METRICS` for many users at once.

    Parameters
    ----------
    hits : bool array, shape (n_users, n_slots)
        ``hits[u, i]`` is True when the item at rank ``i + 1`` of user ``u`` is
        relevant and is its first occurrence in the list. Missing slots are False.
    n_relevant : int array, shape (n_users,)
        Size of each user's relevant set.
    k : int
        The cutoff. Columns beyond ``k`` are ignored, and missing ones count as misses.

    Returns
    -------
    dict of str to float64 array, shape (n_users,)
        Keyed by the names of :data:`RANKING_METRICS`. Users with
        ``n_relevant == 0`` get NaN.
    """
    n_users = hits.shape[0]
    top = np.zeros((n_users, k), dtype=bool)
    width = min(k, hits.shape[1])
    top[:, :width] = hits[:, :width]
    n_relevant = np.asarray(n_relevant, dtype=np.int64)
    defined = n_relevant > 0

    ranks = np.arange(1, k + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(ranks + 1.0)
    n_hits = top.sum(axis=1).astype(np.float64)
    ideal_length = np.minimum(k, n_relevant)

    # Index 0 of the padded cumulative sums is the empty prefix, so users without
    # relevant items read 0 there before they are set to NaN below.
    ideal_dcg = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_length]
    precision_at_rank = np.cumsum(top, axis=1) / ranks
    first_hit = np.argmax(top, axis=1)

    values = {
        "precision": n_hits / k,
        "recall": _divide(n_hits, n_relevant),
        "ndcg": _divide(top @ discounts, ideal_dcg),
        "map": _divide((precision_at_rank * top).sum(axis=1), ideal_length),
        "hit_rate": (n_hits > 0).astype(np.float64),
        "mrr": np.where(n_hits > 0, 1.0 / (first_hit + 1.0), 0.0),
    }
    for array in values.values():
        array[~defined] = np.nan
    return values


def _mean_popularity_rows(popularity: np.ndarray, k: int) -> np.ndarray:
    """Compute the mean popularity of the first ``k`` slots per row; NaN marks an empty slot."""
    top = popularity[:, :k]
    filled = ~np.isnan(top)
    count = filled.sum(axis=1)
    total = np.where(filled, top, 0.0).sum(axis=1)
    return _divide(total, count)


def _diversity_rows(category_codes: np.ndarray, k: int) -> np.ndarray:
    """Compute the intra-list diversity of the first ``k`` slots per row.

    ``category_codes`` contains a non-negative code per slot, and -1 for an empty slot
    or an item without a category.
    """
    top = category_codes[:, :k]
    width = top.shape[1]
    known = top >= 0
    n_pairs = np.zeros(top.shape[0], dtype=np.float64)
    n_different = np.zeros(top.shape[0], dtype=np.float64)
    for first in range(width):
        for second in range(first + 1, width):
            both = known[:, first] & known[:, second]
            n_pairs += both
            n_different += both & (top[:, first] != top[:, second])
    return _divide(n_different, n_pairs)


def _category_codes(categories: pd.Series) -> np.ndarray:
    """Return an int64 code per value: equal categories share a code, missing ones get -1."""
    codes, _ = pd.factorize(categories, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Divide elementwise, with NaN where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    result = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=result, where=denominator != 0)
    return result


def _distinct_prefix(recommended: Sequence[Hashable], k: int) -> list[Hashable]:
    """Return the first ``k`` slots of a list with repeated items removed."""
    _check_sequence(recommended, "recommended")
    seen: set[Hashable] = set()
    items = []
    for item in list(recommended)[:k]:
        if item not in seen:
            seen.add(item)
            items.append(item)
    return items


def _check_sequence(value: Any, name: str) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise DataValidationError(f"{name} must be a list of item ids; got {type(value).__name__} {value!r}")


def _single(recommended: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> dict[str, float]:
    """Compute the ranking metrics of one list, through the same code as the batch path."""
    k = _check_k(k)
    _check_sequence(recommended, "recommended")
    _check_sequence(relevant, "relevant")
    relevant_set = set(relevant)
    seen: set[Hashable] = set()
    hits = np.zeros((1, k), dtype=bool)
    for rank, item in enumerate(list(recommended)[:k]):
        hits[0, rank] = item in relevant_set and item not in seen
        seen.add(item)
    values = _ranking_metrics(hits, np.array([len(relevant_set)]), k)
    return {name: float(array[0]) for name, array in values.items()}
