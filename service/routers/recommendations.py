"""Recommendations for a known or unknown user, and for an anonymous basket."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from service.deps import (
    RequestIdDep,
    ServingDep,
    SettingsDep,
    reject_unknown_query_parameters,
    require_json_body,
)
from service.limits import check_limits
from service.responses import recommended_items
from service.schemas import N_DESCRIPTION, BasketRequest, RecommendationsResponse, UserRecommendationsResponse
from service.security import require_read_key

__all__ = ["router"]

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
    serving: ServingDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
    n: Annotated[int | None, Query(ge=0, description=N_DESCRIPTION)] = None,
    exclude: Annotated[
        list[str] | None, Query(description="Items never to return. Repeat the parameter for each id.")
    ] = None,
    backfill: Annotated[bool, Query(description="Fill the list up to n with popular items.")] = False,
    strict: Annotated[
        bool, Query(description="Return 404 for an unknown user instead of the fallback.")
    ] = False,
) -> UserRecommendationsResponse:
    """Recommend items for a user from the history the model was fitted on."""
    n = check_limits(settings, "query", n=n, lists={"exclude": exclude}, path_ids={"user_id": user_id})
    model = serving.model
    result = model.recommend(user_id, n, exclude=exclude, backfill=backfill, strict=strict)
    known_user = bool(result.known_user)
    return UserRecommendationsResponse(
        user_id=user_id,
        known_user=known_user,
        items=recommended_items(model, result),
        # An unknown user always gets the popular fallback, even when it is empty (n=0).
        fallback=result.fallback or not known_user,
        unknown_items=list(result.unknown_items),
        model_version=model.version_,
        request_id=request_id,
    )


@router.post(
    "/recommendations",
    response_model=RecommendationsResponse,
    dependencies=[Depends(require_json_body)],
    responses={415: {"description": "The body is not sent as application/json"}},
)
def create_basket_recommendations(
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
        body.items, n, exclude=body.exclude, allow=body.allow, backfill=body.backfill
    )
    return RecommendationsResponse(
        items=recommended_items(model, result),
        fallback=result.fallback,
        unknown_items=list(result.unknown_items),
        model_version=model.version_,
        request_id=request_id,
    )
