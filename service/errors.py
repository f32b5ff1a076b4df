"""Error responses: one body shape, ``{"detail": ..., "request_id": ...}``, for every status.

Validation errors add ``errors``, one entry per invalid field with its
``location``, ``field``, ``message`` and ``value``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from recsys.exceptions import DataValidationError, UnknownIdError, UnknownUserError
from service.logs import shorten

__all__ = [
    "UnknownQueryParameterError",
    "error_response",
    "install_error_handlers",
    "internal_error_response",
    "request_id_of",
]

logger = logging.getLogger("recsys.service")

# Maximum length of a rejected value echoed in an error, so a huge input is not sent back whole.
_MAX_VALUE_CHARS = 100

_LOCATIONS = {"query": "query parameter", "path": "path parameter", "body": "body field"}


class UnknownQueryParameterError(Exception):
    """Query parameters that the endpoint does not define, which the handler turns into a 422.

    Attributes
    ----------
    unknown : dict of str to list of str
        The values of each unknown parameter, by name, in request order.
    accepted : list of str
        The query parameters that the endpoint defines.
    takes_body : bool
        Whether the endpoint reads its input from a JSON body.
    """

    def __init__(
        self, unknown: Mapping[str, list[str]], accepted: Sequence[str], *, takes_body: bool
    ) -> None:
        self.unknown = dict(unknown)
        self.accepted = list(accepted)
        self.takes_body = takes_body
        super().__init__(f"unknown query parameter(s) {', '.join(self.unknown)}")


def request_id_of(request: Request) -> str:
    """Return the id that :class:`~service.middleware.RequestContextMiddleware` gave the request."""
    return str(getattr(request.state, "request_id", ""))


def error_response(
    status_code: int,
    detail: str,
    request_id: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build an error response with the shared body shape."""
    body: dict[str, Any] = {"detail": detail, "request_id": request_id}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status_code, headers=headers)


