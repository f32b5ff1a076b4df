"""Cross-occurrence: which views, carts and purchases of an item lead to purchases of another.

The model follows the correlated cross-occurrence (CCO) idea of Apache Mahout's
``SimilarityAnalysis``: one *primary* event type is what should be predicted
(purchases), and every other event type is tested as evidence for it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._ids import Id
from recsys.data import Interactions
from recsys.exceptions import DataValidationError
from recsys.llr import log_likelihood_ratio_from_counts
from recsys.models._sparse_rows import ranked_row, row_contributions, sum_rows
from recsys.models.base import N_REASONS, Recommender, _recent_frame
from recsys.results import Recommendation

__all__ = ["CrossOccurrence"]

logger = logging.getLogger(__name__)


class CrossOccurrence(Recommender):
    """Purchase prediction from cross-occurrence indicators scored by log-likelihood ratio.

    ``P`` is the primary event type (users x items, 1 where a user had the event).
    The indicator event types ``E`` are the primary itself first, then the
    secondary types such as views and carts. For each ``E``, fitting counts
    ``C_E = E^T P``, so ``C_E[j, i]`` users did ``E`` on item ``j`` and the
    primary event on item ``i``. Each stored pair is scored with Dunning's log-likelihood
    ratio (G², see :mod:`recsys.llr`) of the 2 x 2 table over all ``N`` fitted
    users::

        [[k11,        r_j - k11            ],
         [c_i - k11,  N - r_j - c_i + k11  ]]

    with ``k11 = C_E[j, i]``, ``r_j`` the users who did ``E`` on ``j`` and ``c_i``
    the users who did the primary event on ``i``. A pair is kept when ``i`` is
    over-represented among those users (``k11 * N > r_j * c_i``), its G² is at
    least ``min_llr``, and it is among the ``n_neighbors`` best of row ``j`` of
    that indicator (ties to the smaller item position). The primary indicator
    ``P^T P`` drops the diagonal. A secondary indicator keeps it, because viewing
    an item and then buying that same item is the strongest browse signal.

    A request scores item ``i`` as

    .. math:: \\mathrm{score}(i) = \\sum_E w_E \\sum_{j \\in h_E} \\mathrm{LLR}_E(j, i)

    where ``h_E`` is the set of items on which the user had event type ``E`` and
    ``w_E`` is the indicator weight.

    Parameters
    ----------
    primary_event : str, default "purchase"
        The event type to predict.
    secondary_events : sequence of str, optional
        Event types tested as indicators of the primary one. None (the default)
        uses every other event type of the data with an event weight > 0.
    n_neighbors : int, default 50
        Pairs kept per item and indicator, >= 1. 50 is Mahout's default number of
        indicators per item and event type.
    min_llr : float, default 0.0
        Minimum G² of a kept pair, >= 0. Under independence G² follows a
        chi-squared law with one degree of freedom, so 3.84 is the 5 % level of a
        single test and 6.63 the 1 % level.
    indicator_weights : mapping of str to float, optional
        ``w_E`` per indicator event type, each a finite number >= 0; types not
        named weigh 1.
    event_weights, half_life_days, count_repeats
        See :class:`~recsys.models.base.Recommender`. They shape ``user_items_``
        (popularity, backfill and the evaluation's leak check) but not the
        indicators, which only read whether a user had an event type on an item.
        An event type with weight 0 is dropped from the data, so it cannot be an
        indicator.

    Attributes
    ----------
    indicators_ : csr_array, (n_indicators * n_items) x n_items, float32
        The indicator matrices stacked: row ``s * n_items + j`` contains the G² of the
        pairs ``(j, i)`` of indicator ``s``.
    indicator_events_ : tuple of str
        The event type of each indicator, the primary event first.
    indicator_weights_ : ndarray of float64
        ``w_E`` of each indicator.

    Notes
    -----
    What a request reads as history:

    - a fitted user: for each indicator event type, the items the user had that
      event type on, each counted once;
    - ``recent`` events given as a DataFrame: the same, from their ``event``
      column (event types that are not indicators are ignored);
    - a basket, and ``recent`` given as a mapping of item to weight: the items
      count as primary events (purchases) with the given weights, so a basket
      reads as "customers who bought these also bought".

    ``similar_items`` lists the primary indicator's row: items bought by the
    buyers of the item. ``Recommendation.signals`` names the (event type, history
    item) pairs that contributed most to each pick, and :meth:`explain` adds an
    ``event`` column.

    The co-count matrix ``E^T P`` of each indicator is built whole with SciPy
    before pruning, so fitting needs memory for about ``sum_u d_E(u) * d_P(u)``
    pairs, where ``d_E(u)`` is the number of items with event type ``E`` of user
    ``u``.

    References
    ----------
    T. Dunning, "Accurate methods for the statistics of surprise and coincidence",
    Computational Linguistics 19(1), 1993.
    P. Ferrel, "Multi-domain predictive AI or how to make one thing predict
    another", 2017, and Apache Mahout's ``SimilarityAnalysis.cooccurrencesIDSs``.

    Examples
    --------
    >>> import pandas as pd
    >>> from recsys import CrossOccurrence
    >>> events = pd.DataFrame({
    ...     "user_id": ["a", "a", "b", "b", "c", "d"],
    ...     "item_id": ["tea", "cup", "tea", "cup", "tea", "pot"],
    ...     "event": ["view", "purchase", "view", "purchase", "view", "purchase"],
    ... })
    >>> model = CrossOccurrence().fit(events)
    >>> top = model.recommend("c")[0]
    >>> top.item_id, top.signals
    ('cup', (('view', 'tea'),))
    """

    def __init__(
        self,
        primary_event: str = "purchase",
        secondary_events: Sequence[str] | None = None,
        n_neighbors: int = 50,
        min_llr: float = 0.0,
        indicator_weights: Mapping[str, float] | None = None,
        *,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        count_repeats: bool | None = None,
    ) -> None:
        self.primary_event = primary_event
        self.secondary_events = secondary_events
        self.n_neighbors = n_neighbors
        self.min_llr = min_llr
        self.indicator_weights = indicator_weights
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.count_repeats = count_repeats

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters as a JSON-friendly dict."""
        params = super().get_params()
        if params["secondary_events"] is not None:
            params["secondary_events"] = list(params["secondary_events"])
        if params["indicator_weights"] is not None:
            params["indicator_weights"] = dict(params["indicator_weights"])
        return params

    # ----------------------------------------------------------------- fitting

    def _fit_model(self, interactions: Interactions) -> None:
        _check_count(self.n_neighbors, "n_neighbors")
        min_llr = _check_number(self.min_llr, "min_llr")
        events = self._indicator_events(interactions)
        weights = _indicator_weights(self.indicator_weights, events)

        primary = _presence(interactions.event_user_items[self.primary_event])
        if primary.nnz == 0:
            raise DataValidationError(
                f"the data has no {self.primary_event!r} events, the primary event type of "
                f"CrossOccurrence; pass primary_event= one of {list(interactions.event_weights)}"
            )
        n_users = float(interactions.shape[0])
        blocks = []
        for event in events:
            secondary = _presence(interactions.event_user_items[event])
            indicator = indicator_matrix(
                secondary,
                primary,
                n_users=n_users,
                n_neighbors=int(self.n_neighbors),
                min_llr=min_llr,
                drop_diagonal=event == self.primary_event,
            )
            logger.debug("indicator %s -> %s: %s pairs", event, self.primary_event, f"{indicator.nnz:,}")
            blocks.append(indicator)
        self.indicators_ = _stack(blocks)
        self.indicator_events_ = events
        self.indicator_weights_ = weights

    def _indicator_events(self, interactions: Interactions) -> tuple[str, ...]:
        """Validate the indicator event types and return them, the primary first."""
        known = interactions.event_weights
        if not isinstance(self.primary_event, str) or self.primary_event not in known:
            raise DataValidationError(
                f"primary_event={self.primary_event!r} is not an event type of the data; "
                f"use one of {list(known)}"
            )
        if self.secondary_events is None:
            secondary = [
                event for event, weight in known.items() if event != self.primary_event and weight > 0
            ]
        else:
            if isinstance(self.secondary_events, str) or not isinstance(self.secondary_events, Sequence):
                raise DataValidationError(
                    f"secondary_events must be a list of event types or None; got {self.secondary_events!r}"
                )
            secondary = list(dict.fromkeys(self.secondary_events))
            for event in secondary:
                if event not in known or event == self.primary_event:
                    raise DataValidationError(
                        f"secondary_events names {event!r}, which is not an event type of the data "
                        f"other than the primary {self.primary_event!r}; use some of "
                        f"{[name for name in known if name != self.primary_event]}"
                    )
                if known[event] == 0:
                    raise DataValidationError(
                        f"secondary event type {event!r} has event weight 0, so its events were dropped; "
                        f"give it a weight > 0 in event_weights or leave it out of secondary_events"
                    )
        if known[self.primary_event] == 0:
            raise DataValidationError(
                f"the primary event type {self.primary_event!r} has event weight 0, so its events "
                f"were dropped; give it a weight > 0 in event_weights"
            )
        return (self.primary_event, *secondary)

    # ----------------------------------------------------------------- scoring

    def _key_weights(self, keys: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Return the history weights times the weight of each key's indicator."""
        return weights * self.indicator_weights_[keys // len(self.item_ids_)]

    def _score(self, history: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return sum_rows(self.indicators_, history, self._key_weights(history, weights))

    def _neighbors(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        return ranked_row(self.indicators_, item)

    def _contributions(self, history: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return row_contributions(self.indicators_, history, self._key_weights(history, weights), targets)

    # ----------------------------------------------------------------- histories

    # A history key is ``indicator * n_items + item``. Keys below n_items are primary
    # events, so item positions from a basket or an exclude list are valid keys.

    def _split_keys(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the indicator and the item position of each history key."""
        return np.divmod(np.asarray(keys, dtype=np.int64), len(self.item_ids_))

    def _user_history(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the history keys of a fitted user, one per (indicator event, item), each weighing 1."""
        items, _ = super()._user_history(user)
        start = self.user_items_.indptr[user]
        bits = self.seen_events_[start : start + len(items)]
        n_items = len(self.item_ids_)
        keys = []
        for indicator, event in enumerate(self.indicator_events_):
            bit = 1 << self.event_names_.index(event)
            keys.append(indicator * n_items + items[(bits & bit) != 0])
        history = np.concatenate(keys).astype(np.int64)
        return history, np.ones(len(history))

    def _seen_in_history(self, user: int, history: np.ndarray, seen_mask: int | None) -> np.ndarray:
        """Return the item positions of a fitted user that ``exclude_seen`` leaves out."""
        # ``history`` contains keys here, so read the items from the fitted row instead.
        items, _ = super()._user_history(user)
        return super()._seen_in_history(user, items, seen_mask)

    def _recent_history(
        self, recent: Mapping[Id, float] | pd.DataFrame | None, seen_mask: int | None, unknown: list[Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the history keys and weights of recent events, and the item positions seen."""
        positions, weights, seen = super()._recent_history(recent, seen_mask, unknown)
        if not isinstance(recent, pd.DataFrame):
            return positions, weights, seen
        frame = _recent_frame(recent, self._event_weights())
        frame = frame[(frame["value"] > 0) & frame["event"].isin(self.indicator_events_)]
        items = self.item_ids_.indices_of(frame["item_id"].tolist())
        indicators = frame["event"].map({event: s for s, event in enumerate(self.indicator_events_)})
        known = items >= 0
        keys = np.unique(indicators.to_numpy(dtype=np.int64)[known] * len(self.item_ids_) + items[known])
        return keys, np.ones(len(keys)), seen

    # ----------------------------------------------------------------- reasons

    def _similar_items_with_reasons(
        self, history: np.ndarray, weights: np.ndarray, chosen: np.ndarray, scores: np.ndarray
    ) -> tuple[Recommendation, ...]:
        if len(chosen) == 0:
            return ()
        contributions = self._contributions(history, weights, chosen)
        indicators, items = self._split_keys(history)
        result = []
        for row, (item_id, position) in enumerate(zip(self.item_ids_.ids_of(chosen), chosen, strict=True)):
            shares = contributions[row]
            top_keys = np.lexsort((history, -shares))
            top_keys = top_keys[shares[top_keys] > 0][:N_REASONS]
            signals = tuple(
                (self.indicator_events_[indicators[key]], self.item_ids_.id_of(items[key]))
                for key in top_keys
            )
            # ``because`` names items, so a viewed-and-bought item counts once, with its total share.
            per_item = np.bincount(items, weights=shares, minlength=len(self.item_ids_))
            touched = np.unique(items[shares > 0])
            top_items = touched[np.lexsort((touched, -per_item[touched]))][:N_REASONS]
            because = tuple(self.item_ids_.ids_of(top_items))
            result.append(Recommendation(item_id, float(scores[position]), "similar", because, signals))
        return tuple(result)

    def explain(
        self,
        item_id: Id,
        *,
        user_id: Id | None = None,
        basket: Sequence[Id] | Mapping[Id, float] | None = None,
    ) -> pd.DataFrame:
        """Break the score of ``item_id`` down by (event type, history item).

        Give either ``user_id`` (the fitted history) or ``basket`` (read as primary
        events).

        Returns
        -------
        DataFrame
            Columns ``history_item_id``, ``event`` (the indicator event type),
            ``weight`` (history weight times indicator weight) and
            ``contribution``, largest contribution first; contributions sum to
            the item's score.
        """
        history, weights, contributions, order = self._explained_history(item_id, user_id, basket)
        indicators, items = self._split_keys(history[order])
        frame = pd.DataFrame(
            {
                "history_item_id": pd.Series(self.item_ids_.ids_of(items), dtype=object),
                "event": pd.Series([self.indicator_events_[s] for s in indicators], dtype=object),
                "weight": self._key_weights(history, weights)[order],
                "contribution": contributions[order],
            }
        )
        return frame[frame["contribution"] > 0].reset_index(drop=True)

    # ----------------------------------------------------------------- persistence

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {
            "indicators_indptr": self.indicators_.indptr,
            "indicators_indices": self.indicators_.indices,
            "indicators_data": self.indicators_.data,
            "indicator_event_codes": np.array(
                [self.event_names_.index(event) for event in self.indicator_events_], dtype=np.int64
            ),
            "indicator_weights": np.asarray(self.indicator_weights_, dtype=np.float64),
        }

    def _restore_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        n_items = len(self.item_ids_)
        codes = np.asarray(arrays["indicator_event_codes"]).tolist()
        self.indicator_events_ = tuple(self.event_names_[code] for code in codes)
        self.indicator_weights_ = np.asarray(arrays["indicator_weights"], dtype=np.float64)
        self.indicators_ = sp.csr_array(
            (arrays["indicators_data"], arrays["indicators_indices"], arrays["indicators_indptr"]),
            shape=(len(codes) * n_items, n_items),
            copy=False,
        )


def indicator_matrix(
    secondary: sp.csr_array,
    primary: sp.csr_array,
    *,
    n_users: float,
    n_neighbors: int,
    min_llr: float = 0.0,
    drop_diagonal: bool = False,
) -> sp.csr_array:
    """Score the cross-occurrence ``secondary^T primary`` by G² and prune it.

    Parameters
    ----------
    secondary, primary : csr_array, users x items
        Binary presence matrices of the two event types, same shape.
    n_users : float
        ``N`` of the 2 x 2 tables: every user that was counted.
    n_neighbors : int
        Pairs kept per row (secondary item), best G² first, ties to the smaller
        column.
    min_llr : float
        Minimum G² of a kept pair.
    drop_diagonal : bool
        Leave out the pairs ``(i, i)``.

    Returns
    -------
    csr_array, items x items, float32
        Row ``j``, column ``i``: the G² of "did the secondary event on ``j``" and
        "did the primary event on ``i``", for over-represented pairs only. Columns
        are sorted within each row.
    """
    n_items = primary.shape[1]
    counts = sp.csr_array(secondary.T.tocsr() @ primary)
    counts.sum_duplicates()
    rows = np.repeat(np.arange(n_items, dtype=np.int64), np.diff(counts.indptr))
    columns = np.asarray(counts.indices, dtype=np.int64)
    k11 = np.asarray(counts.data, dtype=np.float64)

    row_totals = np.bincount(secondary.indices, minlength=n_items).astype(np.float64)
    column_totals = np.bincount(primary.indices, minlength=n_items).astype(np.float64)
    g2 = log_likelihood_ratio_from_counts(k11, row_totals[rows], column_totals[columns], n_users)

    keep = (k11 * n_users > row_totals[rows] * column_totals[columns]) & (g2 > 0) & (g2 >= min_llr)
    if drop_diagonal:
        keep &= rows != columns
    rows, columns, g2 = rows[keep], columns[keep], g2[keep]

    # Rank within each row by G² (ties to the smaller column) and keep the best n_neighbors.
    order = np.lexsort((columns, -g2, rows))
    rows, columns, g2 = rows[order], columns[order], g2[order]
    row_starts = np.searchsorted(rows, np.arange(n_items))
    rank = np.arange(len(rows)) - row_starts[rows]
    top = rank < n_neighbors
    pruned = sp.csr_array((g2[top].astype(np.float32), (rows[top], columns[top])), shape=(n_items, n_items))
    pruned.sort_indices()
    return pruned


def _presence(matrix: sp.csr_array) -> sp.csr_array:
    """Return a float64 matrix with 1 wherever ``matrix`` has a value > 0."""
    present = sp.csr_array(matrix.astype(np.float64))
    present.data = (present.data > 0).astype(np.float64)
    present.eliminate_zeros()
    return present


def _stack(blocks: list[sp.csr_array]) -> sp.csr_array:
    stacked = sp.csr_array(sp.vstack(blocks, format="csr"), dtype=np.float32)
    stacked.sort_indices()
    return stacked


def _indicator_weights(weights: Mapping[str, float] | None, events: tuple[str, ...]) -> np.ndarray:
    if weights is None:
        return np.ones(len(events))
    if not isinstance(weights, Mapping):
        raise DataValidationError(
            f"indicator_weights must be a mapping of event type to weight, such as "
            f"{{'purchase': 1.0, 'view': 0.5}}; got {weights!r}"
        )
    unknown = sorted(str(event) for event in weights if event not in events)
    if unknown:
        raise DataValidationError(
            f"indicator_weights names {unknown}, which are not indicator event types; use some of {list(events)}"
        )
    return np.array(
        [_check_number(weights.get(event, 1.0), f"indicator_weights[{event!r}]") for event in events]
    )


def _check_number(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or value < 0
    ):
        raise DataValidationError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataValidationError(f"{name} must be an int >= 1; got {value!r}")
    return int(value)
