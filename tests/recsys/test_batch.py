"""Batch recommendations to Parquet: ``recsys.batch`` and ``Recommender.write_recommendations``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys import (
    CrossOccurrence,
    DataValidationError,
    Interactions,
    ItemKNN,
    MostPopular,
    NotFittedError,
    Recommender,
    Rules,
    load,
)
from recsys import batch as batch_module
from recsys.batch import read_user_ids, write_recommendations
from recsys.datasets import load_online_retail
from tests.conftest import ONLINE_RETAIL, purchases

SEEDS = [0, 1, 2, 3]

# Option sets passed unchanged to both write_recommendations and recommend. The
# exclude and allow lists mix known and unknown item ids (items are 0..29).
OPTIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "keep-seen": {"exclude_seen": False},
    "purchases-seen": {"exclude_seen": ["purchase"]},
    "views-carts-seen": {"exclude_seen": ["view", "cart"]},
    "exclude": {"exclude": [0, 3, 7, 999]},
    "allow": {"allow": [1, 2, 4, 5, 8, 13, 21, 999]},
    "backfill": {"backfill": True},
    "allow-backfill": {"allow": [1, 2, 4, 5, 8, 13, 21], "backfill": True},
    "everything": {"exclude_seen": ["cart"], "exclude": [2, 5], "allow": list(range(20)), "backfill": True},
}


def random_events(seed: int, n_users: int = 60, n_items: int = 30) -> pd.DataFrame:
    """Draw views, carts and purchases with fractional weights (seeded)."""
    generator = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        n_events = int(generator.integers(1, 12))
        items = generator.choice(n_items, size=n_events, replace=True)
        kinds = generator.choice(["view", "cart", "purchase"], size=n_events, p=[0.6, 0.25, 0.15])
        weights = generator.choice([0.5, 1.0, 1.7, 2.25], size=n_events)
        rows.extend(
            (user * 3, int(item), str(kind), float(weight))
            for item, kind, weight in zip(items, kinds, weights, strict=True)
        )
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event", "weight"])


def expected_rows(model: Recommender, user_ids: list[Any], n: int, **options: Any) -> list[tuple[Any, ...]]:
    """Build the rows the file must contain, from one ``recommend`` call per user.

    A CrossOccurrence row ends with its signals, as ``{"event", "item_id"}`` dicts.
    """
    rows = []
    for user_id in user_ids:
        result = model.recommend(user_id, n, **options)
        for rank, item in enumerate(result, start=1):
            row = (user_id, rank, item.item_id, item.score, item.reason, list(item.because))
            if isinstance(model, CrossOccurrence):
                row += ([{"event": event, "item_id": item_id} for event, item_id in item.signals],)
            rows.append(row)
    return rows


def file_rows(path: Path) -> list[tuple[Any, ...]]:
    """Read the file back as plain Python rows, ids with the types stored in the file."""
    table = pq.read_table(path)
    names = ["user_id", "rank", "item_id", "score", "reason", "because"]
    if "signals" in table.column_names:
        names.append("signals")
    columns = [table.column(name).to_pylist() for name in names]
    return list(zip(*columns, strict=True))


def all_users(model: Recommender) -> list[Any]:
    return model.user_ids_.ids_of(range(len(model.user_ids_)))


@pytest.fixture(scope="module", params=SEEDS)
def seeded_events(request: pytest.FixtureRequest) -> pd.DataFrame:
    return random_events(request.param)


@pytest.fixture(scope="module", params=["cosine", "cooccurrence", "llr"])
def knn(request: pytest.FixtureRequest, seeded_events: pd.DataFrame) -> ItemKNN:
    """One model per seed and measure, for the equality tests."""
    return ItemKNN(similarity=request.param, n_neighbors=8).fit(seeded_events)


@pytest.fixture(scope="module")
def model() -> ItemKNN:
    """One model, for the tests of arguments, files and logs."""
    return ItemKNN(n_neighbors=8).fit(random_events(0))


# --------------------------------------------------------------------------- equality with recommend


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("n", [1, 4, 40])
def test_rows_equal_recommend(tmp_path: Path, knn: ItemKNN, options: dict[str, Any], n: int) -> None:
    users = all_users(knn)
    # Reversed order, unknown users and a duplicate.
    user_ids = [*users[::-1], -5, users[0], 10**12]
    path = tmp_path / "out.parquet"

    write_recommendations(knn, path, user_ids, n, **options)

    assert file_rows(path) == expected_rows(knn, user_ids, n, **options)


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_all_users_in_position_order(tmp_path: Path, knn: ItemKNN, options: dict[str, Any]) -> None:
    path = tmp_path / "out.parquet"

    write_recommendations(knn, path, n=6, **options)

    assert file_rows(path) == expected_rows(knn, all_users(knn), 6, **options)


def test_scores_bit_identical(tmp_path: Path, knn: ItemKNN) -> None:
    path = tmp_path / "out.parquet"
    users = all_users(knn)

    write_recommendations(knn, path, users, 10)

    expected = [row[3] for row in expected_rows(knn, users, 10)]
    written = pq.read_table(path).column("score").to_numpy()
    assert written.dtype == np.float64
    assert np.array_equal(written.view(np.int64), np.asarray(expected, dtype=np.float64).view(np.int64))


@pytest.mark.parametrize("similarity", ["cosine", "cooccurrence"])
def test_many_neighbors_equal_recommend(tmp_path: Path, similarity: str) -> None:
    # Long histories and full neighbour lists give long sums and many equal scores.
    events = random_events(11, n_users=40, n_items=12)
    events = pd.concat([events, random_events(12, n_users=40, n_items=12)], ignore_index=True)
    model = ItemKNN(similarity=similarity, n_neighbors=50).fit(events)
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, n=12, exclude_seen=False)

    assert file_rows(path) == expected_rows(model, all_users(model), 12, exclude_seen=False)


def test_most_popular_equal_recommend(tmp_path: Path, seeded_events: pd.DataFrame) -> None:
    model = MostPopular().fit(seeded_events)
    user_ids = [*all_users(model), -1]
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, user_ids, 5, exclude=[1, 2])

    assert file_rows(path) == expected_rows(model, user_ids, 5, exclude=[1, 2])


def test_loaded_model_writes_same_file(tmp_path: Path, knn: ItemKNN) -> None:
    knn.save(tmp_path / "model")
    loaded = load(tmp_path / "model")

    write_recommendations(knn, tmp_path / "fitted.parquet", n=5, backfill=True)
    write_recommendations(loaded, tmp_path / "loaded.parquet", n=5, backfill=True)

    assert file_rows(tmp_path / "loaded.parquet") == file_rows(tmp_path / "fitted.parquet")


def test_kernel_split_into_calls(tmp_path: Path, knn: ItemKNN, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fewer slots per kernel call than users x n: the chunk is scored in several calls.
    monkeypatch.setattr(batch_module, "_MAX_SLOTS_PER_CALL", 7)
    path = tmp_path / "out.parquet"

    write_recommendations(knn, path, n=3, backfill=True)

    assert file_rows(path) == expected_rows(knn, all_users(knn), 3, backfill=True)


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_cross_occurrence_equal_recommend(
    tmp_path: Path, seeded_events: pd.DataFrame, options: dict[str, Any]
) -> None:
    model = CrossOccurrence(n_neighbors=8).fit(seeded_events)
    user_ids = [*all_users(model), -1]
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, user_ids, 4, **options)

    assert file_rows(path) == expected_rows(model, user_ids, 4, **options)


def test_cross_occurrence_file_has_signals(tmp_path: Path) -> None:
    model = CrossOccurrence(n_neighbors=8).fit(random_events(0))
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, n=4, exclude_seen=False)

    table = pq.read_table(path)
    assert table.column_names[-1] == "signals"
    assert table.schema.field("signals").type == pa.list_(
        pa.struct(
            [pa.field("event", pa.string(), nullable=False), pa.field("item_id", pa.int64(), nullable=False)]
        )
    )
    signals = [signal for row in table.column("signals").to_pylist() for signal in row]
    assert signals
    assert {signal["event"] for signal in signals} <= {"purchase", "view", "cart"}


def test_item_knn_file_has_no_signals(tmp_path: Path, model: ItemKNN) -> None:
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, n=4)

    assert pq.read_table(path).column_names == ["user_id", "rank", "item_id", "score", "reason", "because"]


def test_method_matches_function(tmp_path: Path, model: ItemKNN) -> None:
    returned = model.write_recommendations(tmp_path / "method.parquet", n=4, exclude=[3])
    write_recommendations(model, tmp_path / "function.parquet", n=4, exclude=[3])

    assert returned == tmp_path / "method.parquet"
    assert file_rows(returned) == file_rows(tmp_path / "function.parquet")


# --------------------------------------------------------------------------- rules and availability

NOW = "2026-03-01T00:00:00Z"

# A made-up catalogue of items 0..29. Item 5 left the shop in 2020, item 6 enters it
# in 2199, and item 7 is on sale from January to June 2026, which includes NOW.
CATALOG = pd.DataFrame(
    {
        "item_id": list(range(30)),
        "category": [f"c{item % 4}" for item in range(30)],
        "price": [item * 1.5 for item in range(30)],
        "available_from": [None] * 6 + ["2199-01-01", "2026-01-01"] + [None] * 22,
        "available_until": [None] * 5 + ["2020-01-01", None, "2026-06-01"] + [None] * 22,
    }
)

RULE_OPTIONS: dict[str, dict[str, Any]] = {
    "availability": {"rules": {"now": NOW}},
    "include": {"rules": {"include": {"category": ["c0", "c1"]}, "now": NOW}},
    "exclude-range": {"rules": {"exclude": {"price": "..6"}, "now": NOW}, "exclude": [9]},
    "boost": {"rules": Rules(boost=[({"category": "c2"}, 3.0)], now=NOW)},
    "boost-backfill": {"rules": Rules(boost=[({"category": "c2"}, 3.0)], now=NOW), "backfill": True},
    "min-support": {"min_support": 2, "rules": {"now": NOW}},
    "min-support-boost-backfill": {
        "min_support": 2,
        "rules": {"boost": [{"where": {"price": "10..30"}, "factor": 0.25}], "now": NOW},
        "backfill": True,
    },
    "cap-backfill": {"rules": {"max_per_category": 1, "now": NOW}, "backfill": True},
}


@pytest.fixture(scope="module")
def catalog_knn(seeded_events: pd.DataFrame) -> ItemKNN:
    """A model per seed with the made-up catalogue attached."""
    return ItemKNN(n_neighbors=8).fit(seeded_events).set_catalog(CATALOG)


@pytest.mark.parametrize("options", RULE_OPTIONS.values(), ids=RULE_OPTIONS.keys())
@pytest.mark.parametrize("n", [3, 40])
def test_rules_rows_equal_recommend(
    tmp_path: Path, catalog_knn: ItemKNN, options: dict[str, Any], n: int
) -> None:
    user_ids = [*all_users(catalog_knn), -5]
    path = tmp_path / "out.parquet"

    write_recommendations(catalog_knn, path, user_ids, n, **options)

    assert file_rows(path) == expected_rows(catalog_knn, user_ids, n, **options)


def test_rules_scores_bit_identical(tmp_path: Path, catalog_knn: ItemKNN) -> None:
    options = RULE_OPTIONS["min-support-boost-backfill"]
    users = all_users(catalog_knn)
    path = tmp_path / "out.parquet"

    write_recommendations(catalog_knn, path, users, 10, **options)

    expected = np.asarray([row[3] for row in expected_rows(catalog_knn, users, 10, **options)])
    written = pq.read_table(path).column("score").to_numpy()
    assert np.array_equal(written.view(np.int64), expected.view(np.int64))


def test_availability_hidden_without_rules(tmp_path: Path) -> None:
    events = random_events(0)
    plain = ItemKNN(n_neighbors=8).fit(events)
    with_catalog = ItemKNN(n_neighbors=8).fit(events).set_catalog(CATALOG)
    user_ids = [*all_users(plain), -1]

    write_recommendations(plain, tmp_path / "plain.parquet", user_ids, 30, backfill=True)
    write_recommendations(with_catalog, tmp_path / "catalog.parquet", user_ids, 30, backfill=True)

    plain_items = set(pq.read_table(tmp_path / "plain.parquet").column("item_id").to_pylist())
    catalog_items = set(pq.read_table(tmp_path / "catalog.parquet").column("item_id").to_pylist())
    assert {5, 6} <= plain_items
    assert 5 not in catalog_items
    assert 6 not in catalog_items


def test_rules_now_shows_window(tmp_path: Path) -> None:
    model = ItemKNN(n_neighbors=8).fit(random_events(0)).set_catalog(CATALOG)
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, [-1], 30, rules={"now": "2026-06-01"})
    at_end = pq.read_table(path).column("item_id").to_pylist()
    write_recommendations(model, path, [-1], 30, rules={"now": "2026-05-31T23:59:59Z"})
    before_end = pq.read_table(path).column("item_id").to_pylist()

    assert 7 not in at_end
    assert 7 in before_end


def test_rules_kernel_path_used(
    tmp_path: Path, catalog_knn: ItemKNN, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("ranked with recommend() instead of the kernel")

    monkeypatch.setattr(batch_module._RecommendEach, "rows", fail)
    options = RULE_OPTIONS["min-support-boost-backfill"]

    write_recommendations(catalog_knn, tmp_path / "out.parquet", n=5, **options)


def test_category_cap_logs_slow_path(
    tmp_path: Path, catalog_knn: ItemKNN, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="recsys.batch")

    write_recommendations(catalog_knn, tmp_path / "out.parquet", n=5, rules={"max_per_category": 2})

    assert "max_per_category=2: ranking each user with recommend()" in caplog.text


def test_min_support_needs_counts(tmp_path: Path) -> None:
    model = MostPopular().fit(random_events(0))

    with pytest.raises(DataValidationError, match=r"min_support needs the co-buyer count"):
        write_recommendations(model, tmp_path / "out.parquet", min_support=2)

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rules": {"include": {"category": "c0"}}}, r"has no catalogue; attach one with set_catalog"),
        ({"rules": {"limit": 3}}, r"rules have unknown field\(s\) \['limit'\]"),
        ({"rules": "category=c0"}, r"rules must be a recsys.Rules or a mapping"),
        ({"min_support": 0}, r"min_support must be an int >= 1; got 0"),
    ],
)
def test_invalid_rules_rejected(
    tmp_path: Path, model: ItemKNN, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(DataValidationError, match=message):
        write_recommendations(model, tmp_path / "out.parquet", **arguments)

    assert list(tmp_path.iterdir()) == []


def test_method_passes_rules(tmp_path: Path, catalog_knn: ItemKNN) -> None:
    options = RULE_OPTIONS["min-support-boost-backfill"]

    returned = catalog_knn.write_recommendations(tmp_path / "method.parquet", n=4, **options)

    assert file_rows(returned) == expected_rows(catalog_knn, all_users(catalog_knn), 4, **options)


def test_rules_unknown_attribute_rejected(tmp_path: Path, catalog_knn: ItemKNN) -> None:
    with pytest.raises(DataValidationError, match=r"include rule names attribute 'colour'"):
        write_recommendations(catalog_knn, tmp_path / "out.parquet", rules={"include": {"colour": "red"}})


# --------------------------------------------------------------------------- ids and schema


def test_int_ids_keep_type(tmp_path: Path) -> None:
    model = ItemKNN().fit(
        pd.DataFrame({"user_id": [7, 7, 9, 9, 9], "item_id": [10, 20, 10, 20, 30], "event": "purchase"})
    )
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, [7, 8])

    schema = pq.read_schema(path)
    assert schema.field("user_id").type == pa.int64()
    assert schema.field("item_id").type == pa.int64()
    assert schema.field("because").type.value_type == pa.int64()
    assert schema.field("rank").type == pa.int32()
    assert schema.field("score").type == pa.float64()
    assert schema.field("reason").type == pa.string()
    assert file_rows(path) == [
        (7, 1, 30, model.recommend(7).scores[0], "similar", [10, 20]),
        (8, 1, 10, 2.0 * 5, "popular", []),
        (8, 2, 20, 2.0 * 5, "popular", []),
        (8, 3, 30, 5.0, "popular", []),
    ]


def test_unicode_ids_round_trip(tmp_path: Path) -> None:
    baskets = {"用户 1": ["茶", "杯 ", "🍵"], " ü-2": ["茶", "杯 "], "naïve": ["🍵", "Ω"]}
    model = ItemKNN().fit(purchases(baskets))
    user_ids = [" ü-2", "用户 1", "naïve", "nobody"]
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, user_ids, 3, backfill=True)

    schema = pq.read_schema(path)
    assert schema.field("user_id").type == pa.string()
    assert schema.field("item_id").type == pa.string()
    assert schema.field("because").type.value_type == pa.string()
    assert file_rows(path) == expected_rows(model, user_ids, 3, backfill=True)
    assert pq.read_table(path).column("user_id").to_pylist()[0] == " ü-2"


def test_string_user_list_on_int_model(tmp_path: Path, model: ItemKNN) -> None:
    # The file keeps the ids as given; lookups follow the canonical-text rule.
    user_ids = ["0", "3", "003", "x"]
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, user_ids, 2)

    assert pq.read_schema(path).field("user_id").type == pa.string()
    assert file_rows(path) == expected_rows(model, user_ids, 2)


@pytest.mark.parametrize(
    "make_user_ids",
    [
        lambda: np.array([0, 3, 6, -1]),
        lambda: [np.int64(0), np.uint8(3), np.int32(6), -1],
        lambda: pd.Series([0, 3, 6, -1]),
        lambda: (user for user in [0, 3, 6, -1]),
    ],
    ids=["ndarray", "numpy-scalars", "series", "generator"],
)
def test_user_id_containers(tmp_path: Path, model: ItemKNN, make_user_ids: Callable[[], Any]) -> None:
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, make_user_ids(), 3)

    assert pq.read_schema(path).field("user_id").type == pa.int64()
    assert file_rows(path) == expected_rows(model, [0, 3, 6, -1], 3)


def test_metadata_names_model(tmp_path: Path, model: ItemKNN) -> None:
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, n=1)

    metadata = pq.read_schema(path).metadata
    assert metadata[b"recsys.model_class"] == b"ItemKNN"
    assert metadata[b"recsys.model_version"] == model.version_.encode()


# --------------------------------------------------------------------------- chunks and empty output


@pytest.mark.parametrize("chunk_size", [1, 3, 10_000])
def test_chunk_size_same_rows(tmp_path: Path, knn: ItemKNN, chunk_size: int) -> None:
    user_ids = [*all_users(knn), -1, all_users(knn)[5]]
    path = tmp_path / "out.parquet"

    write_recommendations(knn, path, user_ids, 4, chunk_size=chunk_size, backfill=True)

    assert file_rows(path) == expected_rows(knn, user_ids, 4, backfill=True)


@pytest.mark.parametrize("chunk_size", [1, 3, 7])
def test_one_row_group_per_chunk(tmp_path: Path, model: ItemKNN, chunk_size: int) -> None:
    users = all_users(model)
    path = tmp_path / "out.parquet"

    # backfill=True gives every user 4 rows, so no chunk is empty.
    write_recommendations(model, path, users, 4, chunk_size=chunk_size, backfill=True)

    parquet = pq.ParquetFile(path)
    assert parquet.num_row_groups == -(-len(users) // chunk_size)
    for group in range(parquet.num_row_groups):
        chunk = users[group * chunk_size : (group + 1) * chunk_size]
        assert parquet.read_row_group(group).column("user_id").to_pylist() == [
            u for u in chunk for _ in range(4)
        ]


@pytest.mark.parametrize(
    ("user_ids", "n"), [([], 10), (None, 0), ([0, -1], 0)], ids=["no-users", "n-0", "listed-n-0"]
)
def test_empty_output_valid_file(tmp_path: Path, model: ItemKNN, user_ids: Any, n: int) -> None:
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, user_ids, n)

    table = pq.read_table(path)
    assert table.num_rows == 0
    assert table.schema.names == ["user_id", "rank", "item_id", "score", "reason", "because"]
    assert table.schema.field("user_id").type == pa.int64()


def test_empty_string_list_uses_model_type(tmp_path: Path) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"], "b": ["x"]}))
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, [])

    assert pq.read_schema(path).field("user_id").type == pa.string()
    assert pq.read_table(path).num_rows == 0


def test_user_without_candidates_has_no_rows(tmp_path: Path) -> None:
    model = ItemKNN().fit(purchases({"a": ["x", "y"], "b": ["x", "y"], "c": ["z"]}))
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, ["a", "c"])

    assert file_rows(path) == []


# --------------------------------------------------------------------------- atomic write


def test_failure_leaves_no_file(tmp_path: Path, model: ItemKNN, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fail_on_second_chunk(self: pq.ParquetWriter, table: pa.Table, *args: Any, **kwargs: Any) -> None:
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise OSError("disk full")
        original(self, table, *args, **kwargs)

    original = pq.ParquetWriter.write_table
    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail_on_second_chunk)
    path = tmp_path / "out.parquet"

    with pytest.raises(OSError, match="disk full"):
        write_recommendations(model, path, n=3, chunk_size=5, backfill=True)

    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_previous_file(tmp_path: Path, model: ItemKNN, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.parquet"
    write_recommendations(model, path, n=2)
    before = path.read_bytes()

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail)

    with pytest.raises(OSError, match="disk full"):
        write_recommendations(model, path, n=5, backfill=True)

    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_replaces_existing_file(tmp_path: Path, model: ItemKNN) -> None:
    path = tmp_path / "out.parquet"
    path.write_text("old content")

    write_recommendations(model, path, [0], 2)

    assert file_rows(path) == expected_rows(model, [0], 2)


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n": -1}, r"n must be an int >= 0; got -1"),
        ({"n": 2.5}, r"n must be an int >= 0; got 2.5"),
        ({"n": True}, r"n must be an int >= 0; got True"),
        ({"chunk_size": 0}, r"chunk_size must be an int >= 1; got 0"),
        ({"chunk_size": "10"}, r"chunk_size must be an int >= 1; got '10'"),
        ({"user_ids": "abc"}, r"user_ids must be a list of ids or None; got str 'abc'"),
        ({"user_ids": [1, 2.5]}, r"user_ids\[1\] must be an int or a str; got float 2.5"),
        ({"user_ids": [1, None]}, r"user_ids\[1\] must be an int or a str; got NoneType None"),
        ({"user_ids": [True]}, r"user_ids\[0\] must be an int or a str; got bool True"),
        ({"user_ids": [2**70]}, r"user_ids\[0\] = 1180591620717411303424 does not fit in int64"),
        ({"user_ids": np.array([1.0])}, r"user_ids\[0\] must be an int or a str; got float 1.0"),
        (
            {"user_ids": [1, "a", 2]},
            r"user_ids must be all int or all str.*user_ids\[0\] = 1 and user_ids\[1\] = 'a'",
        ),
        ({"exclude": "abc"}, r"exclude must be a list of ids; got str 'abc'"),
        ({"allow": 5}, r"allow must be a list of ids; got int 5"),
        ({"exclude_seen": ["refund"]}, r"exclude_seen names event type 'refund'"),
        ({"exclude_seen": "view"}, r"exclude_seen must be True, False or a list of event types"),
    ],
)
def test_invalid_argument_rejected(
    tmp_path: Path, model: ItemKNN, arguments: dict[str, Any], message: str
) -> None:
    path = tmp_path / "out.parquet"

    with pytest.raises(DataValidationError, match=message):
        write_recommendations(model, path, **arguments)

    assert list(tmp_path.iterdir()) == []


def test_directory_path_rejected(tmp_path: Path, model: ItemKNN) -> None:
    with pytest.raises(DataValidationError, match=r"is a directory; give a file path"):
        write_recommendations(model, tmp_path)


def test_missing_directory_raises_oserror(tmp_path: Path, model: ItemKNN) -> None:
    with pytest.raises(FileNotFoundError):
        write_recommendations(model, tmp_path / "no" / "such" / "out.parquet")


def test_unfitted_model_rejected(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match=r"not fitted yet"):
        write_recommendations(ItemKNN(), tmp_path / "out.parquet")


# --------------------------------------------------------------------------- progress and logs


def test_logs_rows_and_users(tmp_path: Path, model: ItemKNN, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="recsys.batch")

    write_recommendations(model, tmp_path / "out.parquet", [0, 3, -1], 2, backfill=True)

    assert "wrote 6 rows for 3 users (1 unknown) to" in caplog.text


def test_unknown_filter_ids_logged(tmp_path: Path, model: ItemKNN, caplog: pytest.LogCaptureFixture) -> None:
    write_recommendations(model, tmp_path / "out.parquet", [0], exclude=[999, 1], allow=[998])

    assert "ignored 2 unknown item id(s) in exclude or allow, first [999, 998]" in caplog.text


def test_progress_bar_counts_users(
    tmp_path: Path, model: ItemKNN, capsys: pytest.CaptureFixture[str]
) -> None:
    write_recommendations(model, tmp_path / "out.parquet", [0, 3, 6], chunk_size=2, show_progress=True)

    assert "3/3" in capsys.readouterr().err


# --------------------------------------------------------------------------- read_user_ids


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("17850\n12\n-3\n", [17850, 12, -3]),
        ("user_id\n17850\n12\n", [17850, 12]),
        ("17850\n017850\n", ["17850", "017850"]),
        ("a b\n 用户\n\nc\n", ["a b", " 用户", "c"]),
        ("user_id,segment\nu1,gold\nu2,silver\n", ["u1", "u2"]),
        ("segment,user_id\ngold,5\nsilver,6\n", [5, 6]),
        ("\ufeffuser_id\n5\n", [5]),
        ("", []),
    ],
    ids=["ints", "header", "leading-zero", "unicode-spaces", "csv", "csv-second-column", "bom", "empty"],
)
def test_read_user_ids_text(tmp_path: Path, content: str, expected: list[Any]) -> None:
    path = tmp_path / "users.csv"
    path.write_text(content, encoding="utf-8")

    values = read_user_ids(path)

    assert values == expected
    assert [type(value) for value in values] == [type(value) for value in expected]


def test_read_user_ids_parquet(tmp_path: Path) -> None:
    path = tmp_path / "users.parquet"
    pd.DataFrame({"user_id": [3, 1, 3]}).to_parquet(path)

    assert read_user_ids(path) == [3, 1, 3]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("user_id,segment\nu1,gold\n,silver\n", r"has an empty id at index 1"),
        ("a,b\nc,d\n", r"has columns \['0', '1'\]; it needs a user_id column"),
        ("a\nb,c\n", r"cannot read user ids file"),
    ],
    ids=["blank-id", "two-columns", "ragged"],
)
def test_read_user_ids_rejects_bad_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "users.txt"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(DataValidationError, match=message):
        read_user_ids(path)


def test_read_user_ids_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"user ids file not found"):
        read_user_ids(tmp_path / "none.txt")


# --------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_online_retail_equals_recommend(tmp_path: Path) -> None:
    events, _ = load_online_retail(ONLINE_RETAIL)
    model = ItemKNN().fit(Interactions.from_events(events))
    users = all_users(model)
    path = tmp_path / "out.parquet"

    write_recommendations(model, path, n=10, chunk_size=1_000)

    assert pq.read_metadata(path).num_row_groups == 5
    assert file_rows(path) == expected_rows(model, users, 10)
