"""Hyper-parameter search on a validation split carved from the training events.

The search never looks at the test period: :func:`tune` takes the events a model
may train on (for example ``split.train``), holds out their own last days as
validation, scores every candidate there, and returns the best parameters and the
whole table. Refit the winner on all the training events before the final test.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.evaluation.evaluate import evaluate
from recsys.evaluation.splits import Split, temporal_split
from recsys.exceptions import DataValidationError
from recsys.models.base import Recommender
from recsys.models.item_knn import ItemKNN

__all__ = ["TuningResult", "tune"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuningResult:
    """Outcome of :func:`tune`.

    Attributes
    ----------
    best_params : dict
        The parameters of the best candidate by ``metric@k`` on the validation split
        (ties go to the earlier candidate).
    table : DataFrame
        One row per candidate, best first: its parameters, the metric value with
        its 95% bootstrap interval, and the fit and scoring time in seconds.
    validation : Split
        The split the candidates were scored on (its report says what it held out).
    metric : str
    k : int
    """

    best_params: dict[str, Any]
    table: pd.DataFrame
    validation: Split
    metric: str
    k: int

    def __repr__(self) -> str:
        return (
            f"TuningResult({len(self.table)} candidates, best {self.metric}@{self.k}="
            f"{self.table['value'].iloc[0]:.4f} with {self.best_params})"
        )


def tune(
    events: pd.DataFrame,
    param_grid: Mapping[str, Sequence[Any]],
    *,
    model_factory: Callable[..., Recommender] = ItemKNN,
    validation: str | pd.Timedelta = "28D",
    metric: str = "ndcg",
    k: int = 10,
    n_iter: int | None = None,
    seed: int = 0,
    n_bootstrap: int = 200,
    relevant_events: Sequence[str] = ("purchase",),
) -> TuningResult:
    """Score every parameter combination (or a random sample of them) on validation data.

    Parameters
    ----------
    events : DataFrame
        The events a model may learn from, with a ``timestamp`` column; typically
        ``split.train`` of the real test split, so the test period is never seen.
    param_grid : mapping of str to sequence
        Candidate values per constructor parameter of ``model_factory``, such as
        ``{"similarity": ["cosine", "jaccard"], "n_neighbors": [20, 50, 100]}``.
        ``event_weights`` takes dicts. The grid is the product of the lists.
    model_factory : callable, default ItemKNN
        Called with one combination as keyword arguments; returns an unfitted model.
    validation : str or Timedelta, default "28D"
        The last part of ``events`` held out for scoring, as in
        :func:`~recsys.evaluation.temporal_split`.
    metric : str, default "ndcg"
        A ranking metric of :data:`~recsys.evaluation.RANKING_METRICS`.
    k : int, default 10
    n_iter : int, optional
        Score a seeded random sample of this many combinations instead of all.
    seed : int, default 0
        Seed of that sample and of the bootstrap intervals.
    n_bootstrap : int, default 200
        Resamples for the intervals in the table.
    relevant_events : sequence of str, default ("purchase",)
        Event types that count as a hit in the validation period.

    Returns
    -------
    TuningResult

    Raises
    ------
    DataValidationError
        For an empty or malformed grid, an unknown metric, or a parameter the
        factory does not accept (the message names it).
    """
    from recsys.evaluation.metrics import RANKING_METRICS

    if metric not in RANKING_METRICS:
        raise DataValidationError(f"metric must be one of {list(RANKING_METRICS)}; got {metric!r}")
    candidates = _candidates(param_grid, n_iter, seed)
    split = temporal_split(events, validation, relevant_events=relevant_events)
    logger.info("tuning %d candidates on %s", len(candidates), split)

    rows = []
    for number, params in enumerate(candidates, start=1):
        started = time.perf_counter()
        try:
            model = model_factory(**params)
        except TypeError as error:
            raise DataValidationError(f"param_grid does not fit {model_factory!r}: {error}") from error
        evaluation = evaluate(model, split, k, n_bootstrap=n_bootstrap, seed=seed)
        summary = evaluation.summary
        row = summary.loc[(summary["metric"] == metric) & (summary["k"] == k)].iloc[0]
        seconds = time.perf_counter() - started
        rows.append(
            {
                **_display(params),
                "value": row["value"],
                "ci_low": row["ci_low"],
                "ci_high": row["ci_high"],
                "seconds": seconds,
            }
        )
        logger.info(
            "candidate %d/%d %s: %s@%d=%.4f (%.1f s)",
            number,
            len(candidates),
            params,
            metric,
            k,
            row["value"],
            seconds,
        )

    table = pd.DataFrame(rows)
    table["candidate"] = np.arange(len(candidates))
    # A stable sort keeps the grid order among equal scores.
    order = table.sort_values("value", ascending=False, kind="stable").index
    table = table.loc[order].reset_index(drop=True)
    best = candidates[int(table["candidate"].iloc[0])]
    return TuningResult(
        best_params=dict(best), table=table.drop(columns="candidate"), validation=split, metric=metric, k=k
    )


def _candidates(
    param_grid: Mapping[str, Sequence[Any]], n_iter: int | None, seed: int
) -> list[dict[str, Any]]:
    if not isinstance(param_grid, Mapping) or not param_grid:
        raise DataValidationError(
            f"param_grid must be a non-empty mapping of parameter to values; got {param_grid!r}"
        )
    names = list(param_grid)
    values = []
    for name in names:
        options = param_grid[name]
        if isinstance(options, (str, bytes, Mapping)) or not isinstance(options, Iterable):
            raise DataValidationError(
                f"param_grid[{name!r}] must be a list of candidate values; got {options!r}"
            )
        options = list(options)
        if not options:
            raise DataValidationError(f"param_grid[{name!r}] is empty; give at least one value")
        values.append(options)

    total = math.prod(len(options) for options in values)
    if n_iter is None or n_iter >= total:
        return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*values)]
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise DataValidationError(f"n_iter must be an int >= 1 or None; got {n_iter!r}")
    # Draw distinct grid positions without building the whole product.
    picks = np.random.default_rng(seed).choice(total, size=n_iter, replace=False)
    shape = [len(options) for options in values]
    return [
        {
            name: options[index]
            for name, options, index in zip(names, values, np.unravel_index(pick, shape), strict=True)
        }
        for pick in sorted(picks.tolist())
    ]


def _display(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return the parameters as table cells; dicts (event weights) become readable text."""
    return {name: _cell(value) for name, value in params.items()}


def _cell(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={weight:g}" for key, weight in value.items())
    return value
