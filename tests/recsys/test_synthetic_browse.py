"""The synthetic browse and purchase generator: seeding, rates, ground truth, time split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import DataValidationError
from recsys.evaluation import temporal_split
from recsys.synthetic import SyntheticBrowse, make_browse_purchase


@pytest.fixture(scope="module")
def data() -> SyntheticBrowse:
    return make_browse_purchase(300, 120, n_clusters=6, days=30.0, seed=5)


def test_same_seed_same_events() -> None:
    first = make_browse_purchase(50, 30, n_clusters=3, seed=9).events
    second = make_browse_purchase(50, 30, n_clusters=3, seed=9).events
    other = make_browse_purchase(50, 30, n_clusters=3, seed=10).events

    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(other)


def test_event_schema(data: SyntheticBrowse) -> None:
    events = data.events

    assert list(events.columns) == ["user_id", "item_id", "event", "timestamp"]
    assert set(events["event"]) == {"view", "cart", "purchase"}
    assert str(events["timestamp"].dt.tz) == "UTC"
    assert events["timestamp"].is_monotonic_increasing
    assert events["item_id"].between(0, 119).all()


def test_views_outnumber_carts_and_purchases(data: SyntheticBrowse) -> None:
    counts = data.events["event"].value_counts()

    assert counts["view"] > 3 * counts["cart"]
    assert counts["cart"] > counts["purchase"] > 0


def test_purchases_follow_views(data: SyntheticBrowse) -> None:
    events = data.events
    first_view = events[events["event"] == "view"].groupby(["user_id", "item_id"])["timestamp"].min()
    purchases = events[events["event"] == "purchase"].set_index(["user_id", "item_id"])["timestamp"]

    viewed_before = first_view.reindex(purchases.index)

    assert viewed_before.notna().all()
    assert (viewed_before.to_numpy() < purchases.to_numpy()).all()


def test_views_follow_taste(data: SyntheticBrowse) -> None:
    views = data.events[data.events["event"] == "view"]
    taste_of_viewed = data.user_tastes[views["user_id"], data.item_clusters[views["item_id"]]]

    # A uniformly random view would average 1 / n_clusters = 1 / 6.
    assert taste_of_viewed.mean() > 2 / 6


def test_purchases_more_on_taste_than_views(data: SyntheticBrowse) -> None:
    events = data.events
    taste = data.user_tastes[events["user_id"], data.item_clusters[events["item_id"]]]

    by_event = pd.Series(taste).groupby(events["event"].to_numpy()).mean()

    assert by_event["purchase"] > by_event["view"]


def test_relevance_ground_truth(data: SyntheticBrowse) -> None:
    relevance = data.relevance()

    assert relevance.shape == (300, 120)
    np.testing.assert_allclose(relevance.sum(axis=1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(data.user_tastes.sum(axis=1), 1.0, rtol=1e-9)


def test_time_split_works(data: SyntheticBrowse) -> None:
    split = temporal_split(data.events, "7D", exclude_train_items=["purchase"])

    assert split.report.n_test_pairs > 0
    assert split.train["timestamp"].max() < split.report.parameters["cutoff"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_users": 0}, r"n_users must be an int >= 1; got 0"),
        ({"n_items": 3, "n_clusters": 4}, r"n_items must be at least n_clusters=4; got 3"),
        ({"view_noise": 1.5}, r"view_noise must be a probability in \[0, 1\]; got 1.5"),
        ({"days": 0.0}, r"days must be a number > 0; got 0.0"),
        ({"taste_concentration": float("nan")}, r"taste_concentration must be a number > 0"),
    ],
)
def test_invalid_params_rejected(params: dict[str, object], message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        make_browse_purchase(**params)  # type: ignore[arg-type]
