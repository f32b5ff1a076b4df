"""Evaluation end to end on the bundled Online Retail purchases, tested on the last 28 days."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys import ItemKNN, MostPopular
from recsys.datasets import load_online_retail
from recsys.evaluation import compare, temporal_split
from tests.conftest import ONLINE_RETAIL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def events():
    return load_online_retail(ONLINE_RETAIL)[0]


@pytest.fixture(scope="module")
def split(events):
    return temporal_split(events, "28D")


@pytest.fixture(scope="module")
def comparison(split):
    return compare({"ItemKNN": ItemKNN(), "MostPopular": MostPopular()}, split, k=10, n_bootstrap=500)


def test_retail_split_cutoff(events, split):
    assert split.report.parameters["cutoff"] == events["timestamp"].max() - pd.Timedelta(days=28)


def test_retail_split_counts(events, split):
    report = split.report

    assert report.n_events == len(events)
    assert report.n_events == report.n_train_events + report.n_test_events + sum(
        report.dropped_events.values()
    )
    assert report.n_train_events > 5 * report.n_test_events
    assert 1_000 < report.n_test_users < report.n_train_users
    assert report.n_test_pairs > 10 * report.n_test_users_not_in_train
    # New products reach the shop all year, but most test purchases are of known ones.
    assert report.n_test_pairs_item_not_in_train < 0.05 * report.n_test_pairs


def test_retail_split_users_mostly_known(split):
    assert split.report.n_test_users_not_in_train < 0.3 * split.report.n_test_users


def test_retail_item_knn_beats_popular_on_ndcg(comparison):
    knn = comparison.evaluations["ItemKNN"]
    popular = comparison.evaluations["MostPopular"]
    knn_row = knn.summary[(knn.summary["metric"] == "ndcg") & (knn.summary["k"] == 10)].iloc[0]
    popular_row = popular.summary[(popular.summary["metric"] == "ndcg") & (popular.summary["k"] == 10)].iloc[
        0
    ]

    assert knn_row["value"] > popular_row["value"]
    assert knn_row["ci_low"] > popular_row["ci_high"]


def test_retail_item_knn_beats_popular_on_recall(comparison):
    assert comparison.evaluations["ItemKNN"].value("recall") > comparison.evaluations["MostPopular"].value(
        "recall"
    )


def test_retail_item_knn_covers_more(comparison):
    assert comparison.evaluations["ItemKNN"].value("coverage") > 5 * comparison.evaluations[
        "MostPopular"
    ].value("coverage")


def test_retail_unknown_users_get_fallback(comparison):
    evaluation = comparison.evaluations["ItemKNN"]
    unknown = evaluation.per_user[~evaluation.per_user["known_user"]]["user_id"]
    reasons = evaluation.recommendations[evaluation.recommendations["user_id"].isin(unknown)]["reason"]

    assert 0 < evaluation.unknown_user_share < 0.3
    assert set(reasons) == {"popular"}
