"""Conversion of recsys results into response bodies."""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Response
from pydantic import BaseModel

from recsys import Recommendations, Recommender
from service.schemas import RecommendedItem, Signal

__all__ = ["MAX_CACHED_ITEMS", "cached_item_metadata", "json_metadata", "json_response", "recommended_items"]


#: Maximum number of items whose metadata is cached per model. When a request would
#: pass it, the cache of that model starts again empty.
MAX_CACHED_ITEMS = 100_000


def recommended_items(model: Recommender, result: Recommendations) -> list[RecommendedItem]:
    """Build the response items of ``result``, each with the model's metadata for it.

    The items are built without validation, because every value comes from the
    fitted model: ids are int or str, scores are float and reasons are the
    schema's literals. The response model that contains them still validates its own
    fields.
    """
    metadata = cached_item_metadata(model, result.item_ids)
    return [
        RecommendedItem.model_construct(
            item_id=item.item_id,
            score=float(item.score),
            reason=item.reason,
            because=list(item.because),
            metadata=attributes,
            signals=_signals(item.signals) if item.signals else [],
        )
        for item, attributes in zip(result.items, metadata, strict=True)
    ]


def json_response(body: BaseModel) -> Response:
    """Render a response model as JSON, with the bytes and headers FastAPI gives a returned model.

    FastAPI validates a returned model against the route's ``response_model``
    once more before it serializes it with the same Pydantic serializer.
    A handler that returns this response skips that second validation. The
    route keeps its ``response_model`` for the OpenAPI schema.
    """
    return Response(body.__pydantic_serializer__.to_json(body, by_alias=True), media_type="application/json")


def _signals(signals: Sequence[tuple[str, Any]]) -> list[Signal]:
    return [Signal.model_construct(event=event, item_id=item_id) for event, item_id in signals]


@dataclass(slots=True)
class _MetadataCache:
    """The JSON metadata of a model's items, valid while the model keeps these id and metadata objects."""

    item_ids: object
    item_metadata: object
    by_item: dict[Any, dict[str, Any]]


# Keyed by the model object, so a reloaded model starts with an empty cache and the
# cache of a model that is no longer served is freed with it.
_metadata_caches: weakref.WeakKeyDictionary[Recommender, _MetadataCache] = weakref.WeakKeyDictionary()


def cached_item_metadata(model: Recommender, item_ids: Sequence[Any]) -> list[dict[str, Any]]:
    """Return ``json_metadata(model.get_item_metadata(item_ids))``, cached per model and item.

    ``get_item_metadata`` copies every metadata column, so its cost grows with the
    catalogue. The cache keeps the cleaned metadata of each item asked for. It is
    dropped when the model replaces its ``item_ids_`` or ``item_metadata_`` (as
    ``set_catalog``, ``partial_fit`` and ``forget_users`` do). The returned
    dicts are shared between requests, so callers must not change them.

    NOTE: a change made inside the metadata frame in place, without assigning a
    new frame, is not seen until the model is reloaded.
    """
    cache = _metadata_caches.get(model)
    if (
        cache is None
        or cache.item_ids is not model.item_ids_
        or cache.item_metadata is not model.item_metadata_
    ):
        cache = _MetadataCache(model.item_ids_, model.item_metadata_, {})
        _metadata_caches[model] = cache
    by_item = cache.by_item
    # Other threads can fill or clear by_item meanwhile, so this request keeps its own lookups.
    found: dict[Any, dict[str, Any]] = {}
    missing = []
    for item_id in item_ids:
        attributes = by_item.get(item_id)
        if attributes is None:
            missing.append(item_id)
        else:
            found[item_id] = attributes
    if missing:
        if len(by_item) + len(missing) > MAX_CACHED_ITEMS:
            by_item.clear()
        for item_id, attributes in zip(missing, model.get_item_metadata(missing), strict=True):
            cleaned = json_metadata(attributes)
            found[item_id] = cleaned
            by_item[item_id] = cleaned
    return [found[item_id] for item_id in item_ids]


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
