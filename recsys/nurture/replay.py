"""Scoring a campaign replay: the share of leads who bought a sent item within a window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from recsys._ids import Id
from recsys.exceptions import DataValidationError
from recsys.nurture._frames import id_key, to_utc

__all__ = ["bootstrap_interval", "send_hits"]


def send_hits(
    sent: Mapping[Id, Sequence[Id]],
    purchases: pd.DataFrame,
    start: object,
    days: float,
) -> np.ndarray:
    """Return, per lead of ``sent`` (in its order), 1.0 if the lead bought a sent item in the window.

    Parameters
    ----------
    sent : mapping of lead id to item ids
    purchases : DataFrame
        Columns ``user_id``, ``item_id``, ``timestamp``.
    start : time
        The send time; the window is ``(start, start + days]``.
    days : float
        Window length.

    Returns
    -------
    ndarray of float64
    """
    missing = [column for column in ("user_id", "item_id", "timestamp") if column not in purchases.columns]
    if missing:
        raise DataValidationError(f"purchases are missing the column(s) {missing}")
    begin = to_utc(start, "start")
    end = begin + pd.Timedelta(days=days)
    stamps = pd.to_datetime(purchases["timestamp"], utc=True)
    window = purchases[(stamps > begin) & (stamps <= end)]
    bought: dict[str, set[str]] = {}
    for user, item in zip(window["user_id"].tolist(), window["item_id"].tolist(), strict=True):
        bought.setdefault(id_key(user), set()).add(id_key(item))
    hits = [
        1.0 if bought.get(id_key(lead), set()).intersection(id_key(item) for item in items) else 0.0
        for lead, items in sent.items()
    ]
    return np.asarray(hits, dtype=np.float64)


def bootstrap_interval(
    values: np.ndarray, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Return the percentile bootstrap interval of the mean of ``values`` (NaN, NaN when empty)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0 or n_bootstrap == 0:
        return float("nan"), float("nan")
    generator = np.random.default_rng(seed)
    means = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, 100):
        size = min(100, n_bootstrap - start)
        drawn = generator.integers(0, len(values), size=(size, len(values)))
        means[start : start + size] = values[drawn].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)
