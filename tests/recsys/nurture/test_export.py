"""Round and hand-off tables, and the files they are written to."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recsys.exceptions import DataValidationError
from recsys.nurture import HANDOFF_COLUMNS, ROUND_COLUMNS, Campaign, handoff, run_round, write_table
from tests.recsys.nurture.conftest import START


def hot_events() -> pd.DataFrame:
    rows = [
        ("a", "cart", "pot", 1),
        ("a", "brochure_download", None, 1),
        ("a", "video", None, 2),
        ("a", "email_click", None, 3),
        ("a", "view", "honey", 1),
        ("a", "purchase", "honey", 1),
        ("a", "purchase", "tray", 2),
        ("a", "purchase", "cup", 0),
        ("b", "view", "tray", 1),
        ("c", "cart", "tea", 1),
    ]
    return pd.DataFrame(
        [
            {"user_id": lead, "event": kind, "item_id": item, "timestamp": START - pd.Timedelta(days=days)}
            for lead, kind, item, days in rows
        ]
    )


def test_round_frame_columns(model, ledger):
    result = run_round(Campaign("spring", items_per_round=2), 1, model, ledger, ["a", "b"], now=START)

    frame = result.to_frame(model)

    assert tuple(frame.columns) == ROUND_COLUMNS
    assert len(frame) == 4
    assert frame["rank"].tolist() == [1, 2, 1, 2]
    assert (frame["description"] == "").all()


def test_handoff_lists_final_stage_leads(model):
    frame = handoff(model, hot_events(), now=START)

    assert tuple(frame.columns) == HANDOFF_COLUMNS
    assert frame["lead_id"].tolist() == ["a"]
    row = frame.iloc[0]
    assert row["grade"] == "A"
    assert row["stage"] == "preference"
    # Every other item was bought, in the fitted history or in the events, or viewed (pot).
    assert row["top_products"] == ["milk"]
    assert row["reasons"][0].startswith("because you ")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_write_table_keeps_columns_and_ids(tmp_path, model, ledger, suffix):
    result = run_round(Campaign("spring", items_per_round=2), 1, model, ledger, ["a", "Zoë ☕"], now=START)
    frame = result.to_frame(model)

    path = write_table(frame, tmp_path / f"round{suffix}")

    if suffix == ".csv":
        back = pd.read_csv(path, dtype=str, keep_default_na=False)
        because = json.loads(back["because"].iloc[0])
    elif suffix == ".parquet":
        back = pd.read_parquet(path)
        because = json.loads(back["because"].iloc[0])
    else:
        back = pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
        because = back["because"].iloc[0]
    assert tuple(back.columns) == ROUND_COLUMNS
    assert back["lead_id"].tolist() == ["a", "a", "Zoë ☕", "Zoë ☕"]
    assert because == list(frame["because"].iloc[0])


def test_write_table_rejects_other_suffix(tmp_path):
    with pytest.raises(DataValidationError, match=r"\.csv, \.parquet or \.json"):
        write_table(pd.DataFrame(), tmp_path / "round.xlsx")


def test_send_hits_and_interval():
    from recsys.nurture import bootstrap_interval, send_hits

    purchases = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3],
            "item_id": ["x", "y", "z", "x"],
            "timestamp": pd.to_datetime(["2026-01-05", "2026-03-01", "2026-01-02", "2025-12-31"], utc=True),
        }
    )

    hits = send_hits({1: ["x"], 2: ["x"], 3: ["x"], "1": ["y"]}, purchases, "2026-01-01", 30)

    assert hits.tolist() == [1.0, 0.0, 0.0, 0.0]
    low, high = bootstrap_interval(hits, n_bootstrap=200)
    assert 0.0 <= low <= 0.25 <= high <= 1.0
