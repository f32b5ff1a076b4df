"""Errors and warnings raised by recsys.

Every error derives from :class:`RecsysError`, and each one also derives from the
built-in class that matches its meaning, so ``except ValueError`` and
``except KeyError`` keep working in code that does not know recsys::

    RecsysError
    ├── DataValidationError (ValueError)   bad events, bad parameters, bad requests
    ├── NotFittedError (ValueError)        a model is used before fit() or load()
    ├── ModelFormatError (ValueError)      a model directory is missing, corrupt or too new
    └── UnknownIdError (KeyError)          an id the fitted model has not seen
        ├── UnknownUserError
        └── UnknownItemError

    RecsysWarning (UserWarning)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DataValidationError",
    "ModelFormatError",
    "NotFittedError",
    "RecsysError",
    "RecsysWarning",
    "UnknownIdError",
    "UnknownItemError",
    "UnknownUserError",
]


class RecsysError(Exception):
    """Base class of every error that recsys raises on purpose."""


class DataValidationError(RecsysError, ValueError):
    """Raised when events, parameters or a request do not meet the documented schema.

    The message names the column or argument, the expected form and the received
    value (for events: the number of bad rows and the first bad row).
    """


class NotFittedError(RecsysError, ValueError):
    """Raised when a model is queried or saved before ``fit`` or ``load``."""


class ModelFormatError(RecsysError, ValueError):
    """Raised when a model directory is missing a file, fails a checksum, or has an
    unsupported format version."""


class UnknownIdError(RecsysError, KeyError):
    """Raised when an id is not known to the fitted model.

    Attributes
    ----------
    id : object
        The id exactly as the caller gave it.
    """

    kind = "id"

    def __init__(self, id: Any, hint: str = "") -> None:  # noqa: A002 - mirrors the field name
        self.id = id
        message = f"unknown {self.kind} {id!r}: the fitted model has no such {self.kind}"
        if hint:
            message = f"{message}; {hint}"
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError.__str__ wraps the message in quotes; print it as a sentence instead.
        return str(self.args[0])


class UnknownUserError(UnknownIdError):
    """Raised for an unknown ``user_id`` when a method is called with ``strict=True``."""

    kind = "user_id"


class UnknownItemError(UnknownIdError):
    """Raised by ``similar_items`` and ``explain`` for an unknown ``item_id``."""

    kind = "item_id"


class RecsysWarning(UserWarning):
    """Warning about input that recsys accepts but that is probably a mistake."""
