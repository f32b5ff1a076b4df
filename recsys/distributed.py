"""Fit :class:`~recsys.models.item_knn.ItemKNN` on a Dask cluster, for events beyond one machine.

The co-occurrence ``C = X.T @ X`` of a users x items matrix ``X`` is a sum over
users. When every event of a user sits in one partition of a Dask DataFrame,
each partition ``p`` yields its own users' rows ``X_p`` and a partial
co-occurrence ``X_p.T @ X_p``. The partials are summed by tree reduction and
pruned to the top ``n_neighbors`` per item with
:func:`recsys.similarity.similarity_from_cooccurrence`. The result equals a
single-machine ``ItemKNN.fit`` on the same events (see :func:`fit_distributed`).

The steps, each a Dask task per partition unless noted:

1. When needed, a scan reads the events once: the newest timestamp is the
   reference time of the decay, and for CSV files it checks whether each id
   column holds only canonical integers (the rule of :func:`recsys.data.read_events`).
2. :meth:`recsys.data.Interactions.from_events` weights the partition's events
   with partition-local id maps. The partition-local ids are reduced to the
   global ``IdMap`` of users and of items on the client.
3. The global item ids are broadcast, and each partition maps its local
   positions to global ones. The client gathers these matrices, because the
   fitted model serves from the histories of every user.
4. Each partition computes its ``ItemStats`` and, per block of items, a partial
   co-occurrence. The partials of each block are summed by tree reduction and
   pruned on a worker; the client only joins the pruned blocks.

Needs the ``distributed`` extra: ``pip install 'recsys[distributed]'``.
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._ids import IdMap, canonical_int
from recsys.data import (
    _REQUIRED,
    Interactions,
    _check_half_life,
    _reference_time,
    validate_event_weights,
    validate_events,
)
from recsys.exceptions import DataValidationError
from recsys.models.item_knn import ItemKNN, _pair_support
from recsys.persistence import content_version
from recsys.similarity import ItemStats, _check_parameters, cap_user_items, similarity_from_cooccurrence

try:
    import dask
    import dask.dataframe as dd
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "recsys.distributed needs Dask; install the extra with: pip install 'recsys[distributed]'"
    ) from error

__all__ = ["fit_distributed"]

logger = logging.getLogger(__name__)

#: Partials summed per task of a tree reduction.
_SPLIT_EVERY = 8
_ID_COLUMNS = ("user_id", "item_id")
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
_INT32_MAX = np.iinfo(np.int32).max

# The similarity kernels are numba-parallel and already use every core, so tasks in
# one worker process run them one at a time instead of oversubscribing the CPU.
_KERNEL_LOCK = threading.Lock()


# --------------------------------------------------------------------------- public API


def fit_distributed(
    events: dd.DataFrame | str | PathLike[str],
    model: ItemKNN,
    *,
    client: Any = None,
    address: str | None = None,
    item_blocks: int = 1,
    reference_time: Any = None,
) -> ItemKNN:
    """Fit ``model`` on events held by a Dask cluster and return it.

    The fitted state (``similarity_``, ``user_ids_``, ``item_ids_``,
    ``user_items_``, ``seen_events_``, ``popularity_``, ``data_params_``,
    ``version_``, ...) equals that of ``model.fit(events)`` on the same events in
    one pandas DataFrame. Ids, histories, popularity and seen events are equal
    exactly. Neighbour lists and their order are equal, and scores are equal
    within float32 rounding. Scores are equal bit for bit, and so is
    ``version_``, when every sum is exact in float64. That is the case for the
    count-based measures (``jaccard``, ``lift``, ``conditional``, ``llr``). It is
    also the case for ``cosine`` and ``cooccurrence`` when all weights are equal
    or are small integers, as the default event weights without decay are.
    Otherwise the co-occurrence is summed in another order than on one machine,
    which can change the last bit of a float32 score.

    What is distributed: reading and weighting the events, and the
    co-occurrence and its pruning, the expensive part of a fit. What is not:
    the id maps and the histories of all users come back to the client (this
    process), because the fitted model serves from them. The client gathers each
    partition's rows of ``user_items_`` and of one matrix per event type and
    stacks them. At its peak it holds up to ``16 * (1 + k)`` bytes per stored
    (user, item) cell for ``k`` event types, plus ``seen_events_`` and the ids.

    Parameters
    ----------
    events : dask.dataframe.DataFrame or path
        Columns ``user_id``, ``item_id``, ``event`` and optionally ``timestamp`` and
        ``weight``, as for :meth:`recsys.data.Interactions.from_events`. A
        DataFrame must be partitioned by user: every event of a user in one
        partition, as ``events.shuffle(on="user_id")`` or
        ``events.set_index("user_id")`` makes it. A path (or glob,
        or fsspec URL) of Parquet files (``.parquet``, or a directory) or of CSV
        files (any other name) is read with Dask and shuffled by ``user_id``.
        CSV files follow the id rule of :func:`recsys.data.read_events` over all
        files together.
    model : ItemKNN
        An unfitted or fitted model. Its parameters, including ``event_weights``,
        ``half_life_days`` and ``count_repeats``, are used as ``fit`` uses them;
        ``show_progress`` is ignored.
    client : distributed.Client, optional
        The client to run on.
    address : str, optional
        Address of a Dask scheduler to connect to, such as
        ``"tcp://10.0.0.5:8786"``, when no ``client`` is given. The connection is
        closed before returning.
    item_blocks : int, default 1
        Number of blocks of items that the co-occurrence is computed, summed and
        pruned in, each by its own tasks. One block sums the whole items x items
        co-occurrence on one worker; more blocks divide that memory between
        tasks, at the cost of ``partitions * item_blocks`` product tasks. The
        blocks are balanced by pair visits ``sum_u d_u`` over each block's items.
    reference_time : timestamp-like, optional
        The "now" of the time decay. None (the default) uses the newest event, as
        ``model.fit`` does, which costs one more pass over the events.

    Returns
    -------
    ItemKNN
        ``model``, fitted.

    Raises
    ------
    DataValidationError
        For invalid events or parameters (with the messages of ``model.fit``), for
        a DataFrame whose users span partitions, or when both ``client`` and
        ``address`` are given.

    Notes
    -----
    With ``max_items_per_user`` set, the users over the cap are sampled exactly as
    :func:`recsys.similarity.cap_user_items` samples them on one machine: each
    partition draws its keys from the seed's random stream at the global offset
    of its users, so the result stays equal to a single-machine fit.

    Without ``client`` or ``address`` the tasks run on Dask's current default
    scheduler, which is a ``distributed.Client`` if one was created as default.
    """
    if not isinstance(model, ItemKNN) or type(model)._fit_model is not ItemKNN._fit_model:
        raise DataValidationError(
            f"fit_distributed fits a plain ItemKNN model; got {type(model).__name__}, whose fit "
            f"step differs; fit it with model.fit on one machine"
        )
    if model.weighting != "none" or model.shrinkage != 0:
        # The partial co-occurrences are summed unweighted; a weighting or shrinkage
        # would be recorded in the manifest but not applied.
        raise DataValidationError(
            f"fit_distributed does not support weighting={model.weighting!r} or "
            f"shrinkage={model.shrinkage!r} yet; use the defaults or fit on one machine"
        )
    if client is not None and address is not None:
        raise DataValidationError("pass either client or address to fit_distributed, not both")
    item_blocks = _check_item_blocks(item_blocks)
    # The same checks and messages as model.fit, before any work goes to the cluster.
    event_weights = validate_event_weights(model.event_weights)
    half_life = _check_half_life(model.half_life_days)
    _check_parameters(model.similarity, model.n_neighbors, model.min_support)
    if model.max_items_per_user is not None:
        cap_user_items(sp.csr_array(np.zeros((0, 0), dtype=np.float32)), model.max_items_per_user)
    reference = None
    if half_life is not None and reference_time is not None:
        reference = _reference_time(reference_time, pd.Series([], dtype="datetime64[ns, UTC]"))

    owned_client = None
    if address is not None:
        from distributed import Client

        owned_client = Client(address, set_as_default=False)
        client = owned_client
    try:
        started = time.perf_counter()
        runner = _Runner(client)
        settings = _DataSettings(event_weights, half_life, reference, bool(model.count_repeats), ())
        interactions, pieces, rows = _interactions(events, settings, runner)
        model._fit_shared(interactions)
        model.similarity_ = _similarity(pieces, rows, interactions.user_items, model, item_blocks, runner)
        model.support_ = _kept_pair_support(model, interactions.user_items)
        model.fitted_at_ = datetime.now(UTC).isoformat(timespec="seconds")
        model.version_ = content_version(model)
        logger.info(
            "fitted %s on %s users x %s items on Dask in %.2f s",
            type(model).__name__,
            f"{interactions.shape[0]:,}",
            f"{interactions.shape[1]:,}",
            time.perf_counter() - started,
        )
    finally:
        if owned_client is not None:
            owned_client.close()
    return model


# --------------------------------------------------------------------------- scheduling


class _Runner:
    """Runs task graphs on a given ``distributed.Client``, or on Dask's default scheduler."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def compute(self, tasks: Sequence[Any]) -> list[Any]:
        if self.client is not None:
            return list(self.client.gather(self.client.compute(list(tasks))))
        return list(dask.compute(*tasks))

    def persist(self, tasks: Sequence[Any]) -> list[Any]:
        if self.client is not None:
            return list(self.client.persist(list(tasks)))
        return list(dask.persist(*tasks))

    def share(self, value: Any) -> Any:
        """Return a handle to ``value`` that every task can take as an argument, sent once."""
        if self.client is not None:
            return self.client.scatter(value, broadcast=True, hash=False)
        return dask.delayed(value, pure=True)

    def send(self, values: list[Any]) -> list[Any]:
        """Return handles to per-task ``values``, so that a client sends them apart from the graph."""
        if self.client is not None:
            return list(self.client.scatter(values, hash=False))
        return values

    @property
    def shuffle_method(self) -> str | None:
        # Dask picks the shuffle method from the default client when the graph is
        # built. A client that is not the default would get "disk", which only works
        # when all workers share one machine.
        return "tasks" if self.client is not None else None


