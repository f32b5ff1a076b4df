"""Purchase-prediction accuracy from browse and purchase events, on synthetic data.

The data comes from :func:`recsys.synthetic.make_browse_purchase`: seeded, with
a known ground truth. It is not real shop data, and no number here is a result
on real data.

Protocol:

1. Draw the events (sizes in ``SIZES``), then ``temporal_split(events, "14D",
   exclude_train_items=["purchase"])``: train on everything before the last 14
   days, test on the purchases in those days of items the user had not bought
   before. An item the user only viewed may be a target, because buying what one
   browsed is the signal under test.
2. Every model recommends with ``exclude_seen=["purchase"]``, matching the split.
3. The models: ItemKNN on purchases alone, ItemKNN on all events with the default
   weights, ItemKNN with weights learned by
   :func:`recsys.evaluation.tune_event_weights` on the last 14 days of the
   *training* events, CrossOccurrence with its defaults, and implicit's ALS on
   purchases alone as the reference.
4. :func:`recsys.evaluation.compare` scores them all on the same split: nDCG@10
   and recall@20 with seeded 95 % bootstrap intervals over the test users.

The OTTO sample (20 real sessions) runs CrossOccurrence and ItemKNN once as a
smoke test; it has a handful of test purchases and ranks nothing.

Run ``python benchmarks/browse_accuracy.py``; it prints the table, writes
``benchmarks/results/browse_accuracy.json`` and renders its section of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import recsys  # noqa: E402
from recsys.datasets import load_otto  # noqa: E402
from recsys.evaluation import compare, temporal_split, tune_event_weights  # noqa: E402
from recsys.synthetic import make_browse_purchase  # noqa: E402

BEGIN = "<!-- BEGIN browse_accuracy.py output -->"
END = "<!-- END browse_accuracy.py output -->"
SEED = 2026
SIZES = {"n_users": 20_000, "n_items": 2_000, "n_clusters": 20, "days": 60.0}
TEST_PERIOD = "14D"
METRICS = (("ndcg", 10), ("recall", 20))
PURCHASES_ONLY = {"view": 0.0, "cart": 0.0, "purchase": 1.0}
EXCLUDE = ["purchase"]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON and the docs section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-json", type=Path, default=REPO / "benchmarks" / "results" / "browse_accuracy.json"
    )
    parser.add_argument("--out-md", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    started = time.perf_counter()
    data = make_browse_purchase(**SIZES, seed=SEED)  # type: ignore[arg-type]
    split = temporal_split(data.events, TEST_PERIOD, exclude_train_items=EXCLUDE)
    print(split)

    tuning = tune_event_weights(split.train, validation=TEST_PERIOD, n_bootstrap=200, seed=SEED)
    print(tuning)
    models: dict[str, recsys.Recommender] = {
        "ItemKNN, purchases only": recsys.ItemKNN(event_weights=PURCHASES_ONLY),
        "ItemKNN, all events, default weights": recsys.ItemKNN(),
        "ItemKNN, all events, learned weights": recsys.ItemKNN(event_weights=tuning.best_weights),
        "CrossOccurrence": recsys.CrossOccurrence(),
        "implicit ALS, purchases only (reference)": recsys.ImplicitALS(event_weights=PURCHASES_ONLY),
    }
    comparison = compare(
        models,
        split,
        ks=sorted({k for _, k in METRICS}),
        n_bootstrap=args.bootstrap,
        seed=SEED,
        exclude_seen=EXCLUDE,
    )
    rows = _rows("synthetic browse+purchase", comparison.table, models)
    otto_rows, otto_note = _smoke_test_otto()
    seconds = time.perf_counter() - started

    table = _table(rows)
    print(table.to_string(index=False))
    print(otto_note)
    meta = _meta(data, split, tuning, seconds, args, otto_note)
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(
        json.dumps({"meta": meta, "rows": rows + otto_rows}, indent=1, default=str) + "\n", encoding="utf-8"
    )
    _render(args.out_md, table, tuning, meta)
    return 0


def _rows(dataset: str, table: pd.DataFrame, models: dict[str, recsys.Recommender]) -> list[dict[str, Any]]:
    wanted = pd.Series(False, index=table.index)
    for metric, k in METRICS:
        wanted |= (table["metric"] == metric) & (table["k"] == k)
    return [
        {
            "dataset": dataset,
            "model": row.model,
            "params": models[row.model].get_params() if row.model in models else {},
            "metric": row.metric,
            "k": int(row.k),
            "value": float(row.value),
            "ci_low": float(row.ci_low),
            "ci_high": float(row.ci_high),
        }
        for row in table[wanted].itertuples(index=False)
    ]


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["cell"] = [
        f"{row['value']:.4f} [{row['ci_low']:.4f}, {row['ci_high']:.4f}]" for row in frame.to_dict("records")
    ]
    frame["column"] = frame["metric"] + "@" + frame["k"].astype(str)
    wide = frame.pivot(index="model", columns="column", values="cell")
    wide = wide.reindex(index=list(dict.fromkeys(frame["model"])), columns=[f"{m}@{k}" for m, k in METRICS])
    return wide.reset_index()


def _smoke_test_otto() -> tuple[list[dict[str, Any]], str]:
    """Fit and score on the 20 OTTO sessions, only to show the models run on real events."""
    events = load_otto(REPO / "tests" / "data" / "otto-sample" / "otto_train_20sessions.jsonl.gz")
    split = temporal_split(events, "21D", exclude_train_items=EXCLUDE)
    models: dict[str, recsys.Recommender] = {
        "CrossOccurrence": recsys.CrossOccurrence(),
        "ItemKNN, all events, default weights": recsys.ItemKNN(),
    }
    comparison = compare(models, split, ks=[10, 20], n_bootstrap=200, seed=SEED, exclude_seen=EXCLUDE)
    rows = _rows("OTTO sample, 20 sessions (smoke test)", comparison.table, models)
    values = ", ".join(f"{row['model']} {row['metric']}@{row['k']}={row['value']:.3f}" for row in rows)
    note = (
        f"OTTO sample smoke test: {split.report.n_test_users} test user(s) with "
        f"{split.report.n_test_pairs} purchase pair(s) after a 21-day cutoff; {values}. "
        f"With so few pairs these values rank nothing; they only show that both models fit and "
        f"recommend on real clicks, carts and orders."
    )
    return rows, note


def _meta(
    data: Any, split: Any, tuning: Any, seconds: float, args: argparse.Namespace, otto_note: str
) -> dict[str, Any]:
    import implicit
    import numpy
    import scipy

    counts = data.events["event"].value_counts()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(seconds, 1),
        "command": "python benchmarks/browse_accuracy.py",
        "data": (
            f"synthetic (recsys.synthetic.make_browse_purchase, seed {SEED}, "
            + ", ".join(f"{name}={value}" for name, value in SIZES.items())
            + f"): {counts['view']:,} views, {counts['cart']:,} carts, {counts['purchase']:,} purchases"
        ),
        "split": f'temporal_split(events, "{TEST_PERIOD}", exclude_train_items=["purchase"])',
        "test_users": split.report.n_test_users,
        "test_pairs": split.report.n_test_pairs,
        "bootstrap": args.bootstrap,
        "learned_weights": tuning.best_weights,
        "effects": tuning.effects.to_dict("records"),
        "otto": otto_note,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "versions": {
            "recsys": recsys.__version__,
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "pandas": pd.__version__,
            "implicit": implicit.__version__,
        },
    }


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def _render(path: Path, table: pd.DataFrame, tuning: Any, meta: dict[str, Any]) -> None:
    effects = "".join(
        f"| {row['event']} | {row['weight']:g} | {row['with']:.4f} | {row['without']:.4f} | "
        f"{row['difference']:+.4f} [{row['difference_ci_low']:+.4f}, {row['difference_ci_high']:+.4f}] | "
        f"{row['verdict']} |\n"
        for row in tuning.effects.to_dict("records")
    )
    weights = ", ".join(f"{event}={weight:g}" for event, weight in meta["learned_weights"].items())
    section = (
        f"{BEGIN}\n\n"
        f"Run of {meta['date']} ({meta['seconds']} s), `{meta['command']}`. **Synthetic data**: "
        f"{meta['data']}.\n"
        f"Split: `{meta['split']}`; {meta['test_users']:,} test users, {meta['test_pairs']:,} test pairs.\n"
        f"Machine: {meta['machine']}. Versions: "
        + ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
        + f". 95% bootstrap intervals ({meta['bootstrap']} resamples over test users).\n\n"
        + _markdown(table)
        + f"\n\nLearned weights ({tuning.metric}@{tuning.k} on the last 14 days of the training events): "
        f"{weights}. Effect of each event type there, other weights at their best "
        f"(paired bootstrap interval of the difference):\n\n"
        f"| event | weight | with | without | difference [95% interval] | verdict |\n"
        f"|---|---|---|---|---|---|\n{effects}\n"
        f"{meta['otto']}\n\n{END}"
    )
    text = path.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
