"""Engagement scores, grades and stages, against hand-computed values."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recsys.exceptions import DataValidationError
from recsys.nurture import DEFAULT_STAGES, EngagementConfig, StageRule, score_leads

NOW = pd.Timestamp("2026-06-15", tz="UTC")


def event(lead, kind, days_ago, item=None, weight=1.0):
    return {
        "user_id": lead,
        "event": kind,
        "timestamp": NOW - pd.Timedelta(days=days_ago),
        "item_id": item,
        "weight": weight,
    }


def test_score_hand_computed_with_decay():
    # Default points, half-life 14 days:
    #   view today              1 * 1                 = 1
    #   brochure 14 days ago    8 * 0.5               = 4
    #   email_open 28 days ago  1 * 0.25              = 0.25
    #   6 minutes on page 7 days ago: 0.5 * 6 * 2**-0.5 = 2.1213203...
    events = pd.DataFrame(
        [
            event("lead-1", "view", 0, "tea"),
            event("lead-1", "brochure_download", 14),
            event("lead-1", "email_open", 28),
            event("lead-1", "time_on_page", 7, "tea", weight=6.0),
        ]
    )

    result = score_leads(events, now=NOW)["lead-1"]

    assert result.score == pytest.approx(1 + 4 + 0.25 + 3 * 2**-0.5)
    assert result.breakdown == pytest.approx(
        {"view": 1.0, "brochure_download": 4.0, "email_open": 0.25, "time_on_page": 3 * 2**-0.5}
    )
    assert result.grade == "C"
    assert result.stage == "interest"  # a brochure, but a score under 10


def test_grades_at_thresholds():
    config = EngagementConfig(points={"x": 1.0}, half_life_days=None, grade_a_min=40, grade_b_min=15)
    events = pd.DataFrame(
        [
            event("a", "x", 1, weight=40.0),
            event("b", "x", 1, weight=39.9),
            event("c", "x", 1, weight=15.0),
            event("d", "x", 1, weight=14.9),
        ]
    )

    grades = {key: value.grade for key, value in score_leads(events, config, now=NOW).items()}

    assert grades == {"a": "A", "b": "B", "c": "B", "d": "C"}


def test_stages_need_every_condition():
    events = pd.DataFrame(
        [
            event("hot", "cart", 0, "tea"),
            event("hot", "purchase", 0, "cup"),
            event("hot", "brochure_download", 0),
            event("hot", "video", 1),
            event("browser", "view", 0, "tea"),
            event("browser", "email_click", 0),
            event("browser", "brochure_download", 0),
            event("cold-cart", "cart", 60, "tea"),
        ]
    )

    result = score_leads(events, now=NOW)

    # hot: 6 + 10 + 8 + 5 * 2**(-1/14) = 28.75... >= 25, with a cart.
    assert result["hot"].stage == "preference"
    # browser: 1 + 3 + 8 = 12 >= 10 with a brochure, but no cart or purchase.
    assert result["browser"].stage == "consideration"
    # cold-cart: 6 * 2**(-60/14) = 0.3: the cart is there, the score is not.
    assert result["cold-cart"].stage == "interest"


def test_min_items_rule():
    config = EngagementConfig(stages=(StageRule("interest"), StageRule("browsing", min_items=2)))
    events = pd.DataFrame(
        [event("a", "view", 0, "tea"), event("a", "view", 0, "cup"), event("b", "view", 0, "tea")]
    )

    result = score_leads(events, config, now=NOW)

    assert result["a"].stage == "browsing"
    assert result["b"].stage == "interest"


def test_future_events_ignored():
    events = pd.DataFrame([event("a", "purchase", -3, "tea")])

    result = score_leads(events, now=NOW, leads=["a"])

    assert result["a"].score == 0.0
    assert result["a"].last_event_at is None


def test_leads_without_events_are_cold():
    result = score_leads(None, now=NOW, leads=[7, "b"])

    assert [value.grade for value in result.values()] == ["C", "C"]
    assert result["7"].lead_id == 7
    assert result["7"].stage == DEFAULT_STAGES[0].stage


def test_unknown_event_types_score_zero():
    events = pd.DataFrame([event("a", "webinar", 0)])

    assert score_leads(events, now=NOW)["a"].score == 0.0


def test_config_from_dict_round_trip():
    config = EngagementConfig(
        points={"view": 2.0},
        half_life_days=7.0,
        stages=(StageRule("new"), StageRule("keen", min_score=5, any_events=("view",))),
    )

    again = EngagementConfig.from_dict(json.loads(json.dumps(config.to_dict())))

    assert again == config


def test_config_from_toml_file(tmp_path):
    path = tmp_path / "engagement.toml"
    path.write_text(
        "half_life_days = 30\ngrade_a_min = 20\ngrade_b_min = 5\n[points]\nwebinar = 12\n"
        '[[stages]]\nstage = "aware"\n[[stages]]\nstage = "engaged"\nany_events = ["webinar"]\n',
        encoding="utf-8",
    )

    config = EngagementConfig.from_file(path)

    assert config.points == {"webinar": 12.0}
    assert config.final_stage == "engaged"
    assert config.half_life_days == 30.0


def test_config_from_json_file(tmp_path):
    path = tmp_path / "engagement.json"
    path.write_text(json.dumps({"grade_a_min": 50}), encoding="utf-8")

    assert EngagementConfig.from_file(path).grade_a_min == 50


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"point": {}}, "unknown engagement config key"),
        ({"half_life_days": 0}, "half_life_days"),
        ({"grade_a_min": 10, "grade_b_min": 20}, "grade_b_min"),
        ({"points": {"view": -1}}, "points"),
        ({"stages": [{"stage": "x", "min_score": 3}]}, "first stage"),
        ({"stages": [{"name": "x"}]}, "'stage'"),
        ({"handoff_grades": ["D"]}, "handoff_grades"),
    ],
)
def test_config_invalid_raises(document, message):
    with pytest.raises(DataValidationError, match=message):
        EngagementConfig.from_dict(document)


def test_config_file_bad_suffix(tmp_path):
    path = tmp_path / "engagement.yaml"
    path.write_text("a: 1", encoding="utf-8")

    with pytest.raises(DataValidationError, match=r"\.json or \.toml"):
        EngagementConfig.from_file(path)
