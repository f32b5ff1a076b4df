"""Model directories: a JSON manifest plus ``.npy`` arrays, never pickle.

Layout of a model directory::

    manifest.json          format and version, model class, parameters, counts,
                           fitted-at, where the training data ends (``data_until``
                           and ``store_high_water_mark``, absent when unknown),
                           and the dtype, shape and SHA-256 of every file
    <name>.npy             one array each, loadable memory-mapped
    item_metadata.json     item attributes by position (only when the model has them)
    catalog_*.npy          the item catalogue's ids and typed attribute columns,
                           described under "catalog" in the manifest (only when the
                           model has a catalogue; see :mod:`recsys.catalog`)

String ids are stored as one UTF-8 byte array plus int64 offsets, so any Unicode id
round-trips exactly. Loading checks the format version and every checksum before
it builds the model, and raises :class:`~recsys.exceptions.ModelFormatError` with
the reason and the fix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from itertools import pairwise
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._ids import IdMap
from recsys._version import __version__
from recsys.catalog import Catalog, catalog_from_metadata
from recsys.exceptions import DataValidationError, ModelFormatError

if TYPE_CHECKING:
    from recsys.models.base import Recommender

__all__ = ["FORMAT_VERSION", "content_version", "load_model", "read_manifest", "save_model"]

logger = logging.getLogger(__name__)

#: Version of the directory layout this recsys writes. Version 2 added the item
#: catalogue and ItemKNN's ``similarity_support``; version 1 directories lack both
#: and are still read.
FORMAT_VERSION = 2
_OLDEST_READABLE_VERSION = 1
FORMAT_NAME = "recsys-model"
MANIFEST = "manifest.json"
METADATA = "item_metadata.json"
_DISPLAY_PARAMS = frozenset({"show_progress"})

RecommenderT = TypeVar("RecommenderT", bound="Recommender")


def _model_classes() -> dict[str, type[Recommender]]:
    from recsys.models.cross_occurrence import CrossOccurrence
    from recsys.models.ease import EASE
    from recsys.models.implicit_adapters import ImplicitALS, ImplicitBM25, ImplicitCosine, ImplicitTFIDF
    from recsys.models.item_knn import ItemKNN
    from recsys.models.popular import MostPopular
    from recsys.models.rp3beta import RP3Beta

    return {
        "CrossOccurrence": CrossOccurrence,
        "EASE": EASE,
        "ImplicitALS": ImplicitALS,
        "ImplicitBM25": ImplicitBM25,
        "ImplicitCosine": ImplicitCosine,
        "ImplicitTFIDF": ImplicitTFIDF,
        "ItemKNN": ItemKNN,
        "MostPopular": MostPopular,
        "RP3Beta": RP3Beta,
    }


# --------------------------------------------------------------------------- arrays


def _encode_ids(name: str, id_map: IdMap) -> dict[str, np.ndarray]:
    if id_map.kind == "int":
        return {name: np.asarray(id_map.ids, dtype=np.int64)}
    encoded = [value.encode("utf-8") for value in id_map.ids]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(value) for value in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return {f"{name}_utf8": blob, f"{name}_offsets": offsets}


def _decode_ids(name: str, kind: str, arrays: Mapping[str, np.ndarray]) -> IdMap:
    if kind == "int":
        return IdMap.from_sorted(np.asarray(arrays[name], dtype=np.int64), name)
    raw = np.asarray(arrays[f"{name}_utf8"]).tobytes()
    offsets = np.asarray(arrays[f"{name}_offsets"]).tolist()
    ids = [raw[start:stop].decode("utf-8") for start, stop in pairwise(offsets)]
    return IdMap.from_sorted(np.array(ids, dtype=object), name)


def _model_state(model: Recommender) -> dict[str, np.ndarray]:
    """Collect every fitted array of ``model`` under its file name."""
    arrays: dict[str, np.ndarray] = {}
    arrays.update(_encode_ids("user_ids", model.user_ids_))
    arrays.update(_encode_ids("item_ids", model.item_ids_))
    arrays["user_items_indptr"] = model.user_items_.indptr
    arrays["user_items_indices"] = model.user_items_.indices
    arrays["user_items_data"] = model.user_items_.data
    arrays["seen_events"] = model.seen_events_
    arrays["popularity"] = model.popularity_
    arrays.update(model._model_arrays())
    return {name: np.ascontiguousarray(array) for name, array in arrays.items()}


def _metadata_json(model: Recommender) -> bytes | None:
    metadata = model.item_metadata_
    if metadata is None:
        return None
    columns = {}
    for column in metadata.columns:
        series = metadata[column]
        columns[str(column)] = series.astype(object).where(series.notna(), None).tolist()
    return json.dumps({"columns": columns}, ensure_ascii=False, default=_json_default).encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def _manifest_core(model: Recommender) -> dict[str, Any]:
    """Return the parts of the manifest that determine the model's recommendations."""
    return {
        "model_class": type(model).__name__,
        "params": model.get_params(),
        "data_params": model.data_params_,
        "ids": {"user_id": model.user_ids_.kind, "item_id": model.item_ids_.kind},
        "event_names": list(model.event_names_),
    }


