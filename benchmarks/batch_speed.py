"""Batch-recommendation benchmark: recsys ``write_recommendations`` against implicit.

For each requested size the script fits one recsys ``ItemKNN(similarity="cosine",
n_neighbors=50)`` and one implicit ``CosineRecommender(K=50)`` on the same users x
items matrix, then times the top 10 items of every user, seen items excluded:

- ``recsys file``: ``model.write_recommendations(path, n=10)``, the whole path to
  a Parquet file (ranking, reasons, Arrow conversion, Parquet encoding, fsync);
- ``recsys kernel``: the in-memory ranking step alone (item positions, scores and
  ``because`` per user, in chunks of 10,000 users), once with every numba thread
  and once with a single thread;
- ``implicit``: ``model.recommend(userids, user_items[userids], N=10,
  filter_already_liked_items=True)``, the batch call of implicit 0.7, which loops
  over the users in Python and ranks each with its C++ scorer;
- ``implicit, recsys similarity``: the same call after the model's similarity
  (and the scorer built from it) is replaced by recsys's ``similarity_`` in
  float64, so that both libraries rank from the same neighbour lists.

Every method runs ``--repeats`` times (at least 3). The tables show the fastest and
the median wall time, the least CPU time (all threads of the process), users per
second at the fastest time, and how many times faster the recsys file path is than
each row. A check compares the item lists
of ``recsys kernel`` with those of ``implicit, recsys similarity``; lists can
differ where scores tie or differ in the last bits, since implicit sums in
another order.

Sizes: ``retail`` is the bundled Online Retail data (``load_online_retail`` with the
default event weights). ``S`` and ``L`` are synthetic (``benchmarks/synthetic.py``,
50k x 10k x 1M and 500k x 50k x 10M); their timings are not results on real data.

Example::

    python benchmarks/batch_speed.py --sizes retail S L --repeats 3
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for ``benchmarks.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import DEFAULT_SEED, SIZES, generate_user_items

logger = logging.getLogger("batch_speed")

N_RECOMMENDATIONS = 10
N_NEIGHBORS = 50
CHUNK_SIZE = 10_000


@dataclass
class Timing:
    """Wall and CPU times of one method on one size."""

    method: str
    seconds: list[float]
    cpu_seconds: list[float]
    n_users: int

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def users_per_second(self) -> float:
        return self.n_users / self.best


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for each size and print one table per size."""
    parser = argparse.ArgumentParser(description="Time batch recommendations of recsys and implicit.")
    parser.add_argument(
        "--sizes", nargs="+", default=["retail", "S"], choices=["retail", *SIZES], help="datasets to run"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method, >= 3 (default 3)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the synthetic sizes")
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be >= 3")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    # recsys logs one line per written file, which the tables already report.
    logging.getLogger("recsys").setLevel(logging.WARNING)

    for size in args.sizes:
        print(format_table(size, *measure_size(size, args.repeats, args.seed)))
        print()
    print(
        f"{os.cpu_count()} CPUs, {numba.get_num_threads()} numba threads "
        f"({numba.threading_layer()} threading layer), n={N_RECOMMENDATIONS}, "
        f"{N_NEIGHBORS} neighbours, {args.repeats} repeats"
    )
    return 0


def build_user_items(size: str, seed: int) -> tuple[Any, sp.csr_array]:
    """Return the recsys Interactions and the matrix of one size."""
    import recsys

    if size == "retail":
        from recsys.datasets import load_online_retail

        events, _ = load_online_retail()
        interactions = recsys.Interactions.from_events(events)
        return interactions, interactions.user_items
    shape = SIZES[size]
    user_items = generate_user_items(shape.n_users, shape.n_items, shape.n_interactions, seed=seed)
    # The Interactions constructor only stores fields, so the matrix is used as it is.
    interactions = recsys.Interactions(
        user_ids=recsys.IdMap(np.arange(shape.n_users), "user_id"),
        item_ids=recsys.IdMap(np.arange(shape.n_items), "item_id"),
        user_items=user_items,
        event_user_items={"purchase": user_items},
        event_weights={"purchase": 1.0},
    )
    return interactions, user_items


def measure_size(size: str, repeats: int, seed: int) -> tuple[list[Timing], dict[str, Any]]:
    """Fit both models on one size and time every method; return the timings and facts."""
    from implicit._nearest_neighbours import NearestNeighboursScorer
    from implicit.nearest_neighbours import CosineRecommender

    import recsys

    started = time.perf_counter()
    interactions, user_items = build_user_items(size, seed)
    n_users, n_items = user_items.shape
    logger.info(
        "%s: built %s x %s, %s cells in %.1f s", size, n_users, n_items, user_items.nnz, _since(started)
    )

    started = time.perf_counter()
    model = recsys.ItemKNN(similarity="cosine", n_neighbors=N_NEIGHBORS).fit(interactions)
    recsys_fit = _since(started)
    matrix = sp.csr_matrix(user_items)
    started = time.perf_counter()
    own = CosineRecommender(K=N_NEIGHBORS)
    own.fit(matrix, show_progress=False)
    implicit_fit = _since(started)
    shared = CosineRecommender(K=N_NEIGHBORS)
    shared.similarity = sp.csr_matrix(model.similarity_, dtype=np.float64)
    # recommend() ranks with the scorer, which fit() builds from the similarity.
    shared.scorer = NearestNeighboursScorer(shared.similarity)
    logger.info("%s: fitted recsys in %.1f s and implicit in %.1f s", size, recsys_fit, implicit_fit)

    user_ids = np.arange(n_users)
    timings = []
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "recommendations.parquet"
        model.write_recommendations(path, [0, 1], N_RECOMMENDATIONS)  # compiles or loads the kernel
        timings.append(
            _time(
                "recsys file",
                n_users,
                repeats,
                lambda: model.write_recommendations(path, n=N_RECOMMENDATIONS),
            )
        )
        file_size = path.stat().st_size
    timings.append(_time("recsys kernel", n_users, repeats, lambda: rank_in_memory(model)))
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        timings.append(_time("recsys kernel, 1 thread", n_users, repeats, lambda: rank_in_memory(model)))
    finally:
        numba.set_num_threads(threads)
    for name, implicit_model in (("implicit", own), ("implicit, recsys similarity", shared)):

        def recommend_all(implicit_model: CosineRecommender = implicit_model) -> Any:
            return implicit_model.recommend(
                user_ids, matrix[user_ids], N=N_RECOMMENDATIONS, filter_already_liked_items=True
            )

        timings.append(_time(name, n_users, repeats, recommend_all))

    ours = rank_in_memory(model)
    theirs, _ = shared.recommend(
        user_ids, matrix[user_ids], N=N_RECOMMENDATIONS, filter_already_liked_items=True
    )
    facts = {
        "size": size,
        "n_users": n_users,
        "n_items": n_items,
        "nnz": user_items.nnz,
        "recsys_fit_s": recsys_fit,
        "implicit_fit_s": implicit_fit,
        "file_mb": file_size / 1e6,
        "same_lists": float(np.mean(np.all(ours == theirs, axis=1))),
    }
    return timings, facts


def rank_in_memory(model: Any) -> np.ndarray:
    """Rank every user with the batch kernel, without Arrow or Parquet.

    Returns the item positions as a (users, n) array padded with -1, the layout
    implicit's batch ``recommend`` returns.
    """
    # Private names: this is the in-memory step of write_recommendations, timed alone.
    from recsys.batch import _ItemKNNRanker, _Request

    request = _Request(
        n=N_RECOMMENDATIONS, seen_mask=None, exclude_seen=True, exclude=None, allow=None, backfill=False
    )
    n_users, n_items = model.user_items_.shape
    ranker = _ItemKNNRanker(model, request, np.zeros(n_items, dtype=bool))
    ranked = np.full((n_users, N_RECOMMENDATIONS), -1, dtype=np.int64)
    for start in range(0, n_users, CHUNK_SIZE):
        positions = np.arange(start, min(start + CHUNK_SIZE, n_users))
        counts, items, *_ = ranker._rank(positions)
        rows = np.repeat(positions, counts)
        columns = np.arange(len(items)) - np.repeat(np.cumsum(counts) - counts, counts)
        ranked[rows, columns] = items
    return ranked


def format_table(size: str, timings: list[Timing], facts: dict[str, Any]) -> str:
    """Return a Markdown table of the timings of one size, headed by its facts."""
    reference = next(timing for timing in timings if timing.method == "recsys file")
    lines = [
        f"### {size}: {facts['n_users']:,} users x {facts['n_items']:,} items, {facts['nnz']:,} cells",
        "",
        f"Fit: recsys {facts['recsys_fit_s']:.1f} s, implicit {facts['implicit_fit_s']:.1f} s. "
        f"Parquet file {facts['file_mb']:.1f} MB. Same top-{N_RECOMMENDATIONS} list as implicit "
        f"with recsys similarity: {100 * facts['same_lists']:.2f} % of users.",
        "",
        "| method | min s | median s | CPU s (min) | users/s | recsys file speed-up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for timing in timings:
        ratio = reference.users_per_second / timing.users_per_second
        lines.append(
            f"| {timing.method} | {timing.best:.3f} | {timing.median:.3f} | {min(timing.cpu_seconds):.3f} | "
            f"{timing.users_per_second:,.0f} | {ratio:.2f}x |"
        )
    return "\n".join(lines)


def _time(method: str, n_users: int, repeats: int, run: Callable[[], Any]) -> Timing:
    seconds = []
    cpu_seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        cpu_started = time.process_time()
        run()
        seconds.append(_since(started))
        cpu_seconds.append(time.process_time() - cpu_started)
    logger.info("%s: %s", method, ", ".join(f"{value:.3f} s" for value in seconds))
    return Timing(method, seconds, cpu_seconds, n_users)


def _since(started: float) -> float:
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
