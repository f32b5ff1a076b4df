"""tune_event_weights: the search, the with/without effects, and the OTTO smoke run."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import DataValidationError, ItemKNN
from recsys.cli import main
from recsys.datasets import load_otto
from recsys.evaluation import EventWeightsResult, tune_event_weights
from recsys.evaluation.event_weights import MIN_VALIDATION_USERS
from recsys.synthetic import make_browse_purchase

OTTO = Path(__file__).resolve().parents[2] / "data" / "otto-sample" / "otto_train_20sessions.jsonl.gz"


@pytest.fixture(scope="module")
def synthetic_events() -> pd.DataFrame:
    return make_browse_purchase(600, 150, n_clusters=6, days=30.0, seed=11).events


@pytest.fixture(scope="module")
def result(synthetic_events: pd.DataFrame) -> EventWeightsResult:
    return tune_event_weights(
        synthetic_events, grid=(0.0, 1.0, 5.0), n_rounds=1, validation="7D", n_bootstrap=100
    )


def test_views_help_on_synthetic(result: EventWeightsResult) -> None:
    view = result.effects.set_index("event").loc["view"]

    assert result.best_weights["view"] > 0
    assert view["verdict"] == "helps"
    assert view["difference_ci_low"] > 0
    assert view["with"] > view["without"]


def test_best_weights_lead_trials(result: EventWeightsResult) -> None:
    best = result.trials.iloc[0]

    assert {event: best[event] for event in ("view", "cart", "purchase")} == result.best_weights
    assert result.trials["value"].is_monotonic_decreasing
    assert (result.trials["ci_low"] <= result.trials["value"]).all()
    assert (result.trials["value"] <= result.trials["ci_high"]).all()


def test_trials_skip_all_zero(result: EventWeightsResult) -> None:
    weights = result.trials[["view", "cart", "purchase"]].to_numpy()

    assert (weights.sum(axis=1) > 0).all()
    assert len(result.trials) == len(np.unique(weights, axis=0))


def test_effects_columns(result: EventWeightsResult) -> None:
    assert result.effects["event"].tolist() == ["view", "cart", "purchase"]
    assert set(result.effects["verdict"]) <= {"helps", "hurts", "unclear"}
    difference = result.effects["with"] - result.effects["without"]
    np.testing.assert_allclose(result.effects["difference"], difference, rtol=1e-9, atol=1e-12)


def test_beats_purchases_alone(result: EventWeightsResult) -> None:
    trials = result.trials.set_index(["view", "cart", "purchase"])["value"]

    assert trials.iloc[0] >= trials.loc[(0.0, 0.0, 5.0)]


def test_fixed_model_params(synthetic_events: pd.DataFrame) -> None:
    outcome = tune_event_weights(
        synthetic_events,
        model_params={"similarity": "jaccard", "n_neighbors": 10},
        event_types=["view"],
        grid=(0.0, 1.0),
        n_rounds=1,
        validation="7D",
        n_bootstrap=20,
    )

    assert outcome.effects["event"].tolist() == ["view"]
    assert set(outcome.trials["view"]) == {0.0, 1.0}
    assert set(outcome.trials["purchase"]) == {5.0}


def test_otto_sample_smoke(caplog: pytest.LogCaptureFixture) -> None:
    events = load_otto(OTTO)

    outcome = tune_event_weights(events, grid=(0.0, 1.0), n_rounds=1, validation="21D", n_bootstrap=20)

    assert set(outcome.best_weights) == {"view", "cart", "purchase"}
    assert outcome.validation.report.n_test_pairs > 0
    assert len(outcome.effects) == 3
    assert outcome.inconclusive_reason == (
        f"only 2 validation users have targets (fewer than {MIN_VALIDATION_USERS}), "
        "too few to rank the weight sets"
    )
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        f"the event weight search is inconclusive: {outcome.inconclusive_reason}; keep the current weights"
    ]


def test_enough_users_conclusive(result: EventWeightsResult) -> None:
    assert result.validation.report.n_test_users >= MIN_VALIDATION_USERS
    assert result.inconclusive_reason is None


def test_tied_trials_inconclusive(result: EventWeightsResult) -> None:
    tied = dataclasses.replace(result, trials=result.trials.assign(value=0.25))

    assert tied.inconclusive_reason == "every weight set scored the same ndcg@10 (0.2500)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "auc"}, r"metric must be one of"),
        ({"event_types": ["click"]}, r"event_types names \['click'\]"),
        ({"model_params": {"event_weights": {"view": 1.0}}}, r"model_params must not set event_weights"),
        ({"grid": (0.0, -1.0)}, r"must be a finite number >= 0; got -1.0"),
        ({"n_rounds": 0}, r"n_rounds must be an int >= 1; got 0"),
        ({"model_params": {"colour": "red"}}, r"model_params do not fit"),
    ],
)
def test_invalid_arguments_rejected(
    synthetic_events: pd.DataFrame, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(DataValidationError, match=message):
        tune_event_weights(synthetic_events, model_factory=ItemKNN, validation="7D", **kwargs)  # type: ignore[arg-type]


def test_cli_tune_event_weights_otto(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["-q", "tune", "--format", "otto", "--events", str(OTTO), "--event-weights"]
    argv += [
        "--holdout-days",
        "0",
        "--validation-days",
        "21",
        "--weight-values",
        "0,1",
        "--out",
        str(tmp_path / "t.csv"),
    ]

    status = main(argv)

    output = capsys.readouterr().out
    assert status == 0
    assert "scored on 2 validation users" in output
    assert "best ndcg@10:" in output
    assert "warning: these weights are not a finding, because only 2 validation users" in output
    assert "use them with" not in output
    for event in ("view", "cart", "purchase"):
        assert f"  {event} " in output
    assert list(pd.read_csv(tmp_path / "t.csv").columns[:3]) == ["view", "cart", "purchase"]


def test_cli_tune_event_weights_advises(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    make_browse_purchase(200, 40, n_clusters=4, days=30.0, seed=11).events.to_csv(path, index=False)
    argv = ["-q", "tune", "--events", str(path), "--event-weights", "--holdout-days", "0"]
    argv += ["--validation-days", "7", "--weight-values", "0,1"]

    assert main(argv) == 0

    output = capsys.readouterr().out
    assert "use them with: recsys train --event-weight view=" in output
    assert "warning" not in output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], r"--holdout-days 28 cannot be split off the events: cutoff=.*Change --holdout-days"),
        (["--holdout-days", "0", "--validation-days", "60"], r"--validation-days 60 cannot be split off"),
        (["--holdout-days", "1"], r"--holdout-days 1 cannot be split off.*no \['purchase'\] events"),
    ],
)
@pytest.mark.parametrize("mode", [["--event-weights"], ["--grid", "n_neighbors=5"]], ids=["weights", "grid"])
def test_cli_tune_split_error_names_option(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str, mode: list[str]
) -> None:
    argv = ["-q", "tune", "--format", "otto", "--events", str(OTTO), *mode, *extra]

    assert main(argv) == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "n_neighbors=10,20"], r"--grid sets one fixed value per parameter"),
        (["--weight-values", "0,x"], r"--weight-values must be numbers separated by commas"),
        (["--event-weights-grid", "view=1,purchase=5"], r"leave out --event-weights-grid"),
    ],
)
def test_cli_tune_event_weights_bad_options(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["-q", "tune", "--format", "otto", "--events", str(OTTO), "--event-weights", *extra]

    status = main(argv)

    assert status == 2
    assert re.search(message, capsys.readouterr().err)


def test_single_event_type_rejected(synthetic_events: pd.DataFrame) -> None:
    purchases = synthetic_events[synthetic_events["event"] == "purchase"]

    with pytest.raises(DataValidationError, match=r"only the event type\(s\) \['purchase'\]"):
        tune_event_weights(purchases, grid=(0.0, 1.0), n_rounds=1, validation="7D", n_bootstrap=20)
