"""Parameter search on a validation period carved from the training events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import DataValidationError, ItemKNN
from recsys.evaluation import tune


@pytest.fixture
def events(rng: np.random.Generator) -> pd.DataFrame:
    """Sixty users over two months: pairs of items bought together, and noise."""
    rows = []
    start = pd.Timestamp("2024-01-01", tz="UTC")
    for user in range(60):
        pair = rng.integers(0, 10)
        day = int(rng.integers(0, 50))
        rows.append((f"u{user}", f"i{pair * 2}", "purchase", start + pd.Timedelta(days=day)))
        rows.append((f"u{user}", f"i{pair * 2 + 1}", "purchase", start + pd.Timedelta(days=day + 10)))
        rows.append((f"u{user}", f"i{rng.integers(0, 20)}", "view", start + pd.Timedelta(days=day)))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp"])


def test_tune_scores_every_combination(events):
    result = tune(
        events,
        {"similarity": ["cosine", "jaccard"], "n_neighbors": [5, 10]},
        validation="15D",
        n_bootstrap=20,
    )

    assert len(result.table) == 4
    assert set(result.table["similarity"]) == {"cosine", "jaccard"}
    assert result.table["value"].is_monotonic_decreasing
    assert result.best_params["similarity"] == result.table["similarity"].iloc[0]
    assert result.best_params["n_neighbors"] == result.table["n_neighbors"].iloc[0]


def test_tune_never_sees_events_after_validation(events):
    result = tune(events, {"n_neighbors": [5]}, validation="15D", n_bootstrap=0)

    cutoff = events["timestamp"].max() - pd.Timedelta(days=15)
    assert result.validation.train["timestamp"].max() < cutoff


def test_tune_random_sample_is_distinct_and_seeded(events):
    grid = {"similarity": ["cosine", "jaccard", "llr"], "n_neighbors": [3, 5, 10]}

    first = tune(events, grid, validation="15D", n_iter=4, seed=1, n_bootstrap=0)
    again = tune(events, grid, validation="15D", n_iter=4, seed=1, n_bootstrap=0)

    combinations = set(zip(first.table["similarity"], first.table["n_neighbors"], strict=True))
    assert len(combinations) == 4
    pd.testing.assert_frame_equal(first.table.drop(columns="seconds"), again.table.drop(columns="seconds"))


def test_tune_event_weights_shown_as_text(events):
    grid = {"event_weights": [{"view": 1.0, "purchase": 5.0}, {"view": 0.0, "purchase": 1.0}]}

    result = tune(events, grid, validation="15D", n_bootstrap=0)

    assert set(result.table["event_weights"]) == {"view=1, purchase=5", "view=0, purchase=1"}
    assert isinstance(result.best_params["event_weights"], dict)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({}, "non-empty mapping"),
        ({"n_neighbors": []}, r"param_grid\['n_neighbors'\] is empty"),
        ({"n_neighbors": 5}, r"param_grid\['n_neighbors'\] must be a list"),
        ({"similarity": "cosine"}, r"param_grid\['similarity'\] must be a list"),
        ({"neighbours": [5]}, "param_grid does not fit"),
    ],
)
def test_tune_bad_grid_named(events, grid, message):
    with pytest.raises(DataValidationError, match=message):
        tune(events, grid, validation="15D", n_bootstrap=0)


def test_tune_unknown_metric_named(events):
    with pytest.raises(DataValidationError, match="metric must be one of"):
        tune(events, {"n_neighbors": [5]}, metric="accuracy")


def test_tune_factory_receives_params(events):
    seen = []

    def factory(**params):
        seen.append(params)
        return ItemKNN(**params)

    tune(events, {"n_neighbors": [4, 6]}, model_factory=factory, validation="15D", n_bootstrap=0)

    assert seen == [{"n_neighbors": 4}, {"n_neighbors": 6}]
