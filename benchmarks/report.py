"""Tables, the results JSON and the generated section of docs/benchmarks.md.

The JSON file is the record, and the Markdown section is rendered from it. A run
replaces the rows of the sizes it measured and keeps the other sizes' rows, so
separate invocations (for example ``--sizes retail S`` then ``--sizes L``) add up
to one file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "SECTION_BEGIN",
    "SECTION_END",
    "SIZE_ORDER",
    "dataset_heading",
    "format_table",
    "merge_results",
    "read_results",
    "render_markdown_section",
    "write_markdown_section",
]

#: Sizes in the order the tables list them.
SIZE_ORDER = ("retail", "S", "L", "XL")

SECTION_BEGIN = "<!-- BEGIN train_speed.py output: rendered from benchmarks/results/train_speed.json -->"
SECTION_END = "<!-- END train_speed.py output -->"

_COLUMNS = (
    "method",
    "fit_s_min",
    "fit_s_median",
    "cpu/wall",
    "peak_rss_mb",
    "rss_before_fit_mb",
    "pairs_per_s",
    "vs_implicit_cosine",
    "equal_to_reference",
)


def _cells(row: dict[str, Any]) -> list[str]:
    """Format one result row as table cells, in the order of ``_COLUMNS``."""
    if row["status"] != "ok":
        return [row["label"], row["status"], *[""] * (len(_COLUMNS) - 2)]
    ratio = row.get("ratio_to_implicit_cosine")
    return [
        row["label"],
        _seconds(row["fit_s_min"]),
        _seconds(row["fit_s_median"]),
        f"{row['cpu_per_wall']:.2f}",
        f"{row['peak_rss_mb']:,.0f}",
        f"{row['rss_before_fit_mb']:,.0f}",
        f"{row['pairs_per_s']:.3g}",
        "n/a" if ratio is None else f"{ratio:.2f}",
        _equality_cell(row),
    ]


def _seconds(value: float) -> str:
    """Format seconds with 3 significant digits below 100 s, and as whole seconds from 100 s on."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _equality_cell(row: dict[str, Any]) -> str:
    if row["method"] == "scipy-reference":
        return "(reference)"
    equal = row.get("equal_to_reference")
    if equal is None:
        return "n/a"
    if equal:
        return "yes"
    return f"no ({row['rows_differing']:,} rows)"


def format_table(rows: list[dict[str, Any]], *, markdown: bool) -> str:
    """Return the rows of one size as a Markdown table or as aligned plain text."""
    body = [_cells(row) for row in rows]
    if markdown:
        lines = [
            "| " + " | ".join(_COLUMNS) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(_COLUMNS) - 1)) + "|",
        ]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(str(cells[i])) for cells in [list(_COLUMNS), *body]) for i in range(len(_COLUMNS))]
    lines = ["  ".join(name.ljust(widths[i]) for i, name in enumerate(_COLUMNS))]
    for cells in body:
        first = cells[0].ljust(widths[0])
        lines.append("  ".join([first, *(cell.rjust(widths[i]) for i, cell in enumerate(cells) if i)]))
    return "\n".join(lines)


