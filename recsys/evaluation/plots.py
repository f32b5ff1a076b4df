"""Plots of evaluation results, for notebooks and reports.

matplotlib is an optional dependency (``pip install 'recsys[notebooks]'``) and is
imported inside each function. The figures are built with
:class:`matplotlib.figure.Figure` rather than :mod:`matplotlib.pyplot`, so they
never open a window or pick a GUI backend. They render anywhere, CI included,
with ``figure.savefig``, and Jupyter displays a returned figure inline. Because
pyplot does not track them, they are freed like any other object and never add
to pyplot's count of open figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys.evaluation.evaluate import Comparison, Evaluation
from recsys.evaluation.metrics import item_popularity
from recsys.exceptions import DataValidationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_metric_at_k", "plot_popularity"]

_TIDY_COLUMNS = ("model", "metric", "k", "value", "ci_low", "ci_high")


def plot_metric_at_k(
    comparison: Comparison | Evaluation | pd.DataFrame,
    metric: str,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Plot one metric against the cutoff ``k``, one line per model with its confidence band.

    Parameters
    ----------
    comparison : Comparison, Evaluation or DataFrame
        The output of :func:`~recsys.evaluation.compare` or
        :func:`~recsys.evaluation.evaluate`, or a tidy table with the columns
        ``model``, ``metric``, ``k``, ``value``, ``ci_low`` and ``ci_high``.
    metric : str
        A metric name of the table, such as ``"ndcg"`` or ``"recall"``.
    ax : matplotlib Axes, optional
        Draw into this Axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure that contains the plot.

    Raises
    ------
    DataValidationError
        If the table lacks a column or the metric, naming the metrics it has.
    """
    table = _tidy_table(comparison)
    rows = table[table["metric"] == metric]
    if rows.empty:
        raise DataValidationError(
            f"metric {metric!r} is not in the results; they have {sorted(pd.unique(table['metric']))}"
        )

    figure, axes = _figure_and_axes(ax)
    any_interval = False
    for model, lines in rows.groupby("model", sort=False):
        lines = lines.sort_values("k")
        k = lines["k"].to_numpy(dtype=np.float64)
        drawn = axes.plot(k, lines["value"].to_numpy(dtype=np.float64), marker="o", label=str(model))
        low = lines["ci_low"].to_numpy(dtype=np.float64)
        high = lines["ci_high"].to_numpy(dtype=np.float64)
        has_interval = ~(np.isnan(low) | np.isnan(high))
        if has_interval.any():
            any_interval = True
            axes.fill_between(
                k[has_interval], low[has_interval], high[has_interval], color=drawn[0].get_color(), alpha=0.2
            )

    axes.set_xlabel("k (length of the list)")
    axes.set_ylabel(f"{metric}@k")
    axes.set_xticks(sorted(pd.unique(rows["k"])))
    title = f"{metric}@k, mean over users"
    if any_interval:
        title += " (band: 95% bootstrap interval)"
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    return figure


