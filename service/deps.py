"""FastAPI dependencies: the serving model, the settings and the request id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from service.config import Settings
from service.errors import request_id_of
from service.state import ServingModel

__all__ = ["RequestIdDep", "ServingDep", "SettingsDep", "get_serving", "get_settings"]


async def get_serving(request: Request) -> ServingModel:
    """Return the model holder of the app, read once for the whole request.

    Raises
    ------
    HTTPException
        503 when no model is loaded: before startup completes, or after shutdown.
    """
    serving: ServingModel | None = getattr(request.app.state, "serving", None)
    if serving is None:
        raise HTTPException(status_code=503, detail="no model is loaded yet; retry when /readyz returns 200")
    return serving


async def get_settings(request: Request) -> Settings:
    """Return the settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_request_id(request: Request) -> str:
    """Return the request id set by the request-context middleware."""
    return request_id_of(request)


ServingDep = Annotated[ServingModel, Depends(get_serving)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
