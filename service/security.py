"""API keys: write and admin endpoints require one, read endpoints when the settings require it."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

from service.config import Settings

__all__ = ["API_KEY_HEADER", "api_key_header", "require_read_key", "require_write_key"]

API_KEY_HEADER = "X-API-Key"

# auto_error=False: a missing key is reported by _check_key with the project's message.
api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="An API key of the service."
)


def _key_matches(given: str, settings: Settings) -> bool:
    """Compare ``given`` with every configured key in constant time.

    Every key is compared, even after a match, so the time taken does not tell
    which key matched or how long a matching prefix was. Starlette decodes
    header values as Latin-1, so encoding ``given`` back to Latin-1 recovers the
    bytes the client sent, and a non-ASCII key sent as UTF-8 matches its
    configured UTF-8 form.
    """
    try:
        given_bytes = given.encode("latin-1")
    except UnicodeEncodeError:
        # Not a header value Starlette decoded, so it cannot equal a key the client sent.
        return False
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(given_bytes, key.get_secret_value().encode("utf-8"))
    return matched


def _check_key(request: Request, given: str | None, what: str) -> None:
    settings: Settings = request.app.state.settings
    if not settings.api_keys:
        raise HTTPException(
            status_code=403,
            detail=f"{what} endpoints are disabled: the server has no API keys; set RECSYS_API_KEYS",
        )
    if given is None or given == "":
        raise HTTPException(
            status_code=401,
            detail=f"this endpoint requires an API key in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )
    if not _key_matches(given, settings):
        raise HTTPException(
            status_code=401,
            detail=f"the {API_KEY_HEADER} header does not contain a valid API key; send one of the configured keys",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )


async def require_write_key(
    request: Request, api_key: Annotated[str | None, Depends(api_key_header)]
) -> None:
    """Require a valid API key for the write and admin endpoints.

    Raises
    ------
    HTTPException
        403 when the server has no keys, 401 when the header is missing or contains
        a key that is not configured.
    """
    _check_key(request, api_key, "write and admin")


async def require_read_key(
    request: Request, api_key: Annotated[str | None, Depends(api_key_header)]
) -> None:
    """Require a valid API key on read endpoints when ``read_requires_key`` is set.

    Raises
    ------
    HTTPException
        As :func:`require_write_key`, only when ``read_requires_key`` is true.
    """
    settings: Settings = request.app.state.settings
    if settings.read_requires_key:
        _check_key(request, api_key, "read")