def _task(function: Callable[..., Any]) -> Any:
    """Wrap ``function`` so that calling it builds a task instead of running it."""
    return dask.delayed(function, pure=True)


def _tree_reduce(parts: Sequence[Any], combine: Callable[..., Any]) -> Any:
    """Combine delayed ``parts`` in a tree of tasks that take ``_SPLIT_EVERY`` inputs each."""
    level = list(parts)
    while len(level) > 1:
        level = [
            _task(combine)(*level[start : start + _SPLIT_EVERY])
            for start in range(0, len(level), _SPLIT_EVERY)
        ]
    return level[0]


# --------------------------------------------------------------------------- events to interactions


@dataclass(frozen=True)
class _DataSettings:
    """The model's data parameters, which each partition weights its events with."""

    event_weights: dict[str, float]
    half_life_days: float | None
    reference_time: pd.Timestamp | None
    count_repeats: bool
    #: Id columns that CSV files hold as canonical integer text, converted to int64.
    int_columns: tuple[str, ...]


@dataclass(frozen=True)
class _Piece:
    """One partition's users, with item columns already at their global positions.

    Attributes
    ----------
    rows : ndarray of int64
        Global position of each local user, increasing.
    user_items : csr_array, local users x all items
    event_user_items : dict of str to csr_array
        The same rows for each event type alone.
    """

    rows: np.ndarray
    user_items: sp.csr_array
    event_user_items: dict[str, sp.csr_array]


