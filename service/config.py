"""Service settings, read from ``RECSYS_*`` environment variables."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    database_url : str or None
        SQLAlchemy URL of the event store, such as
        ``postgresql+psycopg://user@127.0.0.1/recsys``. None stores events in the
        SQLite file ``events.sqlite3`` beside the model directory.
    api_keys : list of SecretStr
        Keys accepted in the ``X-API-Key`` header. Write and admin endpoints
        require one. With no keys set, they respond with 403. The environment
        variable contains the keys separated by commas.
    read_requires_key : bool
        Whether the read endpoints (recommendations, similar items) require a key too.
    cors_origins : list of str
        Origins that browsers may call the API from, such as
        ``https://shop.example``; ``*`` allows any. Comma-separated in the
        environment. Empty (the default) sends no CORS headers.
    max_body_bytes : int
        Largest request body accepted. A larger one gets a 413 response.
    max_events : int
        Largest number of events in one ``POST /v1/events`` batch.
    engagement_events : list of str
        Event types that ``POST /v1/events`` stores besides the served model's
        own, for engagement scoring only (nurture grades); recommendations ignore
        them. Comma-separated in the environment. The default contains the event
        types of the default engagement points: time_on_page, video,
        brochure_download, email_open and email_click.
    reload_interval_s : float
        How often to check whether the model directory (or the symlink that
        names it) has changed, in seconds; 0 turns the check off.
    """

    model_config = SettingsConfigDict(env_prefix="RECSYS_")

    model_dir: Path
    max_n: int = Field(default=100, ge=1)
    max_items: int = Field(default=1000, ge=1)
    max_id_length: int = Field(default=256, ge=1)
    log_level: str = "INFO"
    database_url: str | None = None
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    read_requires_key: bool = False
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    max_events: int = Field(default=1000, ge=1)
    engagement_events: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["time_on_page", "video", "brochure_download", "email_open", "email_click"]
    )
    reload_interval_s: float = Field(default=2.0, ge=0)

    @field_validator("api_keys", "cors_origins", "engagement_events", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

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
