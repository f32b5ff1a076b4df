"""Update-speed benchmark: ``ItemKNN.partial_fit`` and ``forget_users`` against a full refit.

For each requested synthetic size (``benchmarks/synthetic.py``) the script draws
one users x items matrix of purchases and times, in this process:

- ``refit``: ``ItemKNN(similarity="cosine", n_neighbors=20).fit`` on every user;
- ``partial_fit 1% users``: the model fitted on a random 99 % of the users, then
  ``partial_fit`` with the other 1 %, new users whose items are mostly known;
- ``partial_fit 1 user``: the model fitted on every user but one, then that
  user's events (a user with the median number of items);
- ``forget_users 1`` and ``forget_users 100``: the model fitted on every user,
  then ``forget_users`` with 1 or 100 random users.

Each operation runs ``--repeats`` times on a fresh copy of its starting model
(the copy is not timed) and the fastest wall time is kept. Every result is then
compared with a refit on the same data: ids, neighbour lists and scores within
rtol 1e-5 (``equal_to_refit``). The table prints the times and ``refit_s /
time``, the speed-up over a refit of the whole data. The JSON results go to
``benchmarks/results/update_speed.json`` and a table to ``docs/benchmarks.md``.

The data is synthetic, so the times show how the cost scales, not what real data
costs. Threads: numba uses every core unless ``NUMBA_NUM_THREADS`` is set.

Example::

    python benchmarks/update_speed.py --sizes S L --repeats 2
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for ``benchmarks.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import DEFAULT_SEED, SIZES, generate_user_items
from recsys import IdMap, Interactions, ItemKNN

logger = logging.getLogger("update_speed")

REPO = Path(__file__).resolve().parents[1]
SECTION_BEGIN = "<!-- BEGIN update_speed.py output: rendered from benchmarks/results/update_speed.json -->"
SECTION_END = "<!-- END update_speed.py output -->"
N_NEIGHBORS = 20
RTOL = 1e-5


def interactions_of(user_items: sp.csr_array, users: np.ndarray) -> Interactions:
    """Wrap the rows ``users`` of ``user_items`` as purchase Interactions, ids = positions."""
    rows = sp.csr_array(user_items[users])
    items = np.unique(rows.indices)
    column = np.full(user_items.shape[1], -1, dtype=np.int64)
    column[items] = np.arange(len(items))
    matrix = sp.csr_array(
        (rows.data, column[rows.indices].astype(np.int32), rows.indptr.astype(np.int32)),
        shape=(len(users), len(items)),
    )
    return Interactions(
        user_ids=IdMap(np.asarray(users, dtype=np.int64), "user_id"),
        item_ids=IdMap(items.astype(np.int64), "item_id"),
        user_items=matrix,
        event_user_items={"purchase": matrix},
        event_weights={"purchase": 1.0},
        n_events=matrix.nnz,
    )


def new_model() -> ItemKNN:
    return ItemKNN(similarity="cosine", n_neighbors=N_NEIGHBORS)


def time_best(
    start: ItemKNN | None, operation: Callable[[ItemKNN | None], ItemKNN], repeats: int
) -> tuple[float, ItemKNN]:
    """Return the fastest wall time of ``operation`` on fresh copies of ``start``, and its last result."""
    best = float("inf")
    result: ItemKNN | None = None
    for _ in range(repeats):
        model = copy.deepcopy(start) if start is not None else None
        started = time.perf_counter()
        result = operation(model)
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


def same_as(actual: ItemKNN, expected: ItemKNN) -> bool:
    """Compare ids, neighbour lists and scores (rtol 1e-5)."""
    return bool(
        actual.user_ids_ == expected.user_ids_
        and actual.item_ids_ == expected.item_ids_
        and np.array_equal(actual.similarity_.indptr, expected.similarity_.indptr)
        and np.array_equal(actual.similarity_.indices, expected.similarity_.indices)
        and np.allclose(actual.similarity_.data, expected.similarity_.data, rtol=RTOL)
        and np.allclose(actual.popularity_, expected.popularity_, rtol=RTOL)
    )


def measure_size(size: str, repeats: int, seed: int) -> dict[str, Any]:
    """Time every operation on one synthetic size and return its result rows."""
    spec = SIZES[size]
    started = time.perf_counter()
    user_items = generate_user_items(spec.n_users, spec.n_items, spec.n_interactions, seed=seed)
    logger.info("drew %s in %.1f s", size, time.perf_counter() - started)
    n_users = user_items.shape[0]
    everyone = np.flatnonzero(np.diff(user_items.indptr) > 0)
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(everyone)
    newcomers = np.sort(shuffled[: max(1, len(everyone) // 100)])
    lengths = np.diff(user_items.indptr)
    median_user = int(everyone[np.argsort(lengths[everyone], kind="stable")[len(everyone) // 2]])
    forgotten_100 = np.sort(shuffled[-100:])

    full = interactions_of(user_items, everyone)
    refit_s, refit = time_best(None, lambda _: new_model().fit(full), repeats)
    rows = [_row("refit", "every user", refit_s, refit_s, True, full.user_items.nnz)]

    cases: list[tuple[str, str, np.ndarray, np.ndarray, str]] = [
        ("partial_fit", "1% users", np.setdiff1d(everyone, newcomers), newcomers, "add"),
        ("partial_fit", "1 user", np.setdiff1d(everyone, [median_user]), np.array([median_user]), "add"),
        ("forget_users", "1 user", everyone, shuffled[-1:], "forget"),
        ("forget_users", "100 users", everyone, forgotten_100, "forget"),
    ]
    for method, label, base_users, changed, kind in cases:
        base = full if len(base_users) == len(everyone) else interactions_of(user_items, base_users)
        start = new_model().fit(base)
        if kind == "add":
            batch = interactions_of(user_items, changed)
            seconds, result = time_best(start, lambda model, batch=batch: model.partial_fit(batch), repeats)
            expected = refit
        else:
            ids = changed.tolist()
            seconds, result = time_best(start, lambda model, ids=ids: model.forget_users(ids), repeats)
            expected = new_model().fit(interactions_of(user_items, np.setdiff1d(everyone, changed)))
        changed_nnz = int(lengths[changed].sum())
        rows.append(_row(method, label, seconds, refit_s, same_as(result, expected), changed_nnz))
        logger.info("%s %s %s: %.3f s", size, method, label, seconds)

    return {
        "size": size,
        "n_users": int(n_users),
        "n_items": int(user_items.shape[1]),
        "nnz": int(user_items.nnz),
        "rows": rows,
    }


def _row(method: str, label: str, seconds: float, refit_s: float, equal: bool, cells: int) -> dict[str, Any]:
    return {
        "operation": method,
        "case": label,
        "changed_cells": cells,
        "time_s": seconds,
        "speedup_vs_refit": refit_s / seconds if seconds > 0 else None,
        "equal_to_refit": equal,
    }


def format_table(result: dict[str, Any], *, markdown: bool) -> str:
    header = ["operation", "case", "changed cells", "time (s)", "refit / time", "equal to refit"]
    lines = []
    for row in result["rows"]:
        lines.append(
            [
                row["operation"],
                row["case"],
                f"{row['changed_cells']:,}",
                f"{row['time_s']:.3f}",
                f"{row['speedup_vs_refit']:.1f}x",
                "yes" if row["equal_to_refit"] else "NO",
            ]
        )
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    return "\n".join(
        "  ".join(str(cell).rjust(width) for cell, width in zip(cells, widths, strict=True))
        for cells in [header, *lines]
    )


def render_section(results: dict[str, Any]) -> str:
    run = results["run"]
    parts = [
        SECTION_BEGIN,
        "",
        f"Run of {run['date']} on {run['machine']['cores']} cores ({run['machine']['cpu']}), "
        f"`{run['command']}`. Fastest of {run['repeats']} runs per operation. The 1-minute load "
        f"average was {run['machine']['load_average_before']:.1f} when the run started; other "
        f"processes shared the cores, so compare the ratios rather than the absolute times.",
    ]
    for result in results["sizes"]:
        parts += [
            "",
            f"#### {result['size']} (synthetic): {result['n_users']:,} users x {result['n_items']:,} items, "
            f"{result['nnz']:,} interactions",
            "",
            format_table(result, markdown=True),
        ]
    parts += ["", SECTION_END]
    return "\n".join(parts)


def write_section(path: Path, section: str) -> None:
    """Replace the generated section of ``path``, or append it when it is missing."""
    text = path.read_text(encoding="utf-8")
    if SECTION_BEGIN in text and SECTION_END in text:
        before = text[: text.index(SECTION_BEGIN)]
        after = text[text.index(SECTION_END) + len(SECTION_END) :]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        nargs="+",
        choices=("S", "L", "XL"),
        default=["S", "L"],
        help="synthetic sizes (default S L)",
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs per operation; the fastest counts (default 2)"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the data and of the user samples"
    )
    parser.add_argument(
        "--out-json",
        type=Path,
        default=REPO / "benchmarks" / "results" / "update_speed.json",
        help="results JSON (default benchmarks/results/update_speed.json)",
    )
    parser.add_argument(
        "--out-md",
        type=Path,
        default=REPO / "docs" / "benchmarks.md",
        help="Markdown page whose generated update-speed section is replaced (default docs/benchmarks.md)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_arguments(argv)
    # Compile the kernels before anything is timed.
    warm = interactions_of(generate_user_items(500, 100, 3_000, seed=args.seed), np.arange(500))
    new_model().fit(warm).partial_fit(
        interactions_of(generate_user_items(500, 100, 3_000, seed=1), np.arange(5))
    )

    sizes = []
    for size in args.sizes:
        result = measure_size(size, args.repeats, args.seed)
        print(
            f"\n{size}: {result['n_users']:,} users x {result['n_items']:,} items, {result['nnz']:,} interactions"
        )
        print(format_table(result, markdown=False))
        sizes.append(result)

    results = {
        "meta": {
            "note": "Synthetic data (benchmarks/synthetic.py); the times show how the cost scales, "
            "not results on real data.",
            "fields": {
                "time_s": "fastest wall time of the operation, seconds",
                "speedup_vs_refit": "refit time / time_s; above 1 is faster than a refit",
                "changed_cells": "(user, item) cells added or deleted",
                "equal_to_refit": "ids, neighbour lists and scores (rtol 1e-5) equal a refit on the same data",
            },
        },
        "run": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python benchmarks/update_speed.py "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "repeats": args.repeats,
            "n_neighbors": N_NEIGHBORS,
            "machine": {
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_before": os.getloadavg()[0],
            },
        },
        "sizes": sizes,
    }
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    write_section(args.out_md, render_section(results))
    logger.info("wrote %s and %s", args.out_json, args.out_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
