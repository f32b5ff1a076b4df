"""evaluate and compare: hand-computed results, the fit rule, unknown ids and the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsys import DataValidationError, ItemKNN, MostPopular
from recsys.evaluation import (
    RANKING_METRICS,
    Comparison,
    Evaluation,
    average_precision_at_k,
    compare,
    evaluate,
    hit_rate_at_k,
    leave_last_k,
    ndcg_at_k,
    precision_at_k,
    random_holdout,
    recall_at_k,
    reciprocal_rank_at_k,
    temporal_split,
)

SCALAR_METRICS = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": average_precision_at_k,
    "hit_rate": hit_rate_at_k,
    "mrr": reciprocal_rank_at_k,
}


def day(number: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=number - 1)


@pytest.fixture
def tiny():
    """Three buyers before day 3, and four test pairs after it.

    Train popularity: a (3 users), b (2), c (1). After day 3 u1 buys c and the new
    item d, u2 buys c, and the new user u4 buys a.
    """
    rows = [
        ("u1", "a", 1),
        ("u2", "a", 1),
        ("u3", "a", 1),
        ("u1", "b", 1),
        ("u2", "b", 1),
        ("u3", "c", 1),
        ("u1", "c", 5),
        ("u1", "d", 5),
        ("u2", "c", 5),
        ("u4", "a", 5),
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "day"])
    events["event"] = "purchase"
    events["timestamp"] = [day(number) for number in events["day"]]
    return temporal_split(events.drop(columns="day"), "2024-01-03")


@pytest.fixture
def shop():
    """Seeded views and purchases of 80 users over 60 days, 30 items in 3 categories."""
    generator = np.random.default_rng(3)
    rows = []
    for user in range(80):
        for _ in range(int(generator.integers(2, 14))):
            item = int(generator.integers(0, 30))
            moment = day(int(generator.integers(1, 61)))
            rows.append((user, item, "view", moment))
            if generator.random() < 0.6:
                rows.append((user, item, "purchase", moment + pd.Timedelta(hours=1)))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp"])


def pairs_of(split) -> list[tuple[str, str]]:
    return list(split.test[["user_id", "item_id"]].itertuples(index=False, name=None))


# --------------------------------------------------------------------------- hand-computed


def test_evaluate_tiny_lists(tiny):
    evaluation = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0)

    lists = evaluation.recommendations.groupby("user_id", sort=True)["item_id"].apply(list)
    # u1 and u2 have a and b, so only c is left; the unknown u4 gets the top two.
    assert lists.to_dict() == {"u1": ["c"], "u2": ["c"], "u4": ["a", "b"]}


def test_evaluate_tiny_per_user(tiny):
    per_user = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0).per_user.set_index("user_id")

    assert per_user["known_user"].to_dict() == {"u1": True, "u2": True, "u4": False}
    assert per_user["n_relevant"].to_dict() == {"u1": 2, "u2": 1, "u4": 1}
    assert per_user["n_recommended"].to_dict() == {"u1": 1, "u2": 1, "u4": 2}
    assert per_user["precision@2"].tolist() == [0.5, 0.5, 0.5]
    assert per_user["recall@2"].tolist() == [0.5, 1.0, 1.0]
    assert per_user.loc["u1", "ndcg@2"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert per_user["map@2"].tolist() == [0.5, 1.0, 1.0]
    assert per_user["hit_rate@2"].tolist() == [1.0, 1.0, 1.0]
    assert per_user["mrr@2"].tolist() == [1.0, 1.0, 1.0]


def test_evaluate_tiny_summary(tiny):
    evaluation = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0)

    assert evaluation.value("precision") == pytest.approx(0.5)
    assert evaluation.value("recall") == pytest.approx((0.5 + 1 + 1) / 3)
    assert evaluation.value("coverage") == pytest.approx(3 / 3)
    assert evaluation.value("popularity") == pytest.approx((1 / 3 + 1 / 3 + (1 + 2 / 3) / 2) / 3)


def test_evaluate_tiny_unknown_counts(tiny):
    evaluation = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0)

    assert evaluation.n_users == 3
    assert evaluation.n_unknown_users == 1
    assert evaluation.unknown_user_share == pytest.approx(1 / 3)
    assert evaluation.n_pairs == 4
    assert evaluation.n_unknown_item_pairs == 1
    assert evaluation.catalogue_size == 3


def test_evaluate_known_items_only(tiny):
    evaluation = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0, known_items_only=True)

    assert evaluation.per_user["recall@2"].tolist() == [1.0, 1.0, 1.0]
    assert evaluation.excluded["pairs whose item is unknown to the model"] == 1
    assert evaluation.excluded["users whose every item is unknown to the model"] == 0


def test_evaluate_known_users_only(tiny):
    evaluation = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0, known_users_only=True)

    assert evaluation.per_user["user_id"].tolist() == ["u1", "u2"]
    assert evaluation.n_unknown_users == 0
    assert evaluation.excluded == {"users unknown to the model": 1}


def test_evaluate_diversity(tiny):
    categories = {"a": "cups", "b": "tea", "c": "cups"}

    evaluation = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0, item_categories=categories)

    # Lists of one item have no pair, so only u4's [a, b] counts.
    assert evaluation.per_user["diversity@2"].isna().tolist() == [True, True, False]
    assert evaluation.value("diversity") == 1.0


def test_evaluate_diversity_series(tiny):
    categories = pd.Series({"a": "cups", "b": "tea", "c": "cups"})

    evaluation = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0, item_categories=categories)

    assert evaluation.value("diversity") == 1.0


def test_evaluate_categories_wrong_key_type(tiny):
    with pytest.raises(DataValidationError, match="item_categories has no category for any recommended item"):
        evaluate(MostPopular(), tiny, k=2, n_bootstrap=0, item_categories={1: "cups"})


def test_evaluate_summary_layout(tiny):
    summary = evaluate(MostPopular(), tiny, ks=[1, 2], n_bootstrap=0).summary

    assert summary.columns.tolist() == ["metric", "k", "value", "ci_low", "ci_high"]
    assert summary["metric"].drop_duplicates().tolist() == [*RANKING_METRICS, "coverage", "popularity"]
    assert summary["k"].tolist()[:2] == [1, 2]


# --------------------------------------------------------------------------- fit rule


def test_evaluate_fits_unfitted_model(tiny):
    model = MostPopular()

    evaluation = evaluate(model, tiny, k=2, n_bootstrap=0)

    assert model.is_fitted
    assert evaluation.fit_seconds is not None
    assert model.n_events_ == len(tiny.train)


def test_evaluate_uses_fitted_model(tiny):
    model = ItemKNN().fit(tiny.train)
    version = model.version_

    evaluation = evaluate(model, tiny, k=2, n_bootstrap=0)

    assert evaluation.fit_seconds is None
    assert model.version_ == version


def test_evaluate_rejects_model_fitted_on_test(shop):
    split = temporal_split(shop, "14D")
    model = ItemKNN().fit(shop)

    with pytest.raises(DataValidationError, match=r"was fitted on events that contain [\d,]+ of the"):
        evaluate(model, split)


def test_evaluate_accepts_kept_repeats(shop):
    # With repeats kept, test pairs are legitimately in the train history.
    split = temporal_split(shop, "14D", exclude_train_items=False)
    model = ItemKNN().fit(split.train)

    evaluation = evaluate(model, split, n_bootstrap=0, exclude_seen=False)

    assert evaluation.fit_seconds is None


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("make_model", [ItemKNN, MostPopular], ids=["item-knn", "most-popular"])
def test_evaluate_lists_equal_recommend(shop, make_model):
    split = temporal_split(shop, "14D")
    model = make_model().fit(split.train)

    evaluation = evaluate(model, split, ks=[3, 10], n_bootstrap=0)

    for user_id, rows in evaluation.recommendations.groupby("user_id", sort=False):
        assert rows["item_id"].tolist() == model.recommend(user_id, 10).item_ids


@pytest.mark.parametrize("k", [1, 5, 10])
def test_evaluate_matches_scalar_metrics(shop, k):
    split = temporal_split(shop, "14D")
    evaluation = evaluate(ItemKNN(), split, ks=[1, 5, 10], n_bootstrap=0)
    lists = evaluation.recommendations.groupby("user_id")["item_id"].apply(list)
    relevant = split.test.groupby("user_id")["item_id"].apply(set)
    per_user = evaluation.per_user.set_index("user_id")

    for name, function in SCALAR_METRICS.items():
        expected = [function(lists.get(user_id, []), relevant[user_id], k) for user_id in per_user.index]
        assert per_user[f"{name}@{k}"].tolist() == pytest.approx(expected), name


def test_evaluate_browse_viewed_then_bought():
    # Others buy a with x; u1 buys a and views x before day 3, then buys x after it.
    rows = [
        ("u2", "a", "purchase", 1),
        ("u2", "x", "purchase", 1),
        ("u3", "a", "purchase", 1),
        ("u3", "x", "purchase", 1),
        ("u1", "a", "purchase", 1),
        ("u1", "x", "view", 2),
        ("u1", "x", "purchase", 5),
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "day"])
    events["timestamp"] = [day(number) for number in events["day"]]
    split = temporal_split(events.drop(columns="day"), "2024-01-03", exclude_train_items=["purchase"])

    strict = evaluate(ItemKNN(), split, k=1, n_bootstrap=0, exclude_seen=True)
    lenient = evaluate(ItemKNN(), split, k=1, n_bootstrap=0, exclude_seen=["purchase"])

    assert pairs_of(split) == [("u1", "x")]
    assert strict.value("hit_rate") == 0.0
    assert lenient.value("hit_rate") == 1.0


def test_evaluate_other_splits(shop):
    for split in (leave_last_k(shop, 2), random_holdout(shop, 0.3, seed=2)):
        evaluation = evaluate(ItemKNN(), split, n_bootstrap=0)

        assert evaluation.n_pairs == len(split.test)
        assert 0.0 <= evaluation.value("ndcg") <= 1.0


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_interval_contains_mean(shop):
    summary = evaluate(ItemKNN(), temporal_split(shop, "14D"), ks=[5, 10], n_bootstrap=300).summary
    ranked = summary[summary["metric"] != "coverage"]

    assert (ranked["ci_low"] <= ranked["value"]).all()
    assert (ranked["value"] <= ranked["ci_high"]).all()
    assert (ranked["ci_low"] < ranked["ci_high"]).any()


def test_bootstrap_same_seed_same_interval(shop):
    split = temporal_split(shop, "14D")
    model = ItemKNN().fit(split.train)

    first = evaluate(model, split, n_bootstrap=200, seed=4).summary
    second = evaluate(model, split, n_bootstrap=200, seed=4).summary

    pd.testing.assert_frame_equal(first, second)


def test_bootstrap_other_seed_other_interval(shop):
    split = temporal_split(shop, "14D")
    model = ItemKNN().fit(split.train)

    first = evaluate(model, split, n_bootstrap=200, seed=4).summary
    second = evaluate(model, split, n_bootstrap=200, seed=5).summary

    assert not np.array_equal(first["ci_low"].to_numpy(), second["ci_low"].to_numpy(), equal_nan=True)


def test_bootstrap_constant_metric(tiny):
    # Every user has precision@2 = 0.5, so every resample has mean 0.5.
    summary = evaluate(MostPopular(), tiny, k=2, n_bootstrap=50).summary
    row = summary[summary["metric"] == "precision"].iloc[0]

    assert row["ci_low"] == pytest.approx(0.5)
    assert row["ci_high"] == pytest.approx(0.5)


def test_bootstrap_none(tiny):
    summary = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0).summary

    assert summary["ci_low"].isna().all()
    assert summary["ci_high"].isna().all()


def test_coverage_has_no_interval(shop):
    summary = evaluate(ItemKNN(), temporal_split(shop, "14D"), n_bootstrap=100).summary

    assert summary.loc[summary["metric"] == "coverage", ["ci_low", "ci_high"]].isna().all().all()


# --------------------------------------------------------------------------- compare


def test_compare_table(shop):
    split = temporal_split(shop, "14D")

    comparison = compare({"knn": ItemKNN(), "popular": MostPopular()}, split, ks=[5, 10], n_bootstrap=50)

    assert isinstance(comparison, Comparison)
    assert comparison.table.columns.tolist() == ["model", "metric", "k", "value", "ci_low", "ci_high"]
    assert comparison.table["model"].drop_duplicates().tolist() == ["knn", "popular"]


def test_compare_wide(shop):
    split = temporal_split(shop, "14D")

    wide = compare({"knn": ItemKNN(), "popular": MostPopular()}, split, ks=[5, 10], n_bootstrap=0).wide

    assert wide.index.tolist() == ["knn", "popular"]
    assert wide.columns[:2].tolist() == ["precision@5", "precision@10"]
    assert "coverage@10" in wide.columns


def test_compare_equals_evaluate(shop):
    split = temporal_split(shop, "14D")
    model = ItemKNN().fit(split.train)

    comparison = compare({"knn": model}, split, n_bootstrap=100, seed=3)
    single = evaluate(model, split, n_bootstrap=100, seed=3, name="knn")

    pd.testing.assert_frame_equal(comparison.evaluations["knn"].summary, single.summary)


def test_compare_fits_each_model(shop):
    split = temporal_split(shop, "14D")
    models = {"knn": ItemKNN(), "popular": MostPopular()}

    compare(models, split, n_bootstrap=0)

    assert models["knn"].is_fitted
    assert models["popular"].is_fitted


def test_compare_empty_mapping(tiny):
    with pytest.raises(DataValidationError, match="models must be a non-empty mapping of name to model"):
        compare({}, tiny)


def test_compare_invalid_name(tiny):
    with pytest.raises(DataValidationError, match="model names must be non-empty str; got 3"):
        compare({3: MostPopular()}, tiny)


def test_compare_invalid_model(tiny):
    with pytest.raises(DataValidationError, match=r"models\['x'\] must be a recsys Recommender"):
        compare({"x": object()}, tiny)


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 0}, r"k must be an int >= 1; got 0"),
        ({"ks": []}, r"ks must be a non-empty list of ints >= 1"),
        ({"ks": "5"}, r"ks must be a non-empty list of ints >= 1"),
        ({"ks": [5, 0]}, r"ks must be an int >= 1; got 0"),
        ({"n_bootstrap": -1}, r"n_bootstrap must be an int >= 0; got -1"),
        ({"seed": 1.5}, r"seed must be an int >= 0; got 1.5"),
        ({"item_categories": ["cups"]}, r"item_categories must be a mapping or a pandas Series"),
    ],
)
def test_evaluate_invalid_argument(tiny, options, message):
    with pytest.raises(DataValidationError, match=message):
        evaluate(MostPopular(), tiny, **options)


def test_evaluate_invalid_model(tiny):
    with pytest.raises(DataValidationError, match="model must be a recsys Recommender, such as ItemKNN"):
        evaluate("ItemKNN", tiny)


def test_evaluate_invalid_split(tiny):
    with pytest.raises(DataValidationError, match="split must be a Split from temporal_split"):
        evaluate(MostPopular(), tiny.test)


def test_evaluate_no_user_left(tiny):
    known_users = temporal_split(
        pd.concat([tiny.train, tiny.train.assign(user_id="u9", timestamp=day(9))]), "2024-01-05"
    )

    with pytest.raises(DataValidationError, match="no test user is left to evaluate"):
        evaluate(MostPopular(), known_users, known_users_only=True)


def test_evaluation_value_unknown_metric(tiny):
    evaluation = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0)

    with pytest.raises(DataValidationError, match=r"no 'auc' at k=2; the metrics are"):
        evaluation.value("auc")


def test_evaluation_value_needs_k(tiny):
    evaluation = evaluate(MostPopular(), tiny, ks=[1, 2], n_bootstrap=0)

    with pytest.raises(DataValidationError, match=r"k is required: this evaluation has the cutoffs \[1, 2\]"):
        evaluation.value("ndcg")


def test_evaluation_repr(tiny):
    evaluation = evaluate(MostPopular(), tiny, k=2, n_bootstrap=0)

    assert isinstance(evaluation, Evaluation)
    assert "1 users (33.3%) got the popular fallback" in repr(evaluation)
