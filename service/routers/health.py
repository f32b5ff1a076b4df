"""Liveness and readiness probes, and the Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service.deps import RequestIdDep
from service.errors import error_response
from service.metrics import CONTENT_TYPE, Metrics
from service.reload import ModelReloader
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
    reloader: ModelReloader | None = getattr(request.app.state, "reloader", None)
    reloads = reloader.reload_count if reloader is not None else 0
    return ReadyResponse(status="ready", request_id=request_id, reloads=reloads, **serving.describe())


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Metrics in the Prometheus text format"}},
)
async def read_metrics(request: Request) -> Response:
    """Return the metrics of this process in the Prometheus text format."""
    metrics: Metrics = request.app.state.metrics
    return Response(content=metrics.render(), media_type=CONTENT_TYPE)
