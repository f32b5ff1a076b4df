"""Plots render to PNG without a display and draw what the results contain."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from recsys import DataValidationError, ItemKNN, MostPopular
from recsys.evaluation import compare, plot_metric_at_k, plot_popularity, temporal_split

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def comparison():
    generator = np.random.default_rng(5)
    rows = [
        (
            int(user),
            int(generator.integers(0, 25)),
            "purchase",
            pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=int(day)),
        )
        for user in range(60)
        for day in generator.integers(0, 40, size=int(generator.integers(2, 10)))
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp"])
    split = temporal_split(events, "10D")
    result = compare({"knn": ItemKNN(), "popular": MostPopular()}, split, ks=[1, 3, 5], n_bootstrap=50)
    return result, split


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def test_plot_metric_at_k_renders(comparison):
    figure = plot_metric_at_k(comparison[0], "ndcg")

    assert isinstance(figure, Figure)
    assert png_bytes(figure).startswith(PNG_SIGNATURE)


def test_plot_metric_at_k_one_line_per_model(comparison):
    axes = plot_metric_at_k(comparison[0], "recall").axes[0]

    assert [line.get_label() for line in axes.get_lines()] == ["knn", "popular"]
    assert axes.get_lines()[0].get_xdata().tolist() == [1.0, 3.0, 5.0]
    assert len(axes.collections) == 2


def test_plot_metric_at_k_from_evaluation(comparison):
    axes = plot_metric_at_k(comparison[0].evaluations["knn"], "precision").axes[0]

    assert [line.get_label() for line in axes.get_lines()] == ["knn"]


def test_plot_metric_at_k_from_table(comparison):
    figure = plot_metric_at_k(comparison[0].table, "map")

    assert png_bytes(figure).startswith(PNG_SIGNATURE)


def test_plot_metric_at_k_into_axes(comparison):
    figure = Figure()
    left, right = figure.subplots(1, 2)

    returned = plot_metric_at_k(comparison[0], "ndcg", ax=right)

    assert returned is figure
    assert len(right.get_lines()) == 2
    assert len(left.get_lines()) == 0


def test_plot_metric_at_k_unknown_metric(comparison):
    with pytest.raises(DataValidationError, match=r"metric 'auc' is not in the results; they have"):
        plot_metric_at_k(comparison[0], "auc")


def test_plot_metric_at_k_table_missing_column(comparison):
    with pytest.raises(DataValidationError, match=r"missing the column\(s\) \['ci_low', 'ci_high'\]"):
        plot_metric_at_k(comparison[0].table.drop(columns=["ci_low", "ci_high"]), "ndcg")


def test_plot_popularity_renders(comparison):
    result, split = comparison

    figure = plot_popularity(result.evaluations["knn"], split.train)

    assert isinstance(figure, Figure)
    assert png_bytes(figure).startswith(PNG_SIGNATURE)


def test_plot_popularity_two_histograms(comparison):
    result, split = comparison

    axes = plot_popularity(result.evaluations["popular"], split.train).axes[0]

    labels = [patch.get_label() for patch in axes.patches]
    assert len(labels) == 2
    assert labels[0].startswith("catalogue items")
    assert labels[1].startswith("recommended slots")
    assert axes.get_xscale() == "log"


def test_plot_popularity_from_frame(comparison):
    result, split = comparison

    figure = plot_popularity(result.evaluations["knn"].recommendations[["item_id"]], split.train, bins=5)

    assert png_bytes(figure).startswith(PNG_SIGNATURE)


def test_plot_popularity_missing_item_column(comparison):
    with pytest.raises(DataValidationError, match="recommendations need an item_id column"):
        plot_popularity(pd.DataFrame({"user_id": [1]}), comparison[1].train)


@pytest.mark.parametrize("bins", [0, 2.5, True])
def test_plot_popularity_invalid_bins(comparison, bins):
    result, split = comparison

    with pytest.raises(DataValidationError, match=r"bins must be an int >= 1; got"):
        plot_popularity(result.evaluations["knn"], split.train, bins=bins)
