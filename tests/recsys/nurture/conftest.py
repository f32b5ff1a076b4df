"""A small shop for the nurture tests: purchases and views of five leads on six items."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys import ItemKNN
from recsys.nurture import SendLedger

FIT_TIME = pd.Timestamp("2026-01-01", tz="UTC")
START = pd.Timestamp("2026-02-01", tz="UTC")


def shop_events() -> pd.DataFrame:
    """Return fitted events: purchases and views, all at FIT_TIME."""
    rows = [
        ("a", "tea", "purchase"),
        ("a", "cup", "purchase"),
        ("a", "pot", "view"),
        ("b", "tea", "purchase"),
        ("b", "cup", "purchase"),
        ("b", "pot", "purchase"),
        ("b", "honey", "purchase"),
        ("c", "cup", "purchase"),
        ("c", "pot", "purchase"),
        ("c", "milk", "purchase"),
        ("d", "honey", "purchase"),
        ("d", "milk", "purchase"),
        ("d", "tray", "purchase"),
        ("e", "tea", "view"),
        ("e", "tray", "purchase"),
        ("e", "pot", "purchase"),
        ("e", "milk", "purchase"),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event"])
    frame["timestamp"] = FIT_TIME
    return frame


@pytest.fixture
def model() -> ItemKNN:
    items = pd.DataFrame(
        {
            "item_id": ["tea", "cup", "pot", "honey", "milk", "tray"],
            "category": ["drink", "ware", "ware", "food", "drink", "ware"],
        }
    )
    from recsys.data import Interactions

    return ItemKNN().fit(Interactions.from_events(shop_events(), item_metadata=items))


@pytest.fixture
def ledger():
    with SendLedger.in_memory() as memory:
        yield memory
