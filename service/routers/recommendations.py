"""Recommendations for a known or unknown user, and for an anonymous basket."""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.exc import SQLAlchemyError

from recsys import Recommender
from service.deps import (
    RequestIdDep,
    ServingDep,
    SettingsDep,
    reject_unknown_query_parameters,
    require_json_body,
)
from service.limits import check_limits
from service.responses import recommended_items
from service.routers.catalog import RulesQueryDep, apply_uploaded_catalog, evidence_fields, rules_from_body
from service.schemas import N_DESCRIPTION, BasketRequest, RecommendationsResponse, UserRecommendationsResponse
from service.security import require_read_key
from service.store import EventStore, read_recent_history

__all__ = ["router"]

logger = logging.getLogger("recsys.service")

router = APIRouter(
    prefix="/v1",
    tags=["recommendations"],
    dependencies=[Depends(reject_unknown_query_parameters), Depends(require_read_key)],
)


@router.get(
    "/users/{user_id:path}/recommendations",
    response_model=UserRecommendationsResponse,
    responses={404: {"description": "Unknown user with strict=true"}},
)
def read_user_recommendations(
    user_id: Annotated[
        str,
        Path(
            description="The user id; an integer-keyed model matches its decimal text. "
            "At most RECSYS_MAX_ID_LENGTH characters (default 256)."
        ),
    ],
    request: Request,
    serving: ServingDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
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
) -> UserRecommendationsResponse:
    """Recommend items for a user from the fitted history plus the events stored since the fit.

    Events posted with ``POST /v1/events`` count from the next request on, without retraining.
    """
    n = check_limits(settings, "query", n=n, lists={"exclude": exclude}, path_ids={"user_id": user_id})
    model = serving.model
    recent = _read_recent_history(request, model, user_id, request_id)
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
    return UserRecommendationsResponse(
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


# An async handler, because it does no I/O: FastAPI runs a sync one and its response
# validation in the thread pool, and those two hops cost about 0.15 ms of CPU per request.
@router.post(
    "/recommendations",
    response_model=RecommendationsResponse,
    dependencies=[Depends(require_json_body), Depends(apply_uploaded_catalog)],
    responses={415: {"description": "The body is not sent as application/json"}},
)
async def create_basket_recommendations(
    body: BasketRequest,
    serving: ServingDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
) -> RecommendationsResponse:
    """Recommend items for a basket or an anonymous session."""
    n = check_limits(
        settings, "body", n=body.n, lists={"items": body.items, "exclude": body.exclude, "allow": body.allow}
    )
    model = serving.model
    result = model.recommend_basket(
        body.items,
        n,
        exclude=body.exclude,
        allow=body.allow,
        backfill=body.backfill,
        rules=rules_from_body(body.rules),
        min_support=body.min_support,
    )
    return RecommendationsResponse(
        items=recommended_items(model, result),
        fallback=result.fallback,
        unknown_items=list(result.unknown_items),
        model_version=model.version_,
        request_id=request_id,
        **evidence_fields(result),
    )


def _read_recent_history(
    request: Request, model: Recommender, user_id: str, request_id: str
) -> pd.DataFrame | None:
    """Read the user's stored events since the fit; None when there are none or the store fails.

    A failing store costs the request its recent events, not its answer, so the
    error is logged and the fitted history alone is used.
    """
    store: EventStore | None = getattr(request.app.state, "store", None)
    if store is None:
        return None
    try:
        return read_recent_history(store, model, user_id)
    except SQLAlchemyError as error:
        logger.warning(
            "recommending without recent events: reading the event store failed (request_id=%s): %s: %s",
            request_id,
            type(error).__name__,
            getattr(error, "orig", None) or error.code,
        )
        return None
