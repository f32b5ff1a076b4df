"""Churn between two fitted models: how much the neighbour lists of popular items moved.

After a refit, a :meth:`~recsys.models.item_knn.ItemKNN.partial_fit` or a parameter
change, :func:`compare_models` takes the most popular items of the old model and
compares their top-``n`` similar items in the old and the new model:

- the Jaccard index of the two lists, ``|A and B| / |A or B|`` (shared items over all items of both lists) (1 when both are empty);
- overlap@n, ``|A and B| / n``;
- whether the top-1 neighbour changed;
- which of those items the new model no longer has, and how many items each model
  has that the other lacks.

``recsys diff OLD NEW`` prints the same report for two model directories.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys._ids import Id
from recsys.exceptions import DataValidationError
from recsys.models.base import Recommender

__all__ = ["ModelDiff", "compare_models"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelDiff:
    """Churn of the neighbour lists of the old model's most popular items.

    Attributes
    ----------
    n : int
        Length of the compared lists.
    items : DataFrame
        One row per compared item, most popular first: ``item_id``, ``jaccard``,
        ``overlap`` (``|A and B| / n``), ``top1_old``, ``top1_new`` (None for an empty
        list) and ``in_new`` (False when the new model lacks the item).
    missing_items : list of ids
        Compared items the new model does not have.
    n_items_added, n_items_removed : int
        Items only the new, or only the old, model has (whole catalogue).
    old_version, new_version : str
        Content versions of the two models.
    unrelated_reason : str or None
        Why the two models look unrelated: their item ids are of different types
        (int and str), so no neighbour list can match, or they have no item in
        common. None when they share items of one type.
    """

    n: int
    items: pd.DataFrame
    missing_items: list[Id] = field(default_factory=list)
    n_items_added: int = 0
    n_items_removed: int = 0
    old_version: str = ""
    new_version: str = ""
    unrelated_reason: str | None = None

    @property
    def mean_jaccard(self) -> float:
        """Mean Jaccard index over the compared items, or NaN when none were compared."""
        return float(self.items["jaccard"].mean()) if len(self.items) else math.nan

    @property
    def min_jaccard(self) -> float:
        """Smallest Jaccard index over the compared items, or NaN when none were compared."""
        return float(self.items["jaccard"].min()) if len(self.items) else math.nan

    @property
    def mean_overlap(self) -> float:
        """Mean overlap@n over the compared items, or NaN when none were compared."""
        return float(self.items["overlap"].mean()) if len(self.items) else math.nan

    @property
    def top1_changed_share(self) -> float:
        """Share of compared items whose first neighbour differs, or NaN when none were compared."""
        if not len(self.items):
            return math.nan
        changed = [
            _none_if_missing(old) != _none_if_missing(new)
            for old, new in zip(self.items["top1_old"], self.items["top1_new"], strict=True)
        ]
        return float(np.mean(changed))

    def summary(self) -> dict[str, Any]:
        """Return the headline numbers as a JSON-friendly dict."""
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "n": self.n,
            "items_compared": len(self.items),
            "mean_jaccard": _json_float(self.mean_jaccard),
            "min_jaccard": _json_float(self.min_jaccard),
            f"mean_overlap@{self.n}": _json_float(self.mean_overlap),
            "top1_changed_share": _json_float(self.top1_changed_share),
            "items_missing_in_new": len(self.missing_items),
            "items_added": self.n_items_added,
            "items_removed": self.n_items_removed,
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the summary, the unrelated-models warning, the missing items and the per-item rows."""
        rows = self.items.astype(object).where(self.items.notna(), None).to_dict(orient="records")
        return {
            "summary": self.summary(),
            "warning": self.unrelated_reason,
            "missing_items": list(self.missing_items),
            "items": rows,
        }

    def format_table(self, worst: int = 10) -> str:
        """Format the summary, then the ``worst`` items with the lowest Jaccard index."""
        width = max(len(name) for name in self.summary())
        lines = [f"{name:<{width}}  {_cell(value)}" for name, value in self.summary().items()]
        if self.unrelated_reason is not None:
            lines = [f"warning: {self.unrelated_reason}", "", *lines]
        if len(self.items) and worst > 0:
            lowest = self.items.sort_values("jaccard", kind="stable").head(worst)
            lines += ["", f"lowest Jaccard of the {len(self.items)} compared items:"]
            lines.append(lowest.to_string(index=False))
        if self.missing_items:
            lines += ["", f"compared items missing in the new model: {self.missing_items}"]
        return "\n".join(lines)


