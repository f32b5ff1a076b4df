"""ASGI middleware that gives each request an id, logs it, and turns crashes into 500s."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import internal_error_response
from service.logs import ACCESS_LOGGER, log_fields, shorten

__all__ = ["REQUEST_ID_HEADER", "RequestContextMiddleware", "accept_request_id"]

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
    - responds to an exception that no handler caught with a generic 500 body and
      logs the traceback, so the client does not see internals.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            _log_access(scope, status, time.perf_counter() - started, request_id)


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


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None
