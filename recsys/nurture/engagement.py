"""Engagement scoring: points per event with time decay, A/B/C grades and funnel stages.

A lead's score is the sum over its events up to ``now`` of::

    points[event] * weight * 0.5 ** (age_days / half_life_days)

where ``weight`` is the event's optional ``weight`` column (1 when absent), for
example minutes on a page or the share of a video watched. Event types without
points score 0. The grade is ``A`` (hot) from ``grade_a_min`` up, ``B`` (warm)
from ``grade_b_min`` up, else ``C`` (cold). The stage is the last stage in
``stages`` whose rule the lead meets; the first stage needs nothing.
"""

from __future__ import annotations

import json
import logging
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys._ids import Id
from recsys.exceptions import DataValidationError
from recsys.nurture._frames import check_days, check_lead_id, id_key, normalize_events, to_utc

__all__ = [
    "DEFAULT_POINTS",
    "DEFAULT_STAGES",
    "GRADES",
    "Engagement",
    "EngagementConfig",
    "StageRule",
    "score_leads",
]

logger = logging.getLogger(__name__)

#: Grades from hot to cold.
GRADES = ("A", "B", "C")

#: Points per event type. ``time_on_page`` and ``video`` are meant to carry a
#: ``weight``: minutes on the page, and the share of the video watched (0 to 1).
DEFAULT_POINTS: Mapping[str, float] = {
    "view": 1.0,
    "time_on_page": 0.5,
    "video": 5.0,
    "brochure_download": 8.0,
    "email_open": 1.0,
    "email_click": 3.0,
    "cart": 6.0,
    "purchase": 10.0,
}


@dataclass(frozen=True)
class StageRule:
    """The condition a lead must meet to be at a funnel stage.

    A lead must meet every condition that is set.

    Attributes
    ----------
    stage : str
        Name of the stage, for example ``"consideration"``.
    min_score : float, default 0
        Minimum decayed engagement score.
    any_events : tuple of str, default ()
        When not empty, the lead needs at least one event of one of these types.
    min_items : int, default 0
        Minimum number of distinct items the lead had any event on.
    """

    stage: str
    min_score: float = 0.0
    any_events: tuple[str, ...] = ()
    min_items: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.stage, str) or not self.stage.strip():
            raise DataValidationError(f"stage must be a non-empty str; got {self.stage!r}")
        check_days(self.min_score, f"min_score of stage {self.stage!r}")
        if isinstance(self.any_events, str) or not all(isinstance(event, str) for event in self.any_events):
            raise DataValidationError(
                f"any_events of stage {self.stage!r} must be a list of event types; got {self.any_events!r}"
            )
        object.__setattr__(self, "any_events", tuple(self.any_events))
        if isinstance(self.min_items, bool) or not isinstance(self.min_items, int) or self.min_items < 0:
            raise DataValidationError(
                f"min_items of stage {self.stage!r} must be an int >= 0; got {self.min_items!r}"
            )


#: Interest needs nothing. Consideration needs a score of 10 and a deliberate act
#: (brochure, video, email click, cart or purchase). Preference needs a score of 25
#: and a cart addition or a purchase.
DEFAULT_STAGES: tuple[StageRule, ...] = (
    StageRule("interest"),
    StageRule(
        "consideration",
        min_score=10.0,
        any_events=("brochure_download", "video", "email_click", "cart", "purchase"),
    ),
    StageRule("preference", min_score=25.0, any_events=("cart", "purchase")),
)

_CONFIG_KEYS = ("points", "half_life_days", "grade_a_min", "grade_b_min", "stages", "handoff_grades")


