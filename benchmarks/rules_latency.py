"""Request latency with catalogue rules on the bundled Online Retail data.

Fits ``ItemKNN()`` (defaults) on ``load_online_retail()``, attaches a seeded
synthetic catalogue (a category out of 20, a price, ``in_stock``, an
``available_until`` for one item in ten), and times single requests in one
thread: ``similar_items`` and ``recommend`` for known users, each without rules,
with a repeated rule set (compiled once, then cached), and with ``min_support``.
Prints the median and the 95th percentile per request in microseconds.

Run: ``python -m benchmarks.rules_latency [--requests 2000]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from recsys import ItemKNN, Rules
from recsys.datasets import load_online_retail


def _timed(call: Callable[[int], object], count: int) -> tuple[float, float]:
    durations = np.empty(count)
    for index in range(count):
        started = time.perf_counter()
        call(index)
        durations[index] = time.perf_counter() - started
    return float(np.median(durations) * 1e6), float(np.percentile(durations, 95) * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests timed per case")
    args = parser.parse_args()

    events, _ = load_online_retail()
    model = ItemKNN().fit(events)
    generator = np.random.default_rng(0)
    n_items = len(model.item_ids_)
    catalog = pd.DataFrame(
        {
            "item_id": model.item_ids_.ids_of(np.arange(n_items)),
            "category": [f"c{value}" for value in generator.integers(0, 20, n_items)],
            "price": np.round(generator.uniform(0.5, 50.0, n_items), 2),
            "in_stock": generator.random(n_items) < 0.9,
            "available_until": np.where(generator.random(n_items) < 0.1, "2000-01-01", None),
        }
    )
    model.set_catalog(catalog)
    items = model.item_ids_.ids_of(generator.integers(0, n_items, args.requests))
    users = model.user_ids_.ids_of(generator.integers(0, len(model.user_ids_), args.requests))
    rules = Rules(
        include={"in_stock": True, "price": "..30"},
        exclude={"category": "c3"},
        boost=[({"category": "c1"}, 1.5)],
        max_per_category=2,
    )
    cases: dict[str, Callable[[int], object]] = {
        "similar_items, no rules": lambda i: model.similar_items(items[i], 10),
        "similar_items, rules": lambda i: model.similar_items(items[i], 10, rules=rules),
        "similar_items, rules + min_support=2": lambda i: model.similar_items(
            items[i], 10, rules=rules, min_support=2
        ),
        "recommend, no rules": lambda i: model.recommend(users[i], 10),
        "recommend, rules + backfill": lambda i: model.recommend(users[i], 10, rules=rules, backfill=True),
        "recommend, rules + min_support=2": lambda i: model.recommend(
            users[i], 10, rules=rules, min_support=2
        ),
    }
    print(f"{n_items:,} items, {len(model.user_ids_):,} users, {args.requests:,} requests per case")
    for name, call in cases.items():
        call(0)  # compile the rule set and the min_support table outside the timing
        median, p95 = _timed(call, args.requests)
        print(f"{name:40s} median {median:8.1f} us   p95 {p95:8.1f} us")


if __name__ == "__main__":
    main()
