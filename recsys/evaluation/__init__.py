"""Offline evaluation: split events, measure recommenders, compare them and plot the results.

A typical notebook session::

    from recsys import ItemKNN, MostPopular
    from recsys.datasets import load_online_retail
    from recsys.evaluation import compare, plot_metric_at_k, temporal_split

    events, items = load_online_retail()
    split = temporal_split(events, "28D")          # test on the last 28 days
    comparison = compare({"ItemKNN": ItemKNN(), "MostPopular": MostPopular()}, split, ks=[5, 10, 20])
    comparison.wide
    plot_metric_at_k(comparison, "ndcg")

The plots need matplotlib (``pip install 'recsys[notebooks]'``).
"""

from recsys.evaluation.evaluate import Comparison, Evaluation, compare, evaluate
from recsys.evaluation.event_weights import EventWeightsResult, tune_event_weights
from recsys.evaluation.metrics import (
    LIST_METRICS,
    RANKING_METRICS,
    average_precision_at_k,
    catalogue_coverage,
    hit_rate_at_k,
    intra_list_diversity,
    item_popularity,
    mean_popularity,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank_at_k,
)
from recsys.evaluation.plots import plot_metric_at_k, plot_popularity
from recsys.evaluation.splits import Split, SplitReport, leave_last_k, random_holdout, temporal_split
from recsys.evaluation.tuning import TuningResult, tune

__all__ = [
    "LIST_METRICS",
    "RANKING_METRICS",
    "Comparison",
    "Evaluation",
    "EventWeightsResult",
    "Split",
    "SplitReport",
    "TuningResult",
    "average_precision_at_k",
    "catalogue_coverage",
    "compare",
    "evaluate",
    "hit_rate_at_k",
    "intra_list_diversity",
    "item_popularity",
    "leave_last_k",
    "mean_popularity",
    "ndcg_at_k",
    "plot_metric_at_k",
    "plot_popularity",
    "precision_at_k",
    "random_holdout",
    "recall_at_k",
    "reciprocal_rank_at_k",
    "temporal_split",
    "tune",
    "tune_event_weights",
]