@dataclass(frozen=True)
class EngagementConfig:
    """Rules that turn a lead's events into a score, a grade and a stage.

    Attributes
    ----------
    points : mapping of str to float
        Points per event type (:data:`DEFAULT_POINTS`). Other event types score 0
        but still count for ``any_events`` and ``min_items`` of a stage.
    half_life_days : float or None, default 14
        An event this many days old counts half; None turns decay off. Events
        after ``now`` are ignored.
    grade_a_min, grade_b_min : float, default 40 and 15
        Lowest score of grade A (hot) and of grade B (warm); below is C (cold).
    stages : tuple of StageRule
        The funnel in order (:data:`DEFAULT_STAGES`); the first rule must have no
        condition, so every lead has a stage.
    handoff_grades : tuple of str, default ("A",)
        Grades that, at the last stage, put a lead in the sales hand-off.
    """

    points: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_POINTS))
    half_life_days: float | None = 14.0
    grade_a_min: float = 40.0
    grade_b_min: float = 15.0
    stages: tuple[StageRule, ...] = DEFAULT_STAGES
    handoff_grades: tuple[str, ...] = ("A",)

    def __post_init__(self) -> None:
        if not isinstance(self.points, Mapping):
            raise DataValidationError(
                f"points must be a mapping of event type to points; got {type(self.points).__name__}"
            )
        for event, value in self.points.items():
            if not isinstance(event, str) or not event:
                raise DataValidationError(f"points keys must be non-empty event types; got {event!r}")
            check_days(value, f"points[{event!r}]")
        object.__setattr__(self, "points", {event: float(value) for event, value in self.points.items()})

        check_days(self.half_life_days, "half_life_days", allow_none=True, allow_zero=False)
        check_days(self.grade_a_min, "grade_a_min")
        check_days(self.grade_b_min, "grade_b_min")
        if self.grade_b_min > self.grade_a_min:
            raise DataValidationError(
                f"grade_b_min ({self.grade_b_min}) must not exceed grade_a_min ({self.grade_a_min})"
            )

        stages = tuple(self.stages)
        if not stages or not all(isinstance(rule, StageRule) for rule in stages):
            raise DataValidationError(f"stages must be a non-empty list of StageRule; got {self.stages!r}")
        first = stages[0]
        if first.min_score or first.any_events or first.min_items:
            raise DataValidationError(
                f"the first stage ({first.stage!r}) must have no condition, so that every lead has a stage"
            )
        names = [rule.stage for rule in stages]
        if len(set(names)) != len(names):
            raise DataValidationError(f"stage names must be unique; got {names}")
        object.__setattr__(self, "stages", stages)

        unknown = [grade for grade in self.handoff_grades if grade not in GRADES]
        if isinstance(self.handoff_grades, str) or unknown:
            raise DataValidationError(
                f"handoff_grades must list grades from {GRADES}; got {self.handoff_grades!r}"
            )
        object.__setattr__(self, "handoff_grades", tuple(self.handoff_grades))

    @property
    def final_stage(self) -> str:
        """Name of the last stage, the one that hands hot leads to sales."""
        return self.stages[-1].stage

    def grade(self, score: float) -> str:
        """Return the grade of a score."""
        if score >= self.grade_a_min:
            return "A"
        if score >= self.grade_b_min:
            return "B"
        return "C"

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-friendly dict that :meth:`from_dict` reads back."""
        document = asdict(self)
        document["points"] = dict(self.points)
        document["stages"] = [{**asdict(rule), "any_events": list(rule.any_events)} for rule in self.stages]
        document["handoff_grades"] = list(self.handoff_grades)
        return document

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> EngagementConfig:
        """Build a configuration from a dict, as read from JSON or TOML.

        Keys are the attribute names; missing keys keep their defaults. ``stages``
        is a list of tables with the fields of :class:`StageRule`.

        Raises
        ------
        DataValidationError
            For an unknown key or an invalid value.
        """
        if not isinstance(document, Mapping):
            raise DataValidationError(
                f"an engagement config must be a mapping; got {type(document).__name__}"
            )
        unknown = sorted(set(document) - set(_CONFIG_KEYS))
        if unknown:
            raise DataValidationError(
                f"unknown engagement config key(s) {unknown}; use any of {list(_CONFIG_KEYS)}"
            )
        options = dict(document)
        if "stages" in options:
            options["stages"] = tuple(_stage_rule(rule) for rule in options["stages"])
        if "handoff_grades" in options:
            options["handoff_grades"] = tuple(options["handoff_grades"])
        return cls(**options)

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> EngagementConfig:
        """Read a configuration from a ``.json`` or ``.toml`` file (see :meth:`from_dict`)."""
        return cls.from_dict(read_config_file(path, "engagement config"))


def read_config_file(path: str | PathLike[str], label: str) -> dict[str, Any]:
    """Read a JSON or TOML file into a dict."""
    source = Path(path)
    if not source.is_file():
        raise DataValidationError(f"{label} file not found: {str(source)!r}")
    try:
        if source.suffix == ".toml":
            with source.open("rb") as handle:
                return tomllib.load(handle)
        if source.suffix == ".json":
            document = json.loads(source.read_text(encoding="utf-8"))
            if not isinstance(document, dict):
                raise DataValidationError(f"{label} file {str(source)!r} must contain a JSON object")
            return document
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataValidationError(f"cannot read {label} file {str(source)!r}: {error}") from error
    raise DataValidationError(f"{label} file must end in .json or .toml; got {str(source)!r}")


def _stage_rule(document: Any) -> StageRule:
    if not isinstance(document, Mapping):
        raise DataValidationError(f"each stage must be a table with a 'stage' name; got {document!r}")
    allowed = ("stage", "min_score", "any_events", "min_items")
    unknown = sorted(set(document) - set(allowed))
    if unknown or "stage" not in document:
        raise DataValidationError(
            f"a stage needs 'stage' and may have {list(allowed[1:])}; got the keys {sorted(document)}"
        )
    options = dict(document)
    options["any_events"] = tuple(options.get("any_events", ()))
    return StageRule(**options)


@dataclass(frozen=True)
class Engagement:
    """A lead's engagement at one time.

    Attributes
    ----------
    lead_id : int or str
    score : float
        Decayed points, the sum of ``breakdown``.
    grade : {"A", "B", "C"}
    stage : str
    breakdown : dict of str to float
        Decayed points per event type that has points; types the lead never had
        are left out.
    last_event_at : pandas.Timestamp or None
        Time of the lead's latest event up to ``now``.
    """

    lead_id: Id
    score: float
    grade: str
    stage: str
    breakdown: dict[str, float]
    last_event_at: pd.Timestamp | None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-friendly values."""
        return {
            "lead_id": self.lead_id,
            "score": self.score,
            "grade": self.grade,
            "stage": self.stage,
            "breakdown": dict(self.breakdown),
            "last_event_at": None if self.last_event_at is None else self.last_event_at.isoformat(),
        }


