"""The notebooks run top to bottom, so their code cannot go stale unnoticed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

pytestmark = pytest.mark.slow


def run_notebook(
    name: str, max_users: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[nbformat.NotebookNode, list[dict[str, Any]]]:
    """Execute ``notebooks/<name>`` in ``tmp_path``; return it and its error outputs."""
    # A sample of customers keeps the run to seconds; the notebook reads this variable.
    monkeypatch.setenv("RECSYS_NOTEBOOK_MAX_USERS", str(max_users))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)

    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    return notebook, errors


def test_retrain_notebook_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    notebook, errors = run_notebook("retrain.ipynb", 1500, monkeypatch, tmp_path)

    assert errors == []
    assert notebook.cells[-1].outputs, "the last cell printed no recommendations"


def test_notebooks_have_no_outputs() -> None:
    # Outputs are produced by running the notebook, never committed, so they cannot go stale.
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        stale = [
            index
            for index, cell in enumerate(notebook.cells)
            if cell.get("outputs") or cell.get("execution_count")
        ]
        assert stale == [], f"{path.name} has committed outputs in cells {stale}"


def test_nurture_notebook_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    notebook, errors = run_notebook("nurture_campaign.ipynb", 800, monkeypatch, tmp_path)

    assert errors == []
    assert notebook.cells[-1].outputs, "the last cell printed no hand-off"