def _interactions(
    events: dd.DataFrame | str | PathLike[str], settings: _DataSettings, runner: _Runner
) -> tuple[Interactions, list[Any], list[np.ndarray]]:
    """Build the global ``Interactions`` on the client.

    Also returns the pieces, persisted on the workers, and the global rows of each.
    """
    frame, is_csv = _read(events)
    if "user_id" not in frame.columns and frame.index.name == "user_id":
        # set_index("user_id") is a common way to partition by user; put the column back.
        frame = frame.reset_index()
    columns = [str(column) for column in frame.columns]
    _check_columns(columns, settings)

    if is_csv or (settings.half_life_days is not None and settings.reference_time is None):
        settings = _scan(frame, settings, is_csv, runner)
    if not isinstance(events, dd.DataFrame):
        frame = frame.shuffle(on="user_id", shuffle_method=runner.shuffle_method)

    partitions = frame.to_delayed()
    local = runner.persist([_task(_local_interactions)(partition, settings) for partition in partitions])
    item_union = _tree_reduce([_task(_item_ids)(part) for part in local], _union_ids)
    user_lists = [_task(_user_ids)(part) for part in local]
    counts = [_task(_event_count)(part) for part in local]
    ends = [_task(_data_until)(part) for part in local]
    results = runner.compute([item_union, *user_lists, *counts, *ends])
    item_ids_array = results[0]
    local_user_ids = results[1 : 1 + len(local)]
    n_events = int(sum(results[1 + len(local) : 1 + 2 * len(local)]))
    data_until = _newest(results[1 + 2 * len(local) :])
    if n_events == 0:
        raise DataValidationError("events contain no rows; there is nothing to learn from")

    user_ids = _global_user_ids(local_user_ids)
    item_ids = IdMap([] if item_ids_array is None else item_ids_array, "item_id")
    shared_item_ids = runner.share(item_ids.ids)
    rows = [
        np.empty(0, dtype=np.int64) if users is None else np.searchsorted(user_ids.ids, users)
        for users in local_user_ids
    ]
    pieces = runner.persist(
        [
            _task(_globalize)(part, shared_item_ids, part_rows)
            for part, part_rows in zip(local, runner.send(rows), strict=True)
        ]
    )
    del local
    interactions = _assemble(runner.compute(pieces), user_ids, item_ids, settings, n_events, data_until)
    logger.info("built %r from %s events in %d partitions", interactions, f"{n_events:,}", len(pieces))
    return interactions, pieces, rows


