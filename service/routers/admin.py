"""Administration endpoints, which require an API key."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request

from service.deps import RequestIdDep, reject_unknown_query_parameters
from service.reload import ModelReloader, ModelReloadError
from service.schemas import ReloadResponse
from service.security import require_write_key

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    dependencies=[Depends(reject_unknown_query_parameters), Depends(require_write_key)],
)


@router.post(
    "/reload",
    response_model=ReloadResponse,
    responses={
        401: {"description": "The X-API-Key header is missing or holds an unknown key"},
        403: {"description": "The server has no API keys, so admin endpoints are disabled"},
        409: {"description": "The model directory cannot be loaded; the previous model keeps serving"},
    },
)
async def create_reload(request: Request, request_id: RequestIdDep) -> ReloadResponse:
    """Load the configured model directory again and serve it from the next request on.

    A symlink is resolved again, so switching it to a new directory and calling
    this endpoint deploys that directory.
    """
    reloader: ModelReloader = request.app.state.reloader
    try:
        result = await reloader.reload(request.app, trigger="admin")
    except ModelReloadError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    serving = result.serving
    return ReloadResponse(
        previous_version=result.previous_version,
        model_version=serving.model.version_,
        model_dir=serving.directory_name,
        loaded_at=serving.loaded_at.isoformat(timespec="seconds"),
        reloads=result.reload_count,
        request_id=request_id,
    )
