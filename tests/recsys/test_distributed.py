"""Tests of recsys.distributed: a fit on a local Dask cluster equals a single-machine fit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

pytest.importorskip("dask.dataframe", reason="needs the 'distributed' extra")
pytest.importorskip("distributed", reason="needs the 'distributed' extra")

import dask
import dask.dataframe as dd
from distributed import Client, LocalCluster

import recsys.distributed
from recsys import SIMILARITIES, DataValidationError, Interactions, ItemKNN
from recsys.distributed import fit_distributed
from recsys.similarity import cap_user_items

RTOL = 1e-5
EVENT_WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """A client of two in-process workers with one thread each, on 127.0.0.1, shared by the module."""
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as cluster_client,
    ):
        yield cluster_client


def random_events(
    seed: int = 0, *, n_rows: int = 1500, n_users: int = 120, n_items: int = 60, int_ids: bool = False
) -> pd.DataFrame:
    """Return seeded events: Zipf-popular items, three event types, timestamps over 90 days."""
    generator = np.random.default_rng(seed)
    users = generator.integers(0, n_users, n_rows)
    items = (generator.zipf(1.4, n_rows) - 1) % n_items
    events = generator.choice(["view", "cart", "purchase"], n_rows, p=[0.6, 0.25, 0.15])
    seconds = generator.integers(0, 90 * 86_400, n_rows)
    frame = pd.DataFrame(
        {
            "user_id": users * 7 + 3 if int_ids else [f"user {user:03d}" for user in users],
            "item_id": items * 11 + 5 if int_ids else [f"item-{item}" for item in items],
            "event": events,
            "timestamp": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(seconds, unit="s"),
        }
    )
    return frame


def by_user(events: pd.DataFrame, n_partitions: int = 4, *, empty: bool = True) -> dd.DataFrame:
    """Split events into a Dask DataFrame by user hash, the last partition empty when ``empty``.

    Each partition keeps the original index, so that partitions do not start at 0.
    """
    part_of_row = pd.util.hash_array(events["user_id"].to_numpy()) % np.uint64(n_partitions)
    parts = [events[part_of_row == part] for part in range(n_partitions)]
    if empty:
        parts.append(events.iloc[:0])
    return dd.from_delayed([dask.delayed(part) for part in parts], meta=events.iloc[:0])


def assert_same_fit(actual: ItemKNN, expected: ItemKNN, *, exact: bool = True) -> None:
    """Check that two fitted models have the same state; scores equal to RTOL unless ``exact``."""
    assert actual.user_ids_ == expected.user_ids_
    assert actual.item_ids_ == expected.item_ids_
    assert actual.user_ids_.kind == expected.user_ids_.kind
    assert np.array_equal(actual.user_items_.indptr, expected.user_items_.indptr)
    assert np.array_equal(actual.user_items_.indices, expected.user_items_.indices)
    assert np.array_equal(actual.user_items_.data, expected.user_items_.data)
    assert np.array_equal(actual.seen_events_, expected.seen_events_)
    assert np.array_equal(actual.popularity_, expected.popularity_)
    assert actual.data_params_ == expected.data_params_
    assert actual.n_events_ == expected.n_events_
    assert actual.data_until_ == expected.data_until_
    assert actual.event_names_ == expected.event_names_
    assert np.array_equal(actual.similarity_.indptr, expected.similarity_.indptr)
    assert np.array_equal(actual.similarity_.indices, expected.similarity_.indices)
    assert actual.similarity_.data.dtype == expected.similarity_.data.dtype
    np.testing.assert_allclose(actual.similarity_.data, expected.similarity_.data, rtol=RTOL)
    if exact:
        assert np.array_equal(actual.similarity_.data, expected.similarity_.data)
        assert actual.version_ == expected.version_


def assert_same_answers(actual: ItemKNN, expected: ItemKNN) -> None:
    """Check recommend and similar_items for a sample of users and items."""
    for user in expected.user_ids_.ids[::9]:
        mine, theirs = actual.recommend(user, n=8), expected.recommend(user, n=8)
        assert mine.item_ids == theirs.item_ids
        np.testing.assert_allclose([item.score for item in mine], [item.score for item in theirs], rtol=RTOL)
    for item in expected.item_ids_.ids[::5]:
        assert actual.similar_items(item, n=8).item_ids == expected.similar_items(item, n=8).item_ids


# --------------------------------------------------------------------------- equality with ItemKNN.fit


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("min_support", [1, 2])
def test_fit_distributed_equals_fit(client: Client, similarity: str, min_support: int) -> None:
    events = random_events()
    params: dict[str, Any] = {"similarity": similarity, "n_neighbors": 10, "min_support": min_support}

    actual = fit_distributed(by_user(events), ItemKNN(**params), client=client)
    expected = ItemKNN(**params).fit(events)

    assert_same_fit(actual, expected)


@pytest.mark.parametrize("int_ids", [False, True])
def test_fit_distributed_id_kinds(client: Client, int_ids: bool) -> None:
    events = random_events(1, int_ids=int_ids)

    actual = fit_distributed(by_user(events, 3), ItemKNN(), client=client)
    expected = ItemKNN().fit(events)

    assert actual.user_ids_.kind == ("int" if int_ids else "str")
    assert actual.item_ids_.kind == ("int" if int_ids else "str")
    assert_same_fit(actual, expected)
    assert_same_answers(actual, expected)


@pytest.mark.parametrize("similarity", ["cosine", "cooccurrence", "llr"])
@pytest.mark.parametrize("min_support", [1, 2])
def test_fit_distributed_time_decay(client: Client, similarity: str, min_support: int) -> None:
    events = random_events(2)
    params: dict[str, Any] = {
        "similarity": similarity,
        "min_support": min_support,
        "half_life_days": 20.0,
        "event_weights": {"view": 1.0, "cart": 2.5, "purchase": 7.0},
    }

    actual = fit_distributed(by_user(events), ItemKNN(**params), client=client)
    expected = ItemKNN(**params).fit(events)

    # Decayed weights make the float64 sums depend on their order.
    assert_same_fit(actual, expected, exact=similarity == "llr")
    assert actual.data_params_["reference_time"] == events["timestamp"].max().isoformat()
    assert_same_answers(actual, expected)


def test_fit_distributed_records_data_until(client: Client, tmp_path: Path) -> None:
    events = random_events(4)
    events.to_csv(tmp_path / "events.csv", index=False)

    from_frame = fit_distributed(by_user(events), ItemKNN(), client=client)
    from_csv = fit_distributed(str(tmp_path / "events.csv"), ItemKNN(), client=client)
    untimed = fit_distributed(by_user(events.drop(columns=["timestamp"])), ItemKNN(), client=client)

    assert from_frame.data_until_ == events["timestamp"].max()
    assert from_csv.data_until_ == events["timestamp"].max()
    assert untimed.data_until_ is None
    assert from_frame.store_high_water_mark_ is None


def test_fit_distributed_given_reference_time(client: Client) -> None:
    events = random_events(3)
    reference = pd.Timestamp("2024-06-01", tz="UTC")
    interactions = Interactions.from_events(events, half_life_days=5.0, reference_time=reference)

    actual = fit_distributed(
        by_user(events), ItemKNN(half_life_days=5.0), client=client, reference_time=reference
    )
    expected = ItemKNN(half_life_days=5.0).fit(interactions)

    assert_same_fit(actual, expected, exact=False)


def test_fit_distributed_weights_and_repeats(client: Client) -> None:
    events = random_events(4)
    events["weight"] = np.random.default_rng(4).choice([0.0, 0.5, 1.0, 2.0], len(events))
    params: dict[str, Any] = {
        "count_repeats": True,
        "event_weights": {"view": 0.5, "cart": 2.0, "purchase": 4.0},
    }

    actual = fit_distributed(by_user(events), ItemKNN(**params), client=client)
    expected = ItemKNN(**params).fit(events)

    assert_same_fit(actual, expected)
    assert_same_answers(actual, expected)


@pytest.mark.parametrize("similarity", ["cosine", "cooccurrence", "jaccard"])
def test_fit_distributed_equal_weights(client: Client, similarity: str) -> None:
    # Purchases only: item_similarity counts users instead of multiplying weights.
    events = random_events(5).assign(event="purchase")

    actual = fit_distributed(by_user(events), ItemKNN(similarity=similarity), client=client)
    expected = ItemKNN(similarity=similarity).fit(events)

    assert_same_fit(actual, expected)


@pytest.mark.parametrize("similarity", ["cosine", "cooccurrence", "lift"])
def test_fit_distributed_capped_users(client: Client, similarity: str) -> None:
    events = random_events(6, n_users=30)
    params: dict[str, Any] = {"similarity": similarity, "max_items_per_user": 6, "random_state": 7}

    actual = fit_distributed(by_user(events), ItemKNN(**params), client=client)
    expected = ItemKNN(**params).fit(events)
    uncapped = ItemKNN(similarity=similarity).fit(events)

    assert_same_fit(actual, expected)
    assert (np.diff(expected.user_items_.indptr) > 6).any()
    assert not np.array_equal(expected.similarity_.data, uncapped.similarity_.data)


@pytest.mark.parametrize("item_blocks", [2, 3, 1000])
def test_fit_distributed_item_blocks(client: Client, item_blocks: int) -> None:
    events = random_events(7)
    params: dict[str, Any] = {"similarity": "cosine", "min_support": 2, "n_neighbors": 5}

    actual = fit_distributed(by_user(events), ItemKNN(**params), client=client, item_blocks=item_blocks)
    expected = ItemKNN(**params).fit(events)

    assert_same_fit(actual, expected)


def test_fit_distributed_user_index(client: Client) -> None:
    events = random_events(27)
    indexed = dd.from_pandas(events, npartitions=3).set_index("user_id")

    actual = fit_distributed(indexed, ItemKNN(), client=client)

    assert indexed.npartitions > 1
    assert_same_fit(actual, ItemKNN().fit(events))


def test_fit_distributed_one_partition(client: Client) -> None:
    events = random_events(8)

    actual = fit_distributed(by_user(events, 1, empty=False), ItemKNN(), client=client)

    assert_same_fit(actual, ItemKNN().fit(events))


def test_fit_distributed_refits_model(client: Client) -> None:
    model = ItemKNN().fit(random_events(9))
    events = random_events(10, int_ids=True)

    fitted = fit_distributed(by_user(events), model, client=client)

    assert fitted is model
    assert_same_fit(fitted, ItemKNN().fit(events))


# --------------------------------------------------------------------------- schedulers and inputs


def test_fit_distributed_scheduler_address(client: Client) -> None:
    events = random_events(11)
    address = client.scheduler.address

    actual = fit_distributed(by_user(events), ItemKNN(), address=address)

    assert address.startswith("tcp://127.0.0.1:")
    assert_same_fit(actual, ItemKNN().fit(events))


def test_fit_distributed_default_scheduler() -> None:
    events = random_events(12)

    with dask.config.set(scheduler="threads"):
        actual = fit_distributed(by_user(events), ItemKNN(similarity="jaccard"))

    assert_same_fit(actual, ItemKNN(similarity="jaccard").fit(events))


def test_fit_distributed_parquet_files(client: Client, tmp_path: Path) -> None:
    events = random_events(13, int_ids=True)
    for number, start in enumerate(range(0, len(events), 500)):
        events.iloc[start : start + 500].to_parquet(tmp_path / f"events-{number}.parquet")

    actual = fit_distributed(str(tmp_path / "*.parquet"), ItemKNN(half_life_days=30.0), client=client)
    expected = ItemKNN(half_life_days=30.0).fit(events)

    assert_same_fit(actual, expected, exact=False)


def test_fit_distributed_csv_files(client: Client, tmp_path: Path) -> None:
    events = random_events(14, int_ids=True).drop(columns="timestamp")
    events.to_csv(tmp_path / "all.csv", index=False)
    (tmp_path / "parts").mkdir()
    for number, start in enumerate(range(0, len(events), 400)):
        events.iloc[start : start + 400].to_csv(tmp_path / "parts" / f"events-{number}.csv", index=False)

    actual = fit_distributed(tmp_path / "parts" / "*.csv", ItemKNN(), client=client)
    expected = ItemKNN().fit(tmp_path / "all.csv")

    assert actual.user_ids_.kind == "int"
    assert_same_fit(actual, expected)


def test_fit_distributed_csv_ids_text_in_one_file(client: Client, tmp_path: Path) -> None:
    # "007" is not a canonical integer, so every item id of every file stays text.
    events = random_events(15, int_ids=True).drop(columns="timestamp")
    events["item_id"] = events["item_id"].astype(str)
    events.loc[len(events) - 1, "item_id"] = "007"
    events.to_csv(tmp_path / "all.csv", index=False)
    (tmp_path / "parts").mkdir()
    events.iloc[:1000].to_csv(tmp_path / "parts" / "a.csv.gz", index=False)
    events.iloc[1000:].to_csv(tmp_path / "parts" / "b.csv.gz", index=False)

    actual = fit_distributed(str(tmp_path / "parts" / "*.csv.gz"), ItemKNN(), client=client)
    expected = ItemKNN().fit(tmp_path / "all.csv")

    assert actual.item_ids_.kind == "str"
    assert actual.user_ids_.kind == "int"
    assert_same_fit(actual, expected)


# --------------------------------------------------------------------------- errors


def test_fit_distributed_rejects_split_users(client: Client) -> None:
    events = random_events(16)
    unpartitioned = dd.from_pandas(events, npartitions=3, sort=False)

    with pytest.raises(DataValidationError, match="partitioned by user"):
        fit_distributed(unpartitioned, ItemKNN(), client=client)


@pytest.mark.parametrize("column", ["user_id", "item_id"])
def test_fit_distributed_rejects_mixed_id_kinds(client: Client, column: str) -> None:
    first = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "event": "view"}, dtype=object)
    second = pd.DataFrame({"user_id": ["c", "d"], "item_id": ["x", "z"], "event": "view"}, dtype=object)
    first[column] = pd.Series([1, 2], dtype=object)

    # Dask would otherwise turn the object column into strings, ints included.
    with dask.config.set({"dataframe.convert-string": False}):
        frame = dd.from_delayed([dask.delayed(first), dask.delayed(second)], meta=first.iloc[:0])
        with pytest.raises(DataValidationError, match=f"'{column}' mixes int and str ids across partitions"):
            fit_distributed(frame, ItemKNN(), client=client)


def test_fit_distributed_rejects_missing_column(client: Client) -> None:
    events = random_events(17).drop(columns="event")

    with pytest.raises(DataValidationError, match=r"missing the required column\(s\) \['event'\]"):
        fit_distributed(by_user(events), ItemKNN(), client=client)


def test_fit_distributed_rejects_no_rows(client: Client) -> None:
    events = random_events(18).iloc[:0]

    with pytest.raises(DataValidationError, match="no rows"):
        fit_distributed(by_user(events, 2), ItemKNN(), client=client)


def test_fit_distributed_rejects_zero_weights(client: Client) -> None:
    events = random_events(19).assign(weight=0.0)

    with pytest.raises(DataValidationError, match="cannot fit on empty data"):
        fit_distributed(by_user(events, 2), ItemKNN(), client=client)


def test_fit_distributed_rejects_bad_parameters(client: Client) -> None:
    frame = by_user(random_events(20))

    with pytest.raises(DataValidationError, match="similarity must be one of"):
        fit_distributed(frame, ItemKNN(similarity="dice"), client=client)
    with pytest.raises(DataValidationError, match="max_items_per_user must be an int >= 1"):
        fit_distributed(frame, ItemKNN(max_items_per_user=0), client=client)
    with pytest.raises(DataValidationError, match="half_life_days must be a finite number > 0"):
        fit_distributed(frame, ItemKNN(half_life_days=-1.0), client=client)
    with pytest.raises(DataValidationError, match="item_blocks must be an int >= 1"):
        fit_distributed(frame, ItemKNN(), client=client, item_blocks=0)


def test_fit_distributed_rejects_decay_without_timestamps(client: Client) -> None:
    events = random_events(21).drop(columns="timestamp")

    with pytest.raises(DataValidationError, match="needs a 'timestamp' column"):
        fit_distributed(by_user(events), ItemKNN(half_life_days=3.0), client=client)


def test_fit_distributed_rejects_client_and_address(client: Client) -> None:
    with pytest.raises(DataValidationError, match="not both"):
        fit_distributed(by_user(random_events(22)), ItemKNN(), client=client, address="tcp://127.0.0.1:1")


def test_fit_distributed_rejects_other_models() -> None:
    from recsys.models.popular import MostPopular

    with pytest.raises(DataValidationError, match="fits a plain ItemKNN model; got MostPopular"):
        fit_distributed(by_user(random_events(23)), MostPopular())  # type: ignore[arg-type]


def test_fit_distributed_rejects_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="events file not found"):
        fit_distributed(tmp_path / "none-*.csv", ItemKNN())


def test_fit_distributed_rejects_pandas_frame() -> None:
    with pytest.raises(DataValidationError, match="needs a Dask DataFrame"):
        fit_distributed(random_events(24), ItemKNN())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- helpers against recsys.data


@pytest.mark.parametrize("half_life_days", [None, 10.0])
def test_partition_helpers_equal_from_events(half_life_days: float | None) -> None:
    events = random_events(25)
    expected = Interactions.from_events(events, half_life_days=half_life_days, count_repeats=True)
    settings = recsys.distributed._DataSettings(
        EVENT_WEIGHTS, half_life_days, expected.reference_time, True, ()
    )
    frames = [part.compute() for part in by_user(events).to_delayed()]

    local = [recsys.distributed._local_interactions(frame, settings) for frame in frames]
    item_ids = recsys.distributed._union_ids(*[recsys.distributed._item_ids(part) for part in local])
    user_lists = [recsys.distributed._user_ids(part) for part in local]
    user_map = recsys.distributed._global_user_ids(user_lists)
    rows = [
        np.empty(0, dtype=np.int64) if users is None else np.searchsorted(user_map.ids, users)
        for users in user_lists
    ]
    pieces = [
        recsys.distributed._globalize(part, item_ids, part_rows)
        for part, part_rows in zip(local, rows, strict=True)
    ]
    data_until = recsys.distributed._newest([recsys.distributed._data_until(part) for part in local])
    actual = recsys.distributed._assemble(
        pieces, user_map, recsys.IdMap(item_ids, "item_id"), settings, len(events), data_until
    )

    assert local[-1] is None
    assert actual.data_until == expected.data_until
    assert actual.user_ids == expected.user_ids
    assert actual.item_ids == expected.item_ids
    assert actual.reference_time == expected.reference_time
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(actual.user_items, name), getattr(expected.user_items, name))
        assert getattr(actual.user_items, name).dtype == getattr(expected.user_items, name).dtype
    for event, matrix in expected.event_user_items.items():
        assert (actual.event_user_items[event] != matrix).nnz == 0


def test_cap_rows_equals_cap_user_items() -> None:
    generator = np.random.default_rng(26)
    dense = (generator.random((40, 30)) < 0.4) * generator.integers(1, 5, (40, 30))
    matrix = sp.csr_array(dense.astype(np.float32))
    lengths = np.diff(matrix.indptr)
    heavy = np.flatnonzero(lengths > 8)
    expected = cap_user_items(matrix, 8, random_state=3)

    # Cap rows 0..19 and 20..39 apart, as two partitions would.
    parts = []
    for first in (0, 20):
        rows = heavy[(heavy >= first) & (heavy < first + 20)]
        part = recsys.distributed._cap_rows(
            matrix[first : first + 20], rows - first, matrix.indptr[rows], 8, 3
        )
        parts.append(part)
    actual = sp.csr_array(sp.vstack(parts))

    assert len(heavy) > 2
    assert np.array_equal(actual.indptr, expected.indptr)
    assert np.array_equal(actual.indices, expected.indices)
    assert np.array_equal(actual.data, expected.data)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (recsys.RP3Beta(), "fit_distributed fits a plain ItemKNN model; got RP3Beta"),
        (recsys.ItemKNN(weighting="bm25"), "does not support weighting='bm25'"),
        (recsys.ItemKNN(shrinkage=5.0), "shrinkage=5.0"),
    ],
)
def test_fit_distributed_rejects_unsupported_models(model, message):
    with pytest.raises(DataValidationError, match=message):
        fit_distributed("unused.parquet", model)