def _read(events: dd.DataFrame | str | PathLike[str]) -> tuple[dd.DataFrame, bool]:
    """Return the events as a Dask DataFrame, and whether they come from CSV files."""
    if isinstance(events, dd.DataFrame):
        return events, False
    if not isinstance(events, (str, PathLike)):
        raise DataValidationError(
            f"fit_distributed needs a Dask DataFrame of events or the path of Parquet or CSV files; "
            f"got {type(events).__name__}"
        )
    path = os.fspath(events)
    if "://" not in path and not glob.glob(path):
        raise DataValidationError(f"events file not found: {path!r}")
    if path.endswith(".parquet") or Path(path).is_dir():
        return dd.read_parquet(path), False
    return (
        dd.read_csv(
            path,
            # The options of recsys.data.read_events: ids as text, only empty cells missing.
            dtype={"user_id": str, "item_id": str, "event": str},
            keep_default_na=False,
            na_values={column: [""] for column in ("user_id", "item_id", "event", "timestamp", "weight")},
            encoding="utf-8",
            compression="infer",
            # A compressed file cannot be split into blocks.
            blocksize=None if path.endswith(_COMPRESSED_SUFFIXES) else "default",
        ),
        True,
    )


def _check_columns(columns: list[str], settings: _DataSettings) -> None:
    missing = [column for column in _REQUIRED if column not in columns]
    if missing:
        raise DataValidationError(
            f"events are missing the required column(s) {missing}; got columns {columns}. "
            f"Expected {list(_REQUIRED)} plus optional 'timestamp' and 'weight': rename the columns to match"
        )
    if settings.half_life_days is not None and "timestamp" not in columns:
        raise DataValidationError("half_life_days needs a 'timestamp' column in the events")


def _scan(frame: dd.DataFrame, settings: _DataSettings, is_csv: bool, runner: _Runner) -> _DataSettings:
    """Read the events once for the reference time and the CSV id types."""
    needs_reference = settings.half_life_days is not None and settings.reference_time is None
    summaries = runner.compute(
        [
            _task(_scan_partition)(partition, settings.event_weights, needs_reference, is_csv)
            for partition in frame.to_delayed()
        ]
    )
    reference = settings.reference_time
    if needs_reference:
        newest = [summary["newest"] for summary in summaries if summary["newest"] is not None]
        reference = max(newest) if newest else None
    int_columns = tuple(
        column for column in _ID_COLUMNS if is_csv and all(summary[column] for summary in summaries)
    )
    return _DataSettings(
        settings.event_weights, settings.half_life_days, reference, settings.count_repeats, int_columns
    )


def _scan_partition(
    frame: pd.DataFrame, event_weights: dict[str, float], needs_reference: bool, is_csv: bool
) -> dict[str, Any]:
    """Return the newest timestamp of a partition and whether its id columns are canonical ints."""
    summary: dict[str, Any] = {"newest": None}
    for column in _ID_COLUMNS:
        summary[column] = is_csv and _all_canonical_ints(frame[column])
    if needs_reference and len(frame):
        clean = validate_events(frame.reset_index(drop=True), event_weights)
        summary["newest"] = clean["timestamp"].max()
    return summary


def _all_canonical_ints(column: pd.Series) -> bool:
    if column.isna().any():
        return False
    return all(canonical_int(value) is not None for value in column.to_numpy(dtype=object))


