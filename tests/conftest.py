"""Fixtures shared by the whole suite."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = REPO / "data" / "online-retail" / "online_retail.csv.gz"
OTTO_DIR = Path(__file__).resolve().parent / "data" / "otto-sample"


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so every random test is repeatable."""
    return np.random.default_rng(20261204)


def purchases(baskets: dict[str, list[str]]) -> pd.DataFrame:
    """Build purchase events from {user: [items]}."""
    rows = [(user, item, "purchase") for user, items in baskets.items() for item in items]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event"])


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)


@pytest.fixture(name="purchases")
def purchases_fixture() -> Callable[[dict[str, list[str]]], pd.DataFrame]:
    """Return the ``purchases`` helper, for tests that take it as a fixture."""
    return purchases
