"""Response items built without validation, and the per-model cache of their metadata."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import recsys
import service.responses
from service.responses import cached_item_metadata, json_metadata, recommended_items
from service.schemas import RecommendedItem
from tests.service.sample_data import TOKYO_CUP, USER_1


def validated_items(model: recsys.Recommender, result: recsys.Recommendations) -> list[RecommendedItem]:
    """Build the items as the service did before it skipped validation."""
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


@pytest.fixture
def retail_model(retail_model_dir: Path) -> recsys.Recommender:
    return recsys.load(retail_model_dir)


def test_items_equal_validated_items(retail_model: recsys.Recommender) -> None:
    results = [
        retail_model.recommend(USER_1, 5, backfill=True),
        retail_model.recommend("nobody", 5),
        retail_model.similar_items(TOKYO_CUP, 5),
        retail_model.recommend_basket(["zzz", "mug"], 5, backfill=True),
    ]

    for result in results:
        built = recommended_items(retail_model, result)
        expected = validated_items(retail_model, result)
        assert [item.model_dump_json() for item in built] == [item.model_dump_json() for item in expected]
        # Twice, so the second call reads the cache.
        again = recommended_items(retail_model, result)
        assert [item.model_dump_json() for item in again] == [item.model_dump_json() for item in expected]


def test_cache_follows_new_catalog(retail_model: recsys.Recommender) -> None:
    before = cached_item_metadata(retail_model, ["mug", "tea"])
    catalog = pd.DataFrame({"item_id": ["mug", "tea"], "description": ["NEW MUG", "GREEN TEA"]})

    retail_model.set_catalog(catalog)
    after = cached_item_metadata(retail_model, ["mug", "tea"])

    assert before == [{"description": "WHITE HANGING HEART T-LIGHT HOLDER"}, {}]
    assert after == [{"description": "NEW MUG"}, {"description": "GREEN TEA"}]


def test_cache_per_model(retail_model_dir: Path) -> None:
    first = recsys.load(retail_model_dir)
    second = recsys.load(retail_model_dir)
    second.set_catalog(pd.DataFrame({"item_id": ["mug"], "description": ["SECOND MUG"]}))

    assert cached_item_metadata(first, ["mug"]) == [{"description": "WHITE HANGING HEART T-LIGHT HOLDER"}]
    assert cached_item_metadata(second, ["mug"]) == [{"description": "SECOND MUG"}]


def test_cache_keeps_order_and_unknown_ids(retail_model: recsys.Recommender) -> None:
    ids = [TOKYO_CUP, "unknown", "mug", TOKYO_CUP]

    assert cached_item_metadata(retail_model, ids) == retail_model.get_item_metadata(ids)
    assert cached_item_metadata(retail_model, ids) == retail_model.get_item_metadata(ids)


def test_cache_size_bounded(retail_model: recsys.Recommender, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service.responses, "MAX_CACHED_ITEMS", 2)

    cached_item_metadata(retail_model, ["mug", "tea"])
    result = cached_item_metadata(retail_model, [TOKYO_CUP])

    assert result == [{"description": "東京 TEA CUP"}]
    assert len(service.responses._metadata_caches[retail_model].by_item) == 1
