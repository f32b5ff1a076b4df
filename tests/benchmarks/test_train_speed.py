"""Tests of the training-speed driver's handling of failed and timed-out children."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.train_speed import add_ratios, run_child


def child_arguments(timeout: float) -> argparse.Namespace:
    return argparse.Namespace(repeats=1, n_neighbors=5, threads=1, timeout=timeout)


def test_failed_child_becomes_a_row(tmp_path: Path) -> None:
    row, _ = run_child("recsys", tmp_path / "missing.npz", child_arguments(120.0), tmp_path / "recsys")
    assert row["status"] == "failed (exit code 1)"
    assert "missing.npz" in row["error"]


def test_timed_out_child_becomes_a_row(tmp_path: Path) -> None:
    row, _ = run_child("recsys", tmp_path / "missing.npz", child_arguments(0.01), tmp_path / "recsys")
    assert row["status"] == "timed out after 0.01 s"


def test_ratios_skip_failed_rows() -> None:
    rows = [
        {"method": "recsys", "status": "ok", "fit_s_min": 3.0},
        {"method": "implicit-cosine", "status": "ok", "fit_s_min": 2.0},
        {"method": "implicit-bm25", "status": "failed (exit code 1)"},
    ]
    add_ratios(rows)
    assert [row["ratio_to_implicit_cosine"] for row in rows] == [1.5, 1.0, None]


def test_ratios_need_the_baseline() -> None:
    rows = [
        {"method": "recsys", "status": "ok", "fit_s_min": 3.0},
        {"method": "implicit-cosine", "status": "timed out after 60 s"},
    ]
    add_ratios(rows)
    assert [row["ratio_to_implicit_cosine"] for row in rows] == [None, None]
