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
    path_ids: Mapping[str, str] | None = None,
) -> int:
    """Check ``n``, the id lists and the ids against the limits and return the ``n`` to use.

    Parameters
    ----------
    settings : Settings
        Holds ``max_n``, ``max_items`` and ``max_id_length``.
    location : {"query", "body"}
        Where the request carried ``n`` and the lists, for the error message.
    n : int or None
        The requested number of items; None means :data:`DEFAULT_N`, or ``max_n``
        when that is smaller, so a server with a small ``max_n`` still accepts
        requests that leave ``n`` out.
    lists : mapping of str to sequence or None
        Id lists by parameter name; None means the parameter was not given.
    path_ids : mapping of str to str, optional
        Ids from the path by parameter name, such as ``{"user_id": ...}``.

    Raises
    ------
    RequestValidationError
        If ``n`` is above ``max_n``, a list is longer than ``max_items``, or an
        id in a list or the path is longer than ``max_id_length``. It lists every
        breach, except that the ids of a list that is too long are not checked.
    """
    if n is None:
        n = min(DEFAULT_N, settings.max_n)
    errors: list[dict[str, Any]] = []
    for name, value in (path_ids or {}).items():
        if not value.strip():
            # No model contains such an id, because training rejects empty and whitespace-only ids.
            errors.append(
                {
                    "type": "blank_id",
                    "loc": ("path", name),
                    "msg": "must not be empty or only whitespace",
                    "input": value,
                }
            )
        errors.extend(_id_length_errors(settings, ("path", name), [value]))
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
        if values is None:
            continue
        if len(values) > settings.max_items:
            errors.append(
                {
                    "type": "too_long",
                    "loc": (location, name),
                    "msg": f"must contain at most {settings.max_items} ids (the server's RECSYS_MAX_ITEMS)",
                    # The length replaces the list, which could be too large to echo back.
                    "input": len(values),
                }
            )
        else:
            errors.extend(_id_length_errors(settings, (location, name), values, indexed=True))
    if errors:
        raise RequestValidationError(errors)
    return n


def _id_length_errors(
    settings: Settings, loc: tuple[str, str], ids: Sequence[Any], *, indexed: bool = False
) -> list[dict[str, Any]]:
    """Return one error for each id in ``ids`` longer than ``max_id_length``.

    An int id is measured by its decimal text. The error handler shortens the
    echoed id, so a huge id is not sent back whole.
    """
    errors: list[dict[str, Any]] = []
    for index, item_id in enumerate(ids):
        length = len(item_id) if isinstance(item_id, str) else len(str(item_id))
        if length > settings.max_id_length:
            errors.append(
                {
                    "type": "string_too_long",
                    "loc": (*loc, index) if indexed else loc,
                    "msg": (
                        f"must be at most {settings.max_id_length} characters long "
                        f"(the server's RECSYS_MAX_ID_LENGTH), not {length}"
                    ),
                    "input": item_id,
                }
            )
    return errors
