"""The FastAPI app: :func:`create_app` builds it and :func:`serve` runs it with uvicorn."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from recsys import __version__
from service.config import Settings
from service.errors import install_error_handlers
from service.logs import configure_logging
from service.middleware import RequestContextMiddleware
from service.routers import health, items, recommendations
from service.state import ServingModel, load_serving_model

__all__ = ["create_app", "serve"]

logger = logging.getLogger("recsys.service")


@asynccontextmanager
async def _lifespan(app: FastAPI, serving: ServingModel | None = None) -> AsyncIterator[None]:
    """Serve ``serving``, or else load the model of the settings, and drop it at shutdown."""
    settings: Settings = app.state.settings
    if serving is None:
        try:
            serving = load_serving_model(settings.model_dir)
        except Exception as error:
            logger.error("startup failed: cannot load the model from %s: %s", settings.model_dir, error)
            raise
    app.state.serving = serving
    try:
        yield
    finally:
        app.state.serving = None
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
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(recommendations.router)
    app.include_router(items.router)
    app.include_router(health.router)
    return app


def serve(model_dir: Path, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Load the model in ``model_dir``, then serve it over HTTP until the process is stopped.

    Other settings (``RECSYS_MAX_N``, ``RECSYS_MAX_ITEMS``, ``RECSYS_MAX_ID_LENGTH``)
    come from the environment. The model is loaded before uvicorn starts, so a
    bad model directory raises here without binding the port, and the app serves
    that model instead of loading it a second time.

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

    Raises
    ------
    recsys.ModelFormatError
        If the model directory is missing, corrupt or written by an unsupported
        recsys. The message names the cause and the fix, and nothing is logged, so
        the caller decides how to report it.
    pydantic.ValidationError
        If a ``RECSYS_*`` environment variable or ``log_level`` is invalid.
    """
    settings = Settings(model_dir=model_dir, log_level=log_level)
    configure_logging(settings.log_level_number, own_output=True)
    serving = load_serving_model(settings.model_dir)
    app = create_app(settings, serving=serving)
    # The service writes its own JSON access log, so uvicorn's would repeat every line.
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False)
