"""Time one training method in this process, which ``train_speed.py`` runs as a child.

Each method runs in a process of its own, so that the peak resident set size
(VmHWM) is that method's alone. The child loads the users x items matrix from an
``.npz`` file and prepares the method's input, neither of which is timed. It then
fits ``--repeats`` times and writes two files. The JSON report contains the wall
and CPU seconds of each fit, the memory figures and the warnings. The ``.npz``
contains the items x items neighbour lists of the last fit, in CSR form.

Usage (normally only through ``train_speed.py``)::

    python benchmarks/fit_method.py --method recsys --matrix user_items.npz \\
        --repeats 3 --report report.json --neighbors-out neighbors.npz
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import re
import resource
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for ``benchmarks.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reference import reference_neighbors

__all__ = ["METHODS", "Method", "recsys_source_digest"]


@dataclass(frozen=True)
class Method:
    """One way of computing item neighbours.

    ``prepare(user_items, n_neighbors, threads)`` imports the library, converts the
    loaded matrix to the method's input and returns the fit as a function of no
    arguments. Only calls of that function are timed. ``neighbors`` extracts the
    items x items neighbour lists from what the fit returned.
    """

    label: str
    prepare: Callable[[sp.csr_array, int, int], Callable[[], Any]]
    neighbors: Callable[[Any], sp.csr_array | sp.csr_matrix]


def _prepare_recsys(user_items: sp.csr_array, n_neighbors: int, threads: int) -> Callable[[], Any]:
    import recsys

    return lambda: recsys.item_similarity(user_items, similarity="cosine", n_neighbors=n_neighbors)


def _prepare_recsys_fit(user_items: sp.csr_array, n_neighbors: int, threads: int) -> Callable[[], Any]:
    import recsys

    n_users, n_items = user_items.shape
    # The Interactions constructor only stores fields, so the matrix is used as it is.
    interactions = recsys.Interactions(
        user_ids=recsys.IdMap(np.arange(n_users), "user_id"),
        item_ids=recsys.IdMap(np.arange(n_items), "item_id"),
        user_items=user_items,
        event_user_items={"purchase": user_items},
        event_weights={"purchase": 1.0},
    )
    return lambda: recsys.ItemKNN(similarity="cosine", n_neighbors=n_neighbors).fit(interactions)


def _prepare_implicit_cosine(user_items: sp.csr_array, n_neighbors: int, threads: int) -> Callable[[], Any]:
    from implicit.nearest_neighbours import CosineRecommender

    # implicit 0.7 takes users x items as a scipy csr_matrix.
    matrix = sp.csr_matrix(user_items)

    def fit() -> Any:
        model = CosineRecommender(K=n_neighbors, num_threads=threads)
        model.fit(matrix, show_progress=False)
        return model

    return fit


def _prepare_implicit_bm25(user_items: sp.csr_array, n_neighbors: int, threads: int) -> Callable[[], Any]:
    from implicit.nearest_neighbours import BM25Recommender

    matrix = sp.csr_matrix(user_items)

    def fit() -> Any:
        model = BM25Recommender(K=n_neighbors, num_threads=threads)
        model.fit(matrix, show_progress=False)
        return model

    return fit


def _prepare_reference(user_items: sp.csr_array, n_neighbors: int, threads: int) -> Callable[[], Any]:
    return lambda: reference_neighbors(user_items, n_neighbors)


#: The methods by command-line name, in the order the tables list them.
METHODS: dict[str, Method] = {
    "recsys": Method("recsys item_similarity", _prepare_recsys, lambda similarity: similarity),
    "recsys-fit": Method("recsys ItemKNN.fit", _prepare_recsys_fit, lambda model: model.similarity_),
    "implicit-cosine": Method(
        "implicit CosineRecommender", _prepare_implicit_cosine, lambda model: model.similarity
    ),
    "implicit-bm25": Method(
        "implicit BM25Recommender", _prepare_implicit_bm25, lambda model: model.similarity
    ),
    "scipy-reference": Method("scipy X.T @ X reference", _prepare_reference, lambda neighbors: neighbors),
}


def _status_mb(field: str) -> float:
    """Return a memory field of /proc/self/status (reported in KiB) in MB of 10^6 bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"{field} is missing from /proc/self/status")


