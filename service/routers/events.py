"""Events in: ``POST /v1/events`` stores a batch of events in the event store."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError

from recsys.data import DEFAULT_EVENT_WEIGHTS
from service.config import Settings
from service.deps import RequestIdDep, SettingsDep, reject_unknown_query_parameters, require_json_body
from service.schemas import Event, EventsRequest, EventsResponse
from service.security import require_write_key
from service.state import ServingModel
from service.store import EventIdConflictError, EventStore, NewEvent

__all__ = ["StoreDep", "get_store", "router"]

logger = logging.getLogger("recsys.service")

# Distinct event types listed in an error message, at most.
_MAX_TYPES_SHOWN = 10

# Largest event weight times type weight, as recsys.data accepts it for training.
_MAX_VALUE = float(np.finfo(np.float32).max)

router = APIRouter(
    prefix="/v1",
    tags=["events"],
    dependencies=[Depends(reject_unknown_query_parameters), Depends(require_write_key)],
)


async def get_store(request: Request) -> EventStore:
    """Return the event store of the app.

    Raises
    ------
    HTTPException
        503 when no store is open: before startup completes, or after shutdown.
    """
    store: EventStore | None = getattr(request.app.state, "store", None)
    if store is None:
        raise HTTPException(status_code=503, detail="the event store is not open yet; retry in a moment")
    return store


StoreDep = Annotated[EventStore, Depends(get_store)]


@router.post(
    "/events",
    status_code=201,
    response_model=EventsResponse,
    dependencies=[Depends(require_json_body)],
    responses={
        200: {
            "description": "Every event was a duplicate, so nothing new was stored",
            "model": EventsResponse,
        },
        401: {"description": "The X-API-Key header is missing or holds an unknown key"},
        403: {"description": "The server has no API keys, so write endpoints are disabled"},
        409: {"description": "An event_id is already stored with different content; nothing was stored"},
        415: {"description": "The body is not sent as application/json"},
        503: {"description": "The event store is unavailable; nothing was stored"},
    },
)
def create_events(
    body: EventsRequest,
    request: Request,
    response: Response,
    settings: SettingsDep,
    store: StoreDep,
    request_id: RequestIdDep,
) -> EventsResponse:
    """Store a batch of events, so that the user's next recommendations include them.

    The batch is validated and stored as a whole, and is committed before the
    response is sent: 201 when new events were stored, 200 when every event was a
    duplicate of a stored one. Any invalid event rejects the whole batch with 422,
    whose ``errors`` name each bad field as ``events[i].field``. Event types and
    id lengths are checked once every event matches the schema.
    """
    event_weights = {name: 1.0 for name in settings.engagement_events} | _event_weights(request)
    check_events(settings, body.events, event_weights)
    new_events = [
        NewEvent(
            user_id=event.user_id,
            item_id=event.item_id,
            event=event.event,
            timestamp=event.timestamp,
            weight=event.weight,
            event_id=event.event_id,
        )
        for event in body.events
    ]
    try:
        result = store.add_events(new_events)
    except EventIdConflictError as error:
        logger.info("rejected a batch of %d events (request_id=%s): %s", len(new_events), request_id, error)
        raise HTTPException(status_code=409, detail=str(error)) from error
    except SQLAlchemyError as error:
        # The message of the driver error only: the statement could show the client's ids.
        logger.error(
            "storing a batch of %d events failed (request_id=%s): %s: %s",
            len(new_events),
            request_id,
            type(error).__name__,
            getattr(error, "orig", None) or error.code,
        )
        raise HTTPException(
            status_code=503,
            detail="the event store is unavailable; nothing was stored, so send the batch again later",
            headers={"Retry-After": "1"},
        ) from error

    if result.accepted == 0:
        response.status_code = 200
    _count_ingested(request, result.accepted)
    logger.debug(
        "stored %d events, %d duplicates (request_id=%s)", result.accepted, result.duplicates, request_id
    )
    return EventsResponse(accepted=result.accepted, duplicates=result.duplicates, request_id=request_id)


def check_events(settings: Settings, events: Sequence[Event], event_weights: Mapping[str, float]) -> None:
    """Check the limits of the settings, the event types and the weights.

    ``event_weights`` maps each accepted event type to its weight in the served
    model (1 for engagement-only types). As in the library, an event's weight
    times its type's weight must fit in float32, so that every stored event can
    be trained on and scored.

    Raises
    ------
    RequestValidationError
        If the batch has more than ``max_events`` events, or an event has an id
        longer than ``max_id_length`` or a type that the model was not fitted
        with. It lists every such error, except that the events of a batch that
        is too long are not checked.
    """
    if len(events) > settings.max_events:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "events"),
                    "msg": f"must contain at most {settings.max_events} events (the server's "
                    f"RECSYS_MAX_EVENTS); split the batch",
                    # The length replaces the list, which could be too large to echo back.
                    "input": len(events),
                }
            ]
        )
    known_types = set(event_weights)
    shown_types = ", ".join(sorted(known_types)[:_MAX_TYPES_SHOWN])
    errors: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        for field in ("event_id", "user_id", "item_id"):
            value = getattr(event, field)
            if value is None:
                continue
            length = len(value) if isinstance(value, str) else len(str(value))
            if length > settings.max_id_length:
                errors.append(
                    {
                        "type": "string_too_long",
                        "loc": ("body", "events", index, field),
                        "msg": f"must be at most {settings.max_id_length} characters long "
                        f"(the server's RECSYS_MAX_ID_LENGTH), not {length}",
                        "input": value,
                    }
                )
        type_weight = event_weights.get(event.event)
        if event.weight is not None and type_weight is not None and event.weight * type_weight > _MAX_VALUE:
            errors.append(
                {
                    "type": "weight_too_large",
                    "loc": ("body", "events", index, "weight"),
                    "msg": f"must be at most {_MAX_VALUE:.3g} once multiplied by the weight "
                    f"{type_weight:g} of event type {event.event!r} (the float32 range the model stores)",
                    "input": event.weight,
                }
            )
        if event.event not in known_types:
            errors.append(
                {
                    "type": "event_type",
                    "loc": ("body", "events", index, "event"),
                    "msg": f"must be an event type of the served model or of RECSYS_ENGAGEMENT_EVENTS: "
                    f"{shown_types}",
                    "input": event.event,
                }
            )
    if errors:
        raise RequestValidationError(errors)


def _event_weights(request: Request) -> dict[str, float]:
    """Return the event weights of the served model, or the default ones when none is loaded."""
    serving: ServingModel | None = getattr(request.app.state, "serving", None)
    if serving is None:
        return dict(DEFAULT_EVENT_WEIGHTS)
    return dict(serving.model._event_weights())


def _count_ingested(request: Request, count: int) -> None:
    """Add ``count`` to the ``events_ingested`` counter, when the app has metrics."""
    metrics = getattr(request.app.state, "metrics", None)
    counter = getattr(metrics, "events_ingested", None)
    if counter is not None and count:
        counter.inc(count)
