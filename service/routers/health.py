"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.deps import RequestIdDep
from service.errors import error_response
from service.schemas import HealthResponse, ReadyResponse
from service.state import ServingModel

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def read_health(request_id: RequestIdDep) -> HealthResponse:
    """Report that the process is alive."""
    return HealthResponse(status="alive", request_id=request_id)


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    responses={503: {"description": "No model is loaded"}},
)
async def read_readiness(request: Request, request_id: RequestIdDep) -> ReadyResponse | JSONResponse:
    """Describe the loaded model, or return 503 while there is none."""
    serving: ServingModel | None = getattr(request.app.state, "serving", None)
    if serving is None:
        return error_response(503, "no model is loaded", request_id)
    return ReadyResponse(status="ready", request_id=request_id, **serving.describe())
