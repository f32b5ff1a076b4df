"""Nurture campaigns over HTTP: store a campaign, run its rounds, read a lead's next-best products.

A campaign is stored first with ``PUT /v1/nurture/campaigns/{campaign_id}`` (its
settings and engagement rules, in the ``nurture_campaigns`` table). Each round is
then one batch request, ``POST /v1/nurture/campaigns/{campaign_id}/rounds/{round_number}``
with the lead list, and :func:`recsys.nurture.run_round` picks its items with the
served model. Its sends go to a :class:`recsys.nurture.SendLedger` on the event store's
engine, so campaigns, sends and events share one database, and a rerun of a round
returns the recorded items without recording anything twice.

The leads' engagement and recent history come from the events stored with
``POST /v1/events``. Only the stored events the model was not trained on join the
history as recent events, by the rule of ``GET /v1/users/{user_id}/recommendations``
(:func:`service.store.read_unseen_events`), so fitted events are not counted twice.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Column, Engine, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from recsys import Recommender
from recsys.exceptions import DataValidationError, UnknownItemError
from recsys.nurture import METADATA as LEDGER_METADATA
from recsys.nurture import (
    Campaign,
    Engagement,
    EngagementConfig,
    LeadPlan,
    SendLedger,
    next_best,
    run_round,
    score_leads,
)
from service.deps import (
    RequestIdDep,
    ServingDep,
    SettingsDep,
    reject_unknown_query_parameters,
    require_json_body,
)
from service.limits import check_limits
from service.routers.events import StoreDep
from service.schemas import (
    CampaignRequest,
    CampaignResponse,
    EngagementResponse,
    LeadEngagement,
    LeadPlanBody,
    NextBestResponse,
    NurtureItem,
    RoundRequest,
    RoundResponse,
)
from service.security import require_read_key, require_write_key
from service.store import EventStore, UTCDateTime, metadata, unseen_mask

__all__ = ["campaigns_table", "read_router", "router", "write_router"]

logger = logging.getLogger("recsys.service")

# Stored events read per lead, newest first. Older ones are left out of the score and the history.
# NOTE: 1000 is the event store's MAX_RECENT_EVENTS, a guess that no benchmark has sized.
_EVENTS_PER_LEAD = 1000
# Events received before this time are never read, and every stored event is later.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Maximum length of a campaign id in the path.
_MAX_CAMPAIGN_ID = 128

#: One row per stored campaign: the fields of ``Campaign.to_dict()`` and the
#: engagement rules, as JSON.
campaigns_table = Table(
    "nurture_campaigns",
    metadata,
    Column("campaign_id", String(_MAX_CAMPAIGN_ID), primary_key=True),
    Column("definition", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The ledger's tables join the store's metadata, so EventStore.create_tables makes
# them at startup, before concurrent requests could race to create them.
for _table in LEDGER_METADATA.sorted_tables:
    if _table.name not in metadata.tables:
        _table.to_metadata(metadata)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "The X-API-Key header is missing or holds an unknown key"},
    403: {"description": "The server has no API keys, so these endpoints are disabled"},
    404: {"description": "No campaign is stored under this campaign_id"},
    503: {"description": "The database is unavailable; nothing was recorded"},
}

write_router = APIRouter(
    prefix="/v1/nurture",
    tags=["nurture"],
    dependencies=[Depends(reject_unknown_query_parameters), Depends(require_write_key)],
)
read_router = APIRouter(
    prefix="/v1/nurture",
    tags=["nurture"],
    dependencies=[Depends(reject_unknown_query_parameters), Depends(require_read_key)],
)
#: Both routers, for one ``include_router`` in :func:`service.main.create_app`.
router = APIRouter()

CampaignIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=_MAX_CAMPAIGN_ID,
        pattern=r"^[A-Za-z0-9._~-]+$",
        description="The campaign id: letters, digits and . _ ~ -, at most 128 characters.",
    ),
]
LeadIdPath = Annotated[
    str,
    Path(
        description="The lead id (a user id of the model); an integer-keyed model matches its decimal "
        "text. At most RECSYS_MAX_ID_LENGTH characters (default 256)."
    ),
]


@write_router.put(
    "/campaigns/{campaign_id}",
    response_model=CampaignResponse,
    dependencies=[Depends(require_json_body)],
    responses={
        200: {"description": "An existing campaign was replaced"},
        201: {"description": "The campaign was stored", "model": CampaignResponse},
        **_RESPONSES,
        415: {"description": "The body is not sent as application/json"},
    },
)
def put_campaign(
    campaign_id: CampaignIdPath,
    body: CampaignRequest,
    response: Response,
    settings: SettingsDep,
    store: StoreDep,
    request_id: RequestIdDep,
) -> CampaignResponse:
    """Store a campaign's settings and engagement rules, replacing any stored under the same id.

    Rounds already run keep their recorded sends. The next round uses the new
    settings: a smaller ``rounds`` makes later rounds invalid, a new cooldown
    applies from then on.
    """
    check_limits(
        settings,
        "body",
        n=body.items_per_round,
        lists={"include_items": body.include_items, "exclude_items": body.exclude_items},
    )
    campaign, engagement = _build_campaign(campaign_id, body)
    definition = {**campaign.to_dict(), "engagement": engagement.to_dict()}
    now = datetime.now(UTC)
    with _database_errors("storing the campaign", request_id):
        created = _upsert_campaign(store.engine, campaign_id, definition, now)
    response.status_code = 201 if created else 200
    logger.info("stored nurture campaign %r (request_id=%s)", campaign_id, request_id)
    return _campaign_response(definition, now, request_id)


@write_router.post(
    "/campaigns/{campaign_id}/rounds/{round_number}",
    response_model=RoundResponse,
    dependencies=[Depends(require_json_body)],
    responses={
        **_RESPONSES,
        409: {"description": "The previous round of the campaign has no recorded sends"},
        415: {"description": "The body is not sent as application/json"},
    },
)
def run_campaign_round(
    campaign_id: CampaignIdPath,
    round_number: Annotated[int, Path(ge=1, description="The round, from 1 to the campaign's rounds.")],
    body: RoundRequest,
    request: Request,
    serving: ServingDep,
    settings: SettingsDep,
    store: StoreDep,
    request_id: RequestIdDep,
) -> RoundResponse:
    """Run one round of a stored campaign for a list of leads, and record its sends.

    Round 1 targets every lead. Round k targets the leads sent round k - 1 who then
    had a stored event (of the campaign's ``engagement_events``, or any). Running a round
    again returns the recorded items of each lead (``already_sent``) and records
    only leads that are new to the round, so a retry never sends twice.
    """
    check_limits(settings, "body", n=None, lists={"leads": body.leads})
    model = serving.model
    with _database_errors("running the round", request_id):
        campaign, engagement = _stored_campaign(store.engine, campaign_id)
        _check_round(campaign, round_number)
        ledger = _ledger(request, store)
        if round_number > 1 and not ledger.sends(campaign_id, round_number - 1):
            raise HTTPException(
                status_code=409,
                detail=f"round {round_number - 1} of campaign {campaign_id!r} has no recorded sends, so "
                f"round {round_number} has no leads to target; run round {round_number - 1} first",
            )
        events = _lead_events(store, body.leads, model)
        with _include_items_errors(campaign):
            result = run_round(
                campaign,
                round_number,
                model,
                ledger,
                body.leads,
                events,
                engagement=engagement,
                dry_run=body.dry_run,
            )
    logger.info(
        "nurture campaign %r round %d: %d leads, %d recorded now (request_id=%s)",
        campaign_id,
        round_number,
        len(result.plans),
        result.sends_recorded,
        request_id,
    )
    return RoundResponse(
        campaign_id=campaign_id,
        round=round_number,
        sent_at=result.sent_at.isoformat(),
        recorded=result.recorded,
        sends_recorded=result.sends_recorded,
        model_version=result.model_version,
        leads=[_plan_body(plan) for plan in result.plans],
        unknown_items=list(result.unknown_items),
        request_id=request_id,
    )


@read_router.get(
    "/campaigns/{campaign_id}/leads/{lead_id:path}/next-best",
    response_model=NextBestResponse,
    responses={404: _RESPONSES[404], 503: _RESPONSES[503]},
)
def read_next_best(
    campaign_id: CampaignIdPath,
    lead_id: LeadIdPath,
    request: Request,
    serving: ServingDep,
    settings: SettingsDep,
    store: StoreDep,
    request_id: RequestIdDep,
    n: Annotated[
        int | None,
        Query(
            ge=1,
            description="Number of products; default the campaign's items_per_round, at most RECSYS_MAX_N.",
        ),
    ] = None,
) -> NextBestResponse:
    """Return a lead's next-best products under a campaign's rules, without recording a send.

    Items sent to the lead within the campaign's cooldown, bought items and the
    campaign's exclusions are left out; exposure caps apply to whole rounds only.
    """
    model = serving.model
    with _database_errors("reading the lead's next-best products", request_id):
        campaign, engagement = _stored_campaign(store.engine, campaign_id)
        n = check_limits(
            settings,
            "query",
            n=campaign.items_per_round if n is None else n,
            lists={},
            path_ids={"lead_id": lead_id},
        )
        events = _lead_events(store, [lead_id], model)
        with _include_items_errors(campaign):
            plan = next_best(
                model,
                lead_id,
                events,
                n=n,
                campaign=campaign,
                ledger=_ledger(request, store),
                engagement=engagement,
            )
    return NextBestResponse(campaign_id=campaign_id, request_id=request_id, **_plan_body(plan).model_dump())


@read_router.get(
    "/campaigns/{campaign_id}/leads/{lead_id:path}/engagement",
    response_model=EngagementResponse,
    responses={404: _RESPONSES[404], 503: _RESPONSES[503]},
)
def read_engagement(
    campaign_id: CampaignIdPath,
    lead_id: LeadIdPath,
    settings: SettingsDep,
    store: StoreDep,
    request_id: RequestIdDep,
) -> EngagementResponse:
    """Return a lead's engagement score, grade (A hot, B warm, C cold) and stage, with the points per event type.

    The score covers every stored event of the lead (the newest 1000), under the
    campaign's engagement rules; it needs no model.
    """
    check_limits(settings, "query", n=None, lists={}, path_ids={"lead_id": lead_id})
    with _database_errors("reading the lead's events", request_id):
        _, engagement = _stored_campaign(store.engine, campaign_id)
        events = _lead_events(store, [lead_id])
    scores = score_leads(events, engagement, leads=[lead_id])
    return EngagementResponse(
        campaign_id=campaign_id,
        lead_id=lead_id,
        request_id=request_id,
        **_engagement_body(scores[lead_id]).model_dump(),
    )


router.include_router(write_router)
router.include_router(read_router)


# --------------------------------------------------------------------------- campaigns


def _build_campaign(campaign_id: str, body: CampaignRequest) -> tuple[Campaign, EngagementConfig]:
    """Build the library's campaign and engagement rules, turning their errors into 422s."""
    options = body.model_dump(exclude={"engagement"})
    for name in ("include_items", "exclude_items", "engagement_events", "exclude_seen"):
        if isinstance(options[name], list):
            options[name] = tuple(options[name])
    try:
        campaign = Campaign(campaign_id, **options)
    except DataValidationError as error:
        raise _body_error(("body",), str(error), None) from error
    try:
        engagement = EngagementConfig.from_dict(body.engagement or {})
    except (DataValidationError, TypeError) as error:
        # TypeError: a stage rule or a list with values of the wrong JSON type.
        raise _body_error(("body", "engagement"), str(error), body.engagement) from error
    return campaign, engagement


def _upsert_campaign(engine: Engine, campaign_id: str, definition: dict[str, Any], now: datetime) -> bool:
    """Store a campaign; return whether it is new."""
    row = {"definition": json.dumps(definition, ensure_ascii=False), "updated_at": now}
    table = campaigns_table
    for _attempt in range(2):
        with engine.begin() as connection:
            updated = connection.execute(
                update(table).where(table.c.campaign_id == campaign_id).values(**row)
            ).rowcount
            if updated:
                return False
            try:
                connection.execute(insert(table).values(campaign_id=campaign_id, **row))
                return True
            except IntegrityError:
                # Another request stored the same campaign between the update and the insert.
                logger.info("campaign %r was stored concurrently; updating it", campaign_id)
    return False


def _stored_campaign(engine: Engine, campaign_id: str) -> tuple[Campaign, EngagementConfig]:
    """Read a stored campaign.

    Raises
    ------
    HTTPException
        404 when no campaign is stored under the id.
    """
    with engine.connect() as connection:
        row = connection.execute(
            select(campaigns_table.c.definition).where(campaigns_table.c.campaign_id == campaign_id)
        ).first()
    if row is None:
        raise HTTPException(
            status_code=404,
            detail=f"unknown campaign_id {campaign_id!r}: no campaign is stored under it; "
            f"store it first with PUT /v1/nurture/campaigns/{campaign_id}",
        )
    definition = json.loads(row.definition)
    engagement = EngagementConfig.from_dict(definition.pop("engagement"))
    return Campaign.from_dict(definition), engagement


def _campaign_response(definition: dict[str, Any], updated_at: datetime, request_id: str) -> CampaignResponse:
    return CampaignResponse(
        **definition,
        updated_at=updated_at.isoformat(),
        request_id=request_id,
    )


def _check_round(campaign: Campaign, round_number: int) -> None:
    if round_number > campaign.rounds:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("path", "round_number"),
                    "msg": f"must be a round of campaign {campaign.campaign_id!r}, which has rounds "
                    f"1 to {campaign.rounds}",
                    "input": round_number,
                }
            ]
        )