def compare_models(old: Recommender, new: Recommender, *, top_items: int = 100, n: int = 10) -> ModelDiff:
    """Compare the top-``n`` similar items of the old model's most popular items.

    Parameters
    ----------
    old, new : Recommender
        Fitted models; any class with ``similar_items``.
    top_items : int, default 100
        How many of the old model's most popular items to compare, >= 1. Fewer
        are compared when fewer items have a popularity > 0.
    n : int, default 10
        Length of the compared lists, >= 1.

    Returns
    -------
    ModelDiff

    Raises
    ------
    DataValidationError
        If ``top_items`` or ``n`` is not an int >= 1.
    NotFittedError
        If either model is not fitted.
    """
    for name, value in (("top_items", top_items), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise DataValidationError(f"{name} must be an int >= 1; got {value!r}")
    old._check_fitted()
    new._check_fitted()

    compared = old.item_ids_.ids_of(old._popular_order[:top_items])
    rows = []
    missing: list[Id] = []
    for item_id in compared:
        before = old.similar_items(item_id, n).item_ids
        in_new = new.item_ids_.index_of(item_id) >= 0
        after = new.similar_items(item_id, n).item_ids if in_new else []
        if not in_new:
            missing.append(item_id)
        shared = len(set(before) & set(after))
        union = len(set(before) | set(after))
        rows.append(
            {
                "item_id": item_id,
                "jaccard": shared / union if union else 1.0,
                "overlap": shared / n,
                "top1_old": before[0] if before else None,
                "top1_new": after[0] if after else None,
                "in_new": in_new,
            }
        )
    columns = ["item_id", "jaccard", "overlap", "top1_old", "top1_new", "in_new"]
    # Object columns keep None for an empty list, which pandas would turn into NaN.
    items = pd.DataFrame(
        {
            column: pd.Series(
                [row[column] for row in rows],
                dtype=object if column in ("item_id", "top1_old", "top1_new") else None,
            )
            for column in columns
        }
    )

    old_ids, new_ids = old.item_ids_, new.item_ids_
    comparable = old_ids.kind == new_ids.kind
    added = int((old_ids.indices_of(new_ids.ids.tolist()) < 0).sum()) if comparable else len(new_ids)
    removed = int((new_ids.indices_of(old_ids.ids.tolist()) < 0).sum()) if comparable else len(old_ids)
    unrelated_reason = None
    if not comparable:
        unrelated_reason = (
            f"the old model's item ids are {old_ids.kind} and the new model's are {new_ids.kind}, so ids "
            f"such as 2 and '2' count as different items and the models look unrelated; compare models "
            f"whose item ids were read the same way"
        )
    elif removed == len(old_ids):
        unrelated_reason = (
            f"the models share none of their items (old {len(old_ids):,}, new {len(new_ids):,}), so they "
            f"look unrelated; compare models trained on the same catalogue"
        )
    if unrelated_reason is not None:
        logger.warning("comparing model %s with %s: %s", old.version_, new.version_, unrelated_reason)
    return ModelDiff(
        n=int(n),
        items=items,
        missing_items=missing,
        n_items_added=added,
        n_items_removed=removed,
        old_version=old.version_,
        new_version=new.version_,
        unrelated_reason=unrelated_reason,
    )


def _none_if_missing(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
