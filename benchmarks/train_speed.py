"""Training-speed benchmark: recsys's item-item similarity against implicit and SciPy.

For each requested size, the script builds one users x items matrix, saves it once
to a temporary ``.npz`` file and runs every method on it in a child process of its
own (``benchmarks/fit_method.py``):

- ``recsys``: ``recsys.item_similarity(user_items, similarity="cosine",
  n_neighbors=50)``, the similarity step of ``ItemKNN.fit`` alone;
- ``recsys-fit``: the whole ``recsys.ItemKNN(similarity="cosine", n_neighbors=50).fit``
  on ``recsys.Interactions`` that wrap the matrix (histories, popularity and the
  content hash included);
- ``implicit-cosine`` and ``implicit-bm25``: ``CosineRecommender(K=50)`` and
  ``BM25Recommender(K=50)`` of implicit, ``.fit(user_items, show_progress=False)``;
- ``scipy-reference``: column-normalised ``X.T @ X`` in float64, blocked, with the
  top 50 per row by ``argpartition`` and the diagonal removed
  (``benchmarks/reference.py``).

Each child loads the matrix (not timed) and fits ``--repeats`` times. It reports
the wall time and CPU time of each fit, the resident set size before the first fit,
and the peak resident set size after the last. The peak is VmHWM of
/proc/self/status, because on Linux ``ru_maxrss`` of a child includes the parent's
size at the fork. The script then checks every method's neighbour lists against
the reference (``compare_neighbors``), prints one table per size, and writes the
results JSON and the generated section of ``docs/benchmarks.md``. A child that
fails or times out becomes a row with that status, and the run goes on.

Sizes: ``retail`` is the bundled Online Retail data (``load_online_retail`` and
``Interactions.from_events`` with the default weights, so every cell is 5.0). ``S``,
``L`` and ``XL`` are synthetic (``benchmarks/synthetic.py``); their timings are not
results on real data.

Threads: every child gets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` set to ``--threads`` (default: all
cores), and implicit gets ``num_threads=--threads``.

Example::

    python benchmarks/train_speed.py --sizes retail S --repeats 3
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for ``benchmarks.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import report
from benchmarks.fit_method import METHODS
from benchmarks.reference import compare_neighbors, cosine_columns
from benchmarks.synthetic import (
    DEFAULT_ACTIVITY_EXPONENT,
    DEFAULT_POPULARITY_EXPONENT,
    DEFAULT_SEED,
    SIZES,
    generate_user_items,
)

logger = logging.getLogger("train_speed")

REPO = Path(__file__).resolve().parents[1]
FIT_METHOD_SCRIPT = REPO / "benchmarks" / "fit_method.py"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
#: The method whose fastest fit the ratio column divides by.
BASELINE_METHOD = "implicit-cosine"
REFERENCE_METHOD = "scipy-reference"

#: Meaning of each result-row field, copied into the JSON for its readers.
ROW_FIELDS = {
    "fit_s_min": "fastest fit, wall seconds",
    "fit_s_median": "median fit, wall seconds",
    "fit_s": "every fit, wall seconds, in order",
    "cpu_per_wall": "CPU seconds (all threads) / wall seconds of the fastest fit; about 1 means one core busy",
    "peak_rss_mb": "peak resident set size of the child after its fits (VmHWM), MB of 10^6 bytes; "
    "includes the matrix, the libraries and the result",
    "ru_maxrss_mb": "getrusage ru_maxrss of the child in MB. On Linux it is at least the parent's size at the fork",
    "rss_before_fit_mb": "resident set size after loading the matrix, before the first fit, MB",
    "pairs_per_s": "pairs / fit_s_min, where pairs = sum over users of (items of the user)^2",
    "ratio_to_implicit_cosine": "fit_s_min / fit_s_min of implicit CosineRecommender (above 1 is slower)",
    "equal_to_reference": "neighbour lists equal the scipy reference's up to ties at the last place and "
    "scores within rtol 1e-4; null when not compared",
    "neighbor_overlap": "share of the reference's neighbour pairs the method also kept",
    "recsys_source": "SHA-256 (first 12 hex digits) of recsys/**/*.py when the child ran",
    "load_average_before": "1-minute load average when the child started; it decays over minutes, so it "
    "still counts the previous child, and a value near the core count or above suggests competing processes",
}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for each requested size and write the results."""
    args = parse_arguments(argv)
    logging.basicConfig(format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logger.setLevel(logging.INFO)
    # Turn SIGTERM into SystemExit, so that subprocess.run kills the running child and
    # the scratch directory with the saved matrices is removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    run = describe_run(args, argv if argv is not None else sys.argv[1:])
    previous = report.read_results(args.out_json)
    results: dict[str, Any] = {"meta": {}, "datasets": [], "rows": []}
    with tempfile.TemporaryDirectory(prefix="recsys-train-speed-") as scratch:
        for size in args.sizes:
            dataset, rows = measure_size(size, args, Path(scratch))
            print(f"\n{report.dataset_heading(dataset)} (built in {dataset['build_s']:.1f} s)")
            print(report.format_table(rows, markdown=False))
            for row in rows:
                for message in row.get("warnings", []) + ([row["error"]] if row.get("error") else []):
                    print(f"  {row['label']}: {message}")
            sys.stdout.flush()

            # Write after every size, so a long run that dies later keeps what it measured.
            run["sizes"].append(size)
            results["datasets"].append(dataset)
            results["rows"].extend(rows)
            results["meta"] = {
                "note": "S, L and XL are synthetic (benchmarks/synthetic.py); their timings are not "
                "results on real data. retail is the bundled Online Retail data.",
                "fields": ROW_FIELDS,
                "runs": [run],
            }
            write_results(report.merge_results(previous, results), args)
    return 0


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time item-item similarity training of recsys, implicit and a SciPy reference.",
    )

    # What to run.
    parser.add_argument(
        "--sizes",
        nargs="+",
        choices=report.SIZE_ORDER,
        default=["retail", "S"],
        help="datasets to run: retail (bundled Online Retail) and the synthetic S, L, XL (default: retail S)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per method (default 3)")
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=list(METHODS),
        help="methods to run (default: all). The equality check needs scipy-reference, "
        "the ratio column implicit-cosine",
    )

    # How to run it.
    parser.add_argument("--n-neighbors", type=int, default=50, help="neighbours kept per item (default 50)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds one child may take for all its fits (default 3600)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="threads per child for OpenMP, BLAS, numba and implicit (default: all cores)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"seed of the synthetic sizes (default {DEFAULT_SEED})"
    )

    # Where to write the results.
    parser.add_argument(
        "--out-json",
        type=Path,
        default=REPO / "benchmarks" / "results" / "train_speed.json",
        help="results JSON; rows of sizes not run now are kept (default benchmarks/results/train_speed.json)",
    )
    parser.add_argument(
        "--out-md",
        type=Path,
        default=REPO / "docs" / "benchmarks.md",
        help="Markdown page whose generated section is rewritten (default docs/benchmarks.md)",
    )

    args = parser.parse_args(argv)
    for name in ("repeats", "n_neighbors", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if args.timeout <= 0:
        parser.error(f"--timeout must be > 0 seconds; got {args.timeout}")
    args.sizes = list(dict.fromkeys(args.sizes))
    args.methods = [name for name in METHODS if name in args.methods]
    return args


def measure_size(
    size: str, args: argparse.Namespace, scratch: Path
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Build one dataset, run every method on it, compare the results and return (dataset, rows)."""
    logger.info("building %s", size)
    started = time.perf_counter()
    user_items = build_user_items(size, args.seed)
    item_counts = np.diff(user_items.indptr).astype(np.int64)
    dataset = {
        "size": size,
        "synthetic": size != "retail",
        "n_users": user_items.shape[0],
        "n_items": user_items.shape[1],
        "nnz": int(user_items.nnz),
        "pairs": int(np.square(item_counts).sum()),
        "build_s": time.perf_counter() - started,
    }
    if size != "retail":
        dataset.update(
            seed=args.seed,
            activity_exponent=DEFAULT_ACTIVITY_EXPONENT,
            popularity_exponent=DEFAULT_POPULARITY_EXPONENT,
        )
    matrix_path = scratch / f"{size}.npz"
    sp.save_npz(matrix_path, user_items, compressed=False)
    del user_items, item_counts
    logger.info("%s", report.dataset_heading(dataset))

    rows = []
    neighbor_paths = {}
    for method in args.methods:
        row, neighbor_path = run_child(method, matrix_path, args, scratch / f"{size}-{method}")
        row["size"] = size
        row["pairs_per_s"] = dataset["pairs"] / row["fit_s_min"] if row["status"] == "ok" else None
        if row["status"] == "ok":
            neighbor_paths[method] = neighbor_path
        rows.append(row)

    add_ratios(rows)
    add_comparisons(rows, neighbor_paths, matrix_path, args.n_neighbors)
    flag_source_changes(rows)
    for path in [matrix_path, *neighbor_paths.values()]:
        path.unlink(missing_ok=True)
    return dataset, [_in_field_order(row) for row in rows]


def _in_field_order(row: dict[str, Any]) -> dict[str, Any]:
    """Return the row with the main fields first, for readers of the JSON."""
    first = ("size", "method", "label", "status", "fit_s_min", "fit_s_median", "peak_rss_mb", "pairs_per_s")
    return {**{name: row.get(name) for name in first}, **row}


def build_user_items(size: str, seed: int) -> sp.csr_array:
    """Return the users x items matrix of a named size."""
    if size == "retail":
        import recsys
        from recsys.datasets import load_online_retail

        events, _ = load_online_retail()
        return recsys.Interactions.from_events(events).user_items
    spec = SIZES[size]
    return generate_user_items(spec.n_users, spec.n_items, spec.n_interactions, seed=seed)


def run_child(
    method: str, matrix_path: Path, args: argparse.Namespace, prefix: Path
) -> tuple[dict[str, Any], Path]:
    """Run one method in a child process and return its row and its neighbours file."""
    report_path = prefix.with_suffix(".json")
    neighbor_path = prefix.with_name(prefix.name + "-neighbors.npz")
    command = [
        sys.executable,
        str(FIT_METHOD_SCRIPT),
        f"--method={method}",
        f"--matrix={matrix_path}",
        f"--repeats={args.repeats}",
        f"--n-neighbors={args.n_neighbors}",
        f"--threads={args.threads}",
        f"--report={report_path}",
        f"--neighbors-out={neighbor_path}",
    ]
    environment = {**os.environ, **{name: str(args.threads) for name in THREAD_VARIABLES}}
    row: dict[str, Any] = {
        "method": method,
        "label": METHODS[method].label,
        "status": "ok",
        "recsys_source": "SHA-256 (first 12 hex digits) of recsys/**/*.py when the child ran",
        "load_average_before": os.getloadavg()[0],
    }
    logger.info("running %s (%d fits, timeout %.0f s)", method, args.repeats, args.timeout)
    try:
        finished = subprocess.run(
            command,
            env=environment,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=args.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        logger.warning("%s timed out after %g s and was killed", method, args.timeout)
        return {**row, "status": f"timed out after {args.timeout:g} s"}, neighbor_path

    if finished.returncode != 0:
        status = f"failed (exit code {finished.returncode})"
        if finished.returncode == -9:
            status = "failed (killed by SIGKILL, possibly out of memory)"
        error = " / ".join(line for line in finished.stderr.strip().splitlines()[-3:] if line.strip())
        logger.warning("%s %s: %s", method, status, error)
        return {**row, "status": status, "error": error}, neighbor_path

    child = json.loads(report_path.read_text(encoding="utf-8"))
    fastest = int(np.argmin(child["fit_s"]))
    row.update(
        fit_s_min=child["fit_s"][fastest],
        fit_s_median=statistics.median(child["fit_s"]),
        fit_s=child["fit_s"],
        cpu_per_wall=child["cpu_s"][fastest] / child["fit_s"][fastest],
        peak_rss_mb=child["peak_rss_mb"],
        rss_before_fit_mb=child["rss_before_fit_mb"],
        ru_maxrss_mb=child["ru_maxrss_mb"],
        warnings=child["warnings"],
        recsys_source=child["recsys_source"],
    )
    logger.info("%s: fastest fit %.2f s, peak RSS %.0f MB", method, row["fit_s_min"], row["peak_rss_mb"])
    return row, neighbor_path


def flag_source_changes(rows: list[dict[str, Any]]) -> None:
    """Add an error note to the recsys rows when they ran different recsys source files."""
    recsys_rows = [row for row in rows if row["method"].startswith("recsys") and row["status"] == "ok"]
    digests = {row["recsys_source"] for row in recsys_rows}
    if len(digests) <= 1:
        return
    logger.warning("recsys/ changed on disk during this size; its rows measured different code")
    for row in recsys_rows:
        row["error"] = f"recsys/ changed during this size: this child ran source {row['recsys_source']}"


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Set ``ratio_to_implicit_cosine`` on every row (None without a baseline)."""
    baseline = next((row for row in rows if row["method"] == BASELINE_METHOD and row["status"] == "ok"), None)
    for row in rows:
        row["ratio_to_implicit_cosine"] = None
        if baseline is not None and row["status"] == "ok":
            row["ratio_to_implicit_cosine"] = row["fit_s_min"] / baseline["fit_s_min"]


def add_comparisons(
    rows: list[dict[str, Any]], neighbor_paths: dict[str, Path], matrix_path: Path, n_neighbors: int
) -> None:
    """Compare every method's neighbours with the reference's and record the outcome in its row."""
    for row in rows:
        row.update(equal_to_reference=None, rows_differing=None, neighbor_overlap=None)
    if REFERENCE_METHOD not in neighbor_paths:
        logger.info("no reference neighbours, so equal_to_reference stays null")
        return
    reference = sp.csr_array(sp.load_npz(neighbor_paths[REFERENCE_METHOD]))
    item_users = cosine_columns(sp.csr_array(sp.load_npz(matrix_path))).T.tocsr()
    for row in rows:
        if row["method"] == REFERENCE_METHOD or row["method"] not in neighbor_paths:
            continue
        neighbors = sp.csr_array(sp.load_npz(neighbor_paths[row["method"]]))
        comparison = compare_neighbors(neighbors, reference, item_users, n_neighbors)
        row.update(
            equal_to_reference=comparison.equal,
            rows_differing=comparison.rows_differing,
            neighbor_overlap=comparison.neighbor_overlap,
            n_neighbors_compared=comparison.n_neighbors_compared,
            includes_self=comparison.includes_self,
        )


def describe_run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Return the machine, versions and settings of this run, for the results JSON."""
    import recsys

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "benchmarks/train_speed.py", *argv]),
        "sizes": [],
        "machine": machine_description(),
        "versions": {
            "python": platform.python_version(),
            **{name: importlib.metadata.version(name) for name in ("numpy", "scipy", "pandas", "implicit")},
            "recsys": recsys.__version__,
        },
        "git": git_description(),
        "threads": {
            "count": args.threads,
            "environment": [f"{name}={args.threads}" for name in THREAD_VARIABLES],
        },
        "repeats": args.repeats,
        "n_neighbors": args.n_neighbors,
        "timeout_s": args.timeout,
    }


def machine_description() -> dict[str, Any]:
    """Return the CPU model, core count, RAM and OS of this machine (Linux /proc files)."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_kib = 0
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                ram_kib = int(line.split()[1])
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram_kib / 2**20,
        "os": f"{platform.system()} {platform.release()}",
    }


def git_description() -> dict[str, Any] | None:
    """Return the checked-out commit and whether recsys/ has uncommitted changes, or None without git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--", "recsys"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        logger.warning("cannot read the git revision: %s", error)
        return None
    return {"commit": commit, "recsys_modified": bool(changes)}


def write_results(results: dict[str, Any], args: argparse.Namespace) -> None:
    """Write the results JSON and the generated section of the Markdown page."""
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report.write_markdown_section(args.out_md, report.render_markdown_section(results))
    logger.info("wrote %s and %s", args.out_json, args.out_md)


if __name__ == "__main__":
    sys.exit(main())
