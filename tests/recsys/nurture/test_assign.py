"""Exposure caps over a whole round."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from recsys.exceptions import DataValidationError
from recsys.nurture import Campaign, assign_round, run_round
from recsys.results import Recommendation
from tests.recsys.nurture.conftest import START


def ranked(*pairs, reason="similar"):
    return [Recommendation(item, score, reason) for item, score in pairs]


def test_assign_without_caps_keeps_top_k():
    candidates = [ranked(("x", 3.0), ("y", 2.0), ("z", 1.0)), ranked(("x", 1.0), ("z", 0.5))]

    assignment, report = assign_round(candidates, 2)

    assert [[item.item_id for item in picks] for picks in assignment] == [["x", "y"], ["x", "z"]]
    assert report.share_kept == 1.0
    assert report.items_at_cap == ()


def test_assign_cap_prefers_keener_lead():
    # Lead 0 has the larger raw score for x, but x is only its second choice.
    candidates = [ranked(("w", 10.0), ("x", 5.0)), ranked(("x", 2.0), ("y", 1.0))]

    assignment, report = assign_round(candidates, 2, default_cap=1)

    assert [item.item_id for item in assignment[1]] == ["x", "y"]
    assert [item.item_id for item in assignment[0]] == ["w"]
    assert report.items_at_cap == ("x",)
    assert report.score_uncapped == pytest.approx(18.0)
    assert report.score_capped == pytest.approx(13.0)


def test_assign_counts_earlier_sends():
    candidates = [ranked(("x", 1.0), ("y", 0.5))]

    assignment, _ = assign_round(candidates, 1, item_caps={"x": 2}, used_items=Counter({"x": 2}))

    assert [item.item_id for item in assignment[0]] == ["y"]


def test_assign_category_quota():
    candidates = [ranked(("x", 1.0), ("y", 0.9), ("z", 0.1)) for _ in range(3)]
    categories = {"x": "ware", "y": "ware", "z": "food"}

    assignment, _ = assign_round(candidates, 2, item_categories=categories, category_caps={"ware": 3})

    sends = Counter(item.item_id for picks in assignment for item in picks)
    assert sends["x"] + sends["y"] == 3
    assert sends["z"] == 3


def test_assign_backfill_after_history():
    candidates = [ranked(("x", 1.0)) + ranked(("p", 50.0), reason="popular")]

    assignment, report = assign_round(candidates, 2)

    assert [item.item_id for item in assignment[0]] == ["x", "p"]
    assert report.score_capped == pytest.approx(1.0)


def test_round_honours_share_cap(model, ledger):
    campaign = Campaign("spring", items_per_round=2, max_item_share=0.4)
    leads = ["a", "b", "c", "d", "e", "n1", "n2", "n3", "n4", "n5"]

    result = run_round(campaign, 1, model, ledger, leads, now=START)

    sends = Counter(item for plan in result.plans for item in plan.item_ids)
    assert max(sends.values()) <= 4
    assert all(len(plan.items) == 2 for plan in result.plans)


def test_round_honours_stock_quota(model, ledger):
    campaign = Campaign("spring", items_per_round=3, item_quotas={"tray": 1, "milk": 0})

    result = run_round(campaign, 1, model, ledger, ["a", "b", "c", "n1", "n2"], now=START)

    sends = Counter(item for plan in result.plans for item in plan.item_ids)
    assert sends["tray"] <= 1
    assert sends["milk"] == 0


def test_round_category_quota_from_metadata(model, ledger):
    campaign = Campaign("spring", items_per_round=3, category_quotas={"ware": 2})

    result = run_round(campaign, 1, model, ledger, ["a", "b", "c", "d", "e", "n1"], now=START)

    wares = [item for plan in result.plans for item in plan.item_ids if item in {"cup", "pot", "tray"}]
    assert len(wares) <= 2


def test_round_caps_count_earlier_run(model, ledger):
    campaign = Campaign("spring", items_per_round=1, item_quotas={"tea": 1}, backfill=False)
    run_round(campaign, 1, model, ledger, ["c"], now=START)
    first = ledger.sends()[0].item_ids

    result = run_round(campaign, 1, model, ledger, ["c", "d"], now=START)

    sends = Counter(item for plan in result.plans for item in plan.item_ids)
    assert sends["tea"] <= 1
    assert result.plans[0].item_ids == first


def test_round_category_quota_without_categories_raises(ledger):
    from recsys import ItemKNN
    from tests.recsys.nurture.conftest import shop_events

    plain = ItemKNN().fit(shop_events())

    with pytest.raises(DataValidationError, match="category_quotas"):
        run_round(Campaign("spring", category_quotas={"ware": 1}), 1, plain, ledger, ["a"], now=START)


def test_round_categories_given(ledger):
    from recsys import ItemKNN
    from tests.recsys.nurture.conftest import shop_events

    plain = ItemKNN().fit(shop_events())
    categories = pd.Series(
        {"tea": "drink", "cup": "ware", "pot": "ware", "honey": "food", "milk": "drink", "tray": "ware"}
    )
    campaign = Campaign("spring", items_per_round=2, category_quotas={"drink": 0})

    result = run_round(campaign, 1, plain, ledger, ["a", "b", "n1"], now=START, item_categories=categories)

    assert not {item for plan in result.plans for item in plan.item_ids} & {"tea", "milk"}
