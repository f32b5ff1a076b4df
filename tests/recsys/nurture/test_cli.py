"""``recsys nurture round`` and ``recsys nurture handoff``, run in-process."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recsys.cli import main
from recsys.nurture import HANDOFF_COLUMNS, ROUND_COLUMNS, SendLedger
from tests.recsys.nurture.conftest import START
from tests.recsys.nurture.test_export import hot_events


@pytest.fixture
def model_dir(tmp_path, model):
    path = tmp_path / "model"
    model.save(path)
    return path


@pytest.fixture
def leads_file(tmp_path):
    path = tmp_path / "leads.txt"
    path.write_text("a\nb\nc\nZoë\n", encoding="utf-8")
    return path


def round_argv(model_dir, leads_file, ledger_url, out, round_number="1", campaign="spring"):
    return [
        "-q", "nurture", "round", "--campaign", campaign, "--round", round_number, "--model", str(model_dir),
        "--leads", str(leads_file), "--ledger", ledger_url, "--out", str(out), "--now", START.isoformat(),
    ]  # fmt: skip


def test_cli_round_writes_and_records(tmp_path, model_dir, leads_file, capsys):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    out = tmp_path / "round1.csv"

    assert main(round_argv(model_dir, leads_file, url, out)) == 0

    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert tuple(frame.columns) == ROUND_COLUMNS
    assert sorted(set(frame["lead_id"])) == ["Zoë", "a", "b", "c"]
    with SendLedger(url) as ledger:
        assert len(ledger.sends("spring", 1)) == 4
    assert "4 leads targeted, 4 with items (4 recorded now)" in capsys.readouterr().out


def test_cli_round_twice_records_once(tmp_path, model_dir, leads_file, capsys):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    first, second = tmp_path / "first.json", tmp_path / "second.json"

    assert main(round_argv(model_dir, leads_file, url, first)) == 0
    capsys.readouterr()
    assert main(round_argv(model_dir, leads_file, url, second)) == 0

    rows = json.loads(second.read_text(encoding="utf-8"))
    assert [row["item_id"] for row in rows] == [
        row["item_id"] for row in json.loads(first.read_text("utf-8"))
    ]
    assert all(row["already_sent"] for row in rows)
    first_rows = json.loads(first.read_text("utf-8"))
    assert [row["sent_at"] for row in rows] == [row["sent_at"] for row in first_rows]
    assert "(0 recorded now, 4 recorded by an earlier run)" in capsys.readouterr().out
    with SendLedger(url) as ledger:
        assert len(ledger.sends()) == 4


def test_cli_round_campaign_file(tmp_path, model_dir, leads_file):
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(
        'campaign_id = "autumn"\nitems_per_round = 1\nmax_item_share = 0.5\n', encoding="utf-8"
    )
    out = tmp_path / "round.parquet"

    argv = round_argv(model_dir, leads_file, f"sqlite:///{tmp_path / 'l.db'}", out, campaign=str(campaign))
    assert main(argv) == 0

    frame = pd.read_parquet(out)
    assert set(frame["campaign_id"]) == {"autumn"}
    assert frame.groupby("lead_id").size().max() == 1


def test_cli_round_outside_campaign(tmp_path, model_dir, leads_file, capsys):
    argv = round_argv(model_dir, leads_file, "sqlite://", tmp_path / "r.csv", round_number="5")

    assert main(argv) == 2
    assert "round 5 is not a round of campaign 'spring'" in capsys.readouterr().err


def test_cli_round_bad_out_suffix(tmp_path, model_dir, leads_file, capsys):
    assert main(round_argv(model_dir, leads_file, "sqlite://", tmp_path / "r.xlsx")) == 2
    assert "--out must end in" in capsys.readouterr().err


def test_cli_handoff(tmp_path, model_dir, capsys):
    events = tmp_path / "events.csv"
    hot_events().to_csv(events, index=False)
    out = tmp_path / "handoff.csv"

    argv = ["-q", "nurture", "handoff", "--model", str(model_dir), "--events", str(events), "--out", str(out)]
    assert main([*argv, "--now", START.isoformat()]) == 0

    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert tuple(frame.columns) == HANDOFF_COLUMNS
    assert frame["lead_id"].tolist() == ["a"]
    assert json.loads(frame["top_products"].iloc[0]) == ["milk"]
    assert "1 hot leads" in capsys.readouterr().out


def test_cli_handoff_needs_events(tmp_path, model_dir, capsys):
    argv = ["nurture", "handoff", "--model", str(model_dir), "--out", str(tmp_path / "h.csv")]

    assert main(argv) == 2
    assert "--events is required" in capsys.readouterr().err
