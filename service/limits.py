"""Request limits that come from :class:`~service.config.Settings`, checked per request.

The limits are set when the app is built, so they cannot sit in the static
pydantic schemas. A breach raises the same ``RequestValidationError`` as a schema
error, so the client gets the same 422 body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError

from service.config import Settings

__all__ = ["DEFAULT_N", "check_limits"]

#: The ``n`` of a request that leaves it out, unless ``max_n`` is smaller.
DEFAULT_N = 10

Location = Literal["query", "body"]


def check_limits(
    settings: Settings,
    location: Location,
    *,
    n: int | None,
    lists: Mapping[str, Sequence[Any] | None],
) -> int:
    """Check ``n`` and the id lists against the limits and return the ``n`` to use.

    Parameters
    ----------
    settings : Settings
        Holds ``max_n`` and ``max_items``.
    location : {"query", "body"}
        Where the request carried the values, for the error message.
    n : int or None
        The requested number of items; None means :data:`DEFAULT_N`, or ``max_n``
        when that is smaller, so a server with a small ``max_n`` still accepts
        requests that leave ``n`` out.
    lists : mapping of str to sequence or None
        Id lists by parameter name; None means the parameter was not given.

    Raises
    ------
    RequestValidationError
        If ``n`` is above ``max_n`` or a list is longer than ``max_items``.
    """
    if n is None:
        n = min(DEFAULT_N, settings.max_n)
    errors: list[dict[str, Any]] = []
    if n > settings.max_n:
        errors.append(
            {
                "type": "less_than_equal",
                "loc": (location, "n"),
                "msg": f"must be at most {settings.max_n} (the server's RECSYS_MAX_N)",
                "input": n,
            }
        )
    for name, values in lists.items():
        if values is not None and len(values) > settings.max_items:
            errors.append(
                {
                    "type": "too_long",
                    "loc": (location, name),
                    "msg": f"must contain at most {settings.max_items} ids (the server's RECSYS_MAX_ITEMS)",
                    # The length replaces the list, which could be too large to echo back.
                    "input": len(values),
                }
            )
    if errors:
        raise RequestValidationError(errors)
    return n