# --------------------------------------------------------------------------- ledger and events

_LEDGER_LOCK = threading.Lock()


def _ledger(request: Request, store: EventStore) -> SendLedger:
    """Return the app's ledger on the store's engine, made on first use."""
    with _LEDGER_LOCK:
        ledger: SendLedger | None = getattr(request.app.state, "nurture_ledger", None)
        if ledger is None or ledger.engine is not store.engine:
            ledger = SendLedger(store.engine)
            request.app.state.nurture_ledger = ledger
        return ledger


def _lead_events(
    store: EventStore, leads: Sequence[int | str], model: Recommender | None = None
) -> pd.DataFrame | None:
    """Read the stored events of the leads as a nurture events table; None when there are none.

    With a ``model``, its ``recent`` column marks the events the model was not
    trained on, by the rule of ``GET /v1/users/{user_id}/recommendations`` (see
    :func:`service.store.read_unseen_events`), so only those join a lead's history.
    """
    frames = []
    for lead in leads:
        events = store.read_user_events(lead, _EPOCH, limit=_EVENTS_PER_LEAD)
        if not events.empty:
            table = events.drop(columns=["received_at", "row_id"]).assign(user_id=lead)
            if model is not None:
                table["recent"] = unseen_mask(model, events)
            frames.append(table)
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)