def score_leads(
    events: pd.DataFrame | None,
    config: EngagementConfig | None = None,
    *,
    now: Any = None,
    leads: Sequence[Id] | None = None,
) -> dict[str, Engagement]:
    """Score, grade and stage every lead of an events table.

    Parameters
    ----------
    events : DataFrame or None
        Columns ``user_id`` (or ``lead_id``), ``event``, ``timestamp``, and
        optionally ``item_id`` and ``weight`` (see
        :func:`recsys.nurture.normalize_events`).
    config : EngagementConfig, optional
        Defaults to ``EngagementConfig()``.
    now : time, optional
        The time to score at (default: the current time, UTC). Events after it
        are ignored; the age of an event is measured back from it.
    leads : sequence of ids, optional
        Score these leads, also those without events (score 0, grade C, first
        stage). Default: every lead in ``events``.

    Returns
    -------
    dict of str to Engagement
        Keyed by the id's text (``str(lead_id)``), so the int 1001 and the str
        ``"1001"`` find the same lead.
    """
    config = config or EngagementConfig()
    moment = to_utc(pd.Timestamp.now(tz="UTC") if now is None else now, "now")
    frame = normalize_events(events)
    frame = frame[frame["timestamp"] <= moment]

    age_days = (moment - frame["timestamp"]).dt.total_seconds().to_numpy() / 86_400.0
    decay = (
        np.ones(len(frame)) if config.half_life_days is None else np.exp2(-age_days / config.half_life_days)
    )
    has_points = frame["event"].isin(list(config.points)).to_numpy()
    points = frame["event"].map(config.points).fillna(0.0).to_numpy(dtype=np.float64)
    frame = frame.assign(points=points * frame["weight"].to_numpy() * decay)

    breakdown = (
        frame[has_points].groupby(["lead_key", "event"], sort=False)["points"].sum().unstack(fill_value=0)
        if has_points.any()
        else pd.DataFrame()
    )
    groups = frame.groupby("lead_key", sort=False)
    last_event = groups["timestamp"].max()
    event_sets: dict[str, set[str]] = {
        str(key): set(group.tolist()) for key, group in frame.groupby("lead_key", sort=False)["event"]
    }
    item_counts = groups["item_id"].agg(lambda column: column.dropna().nunique())
    lead_ids = groups["user_id"].first()

    keys = list(lead_ids.index)
    originals: dict[str, Id] = {key: lead_ids[key] for key in keys}
    for lead in leads or ():
        lead = check_lead_id(lead)
        key = id_key(lead)
        if key not in originals:
            originals[key] = lead
            keys.append(key)
    if leads is not None:
        requested = {id_key(check_lead_id(lead)) for lead in leads}
        keys = [key for key in keys if key in requested]

    result: dict[str, Engagement] = {}
    for key in keys:
        parts: dict[str, float] = {}
        if key in breakdown.index:
            row = breakdown.loc[key]
            parts = {str(event): float(value) for event, value in row.items() if value > 0}
        score = float(sum(parts.values()))
        events_seen = event_sets.get(key, set())
        n_items = int(item_counts.get(key, 0))
        result[key] = Engagement(
            lead_id=originals[key],
            score=score,
            grade=config.grade(score),
            stage=_stage(config, score, events_seen, n_items),
            breakdown=parts,
            last_event_at=last_event.get(key),
        )
    return result


def _stage(config: EngagementConfig, score: float, events_seen: set[str], n_items: int) -> str:
    for rule in reversed(config.stages):
        if score < rule.min_score or n_items < rule.min_items:
            continue
        if rule.any_events and not events_seen.intersection(rule.any_events):
            continue
        return rule.stage
    return config.stages[0].stage
