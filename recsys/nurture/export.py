"""Tables out of the nurture API: a round's sends and the sales hand-off, written as CSV, Parquet or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from recsys._ids import Id
from recsys.exceptions import DataValidationError
from recsys.models.base import Recommender
from recsys.nurture._frames import id_key, normalize_events, to_utc
from recsys.nurture.engagement import EngagementConfig, score_leads
from recsys.nurture.ledger import SendLedger

if TYPE_CHECKING:
    from recsys.nurture.rounds import RoundResult

__all__ = ["HANDOFF_COLUMNS", "ROUND_COLUMNS", "handoff", "round_frame", "write_table"]

#: Columns of a round's table, one row per sent item:
#:
#: - ``campaign_id``, ``round``, ``lead_id``, ``rank`` (1 = best), ``item_id``,
#:   ``description`` (from the model's metadata, else empty);
#: - ``score`` (item-item score, or popularity for backfill), ``reason``
#:   (``similar`` or ``popular``), ``backfill`` (True for ``popular``),
#:   ``because`` (list of history item ids), ``reason_text`` (a sentence);
#: - ``model_version``, ``sent_at`` (UTC; when the item was first recorded), ``already_sent`` (True when the item
#:   comes from an earlier run of the round);
#: - ``engagement_score``, ``grade`` (A, B, C), ``stage``, ``engagement_breakdown``
#:   (dict of event type to decayed points).
ROUND_COLUMNS = (
    "campaign_id",
    "round",
    "lead_id",
    "rank",
    "item_id",
    "description",
    "score",
    "reason",
    "backfill",
    "because",
    "reason_text",
    "model_version",
    "sent_at",
    "already_sent",
    "engagement_score",
    "grade",
    "stage",
    "engagement_breakdown",
)

#: Columns of the sales hand-off, one row per hot lead at the final stage:
#:
#: - ``lead_id``, ``engagement_score``, ``grade``, ``stage``,
#:   ``engagement_breakdown`` (dict of event type to decayed points),
#:   ``last_event_at`` (UTC);
#: - ``top_products`` (list of item ids, best first), ``product_descriptions``
#:   (list, empty strings where unknown), ``reasons`` (list of sentences, one per
#:   product), ``model_version``, ``scored_at`` (the ``now`` of the export, UTC).
HANDOFF_COLUMNS = (
    "lead_id",
    "engagement_score",
    "grade",
    "stage",
    "engagement_breakdown",
    "last_event_at",
    "top_products",
    "product_descriptions",
    "reasons",
    "model_version",
    "scored_at",
)

# Columns that hold lists or dicts: JSON text in CSV and Parquet files.
_NESTED = ("because", "engagement_breakdown", "top_products", "product_descriptions", "reasons")


def round_frame(result: RoundResult, model: Recommender | None = None) -> pd.DataFrame:
    """Return a round's sends as one row per item, with the columns of :data:`ROUND_COLUMNS`.

    ``model`` supplies the descriptions; without it they are empty.
    """
    rows = []
    for plan in result.plans:
        descriptions = _descriptions(model, plan.item_ids)
        for item, description, text in zip(plan.items, descriptions, plan.reasons, strict=True):
            rows.append(
                {
                    "campaign_id": result.campaign_id,
                    "round": result.round,
                    "lead_id": plan.lead_id,
                    "rank": item.rank,
                    "item_id": item.item_id,
                    "description": description,
                    "score": item.score,
                    "reason": item.reason,
                    "backfill": item.backfill,
                    "because": list(item.because),
                    "reason_text": text,
                    "model_version": plan.model_version,
                    "sent_at": result.sent_at if plan.sent_at is None else plan.sent_at,
                    "already_sent": plan.already_sent,
                    "engagement_score": plan.engagement.score,
                    "grade": plan.engagement.grade,
                    "stage": plan.engagement.stage,
                    "engagement_breakdown": dict(plan.engagement.breakdown),
                }
            )
    return _frame(rows, ROUND_COLUMNS)


def handoff(
    model: Recommender,
    events: pd.DataFrame | None,
    *,
    leads: Iterable[Id] | None = None,
    config: EngagementConfig | None = None,
    now: Any = None,
    n: int = 3,
    ledger: SendLedger | None = None,
    recent_after: Any = None,
) -> pd.DataFrame:
    """List the leads to hand to sales: hot (``config.handoff_grades``) and at the final stage.

    Parameters
    ----------
    model : Recommender
        Picks each lead's top products, with the rules of
        :func:`recsys.nurture.next_best` (bought items are never listed).
    events : DataFrame or None
        Nurture events (see :func:`recsys.nurture.normalize_events`).
    leads : iterable of ids, optional
        Consider only these leads; default every lead in ``events``.
    config : EngagementConfig, optional
    now : time, optional
        Scoring time (default: the current time, UTC).
    n : int, default 3
        Products per lead.
    ledger : SendLedger, optional
        When given, products sent within the default cooldown are left out.
    recent_after : time, optional
        As in :func:`recsys.nurture.run_round`.

    Returns
    -------
    DataFrame
        The columns of :data:`HANDOFF_COLUMNS`, hottest lead first (ties by lead id text).
    """
    from recsys.nurture.rounds import next_best

    config = config or EngagementConfig()
    moment = to_utc(pd.Timestamp.now(tz="UTC") if now is None else now, "now")
    frame = normalize_events(events)
    scores = score_leads(frame, config, now=moment, leads=None if leads is None else list(leads))
    hot = [
        engagement
        for engagement in scores.values()
        if engagement.grade in config.handoff_grades and engagement.stage == config.final_stage
    ]
    hot.sort(key=lambda engagement: (-engagement.score, id_key(engagement.lead_id)))
    lead_keys = {id_key(engagement.lead_id) for engagement in hot}
    lead_events = frame[frame["lead_key"].isin(lead_keys)]

    rows = []
    for engagement in hot:
        plan = next_best(
            model,
            engagement.lead_id,
            lead_events[lead_events["lead_key"] == id_key(engagement.lead_id)],
            n=n,
            ledger=ledger,
            now=moment,
            engagement=config,
            recent_after=recent_after,
        )
        rows.append(
            {
                "lead_id": engagement.lead_id,
                "engagement_score": engagement.score,
                "grade": engagement.grade,
                "stage": engagement.stage,
                "engagement_breakdown": dict(engagement.breakdown),
                "last_event_at": engagement.last_event_at,
                "top_products": plan.item_ids,
                "product_descriptions": _descriptions(model, plan.item_ids),
                "reasons": list(plan.reasons),
                "model_version": plan.model_version,
                "scored_at": moment,
            }
        )
    return _frame(rows, HANDOFF_COLUMNS)


def write_table(frame: pd.DataFrame, path: str | PathLike[str]) -> Path:
    """Write a nurture table to ``.csv``, ``.parquet`` or ``.json``, chosen by the suffix.

    CSV and Parquet hold list and dict columns (``because``, ``reasons``, ...) as
    JSON text and times as ISO 8601 text. JSON is a list of records with real
    lists and dicts. Ids keep their text exactly (UTF-8).

    Returns
    -------
    pathlib.Path
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet", ".json"):
        raise DataValidationError(f"output file must end in .csv, .parquet or .json; got {str(target)!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".json":
        records = [
            {column: _json_value(value) for column, value in record.items()}
            for record in frame.to_dict(orient="records")
        ]
        target.write_text(json.dumps(records, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return target
    flat = frame.copy()
    for column in flat.columns:
        if column in _NESTED:
            flat[column] = [json.dumps(value, ensure_ascii=False) for value in flat[column]]
        elif isinstance(flat[column].dtype, pd.DatetimeTZDtype):
            flat[column] = [None if pd.isna(value) else value.isoformat() for value in flat[column]]
        elif flat[column].dtype == object and column.endswith("_id"):
            # Ids of one column may mix int and str, so each id is written as its text key.
            flat[column] = flat[column].map(id_key).astype(object)
    if suffix == ".csv":
        flat.to_csv(target, index=False, encoding="utf-8")
    else:
        flat.to_parquet(target, index=False)
    return target


def _json_value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()
    return value


def _descriptions(model: Recommender | None, item_ids: list[Id]) -> list[str]:
    if model is None:
        return ["" for _ in item_ids]
    return [str(info.get("description", "")) for info in model.get_item_metadata(item_ids)]


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in ("lead_id", "item_id"):
        if column in frame:
            frame[column] = frame[column].astype(object)
    return frame
