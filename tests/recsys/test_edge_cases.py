"""Failures that users of recommendation libraries meet in the field, each on a tiny input.

Every expected list below was worked out by hand from the training events; all events
are purchases and the similarity is the default (cosine).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys import (
    DataValidationError,
    ItemKNN,
    ModelFormatError,
    UnknownItemError,
    UnknownUserError,
    load,
)
from tests.conftest import purchases


def fit(baskets: dict[str, list[str]]) -> ItemKNN:
    return ItemKNN().fit(purchases(baskets))


# ---------------------------------------------------------------- 1. unknown user


@pytest.fixture
def three_buyers() -> ItemKNN:
    return fit({"a": ["x1", "x2"], "b": ["x1", "x3"], "c": ["x1"]})


def test_unknown_user_gets_popular_fallback(three_buyers):
    result = three_buyers.recommend("zz", n=2)

    # x1 has three buyers; x2 and x3 tie with one each and the smaller id wins.
    assert result.item_ids == ["x1", "x2"]
    assert all(item.reason == "popular" for item in result)
    assert result.fallback is True
    assert result.known_user is False


def test_unknown_user_ids_are_external(three_buyers):
    result = three_buyers.recommend("zz", n=3)

    assert all(isinstance(item_id, str) for item_id in result.item_ids)


def test_unknown_user_strict_raises(three_buyers):
    with pytest.raises(UnknownUserError, match="'zz'"):
        three_buyers.recommend("zz", n=2, strict=True)


def test_unknown_user_batch_keeps_others(three_buyers):
    batch = three_buyers.recommend_batch(["a", "zz", "b"], n=2)

    assert batch[0] == three_buyers.recommend("a", n=2)
    assert batch[1].item_ids == ["x1", "x2"]
    assert batch[2] == three_buyers.recommend("b", n=2)


# ---------------------------------------------------------------- 2. fresh history


@pytest.fixture
def two_groups() -> ItemKNN:
    return fit({"a": ["x1", "x2"], "b": ["x1", "x2"], "c": ["x1", "x3"], "d": ["x4", "x5"]})


def test_basket_fresh_history(two_groups):
    assert two_groups.recommend_basket(["x1"], n=2).item_ids == ["x2", "x3"]


def test_basket_never_basket_or_unrelated(two_groups):
    ids = two_groups.recommend_basket(["x1"], n=10).item_ids

    assert "x1" not in ids
    assert "x4" not in ids
    assert "x5" not in ids


def test_basket_empty_returns_empty(two_groups):
    assert two_groups.recommend_basket([], n=2).item_ids == []


def test_basket_empty_backfill_flagged(two_groups):
    result = two_groups.recommend_basket([], n=2, backfill=True)

    assert result.item_ids == ["x1", "x2"]
    assert all(item.reason == "popular" for item in result)


def test_basket_leaves_model_unchanged(two_groups):
    before = {name: np.array(array, copy=True) for name, array in _arrays(two_groups).items()}
    version = two_groups.version_

    two_groups.recommend_basket(["x1", "x4"], n=3)
    two_groups.recommend_basket({"x2": 2.0}, n=3, exclude=["x1"])

    for name, array in _arrays(two_groups).items():
        assert np.array_equal(array, before[name]), name
    assert two_groups.version_ == version


def _arrays(model: ItemKNN) -> dict[str, np.ndarray]:
    return {
        "similarity": model.similarity_.data,
        "neighbors": model.similarity_.indices,
        "user_items": model.user_items_.data,
        "popularity": model.popularity_,
    }


# ---------------------------------------------------------------- 3. already bought


@pytest.fixture
def bought() -> ItemKNN:
    return fit({"a": ["x1", "x2"], "b": ["x1", "x2", "x3"], "c": ["x2", "x3"], "d": ["x4"]})


def test_seen_items_excluded(bought):
    assert bought.recommend("a", n=3).item_ids == ["x3"]


def test_seen_items_excluded_from_backfill(bought):
    # x2 is the most popular item, but a already bought it.
    assert bought.recommend("a", n=3, backfill=True).item_ids == ["x3", "x4"]


@pytest.mark.parametrize(
    "to_format", [sp.csr_array, sp.csc_array, sp.coo_array, sp.csr_matrix, sp.coo_matrix]
)
def test_sparse_history_any_format(bought, to_format):
    positions = bought.item_ids_.indices_of(["x1", "x2"])
    row = to_format((np.ones(2), (np.zeros(2, dtype=int), positions)), shape=(1, len(bought.item_ids_)))

    assert bought.recommend_basket(row, n=3).item_ids == ["x3"]


def test_sparse_history_wrong_shape_rejected(bought):
    row = sp.csr_array(np.ones((1, 2)))

    with pytest.raises(DataValidationError, match=r"shape \(1, 4\)"):
        bought.recommend_basket(row, n=3)


# ---------------------------------------------------------------- 4. fewer candidates than n


@pytest.fixture
def sparse_pairs() -> ItemKNN:
    return fit({"a": ["x1", "x2"], "b": ["x3", "x4"], "c": ["x5"]})


def test_similar_fewer_than_n(sparse_pairs):
    result = sparse_pairs.similar_items("x1", 10)

    assert result.item_ids == ["x2"]
    assert all(np.isfinite(result.scores))


def test_similar_no_cobuyers_empty(sparse_pairs):
    assert sparse_pairs.similar_items("x5", 3).item_ids == []


def test_similar_n_zero_empty(sparse_pairs):
    assert sparse_pairs.similar_items("x1", 0).item_ids == []


def test_similar_negative_n_names_n(sparse_pairs):
    with pytest.raises(DataValidationError, match="n must be an int >= 0; got -1"):
        sparse_pairs.similar_items("x1", -1)


def test_short_lists_have_no_padding(sparse_pairs):
    results = [
        sparse_pairs.similar_items("x3", 50),
        sparse_pairs.recommend("a", 50),
        sparse_pairs.recommend("c", 50),
        sparse_pairs.recommend_basket(["x1", "x5"], 50),
    ]
    for result in results:
        assert None not in result.item_ids
        assert -1 not in result.item_ids
        assert all(np.isfinite(score) and score > 0 for score in result.scores)


# ---------------------------------------------------------------- 5. exclude lists


@pytest.fixture
def six_buyers() -> ItemKNN:
    return fit(
        {
            "u1": ["x1", "x2", "x3", "x4"],
            "u2": ["x1", "x2", "x3"],
            "u3": ["x1", "x2"],
            "u4": ["x1"],
            "u5": ["x1"],
            "u6": ["x1"],
        }
    )


def test_exclude_does_not_shrink_n(six_buyers):
    assert six_buyers.recommend_basket(["x1"], n=2, exclude=["x2"]).item_ids == ["x3", "x4"]


def test_exclude_unknown_reported(six_buyers):
    result = six_buyers.recommend_basket(["x1"], n=2, exclude=["x2", "nope"])

    assert result.item_ids == ["x3", "x4"]
    assert result.unknown_items == ("nope",)


def test_exclude_two_leaves_one(six_buyers):
    assert six_buyers.recommend_basket(["x1"], n=2, exclude=["x2", "x3"]).item_ids == ["x4"]


# ---------------------------------------------------------------- 6. batch order


def test_batch_order_and_duplicates():
    model = fit({"a": ["x1"], "b": ["x3"], "c": ["x1", "x2"], "d": ["x3", "x4"]})

    batch = model.recommend_batch(["b", "a", "b"], n=1)

    assert [result.item_ids for result in batch] == [["x4"], ["x2"], ["x4"]]
    assert batch[0] == model.recommend("b", n=1)
    assert batch[1] == model.recommend("a", n=1)


# ---------------------------------------------------------------- 7. id types


def test_int_ids_stay_int_with_float_weight():
    events = pd.DataFrame(
        {"user_id": [5864, 5864, 7], "item_id": [10, 11, 10], "event": "purchase", "weight": [1.0, 0.5, 2.0]}
    )
    model = ItemKNN().fit(events)

    result = model.recommend(7, n=1)
    assert result.item_ids == [11]
    assert type(result.item_ids[0]) is int
    assert type(result[0].because[0]) is int
    assert model.user_ids_.ids_of([0, 1]) == [7, 5864]


def test_int_ids_from_nullable_float_column():
    # pandas stores an int column that once held NaN as float64.
    events = pd.DataFrame({"user_id": [1.0, 2.0, 2.0], "item_id": [10, 10, 11], "event": "purchase"})

    model = ItemKNN().fit(events)

    assert model.user_ids_.kind == "int"
    assert model.recommend(1, n=1).item_ids == [11]


def test_string_id_on_int_model_rule():
    model = ItemKNN().fit(
        pd.DataFrame({"user_id": [1, 2, 2], "item_id": [1001, 1001, 1002], "event": "purchase"})
    )

    # A canonical decimal string finds the integer id; other spellings find nothing.
    assert model.similar_items("1001", 1).item_ids == [1002]
    with pytest.raises(UnknownItemError, match="'01001'"):
        model.similar_items("01001", 1)
    assert model.recommend("1", n=1).known_user is True


def test_empty_item_id_rejected():
    events = pd.DataFrame({"user_id": ["a", "b", "c"], "item_id": ["x1", "", " "], "event": "purchase"})

    with pytest.raises(DataValidationError, match=r"'item_id'.*2 bad row"):
        ItemKNN().fit(events)


def test_unicode_ids_round_trip(tmp_path):
    user, item, other = "用户 1", "商品-東京-01", "商品 02 ✓"
    model = ItemKNN().fit(purchases({user: [item, other], "b": [item, other], "c": [item]}))

    assert model.recommend("c", n=1).item_ids == [other]
    assert model.similar_items(item, n=1).item_ids == [other]
    model.save(tmp_path / "unicode")
    loaded = load(tmp_path / "unicode")
    assert loaded.recommend("c", n=1) == model.recommend("c", n=1)
    assert loaded.similar_items(item, n=1).item_ids == [other]
    assert loaded.user_ids_.index_of(user) >= 0


# ---------------------------------------------------------------- 8. weights


def test_zero_weight_contributes_nothing():
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "c"],
            "item_id": ["x1", "x2", "x1", "x3", "x1"],
            "event": "purchase",
            "weight": [1.0, 1.0, 1.0, 0.0, 0.0],
        }
    )
    model = ItemKNN().fit(events)

    assert model.similar_items("x1", 5).item_ids == ["x2"]
    assert np.isfinite(model.similarity_.data).all()
    assert model.recommend("c", n=2).known_user is False


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_bad_weight_names_column_and_count(bad):
    events = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "item_id": ["x1", "x1", "x2"],
            "event": "purchase",
            "weight": [1.0, bad, bad],
        }
    )

    with pytest.raises(DataValidationError, match=r"'weight'.*2 bad row"):
        ItemKNN().fit(events)


def test_all_zero_weights_rejected():
    events = pd.DataFrame({"user_id": ["a"], "item_id": ["x1"], "event": "purchase", "weight": [0.0]})

    with pytest.raises(DataValidationError, match="empty data"):
        ItemKNN().fit(events)


# ---------------------------------------------------------------- 9. save and load


def test_reload_in_fresh_process(tmp_path):
    model = ItemKNN().fit(
        pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 11, 10, 12, 10], "event": "purchase"})
    )
    model.save(tmp_path / "m")
    script = textwrap.dedent(
        f"""
        import json, recsys
        model = recsys.load({str(tmp_path / "m")!r})
        result = model.recommend(3, n=2)
        print(json.dumps([result.item_ids, result.scores, [type(i).__name__ for i in result.item_ids]]))
        """
    )

    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout

    expected = model.recommend(3, n=2)
    assert output.strip() == _dumps(expected.item_ids, expected.scores)


def _dumps(item_ids: list, scores: list[float]) -> str:
    import json

    return json.dumps([item_ids, scores, [type(item_id).__name__ for item_id in item_ids]])


def test_newer_format_names_both_versions(tmp_path):
    import json

    fit({"a": ["x1", "x2"]}).save(tmp_path / "m")
    manifest_path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))

    from recsys.persistence import _OLDEST_READABLE_VERSION, FORMAT_VERSION

    expected = rf"format version 99.*reads format versions {_OLDEST_READABLE_VERSION} to {FORMAT_VERSION}\."
    with pytest.raises(ModelFormatError, match=expected):
        load(tmp_path / "m")


def test_truncated_array_fails_checksum(tmp_path):
    fit({"a": ["x1", "x2"], "b": ["x1"]}).save(tmp_path / "m")
    array_file = tmp_path / "m" / "similarity_data.npy"
    array_file.write_bytes(array_file.read_bytes()[:-4])

    with pytest.raises(ModelFormatError, match=r"checksum mismatch for 'similarity_data\.npy'"):
        load(tmp_path / "m")


# ---------------------------------------------------------------- 10. concurrency


def test_threads_give_serial_answers(rng):
    users = [f"u{index}" for index in range(60)]
    items = [f"i{index:02d}" for index in range(40)]
    baskets = {user: list(rng.choice(items, size=rng.integers(1, 8), replace=False)) for user in users}
    model = fit(baskets)
    calls = []
    for index in range(2_000):
        kind = index % 3
        if kind == 0:
            calls.append(("recommend", users[index % len(users)] if index % 7 else "unknown"))
        elif kind == 1:
            calls.append(("similar", items[index % len(items)]))
        else:
            calls.append(("basket", tuple(items[(index + offset) % len(items)] for offset in range(3))))

    def run(call):
        kind, argument = call
        if kind == "recommend":
            return model.recommend(argument, n=5, backfill=True)
        if kind == "similar":
            return model.similar_items(argument, n=5)
        return model.recommend_basket(list(argument), n=5)

    serial = [run(call) for call in calls]
    with ThreadPoolExecutor(max_workers=16) as pool:
        parallel = list(pool.map(run, calls))

    assert parallel == serial
