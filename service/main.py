"""The FastAPI app: :func:`create_app` builds it and :func:`serve` runs it with uvicorn."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from recsys import __version__
from recsys.exceptions import DataValidationError
from service.config import Settings
from service.errors import install_error_handlers
from service.logs import configure_logging, log_fields
from service.metrics import Metrics
from service.middleware import (
    REQUEST_ID_HEADER,
    BodyLimitMiddleware,
    CorsMiddleware,
    RequestContextMiddleware,
)
from service.openapi import install_openapi
from service.reload import ModelReloader, model_reloading
from service.routers import admin, catalog, events, health, items, nurture, recommendations
from service.security import API_KEY_HEADER
from service.state import ServingModel, load_serving_model
from service.store import open_event_store

__all__ = [
    "APP_FACTORY",
    "EVENT_LOOPS",
    "HTTP_PARSERS",
    "create_app",
    "create_app_from_env",
    "resolve_server_implementations",
    "serve",
]

logger = logging.getLogger("recsys.service")


@asynccontextmanager
async def _lifespan(app: FastAPI, serving: ServingModel | None = None) -> AsyncIterator[None]:
    """Serve ``serving``, or else load the model of the settings, and open the event store.

    At shutdown the model is dropped and the store's connections are closed.
    """
    settings: Settings = app.state.settings
    if serving is None:
        try:
            serving = load_serving_model(settings.model_dir)
        except Exception as error:
            logger.error("startup failed: cannot load the model from %s: %s", settings.model_dir, error)
            raise
    store = open_event_store(settings)
    app.state.serving = serving
    app.state.store = store
    try:
        async with model_reloading(app):
            yield
    finally:
        app.state.serving = None
        app.state.store = None
        store.dispose()
        logger.info("stopped serving the model from %s", serving.model_dir)


def create_app(settings: Settings | None = None, *, serving: ServingModel | None = None) -> FastAPI:
    """Build the recommendation service.

    Without ``serving``, the model is loaded when the app starts (its lifespan),
    not here, so building the app is cheap and a load error surfaces as a failed
    startup.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to ``Settings()``, which reads the ``RECSYS_*`` environment
        variables and requires ``RECSYS_MODEL_DIR``.
    serving : ServingModel, optional
        An already loaded model, served from every startup of the app instead of
        loading ``settings.model_dir``. :func:`serve` passes it so that a bad model
        directory fails before the server starts.

    Returns
    -------
    FastAPI
        The app, with ``app.state.settings`` set and ``app.state.serving`` set to
        a :class:`~service.state.ServingModel` while it runs.
    """
    settings = settings if settings is not None else Settings()  # type: ignore[call-arg]
    configure_logging(settings.log_level_number)

    app = FastAPI(
        title="recsys",
        summary='Item-item recommendations ("customers who bought this also bought").',
        version=__version__,
        lifespan=partial(_lifespan, serving=serving),
    )
    app.state.settings = settings
    app.state.serving = None
    app.state.metrics = Metrics()
    app.state.reloader = ModelReloader(settings.model_dir, app.state.metrics)
    install_error_handlers(app)
    _add_middleware(app, settings)
    app.include_router(recommendations.router)
    app.include_router(items.router)
    app.include_router(catalog.router)
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(events.router)
    app.include_router(nurture.router)
    install_openapi(app)
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """Add the middleware, innermost first: body limit, then CORS, then request context."""
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CorsMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=[API_KEY_HEADER, REQUEST_ID_HEADER, "Content-Type"],
            expose_headers=[REQUEST_ID_HEADER],
        )
    # Outermost, so that its request id, access log line and metrics cover every
    # response, including CORS preflights and 413s.
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)


#: Event loops that :func:`serve` accepts. "auto" means uvloop when it is installed, else asyncio.
EVENT_LOOPS = ("auto", "uvloop", "asyncio")
#: HTTP/1.1 parsers that :func:`serve` accepts. "auto" means httptools when it is installed, else h11.
HTTP_PARSERS = ("auto", "httptools", "h11")

#: The import string of :func:`create_app_from_env`, which uvicorn's worker processes call.
APP_FACTORY = "service.main:create_app_from_env"


def create_app_from_env() -> FastAPI:
    """Build the app from the ``RECSYS_*`` environment variables, for a server process.

    uvicorn calls this factory in each worker process when :func:`serve` runs
    more than one worker. The app loads ``RECSYS_MODEL_DIR`` at startup, and the
    service's JSON log handler replaces any other output of the ``recsys`` loggers,
    as in :func:`serve`.

    Raises
    ------
    pydantic.ValidationError
        If ``RECSYS_MODEL_DIR`` is missing or a ``RECSYS_*`` variable is invalid.
    """
    settings = Settings()  # type: ignore[call-arg]
    configure_logging(settings.log_level_number, own_output=True)
    return create_app(settings)


def resolve_server_implementations(loop: str = "auto", http: str = "auto") -> tuple[str, str]:
    """Return the event loop and the HTTP parser that uvicorn is to use.

    "auto" picks uvloop and httptools when they are installed, as uvicorn's own
    "auto" does. The result names the choice, so that it can be logged.

    Parameters
    ----------
    loop : {"auto", "uvloop", "asyncio"}, default "auto"
        Event loop.
    http : {"auto", "httptools", "h11"}, default "auto"
        HTTP/1.1 parser.

    Returns
    -------
    tuple of str
        The loop ("uvloop" or "asyncio") and the parser ("httptools" or "h11").

    Raises
    ------
    recsys.DataValidationError
        If a value is not one of the choices, or names a package that is not installed.
    """
    resolved = []
    for option, value, choices, fast, fallback in (
        ("loop", loop, EVENT_LOOPS, "uvloop", "asyncio"),
        ("http", http, HTTP_PARSERS, "httptools", "h11"),
    ):
        if value not in choices:
            raise DataValidationError(f"{option} must be one of {', '.join(choices)}; got {value!r}")
        installed = importlib.util.find_spec(fast) is not None
        if value == fast and not installed:
            raise DataValidationError(
                f"{option}={fast!r} needs the {fast} package, which is not installed; "
                f"run pip install {fast}, or use {option}='auto' or {option}={fallback!r}"
            )
        if value == "auto":
            value = fast if installed else fallback
        resolved.append(value)
    return resolved[0], resolved[1]


def serve(
    model_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    *,
    workers: int = 1,
    loop: str = "auto",
    http: str = "auto",
) -> None:
    """Load the model in ``model_dir``, then serve it over HTTP until the process is stopped.

    Other settings (``RECSYS_MAX_N``, ``RECSYS_MAX_ITEMS``, ``RECSYS_MAX_ID_LENGTH``
    and the rest of :class:`~service.config.Settings`) come from the environment.
    The model is loaded before uvicorn starts, so a bad model directory raises here
    without binding the port. With one worker the app serves that model instead of
    loading it a second time. With more, uvicorn starts ``workers`` processes that
    share the port, and each builds the app with :func:`create_app_from_env` and
    loads the model itself. For them this function sets ``RECSYS_MODEL_DIR`` and
    ``RECSYS_LOG_LEVEL`` in its own environment, which the workers inherit.

    Parameters
    ----------
    model_dir : Path
        Directory of a saved model.
    host : str, default "127.0.0.1"
        Address to bind; use "0.0.0.0" to accept connections from other hosts.
    port : int, default 8000
        TCP port to bind.
    log_level : str, default "info"
        Level of the service and uvicorn logs: debug, info, warning, error or critical.
    workers : int, default 1
        Number of server processes. Each process loads its own copy of the
        model, so memory grows with the count. docs/benchmarks.md shows the
        requests per second measured with 1 and 2 workers.
    loop : {"auto", "uvloop", "asyncio"}, default "auto"
        Event loop, see :func:`resolve_server_implementations`.
    http : {"auto", "httptools", "h11"}, default "auto"
        HTTP/1.1 parser, see :func:`resolve_server_implementations`.

    Raises
    ------
    recsys.ModelFormatError
        If the model directory is missing, corrupt or written by an unsupported
        recsys. The message names the cause and the fix, and nothing is logged, so
        the caller decides how to report it.
    recsys.DataValidationError
        If ``workers`` is below 1, or ``loop`` or ``http`` is not a valid choice.
    pydantic.ValidationError
        If a ``RECSYS_*`` environment variable or ``log_level`` is invalid.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise DataValidationError(f"workers must be an integer of at least 1; got {workers!r}")
    event_loop, http_parser = resolve_server_implementations(loop, http)
    settings = Settings(model_dir=model_dir, log_level=log_level)
    configure_logging(settings.log_level_number, own_output=True)
    serving = load_serving_model(settings.model_dir)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level.lower(),
        "loop": event_loop,
        "http": http_parser,
        # The service writes its own JSON access log, so uvicorn's would repeat every line.
        "access_log": False,
    }
    logger.info(
        "starting uvicorn on %s:%d with %d worker(s), event loop %s, HTTP parser %s",
        host,
        port,
        workers,
        event_loop,
        http_parser,
        extra=log_fields(workers=workers, loop=event_loop, http=http_parser, host=host, port=port),
    )
    if workers == 1:
        uvicorn.run(create_app(settings, serving=serving), **options)
        return

    # The workers load the model themselves, so the copy loaded for the check is dropped.
    del serving
    os.environ["RECSYS_MODEL_DIR"] = str(settings.model_dir)
    os.environ["RECSYS_LOG_LEVEL"] = settings.log_level
    uvicorn.run(APP_FACTORY, factory=True, workers=workers, **options)
