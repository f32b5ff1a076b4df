"""Per-user and list-level metrics, checked on cases small enough to compute by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys import DataValidationError
from recsys.evaluation import (
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

RANKING_FUNCTIONS = [
    precision_at_k,
    recall_at_k,
    ndcg_at_k,
    average_precision_at_k,
    hit_rate_at_k,
    reciprocal_rank_at_k,
]

# Hits at ranks 2 and 4 of five; x is relevant but never recommended.
LIST = ["a", "b", "c", "d", "e"]
RELEVANT = {"b", "d", "x"}


def discount(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def test_precision_two_hits_of_five():
    assert precision_at_k(LIST, RELEVANT, 5) == pytest.approx(2 / 5)


def test_precision_cutoff_three():
    assert precision_at_k(LIST, RELEVANT, 3) == pytest.approx(1 / 3)


def test_recall_two_of_three_relevant():
    assert recall_at_k(LIST, RELEVANT, 5) == pytest.approx(2 / 3)


def test_recall_cutoff_three():
    assert recall_at_k(LIST, RELEVANT, 3) == pytest.approx(1 / 3)


def test_ndcg_hits_at_two_and_four():
    dcg = discount(2) + discount(4)
    ideal = discount(1) + discount(2) + discount(3)

    assert ndcg_at_k(LIST, RELEVANT, 5) == pytest.approx(dcg / ideal)


def test_ndcg_cutoff_three():
    # Only the hit at rank 2 is inside the cutoff; the ideal has min(3, 3) = 3 hits.
    ideal = discount(1) + discount(2) + discount(3)

    assert ndcg_at_k(LIST, RELEVANT, 3) == pytest.approx(discount(2) / ideal)


def test_ndcg_ideal_capped_at_k():
    # Three relevant items, k = 2: two hits on top are already ideal.
    assert ndcg_at_k(["a", "b"], {"a", "b", "c"}, 2) == pytest.approx(1.0)


def test_average_precision_hits_at_two_and_four():
    # P@2 = 1/2 and P@4 = 2/4, normalised by min(5, 3) = 3.
    assert average_precision_at_k(LIST, RELEVANT, 5) == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_average_precision_cutoff_three():
    assert average_precision_at_k(LIST, RELEVANT, 3) == pytest.approx((1 / 2) / 3)


def test_average_precision_normalised_by_k():
    assert average_precision_at_k(["a", "b"], {"a", "b", "c"}, 2) == pytest.approx(1.0)


def test_hit_rate_hit():
    assert hit_rate_at_k(LIST, RELEVANT, 5) == 1.0


def test_hit_rate_hit_outside_cutoff():
    assert hit_rate_at_k(LIST, RELEVANT, 1) == 0.0


def test_reciprocal_rank_first_hit_at_two():
    assert reciprocal_rank_at_k(LIST, RELEVANT, 5) == pytest.approx(1 / 2)


def test_reciprocal_rank_no_hit():
    assert reciprocal_rank_at_k(LIST, {"z"}, 5) == 0.0


@pytest.mark.parametrize("function", RANKING_FUNCTIONS, ids=lambda function: function.__name__)
def test_ranking_metric_empty_relevant_is_nan(function):
    assert math.isnan(function(LIST, set(), 5))


@pytest.mark.parametrize("function", RANKING_FUNCTIONS, ids=lambda function: function.__name__)
def test_ranking_metric_empty_list_is_zero(function):
    assert function([], {"a"}, 5) == 0.0


def test_ranking_metrics_k_beyond_list():
    recommended, relevant = ["a"], {"a"}

    assert precision_at_k(recommended, relevant, 10) == pytest.approx(1 / 10)
    assert recall_at_k(recommended, relevant, 10) == 1.0
    assert ndcg_at_k(recommended, relevant, 10) == pytest.approx(1.0)
    assert average_precision_at_k(recommended, relevant, 10) == pytest.approx(1.0)
    assert hit_rate_at_k(recommended, relevant, 10) == 1.0
    assert reciprocal_rank_at_k(recommended, relevant, 10) == 1.0


def test_ranking_metrics_repeated_item_counts_once():
    recommended, relevant = ["a", "a", "b"], {"a"}

    assert precision_at_k(recommended, relevant, 3) == pytest.approx(1 / 3)
    assert recall_at_k(recommended, relevant, 3) == 1.0
    assert ndcg_at_k(recommended, relevant, 3) == pytest.approx(1.0)


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "5", None])
@pytest.mark.parametrize("function", RANKING_FUNCTIONS, ids=lambda function: function.__name__)
def test_ranking_metric_invalid_k(function, k):
    with pytest.raises(DataValidationError, match=r"k must be an int >= 1; got"):
        function(LIST, RELEVANT, k)


def test_ranking_metric_string_list_rejected():
    with pytest.raises(DataValidationError, match="recommended must be a list of item ids"):
        precision_at_k("abc", {"a"}, 3)


@given(
    recommended=st.lists(st.integers(0, 20), max_size=15),
    relevant=st.sets(st.integers(0, 20), min_size=1, max_size=10),
    k=st.integers(1, 20),
)
def test_ranking_metrics_bounded(recommended, relevant, k):
    for function in RANKING_FUNCTIONS:
        value = function(recommended, relevant, k)
        assert 0.0 <= value <= 1.0 + 1e-12


@given(relevant=st.sets(st.integers(0, 50), min_size=1, max_size=10), k=st.integers(1, 12))
def test_ndcg_ideal_list_is_one(relevant, k):
    ideal = sorted(relevant)

    assert ndcg_at_k(ideal, relevant, k) == pytest.approx(1.0)
    assert average_precision_at_k(ideal, relevant, k) == pytest.approx(1.0)


def test_coverage_three_of_ten():
    assert catalogue_coverage([["a", "b"], ["b", "c"]], 10, 2) == pytest.approx(3 / 10)


def test_coverage_cutoff_one():
    assert catalogue_coverage([["a", "b"], ["b", "c"]], 10, 1) == pytest.approx(2 / 10)


def test_coverage_no_lists():
    assert catalogue_coverage([], 10, 5) == 0.0


def test_coverage_invalid_catalogue_size():
    with pytest.raises(DataValidationError, match="catalogue_size must be an int >= 1; got 0"):
        catalogue_coverage([["a"]], 0, 5)


def test_mean_popularity_cutoff_two():
    popularity = {"a": 0.5, "b": 0.1}

    assert mean_popularity(["a", "b", "c"], popularity, 2) == pytest.approx(0.3)


def test_mean_popularity_missing_item_counts_zero():
    popularity = {"a": 0.5, "b": 0.1}

    assert mean_popularity(["a", "b", "c"], popularity, 3) == pytest.approx(0.2)


def test_mean_popularity_empty_list():
    assert math.isnan(mean_popularity([], {"a": 1.0}, 3))


def test_diversity_two_of_three_pairs():
    categories = {"a": "tea", "b": "tea", "c": "cups"}

    assert intra_list_diversity(["a", "b", "c"], categories, 3) == pytest.approx(2 / 3)


def test_diversity_same_category():
    categories = {"a": "tea", "b": "tea", "c": "cups"}

    assert intra_list_diversity(["a", "b", "c"], categories, 2) == 0.0


def test_diversity_uncategorised_items_left_out():
    categories = {"a": "tea", "b": "cups", "c": None}

    # Only the pair (a, b) has two categories; c and z are left out.
    assert intra_list_diversity(["a", "z", "c", "b"], categories, 4) == 1.0


def test_diversity_single_item():
    assert math.isnan(intra_list_diversity(["a"], {"a": "tea"}, 5))


def test_item_popularity_share_of_users():
    events = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2],
            "item_id": ["a", "b", "a", "a"],
            "event": ["purchase", "purchase", "view", "purchase"],
        }
    )

    popularity = item_popularity(events)

    assert popularity.index.tolist() == ["a", "b"]
    assert popularity["a"] == 1.0
    assert popularity["b"] == 0.5


def test_item_popularity_missing_column():
    with pytest.raises(DataValidationError, match=r"missing the column\(s\) \['item_id'\]"):
        item_popularity(pd.DataFrame({"user_id": [1]}))


def test_item_popularity_is_float():
    events = pd.DataFrame({"user_id": [1], "item_id": [7]})

    assert item_popularity(events).dtype == np.float64
