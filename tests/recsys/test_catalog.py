"""Tests of the item catalogue, per-request rules and min_support on fitted models.

The model is ItemKNN with co-occurrence counts, so every score below is a
number of shared buyers and can be checked by hand:

    u1: a b c    u2: a b    u3: a c d    u4: a e    u5: d e

Co-buyers of a: b 2, c 2, d 1, e 1. Popularity: a 4, the other items 2.
Catalogue: a garden 10, b kitchen 5, c garden 20, d garden 1, e kitchen (no price).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import Boost, Catalog, DataValidationError, Interactions, ItemKNN, Range, RP3Beta, Rules, load
from recsys.persistence import MANIFEST
from tests.conftest import purchases

BASKETS = {"u1": ["a", "b", "c"], "u2": ["a", "b"], "u3": ["a", "c", "d"], "u4": ["a", "e"], "u5": ["d", "e"]}


def catalog_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d", "e", "only-in-catalogue"],
            "category": ["garden", "kitchen", "garden", "garden", "kitchen", "garden"],
            "price": [10.0, 5.0, 20.0, 1.0, None, 3.0],
            "in_stock": [True, True, False, True, True, True],
        }
    )


@pytest.fixture
def model() -> ItemKNN:
    return knn().fit(purchases(BASKETS)).set_catalog(catalog_frame())


def knn() -> ItemKNN:
    # A purchase weighs 1, so co-occurrence scores and popularity are counts of users.
    return ItemKNN(similarity="cooccurrence", event_weights={"purchase": 1.0})


def ids(result: object) -> list[object]:
    return list(result.item_ids)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- catalogue


def test_catalog_kinds_and_summary(model: ItemKNN) -> None:
    summary = model.catalog_summary()

    assert summary["columns"] == {"category": "string", "price": "number", "in_stock": "bool"}
    assert summary["items"] == 6
    assert summary["matched"] == 5
    assert summary["unknown_items"] == ["only-in-catalogue"]
    assert summary["missing_items"] == 0


def test_catalog_replaces_metadata(model: ItemKNN) -> None:
    assert model.get_item_metadata(["e", "a"]) == [
        {"category": "kitchen", "in_stock": True},
        {"category": "garden", "price": 10.0, "in_stock": True},
    ]


def test_catalog_only_item_never_recommended(model: ItemKNN) -> None:
    result = model.recommend("u5", 10, backfill=True)

    assert "only-in-catalogue" not in ids(result)


def test_catalog_duplicate_ids_rejected() -> None:
    frame = pd.DataFrame({"item_id": ["a", "b", "a"], "category": ["x", "y", "z"]})

    with pytest.raises(DataValidationError, match=r"'item_id'.*duplicate ids: 'a' is on rows \[0, 2\]"):
        Catalog.from_frame(frame)


def test_catalog_missing_id_rejected() -> None:
    frame = pd.DataFrame({"item_id": ["a", None], "category": ["x", "y"]})

    with pytest.raises(DataValidationError, match=r"'item_id' must not contain null ids.*row 1"):
        Catalog.from_frame(frame)


def test_catalog_missing_id_column_rejected() -> None:
    with pytest.raises(DataValidationError, match="needs an 'item_id' column"):
        Catalog.from_frame(pd.DataFrame({"sku": ["a"]}))


def test_catalog_unsupported_value_rejected() -> None:
    frame = pd.DataFrame({"item_id": ["a", "b"], "tags": ["x", ["y", "z"]]})

    with pytest.raises(DataValidationError, match=r"column 'tags' contains a list.*row 1 .*item_id='b'"):
        Catalog.from_frame(frame)


def test_catalog_mixed_kinds_rejected() -> None:
    frame = pd.DataFrame({"item_id": ["a", "b"], "size": ["large", 3]})

    with pytest.raises(DataValidationError, match=r"column 'size' mixes string and number.*row 1.*has 3"):
        Catalog.from_frame(frame)


def test_catalog_bad_date_rejected() -> None:
    frame = pd.DataFrame({"item_id": [1, 2], "available_from": ["2026-01-01", "next week"]})

    with pytest.raises(DataValidationError, match=r"'available_from' must contain ISO 8601.*row 1.*'next week'"):
        Catalog.from_frame(frame)


def test_catalog_out_of_range_date_rejected() -> None:
    frame = pd.DataFrame({"item_id": [1], "available_until": ["2999-01-01"]})

    with pytest.raises(DataValidationError, match=r"from 1678 to 2261.*row 0.*'2999-01-01'"):
        Catalog.from_frame(frame)


def test_catalog_infinite_number_rejected() -> None:
    frame = pd.DataFrame({"item_id": [1, 2], "price": [1.0, np.inf]})

    with pytest.raises(DataValidationError, match=r"'price' must contain finite numbers.*row 1"):
        Catalog.from_frame(frame)


def test_catalog_read_csv(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "item_id,category,price,in_stock,available_until\n10,garden,2.5,true,2026-12-24\n7,,,false,\n",
        encoding="utf-8",
    )

    catalog = Catalog.read(path)

    assert catalog.kinds == {
        "category": "string",
        "price": "number",
        "in_stock": "bool",
        "available_until": "datetime",
    }
    frame = catalog.to_frame()
    assert frame["item_id"].tolist() == [7, 10]
    assert frame["category"].tolist() == [None, "garden"]
    assert frame["available_until"].tolist() == [None, "2026-12-24T00:00:00+00:00"]


def test_catalog_from_fitted_metadata() -> None:
    metadata = pd.DataFrame({"item_id": ["a", "b"], "category": ["garden", "kitchen"]})
    interactions = Interactions.from_events(
        purchases(BASKETS), event_weights={"purchase": 1.0}, item_metadata=metadata
    )
    fitted = knn().fit(interactions)

    result = fitted.similar_items("a", 10, rules=Rules(include={"category": "kitchen"}))

    assert ids(result) == ["b"]


# --------------------------------------------------------------------------- rules on similar_items


@pytest.mark.parametrize(
    ("request_rules", "expected"),
    [
        (None, ["b", "c", "d", "e"]),
        (Rules(include={"category": "garden"}), ["c", "d"]),
        (Rules(exclude={"category": "garden"}), ["b", "e"]),
        (Rules(include={"category": ["garden", "kitchen"]}), ["b", "c", "d", "e"]),
        # e has no price, so it is never in range.
        (Rules(include={"price": Range(0, 10)}), ["b", "d"]),
        (Rules(include={"price": "..5"}), ["b", "d"]),
        (Rules(exclude={"price": Range(min=10)}), ["b", "d", "e"]),
        (Rules(include={"in_stock": True}), ["b", "d", "e"]),
        (Rules(include={"in_stock": "false"}), ["c"]),
        # Boosted: c 2*3=6, d 1*3=3, b 2, e 1.
        (Rules(boost=[Boost({"category": "garden"}, 3.0)]), ["c", "d", "b", "e"]),
        # Two boosts multiply: d 1*3*4=12.
        (
            Rules(boost=[({"category": "garden"}, 3.0), {"where": {"price": "..1"}, "factor": 4}]),
            ["d", "c", "b", "e"],
        ),
        # One per category: b (kitchen), c (garden); d and e are over the cap.
        (Rules(max_per_category=1), ["b", "c"]),
        (Rules(max_per_category=2), ["b", "c", "d", "e"]),
        ({"include": {"category": "garden"}, "max_per_category": 1}, ["c"]),
    ],
)
def test_similar_items_rules(model: ItemKNN, request_rules: object, expected: list[str]) -> None:
    result = model.similar_items("a", 10, rules=request_rules)  # type: ignore[arg-type]

    assert ids(result) == expected


def test_similar_items_boost_scores(model: ItemKNN) -> None:
    result = model.similar_items("a", 2, rules=Rules(boost=[Boost({"category": "garden"}, 3.0)]))

    assert result.scores == [6.0, 3.0]


def test_cap_applies_while_picking(model: ItemKNN) -> None:
    # Truncating to 3 first (b, c, d) and capping after would leave [b, c];
    # capping while picking fills the third place with e.
    result = model.similar_items("a", 3, rules=Rules(max_per_category=2, category_attribute="category"))

    assert ids(result) == ["b", "c", "d"]
    capped = model.similar_items("a", 3, rules=Rules(max_per_category=1))
    assert ids(capped) == ["b", "c"]
    assert capped.short_of_evidence


def test_rule_unknown_attribute(model: ItemKNN) -> None:
    with pytest.raises(
        DataValidationError, match=r"attribute 'colour'.*use one of \['category', 'in_stock', 'price'\]"
    ):
        model.similar_items("a", rules=Rules(include={"colour": "red"}))


def test_rule_value_of_wrong_kind(model: ItemKNN) -> None:
    with pytest.raises(
        DataValidationError, match=r"include rule on 'price' \(number attribute\) cannot use 'cheap'"
    ):
        model.similar_items("a", rules=Rules(include={"price": "cheap"}))


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("10..1", r"include condition on 'price' has the range '10\.\.1'.*write it as '1\.\.10'"),
        (["0..5", "10..1"], r"include condition on 'price' has the range '10\.\.1'"),
        ("2026-12-31..2026-01-01", r"has the range '2026-12-31\.\.2026-01-01'"),
    ],
)
def test_reversed_range_text_rejected(condition: object, message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        Rules(include={"price": condition})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("low", "high"),
    [(10, 1), ("10", "1"), (2.5, "1"), ("2026-12-31", "2026-01-01T00:00+01:00")],
)
def test_reversed_range_object_rejected(low: object, high: object) -> None:
    with pytest.raises(DataValidationError, match=r"Range min .* is above max .*; swap them"):
        Range(low, high)  # type: ignore[arg-type]


def test_equal_range_bounds_accepted(model: ItemKNN) -> None:
    assert ids(model.similar_items("a", 10, rules=Rules(include={"price": Range(5, 5)}))) == ["b"]
    assert ids(model.similar_items("a", 10, rules=Rules(include={"price": "5..5"}))) == ["b"]


def test_range_text_without_bounds_rejected(model: ItemKNN) -> None:
    with pytest.raises(
        DataValidationError, match=r"include rule on 'price' gives the range '\.\.' with neither"
    ):
        model.similar_items("a", rules=Rules(include={"price": ".."}))


def test_rules_without_catalog() -> None:
    fitted = ItemKNN().fit(purchases(BASKETS))

    with pytest.raises(DataValidationError, match="has no catalogue; attach one with set_catalog"):
        fitted.similar_items("a", rules={"include": {"category": "garden"}})


def test_rules_unknown_field() -> None:
    with pytest.raises(DataValidationError, match=r"unknown field\(s\) \['filter'\]"):
        Rules.of({"filter": {"category": "garden"}})


def test_boost_factor_checked() -> None:
    with pytest.raises(DataValidationError, match="boost factor must be a finite number > 0; got 0"):
        Boost({"category": "garden"}, 0)


# --------------------------------------------------------------------------- rules on recommend, backfill


def test_recommend_rules(model: ItemKNN) -> None:
    # u4 has a and e: b 2 (a), c 2 (a), d 1 (a) + 1 (e) = 2; all three tie at 2.
    assert ids(model.recommend("u4", 10)) == ["b", "c", "d"]
    assert ids(model.recommend("u4", 10, rules=Rules(include={"category": "garden"}))) == ["c", "d"]
    assert ids(model.recommend("u4", 10, rules=Rules(max_per_category=1))) == ["b", "c"]


def test_backfill_respects_rules(model: ItemKNN) -> None:
    # Basket b: a 2, c 1, both garden. Backfill adds the popular garden item d.
    result = model.recommend_basket(["b"], 4, backfill=True, rules=Rules(include={"category": "garden"}))

    assert ids(result) == ["a", "c", "d"]
    assert [item.reason for item in result] == ["similar", "similar", "popular"]
    assert result.short_of_evidence


def test_backfill_respects_cap(model: ItemKNN) -> None:
    # a (garden) is picked; c is over the cap; popular c and d are garden too, so e fills.
    result = model.recommend_basket(["b"], 3, backfill=True, rules=Rules(max_per_category=1))

    assert ids(result) == ["a", "e"]


def test_fallback_respects_rules(model: ItemKNN) -> None:
    result = model.recommend("unknown user", 3, rules=Rules(include={"category": "kitchen"}))

    assert ids(result) == ["b", "e"]
    assert result.fallback


def test_fallback_boost_reorders_popular(model: ItemKNN) -> None:
    # Popularity a 4, others 2; doubling kitchen makes b and e 4, tied with a.
    result = model.recommend("unknown user", 3, rules=Rules(boost=[Boost({"category": "kitchen"}, 2.0)]))

    assert ids(result) == ["a", "b", "e"]
    assert result.scores == [4.0, 4.0, 4.0]


# --------------------------------------------------------------------------- availability


def windowed_model() -> ItemKNN:
    frame = catalog_frame()
    frame["available_from"] = [None, None, None, None, "2027-01-01", None]
    frame["available_until"] = [None, None, None, "2026-07-01T00:00:00Z", None, None]
    return knn().fit(purchases(BASKETS)).set_catalog(frame)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-06-01", ["b", "c", "d"]),
        # available_until is exclusive.
        ("2026-07-01T00:00:00Z", ["b", "c"]),
        ("2027-06-01", ["b", "c", "e"]),
    ],
)
def test_availability_window(now: str, expected: list[str]) -> None:
    model = windowed_model()

    assert ids(model.similar_items("a", 10, rules=Rules(now=now))) == expected


def test_availability_applies_without_rules() -> None:
    # The windows are far from today's date, so d has ended and e has not started.
    frame = catalog_frame()
    frame["available_from"] = [None, None, None, None, "2200-01-01", None]
    frame["available_until"] = [None, None, None, "2000-01-01", None, None]
    model = knn().fit(purchases(BASKETS)).set_catalog(frame)

    assert ids(model.similar_items("a", 10)) == ["b", "c"]
    assert ids(model.recommend("unknown user", 10)) == ["a", "b", "c"]


# --------------------------------------------------------------------------- min_support


def test_support_counts_co_buyers(model: ItemKNN) -> None:
    a, b, c, d, e = range(5)

    assert model.support_ is not None
    support = model.support_.toarray()
    assert support[a, [b, c, d, e]].tolist() == [2, 2, 1, 1]
    assert support[d, e] == 1


def test_similar_items_min_support(model: ItemKNN) -> None:
    result = model.similar_items("a", 4, min_support=2)

    assert ids(result) == ["b", "c"]
    assert result.short_of_evidence
    assert result.below_min_support == 2


def test_recommend_min_support_flags_instead_of_padding(model: ItemKNN) -> None:
    # Basket d: a 1, c 1, e 1; no pair has 2 co-buyers.
    result = model.recommend_basket(["d"], 3, min_support=2)

    assert ids(result) == []
    assert result.short_of_evidence
    assert result.below_min_support == 3
    padded = model.recommend_basket(["d"], 3, min_support=2, backfill=True)
    assert [item.reason for item in padded] == ["popular"] * 3
    assert padded.short_of_evidence


def test_min_support_keeps_strong_pairs(model: ItemKNN) -> None:
    # u4 (a, e) with min_support 2: only a's pairs with b and c count.
    result = model.recommend("u4", 10, min_support=2)

    assert ids(result) == ["b", "c"]
    assert result.scores == [2.0, 2.0]
    assert result.below_min_support == 1
    assert not model.recommend("u4", 2, min_support=2).short_of_evidence


def test_min_support_invalid(model: ItemKNN) -> None:
    with pytest.raises(DataValidationError, match="min_support must be an int >= 1; got 0"):
        model.similar_items("a", min_support=0)


def test_min_support_needs_counts() -> None:
    fitted = RP3Beta().fit(purchases(BASKETS))

    with pytest.raises(DataValidationError, match=r"min_support needs the co-buyer count.*RP3Beta"):
        fitted.recommend_basket(["a"], min_support=2)


# --------------------------------------------------------------------------- persistence


def test_round_trip_catalog_and_support(model: ItemKNN, tmp_path: Path) -> None:
    model.save(tmp_path / "model")
    loaded = load(tmp_path / "model")

    assert loaded.catalog_ == model.catalog_
    assert np.array_equal(loaded.support_.toarray(), model.support_.toarray())  # type: ignore[attr-defined]
    assert loaded.catalog_summary() == model.catalog_summary()
    request_rules = Rules(include={"category": "garden"}, max_per_category=1)
    assert ids(loaded.similar_items("a", 5, rules=request_rules)) == ids(
        model.similar_items("a", 5, rules=request_rules)
    )


def test_round_trip_unicode_and_int_ids(tmp_path: Path) -> None:
    events = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 20, 10, 20], "event": "purchase"})
    fitted = (
        ItemKNN()
        .fit(events)
        .set_catalog(
            pd.DataFrame(
                {
                    "item_id": [10, 20, 30],
                    "label": ["東京 café", None, "x"],
                    "when": pd.to_datetime(["2026-01-01", None, None], utc=True),
                }
            )
        )
    )

    fitted.save(tmp_path / "model")
    loaded = load(tmp_path / "model")

    assert loaded.catalog_ == fitted.catalog_
    assert loaded.get_item_metadata([10, 20]) == [
        {"label": "東京 café", "when": "2026-01-01T00:00:00+00:00"},
        {},
    ]


def test_load_format_1_directory(model: ItemKNN, tmp_path: Path) -> None:
    model.save(tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / MANIFEST).read_text(encoding="utf-8"))
    manifest["format_version"] = 1
    del manifest["catalog"]
    manifest["files"] = {
        name: entry
        for name, entry in manifest["files"].items()
        if not name.startswith("catalog_") and name != "similarity_support.npy"
    }
    (tmp_path / "model" / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    loaded = load(tmp_path / "model")

    assert loaded.support_ is None  # type: ignore[attr-defined]
    # Format 1 keeps the metadata only, and the catalogue is rebuilt from it.
    assert loaded.catalog_summary()["columns"] == {
        "category": "string",
        "price": "number",
        "in_stock": "bool",
    }
    assert ids(loaded.similar_items("a", 5, rules=Rules(include={"category": "garden"}))) == ["c", "d"]
    with pytest.raises(DataValidationError, match="min_support needs the co-buyer count"):
        loaded.similar_items("a", min_support=2)


def test_set_catalog_invalid_keeps_previous(model: ItemKNN) -> None:
    before = model.catalog_

    with pytest.raises(DataValidationError):
        model.set_catalog(pd.DataFrame({"item_id": ["a", "a"]}))

    assert model.catalog_ is before
