"""The engine end to end on the bundled Online Retail data (real purchases)."""

from __future__ import annotations

import numpy as np
import pytest

from recsys import Interactions, ItemKNN, load
from recsys.datasets import load_online_retail
from tests.conftest import ONLINE_RETAIL

pytestmark = pytest.mark.slow

# A frequent buyer and the most bought product of the data set.
CUSTOMER = 17850
POPULAR_ITEM = "85123A"


@pytest.fixture(scope="module")
def retail():
    events, items = load_online_retail(ONLINE_RETAIL)
    return events, Interactions.from_events(events, item_metadata=items)


@pytest.fixture(scope="module")
def model(retail):
    return ItemKNN().fit(retail[1])


def test_retail_similar_items_have_reasons(model):
    result = model.similar_items(POPULAR_ITEM, 10)

    assert len(result) == 10
    assert all(item.because == (POPULAR_ITEM,) for item in result)
    assert POPULAR_ITEM not in result.item_ids
    assert result.scores == sorted(result.scores, reverse=True)


def test_retail_similar_items_are_related(model):
    descriptions = [
        info["description"] for info in model.get_item_metadata(model.similar_items(POPULAR_ITEM, 5).item_ids)
    ]

    # The white hanging heart T-light holder is bought with other heart-themed decor.
    assert sum("HEART" in description for description in descriptions) >= 3


def test_retail_user_gets_unbought_items(model, retail):
    events = retail[0]
    bought = set(events.loc[events["user_id"] == CUSTOMER, "item_id"])

    result = model.recommend(CUSTOMER, 10)

    assert len(result) == 10
    assert result.known_user is True
    assert not bought & set(result.item_ids)
    assert all(set(item.because) <= bought for item in result)


def test_retail_save_load_same_answers(model, tmp_path):
    model.save(tmp_path / "retail")
    loaded = load(tmp_path / "retail")

    for user_id in (CUSTOMER, 12347, 18287):
        assert loaded.recommend(user_id, 20) == model.recommend(user_id, 20)
    assert loaded.similar_items(POPULAR_ITEM, 20) == model.similar_items(POPULAR_ITEM, 20)
    assert loaded.version_ == model.version_


def test_retail_every_similarity_fits(retail):
    interactions = retail[1]
    for similarity in ("cooccurrence", "jaccard", "lift", "conditional", "llr"):
        model = ItemKNN(similarity=similarity, n_neighbors=20, min_support=2).fit(interactions)
        data = model.similarity_.data
        assert np.isfinite(data).all(), similarity
        assert (data > 0).all(), similarity
        assert len(model.similar_items(POPULAR_ITEM, 5)) == 5, similarity
