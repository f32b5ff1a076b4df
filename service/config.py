"""Service settings, read from ``RECSYS_*`` environment variables."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


class Settings(BaseSettings):
    """Configuration of one service process.

    Every field can be set by an environment variable with the ``RECSYS_`` prefix,
    for example ``RECSYS_MODEL_DIR=models/retail``. Arguments passed to the
    constructor take precedence over the environment.

    Attributes
    ----------
    model_dir : Path
        Directory of the model to serve, as written by ``model.save()`` or
        ``recsys train``. Required.
    max_n : int
        Maximum number of items a request may ask for with ``n``.
    max_items : int
        Maximum length of a basket, ``exclude`` or ``allow`` list in one request.
    max_id_length : int
        Maximum length of one user or item id, in characters; an int id counts
        the characters of its decimal text. Longer ids are rejected with 422.
    log_level : str
        Level of the ``recsys`` loggers: DEBUG, INFO, WARNING, ERROR or CRITICAL.
    """

    model_config = SettingsConfigDict(env_prefix="RECSYS_")

    model_dir: Path
    max_n: int = Field(default=100, ge=1)
    max_items: int = Field(default=1000, ge=1)
    max_id_length: int = Field(default=256, ge=1)
    log_level: str = "INFO"

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LOG_LEVELS)}; got {value!r}")
        return level

    @property
    def log_level_number(self) -> int:
        """The numeric :mod:`logging` level of ``log_level``."""
        return logging.getLevelNamesMapping()[self.log_level]