def _data_end(model: Recommender) -> dict[str, Any]:
    """Return where the training data ends, leaving out what is unknown."""
    end: dict[str, Any] = {}
    data_until = getattr(model, "data_until_", None)
    if data_until is not None:
        end["data_until"] = pd.Timestamp(data_until).isoformat()
    mark = getattr(model, "store_high_water_mark_", None)
    if mark is not None:
        end["store_high_water_mark"] = int(mark)
    return end


def content_version(model: Recommender) -> str:
    """Return a 16-hex-digit hash of the fitted state, equal for models that recommend identically.

    Where the training data ends (``data_until_``, ``store_high_water_mark_``) is
    part of the hash, because it decides which stored events count as recent
    history, so two models that differ only there can recommend differently. An
    unknown value adds nothing, so a model without timestamps keeps its version.
    """
    core = _manifest_core(model)
    # Display options such as show_progress change no recommendation, so they stay out of the hash.
    core["params"] = {name: value for name, value in core["params"].items() if name not in _DISPLAY_PARAMS}
    core.update(_data_end(model))
    digest = hashlib.sha256()
    digest.update(json.dumps(core, sort_keys=True, default=_json_default).encode("utf-8"))
    for name, array in sorted(_model_state(model).items()):
        digest.update(name.encode("utf-8"))
        digest.update(str(array.dtype).encode("ascii"))
        digest.update(array.tobytes())
    digest.update(_metadata_json(model) or b"")
    return digest.hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- save


def save_model(model: Recommender, path: str | PathLike[str]) -> Path:
    """Write ``model`` to the directory ``path`` and return it.

    The files are written to a temporary directory beside ``path`` and moved into
    place at the end, so a reader never sees a half-written model. An existing model
    directory at ``path`` is replaced; any other non-empty directory is left alone
    and raises :class:`~recsys.exceptions.DataValidationError`.
    """
    model._check_fitted()
    target = Path(path)
    if target.exists() and not _replaceable(target):
        raise DataValidationError(
            f"cannot save the model to {str(target)!r}: it exists and is not a recsys model "
            f"directory; choose a new or empty directory"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        files = _write_files(model, staging)
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "recsys_version": __version__,
            **_manifest_core(model),
            "version": model.version_,
            "fitted_at": model.fitted_at_,
            **_data_end(model),
            "counts": {
                "users": len(model.user_ids_),
                "items": len(model.item_ids_),
                "user_items_nonzeros": int(model.user_items_.nnz),
                "events": int(model.n_events_),
            },
            "files": files,
        }
        catalog = getattr(model, "catalog_", None)
        if catalog is not None:
            manifest["catalog"] = catalog.to_arrays()[1]
        text = json.dumps(manifest, indent=2, ensure_ascii=False, default=_json_default)
        (staging / MANIFEST).write_text(text + "\n", encoding="utf-8")
        _swap_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("saved %s %s to %s", type(model).__name__, model.version_, target)
    return target


def _replaceable(target: Path) -> bool:
    return target.is_dir() and ((target / MANIFEST).is_file() or not any(target.iterdir()))


def _write_files(model: Recommender, directory: Path) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    for name, array in _model_state(model).items():
        file = directory / f"{name}.npy"
        np.save(file, array, allow_pickle=False)
        files[file.name] = {"dtype": str(array.dtype), "shape": list(array.shape), "sha256": _sha256(file)}
    catalog = getattr(model, "catalog_", None)
    if catalog is not None:
        for name, array in catalog.to_arrays()[0].items():
            file = directory / f"{name}.npy"
            np.save(file, np.ascontiguousarray(array), allow_pickle=False)
            files[file.name] = {
                "dtype": str(array.dtype),
                "shape": list(array.shape),
                "sha256": _sha256(file),
            }
    metadata = _metadata_json(model)
    if metadata is not None:
        (directory / METADATA).write_bytes(metadata)
        files[METADATA] = {"sha256": _sha256(directory / METADATA)}
    return files


