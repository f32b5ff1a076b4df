"""Accuracy of every model on Online Retail, on one temporal split, with bootstrap intervals.

Protocol:

1. ``temporal_split(events, "28D")``: train on purchases before the last 28 days,
   test on the purchases of new items in those 28 days (a re-purchase is not a hit).
2. Models with parameters to choose (recsys's ItemKNN, RP3Beta and EASE, and the
   ALS reference) are tuned with :func:`recsys.evaluation.tune` on the last 28 days
   of the *training* events, never on the test period; the winners are refitted on
   the whole training part.
3. Every model, tuned or with its defaults, is scored by
   :func:`recsys.evaluation.compare` on the same split: nDCG, recall, MAP and hit
   rate at 10 with seeded 95% bootstrap intervals over the test users.

The OTTO sample (20 sessions) runs as a smoke test only: it is far too small to
rank models.

Run ``python benchmarks/accuracy.py``; it prints the table, writes
``benchmarks/results/accuracy.json`` (a list of ``{dataset, model, params, metric,
k, value, ci_low, ci_high}`` plus a ``meta`` block) and renders the accuracy
section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import recsys  # noqa: E402
from recsys.datasets import load_online_retail, load_otto  # noqa: E402
from recsys.evaluation import compare, temporal_split, tune  # noqa: E402

METRICS = ("ndcg", "recall", "map", "hit_rate")
K = 10
BEGIN = "<!-- BEGIN accuracy.py output -->"
END = "<!-- END accuracy.py output -->"

# Candidate grids, scored on the validation period carved from the training events.
GRIDS: dict[str, tuple[Callable[..., recsys.Recommender], dict[str, list[Any]]]] = {
    "ItemKNN, tuned (count-based)": (
        recsys.ItemKNN,
        {"similarity": ["jaccard", "llr"], "n_neighbors": [20, 50, 100], "min_support": [1, 2]},
    ),
    "ItemKNN, tuned (weighted)": (
        recsys.ItemKNN,
        {"similarity": ["cosine"], "weighting": ["none", "iuf", "bm25"], "n_neighbors": [20, 50, 100]},
    ),
    "RP3Beta, tuned": (
        recsys.RP3Beta,
        {"alpha": [0.5, 1.0], "beta": [0.0, 0.3, 0.5], "n_neighbors": [50, 200]},
    ),
    "EASE, tuned": (recsys.EASE, {"l2": [500.0, 2500.0, 12500.0, 50000.0]}),
    "implicit ALS, tuned (reference)": (
        recsys.ImplicitALS,
        {"factors": [64, 128], "regularization": [0.01, 0.1], "iterations": [15]},
    ),
}

DEFAULTS: dict[str, Callable[[], recsys.Recommender]] = {
    "ItemKNN (default)": recsys.ItemKNN,
    "MostPopular": recsys.MostPopular,
    "implicit Cosine (reference)": recsys.ImplicitCosine,
    "implicit BM25 (reference)": recsys.ImplicitBM25,
    "implicit TFIDF (reference)": recsys.ImplicitTFIDF,
    "implicit ALS (reference)": recsys.ImplicitALS,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--out-json", type=Path, default=REPO / "benchmarks" / "results" / "accuracy.json")
    parser.add_argument("--out-md", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--no-tuning", action="store_true", help="skip the tuned models")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    started = time.perf_counter()
    events, _ = load_online_retail()
    split = temporal_split(events, "28D")
    models, params = _models(split, tuned=not args.no_tuning)
    comparison = compare(models, split, K, n_bootstrap=args.bootstrap, seed=0)
    rows = _rows("online-retail", comparison.table, params)
    _smoke_test_otto()
    seconds = time.perf_counter() - started

    table = _table(rows)
    print(table.to_string(index=False))
    meta = _meta(split, seconds, args)
    meta["paired"] = _paired_differences(comparison, rows)
    for line in meta["paired"]:
        print(line)
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=1, default=str) + "\n", encoding="utf-8"
    )
    _render(args.out_md, table, meta, split)
    return 0


def _models(split: Any, *, tuned: bool) -> tuple[dict[str, recsys.Recommender], dict[str, dict[str, Any]]]:
    models: dict[str, recsys.Recommender] = {name: factory() for name, factory in DEFAULTS.items()}
    params = {name: model.get_params() for name, model in models.items()}
    if not tuned:
        return models, params
    for name, (factory, grid) in GRIDS.items():
        result = tune(split.train, grid, model_factory=factory, validation="28D", n_bootstrap=0)
        logging.getLogger("accuracy").warning("%s: best %s", name, result.best_params)
        models[name] = factory(**result.best_params)
        params[name] = models[name].get_params()
    return models, params


def _rows(dataset: str, table: pd.DataFrame, params: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    chosen = table[table["metric"].isin(METRICS) & (table["k"] == K)]
    return [
        {
            "dataset": dataset,
            "model": row.model,
            "params": params[row.model],
            "metric": row.metric,
            "k": int(row.k),
            "value": float(row.value),
            "ci_low": float(row.ci_low),
            "ci_high": float(row.ci_high),
        }
        for row in chosen.itertuples()
    ]


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    cells = frame.assign(
        cell=[
            f"{v:.4f} [{lo:.4f}, {hi:.4f}]"
            for v, lo, hi in zip(frame.value, frame.ci_low, frame.ci_high, strict=True)
        ]
    )
    wide = cells.pivot(index="model", columns="metric", values="cell")[list(METRICS)]
    order = frame[frame["metric"] == "ndcg"].sort_values("value", ascending=False)["model"]
    wide = wide.loc[order].reset_index()
    wide.columns = ["model", *[f"{metric}@{K}" for metric in METRICS]]
    return wide


def _paired_differences(comparison: Any, rows: list[dict[str, Any]], n_resamples: int = 2000) -> list[str]:
    """Bootstrap the nDCG difference between the two best models on the same resampled users.

    Separate intervals overlap more easily than the interval of a difference: the
    users who are hard for one model are mostly hard for the other too.
    """
    import numpy as np

    ndcg = sorted((row for row in rows if row["metric"] == "ndcg"), key=lambda row: -row["value"])
    lines = []
    best = ndcg[0]["model"]
    for other in (row["model"] for row in ndcg[1:3]):
        first = comparison.evaluations[best].per_user.set_index("user_id")[f"ndcg@{K}"]
        second = comparison.evaluations[other].per_user.set_index("user_id")[f"ndcg@{K}"]
        difference = (first - second).dropna().to_numpy()
        rng = np.random.default_rng(0)
        means = difference[rng.integers(0, len(difference), size=(n_resamples, len(difference)))].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        lines.append(
            f"paired nDCG@{K} difference, {best} minus {other}: {difference.mean():+.4f} "
            f"[{low:+.4f}, {high:+.4f}] over {len(difference):,} users"
        )
    return lines


def _smoke_test_otto() -> None:
    """Fit and score on the OTTO sample; too small to rank models, so nothing is reported."""
    otto = load_otto(REPO / "tests" / "data" / "otto-sample" / "otto_train_20sessions.jsonl.gz")
    model = recsys.ItemKNN().fit(otto)
    session = otto["user_id"].iloc[0]
    assert len(model.recommend(session, 5, exclude_seen=["purchase"])) > 0


def _meta(split: Any, seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    import implicit
    import numpy

    report = split.report
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/accuracy.py" + (" --no-tuning" if args.no_tuning else ""),
        "data": "UCI Online Retail, data/online-retail/online_retail.csv.gz "
        "(sha256 737745256ddb4410bfe4e29f2dcb72329b7486e584837f1e84f9a07416cf7d45)",
        "split": repr(split),
        "test_users": int(split.test["user_id"].nunique()),
        "test_pairs": len(split.test),
        "report": str(report),
        "bootstrap": args.bootstrap,
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
        "versions": {
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "pandas": pd.__version__,
            "implicit": implicit.__version__,
            "recsys": recsys.__version__,
        },
        "seconds": round(seconds, 1),
    }


def _render(path: Path, table: pd.DataFrame, meta: dict[str, Any], split: Any) -> None:
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    body = "".join(
        "| " + " | ".join(str(cell) for cell in row) + " |\n" for row in table.itertuples(index=False)
    )
    section = (
        f"{BEGIN}\n\n"
        f"Run of {meta['date']} ({meta['seconds']} s), `{meta['command']}`. Data: {meta['data']}.\n"
        f"Split: {meta['split']}; {meta['test_users']:,} test users, {meta['test_pairs']:,} test pairs.\n"
        f"Machine: {meta['machine']}. Versions: "
        + ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
        + f". Values at k={K} with 95% bootstrap intervals ({meta['bootstrap']} resamples over test users).\n\n"
        + header
        + body
        + "\n"
        + "".join(f"- {line}\n" for line in meta["paired"])
        + f"\n{END}"
    )
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## Accuracy on Online Retail\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
