"""Popularity baseline, the same list for everyone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recsys.data import Interactions
from recsys.models.base import Recommender
from recsys.results import Reason

__all__ = ["MostPopular"]


class MostPopular(Recommender):
    """Recommend the most popular items the user does not have yet.

    Popularity is an item's column sum of ``user_items`` (weighted events), ties
    going to the smaller id. It is the baseline every other model must beat and
    the fallback for unknown users.

    Every item it returns is marked ``reason="popular"``; ``similar_items`` lists
    the most popular other items. Because popularity is all this model ranks by,
    its lists are always filled with popular items, whatever ``backfill`` is; an
    empty basket gets the popular items too.

    Parameters
    ----------
    event_weights, half_life_days, count_repeats
        See :class:`~recsys.models.base.Recommender`.
    """

    def __init__(
        self,
        *,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        count_repeats: bool | None = None,
    ) -> None:
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.count_repeats = count_repeats

    def _fit_model(self, interactions: Interactions) -> None:
        """Use the shared popularity; there is nothing else to learn."""

    _neighbor_reason: Reason = "popular"

    def _rank(
        self,
        history: np.ndarray,
        weights: np.ndarray,
        excluded: np.ndarray,
        allow_idx: np.ndarray | None,
        n: int,
        backfill: bool,
        **options: Any,
    ) -> Any:
        # Popularity ignores the history, so every list is the backfill list.
        return super()._rank(history[:0], weights[:0], excluded, allow_idx, n, True, **options)

    def _score(self, history: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.zeros(len(self.item_ids_))

    def _neighbors(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        order = self._popular_order[self._popular_order != item]
        return order, self.popularity_[order]

    def _contributions(self, history: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return np.zeros((len(targets), len(history)))

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Nothing to restore beyond the shared state."""
