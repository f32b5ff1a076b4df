"""Tests of model directories: round trips, corrupt files and format versions."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import (
    DataValidationError,
    Interactions,
    ItemKNN,
    ModelFormatError,
    MostPopular,
    NotFittedError,
    load,
)
from recsys.persistence import (
    _OLDEST_READABLE_VERSION,
    FORMAT_VERSION,
    MANIFEST,
    content_version,
    read_manifest,
)

Purchases = Callable[[dict[str, list[str]]], pd.DataFrame]


@pytest.fixture
def unicode_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["用户 1", "用户 1", "user 2", "user 2", "user 2", " padded "],
            "item_id": ["商品-東京-01", "café", "商品-東京-01", "café", "007", "007"],
            "event": ["purchase", "view", "purchase", "purchase", "cart", "view"],
        }
    )


@pytest.fixture
def int_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [10, 10, 20, 20, 20, 30],
            "item_id": [1001, 1002, 1001, 1002, 7, 7],
            "event": ["purchase", "view", "purchase", "purchase", "cart", "view"],
        }
    )


@pytest.fixture
def saved(unicode_events: pd.DataFrame, tmp_path: Path) -> Path:
    """An ItemKNN model directory."""
    path = tmp_path / "model"
    ItemKNN().fit(unicode_events).save(path)
    return path


def all_results(model: ItemKNN | MostPopular) -> dict[str, object]:
    """Collect the recommendations of every user and the similar items of every item.

    The output is JSON-friendly and includes the type of each item id.
    """
    users = model.user_ids_.ids_of(range(len(model.user_ids_)))
    items = model.item_ids_.ids_of(range(len(model.item_ids_)))
    recommend = [
        [
            [item.item_id, type(item.item_id).__name__, item.score, item.reason, list(item.because)]
            for item in model.recommend(user_id, 10, backfill=True)
        ]
        for user_id in [*users, "nobody"]
    ]
    similar = [
        [[item.item_id, item.score, item.reason] for item in model.similar_items(item_id, 10)]
        for item_id in items
    ]
    return {"version": model.version_, "recommend": recommend, "similar": similar}


def edit_manifest(path: Path, **changes: object) -> None:
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    manifest.update(changes)
    (path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


# --------------------------------------------------------------------------- round trips


def test_save_writes_manifest(saved: Path) -> None:
    manifest = read_manifest(saved)

    assert manifest["format"] == "recsys-model"
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model_class"] == "ItemKNN"
    assert manifest["ids"] == {"user_id": "str", "item_id": "str"}
    for name, entry in manifest["files"].items():
        assert (saved / name).is_file(), name
        assert len(entry["sha256"]) == 64, name


def test_round_trip_unicode_ids(unicode_events: pd.DataFrame, tmp_path: Path) -> None:
    model = ItemKNN().fit(unicode_events)
    model.save(tmp_path / "model")

    loaded = ItemKNN.load(tmp_path / "model")

    assert loaded.user_ids_ == model.user_ids_
    assert loaded.item_ids_ == model.item_ids_
    assert loaded.item_ids_.ids.tolist() == ["007", "café", "商品-東京-01"]
    assert all(type(id_) is str for id_ in loaded.item_ids_.ids_of([0, 1, 2]))
    assert (
        loaded.recommend("用户 1", backfill=True).item_ids
        == model.recommend("用户 1", backfill=True).item_ids
    )
    assert loaded.recommend(" padded ").known_user is True
    assert all_results(loaded) == all_results(model)


def test_round_trip_int_ids(int_events: pd.DataFrame, tmp_path: Path) -> None:
    model = ItemKNN().fit(int_events)
    model.save(tmp_path / "model")

    loaded = ItemKNN.load(tmp_path / "model")

    assert loaded.item_ids_.kind == "int"
    assert loaded.item_ids_.ids.tolist() == [7, 1001, 1002]
    assert all(type(id_) is int for id_ in loaded.recommend(30, backfill=True).item_ids)
    assert loaded.recommend("10").known_user is True
    assert all_results(loaded) == all_results(model)


def test_round_trip_most_popular(int_events: pd.DataFrame, tmp_path: Path) -> None:
    model = MostPopular().fit(int_events)
    model.save(tmp_path / "model")

    loaded = MostPopular.load(tmp_path / "model")

    assert all_results(loaded) == all_results(model)
    assert content_version(loaded) == model.version_


def test_round_trip_item_metadata(purchases: Purchases, tmp_path: Path) -> None:
    metadata = pd.DataFrame({"item_id": ["y", "z"], "description": ["blue mug", None], "price": [2.5, 3.0]})
    interactions = Interactions.from_events(purchases({"a": ["x", "y", "z"]}), item_metadata=metadata)
    model = ItemKNN().fit(interactions)
    model.save(tmp_path / "model")

    loaded = ItemKNN.load(tmp_path / "model")

    expected = [{"description": "blue mug", "price": 2.5}, {"price": 3.0}, {}]
    assert model.get_item_metadata(["y", "z", "x"]) == expected
    assert loaded.get_item_metadata(["y", "z", "x"]) == expected
    assert content_version(loaded) == model.version_


def test_round_trip_decay_params(tmp_path: Path) -> None:
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b"],
            "item_id": ["x", "y", "x", "y"],
            "event": "purchase",
            "timestamp": ["2024-01-01", "2024-01-08", "2024-01-08", "2024-01-15"],
        }
    )
    model = ItemKNN(half_life_days=7).fit(events)
    model.save(tmp_path / "model")

    loaded = ItemKNN.load(tmp_path / "model")

    assert loaded.data_params_ == model.data_params_
    assert loaded.data_params_["reference_time"] == "2024-01-15T00:00:00+00:00"
    assert loaded.get_params()["half_life_days"] == 7
    assert content_version(loaded) == model.version_


def test_load_fresh_process(unicode_events: pd.DataFrame, tmp_path: Path) -> None:
    model = ItemKNN(similarity="llr").fit(unicode_events)
    model.save(tmp_path / "model")
    script = textwrap.dedent(
        """
        import json, sys
        import recsys

        model = recsys.load(sys.argv[1])
        users = model.user_ids_.ids_of(range(len(model.user_ids_)))
        items = model.item_ids_.ids_of(range(len(model.item_ids_)))
        recommend = [
            [[item.item_id, type(item.item_id).__name__, item.score, item.reason, list(item.because)]
             for item in model.recommend(user_id, 10, backfill=True)]
            for user_id in [*users, "nobody"]
        ]
        similar = [
            [[item.item_id, item.score, item.reason] for item in model.similar_items(item_id, 10)]
            for item_id in items
        ]
        print(json.dumps({"version": model.version_, "recommend": recommend, "similar": similar}))
        """
    )

    completed = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "model")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == json.loads(json.dumps(all_results(model)))


# --------------------------------------------------------------------------- saving over directories


def test_save_over_other_directory_rejected(unicode_events: pd.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"not a model")
    model = ItemKNN().fit(unicode_events)

    with pytest.raises(DataValidationError, match=r"it exists and is not a recsys model directory"):
        model.save(target)

    assert sorted(path.name for path in target.iterdir()) == ["holiday.jpg"]
    assert (target / "holiday.jpg").read_bytes() == b"not a model"


def test_save_over_file_rejected(unicode_events: pd.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.write_text("a file", encoding="utf-8")

    with pytest.raises(DataValidationError, match=r"is not a recsys model directory"):
        ItemKNN().fit(unicode_events).save(target)

    assert target.read_text(encoding="utf-8") == "a file"


def test_save_into_empty_directory(unicode_events: pd.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    model = ItemKNN().fit(unicode_events)

    model.save(target)

    assert load(target).version_ == model.version_


def test_save_creates_parents(unicode_events: pd.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "model"

    ItemKNN().fit(unicode_events).save(target)

    assert (target / MANIFEST).is_file()


def test_save_replaces_model_directory(
    unicode_events: pd.DataFrame, int_events: pd.DataFrame, tmp_path: Path
) -> None:
    target = tmp_path / "model"
    ItemKNN().fit(unicode_events).save(target)
    replacement = MostPopular().fit(int_events)

    replacement.save(target)

    loaded = load(target)
    assert type(loaded) is MostPopular
    assert loaded.version_ == replacement.version_
    assert not (target / "similarity_data.npy").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]


def test_save_not_fitted(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match=r"this ItemKNN is not fitted yet"):
        ItemKNN().save(tmp_path / "model")

    assert not (tmp_path / "model").exists()


# --------------------------------------------------------------------------- corrupt or foreign directories


def test_load_newer_format_version(saved: Path) -> None:
    edit_manifest(saved, format_version=FORMAT_VERSION + 1, recsys_version="9.0.0")

    with pytest.raises(
        ModelFormatError,
        match=rf"format version {FORMAT_VERSION + 1}, written by a newer recsys \(9\.0\.0\).*"
        rf"reads format versions {_OLDEST_READABLE_VERSION} to {FORMAT_VERSION}\. "
        r"Upgrade recsys or retrain the model",
    ):
        load(saved)


def test_load_older_format_version(saved: Path) -> None:
    edit_manifest(saved, format_version=0)

    with pytest.raises(
        ModelFormatError,
        match=rf"format version 0; this recsys .* reads format versions {_OLDEST_READABLE_VERSION} to "
        rf"{FORMAT_VERSION}\. Retrain the model",
    ):
        load(saved)


@pytest.mark.parametrize("bad", ["1", 1.0, True, None])
def test_load_invalid_format_version(saved: Path, bad: object) -> None:
    edit_manifest(saved, format_version=bad)

    with pytest.raises(ModelFormatError, match=rf"has an invalid format_version {re.escape(repr(bad))}"):
        load(saved)


def test_load_truncated_npy(saved: Path) -> None:
    file = saved / "similarity_data.npy"
    file.write_bytes(file.read_bytes()[:-4])

    with pytest.raises(ModelFormatError, match=r"checksum mismatch for 'similarity_data.npy'"):
        load(saved)


def test_load_changed_npy(saved: Path) -> None:
    file = saved / "popularity.npy"
    np.save(file, np.zeros(3))

    with pytest.raises(ModelFormatError, match=r"checksum mismatch for 'popularity.npy'.*re-save or retrain"):
        load(saved)


def test_load_missing_file(saved: Path) -> None:
    (saved / "item_ids_utf8.npy").unlink()

    with pytest.raises(ModelFormatError, match=r"model file 'item_ids_utf8.npy' is missing from"):
        load(saved)


def test_load_manifest_shape_mismatch(saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"]["popularity.npy"]["shape"] = [99]
    (saved / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    with pytest.raises(
        ModelFormatError, match=r"model file 'popularity.npy' has dtype float64 and shape \[3\]"
    ):
        load(saved)


def test_load_corrupt_manifest(saved: Path) -> None:
    (saved / MANIFEST).write_text('{"format": "recsys-model", ', encoding="utf-8")

    with pytest.raises(ModelFormatError, match=r"manifest.json' is not valid JSON .*re-save the model"):
        load(saved)


def test_load_manifest_not_utf8(saved: Path) -> None:
    (saved / MANIFEST).write_bytes(b"\xff\xfe{}")

    with pytest.raises(ModelFormatError, match=r"is not valid JSON"):
        load(saved)


def test_load_foreign_manifest(saved: Path) -> None:
    (saved / MANIFEST).write_text('{"name": "something else"}', encoding="utf-8")

    with pytest.raises(ModelFormatError, match=r"is not a recsys model manifest"):
        load(saved)


def test_load_manifest_missing_key(saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST).read_text(encoding="utf-8"))
    del manifest["files"]
    (saved / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    with pytest.raises(ModelFormatError, match=r"is missing the key 'files'"):
        load(saved)


def test_load_unknown_model_class(saved: Path) -> None:
    edit_manifest(saved, model_class="DeepModel")

    with pytest.raises(
        ModelFormatError, match=r"unknown model class 'DeepModel'; known: \[.*'ItemKNN', 'MostPopular'"
    ):
        load(saved)


def test_load_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match=r"model directory not found: .*absent"):
        load(tmp_path / "absent")


def test_load_directory_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(
        ModelFormatError, match=r"has no manifest.json, so it is not a recsys model directory"
    ):
        load(tmp_path)


def test_load_expected_class_mismatch(saved: Path) -> None:
    with pytest.raises(
        ModelFormatError, match=r"contains a model of class ItemKNN, not MostPopular; use recsys.load\(\)"
    ):
        MostPopular.load(saved)


def test_load_item_knn_from_popular_dir(int_events: pd.DataFrame, tmp_path: Path) -> None:
    MostPopular().fit(int_events).save(tmp_path / "model")

    with pytest.raises(ModelFormatError, match=r"contains a model of class MostPopular, not ItemKNN"):
        ItemKNN.load(tmp_path / "model")


def test_load_inconsistent_arrays(int_events: pd.DataFrame, tmp_path: Path) -> None:
    # The checksums match, but the item ids are not sorted, so the directory was not
    # written by save_model.
    path = tmp_path / "model"
    ItemKNN().fit(int_events).save(path)
    file = path / "item_ids.npy"
    np.save(file, np.load(file)[::-1].copy())
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"]["item_ids.npy"]["sha256"] = hashlib.sha256(file.read_bytes()).hexdigest()
    (path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    with pytest.raises(ModelFormatError, match=r"is inconsistent \(stored item_ids values are not sorted"):
        load(path)


def test_version_ignores_show_progress(purchases) -> None:
    events = purchases({"a": ["x1", "x2"], "b": ["x1", "x3"]})

    quiet = ItemKNN(show_progress=False).fit(events)
    chatty = ItemKNN(show_progress=True).fit(events)

    assert quiet.version_ == chatty.version_


# --------------------------------------------------------------------------- where the data ends


def test_fit_records_data_until(int_events: pd.DataFrame) -> None:
    times = ["2026-01-02T10:00:00.5+02:00"] * 5 + ["2026-01-02T09:00:00.25Z"]

    model = ItemKNN().fit(int_events.assign(timestamp=times))

    assert model.data_until_ == pd.Timestamp("2026-01-02T09:00:00.25Z")
    assert str(model.data_until_.tz) == "UTC"
    assert model.store_high_water_mark_ is None


def test_fit_without_timestamps_unknown_end(int_events: pd.DataFrame) -> None:
    model = ItemKNN().fit(int_events)

    assert model.data_until_ is None


def test_data_end_round_trip(int_events: pd.DataFrame, tmp_path: Path) -> None:
    times = pd.Timestamp("2026-01-02T09:00:00.123456789Z") + pd.to_timedelta(range(6), unit="s")
    model = ItemKNN().fit(int_events.assign(timestamp=times))
    model.store_high_water_mark_ = 2**40
    model.version_ = content_version(model)

    model.save(tmp_path / "model")
    manifest = read_manifest(tmp_path / "model")
    loaded = load(tmp_path / "model")

    assert manifest["data_until"] == "2026-01-02T09:00:05.123456789+00:00"
    assert manifest["store_high_water_mark"] == 2**40
    assert loaded.data_until_ == times.max()
    assert loaded.store_high_water_mark_ == 2**40
    assert content_version(loaded) == model.version_


def test_unknown_data_end_not_in_manifest(saved: Path) -> None:
    manifest = read_manifest(saved)
    loaded = load(saved)

    assert "data_until" not in manifest
    assert "store_high_water_mark" not in manifest
    assert loaded.data_until_ is None
    assert loaded.store_high_water_mark_ is None


def test_format_1_directory_unknown_end(int_events: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "model"
    ItemKNN().fit(int_events.assign(timestamp=pd.Timestamp("2026-01-01", tz="UTC"))).save(path)
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    del manifest["data_until"]
    manifest["format_version"] = 1
    (path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    loaded = load(path)

    assert loaded.data_until_ is None
    assert loaded.store_high_water_mark_ is None


def test_version_covers_data_end(int_events: pd.DataFrame) -> None:
    early = ItemKNN().fit(int_events.assign(timestamp=pd.Timestamp("2026-01-01", tz="UTC")))
    late = ItemKNN().fit(int_events.assign(timestamp=pd.Timestamp("2026-02-01", tz="UTC")))
    untimed = ItemKNN().fit(int_events)
    marked = ItemKNN().fit(int_events)
    marked.store_high_water_mark_ = 6

    assert early.version_ != late.version_
    assert early.version_ != untimed.version_
    assert content_version(marked) != untimed.version_


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("data_until", "yesterday", "invalid data_until 'yesterday'"),
        ("data_until", "2026-01-01T00:00:00", "data_until '2026-01-01T00:00:00' without a time zone"),
        ("store_high_water_mark", "12", "invalid store_high_water_mark '12'"),
        ("store_high_water_mark", True, "invalid store_high_water_mark True"),
    ],
)
def test_load_invalid_data_end(saved: Path, key: str, value: object, message: str) -> None:
    edit_manifest(saved, **{key: value})

    with pytest.raises(ModelFormatError, match=re.escape(message)):
        load(saved)
