"""FastAPI dependencies: the serving model, the settings, the request id and request checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from service.config import Settings
from service.errors import UnknownQueryParameterError, request_id_of
from service.logs import shorten
from service.state import ServingModel

__all__ = [
    "RequestIdDep",
    "ServingDep",
    "SettingsDep",
    "get_serving",
    "get_settings",
    "reject_unknown_query_parameters",
    "require_json_body",
]

# Maximum length of a Content-Type value echoed in a 415 error.
_MAX_CONTENT_TYPE_CHARS = 100


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


async def reject_unknown_query_parameters(request: Request) -> None:
    """Reject query parameters that the matched endpoint does not define.

    FastAPI ignores them, so a misspelled ``limit`` for ``n`` would silently
    return the default number of items.

    Raises
    ------
    UnknownQueryParameterError
        If the query has a parameter that the endpoint does not define. Its
        handler returns 422 with the unknown and the accepted parameters.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    accepted = _query_parameter_names(route.dependant)
    unknown = {
        name: request.query_params.getlist(name) for name in request.query_params if name not in accepted
    }
    if unknown:
        raise UnknownQueryParameterError(unknown, accepted, takes_body=bool(route.dependant.body_params))


def _query_parameter_names(dependant: Dependant) -> list[str]:
    """List the query parameters of an endpoint and its dependencies, in declaration order."""
    names = [field.alias for field in dependant.query_params]
    for dependency in dependant.dependencies:
        names.extend(name for name in _query_parameter_names(dependency) if name not in names)
    return names


async def require_json_body(request: Request) -> None:
    """Reject a request body whose Content-Type is not JSON.

    Without this check FastAPI passes such a body to validation as bytes, and
    the client gets a 422 that shows a Python bytes value. A body without a
    Content-Type header is rejected too. HTTP lets a server treat it as
    application/octet-stream (RFC 9110, section 8.3), and FastAPI 0.132 and later
    do not parse it as JSON by default, while earlier versions do. An empty body
    passes, so that FastAPI reports the missing body.

    Raises
    ------
    HTTPException
        415 when the body is not declared as ``application/json`` or ``application/*+json``.
    """
    if not await request.body():
        return
    content_type = request.headers.get("content-type")
    if content_type is not None and _is_json_media_type(content_type):
        return
    if content_type is None:
        got = "the request has no Content-Type header"
    else:
        got = f"got Content-Type {shorten(content_type, _MAX_CONTENT_TYPE_CHARS)!r}"
    raise HTTPException(
        status_code=415,
        detail=f"the request body must be JSON sent with Content-Type: application/json; {got}",
    )


def _is_json_media_type(content_type: str) -> bool:
    """Return whether a Content-Type value names JSON, ignoring parameters such as charset."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    main_type, _, subtype = media_type.partition("/")
    return main_type == "application" and (subtype == "json" or subtype.endswith("+json"))
