"""ASGI middleware: request ids, access log, metrics and 500s for crashes, and the body size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response, internal_error_response
from service.logs import ACCESS_LOGGER, log_fields, shorten
from service.metrics import UNMATCHED_ROUTE, Metrics

__all__ = [
    "REQUEST_ID_HEADER",
    "BodyLimitMiddleware",
    "BodyTooLargeError",
    "CorsMiddleware",
    "RequestContextMiddleware",
    "accept_request_id",
]

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode("ascii")

# Visible ASCII only, so a client id cannot split a log line or a header.
_VALID_REQUEST_ID = re.compile(r"[!-~]{1,128}")

# Maximum lengths of the request path in an access record: in its "path" field and
# in its message. The path can carry ids of any length. The message repeats a short
# form only so that a plain-text log handler still shows which resource was called.
_MAX_LOGGED_PATH_CHARS = 512
_MAX_MESSAGE_PATH_CHARS = 100

logger = logging.getLogger("recsys.service")
access_logger = logging.getLogger(ACCESS_LOGGER)


def accept_request_id(header_value: str | None) -> str:
    """Return the client's request id when it is 1-128 visible ASCII characters, else a new one.

    A new id is a uuid4 in hex. An invalid client id is replaced rather than
    rejected, so a bad header does not fail the request.
    """
    if header_value is not None and _VALID_REQUEST_ID.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Middleware that handles the request id, the access log and unexpected errors.

    For every HTTP request it

    - takes the id from the ``X-Request-ID`` header (see :func:`accept_request_id`),
      stores it in ``request.state.request_id`` and returns it in the response header;
    - writes one access record to ``recsys.service.access`` with method, path,
      status, duration_ms and request_id, cutting a long path (see :func:`~service.logs.shorten`);
    - counts the request and its duration in ``metrics``, when given, by route template;
    - responds to an exception that no handler caught with a generic 500 body and
      logs the traceback, so the client does not see internals.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        request_id = accept_request_id(_header(scope, _HEADER_KEY))
        scope["state"] = {**scope.get("state", {}), "request_id": request_id}
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [(name, value) for name, value in message.get("headers", []) if name != _HEADER_KEY]
                headers.append((_HEADER_KEY, request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error in %s %s (request_id=%s)",
                scope["method"],
                shorten(scope["path"], _MAX_LOGGED_PATH_CHARS),
                request_id,
                extra=log_fields(request_id=request_id),
            )
            if response_started:
                # The status line has already been sent, so no 500 can follow.
                # Re-raising lets the server close the connection.
                raise
            await internal_error_response(request_id)(scope, receive, send_with_id)
        finally:
            duration_s = time.perf_counter() - started
            _log_access(scope, status, duration_s, request_id)
            if self.metrics is not None:
                self.metrics.observe_request(_route_template(scope), scope["method"], status, duration_s)


def _log_access(scope: Scope, status: int, duration_s: float, request_id: str) -> None:
    path: str = scope["path"]
    access_logger.info(
        "%s %s %s",
        scope["method"],
        shorten(path, _MAX_MESSAGE_PATH_CHARS),
        status,
        extra=log_fields(
            method=scope["method"],
            path=shorten(path, _MAX_LOGGED_PATH_CHARS),
            status=status,
            duration_ms=round(duration_s * 1000, 3),
            request_id=request_id,
        ),
    )


def _route_template(scope: Scope) -> str:
    """Return the path template of the route that handled the request, such as ``/v1/items/{item_id}/similar``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a request body grows past ``max_body_bytes``.

    It is an HTTP 413, so the app's error handler turns it into the shared
    error body, wherever the app was reading the body.
    """

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(
            status_code=413,
            detail=(
                f"the request body is larger than the server's limit of {max_body_bytes} bytes; "
                f"send a smaller body, or raise the limit with RECSYS_MAX_BODY_BYTES"
            ),
        )


class BodyLimitMiddleware:
    """Middleware that rejects request bodies larger than ``max_body_bytes`` with 413.

    A ``Content-Length`` above the limit is rejected before the app runs. A
    body without one (chunked) is counted while the app reads it, and the chunk
    that passes the limit raises :class:`BodyTooLargeError` instead of reaching
    the app, so the app never receives more than ``max_body_bytes`` of it.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._reject(scope, receive, send)
            return

        received = 0
        response_started = False

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError(self.max_body_bytes)
            return message

        async def send_tracked(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive_limited, send_tracked)
        except BodyTooLargeError:
            # The app's error handler handles this error, so it only gets here
            # when the body was read outside a route, such as in another middleware.
            if response_started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLargeError(self.max_body_bytes)
        request_id = str(scope.get("state", {}).get("request_id", ""))
        response = error_response(error.status_code, error.detail, request_id)
        # The rest of the body is not read, so the server closes the connection after this response.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """Return the Content-Length of the request, or None when it has none or an invalid one."""
    value = _header(scope, b"content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class CorsMiddleware(CORSMiddleware):
    """Starlette's ``CORSMiddleware``, sending the shared error body for a rejected preflight.

    Starlette responds to it with 400 and a plain-text body. This class keeps that
    status and the CORS headers and sends ``{"detail", "request_id"}`` instead.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await super().__call__(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "origin" not in headers or "access-control-request-method" not in headers:
            await super().__call__(scope, receive, send)
            return

        response = self.preflight_response(request_headers=headers)
        if response.status_code == 400:
            response = self._rejected_preflight(response, scope)
        await response(scope, receive, send)

    def _rejected_preflight(self, rejected: Response, scope: Scope) -> Response:
        # Starlette's body is "Disallowed CORS " followed by what was refused, such as "origin, headers".
        refused = bytes(rejected.body).decode("utf-8").removeprefix("Disallowed CORS ")
        allowed_headers = self.preflight_headers.get("Access-Control-Allow-Headers", "any")
        detail = (
            f"CORS preflight rejected, not allowed: {refused}; this server allows the origins "
            f"set in RECSYS_CORS_ORIGINS, the methods {', '.join(self.allow_methods)} "
            f"and the headers {allowed_headers}"
        )
        cors_headers = {
            name: value
            for name, value in rejected.headers.items()
            if name not in ("content-length", "content-type")
        }
        request_id = str(scope.get("state", {}).get("request_id", ""))
        return error_response(400, detail, request_id, headers=cors_headers)
