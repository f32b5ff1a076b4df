"""Replay nurture campaigns on the bundled Online Retail purchases.

Protocol:

1. Round 1 at the cut-off (2011-09-01 UTC by default): fit on the purchases
   before it. Send every customer who bought before it three products they had
   not bought. Count a hit when the customer bought one of them in the
   following 30 days. Three campaigns go through the same
   :func:`recsys.nurture.run_round` code, so they share every exclusion:
   item-item (``ItemKNN`` defaults, popular backfill), popularity
   (``MostPopular``) and random (uniform over the items sold before the time).
   A fourth, item-item with an exposure cap, shows what the cap costs.
2. Rounds 2 and 3, 30 days apart: each goes to the customers of the previous
   round who bought anything after its send, with their next-best products
   (no item is sent twice within the 90-day cooldown). The models are refitted on
   the purchases before each round's time.

Hit rates have 95% percentile bootstrap intervals over customers (1000 resamples).

Run ``python benchmarks/nurture_replay.py`` (about 80 s on 2 cores). It prints
the table and writes ``benchmarks/results/nurture_replay.json`` (a list of rows
``{campaign, round, customers, hit_rate, ci_low, ci_high}`` plus a ``meta`` block).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import recsys  # noqa: E402
from recsys.data import Interactions  # noqa: E402
from recsys.datasets import load_online_retail  # noqa: E402
from recsys.models.base import Recommender  # noqa: E402
from recsys.nurture import Campaign, SendLedger, bootstrap_interval, run_round, send_hits  # noqa: E402

WINDOW_DAYS = 30
ITEMS = 3
N_BOOTSTRAP = 1000
OUT = REPO / "benchmarks" / "results" / "nurture_replay.json"


class RandomItems(Recommender):
    """Uniformly random picks through the shared request path, so the exclusions are the same."""

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state
        self.event_weights = None
        self.half_life_days = None
        self.count_repeats = None

    def _fit_model(self, interactions: Interactions) -> None:
        self._generator = np.random.default_rng(self.random_state)

    def _score(self, history: np.ndarray, weights: np.ndarray) -> np.ndarray:
        # Scores in [1, 2): every item has evidence, and the order is random.
        return 1.0 + self._generator.random(len(self.item_ids_))

    def _neighbors(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        return np.empty(0, dtype=np.int64), np.empty(0)

    def _contributions(self, history: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return np.zeros((len(targets), len(history)))

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        raise NotImplementedError("RandomItems is a benchmark baseline and is never saved")


CAMPAIGNS: dict[str, tuple[Any, dict[str, Any]]] = {
    "item-item": (recsys.ItemKNN, {}),
    "popularity": (recsys.MostPopular, {}),
    "random": (RandomItems, {}),
    "item-item, capped at 2% of customers per item": (recsys.ItemKNN, {"max_item_share": 0.02}),
}


def replay(
    events: pd.DataFrame, items: pd.DataFrame, cutoff: pd.Timestamp, rounds: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run every campaign for ``rounds`` rounds; return the result rows and the cap costs."""
    purchases = events[["user_id", "item_id", "event", "timestamp"]]
    customers = (
        purchases.loc[purchases["timestamp"] < cutoff, "user_id"].drop_duplicates().sort_values().tolist()
    )
    rows: list[dict[str, Any]] = []
    cap_rows: list[dict[str, Any]] = []
    for name, (factory, options) in CAMPAIGNS.items():
        campaign = Campaign(
            name,
            rounds=rounds,
            items_per_round=ITEMS,
            cooldown_days=90,
            exclude_seen=("purchase",),
            engagement_events=("purchase",),
            **options,
        )
        with SendLedger.in_memory() as ledger:
            for round_number in range(1, rounds + 1):
                now = cutoff + pd.Timedelta(days=WINDOW_DAYS * (round_number - 1))
                history = purchases[purchases["timestamp"] < now]
                model = factory().fit(Interactions.from_events(history, item_metadata=items))
                started = time.perf_counter()
                # The model already contains every purchase before `now`, so none joins as a recent event.
                result = run_round(
                    campaign, round_number, model, ledger, customers, purchases, now=now, recent_after=now
                )
                sent = {plan.lead_id: plan.item_ids for plan in result.plans if plan.items}
                hits = send_hits(sent, purchases, now, WINDOW_DAYS)
                low, high = bootstrap_interval(hits, N_BOOTSTRAP, seed=round_number)
                backfilled = sum(item.backfill for plan in result.plans for item in plan.items)
                n_items = sum(len(plan.items) for plan in result.plans)
                rows.append(
                    {
                        "campaign": name,
                        "round": round_number,
                        "customers": len(sent),
                        "hit_rate": float(hits.mean()) if len(hits) else float("nan"),
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
                cap_rows.append(
                    {
                        "campaign": name,
                        "round": round_number,
                        "backfilled_share": backfilled / n_items if n_items else 0.0,
                        "score_kept": result.caps.share_kept,
                        "items_at_cap": len(result.caps.items_at_cap),
                        "seconds": round(time.perf_counter() - started, 2),
                    }
                )
                logging.info("%s round %d: %s", name, round_number, rows[-1])
    return rows, cap_rows


def render(rows: list[dict[str, Any]], cap_rows: list[dict[str, Any]]) -> str:
    """Return the results as Markdown tables."""
    lines = ["| campaign | round | customers | hit rate (30 days) | 95% interval |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['campaign']} | {row['round']} | {row['customers']:,} | {row['hit_rate']:.4f} | "
            f"[{row['ci_low']:.4f}, {row['ci_high']:.4f}] |"
        )
    lines += [
        "",
        "| campaign | round | backfilled items | score kept under caps | items at cap |",
        "|---|---|---|---|---|",
    ]
    for row in cap_rows:
        lines.append(
            f"| {row['campaign']} | {row['round']} | {row['backfilled_share']:.1%} | "
            f"{row['score_kept']:.1%} | {row['items_at_cap']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the replay, print the tables and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutoff", default="2011-09-01", help="time of round 1, UTC (default 2011-09-01)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, 30 days apart (default 3)")
    parser.add_argument(
        "--out-json", type=Path, default=OUT, help=f"results file (default {OUT.relative_to(REPO)})"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    started = time.perf_counter()
    events, items = load_online_retail()
    cutoff = pd.Timestamp(args.cutoff, tz="UTC")
    rows, cap_rows = replay(events, items, cutoff, args.rounds)
    elapsed = time.perf_counter() - started

    print(render(rows, cap_rows))
    document = {
        "rows": rows,
        "caps": cap_rows,
        "meta": {
            "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(elapsed, 1),
            "command": "python benchmarks/nurture_replay.py" + (f" {' '.join(argv)}" if argv else ""),
            "cutoff": cutoff.isoformat(),
            "window_days": WINDOW_DAYS,
            "items_per_round": ITEMS,
            "n_bootstrap": N_BOOTSTRAP,
            "machine": f"{platform.machine()}, python {platform.python_version()}, recsys {recsys.__version__}",
        },
    }
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out_json} in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
