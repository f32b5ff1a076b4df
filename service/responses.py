"""Conversion of recsys results into response bodies."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from recsys import Recommendations, Recommender
from service.schemas import RecommendedItem

__all__ = ["json_metadata", "recommended_items"]


def recommended_items(model: Recommender, result: Recommendations) -> list[RecommendedItem]:
    """Build the response items of ``result``, each with the model's metadata for it."""
    metadata = model.get_item_metadata(result.item_ids)
    return [
        RecommendedItem(
            item_id=item.item_id,
            score=item.score,
            reason=item.reason,
            because=list(item.because),
            metadata=json_metadata(attributes),
        )
        for item, attributes in zip(result.items, metadata, strict=True)
    ]


def json_metadata(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Return the attributes as JSON values, leaving out missing ones.

    ``get_item_metadata`` leaves out None. Other missing values (NaN, NA, NaT)
    and infinite floats can still occur in a metadata column, for example when
    pandas 3 infers its str dtype, which marks a missing value with NaN. JSON
    cannot encode them, so they are left out too, and NumPy scalars become
    Python values.
    """
    cleaned: dict[str, Any] = {}
    for name, value in attributes.items():
        if isinstance(value, np.generic):
            value = value.item()
        if pd.api.types.is_scalar(value) and pd.isna(value):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        cleaned[name] = value
    return cleaned
