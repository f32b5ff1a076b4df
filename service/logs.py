"""Logging of the service: one JSON object per line on stderr.

The library only creates loggers. The service decides where records go, and
:func:`configure_logging` does that for the ``recsys`` logger tree.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["ACCESS_LOGGER", "JsonFormatter", "configure_logging", "log_fields", "shorten"]

#: Logger of the access log, one record per request.
ACCESS_LOGGER = "recsys.service.access"

# Name of the handler configure_logging installs, so a second call finds it.
_HANDLER_NAME = "recsys-service-json"


def shorten(text: str, max_chars: int) -> str:
    """Return ``text``, or its first ``max_chars`` characters followed by the count of the rest.

    Request paths come from the client and can be of any length, so the service
    passes them through this function before it logs or echoes them.
    """
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}...[{len(text) - max_chars} more characters]"


def log_fields(**fields: Any) -> dict[str, Any]:
    """Return ``extra`` for a logging call whose fields :class:`JsonFormatter` writes out."""
    return {"fields": fields}


class JsonFormatter(logging.Formatter):
    """Formatter that writes a record as one JSON object.

    The object has ``time``, ``level``, ``logger`` and ``message``, then the
    fields passed with :func:`log_fields`, then ``traceback`` when the record
    carries an exception.
    """

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def configure_logging(level: int, *, own_output: bool = False) -> None:
    """Set the level of the ``recsys`` loggers and send them to stderr as JSON.

    Parameters
    ----------
    level : int
        A :mod:`logging` level.
    own_output : bool, default False
        Add the JSON stderr handler even when the root logger has handlers, and
        stop recsys records from reaching them. :func:`service.main.serve` sets
        it because it owns the process, and ``recsys serve`` configures the root
        logger with a plain-text format first. Without it, the handler is added
        only when the root logger has none, so an app that embeds the service (or
        pytest) keeps its own log output.

    Calling this again changes the level and never adds a second handler.
    """
    package_logger = logging.getLogger("recsys")
    package_logger.setLevel(level)
    if logging.getLogger().handlers and not own_output:
        return
    if not any(handler.name == _HANDLER_NAME for handler in package_logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.name = _HANDLER_NAME
        handler.setFormatter(JsonFormatter())
        package_logger.addHandler(handler)
    # The JSON handler already writes every recsys record, so a root handler
    # would print each one a second time.
    package_logger.propagate = False