def internal_error_response(request_id: str) -> JSONResponse:
    """Build the 500 response, which names no internals."""
    return error_response(
        500,
        "internal server error; the server logged the details under this request_id",
        request_id,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that map recsys, HTTP and validation errors to responses."""
    app.add_exception_handler(UnknownIdError, _unknown_id)
    app.add_exception_handler(DataValidationError, _data_validation)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(UnknownQueryParameterError, _unknown_query_parameter)
    app.add_exception_handler(StarletteHTTPException, _http_error)


async def _unknown_id(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UnknownIdError)
    if isinstance(error, UnknownUserError):
        # The library's hint names the Python argument strict=False, so the service
        # writes its own message, which names the query parameter.
        detail = (
            f"unknown user_id {error.id!r}: the model has no such user; "
            f"leave out strict=true to get the popular fallback"
        )
    else:
        # For example "unknown item_id 'x': the fitted model has no such item_id".
        detail = str(error)
    return error_response(404, detail, request_id_of(request))


async def _data_validation(request: Request, error: Exception) -> JSONResponse:
    # The schemas should reject bad input before it reaches the model, so log any that gets through.
    request_id = request_id_of(request)
    logger.info(
        "model rejected %s %s (request_id=%s): %s",
        request.method,
        shorten(request.url.path, _MAX_VALUE_CHARS),
        request_id,
        error,
    )
    return error_response(422, f"invalid request: {error}", request_id)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400 and isinstance(error.__cause__, UnicodeDecodeError):
        return _undecodable_body(request, error.__cause__)
    detail = str(error.detail)
    if detail == HTTPStatus(error.status_code).phrase:
        # Starlette's routing errors carry only the phrase ("Not Found", "Method Not Allowed").
        path = shorten(request.url.path, _MAX_VALUE_CHARS)
        detail = f"{detail.lower()}: {request.method} {path}; the API is described at /docs"
    return error_response(error.status_code, detail, request_id_of(request), headers=error.headers)


def _undecodable_body(request: Request, cause: UnicodeDecodeError) -> JSONResponse:
    """Reject a JSON body that is not UTF-8 text with 422, like any other invalid JSON.

    FastAPI responds to it with a bare 400 "There was an error parsing the body",
    which the API does not document, while a JSON syntax error gets 422.
    """
    message = (
        f"the request body is not valid JSON: it is not UTF-8 text (invalid byte at offset {cause.start}); "
        f"send JSON encoded as UTF-8"
    )
    logger.debug("rejected %s %s: %s", request.method, shorten(request.url.path, _MAX_VALUE_CHARS), message)
    errors = [{"location": "body", "field": "", "message": message, "value": None}]
    return error_response(422, message, request_id_of(request), errors=errors)


async def _request_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [_describe_error(item) for item in error.errors()]
    detail = _summary(errors)
    logger.debug("rejected %s %s: %s", request.method, shorten(request.url.path, _MAX_VALUE_CHARS), detail)
    return error_response(422, detail, request_id_of(request), errors=errors)


async def _unknown_query_parameter(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UnknownQueryParameterError)
    if error.accepted:
        accepted = f"accepted: {', '.join(error.accepted)}"
    elif error.takes_body:
        accepted = "this endpoint takes no query parameters; send its fields in the JSON body"
    else:
        accepted = "this endpoint takes no query parameters"
    errors = [
        {
            "location": "query",
            "field": shorten(name, _MAX_VALUE_CHARS),
            "message": f"unknown query parameter; {accepted}",
            # A repeated parameter is shown with all its values.
            "value": _json_safe_value(values[0] if len(values) == 1 else values),
        }
        for name, values in error.unknown.items()
    ]
    detail = f"unknown query parameter {errors[0]['field']!r}; {accepted}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more unknown query parameter(s), listed in 'errors')"
    logger.debug("rejected %s %s: %s", request.method, shorten(request.url.path, _MAX_VALUE_CHARS), detail)
    return error_response(422, detail, request_id_of(request), errors=errors)


def _describe_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """Turn one pydantic error into ``{location, field, message, value}``."""
    loc: Sequence[Any] = error.get("loc", ())
    location = str(loc[0]) if loc else "body"
    field = _field_name(loc[1:])
    kind = error.get("type", "")
    if kind == "json_invalid":
        # FastAPI puts the character offset of the syntax error where a field name would be.
        reason = error.get("ctx", {}).get("error", "syntax error")
        message = f"the request body is not valid JSON: {reason} at character {field.strip('[]')}"
        return {"location": "body", "field": "", "message": message, "value": None}
    if kind == "missing":
        message = "is required" if field else "the request body is required"
        return {"location": location, "field": field, "message": message, "value": None}
    message = _lower_first(str(error.get("msg", "is invalid")))
    return {
        "location": location,
        "field": field,
        "message": message,
        "value": _json_safe_value(error.get("input")),
    }


def _summary(errors: list[dict[str, Any]]) -> str:
    """Write the first error as a sentence, counting the rest."""
    if not errors:
        return "invalid request"
    first = errors[0]
    if not first["field"]:
        # Errors about the whole body carry a full sentence already.
        sentence = first["message"]
    else:
        where = _LOCATIONS.get(first["location"], first["location"])
        sentence = f"invalid {where} {first['field']!r}: {first['message']}"
        if first["message"] != "is required":
            sentence += f"; got {_shown(first['value'])}"
    if len(errors) > 1:
        sentence += f" (and {len(errors) - 1} more error(s), listed in 'errors')"
    return sentence


def _field_name(path: Sequence[Any]) -> str:
    """Spell a pydantic location as ``items[2]`` or ``n``."""
    name = ""
    for part in path:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _json_safe_value(value: Any) -> Any:
    """Return ``value`` when it is a short JSON scalar, else its JSON text, shortened.

    A long string is shortened as a string, so it is not wrapped in a second pair
    of quotes. Python's JSON parser accepts NaN and Infinity, which a JSON response
    must not contain, so non-finite floats are returned as text too.
    """
    if isinstance(value, str) and len(value) > _MAX_VALUE_CHARS:
        return value[: _MAX_VALUE_CHARS - 3] + "..."
    text = json.dumps(value, ensure_ascii=False, default=repr)
    if len(text) > _MAX_VALUE_CHARS:
        return text[: _MAX_VALUE_CHARS - 3] + "..."
    if isinstance(value, float) and not math.isfinite(value):
        return text
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return text


def _shown(value: Any) -> str:
    """Write a rejected value as JSON, so true reads as true and not as Python's True."""
    return json.dumps(value, ensure_ascii=False)
