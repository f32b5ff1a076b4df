"""Tests of recsys.diff.compare_models and ``recsys diff`` on hand-built models."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from recsys import DataValidationError, ItemKNN
from recsys.cli import main
from recsys.diff import compare_models

Purchases = Callable[[dict[str, list[str]]], pd.DataFrame]


@pytest.fixture
def old_model(purchases: Purchases) -> ItemKNN:
    """x is bought with a and b, y with a, and z alone; x is the most popular item.

    Co-occurrence with 2 neighbours: x -> [a, b], a -> [x, y], b -> [x], y -> [a].
    """
    events = purchases({"u1": ["x", "a", "y"], "u2": ["x", "b"], "u3": ["x", "a"], "u4": ["z"]})
    return ItemKNN(similarity="cooccurrence", n_neighbors=2).fit(events)


@pytest.fixture
def new_model(purchases: Purchases) -> ItemKNN:
    """Like the old model, except that x is now bought with c, not b, and z is gone.

    Co-occurrence with 2 neighbours: x -> [a, c], a -> [x, y], c -> [x], y -> [a].
    """
    events = purchases({"u1": ["x", "a", "y"], "u2": ["x", "c"], "u3": ["x", "a"], "u5": ["x", "c"]})
    return ItemKNN(similarity="cooccurrence", n_neighbors=2).fit(events)


def test_compare_models_same_model(old_model: ItemKNN) -> None:
    result = compare_models(old_model, old_model, top_items=3, n=2)

    assert result.items["item_id"].tolist() == ["x", "a", "b"]
    assert result.mean_jaccard == 1.0
    assert result.min_jaccard == 1.0
    assert result.top1_changed_share == 0.0
    assert result.missing_items == []
    assert result.n_items_added == 0


def test_compare_models_known_overlap(old_model: ItemKNN, new_model: ItemKNN) -> None:
    # Old top items by popularity: x (3 users), a (2), then b, y, z (1 each, by id).
    result = compare_models(old_model, new_model, top_items=5, n=2)

    rows = result.items.set_index("item_id")
    assert rows.index.tolist() == ["x", "a", "b", "y", "z"]
    # x: [a, b] vs [a, c] share 1 of 3 items.
    assert rows.loc["x", "jaccard"] == pytest.approx(1 / 3)
    assert rows.loc["x", "overlap"] == pytest.approx(1 / 2)
    assert rows.loc["a", "jaccard"] == 1.0
    # b and z are gone from the new model: their lists become empty.
    assert rows.loc["b", "jaccard"] == 0.0
    assert not rows.loc["b", "in_new"]
    assert rows.loc["z", "jaccard"] == 1.0  # empty in both
    assert result.missing_items == ["b", "z"]
    assert result.mean_jaccard == pytest.approx((1 / 3 + 1 + 0 + 1 + 1) / 5)
    assert result.min_jaccard == 0.0
    # Top-1 changes only for b (x stays first at a; z has none in either).
    assert result.top1_changed_share == pytest.approx(1 / 5)
    assert result.n_items_added == 1
    assert result.n_items_removed == 2


def test_compare_models_summary_json(old_model: ItemKNN, new_model: ItemKNN) -> None:
    summary = compare_models(old_model, new_model, top_items=1, n=2).summary()

    assert summary["items_compared"] == 1
    assert summary["mean_jaccard"] == pytest.approx(1 / 3, abs=1e-6)
    assert summary["mean_overlap@2"] == 0.5
    assert summary["old_version"] == old_model.version_
    assert summary["new_version"] == new_model.version_


@pytest.mark.parametrize("option", [{"top_items": 0}, {"n": 0}, {"n": True}])
def test_compare_models_invalid_option(old_model: ItemKNN, option: dict) -> None:
    with pytest.raises(DataValidationError, match=r"must be an int >= 1"):
        compare_models(old_model, old_model, **option)


def test_compare_models_no_items_nan(old_model: ItemKNN) -> None:
    result = compare_models(old_model, old_model, top_items=1, n=2)
    empty = type(result)(n=2, items=result.items.iloc[:0])

    assert math.isnan(empty.mean_jaccard)
    assert empty.summary()["mean_jaccard"] is None


def test_compare_models_related_no_warning(old_model: ItemKNN, new_model: ItemKNN) -> None:
    assert compare_models(old_model, new_model).unrelated_reason is None


def test_compare_models_no_shared_items(
    old_model: ItemKNN, purchases: Purchases, caplog: pytest.LogCaptureFixture
) -> None:
    other = ItemKNN(similarity="cooccurrence").fit(purchases({"u1": ["p", "q"], "u2": ["p", "r"]}))

    diff = compare_models(old_model, other)

    assert diff.unrelated_reason == (
        "the models share none of their items (old 5, new 3), so they look unrelated; "
        "compare models trained on the same catalogue"
    )
    assert diff.to_dict()["warning"] == diff.unrelated_reason
    assert diff.format_table().startswith(f"warning: {diff.unrelated_reason}\n")
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert diff.unrelated_reason in caplog.records[0].getMessage()


def test_compare_models_int_and_str_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    int_events = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": [1, 2, 1], "event": "purchase"})
    str_events = int_events.assign(item_id=int_events["item_id"].astype(str))
    ItemKNN().fit(int_events).save(tmp_path / "old")
    ItemKNN().fit(str_events).save(tmp_path / "new")

    status = main(["-q", "diff", str(tmp_path / "old"), str(tmp_path / "new")])

    output = capsys.readouterr().out
    assert status == 0
    assert output.startswith(
        "warning: the old model's item ids are int and the new model's are str, so ids such as 2 and '2'"
    )


def test_cli_diff_table(
    old_model: ItemKNN, new_model: ItemKNN, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_model.save(tmp_path / "old")
    new_model.save(tmp_path / "new")

    status = main(["-q", "diff", str(tmp_path / "old"), str(tmp_path / "new"), "--top-items", "5", "-n", "2"])

    output = capsys.readouterr().out
    assert status == 0
    assert re.search(r"^items_compared +5$", output, re.MULTILINE)
    assert re.search(r"^min_jaccard +0.000$", output, re.MULTILINE)
    assert "compared items missing in the new model: ['b', 'z']" in output


def test_cli_diff_json(
    old_model: ItemKNN, new_model: ItemKNN, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_model.save(tmp_path / "old")
    new_model.save(tmp_path / "new")

    status = main(
        ["-q", "diff", str(tmp_path / "old"), str(tmp_path / "new"), "--top-items", "2", "-n", "2", "--json"]
    )

    document = json.loads(capsys.readouterr().out)
    assert status == 0
    assert document["summary"]["items_compared"] == 2
    assert document["summary"]["top1_changed_share"] == 0.0
    assert [row["item_id"] for row in document["items"]] == ["x", "a"]
    assert document["items"][0]["top1_new"] == "a"


def test_cli_diff_missing_directory(
    old_model: ItemKNN, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_model.save(tmp_path / "old")

    status = main(["-q", "diff", str(tmp_path / "old"), str(tmp_path / "nowhere")])

    assert status == 2
    assert "model directory not found" in capsys.readouterr().err
