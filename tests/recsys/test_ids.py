"""Tests of IdMap: the id lookup rule, sorted positions and plain Python ids."""

from __future__ import annotations

import numpy as np
import pytest

from recsys import DataValidationError, IdMap


@pytest.fixture
def int_map() -> IdMap:
    return IdMap([1001, 5, -3, 42], "item_id")


@pytest.fixture
def str_map() -> IdMap:
    return IdMap(["b", "1001", "a", "商品-東京-01", " padded "], "item_id")


def test_idmap_int_kind_and_order(int_map: IdMap) -> None:
    assert int_map.kind == "int"
    assert int_map.ids.dtype == np.int64
    assert int_map.ids.tolist() == [-3, 5, 42, 1001]


def test_idmap_str_code_point_order() -> None:
    id_map = IdMap(["b", "a", "B", "é", "10", "9"], "user_id")

    assert id_map.kind == "str"
    assert id_map.ids.tolist() == ["10", "9", "B", "a", "b", "é"]


def test_idmap_int_lookup_by_canonical_text(int_map: IdMap) -> None:
    assert int_map.index_of(1001) == 3
    assert int_map.index_of("1001") == 3
    assert int_map.index_of("-3") == 0
    assert int_map.index_of(np.int64(42)) == 2
    assert int_map.index_of(np.uint8(5)) == 1


@pytest.mark.parametrize("text", ["01001", "1001.0", " 1001", "1001 ", "+1001", "1e3", "", "-0", "x"])
def test_idmap_int_rejects_noncanonical_text(int_map: IdMap, text: str) -> None:
    assert int_map.index_of(text) == -1


def test_idmap_int_text_beyond_int64(int_map: IdMap) -> None:
    assert int_map.index_of("99999999999999999999") == -1


def test_idmap_str_lookup_by_int(str_map: IdMap) -> None:
    assert str_map.index_of(1001) == str_map.index_of("1001")
    assert str_map.index_of(np.int32(1001)) == str_map.index_of("1001")
    assert str_map.index_of("1001") >= 0


def test_idmap_str_exact_match(str_map: IdMap) -> None:
    assert str_map.index_of("商品-東京-01") >= 0
    assert str_map.index_of(" padded ") >= 0
    assert str_map.index_of("padded") == -1
    assert str_map.index_of("A") == -1
    assert str_map.index_of("01001") == -1


@pytest.mark.parametrize("bad", [1001.0, np.float64(5.0), True, np.bool_(False), None, b"1001", (1,)])
def test_idmap_rejects_other_types(int_map: IdMap, str_map: IdMap, bad: object) -> None:
    with pytest.raises(DataValidationError, match=r"item_id must be an int or a str; got "):
        int_map.index_of(bad)
    with pytest.raises(DataValidationError, match=r"item_id must be an int or a str; got "):
        str_map.index_of(bad)


def test_idmap_unknown_id(int_map: IdMap) -> None:
    assert int_map.index_of(7) == -1
    assert int_map.index_of("7") == -1


def test_idmap_indices_of(int_map: IdMap) -> None:
    positions = int_map.indices_of([42, "5", "042", 99])

    assert positions.dtype == np.int64
    assert positions.tolist() == [2, 1, -1, -1]
    assert int_map.indices_of([]).tolist() == []


def test_idmap_ids_of_plain_int(int_map: IdMap) -> None:
    ids = int_map.ids_of(np.array([3, 0]))

    assert ids == [1001, -3]
    assert all(type(id_) is int for id_ in ids)
    assert type(int_map.id_of(np.int64(1))) is int


def test_idmap_ids_of_plain_str(str_map: IdMap) -> None:
    position = str_map.index_of("商品-東京-01")

    ids = str_map.ids_of([position])

    assert ids == ["商品-東京-01"]
    assert type(ids[0]) is str
    assert type(str_map.id_of(position)) is str


def test_idmap_round_trip_positions(str_map: IdMap) -> None:
    for position in range(len(str_map)):
        assert str_map.index_of(str_map.id_of(position)) == position


def test_idmap_duplicates_rejected() -> None:
    with pytest.raises(DataValidationError, match=r"user_id values passed to IdMap must be unique"):
        IdMap([1, 2, 1], "user_id")


def test_idmap_mixed_types_rejected() -> None:
    with pytest.raises(DataValidationError, match=r"user_id values must be all int or all str"):
        IdMap([1, "a"], "user_id")


def test_idmap_float_ids_rejected() -> None:
    with pytest.raises(DataValidationError, match=r"item_id values must be all int or all str"):
        IdMap(np.array([1.0, 2.0]), "item_id")


def test_idmap_empty() -> None:
    id_map = IdMap([], "item_id")

    assert len(id_map) == 0
    assert id_map.index_of(1) == -1


def test_idmap_encode_positions() -> None:
    id_map, positions = IdMap.encode(np.array(["b", "a", "b", "c"], dtype=object), "item_id")

    assert id_map.ids.tolist() == ["a", "b", "c"]
    assert positions.dtype == np.int64
    assert positions.tolist() == [1, 0, 1, 2]


def test_idmap_from_sorted_checks_order() -> None:
    with pytest.raises(ValueError, match=r"stored item_id values are not sorted and unique"):
        IdMap.from_sorted(np.array([3, 1], dtype=np.int64), "item_id")
    with pytest.raises(ValueError, match=r"stored item_id values are not sorted and unique"):
        IdMap.from_sorted(np.array(["a", "a"], dtype=object), "item_id")


def test_idmap_equality() -> None:
    assert IdMap([2, 1], "item_id") == IdMap([1, 2], "item_id")
    assert IdMap([1, 2], "item_id") != IdMap(["1", "2"], "item_id")
    assert IdMap([1, 2], "item_id") != IdMap([1, 3], "item_id")
