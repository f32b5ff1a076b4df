"""FastAPI dependencies: the serving model, the settings, the request id and request checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from service.config import Settings
from service.errors import UnknownQueryParameterError, request_id_of
from service.logs import shorten
from service.security import api_key_header, require_read_key
from service.state import ServingModel

__all__ = [
    "QueryFreeFastPathRoute",
    "ReadContext",
    "ReadContextDep",
    "RequestIdDep",
    "ServingDep",
    "SettingsDep",
    "apply_catalog_upload",
    "check_read_request",
    "check_read_request_directly",
    "get_serving",
    "get_settings",
    "handle_without_query",
    "read_context",
    "read_default_rules",
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
    if not request.scope.get("query_string"):
        return
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


@dataclass(frozen=True, slots=True)
class ReadContext:
    """The serving model, the settings and the request id of a request to a read endpoint."""

    serving: ServingModel
    settings: Settings
    request_id: str


async def check_read_request(
    request: Request, api_key: Annotated[str | None, Depends(api_key_header)]
) -> None:
    """Run :func:`reject_unknown_query_parameters`, then :func:`~service.security.require_read_key`.

    Raises
    ------
    UnknownQueryParameterError
        If the query has a parameter that the endpoint does not define (422).
    HTTPException
        401 or 403 as :func:`~service.security.require_read_key` raises them.
    """
    await reject_unknown_query_parameters(request)
    await require_read_key(request, api_key)


async def read_context(
    request: Request, _checked: Annotated[None, Depends(check_read_request)]
) -> ReadContext:
    """Check a request to a read endpoint and return what its handler needs.

    It replaces :func:`reject_unknown_query_parameters`,
    :func:`~service.security.require_read_key`, :func:`get_serving`,
    :func:`get_settings` and :func:`get_request_id`, with the same errors in the
    same order, because FastAPI's work per dependency is a large share of a
    recommendation request's CPU time. A route that lists
    :func:`check_read_request` among its dependencies runs it first, and this
    dependency reuses its cached result.

    Raises
    ------
    UnknownQueryParameterError, HTTPException
        As :func:`check_read_request`, then 503 when no model is loaded.
    """
    serving = await get_serving(request)
    settings: Settings = request.app.state.settings
    return ReadContext(serving, settings, request_id_of(request))


ReadContextDep = Annotated[ReadContext, Depends(read_context)]


async def check_read_request_directly(request: Request) -> ReadContext:
    """Run the checks of :func:`read_context` and return its result, without FastAPI.

    For a handler of :class:`QueryFreeFastPathRoute`, which FastAPI does not call.
    """
    await check_read_request(request, await api_key_header(request))
    return await read_context(request, None)


async def apply_catalog_upload(request: Request) -> None:
    """Run the catalogue router's ``apply_uploaded_catalog``, off the event loop only until its read is cached.

    FastAPI runs that sync dependency in the thread pool on every request, which
    costs CPU, while it does I/O only on its first call per process.
    """
    # Imported here, because the catalogue router imports this module.
    from service.routers.catalog import apply_uploaded_catalog

    # NOTE: see read_default_rules for the catalog_upload attribute.
    if hasattr(request.app.state, "catalog_upload"):
        apply_uploaded_catalog(request)
    else:
        await run_in_threadpool(apply_uploaded_catalog, request)


async def read_default_rules(request: Request) -> Any:
    """Return what the rules dependency returns for a request without query parameters.

    The dependency applies the uploaded catalogue, which reads the event store
    once per process. Until that read is cached, it runs in the thread pool, as
    FastAPI runs the sync dependency, and afterwards on the event loop.
    """
    # Imported here, because the catalogue router imports this module.
    from service.routers.catalog import rules_query

    # NOTE: catalog_upload is the attribute where the catalogue router caches the read.
    # If it is renamed, every request takes the thread pool, which is slower but correct.
    if hasattr(request.app.state, "catalog_upload"):
        return rules_query(request)
    return await run_in_threadpool(rules_query, request)


QueryFreeHandler = Callable[[Request], Awaitable[Response]]
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])
_query_free_handlers: dict[Callable[..., Any], QueryFreeHandler] = {}


def handle_without_query(handler: QueryFreeHandler) -> Callable[[_Endpoint], _Endpoint]:
    """Register ``handler`` for the requests without a query string to the decorated endpoint.

    Apply it below the route decorator, which builds the route. The route must
    use :class:`QueryFreeFastPathRoute`. ``handler`` must return the response that
    FastAPI would return with every query parameter at its default.
    """

    def register(endpoint: _Endpoint) -> _Endpoint:
        _query_free_handlers[endpoint] = handler
        return endpoint

    return register


class QueryFreeFastPathRoute(APIRoute):
    """A route that passes requests without a query string to a handler of its own.

    FastAPI validates every declared query parameter of every request, which is
    most of the CPU time of a recommendation request: a route with seven
    optional query parameters spends about 0.1 ms in it even when the query is
    empty. Such a request has every parameter at its default, so a registered
    handler (see :func:`handle_without_query`) can call the endpoint directly.
    A request with a query string, and every route without a registered handler,
    goes through FastAPI as usual.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Return FastAPI's handler, or one that passes query-free requests to the registered handler."""
        handle_with_fastapi = super().get_route_handler()
        handle_query_free = _query_free_handlers.get(self.endpoint)
        if handle_query_free is None:
            return handle_with_fastapi

        async def handle(request: Request) -> Response:
            if request.scope.get("query_string"):
                return await handle_with_fastapi(request)
            return await handle_query_free(request)

        return handle


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