@contextmanager
def _database_errors(action: str, request_id: str) -> Iterator[None]:
    """Turn a failing database into 503, logged with the driver's message only."""
    try:
        yield
    except SQLAlchemyError as error:
        logger.error(
            "%s failed (request_id=%s): %s: %s",
            action,
            request_id,
            type(error).__name__,
            getattr(error, "orig", None) or error.code,
        )
        raise HTTPException(
            status_code=503,
            detail=f"the database is unavailable, so {action} failed and nothing was recorded; retry later",
            headers={"Retry-After": "1"},
        ) from error


@contextmanager
def _include_items_errors(campaign: Campaign) -> Iterator[None]:
    """Turn an include_items id unknown to the served model into a 422 on that field."""
    try:
        yield
    except UnknownItemError as error:
        raise _body_error(
            ("body", "include_items"),
            f"names items unknown to the served model ({error}); store the campaign again without them",
            list(campaign.include_items or ()),
        ) from error


def _body_error(loc: tuple[str, ...], message: str, value: Any) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message, "input": value}])


# --------------------------------------------------------------------------- responses


def _plan_body(plan: LeadPlan) -> LeadPlanBody:
    return LeadPlanBody(
        lead_id=plan.lead_id,
        items=[
            NurtureItem(
                item_id=item.item_id,
                rank=item.rank,
                score=item.score,
                reason=item.reason,  # type: ignore[arg-type]
                backfill=item.backfill,
                because=list(item.because),
                explanation=explanation,
            )
            for item, explanation in zip(plan.items, plan.reasons, strict=True)
        ],
        already_sent=plan.already_sent,
        known_lead=plan.known_lead,
        model_version=plan.model_version,
        sent_at=None if plan.sent_at is None else plan.sent_at.isoformat(),
        engagement=_engagement_body(plan.engagement),
    )


def _engagement_body(engagement: Engagement) -> LeadEngagement:
    return LeadEngagement(
        score=engagement.score,
        grade=engagement.grade,  # type: ignore[arg-type]
        stage=engagement.stage,
        breakdown=dict(engagement.breakdown),
        last_event_at=None if engagement.last_event_at is None else engagement.last_event_at.isoformat(),
    )