def _rss_mb() -> float:
    """Return the current resident set size in MB (VmRSS)."""
    return _status_mb("VmRSS")


def _peak_rss_mb() -> float:
    """Return this process's peak resident set size so far in MB (VmHWM).

    ``getrusage(RUSAGE_SELF).ru_maxrss`` is not used: Linux carries it over through
    fork and exec, so in a child it is at least the parent's resident size at the fork.
    VmHWM belongs to the address space that exec created, so it is the child's own.
    """
    return _status_mb("VmHWM")


def _ru_maxrss_mb() -> float:
    """Return ``ru_maxrss`` in MB (Linux reports it in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def recsys_source_digest() -> str:
    """Return a 12-hex-digit SHA-256 of the recsys package's .py files as they are on disk.

    The similarity kernel may change while a benchmark runs in a working tree, so
    each child records which source it ran. The digest reads the files and does not
    import them.
    """
    package = Path(__file__).resolve().parents[1] / "recsys"
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode("utf-8"))
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(
    method_name: str, matrix_path: Path, repeats: int, n_neighbors: int, threads: int
) -> tuple[dict[str, Any], sp.csr_array | sp.csr_matrix]:
    """Fit ``method_name`` ``repeats`` times and return the report and the last neighbour lists."""
    method = METHODS[method_name]
    user_items = sp.csr_array(sp.load_npz(matrix_path))
    fit = method.prepare(user_items, n_neighbors, threads)
    source_digest = recsys_source_digest()
    gc.collect()
    rss_before = _rss_mb()
    peak_before = _peak_rss_mb()

    wall: list[float] = []
    cpu: list[float] = []
    result: Any = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(repeats):
            # Drop the previous fit first, so that memory never contains two results.
            result = None
            gc.collect()
            cpu_started = _cpu_seconds()
            started = time.perf_counter()
            result = fit()
            wall.append(time.perf_counter() - started)
            cpu.append(_cpu_seconds() - cpu_started)
    peak = _peak_rss_mb()
    ru_maxrss = _ru_maxrss_mb()

    # One line per distinct warning. implicit's messages contain a duration, which is masked.
    messages = sorted(
        {
            f"{item.category.__name__}: {re.sub(r'[0-9.e-]+ seconds', 'N seconds', str(item.message))}"
            for item in caught
        }
    )
    report = {
        "method": method_name,
        "label": method.label,
        "fit_s": wall,
        "cpu_s": cpu,
        "rss_before_fit_mb": rss_before,
        "peak_rss_before_fit_mb": peak_before,
        "peak_rss_mb": peak,
        "ru_maxrss_mb": ru_maxrss,
        "warnings": messages,
        "recsys_source": source_digest,
    }
    return report, method.neighbors(result)


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run the fits and write the report and neighbour lists."""
    parser = argparse.ArgumentParser(description="Time one training method (a child of train_speed.py).")
    parser.add_argument("--method", required=True, choices=list(METHODS), help="method to fit")
    parser.add_argument(
        "--matrix", required=True, type=Path, help="users x items .npz (scipy.sparse.save_npz)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="number of timed fits (default 3)")
    parser.add_argument("--n-neighbors", type=int, default=50, help="neighbours kept per item (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="threads passed to implicit (default 1)")
    parser.add_argument("--report", required=True, type=Path, help="JSON report to write")
    parser.add_argument(
        "--neighbors-out", required=True, type=Path, help=".npz for the last fit's neighbours"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1; got {args.repeats}")

    report, neighbors = run(args.method, args.matrix, args.repeats, args.n_neighbors, args.threads)
    sp.save_npz(args.neighbors_out, sp.csr_array(neighbors), compressed=False)
    args.report.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
