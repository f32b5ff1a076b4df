"""Fixtures shared by the service tests.

Two small saved models, clients that run the app, an empty database of each kind,
and, for serve(), a record of uvicorn.run calls and a restore of the recsys logger.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI

import recsys
import service.main
from service.config import Settings
from service.main import create_app
from tests.service.postgres import DATABASE_KINDS, temporary_database
from tests.service.sample_data import NUMERIC_BASKETS, RETAIL_BASKETS, RETAIL_DESCRIPTIONS, purchase_events


@pytest.fixture(scope="session")
def retail_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved ItemKNN with Unicode str ids and item descriptions."""
    metadata = pd.DataFrame(
        {"item_id": list(RETAIL_DESCRIPTIONS), "description": list(RETAIL_DESCRIPTIONS.values())}
    )
    interactions = recsys.Interactions.from_events(purchase_events(RETAIL_BASKETS), item_metadata=metadata)
    path = tmp_path_factory.mktemp("models") / "retail"
    recsys.ItemKNN().fit(interactions).save(path)
    return path


@pytest.fixture(scope="session")
def numeric_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved ItemKNN with int user and item ids and no metadata."""
    path = tmp_path_factory.mktemp("models") / "numeric"
    recsys.ItemKNN().fit(purchase_events(NUMERIC_BASKETS)).save(path)
    return path


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio only; the service does not target trio."""
    return "asyncio"


@asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield a client that calls the app in process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def client(retail_model_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the service serving the retail model with default settings."""
    async with running_app(create_app(Settings(model_dir=retail_model_dir))) as http:
        yield http


@pytest.fixture
async def numeric_client(numeric_model_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the service serving the numeric model with default settings."""
    async with running_app(create_app(Settings(model_dir=numeric_model_dir))) as http:
        yield http


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each kind."""
    with temporary_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def recsys_logger_restored() -> Iterator[None]:
    """Undo the handler, level and propagation that serve() sets on the recsys logger."""
    package_logger = logging.getLogger("recsys")
    handlers = list(package_logger.handlers)
    level = package_logger.level
    propagate = package_logger.propagate
    yield
    for handler in package_logger.handlers:
        if handler not in handlers:
            package_logger.removeHandler(handler)
    package_logger.setLevel(level)
    package_logger.propagate = propagate


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """Record the calls of uvicorn.run instead of starting a server, so no port is bound."""
    calls: list[tuple[Any, dict[str, Any]]] = []

    def record(app: Any, **kwargs: Any) -> None:
        calls.append((app, kwargs))

    monkeypatch.setattr(service.main.uvicorn, "run", record)
    return calls
