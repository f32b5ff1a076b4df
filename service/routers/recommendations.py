"""Recommendations for a known or unknown user, and for an anonymous basket."""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from recsys import Recommender
from service.deps import (
    QueryFreeFastPathRoute,
    ReadContextDep,
    apply_catalog_upload,
    check_read_request,
    check_read_request_directly,
    handle_without_query,
    read_default_rules,
    require_json_body,
)
from service.limits import check_limits
from service.responses import json_response, recommended_items
from service.routers.catalog import RulesQueryDep, evidence_fields, rules_from_body
from service.schemas import N_DESCRIPTION, BasketRequest, RecommendationsResponse, UserRecommendationsResponse
from service.store import EventStore, read_recent_history

__all__ = ["router"]

logger = logging.getLogger("recsys.service")

# The checks of unknown query parameters and of the read key run in each handler's
# ReadContextDep, first, as router dependencies would.
router = APIRouter(prefix="/v1", tags=["recommendations"], route_class=QueryFreeFastPathRoute)


async def _read_user_recommendations_without_query(request: Request) -> Response:
    context = await check_read_request_directly(request)
    request_rules = await read_default_rules(request)
    return await read_user_recommendations(request.path_params["user_id"], request, context, request_rules)


# An async handler that reads the event store in the thread pool, because FastAPI would run
# a sync handler and its response validation there, one thread hop more. Each handler returns
# a ready response, so FastAPI does not validate the model again. response_model documents it.
@router.get(
    "/users/{user_id:path}/recommendations",
    response_model=UserRecommendationsResponse,
    responses={404: {"description": "Unknown user with strict=true"}},
)
@handle_without_query(_read_user_recommendations_without_query)
async def read_user_recommendations(
    user_id: Annotated[
        str,
        Path(
            description="The user id; an integer-keyed model matches its decimal text. "
            "At most RECSYS_MAX_ID_LENGTH characters (default 256)."
        ),
    ],
    request: Request,
    context: ReadContextDep,
    request_rules: RulesQueryDep,
    n: Annotated[int | None, Query(ge=0, description=N_DESCRIPTION)] = None,
    exclude: Annotated[
        list[str] | None, Query(description="Items never to return. Repeat the parameter for each id.")
    ] = None,
    backfill: Annotated[bool, Query(description="Fill the list up to n with popular items.")] = False,
    strict: Annotated[
        bool,
        Query(
            description="Return 404 for a user with neither a fitted history nor stored events "
            "since the fit, instead of the fallback."
        ),
    ] = False,
) -> Response:
    """Recommend items for a user from the fitted history plus the events stored since the fit.

    Events posted with ``POST /v1/events`` count from the next request on, without retraining.
    """
    request_id = context.request_id
    n = check_limits(
        context.settings, "query", n=n, lists={"exclude": exclude}, path_ids={"user_id": user_id}
    )
    model = context.serving.model
    recent = await _read_recent_history(request, model, user_id, request_id)
    result = model.recommend(
        user_id,
        n,
        exclude=exclude,
        backfill=backfill,
        strict=strict,
        recent=recent,
        rules=request_rules.rules,
        min_support=request_rules.min_support,
    )
    known_user = bool(result.known_user)
    recent_events = 0 if recent is None else len(recent)
    body = UserRecommendationsResponse(
        user_id=user_id,
        known_user=known_user,
        recent_events=recent_events,
        items=recommended_items(model, result),
        # A user with no history at all gets the popular fallback, even when it is empty (n=0).
        fallback=any(item.fallback for item in result.items) or (not known_user and recent_events == 0),
        unknown_items=list(result.unknown_items),
        model_version=model.version_,
        request_id=request_id,
        **evidence_fields(result),
    )
    return json_response(body)


# An async handler, because it does no I/O: FastAPI runs a sync one in the thread pool.
@router.post(
    "/recommendations",
    response_model=RecommendationsResponse,
    # check_read_request comes first, as router dependencies would, and ReadContextDep reuses it.
    dependencies=[
        Depends(check_read_request),
        Depends(require_json_body),
        Depends(apply_catalog_upload),
    ],
    responses={415: {"description": "The body is not sent as application/json"}},
)
async def create_basket_recommendations(
    context: ReadContextDep,
    body: BasketRequest,
) -> Response:
    """Recommend items for a basket or an anonymous session."""
    n = check_limits(
        context.settings,
        "body",
        n=body.n,
        lists={"items": body.items, "exclude": body.exclude, "allow": body.allow},
    )
    model = context.serving.model
    result = model.recommend_basket(
        body.items,
        n,
        exclude=body.exclude,
        allow=body.allow,
        backfill=body.backfill,
        rules=rules_from_body(body.rules),
        min_support=body.min_support,
    )
    response = RecommendationsResponse(
        items=recommended_items(model, result),
        fallback=result.fallback,
        unknown_items=list(result.unknown_items),
        model_version=model.version_,
        request_id=context.request_id,
        **evidence_fields(result),
    )
    return json_response(response)


async def _read_recent_history(
    request: Request, model: Recommender, user_id: str, request_id: str
) -> pd.DataFrame | None:
    """Read the user's stored events since the fit, or None when there are none or the store fails.

    A failing store costs the request its recent events, not its response, so the
    error is logged and the fitted history alone is used.
    """
    store: EventStore | None = getattr(request.app.state, "store", None)
    if store is None:
        return None
    try:
        return await run_in_threadpool(read_recent_history, store, model, user_id)
    except SQLAlchemyError as error:
        logger.warning(
            "recommending without recent events: reading the event store failed (request_id=%s): %s: %s",
            request_id,
            type(error).__name__,
            getattr(error, "orig", None) or error.code,
        )
        return None