def plot_popularity(
    evaluation_or_recommendations: Evaluation | pd.DataFrame,
    train_events: pd.DataFrame,
    *,
    bins: int = 30,
    ax: Axes | None = None,
) -> Figure:
    """Plot how popular the recommended items are, next to the popularity of the catalogue.

    Two histograms share a log-scaled x axis: the popularity of each catalogue
    item (each item once), and the popularity of each recommended slot (an item
    recommended to 100 users counts 100 times). Each is normalised to shares, so a
    model without popularity bias draws the same shape as the catalogue, and one
    that favours best-sellers puts its mass to the right.

    Parameters
    ----------
    evaluation_or_recommendations : Evaluation or DataFrame
        An :class:`~recsys.evaluation.Evaluation` (its ``recommendations``), or a
        table with an ``item_id`` column, one row per recommended slot, such as a
        file written by ``write_recommendations``.
    train_events : DataFrame
        The training events, such as ``split.train``. Popularity is the share of
        its users who have the item (see :func:`~recsys.evaluation.item_popularity`).
    bins : int, default 30
        Number of logarithmic bins, >= 1.
    ax : matplotlib Axes, optional
        Draw into this Axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure that contains the plot.

    Raises
    ------
    DataValidationError
        If an input lacks a column or has no rows, or ``bins`` is invalid.
    """
    recommendations = _recommendation_rows(evaluation_or_recommendations)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise DataValidationError(f"bins must be an int >= 1; got {bins!r}")
    popularity = item_popularity(train_events)
    if popularity.empty:
        raise DataValidationError("train_events has no rows, so there is no popularity to plot")

    catalogue = popularity.to_numpy(dtype=np.float64)
    recommended = recommendations["item_id"].map(popularity).to_numpy(dtype=np.float64)
    # Items absent from train have no popularity and no place on a log axis.
    n_absent = int(np.isnan(recommended).sum())
    recommended = recommended[~np.isnan(recommended)]
    edges = np.geomspace(catalogue.min(), catalogue.max(), int(bins) + 1)
    if edges[0] == edges[-1]:
        edges = np.array([edges[0] / 2.0, edges[0] * 2.0])

    figure, axes = _figure_and_axes(ax)
    axes.hist(
        catalogue,
        bins=edges.tolist(),
        weights=np.full(len(catalogue), 1.0 / len(catalogue)),
        histtype="step",
        linewidth=2,
        label=f"catalogue items (n={len(catalogue):,}), mean {catalogue.mean():.2%}",
    )
    if len(recommended):
        axes.hist(
            recommended,
            bins=edges.tolist(),
            weights=np.full(len(recommended), 1.0 / len(recommended)),
            histtype="step",
            linewidth=2,
            label=f"recommended slots (n={len(recommended):,}), mean {recommended.mean():.2%}",
        )
    axes.set_xscale("log")
    axes.set_xlabel("item popularity: share of train users who have the item (log scale)")
    axes.set_ylabel("share of items or slots")
    title = "Popularity of recommended items and of the catalogue"
    if n_absent:
        title += f" ({n_absent:,} slots with items absent from train left out)"
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    return figure


def _figure_and_axes(ax: Axes | None) -> tuple[Figure, Axes]:
    """Return a new figure with one Axes, or the figure of the given Axes."""
    from matplotlib.figure import Figure

    if ax is not None:
        # An Axes inside a SubFigure belongs to the root figure, which is what savefig needs.
        parent: Any = ax.figure
        while not isinstance(parent, Figure):
            parent = parent.figure
        return parent, ax
    figure = Figure(figsize=(7.0, 4.5), layout="constrained")
    return figure, figure.add_subplot()


def _tidy_table(source: Any) -> pd.DataFrame:
    if isinstance(source, Comparison):
        return source.table
    if isinstance(source, Evaluation):
        return source.summary.assign(model=source.model)
    if isinstance(source, pd.DataFrame):
        missing = [column for column in _TIDY_COLUMNS if column not in source.columns]
        if missing:
            raise DataValidationError(
                f"the results table is missing the column(s) {missing}; expected {list(_TIDY_COLUMNS)}"
            )
        return source
    raise DataValidationError(
        f"comparison must be a Comparison, an Evaluation or a DataFrame; got {type(source).__name__}"
    )


def _recommendation_rows(source: Any) -> pd.DataFrame:
    if isinstance(source, Evaluation):
        frame = source.recommendations
    elif isinstance(source, pd.DataFrame):
        if "item_id" not in source.columns:
            raise DataValidationError(
                f"recommendations need an item_id column; got columns {list(map(str, source.columns))}"
            )
        frame = source
    else:
        raise DataValidationError(
            f"evaluation_or_recommendations must be an Evaluation or a DataFrame; got {type(source).__name__}"
        )
    if frame.empty:
        raise DataValidationError("there are no recommendations to plot")
    return frame
