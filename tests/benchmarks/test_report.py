"""Tests of the results JSON merge and of the generated section of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.report import (
    SECTION_BEGIN,
    SECTION_END,
    format_table,
    merge_results,
    render_markdown_section,
    write_markdown_section,
)


def row(size: str, method: str, **fields: Any) -> dict[str, Any]:
    values = {
        "size": size,
        "method": method,
        "label": method,
        "status": "ok",
        "fit_s_min": 1.0,
        "fit_s_median": 1.5,
        "cpu_per_wall": 1.0,
        "peak_rss_mb": 100.0,
        "rss_before_fit_mb": 50.0,
        "pairs_per_s": 1e8,
        "ratio_to_implicit_cosine": 1.0,
        "equal_to_reference": True,
        "rows_differing": 0,
    }
    return {**values, **fields}


def results(sizes: list[str], date: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    run = {
        "date": date,
        "command": "python benchmarks/train_speed.py --sizes " + " ".join(sizes),
        "sizes": sizes,
        "machine": {"cpu": "Test CPU", "cores": 2, "ram_gib": 24.0, "os": "Linux"},
        "versions": {"numpy": "2"},
        "git": {"commit": "abc", "recsys_modified": False},
        "threads": {"count": 2, "environment": ["OMP_NUM_THREADS=2"]},
        "repeats": 3,
        "n_neighbors": 50,
    }
    datasets = [
        {"size": size, "synthetic": size != "retail", "n_users": 10, "n_items": 5, "nnz": 20, "pairs": 40}
        for size in sizes
    ]
    return {"meta": {"runs": [run]}, "datasets": datasets, "rows": rows}


def test_merge_keeps_sizes_not_run_again() -> None:
    first = results(["retail", "S"], "day 1", [row("retail", "recsys"), row("S", "recsys", fit_s_min=9.0)])
    second = results(["S", "L"], "day 2", [row("S", "recsys", fit_s_min=2.0), row("L", "recsys")])
    merged = merge_results(first, second)
    assert [(r["size"], r["fit_s_min"]) for r in merged["rows"]] == [("retail", 1.0), ("S", 2.0), ("L", 1.0)]
    assert [d["size"] for d in merged["datasets"]] == ["retail", "S", "L"]
    assert [(run["date"], run["sizes"]) for run in merged["meta"]["runs"]] == [
        ("day 1", ["retail"]),
        ("day 2", ["S", "L"]),
    ]


def test_merge_drops_runs_fully_replaced() -> None:
    first = results(["S"], "day 1", [row("S", "recsys")])
    second = results(["S"], "day 2", [row("S", "recsys")])
    assert [run["date"] for run in merge_results(first, second)["meta"]["runs"]] == ["day 2"]


def test_table_shows_failures_and_differences() -> None:
    rows = [
        row("S", "recsys", equal_to_reference=False, rows_differing=1234),
        row("S", "implicit-bm25", status="timed out after 60 s"),
        row("S", "scipy-reference", equal_to_reference=None),
    ]
    table = format_table(rows, markdown=True)
    assert "no (1,234 rows)" in table
    assert "| implicit-bm25 | timed out after 60 s |" in table
    assert "(reference)" in table


def test_markdown_section_replaced_in_place(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\nIntro.\n\n{SECTION_BEGIN}\nold\n{SECTION_END}\n\n## Later\n\nKept.\n")
    section = render_markdown_section(results(["S"], "day 2", [row("S", "recsys")]))
    write_markdown_section(page, section)
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nIntro.\n\n" + SECTION_BEGIN)
    assert "old" not in text
    assert text.endswith(SECTION_END + "\n\n## Later\n\nKept.\n")
    assert "S (synthetic)" in text
    assert "synthetic data from `benchmarks/synthetic.py`" in text


def test_markdown_section_appended_when_missing(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n")
    write_markdown_section(
        page, render_markdown_section(results(["retail"], "day 1", [row("retail", "recsys")]))
    )
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\n" + SECTION_BEGIN)
    assert "retail (real data, Online Retail)" in text
