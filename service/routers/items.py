"""Items similar to one item ("customers who bought this also bought")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from service.deps import (
    QueryFreeFastPathRoute,
    ReadContextDep,
    check_read_request_directly,
    handle_without_query,
    read_default_rules,
)
from service.limits import check_limits
from service.responses import json_response, recommended_items
from service.routers.catalog import RulesQueryDep, evidence_fields
from service.schemas import N_DESCRIPTION, SimilarItemsResponse

__all__ = ["router"]

# The checks of unknown query parameters and of the read key run in the handler's
# ReadContextDep, first, as router dependencies would.
router = APIRouter(prefix="/v1", tags=["items"], route_class=QueryFreeFastPathRoute)


async def _read_similar_items_without_query(request: Request) -> Response:
    context = await check_read_request_directly(request)
    request_rules = await read_default_rules(request)
    return await read_similar_items(request.path_params["item_id"], context, request_rules)


# An async handler, because it does no I/O: FastAPI runs a sync one in the thread pool,
# which costs CPU per request. It returns a ready response, so FastAPI does not validate
# the model again. The response_model argument only documents it.
@router.get(
    "/items/{item_id:path}/similar",
    response_model=SimilarItemsResponse,
    responses={404: {"description": "Unknown item"}},
)
@handle_without_query(_read_similar_items_without_query)
async def read_similar_items(
    item_id: Annotated[
        str,
        Path(
            description="The item id; an integer-keyed model matches its decimal text. "
            "At most RECSYS_MAX_ID_LENGTH characters (default 256)."
        ),
    ],
    context: ReadContextDep,
    request_rules: RulesQueryDep,
    n: Annotated[int | None, Query(ge=0, description=N_DESCRIPTION)] = None,
    exclude: Annotated[
        list[str] | None, Query(description="Items never to return. Repeat the parameter for each id.")
    ] = None,
) -> Response:
    """List the items most often bought together with an item."""
    n = check_limits(
        context.settings, "query", n=n, lists={"exclude": exclude}, path_ids={"item_id": item_id}
    )
    model = context.serving.model
    result = model.similar_items(
        item_id, n, exclude=exclude, rules=request_rules.rules, min_support=request_rules.min_support
    )
    body = SimilarItemsResponse(
        item_id=item_id,
        items=recommended_items(model, result),
        fallback=result.fallback,
        unknown_items=list(result.unknown_items),
        model_version=model.version_,
        request_id=context.request_id,
        **evidence_fields(result),
    )
    return json_response(body)