def _local_interactions(frame: pd.DataFrame, settings: _DataSettings) -> Interactions | None:
    """Weight one partition's events with partition-local id maps; None for no rows.

    The partition's index is dropped because ``validate_events`` assigns the
    parsed timestamps by a 0-based index, so with any other index they would not
    line up with their rows.
    """
    if len(frame) == 0:
        return None
    frame = frame.reset_index(drop=True)
    for column in settings.int_columns:
        values = frame[column].to_numpy(dtype=object)
        frame[column] = np.array([canonical_int(value) for value in values], dtype=np.int64)
    return Interactions.from_events(
        frame,
        event_weights=settings.event_weights,
        half_life_days=settings.half_life_days,
        reference_time=settings.reference_time,
        count_repeats=settings.count_repeats,
    )


def _item_ids(local: Interactions | None) -> np.ndarray | None:
    return None if local is None else local.item_ids.ids


def _user_ids(local: Interactions | None) -> np.ndarray | None:
    return None if local is None else local.user_ids.ids


def _event_count(local: Interactions | None) -> int:
    return 0 if local is None else local.n_events


def _data_until(local: Interactions | None) -> pd.Timestamp | None:
    return None if local is None else local.data_until


def _newest(times: list[pd.Timestamp | None]) -> pd.Timestamp | None:
    """Return the newest time of the partitions that have rows; None when they have no timestamps."""
    known = [moment for moment in times if moment is not None]
    return max(known) if known else None


def _union_ids(*parts: np.ndarray | None) -> np.ndarray | None:
    """Return the sorted distinct item ids of several partitions."""
    arrays = [part for part in parts if part is not None and len(part)]
    if not arrays:
        return None
    _check_one_kind(arrays, "item_id")
    return np.unique(np.concatenate(arrays))


def _check_one_kind(arrays: list[np.ndarray], column: str) -> None:
    if len({array.dtype.kind for array in arrays}) > 1:
        raise DataValidationError(
            f"column {column!r} mixes int and str ids across partitions; convert it to one type, "
            f"e.g. events[{column!r}].astype(str)"
        )


def _global_user_ids(local_user_ids: list[np.ndarray | None]) -> IdMap:
    """Build the user map, checking that no user spans two partitions."""
    arrays = [ids for ids in local_user_ids if ids is not None and len(ids)]
    if not arrays:
        return IdMap([], "user_id")
    _check_one_kind(arrays, "user_id")
    all_ids = np.concatenate(arrays)
    duplicated = pd.Index(all_ids).duplicated()
    if duplicated.any():
        user = all_ids[np.flatnonzero(duplicated)[0]]
        where = [
            number
            for number, ids in enumerate(local_user_ids)
            if ids is not None and np.isin(user, ids).any()
        ]
        raise DataValidationError(
            f"events must be partitioned by user, but user_id {user!r} is in partitions {where}; "
            f"shuffle them first with events.shuffle(on='user_id')"
        )
    return IdMap(all_ids, "user_id")


def _globalize(local: Interactions | None, item_ids: np.ndarray, rows: np.ndarray) -> _Piece:
    """Move a partition's item columns to their global positions.

    Both maps sort their ids, so the local-to-global map is increasing and every
    row keeps its columns sorted.
    """
    n_items = len(item_ids)
    if local is None:
        empty = sp.csr_array(np.zeros((0, n_items), dtype=np.float32))
        return _Piece(np.empty(0, dtype=np.int64), empty, {})
    columns = np.searchsorted(item_ids, local.item_ids.ids)
    if len(local.item_ids) and not np.array_equal(item_ids[columns], local.item_ids.ids):
        raise AssertionError("the global item ids do not contain every item id of the partition")

    def move(matrix: sp.csr_array) -> sp.csr_array:
        moved = sp.csr_array(
            (matrix.data, columns[matrix.indices], matrix.indptr), shape=(matrix.shape[0], n_items)
        )
        moved.has_sorted_indices = True
        return moved

    events = {event: move(matrix) for event, matrix in local.event_user_items.items()}
    return _Piece(np.asarray(rows, dtype=np.int64), move(local.user_items), events)


