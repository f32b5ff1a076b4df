"""Items similar to one item ("customers who bought this also bought")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from service.deps import RequestIdDep, ServingDep, SettingsDep, reject_unknown_query_parameters
from service.limits import check_limits
from service.responses import recommended_items
from service.routers.catalog import RulesQueryDep, evidence_fields
from service.schemas import N_DESCRIPTION, SimilarItemsResponse
from service.security import require_read_key

__all__ = ["router"]

router = APIRouter(
    prefix="/v1",
    tags=["items"],
    dependencies=[Depends(reject_unknown_query_parameters), Depends(require_read_key)],
)


# An async handler, because it does no I/O: FastAPI runs a sync one and its response
# validation in the thread pool, and those two hops cost about 0.15 ms of CPU per request.
@router.get(
    "/items/{item_id:path}/similar",
    response_model=SimilarItemsResponse,
    responses={404: {"description": "Unknown item"}},
)
async def read_similar_items(
    item_id: Annotated[
        str,
        Path(
            description="The item id; an integer-keyed model matches its decimal text. "
            "At most RECSYS_MAX_ID_LENGTH characters (default 256)."
        ),
    ],
    serving: ServingDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
    request_rules: RulesQueryDep,
    n: Annotated[int | None, Query(ge=0, description=N_DESCRIPTION)] = None,
    exclude: Annotated[
        list[str] | None, Query(description="Items never to return. Repeat the parameter for each id.")
    ] = None,
) -> SimilarItemsResponse:
    """List the items most often bought together with an item."""
    n = check_limits(settings, "query", n=n, lists={"exclude": exclude}, path_ids={"item_id": item_id})
    model = serving.model
    result = model.similar_items(
        item_id, n, exclude=exclude, rules=request_rules.rules, min_support=request_rules.min_support
    )
    return SimilarItemsResponse(
        item_id=item_id,
        items=recommended_items(model, result),
        fallback=result.fallback,
        unknown_items=list(result.unknown_items),
        model_version=model.version_,
        request_id=request_id,
        **evidence_fields(result),
    )