def _swap_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex}"
    os.replace(target, retired)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


# --------------------------------------------------------------------------- load


def read_manifest(path: str | PathLike[str]) -> dict[str, Any]:
    """Read and check the manifest of a model directory.

    Raises
    ------
    ModelFormatError
        If the directory or manifest is missing or unreadable, or the format
        version is not the one this recsys reads.
    """
    directory = Path(path)
    manifest_path = directory / MANIFEST
    if not directory.is_dir():
        raise ModelFormatError(
            f"model directory not found: {str(directory)!r}; train one with `recsys train`"
        )
    if not manifest_path.is_file():
        raise ModelFormatError(
            f"{str(directory)!r} has no {MANIFEST}, so it is not a recsys model directory; "
            f"point to the directory written by model.save() or `recsys train`"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFormatError(
            f"{str(manifest_path)!r} is not valid JSON ({error}); the file is corrupt, re-save the model"
        ) from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelFormatError(
            f"{str(manifest_path)!r} is not a recsys model manifest (no format {FORMAT_NAME!r})"
        )

    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFormatError(f"{str(manifest_path)!r} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"model directory {str(directory)!r} has format version {version}, written by a newer "
            f"recsys ({manifest.get('recsys_version', 'unknown')}); this recsys {__version__} reads "
            f"format versions {_OLDEST_READABLE_VERSION} to {FORMAT_VERSION}. Upgrade recsys or retrain the model"
        )
    if version < _OLDEST_READABLE_VERSION:
        raise ModelFormatError(
            f"model directory {str(directory)!r} has format version {version}; this recsys "
            f"{__version__} reads format versions {_OLDEST_READABLE_VERSION} to {FORMAT_VERSION}. "
            f"Retrain the model"
        )
    for key in (
        "model_class",
        "params",
        "data_params",
        "ids",
        "event_names",
        "files",
        "version",
        "fitted_at",
    ):
        if key not in manifest:
            raise ModelFormatError(f"{str(manifest_path)!r} is missing the key {key!r}; re-save the model")
    return manifest


@overload
def load_model(path: str | PathLike[str], *, mmap: bool = True, expected: None = None) -> Recommender: ...


@overload
def load_model(
    path: str | PathLike[str], *, mmap: bool = True, expected: type[RecommenderT]
) -> RecommenderT: ...


def load_model(
    path: str | PathLike[str],
    *,
    mmap: bool = True,
    expected: type[Recommender] | None = None,
) -> Recommender:
    """Load a model directory written by :func:`save_model`.

    Parameters
    ----------
    path : path
    mmap : bool, default True
        Memory-map the arrays instead of reading them into memory.
    expected : Recommender subclass, optional
        Raise unless the directory contains this class (or a subclass of it).

    Raises
    ------
    ModelFormatError
        If a file is missing, a checksum does not match, the format version is not
        supported, or the model class is unknown or not ``expected``.
    """
    directory = Path(path)
    manifest = read_manifest(directory)
    classes = _model_classes()
    cls = classes.get(manifest["model_class"])
    if cls is None:
        raise ModelFormatError(f"unknown model class {manifest['model_class']!r}; known: {sorted(classes)}")
    if expected is not None and not issubclass(cls, expected):
        raise ModelFormatError(
            f"{str(directory)!r} contains a model of class {cls.__name__}, not {expected.__name__}; "
            f"use recsys.load() to load any model"
        )

    arrays = _read_arrays(directory, manifest["files"], mmap)
    try:
        model = cls(**manifest["params"])
    except TypeError as error:
        raise ModelFormatError(f"the parameters in {MANIFEST} do not fit {cls.__name__}: {error}") from error
    _restore(model, manifest, arrays, directory)
    logger.info("loaded %s %s from %s", cls.__name__, model.version_, directory)
    return model


def _read_arrays(directory: Path, files: Mapping[str, Any], mmap: bool) -> dict[str, Any]:
    arrays: dict[str, Any] = {}
    for name, entry in files.items():
        file = directory / name
        if not file.is_file():
            raise ModelFormatError(
                f"model file {name!r} is missing from {str(directory)!r}; re-save the model"
            )
        if _sha256(file) != entry.get("sha256"):
            raise ModelFormatError(
                f"checksum mismatch for {name!r} in {str(directory)!r}: the file is corrupt or was "
                f"changed after saving; re-save or retrain the model"
            )
        if name == METADATA:
            arrays[name] = json.loads(file.read_text(encoding="utf-8"))
            continue
        try:
            array = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
        except ValueError as error:
            raise ModelFormatError(f"model file {name!r} cannot be read as a NumPy array: {error}") from error
        if str(array.dtype) != entry.get("dtype") or list(array.shape) != entry.get("shape"):
            raise ModelFormatError(
                f"model file {name!r} has dtype {array.dtype} and shape {list(array.shape)}, but the "
                f"manifest says {entry.get('dtype')} and {entry.get('shape')}; re-save the model"
            )
        arrays[name.removesuffix(".npy")] = array
    return arrays


def _restore(
    model: Recommender, manifest: Mapping[str, Any], arrays: Mapping[str, Any], directory: Path
) -> None:
    try:
        model.user_ids_ = _decode_ids("user_ids", manifest["ids"]["user_id"], arrays)
        model.item_ids_ = _decode_ids("item_ids", manifest["ids"]["item_id"], arrays)
        n_users, n_items = len(model.user_ids_), len(model.item_ids_)
        model.user_items_ = sp.csr_array(
            (arrays["user_items_data"], arrays["user_items_indices"], arrays["user_items_indptr"]),
            shape=(n_users, n_items),
            copy=False,
        )
        model.seen_events_ = arrays["seen_events"]
        model.popularity_ = arrays["popularity"]
        model.event_names_ = tuple(manifest["event_names"])
        model.data_params_ = dict(manifest["data_params"])
        model.n_events_ = int(manifest.get("counts", {}).get("events", 0))
        model.item_metadata_ = _metadata_frame(arrays.get(METADATA), n_items)
        model.catalog_ = _restore_catalog(manifest, arrays, model)
        model._restore_model_arrays(arrays)
        model._set_popular_order()
    except (KeyError, ValueError) as error:
        raise ModelFormatError(
            f"model directory {str(directory)!r} is inconsistent ({error}); re-save the model"
        ) from error
    model.fitted_at_ = manifest["fitted_at"]
    model.data_until_, model.store_high_water_mark_ = _read_data_end(manifest, directory)
    model.version_ = manifest["version"]


def _read_data_end(manifest: Mapping[str, Any], directory: Path) -> tuple[pd.Timestamp | None, int | None]:
    """Read where the training data ends; an absent key, as in older directories, means unknown."""
    data_until = manifest.get("data_until")
    mark = manifest.get("store_high_water_mark")
    try:
        until = None if data_until is None else pd.Timestamp(data_until)
    except (TypeError, ValueError) as error:
        raise ModelFormatError(
            f"model directory {str(directory)!r} has an invalid data_until {data_until!r} in "
            f"{MANIFEST}; re-save the model"
        ) from error
    if until is not None and until.tzinfo is None:
        raise ModelFormatError(
            f"model directory {str(directory)!r} has data_until {data_until!r} without a time zone "
            f"in {MANIFEST}; re-save the model"
        )
    if mark is not None and (isinstance(mark, bool) or not isinstance(mark, int)):
        raise ModelFormatError(
            f"model directory {str(directory)!r} has an invalid store_high_water_mark {mark!r} in "
            f"{MANIFEST}; re-save the model"
        )
    return (None if until is None else until.tz_convert("UTC")), mark


def _restore_catalog(
    manifest: Mapping[str, Any], arrays: Mapping[str, Any], model: Recommender
) -> Catalog | None:
    """Read the saved catalogue; a format 1 directory gets one built from its item metadata."""
    description = manifest.get("catalog")
    if description is not None:
        return Catalog.from_arrays(arrays, description)
    if manifest["format_version"] >= 2 or model.item_metadata_ is None:
        return None
    try:
        return catalog_from_metadata(model.item_metadata_, model.item_ids_)
    except DataValidationError as error:
        logger.warning(
            "the item metadata of this format 1 model is no valid catalogue, so rules cannot use it: %s",
            error,
        )
        return None


def _metadata_frame(document: Mapping[str, Any] | None, n_items: int) -> pd.DataFrame | None:
    if document is None:
        return None
    frame = pd.DataFrame(index=pd.RangeIndex(n_items))
    for column, values in document["columns"].items():
        if len(values) != n_items:
            raise ValueError(f"item metadata column {column!r} has {len(values)} rows for {n_items} items")
        # An explicit object dtype keeps None, because pandas 3 infers its str dtype
        # for a column of strings and turns None into NaN.
        frame[column] = pd.Series(values, index=frame.index, dtype=object)
    return frame
