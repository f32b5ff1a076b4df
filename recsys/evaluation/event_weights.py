"""Learn the weight of each event type (view, cart, purchase) from future purchases.

:func:`tune_event_weights` holds out the last part of the events as validation
and searches the event weights one type at a time (coordinate search over a
small grid). It then measures, for each event type, the metric with the best
weights and with that type's weight set to 0. A paired bootstrap over the
validation users gives an interval for the difference, so the result shows
whether each event type helps, hurts, or makes no clear difference.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import DEFAULT_EVENT_WEIGHTS, validate_event_weights
from recsys.evaluation.evaluate import CONFIDENCE, Evaluation, evaluate
from recsys.evaluation.metrics import RANKING_METRICS
from recsys.evaluation.splits import Split, temporal_split
from recsys.exceptions import DataValidationError
from recsys.models.base import Recommender
from recsys.models.item_knn import ItemKNN

__all__ = ["DEFAULT_WEIGHT_GRID", "MIN_VALIDATION_USERS", "EventWeightsResult", "tune_event_weights"]

logger = logging.getLogger(__name__)

#: Candidate weights tried for each event type. 0 leaves the type out.
DEFAULT_WEIGHT_GRID = (0.0, 0.5, 1.0, 2.0, 5.0)

#: Minimum number of validation users with targets. Below it,
#: :attr:`EventWeightsResult.inconclusive_reason` is set. A rough floor, not a power
#: calculation: with fewer users, one user's hit decides the ranking of the weight sets.
MIN_VALIDATION_USERS = 30


@dataclass(frozen=True)
class EventWeightsResult:
    """Outcome of :func:`tune_event_weights`.

    Attributes
    ----------
    best_weights : dict of str to float
        The event weights with the best ``metric@k`` on the validation split.
    trials : DataFrame
        Every weight set scored, best first: one column per event type, then
        ``value``, ``ci_low``, ``ci_high`` (95 % bootstrap interval over users) and
        ``seconds``.
    effects : DataFrame
        One row per event type: ``event``, ``weight`` (the weight the "with" row
        used), ``with`` and ``without`` (the metric with that weight and with the
        type's weight at 0, other weights at their best), their intervals
        ``with_ci_low`` ... ``without_ci_high``, ``difference`` and its paired
        bootstrap interval ``difference_ci_low``/``difference_ci_high``, and
        ``verdict``: ``helps`` when the whole interval is above 0, ``hurts`` when
        it is below 0, else ``unclear``.
    validation : Split
        The split the weights were scored on.
    metric : str
    k : int
    """

    best_weights: dict[str, float]
    trials: pd.DataFrame
    effects: pd.DataFrame
    validation: Split
    metric: str
    k: int

    @property
    def inconclusive_reason(self) -> str | None:
        """The reason the validation split cannot rank the weight sets, or None when it can.

        The search is inconclusive when fewer than :data:`MIN_VALIDATION_USERS`
        users have validation targets, or when every weight set scored the same,
        so ``best_weights`` is then only the first candidate tried.
        """
        n_users = self.validation.report.n_test_users
        if n_users < MIN_VALIDATION_USERS:
            users = "user has" if n_users == 1 else "users have"
            return (
                f"only {n_users} validation {users} targets (fewer than {MIN_VALIDATION_USERS}), "
                f"too few to rank the weight sets"
            )
        values = self.trials["value"].to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        if len(finite) == 0 or finite.max() == finite.min():
            tied_value = "NaN" if len(finite) == 0 else f"{finite[0]:.4f}"
            return f"every weight set scored the same {self.metric}@{self.k} ({tied_value})"
        return None

    def __repr__(self) -> str:
        verdicts = ", ".join(f"{row.event}: {row.verdict}" for row in self.effects.itertuples(index=False))
        return (
            f"EventWeightsResult(best {self.metric}@{self.k}={self.trials['value'].iloc[0]:.4f} with "
            f"{self.best_weights}; {verdicts})"
        )


def tune_event_weights(
    events: pd.DataFrame,
    *,
    model_factory: Callable[..., Recommender] = ItemKNN,
    model_params: Mapping[str, Any] | None = None,
    event_types: Sequence[str] | None = None,
    grid: Sequence[float] = DEFAULT_WEIGHT_GRID,
    start: Mapping[str, float] | None = None,
    n_rounds: int = 2,
    validation: str | pd.Timedelta = "14D",
    relevant_events: Sequence[str] = ("purchase",),
    exclude_seen: bool | Sequence[str] | None = None,
    metric: str = "ndcg",
    k: int = 10,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> EventWeightsResult:
    """Search the event weights that best predict future purchases, and report which types help.

    Parameters
    ----------
    events : DataFrame
        Events with a ``timestamp`` column that a model may learn from, such as
        ``split.train`` of the real test split, so the test period is never seen.
    model_factory : callable, default ItemKNN
        Called as ``model_factory(**model_params, event_weights=weights)``.
    model_params : mapping, optional
        Fixed constructor parameters of every candidate model.
    event_types : sequence of str, optional
        The event types whose weight is searched. None means those of ``start``.
    grid : sequence of float, default (0, 0.5, 1, 2, 5)
        Candidate weights per event type, each a finite number >= 0. A weight set
        with every weight 0 is skipped.
    start : mapping of str to float, optional
        The weights the search starts from; None means
        :data:`recsys.data.DEFAULT_EVENT_WEIGHTS`. Event types present in the
        events but missing here make the fit fail, so name them all.
    n_rounds : int, default 2
        Passes over the event types, >= 1; the search stops early after a pass
        that changes nothing.
    validation : str or Timedelta, default "14D"
        The last part of ``events`` held out for scoring, as in
        :func:`~recsys.evaluation.temporal_split`.
    relevant_events : sequence of str, default ("purchase",)
        Event types whose validation rows are the targets.
    exclude_seen : bool or sequence of str, optional
        Passed to ``recommend``, and used as the split's ``exclude_train_items``
        so that both agree. None means ``relevant_events``: an item the user
        already bought is neither recommended nor a target, but an item the user
        only viewed may be both.
    metric : str, default "ndcg"
        A ranking metric of :data:`~recsys.evaluation.RANKING_METRICS`.
    k : int, default 10
    n_bootstrap : int, default 200
        Resamples for the intervals, >= 1.
    seed : int, default 0
        Seed of the resampling.

    Returns
    -------
    EventWeightsResult
        Check :attr:`EventWeightsResult.inconclusive_reason` before using
        ``best_weights``: a small validation split or a tie of every weight set
        makes them meaningless, and a warning is logged then.

    Raises
    ------
    DataValidationError
        For an invalid argument, or a split with no validation pairs.

    Notes
    -----
    An event type at weight 0 is dropped before fitting, so the model neither
    learns from it nor treats its items as seen. With ``exclude_seen`` left at
    its default this matters only for the relevant events themselves: at
    purchase weight 0 the model may recommend items the user already bought,
    which are never targets, so that candidate is judged as a model that does not
    use purchases.

    Coordinate search can miss a better combination that needs two weights to
    change at once. With 3 event types and 5 values one pass costs at most 15
    fits, against 125 for the full grid.
    """
    if metric not in RANKING_METRICS:
        raise DataValidationError(f"metric must be one of {list(RANKING_METRICS)}; got {metric!r}")
    if isinstance(n_rounds, bool) or not isinstance(n_rounds, int) or n_rounds < 1:
        raise DataValidationError(f"n_rounds must be an int >= 1; got {n_rounds!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 1:
        raise DataValidationError(f"n_bootstrap must be an int >= 1; got {n_bootstrap!r}")
    current = validate_event_weights(DEFAULT_EVENT_WEIGHTS if start is None else start)
    searched = _check_event_types(event_types, current)
    values = _check_grid(grid)
    params = dict(model_params or {})
    if "event_weights" in params:
        raise DataValidationError("model_params must not set event_weights, because the search sets them")

    exclude = list(relevant_events) if exclude_seen is None else exclude_seen
    split_exclude = exclude if isinstance(exclude, bool) else list(exclude)
    split = temporal_split(
        events, validation, relevant_events=relevant_events, exclude_train_items=split_exclude
    )
    present = sorted(set(split.train["event"]) & set(current))
    if len(present) < 2:
        raise DataValidationError(
            f"the training events contain only the event type(s) {present} of {sorted(current)}, so no "
            f"weight can be set against another; tuning event weights needs at least two types, such "
            f"as views and purchases (purchase-only data such as Online Retail has one)"
        )
    logger.info("searching event weights of %s over %s on %s", searched, values, split)

    scorer = _Scorer(model_factory, params, split, exclude, metric, k, n_bootstrap, seed)
    for round_number in range(1, n_rounds + 1):
        changed = False
        for event in searched:
            best_value, best_score = current[event], scorer.value(current)
            for value in values:
                candidate = {**current, event: value}
                if not any(candidate.values()):
                    continue
                score = scorer.value(candidate)
                if score > best_score:
                    best_value, best_score = value, score
            if best_value != current[event]:
                current = {**current, event: best_value}
                changed = True
        logger.info(
            "round %d: best %s@%d=%.4f with %s", round_number, metric, k, scorer.value(current), current
        )
        if not changed:
            break

    effects = pd.DataFrame([_effect(scorer, current, event, values) for event in searched])
    result = EventWeightsResult(
        best_weights=dict(current),
        trials=scorer.table(list(current)),
        effects=effects,
        validation=split,
        metric=metric,
        k=k,
    )
    reason = result.inconclusive_reason
    if reason is not None:
        logger.warning("the event weight search is inconclusive: %s; keep the current weights", reason)
    return result


class _Scorer:
    """Fit and evaluate weight sets on one split, once each."""

    def __init__(
        self,
        model_factory: Callable[..., Recommender],
        params: dict[str, Any],
        split: Split,
        exclude_seen: bool | Sequence[str],
        metric: str,
        k: int,
        n_bootstrap: int,
        seed: int,
    ) -> None:
        self.model_factory = model_factory
        self.params = params
        self.split = split
        self.exclude_seen = exclude_seen
        self.metric = metric
        self.k = k
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.results: dict[tuple[tuple[str, float], ...], tuple[Evaluation, float]] = {}

    def evaluation(self, weights: Mapping[str, float]) -> Evaluation:
        key = tuple(sorted(weights.items()))
        if key not in self.results:
            started = time.perf_counter()
            try:
                model = self.model_factory(**self.params, event_weights=dict(weights))
            except TypeError as error:
                raise DataValidationError(
                    f"model_params do not fit {self.model_factory!r}: {error}"
                ) from error
            evaluation = evaluate(
                model,
                self.split,
                self.k,
                n_bootstrap=self.n_bootstrap,
                seed=self.seed,
                exclude_seen=self.exclude_seen,
            )
            self.results[key] = (evaluation, time.perf_counter() - started)
            logger.info("weights %s: %s@%d=%.4f", dict(weights), self.metric, self.k, self.value(weights))
        return self.results[key][0]

    def value(self, weights: Mapping[str, float]) -> float:
        return self.evaluation(weights).value(self.metric, self.k)

    def interval(self, weights: Mapping[str, float]) -> tuple[float, float]:
        summary = self.evaluation(weights).summary
        row = summary[(summary["metric"] == self.metric) & (summary["k"] == self.k)].iloc[0]
        return float(row["ci_low"]), float(row["ci_high"])

    def per_user(self, weights: Mapping[str, float]) -> pd.Series:
        frame = self.evaluation(weights).per_user
        return pd.Series(frame[f"{self.metric}@{self.k}"].to_numpy(), index=frame["user_id"].to_numpy())

    def table(self, events: list[str]) -> pd.DataFrame:
        rows = []
        for key, (_, seconds) in self.results.items():
            weights = dict(key)
            low, high = self.interval(weights)
            rows.append(
                {
                    **{event: weights[event] for event in events},
                    "value": self.value(weights),
                    "ci_low": low,
                    "ci_high": high,
                    "seconds": seconds,
                }
            )
        table = pd.DataFrame(rows)
        return table.sort_values("value", ascending=False, kind="stable").reset_index(drop=True)


def _effect(scorer: _Scorer, best: dict[str, float], event: str, values: list[float]) -> dict[str, Any]:
    """Compare the metric with and without one event type, other weights at their best."""
    with_weight = best[event]
    if with_weight == 0:
        # The best leaves the type out: compare with its best non-zero weight instead.
        nonzero = [value for value in values if value > 0] or [1.0]
        with_weight = max(nonzero, key=lambda value: scorer.value({**best, event: value}))
    with_weights = {**best, event: with_weight}
    without_weights = {**best, event: 0.0}
    with_low, with_high = scorer.interval(with_weights)
    row: dict[str, Any] = {
        "event": event,
        "weight": with_weight,
        "with": scorer.value(with_weights),
        "with_ci_low": with_low,
        "with_ci_high": with_high,
    }
    if not any(without_weights.values()):
        # Every other weight is 0: without this type there is nothing to fit.
        row.update(
            without=np.nan,
            without_ci_low=np.nan,
            without_ci_high=np.nan,
            difference=np.nan,
            difference_ci_low=np.nan,
            difference_ci_high=np.nan,
            verdict="unclear",
        )
        return row
    without_low, without_high = scorer.interval(without_weights)
    difference = scorer.per_user(with_weights) - scorer.per_user(without_weights)
    low, high = _paired_interval(difference.to_numpy(dtype=np.float64), scorer.n_bootstrap, scorer.seed)
    verdict = "unclear"
    if low > 0:
        verdict = "helps"
    elif high < 0:
        verdict = "hurts"
    row.update(
        without=scorer.value(without_weights),
        without_ci_low=without_low,
        without_ci_high=without_high,
        difference=float(np.nanmean(difference)),
        difference_ci_low=low,
        difference_ci_high=high,
        verdict=verdict,
    )
    return row


def _paired_interval(differences: np.ndarray, n_bootstrap: int, seed: int) -> tuple[float, float]:
    """Return the percentile bootstrap interval of the mean per-user difference."""
    values = differences[np.isfinite(differences)]
    if len(values) == 0:
        return np.nan, np.nan
    generator = np.random.default_rng(seed)
    means = np.empty(n_bootstrap)
    for index in range(n_bootstrap):
        means[index] = values[generator.integers(0, len(values), size=len(values))].mean()
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _check_event_types(event_types: Sequence[str] | None, weights: Mapping[str, float]) -> list[str]:
    if event_types is None:
        return list(weights)
    if isinstance(event_types, str) or not isinstance(event_types, Sequence) or not event_types:
        raise DataValidationError(f"event_types must be a non-empty list of event types; got {event_types!r}")
    unknown = [event for event in event_types if event not in weights]
    if unknown:
        raise DataValidationError(
            f"event_types names {unknown}, which the start weights {dict(weights)} lack; add them to start"
        )
    return list(dict.fromkeys(event_types))


def _check_grid(grid: Sequence[float]) -> list[float]:
    if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence) or not grid:
        raise DataValidationError(f"grid must be a non-empty list of weights >= 0; got {grid!r}")
    checked = validate_event_weights({f"grid[{index}]": value for index, value in enumerate(grid)})
    return list(dict.fromkeys(checked.values()))
