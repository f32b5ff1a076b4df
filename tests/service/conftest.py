"""Fixtures for the service tests: two small saved models and clients that run the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI

import recsys
from service.config import Settings
from service.main import create_app
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