def merge_results(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """Return ``current`` plus the sizes of ``previous`` that ``current`` did not measure.

    Both have the keys ``meta`` (with a ``runs`` list), ``datasets`` and ``rows``. A
    previous run stays listed while any of its sizes is still in the result.
    """
    if not previous:
        return current
    measured = set(current["meta"]["runs"][-1]["sizes"])
    runs = []
    for run in previous.get("meta", {}).get("runs", []):
        remaining = [size for size in run.get("sizes", []) if size not in measured]
        if remaining:
            runs.append({**run, "sizes": remaining})
    merged = {
        "meta": {**current["meta"], "runs": runs + current["meta"]["runs"]},
        "datasets": [d for d in previous.get("datasets", []) if d["size"] not in measured]
        + current["datasets"],
        "rows": [row for row in previous.get("rows", []) if row["size"] not in measured] + current["rows"],
    }
    merged["datasets"].sort(key=lambda dataset: _size_rank(dataset["size"]))
    merged["rows"].sort(key=lambda row: _size_rank(row["size"]))
    return merged


def _size_rank(size: str) -> int:
    return SIZE_ORDER.index(size) if size in SIZE_ORDER else len(SIZE_ORDER)


def dataset_heading(dataset: dict[str, Any]) -> str:
    """Return a one-line description of a dataset: name, kind, shape, interactions and pairs."""
    kind = "synthetic" if dataset["synthetic"] else "real data, Online Retail"
    return (
        f"{dataset['size']} ({kind}): {dataset['n_users']:,} users x {dataset['n_items']:,} items, "
        f"{dataset['nnz']:,} interactions, {dataset['pairs']:.3g} pairs"
    )


def _run_description(run: dict[str, Any]) -> list[str]:
    machine = run["machine"]
    versions = run["versions"]
    git = run.get("git") or {}
    revision = git.get("commit", "unknown")[:12]
    if git.get("recsys_modified"):
        revision += ", with uncommitted changes under recsys/"
    library_versions = ", ".join(f"{name} {version}" for name, version in versions.items())
    threads = run["threads"]
    return [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']:.1f} GiB RAM, "
        f"{machine['os']}. Code: commit {revision}.",
        f"Versions: {library_versions}. Threads per child: {threads['count']} "
        f"({', '.join(threads['environment'])}, implicit num_threads={threads['count']}). "
        f"{run['repeats']} fits per method, {run['n_neighbors']} neighbours per item. Command:",
        "",
        "```sh",
        run["command"],
        "```",
    ]


def render_markdown_section(results: dict[str, Any]) -> str:
    """Render the results as the generated section of docs/benchmarks.md, markers included."""
    lines = [
        SECTION_BEGIN,
        "",
        "S, L and XL are synthetic data from `benchmarks/synthetic.py`, so their timings are not "
        "results on real data. `retail` is the bundled Online Retail data.",
    ]
    datasets = {dataset["size"]: dataset for dataset in results["datasets"]}
    for run in results["meta"]["runs"]:
        date = run["date"].replace("T", " ").replace("+00:00", " UTC")
        lines += ["", f"### Run of {date}: {', '.join(run['sizes'])}", ""]
        lines += _run_description(run)
        for size in sorted(run["sizes"], key=_size_rank):
            rows = [row for row in results["rows"] if row["size"] == size]
            lines += ["", f"#### {dataset_heading(datasets[size])}", "", format_table(rows, markdown=True)]
            lines += _source_note(rows)
            lines += _row_notes(rows)
    lines += ["", SECTION_END]
    return "\n".join(lines) + "\n"


def _source_note(rows: list[dict[str, Any]]) -> list[str]:
    """Return a note with the recsys rows' source digests, so that runs of different code stand out."""
    digests = sorted(
        {
            row["recsys_source"]
            for row in rows
            if row["method"].startswith("recsys") and row.get("recsys_source")
        }
    )
    if not digests:
        return []
    return [
        "",
        f"recsys source digest (SHA-256 of `recsys/**/*.py`, first 12 hex digits): {', '.join(digests)}.",
    ]


def _row_notes(rows: list[dict[str, Any]]) -> list[str]:
    """List warnings and errors of the rows, one bullet each."""
    notes = []
    for row in rows:
        notes += [f"- {row['label']}: {message}" for message in row.get("warnings", [])]
        if row.get("error"):
            notes.append(f"- {row['label']}: {row['error']}")
    return ["", "Messages from the children:", "", *notes] if notes else []


def write_markdown_section(path: Path, section: str) -> None:
    """Replace the generated section of ``path``, or append it when the file has none."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Benchmarks\n\n## Training speed\n\n" + section, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    begin = text.find(SECTION_BEGIN)
    end = text.find(SECTION_END)
    if begin >= 0 and end > begin:
        rest = text[end + len(SECTION_END) :].lstrip("\n")
        text = text[:begin] + section + ("\n" + rest if rest else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def read_results(path: Path) -> dict[str, Any] | None:
    """Return the results JSON at ``path``, or None when it is missing."""
    if not path.exists():
        return None
    results: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return results