def _assemble(
    pieces: list[_Piece],
    user_ids: IdMap,
    item_ids: IdMap,
    settings: _DataSettings,
    n_events: int,
    data_until: pd.Timestamp | None,
) -> Interactions:
    """Stack the partitions' rows into global ``Interactions``, users in id order."""
    shape = (len(user_ids), len(item_ids))
    rows = np.concatenate([piece.rows for piece in pieces])
    order = np.argsort(rows, kind="stable")
    user_items = _stack_rows([piece.user_items for piece in pieces], order, shape)
    event_user_items = {
        event: _stack_rows(
            [
                piece.event_user_items.get(event, sp.csr_array((len(piece.rows), shape[1])))
                for piece in pieces
            ],
            order,
            shape,
        )
        for event in settings.event_weights
    }
    return Interactions(
        user_ids=user_ids,
        item_ids=item_ids,
        user_items=user_items,
        event_user_items=event_user_items,
        event_weights=dict(settings.event_weights),
        half_life_days=settings.half_life_days,
        reference_time=settings.reference_time,
        count_repeats=settings.count_repeats,
        item_metadata=None,
        n_events=n_events,
        data_until=data_until,
    )


def _stack_rows(matrices: list[sp.csr_array], order: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    """Stack row blocks and put row ``order[k]`` at row ``k``, in the layout of ``from_events``.

    That layout is canonical float32 CSR with int32 index arrays when they fit.
    """
    lengths = np.concatenate([np.diff(matrix.indptr) for matrix in matrices])
    starts = np.concatenate([matrix.indptr[:-1] for matrix in matrices])
    offsets = np.cumsum([0] + [matrix.nnz for matrix in matrices[:-1]])
    starts = starts + np.repeat(offsets, [matrix.shape[0] for matrix in matrices])
    data = np.concatenate([matrix.data for matrix in matrices]).astype(np.float32, copy=False)
    indices = np.concatenate([matrix.indices for matrix in matrices])

    sorted_lengths = lengths[order]
    # Gather position of every stored value: the ranges starts[order[k]] + 0..length-1.
    gather = np.repeat(starts[order] - np.cumsum(sorted_lengths) + sorted_lengths, sorted_lengths)
    gather += np.arange(int(sorted_lengths.sum()))
    index_dtype = np.int32 if max(*shape, len(gather)) < _INT32_MAX else np.int64
    indptr = np.zeros(shape[0] + 1, dtype=index_dtype)
    np.cumsum(sorted_lengths, out=indptr[1:])
    result = sp.csr_array((data[gather], indices[gather].astype(index_dtype), indptr), shape=shape)
    result.has_sorted_indices = True
    return result


# --------------------------------------------------------------------------- similarity


def _similarity(
    pieces: list[Any],
    rows: list[np.ndarray],
    user_items: sp.csr_array,
    model: ItemKNN,
    item_blocks: int,
    runner: _Runner,
) -> sp.csr_array:
    """Compute ``model``'s pruned similarity from the persisted pieces, as ``item_similarity`` does.

    ``rows`` are the global rows of each piece and ``user_items`` the assembled
    matrix, which the cap and the block bounds read.
    """
    n_items = user_items.shape[1]
    lengths = np.diff(user_items.indptr)
    matrices = [_task(_piece_matrix)(piece) for piece in pieces]
    low, high = float(user_items.data.min()), float(user_items.data.max())
    cap = model.max_items_per_user
    if cap is not None and lengths.max(initial=0) > cap:
        matrices = _capped(matrices, rows, user_items, cap, model.random_state, runner)
        ranges = [value for value in runner.compute([_task(_value_range)(m) for m in matrices]) if value]
        low, high = min(value[0] for value in ranges), max(value[1] for value in ranges)

    # The branches of item_similarity: with equal weights the weighted measures count
    # users instead of multiplying weights, and min_support > 1 needs user counts
    # besides the weighted sums.
    weighted_measure = model.similarity in ("cooccurrence", "cosine")
    equal_weights = low == high
    count_only = not weighted_measure or equal_weights
    count_support = not count_only and model.min_support > 1
    scale = high * high if model.similarity == "cooccurrence" and equal_weights else 1.0

    stats = _tree_reduce([_task(ItemStats.of)(matrix) for matrix in matrices], _add_stats)
    if count_only:
        stats = _task(_count_stats)(stats)
    blocks = []
    for first, last in _block_bounds(user_items, lengths, item_blocks):
        partials = [
            _task(_block_cooccurrence)(matrix, first, last, count_only, count_support) for matrix in matrices
        ]
        total = _tree_reduce(partials, _add_cooccurrence)
        blocks.append(
            _task(_prune_block)(
                total,
                stats,
                first,
                last,
                n_items,
                count_only,
                model.similarity,
                model.n_neighbors,
                model.min_support,
            )
        )
    return _join_blocks(runner.compute(blocks), n_items, scale)


def _kept_pair_support(model: ItemKNN, user_items: sp.csr_array) -> sp.csr_array:
    """Count the co-buyers of each kept pair, as ``ItemKNN.fit`` does.

    Only the kept pairs are counted (at most ``n_neighbors`` per item), so this
    runs on the driver, over the history it holds anyway; the users a cap drops
    are dropped here too, with the same random keys.
    """
    matrix = user_items
    if model.max_items_per_user is not None:
        matrix = cap_user_items(matrix, model.max_items_per_user, random_state=model.random_state)
    return _pair_support(model.similarity_, matrix)


def _piece_matrix(piece: _Piece) -> sp.csr_array:
    return piece.user_items


def _capped(
    matrices: list[Any],
    rows: list[np.ndarray],
    user_items: sp.csr_array,
    cap: int,
    random_state: int,
    runner: _Runner,
) -> list[Any]:
    """Cap each partition's users as ``cap_user_items`` caps the whole matrix; persist the result."""
    lengths = np.diff(user_items.indptr)
    heavy = lengths > cap
    logger.info(
        "capped %s users to %s items each, keeping %s of %s interactions",
        f"{int(heavy.sum()):,}",
        cap,
        f"{int(np.minimum(lengths, cap).sum()):,}",
        f"{user_items.nnz:,}",
    )
    tasks = []
    for matrix, part_rows in zip(matrices, rows, strict=True):
        local_rows = np.flatnonzero(heavy[part_rows])
        offsets = user_items.indptr[part_rows[local_rows]].astype(np.int64)
        tasks.append(_task(_cap_rows)(matrix, local_rows, offsets, cap, random_state))
    return runner.persist(tasks)


def _cap_rows(
    matrix: sp.csr_array, rows: np.ndarray, offsets: np.ndarray, cap: int, random_state: int
) -> sp.csr_array:
    """Keep ``cap`` items of each listed row, with the keys ``cap_user_items`` gives it.

    ``cap_user_items`` draws one uniform key per stored value of the whole matrix
    from ``default_rng(random_state)``. A row whose values start at global offset
    ``o`` gets the draws ``o, o + 1, ...``. Each ``random()`` draw consumes one
    64-bit output of PCG64, so advancing the generator by ``o`` reproduces them.
    ``rows`` are local row numbers and ``offsets`` their increasing global offsets.
    """
    if len(rows) == 0:
        return matrix
    bit_generator = np.random.PCG64(random_state)
    generator = np.random.Generator(bit_generator)
    keep = np.ones(matrix.nnz, dtype=bool)
    drawn = 0
    for row, offset in zip(rows.tolist(), offsets.tolist(), strict=True):
        start, stop = int(matrix.indptr[row]), int(matrix.indptr[row + 1])
        bit_generator.advance(offset - drawn)
        keys = generator.random(stop - start)
        drawn = offset + stop - start
        # cap_user_items ranks a row's values by key, ties by column (lexsort is stable).
        keep[start + np.argsort(keys, kind="stable")[cap:]] = False
    lengths = np.minimum(np.diff(matrix.indptr), cap)
    indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    capped = sp.csr_array((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)
    capped.has_sorted_indices = True
    return capped


def _value_range(matrix: sp.csr_array) -> tuple[float, float] | None:
    if matrix.nnz == 0:
        return None
    return float(matrix.data.min()), float(matrix.data.max())


def _add_stats(*parts: ItemStats) -> ItemStats:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _count_stats(stats: ItemStats) -> ItemStats:
    """Return the statistics of the binary matrix, whose squared norms are the user counts."""
    return ItemStats(stats.counts.copy(), stats.counts, stats.n_users)


def _block_bounds(user_items: sp.csr_array, lengths: np.ndarray, item_blocks: int) -> list[tuple[int, int]]:
    """Split the items into ranges with about equal pair visits ``sum_u d_u`` over each range's items."""
    n_items = user_items.shape[1]
    n_blocks = max(1, min(item_blocks, n_items))
    visits = np.cumsum(user_items.T @ lengths.astype(np.float64))
    if n_blocks == 1 or visits[-1] == 0:
        edges = np.linspace(0, n_items, n_blocks + 1).astype(np.int64)
    else:
        targets = visits[-1] * np.arange(1, n_blocks) / n_blocks
        inner = np.searchsorted(visits, targets, side="right")
        edges = np.unique(np.concatenate([[0], np.clip(inner, 1, n_items - 1), [n_items]]))
    return [(int(first), int(last)) for first, last in itertools.pairwise(edges)]


def _block_cooccurrence(
    matrix: sp.csr_array, first: int, last: int, count_only: bool, count_support: bool
) -> tuple[sp.csr_array, sp.csr_array | None]:
    """Return rows ``first..last - 1`` of one partition's ``X.T @ X``, and its user counts.

    Float64 makes every product of two float32 weights exact, as in the kernel of
    ``item_similarity``. With ``count_only`` the weighted part counts users.
    """
    binary = sp.csr_array((np.ones(matrix.nnz), matrix.indices, matrix.indptr), shape=matrix.shape)
    weights = binary if count_only else sp.csr_array(matrix).astype(np.float64)
    weighted = sp.csr_array(weights[:, first:last].T @ weights)
    support = sp.csr_array(binary[:, first:last].T @ binary) if count_support else None
    return weighted, support


def _add_cooccurrence(
    *parts: tuple[sp.csr_array, sp.csr_array | None],
) -> tuple[sp.csr_array, sp.csr_array | None]:
    weighted, support = parts[0]
    for part_weighted, part_support in parts[1:]:
        weighted = sp.csr_array(weighted + part_weighted)
        if support is not None and part_support is not None:
            support = sp.csr_array(support + part_support)
    return weighted, support


def _prune_block(
    total: tuple[sp.csr_array, sp.csr_array | None],
    stats: ItemStats,
    first: int,
    last: int,
    n_items: int,
    count_only: bool,
    similarity: str,
    n_neighbors: int,
    min_support: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prune one block's summed co-occurrence and return its row lengths, columns and scores."""
    weighted, support = total
    weighted = _as_square(weighted, first, n_items)
    if count_only:
        support_square = None
    elif support is None:
        # Summed weights are not user counts, and with min_support 1 every stored
        # pair has at least one user, as the kernel of item_similarity assumes.
        support_square = sp.csr_array(
            (np.ones(weighted.nnz), weighted.indices, weighted.indptr), weighted.shape
        )
    else:
        support_square = _as_square(support, first, n_items)
    with _KERNEL_LOCK:
        pruned = similarity_from_cooccurrence(
            weighted,
            support_square,
            stats,
            similarity=similarity,
            n_neighbors=n_neighbors,
            min_support=min_support,
        )
    return np.diff(pruned.indptr)[first:last], pruned.indices, pruned.data


def _as_square(rows: sp.csr_array, first: int, n_items: int) -> sp.csr_array:
    """Place a block of rows at rows ``first..`` of an empty n_items x n_items matrix."""
    rows = sp.csr_array(rows)
    rows.sum_duplicates()
    indptr = np.concatenate(
        [np.zeros(first, dtype=np.int64), rows.indptr, np.full(n_items - first - rows.shape[0], rows.nnz)]
    )
    return sp.csr_array((rows.data, rows.indices, indptr), shape=(n_items, n_items))


def _join_blocks(
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_items: int, scale: float
) -> sp.csr_array:
    """Join the pruned blocks in the layout ``item_similarity`` returns."""
    lengths = np.concatenate([block[0] for block in blocks])
    indices = np.concatenate([block[1] for block in blocks])
    data = np.concatenate([block[2] for block in blocks], dtype=np.float32)
    if scale != 1.0:
        data *= np.float32(scale)
    index_dtype = np.int32 if max(n_items, int(lengths.sum())) < _INT32_MAX else np.int64
    indptr = np.zeros(n_items + 1, dtype=index_dtype)
    np.cumsum(lengths, out=indptr[1:])
    result: sp.csr_array = sp.csr_array((data, indices.astype(index_dtype), indptr), shape=(n_items, n_items))
    result.has_sorted_indices = True
    return result


def _check_item_blocks(item_blocks: int) -> int:
    if isinstance(item_blocks, bool) or not isinstance(item_blocks, (int, np.integer)) or item_blocks < 1:
        raise DataValidationError(f"item_blocks must be an int >= 1; got {item_blocks!r}")
    return int(item_blocks)
