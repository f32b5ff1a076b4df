"""Temporal, leave-last-k and random splits: where every row goes, and the report's counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import DataValidationError
from recsys.evaluation import Split, leave_last_k, random_holdout, temporal_split


def day(number: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=number - 1)


def frame(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    """Build events from (user, item, event, day) rows, plus an extra column to carry through."""
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "day"])
    events["timestamp"] = [day(number) for number in events["day"]]
    events["invoice_no"] = [f"inv-{index}" for index in range(len(events))]
    return events.drop(columns="day")


@pytest.fixture
def shop() -> pd.DataFrame:
    """Eleven events around 2024-01-07.

    Before that day, u1 and u2 buy a and b. After it, u1 buys the new item c,
    views d and buys a again (a repeat). u2 buys the new item d twice, the new
    user u3 buys b, and the new user u4 buys the new item e.
    """
    return frame(
        [
            ("u1", "a", "view", 1),
            ("u1", "a", "purchase", 2),
            ("u1", "b", "purchase", 5),
            ("u2", "a", "purchase", 3),
            ("u1", "c", "purchase", 9),
            ("u1", "d", "view", 9),
            ("u2", "d", "purchase", 8),
            ("u2", "d", "purchase", 9),
            ("u3", "b", "purchase", 8),
            ("u4", "e", "purchase", 10),
            ("u1", "a", "purchase", 10),
        ]
    )


@pytest.fixture
def histories() -> pd.DataFrame:
    """Twelve events for leave_last_k.

    u1 has four purchases and views c before buying it; u2 buys three items at
    one time; u3 buys once; u4 buys b twice.
    """
    return frame(
        [
            ("u1", "a", "purchase", 1),
            ("u1", "b", "purchase", 2),
            ("u1", "c", "view", 3),
            ("u1", "c", "purchase", 4),
            ("u1", "d", "purchase", 5),
            ("u1", "e", "view", 6),
            ("u2", "a", "purchase", 1),
            ("u2", "b", "purchase", 1),
            ("u2", "c", "purchase", 1),
            ("u3", "a", "purchase", 2),
            ("u4", "b", "purchase", 1),
            ("u4", "b", "purchase", 3),
        ]
    )


def pairs(split: Split) -> list[tuple[str, str]]:
    return list(split.test[["user_id", "item_id"]].itertuples(index=False, name=None))


def assert_rows_accounted(split: Split) -> None:
    report = split.report
    dropped = sum(report.dropped_events.values())
    assert report.n_events == report.n_train_events + report.n_test_events + dropped


# --------------------------------------------------------------------------- temporal


def test_temporal_train_before_cutoff(shop):
    split = temporal_split(shop, "2024-01-07")

    assert split.train.index.tolist() == [0, 1, 2, 3]
    assert (split.train["timestamp"] < day(7)).all()


def test_temporal_test_pairs(shop):
    split = temporal_split(shop, "2024-01-07")

    assert pairs(split) == [("u1", "c"), ("u2", "d"), ("u3", "b"), ("u4", "e")]
    assert split.test["n_events"].tolist() == [1, 2, 1, 1]


def test_temporal_unseen_flags(shop):
    split = temporal_split(shop, "2024-01-07")

    assert split.test["user_in_train"].tolist() == [True, True, False, False]
    assert split.test["item_in_train"].tolist() == [False, False, True, False]


def test_temporal_report_counts(shop):
    report = temporal_split(shop, "2024-01-07").report

    assert report.n_events == 11
    assert report.n_train_events == 4
    assert report.n_train_users == 2
    assert report.n_train_items == 2
    assert report.n_test_events == 5
    assert report.n_test_pairs == 4
    assert report.n_test_users == 4
    assert report.n_test_items == 4
    assert report.n_test_users_not_in_train == 2
    assert report.n_test_items_not_in_train == 3
    assert report.n_test_pairs_item_not_in_train == 3


def test_temporal_report_dropped(shop):
    report = temporal_split(shop, "2024-01-07").report

    assert report.dropped_events == {
        "held out but not a relevant event type": 1,
        "held-out pair already in the user's train history": 1,
    }
    assert report.users_without_test == {"all held-out pairs were repeats": 0}


def test_temporal_rows_accounted(shop):
    assert_rows_accounted(temporal_split(shop, "2024-01-07"))


def test_temporal_duration_from_newest(shop):
    by_duration = temporal_split(shop, "4D")
    by_date = temporal_split(shop, pd.Timestamp("2024-01-06"))

    assert by_duration.report.parameters["cutoff"] == day(6)
    assert by_duration.train.index.tolist() == by_date.train.index.tolist()
    assert pairs(by_duration) == pairs(by_date)


def test_temporal_timedelta_cutoff(shop):
    split = temporal_split(shop, pd.Timedelta(days=4))

    assert split.report.parameters["cutoff"] == day(6)


def test_temporal_keep_repeats(shop):
    split = temporal_split(shop, "2024-01-07", exclude_train_items=False)

    assert ("u1", "a") in pairs(split)
    assert split.report.dropped_events["held-out pair already in the user's train history"] == 0


def test_temporal_repeats_by_event_type(shop):
    # u1 had a as a view and a purchase before the cutoff: either type makes it a repeat.
    by_views = temporal_split(shop, "2024-01-07", exclude_train_items=["view"])
    by_carts = temporal_split(shop, "2024-01-07", exclude_train_items=["cart"])

    assert ("u1", "a") not in pairs(by_views)
    assert ("u1", "a") in pairs(by_carts)


def test_temporal_views_relevant(shop):
    split = temporal_split(shop, "2024-01-07", relevant_events=("purchase", "view"))

    assert ("u1", "d") in pairs(split)
    assert split.report.dropped_events["held out but not a relevant event type"] == 0


def test_temporal_train_keeps_extra_columns(shop):
    split = temporal_split(shop, "2024-01-07")

    assert split.train["invoice_no"].tolist() == ["inv-0", "inv-1", "inv-2", "inv-3"]


def test_temporal_naive_strings_read_as_utc(shop):
    shop["timestamp"] = shop["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")

    split = temporal_split(shop, "2024-01-07")

    assert str(split.train["timestamp"].dt.tz) == "UTC"
    assert len(split.train) == 4


def test_temporal_int_ids_stay_int():
    events = frame([("1", "10", "purchase", 1), ("1", "11", "purchase", 5), ("2", "10", "purchase", 5)])
    events["user_id"] = events["user_id"].astype(np.int64)
    events["item_id"] = events["item_id"].astype(np.int64)

    split = temporal_split(events, "2024-01-03")

    assert split.test["user_id"].dtype == np.int64
    assert split.test["item_id"].dtype == np.int64


def test_temporal_report_summary_and_repr(shop):
    report = temporal_split(shop, "2024-01-07").report

    summary = report.summary()

    assert summary.columns.tolist() == ["quantity", "count"]
    assert summary.loc[summary["quantity"] == "test pairs (user, item)", "count"].item() == 4
    assert "test users not in train (popular fallback)" in repr(report)
    assert "temporal_split" in repr(temporal_split(shop, "2024-01-07"))


@pytest.mark.parametrize(
    ("cutoff", "message"),
    [
        (5, r"cutoff must be a time or a duration; got 5"),
        (None, r"cutoff must be a time or a duration; got None"),
        ("10", r"cutoff='10' has no unit or date form"),
        ("-3D", r"cutoff='-3D' must be a positive duration"),
        ("banana", r"cutoff='banana' is neither a time nor a duration"),
        ([2024, 1, 7], r"cutoff must be a time or a duration; got list"),
        ("2023-12-01", r"leaves no events before it for training"),
        ("2024-02-01", r"leaves no \['purchase'\] events at or after it"),
    ],
)
def test_temporal_invalid_cutoff(shop, cutoff, message):
    with pytest.raises(DataValidationError, match=message):
        temporal_split(shop, cutoff)


def test_temporal_needs_timestamp(shop):
    with pytest.raises(DataValidationError, match=r"temporal_split needs a 'timestamp' column"):
        temporal_split(shop.drop(columns="timestamp"), "2D")


def test_temporal_only_repeats_rejected():
    events = frame([("u1", "a", "purchase", 1), ("u1", "a", "purchase", 5)])

    with pytest.raises(DataValidationError, match="leaves no test pairs"):
        temporal_split(events, "2024-01-03")


@pytest.mark.parametrize(
    ("relevant_events", "message"),
    [
        ("purchase", r"relevant_events must be a list of event types"),
        ((), r"relevant_events must be a non-empty list"),
        (["purchase", 3], r"relevant_events must be a non-empty list of non-empty str"),
        (["buy"], r"relevant_events=\['buy'\] matches no event; the events have the types"),
    ],
)
def test_split_invalid_relevant_events(shop, relevant_events, message):
    with pytest.raises(DataValidationError, match=message):
        temporal_split(shop, "2D", relevant_events=relevant_events)


def test_split_invalid_exclude_train_items(shop):
    with pytest.raises(DataValidationError, match=r"exclude_train_items must be True, False or a list"):
        temporal_split(shop, "2D", exclude_train_items="view")


def test_split_events_not_dataframe():
    with pytest.raises(DataValidationError, match=r"events must be a pandas DataFrame; got list"):
        temporal_split([("u1", "a", "purchase")], "2D")


def test_split_null_event_rejected(shop):
    shop.loc[3, "event"] = None

    with pytest.raises(DataValidationError, match=r"column 'event' must not contain null event types"):
        temporal_split(shop, "2D")


def test_split_invalid_events_rejected(shop):
    shop.loc[0, "user_id"] = ""

    with pytest.raises(DataValidationError, match=r"column 'user_id' must not contain empty ids"):
        temporal_split(shop, "2D")


# --------------------------------------------------------------------------- leave last k


def test_leave_last_one_pairs(histories):
    split = leave_last_k(histories, 1)

    assert pairs(split) == [("u1", "d"), ("u2", "c")]


def test_leave_last_one_train(histories):
    split = leave_last_k(histories, 1)

    # u1 trains on its rows before day 5, u2 on nothing (one timestamp), u3 and u4 keep theirs.
    assert split.train.index.tolist() == [0, 1, 2, 3, 9, 10]


def test_leave_last_one_report(histories):
    report = leave_last_k(histories, 1).report

    assert report.n_test_events == 2
    assert report.n_test_users_not_in_train == 1
    assert report.n_test_pairs_item_not_in_train == 1
    assert report.dropped_events == {
        "at or after the user's first held-out event": 3,
        "held-out pair already in the user's train history": 1,
    }
    assert report.users_without_test == {
        "fewer than k + 1 = 2 relevant events (kept in train)": 1,
        "all held-out pairs were repeats": 1,
    }


def test_leave_last_one_rows_accounted(histories):
    assert_rows_accounted(leave_last_k(histories, 1))


def test_leave_last_two_viewed_item_is_repeat(histories):
    split = leave_last_k(histories, 2)

    assert pairs(split) == [("u1", "d"), ("u2", "b"), ("u2", "c")]


def test_leave_last_two_purchase_repeats_only(histories):
    # u1 only viewed c before buying it, which is not a repeat purchase.
    split = leave_last_k(histories, 2, exclude_train_items=["purchase"])

    assert pairs(split) == [("u1", "c"), ("u1", "d"), ("u2", "b"), ("u2", "c")]


def test_leave_last_two_too_few(histories):
    report = leave_last_k(histories, 2).report

    assert report.users_without_test["fewer than k + 1 = 3 relevant events (kept in train)"] == 2


def test_leave_last_k_row_order_irrelevant(histories):
    # u2's purchases share one timestamp, where input order decides; the others have distinct times.
    distinct_times = histories[histories["user_id"] != "u2"]
    shuffled = distinct_times.sample(frac=1.0, random_state=3)

    assert pairs(leave_last_k(shuffled, 1)) == pairs(leave_last_k(distinct_times, 1))


def test_leave_last_k_ties_follow_input_order(histories):
    reordered = pd.concat([histories.iloc[[8, 7, 6]], histories.drop(index=[6, 7, 8])])

    assert ("u2", "a") in pairs(leave_last_k(reordered, 1))


@pytest.mark.parametrize("k", [0, -1, 1.0, True])
def test_leave_last_k_invalid_k(histories, k):
    with pytest.raises(DataValidationError, match=r"k must be an int >= 1; got"):
        leave_last_k(histories, k)


def test_leave_last_k_too_large(histories):
    with pytest.raises(DataValidationError, match=r"k=10 is too large: no user has k \+ 1 = 11"):
        leave_last_k(histories, 10)


def test_leave_last_k_needs_timestamp(histories):
    with pytest.raises(DataValidationError, match=r"leave_last_k needs a 'timestamp' column"):
        leave_last_k(histories.drop(columns="timestamp"))


# --------------------------------------------------------------------------- random


@pytest.fixture
def baskets() -> pd.DataFrame:
    """Purchases of 60 users with 1 to 12 items each, plus a view of every fifth pair."""
    generator = np.random.default_rng(11)
    rows = []
    for user in range(60):
        items = generator.choice(40, size=int(generator.integers(1, 13)), replace=False)
        for position, item in enumerate(items):
            rows.append((f"user {user:02d}", int(item), "purchase"))
            if position % 5 == 0:
                rows.append((f"user {user:02d}", int(item), "view"))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event"])


def test_random_holdout_count_per_user(baskets):
    split = random_holdout(baskets, 0.25, seed=1)

    purchased = baskets[baskets["event"] == "purchase"].groupby("user_id")["item_id"].nunique()
    expected = np.minimum(np.floor(0.25 * purchased + 0.5), purchased - 1).astype(int)
    held = split.test.groupby("user_id").size().reindex(purchased.index, fill_value=0)
    assert held.tolist() == expected.tolist()


def test_random_holdout_pairs_leave_train(baskets):
    split = random_holdout(baskets, 0.25, seed=1)

    train_pairs = set(split.train[["user_id", "item_id"]].itertuples(index=False, name=None))
    assert not train_pairs & set(pairs(split))


def test_random_holdout_rows_accounted(baskets):
    split = random_holdout(baskets, 0.25, seed=1)

    assert_rows_accounted(split)
    assert split.report.dropped_events["other event types of a held-out pair"] > 0


def test_random_holdout_single_pair_users_counted(baskets):
    split = random_holdout(baskets, 0.25, seed=1)

    purchased = baskets[baskets["event"] == "purchase"].groupby("user_id")["item_id"].nunique()
    too_few = int((np.floor(0.25 * purchased + 0.5).clip(upper=purchased - 1) == 0).sum())
    reason = "too few relevant pairs for the fraction (kept in train)"
    assert split.report.users_without_test[reason] == too_few


def test_random_holdout_same_seed_same_split(baskets):
    first = random_holdout(baskets, 0.3, seed=5)
    second = random_holdout(baskets, 0.3, seed=5)

    assert pairs(first) == pairs(second)


def test_random_holdout_other_seed_other_split(baskets):
    assert pairs(random_holdout(baskets, 0.3, seed=5)) != pairs(random_holdout(baskets, 0.3, seed=6))


def test_random_holdout_row_order_irrelevant(baskets):
    shuffled = baskets.sample(frac=1.0, random_state=8)

    assert pairs(random_holdout(shuffled, 0.3, seed=5)) == pairs(random_holdout(baskets, 0.3, seed=5))


def test_random_holdout_without_timestamp(baskets):
    assert "timestamp" not in random_holdout(baskets).train.columns


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, float("nan"), "0.2", True])
def test_random_holdout_invalid_fraction(baskets, fraction):
    with pytest.raises(DataValidationError, match=r"fraction must be a number in \(0, 1\)"):
        random_holdout(baskets, fraction)


@pytest.mark.parametrize("seed", [-1, 1.5, None])
def test_random_holdout_invalid_seed(baskets, seed):
    with pytest.raises(DataValidationError, match=r"seed must be an int >= 0; got"):
        random_holdout(baskets, seed=seed)


def test_random_holdout_nothing_to_hold_out():
    events = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"], "event": "purchase"})

    with pytest.raises(DataValidationError, match="selects no test pair"):
        random_holdout(events, 0.2)
