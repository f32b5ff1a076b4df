"""Exact incremental updates and user deletions of a fitted :class:`~recsys.models.item_knn.ItemKNN`.

Co-occurrence counts and the per-item sums the measures need are additive over
users, so a model can absorb new events, or drop every event of some users,
without a full refit. The contract: ``ItemKNN().fit(A).partial_fit(B)`` has the
same ids, histories, popularity, neighbour lists and recommendations as
``ItemKNN().fit(A + B)``, and ``fit(A).forget_users(U)`` the same as ``fit`` on
``A`` without the events of ``U``. Scores agree to float32 rounding.

How it works, for the changed users (their histories gained or lost cells):

1. The histories are merged cell by cell, in a position space that contains the
   old and the new ids. Ids stay sorted, so positions are renumbered by a
   monotone map and ties broken by position stay broken the same way.
2. The co-occurrence row of an item changes only when a changed user has the
   item, so those rows are recomputed with the fit's own kernel code.
3. Some measures read a neighbour's statistics: cosine its norm, and jaccard,
   lift and llr its user count. For them, row ``i`` also changes when an item
   ``j`` that co-occurs with ``i`` has new statistics. Those scores are recomputed from column ``j`` of the
   co-occurrence. Row ``i`` keeps its stored neighbours and takes in the rescored
   pairs that now rank inside its top ``n_neighbors``. That merge is exact unless
   a stored neighbour of a full row fell below the row's old worst pair, because
   then an item that was just outside the list may move in. Such rows, and every
   such row under ``shrinkage``, are recomputed in full.
4. When a global quantity changes, every row is recomputed: the number of users
   for lift and llr, or whether all weights are equal (the fit then counts
   instead of multiplying, see :func:`recsys.similarity.item_similarity`). So is
   every row when the estimated work of steps 2 and 3 exceeds a full pass.

Some options change the inputs of every item, or cannot be redone from the
stored state, so they raise :class:`~recsys.exceptions.DataValidationError`
naming the option. They are ``weighting`` other than ``none`` (BM25, TF-IDF and
IUF read the catalogue size and each user's item count), ``max_items_per_user``
(the sample depends on every user's history) and ``half_life_days`` (the decay
is measured from the newest event, which moves).

When the model stores co-buyer counts per pair (``support_``), they are kept
exact too: recounted for the pairs of rows whose co-occurrence changed and for
pairs new to their row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from typing import TYPE_CHECKING, Any, cast

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import _kernels
from recsys._ids import Id, IdMap
from recsys.data import Interactions
from recsys.exceptions import DataValidationError, UnknownUserError
from recsys.similarity import _WEIGHTED, ItemStats

if TYPE_CHECKING:
    from recsys.models.item_knn import ItemKNN

__all__ = ["forget_users", "partial_fit"]

logger = logging.getLogger(__name__)

#: Measures whose score of pair (i, j) reads a statistic of the neighbour j.
_NEIGHBOR_STATISTICS = ("cosine", "jaccard", "lift", "llr")
#: Measures whose scores read the number of users N.
_USER_COUNT_MEASURES = ("lift", "llr")

#: Rescoring a neighbour's column also has to look up and merge the stored pairs
#: of every row it touches. This factor weighs its visits against a full pass when
#: choosing between a partial and a full recomputation (an estimate, not a
#: measurement).
_COLUMN_COST_FACTOR = 2.0

#: A partial recomputation is chosen while its estimated visits stay below this
#: share of a full pass. The tests raise it to infinity to exercise that path.
_FULL_PASS_SHARE = 1.0


@dataclass
class _State:
    """Histories of the old and the updated model in one position space.

    ``old`` and ``new`` are users x items in that space. The changed users are
    listed twice: by a cell added or removed, and by any change of a cell's value.
    """

    user_ids: IdMap
    item_ids: IdMap
    old: sp.csr_array
    new: sp.csr_array
    new_seen: np.ndarray
    user_old_to_new: np.ndarray
    item_old_to_new: np.ndarray
    presence_changed_users: np.ndarray
    value_changed_users: np.ndarray


# --------------------------------------------------------------------------- public


def partial_fit(model: ItemKNN, data: Interactions | pd.DataFrame | str | PathLike[str]) -> None:
    """Fold new events into a fitted ``model`` in place (see :meth:`ItemKNN.partial_fit`)."""
    model._check_fitted()
    _check_supported(model, "partial_fit")
    started = time.perf_counter()
    batch = _batch_interactions(model, data)
    state = _merge(model, batch)

    n_items = len(state.item_ids)
    old_similarity = _remap_similarity(model.similarity_, state.item_old_to_new, n_items)
    old_support = _old_support(model, state.item_old_to_new, n_items)
    refreshed = _refresh_similarity(model, state, old_similarity)
    _set_state(model, state, state.new, state.new_seen, refreshed, _grown_metadata(model, state), old_support)
    model.n_events_ = int(model.n_events_) + batch.n_events
    _advance_data_end(model, batch)
    _finish(model, "partial_fit", started, batch.n_events)


def forget_users(model: ItemKNN, user_ids: Iterable[Id], *, ignore_unknown: bool = False) -> None:
    """Remove every event of ``user_ids`` from a fitted ``model`` in place (see :meth:`ItemKNN.forget_users`)."""
    model._check_fitted()
    _check_supported(model, "forget_users")
    if isinstance(user_ids, (str, bytes)) or not isinstance(user_ids, Iterable):
        raise DataValidationError(
            f"user_ids must be a list of user ids; got {type(user_ids).__name__} {user_ids!r}"
        )
    started = time.perf_counter()
    ids = list(user_ids)
    positions = model.user_ids_.indices_of(ids)
    unknown = [id_ for id_, position in zip(ids, positions, strict=True) if position < 0]
    if unknown and not ignore_unknown:
        raise UnknownUserError(
            unknown[0],
            f"{len(unknown)} of the {len(ids)} ids are unknown; pass ignore_unknown=True to skip them",
        )
    deleted = np.unique(positions[positions >= 0])
    if len(deleted) == 0:
        logger.info("forget_users: none of the %d ids is in the model; nothing changed", len(ids))
        return
    if len(deleted) == len(model.user_ids_):
        raise DataValidationError(
            "forget_users would delete every user of the model, which leaves no data to fit on; "
            "create a new model instead"
        )

    old = model.user_items_
    lengths = np.diff(old.indptr)
    keep_cells = np.repeat(~np.isin(np.arange(old.shape[0]), deleted), lengths)
    new_lengths = np.where(np.isin(np.arange(old.shape[0]), deleted), 0, lengths)
    new = _csr(
        np.asarray(old.data)[keep_cells],
        np.asarray(old.indices)[keep_cells],
        _indptr(new_lengths),
        old.shape,
    )
    identity_users = np.arange(old.shape[0], dtype=np.int64)
    identity_items = np.arange(old.shape[1], dtype=np.int64)
    state = _State(
        user_ids=model.user_ids_,
        item_ids=model.item_ids_,
        old=old,
        new=new,
        new_seen=np.asarray(model.seen_events_)[keep_cells],
        user_old_to_new=identity_users,
        item_old_to_new=identity_items,
        presence_changed_users=deleted,
        value_changed_users=deleted,
    )
    refreshed = _refresh_similarity(model, state, model.similarity_)

    # Drop the deleted users' rows and the items no remaining user has.
    kept_users = np.setdiff1d(identity_users, deleted)
    kept_items = np.flatnonzero(np.bincount(new.indices, minlength=old.shape[1]) > 0)
    item_map = np.full(old.shape[1], -1, dtype=np.int64)
    item_map[kept_items] = np.arange(len(kept_items))
    compact = _csr(
        new.data,
        item_map[new.indices],
        _indptr(np.diff(new.indptr)[kept_users]),
        (len(kept_users), len(kept_items)),
    )
    state.user_ids = IdMap.from_sorted(model.user_ids_.ids[kept_users], "user_id")
    state.item_ids = IdMap.from_sorted(model.item_ids_.ids[kept_items], "item_id")
    old_support = _old_support(model, item_map, len(kept_items))
    if refreshed is not None:
        refreshed = _Refreshed(
            _remap_similarity(refreshed.similarity, item_map, len(kept_items)),
            refreshed.changed_rows[kept_items],
            refreshed.cooccurrence_rows[kept_items],
        )
    metadata = model.item_metadata_
    if metadata is not None:
        metadata = metadata.iloc[kept_items].reset_index(drop=True)
    n_cells = int(np.sum(lengths[deleted]))
    n_triples = int(np.bitwise_count(np.asarray(model.seen_events_)[~keep_cells]).sum())
    _set_state(model, state, compact, state.new_seen, refreshed, metadata, old_support)
    # NOTE: the model stores no raw event rows, so n_events_ drops by the deleted
    # users' distinct (user, item, event) triples. It matches a refit's count only
    # when those users had no repeated events.
    model.n_events_ = max(0, int(model.n_events_) - n_triples)
    # data_until_ and store_high_water_mark_ stay: the kept events were read up to
    # them, and a forgotten user's event stored later is still new to the model.
    _finish(model, "forget_users", started, n_cells)


# --------------------------------------------------------------------------- checks


def _check_supported(model: ItemKNN, method: str) -> None:
    from recsys.models.item_knn import ItemKNN

    name = type(model).__name__
    if type(model)._fit_model is not ItemKNN._fit_model:
        raise DataValidationError(
            f"{name}.{method} is not supported: {name} fits its own similarity, which the exact "
            f"update of ItemKNN does not recompute; refit with fit() on all events"
        )
    unsupported = [
        ("weighting", model.weighting, model.weighting != "none", "its weights read every user and item"),
        (
            "max_items_per_user",
            model.max_items_per_user,
            model.max_items_per_user is not None,
            "the per-user sample depends on whole histories",
        ),
        (
            "half_life_days",
            model.data_params_.get("half_life_days"),
            model.data_params_.get("half_life_days") is not None,
            "the decay is measured from the newest event, so every weight moves",
        ),
    ]
    for option, value, active, reason in unsupported:
        if active:
            raise DataValidationError(
                f"{name}.{method} cannot update a model fitted with {option}={value!r} exactly, "
                f"because {reason}; refit with fit() on all events"
            )


def _batch_interactions(model: ItemKNN, data: Any) -> Interactions:
    """Build the new events with the model's event weights and repeat rule."""
    params = model.data_params_
    if isinstance(data, Interactions):
        built_with = {
            "event_weights": data.event_weights,
            "count_repeats": data.count_repeats,
            "half_life_days": data.half_life_days,
        }
        expected = {
            "event_weights": params["event_weights"],
            "count_repeats": params["count_repeats"],
            "half_life_days": None,
        }
        for name, value in expected.items():
            if built_with[name] != value:
                raise DataValidationError(
                    f"partial_fit needs Interactions built with the model's {name}={value!r}; "
                    f"got {name}={built_with[name]!r}. Build them with the same value, or pass the "
                    f"events DataFrame"
                )
        batch = data
    elif isinstance(data, (pd.DataFrame, str, PathLike)):
        batch = Interactions.from_events(
            data, event_weights=model._event_weights(), count_repeats=bool(params["count_repeats"])
        )
    else:
        raise DataValidationError(
            f"partial_fit needs Interactions, a pandas DataFrame of events, or the path of an "
            f"events CSV or Parquet file; got {type(data).__name__}"
        )
    for kind, old_map, new_map in (
        ("user_id", model.user_ids_, batch.user_ids),
        ("item_id", model.item_ids_, batch.item_ids),
    ):
        if len(new_map) and old_map.kind != new_map.kind:
            raise DataValidationError(
                f"the new events have {new_map.kind} {kind} values, but the model was fitted with "
                f"{old_map.kind} ids; convert the column, e.g. events[{kind!r}].astype({old_map.kind})"
            )
    return batch


# --------------------------------------------------------------------------- histories


def _union(old: IdMap, added: IdMap, name: str) -> tuple[IdMap, np.ndarray, np.ndarray]:
    """Return the sorted union of two id maps and the position maps of each into it."""
    if len(added) == 0:
        return old, np.arange(len(old), dtype=np.int64), np.empty(0, dtype=np.int64)
    extra = added.ids[old._index.get_indexer(added.ids) < 0]
    union = old if len(extra) == 0 else IdMap(np.concatenate([old.ids, extra]), name)
    old_to_union = union._index.get_indexer(old.ids).astype(np.int64)
    added_to_union = union._index.get_indexer(added.ids).astype(np.int64)
    return union, old_to_union, added_to_union


def _merge(model: ItemKNN, batch: Interactions) -> _State:
    """Merge the new events' cells into the model's histories."""
    user_ids, user_old, user_added = _union(model.user_ids_, batch.user_ids, "user_id")
    item_ids, item_old, item_added = _union(model.item_ids_, batch.item_ids, "item_id")
    n_users, n_items = len(user_ids), len(item_ids)

    old = model.user_items_
    old_lengths = np.diff(old.indptr)
    union_lengths = np.zeros(n_users, dtype=np.int64)
    union_lengths[user_old] = old_lengths
    # Both maps are increasing, so every row stays sorted by column.
    old_indices = old.indices if len(item_ids) == len(model.item_ids_) else item_old[old.indices]
    old_in_union = _csr(old.data, old_indices, _indptr(union_lengths), (n_users, n_items))
    old_seen = np.asarray(model.seen_events_, dtype=np.uint32)

    keys, per_event, seen = _batch_cells(model, batch, user_added, item_added, n_items)
    batch_users = np.unique(keys // n_items)
    # The stored cells of the users with new events, as sorted (user, item) keys.
    positions = _row_positions(old_in_union.indptr, batch_users)
    old_keys = (
        np.repeat(batch_users, np.diff(old_in_union.indptr)[batch_users]) * n_items
        + np.asarray(old_in_union.indices, dtype=np.int64)[positions]
    )
    old_values = np.asarray(old_in_union.data, dtype=np.float32)[positions]
    old_bits = old_seen[positions]

    slot = np.searchsorted(old_keys, keys)
    found = slot < len(old_keys)
    found[found] = old_keys[slot[found]] == keys[found]
    safe = np.minimum(slot, max(len(old_keys) - 1, 0))
    previous = np.where(found, old_values[safe] if len(old_keys) else 0, np.float32(0)).astype(np.float32)
    previous_seen = np.where(found, old_bits[safe] if len(old_keys) else 0, np.uint32(0)).astype(np.uint32)
    merged, ambiguous = _merge_values(
        previous, previous_seen, per_event, bool(model.data_params_["count_repeats"])
    )
    if ambiguous.any():
        first = int(np.flatnonzero(ambiguous)[0])
        raise DataValidationError(
            f"partial_fit cannot merge {int(ambiguous.sum())} (user, item) cell(s) exactly, first "
            f"user_id={user_ids.id_of(int(keys[first] // n_items))!r}, "
            f"item_id={item_ids.id_of(int(keys[first] % n_items))!r}: the new events repeat an event "
            f"type on a cell that already has several types, and with count_repeats=False the model "
            f"stores only their sum, not each type's largest value. Refit with fit() on all events, "
            f"or fit with count_repeats=True, whose sums merge exactly"
        )
    merged_seen = previous_seen | seen

    row_values = old_values.copy()
    row_bits = old_bits.copy()
    row_values[slot[found]] = merged[found]
    row_bits[slot[found]] = merged_seen[found]
    added = ~found
    row_keys = np.insert(old_keys, slot[added], keys[added])
    row_values = np.insert(row_values, slot[added], merged[added])
    row_bits = np.insert(row_bits, slot[added], merged_seen[added])
    indptr, indices, (values, bits) = _replace_rows(
        old_in_union.indptr,
        old_in_union.indices,
        [old_in_union.data, old_seen],
        batch_users,
        row_keys // n_items,
        row_keys % n_items,
        [row_values, row_bits],
    )
    new = _csr(values, indices, indptr, (n_users, n_items))

    cell_users = keys // n_items
    value_changed = found & (merged != previous)
    return _State(
        user_ids=user_ids,
        item_ids=item_ids,
        old=old_in_union,
        new=new,
        new_seen=bits,
        user_old_to_new=user_old,
        item_old_to_new=item_old,
        presence_changed_users=np.unique(cell_users[added]),
        value_changed_users=np.unique(cell_users[added | value_changed]),
    )


def _batch_cells(
    model: ItemKNN, batch: Interactions, user_added: np.ndarray, item_added: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the new events' cells: sorted keys, a value per event type, and the seen bits."""
    pieces = []
    for bit, event in enumerate(model.event_names_):
        matrix = batch.event_user_items.get(event)
        if matrix is None or matrix.nnz == 0:
            continue
        coo = sp.coo_array(matrix)
        keys = user_added[coo.row.astype(np.int64)] * n_items + item_added[coo.col.astype(np.int64)]
        pieces.append((bit, keys, np.asarray(coo.data, dtype=np.float32)))
    if not pieces:
        return (
            np.empty(0, dtype=np.int64),
            np.zeros((0, len(model.event_names_)), np.float32),
            np.empty(0, np.uint32),
        )
    keys = np.unique(np.concatenate([piece_keys for _, piece_keys, _ in pieces]))
    per_event = np.zeros((len(keys), len(model.event_names_)), dtype=np.float32)
    seen = np.zeros(len(keys), dtype=np.uint32)
    for bit, piece_keys, data in pieces:
        where = np.searchsorted(keys, piece_keys)
        per_event[where, bit] = data
        seen[where] |= np.uint32(1 << bit)
    return keys, per_event, seen


def _merge_values(
    previous: np.ndarray,
    previous_seen: np.ndarray,
    per_event: np.ndarray,
    count_repeats: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Return each cell's new value, summing the event types in order as the fit does.

    A stored cell keeps only the sum over its event types. Its per-type values are
    known when it has one event type (the whole value) or when the new events
    bring only types it lacks (they are added). Under the default repeat rule
    (largest value per type) a type the cell already has among others cannot be
    merged exactly: the second array marks those cells.
    """
    n_types = per_event.shape[1]
    type_bits = np.uint32(1) << np.arange(n_types, dtype=np.uint32)
    has_type = (previous_seen[:, None] & type_bits[None, :]) != 0
    new_type = per_event > 0
    single = np.bitwise_count(previous_seen) <= 1

    # Cells whose per-type values are known: rebuild every type's value and sum in order.
    old_per_event = np.where(has_type & single[:, None], previous[:, None], np.float32(0)).astype(np.float32)
    combined = old_per_event + per_event if count_repeats else np.maximum(old_per_event, per_event)
    exact_sum = np.zeros(len(previous), dtype=np.float32)
    for column in range(n_types):
        exact_sum = exact_sum + combined[:, column]

    # Cells with several stored types: add the new values on top of the stored sum.
    added_sum = previous.astype(np.float32)
    for column in range(n_types):
        added_sum = added_sum + per_event[:, column]
    overlap = (has_type & new_type).any(axis=1) & ~single
    if count_repeats:
        overlap[:] = False
    return np.where(single, exact_sum, added_sum).astype(np.float32), overlap


def _row_positions(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return the positions in the data array of the entries of ``rows``, in order."""
    starts = np.asarray(indptr[rows], dtype=np.int64)
    lengths = np.asarray(indptr[rows + 1], dtype=np.int64) - starts
    if len(rows) == 0:
        return np.empty(0, dtype=np.int64)
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())


def _replace_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    arrays: list[np.ndarray],
    rows: np.ndarray,
    new_rows: np.ndarray,
    new_indices: np.ndarray,
    new_arrays: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Return CSR arrays in which the sorted, unique ``rows`` contain the new entries instead.

    The new entries must be sorted by (row, column) and lie in ``rows``. The other
    rows are copied in one vectorised pass, so the cost is linear in the size.
    """
    n_rows = len(indptr) - 1
    lengths = np.diff(indptr).astype(np.int64)
    replaced = np.zeros(n_rows, dtype=bool)
    replaced[rows] = True
    new_lengths = np.where(replaced, 0, lengths) + np.bincount(new_rows, minlength=n_rows)
    new_indptr = _indptr(new_lengths)
    keep = ~np.repeat(replaced, lengths)
    shift = np.repeat(new_indptr[:-1] - np.asarray(indptr[:-1], dtype=np.int64), lengths)
    kept_target = np.flatnonzero(keep) + shift[keep]
    new_rows = np.asarray(new_rows, dtype=np.int64)
    new_target = new_indptr[new_rows] + np.arange(len(new_rows)) - np.searchsorted(new_rows, new_rows)

    def place(old: np.ndarray, added: np.ndarray) -> np.ndarray:
        out = np.empty(int(new_indptr[-1]), dtype=old.dtype)
        out[kept_target] = np.asarray(old)[keep]
        out[new_target] = added
        return out

    return (
        new_indptr,
        place(np.asarray(indices), new_indices),
        [place(old, added) for old, added in zip(arrays, new_arrays, strict=True)],
    )


# --------------------------------------------------------------------------- similarity


def _remap_similarity(
    similarity: sp.csr_array, item_map: np.ndarray, n_items: int, *, drop_dangling: bool = False
) -> sp.csr_array:
    """Move a similarity to another item space by an increasing map (-1 drops an item).

    A pair whose column is dropped raises, unless ``drop_dangling`` drops the pair.
    """
    similarity = sp.csr_array(similarity)
    lengths = np.diff(similarity.indptr)
    rows = np.repeat(np.arange(similarity.shape[0]), lengths)
    keep = item_map[rows] >= 0
    if drop_dangling:
        keep &= item_map[np.asarray(similarity.indices, dtype=np.int64)] >= 0
    new_rows = item_map[rows[keep]]
    columns = item_map[np.asarray(similarity.indices, dtype=np.int64)[keep]]
    if (columns < 0).any():
        raise AssertionError("a kept similarity row refers to a dropped item")
    # An increasing map keeps canonical rows sorted.
    return _similarity_csr(
        new_rows, columns, np.asarray(similarity.data)[keep], n_items, similarity.dtype, presorted=True
    )


def _similarity_csr(
    rows: np.ndarray,
    columns: np.ndarray,
    values: np.ndarray,
    n_items: int,
    dtype: Any = np.float32,
    *,
    presorted: bool = False,
) -> sp.csr_array:
    """Build a canonical items x items matrix with the index dtype the fit uses.

    ``presorted`` skips the sort for pairs already in (row, column) order.
    """
    order = np.arange(len(rows)) if presorted else np.lexsort((columns, rows))
    index_dtype = np.int32 if max(n_items, len(rows)) < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n_items + 1, dtype=index_dtype)
    np.cumsum(np.bincount(rows, minlength=n_items), out=indptr[1:])
    result: sp.csr_array = sp.csr_array(
        (
            np.asarray(values, dtype=dtype)[order],
            np.asarray(columns)[order].astype(index_dtype),
            indptr,
        ),
        shape=(n_items, n_items),
    )
    result.has_sorted_indices = True
    return result


@dataclass(frozen=True)
class _Mode:
    """Weight handling of the fit's kernel for a matrix (see :func:`recsys.similarity.item_similarity`)."""

    use_weights: bool
    scale: float

    @classmethod
    def of(cls, matrix: sp.csr_array, similarity: str) -> _Mode:
        equal_weights = bool(matrix.nnz) and matrix.data.min() == matrix.data.max()
        use_weights = similarity in _WEIGHTED and not equal_weights
        scale = float(matrix.data[0]) ** 2 if similarity == "cooccurrence" and equal_weights else 1.0
        return cls(use_weights, scale)


@dataclass(frozen=True)
class _Refreshed:
    """A similarity, the rows whose pairs may differ from the old ones, and the rows
    whose co-occurrence changed (a changed user has the item)."""

    similarity: sp.csr_array
    changed_rows: np.ndarray
    cooccurrence_rows: np.ndarray


def _refresh_similarity(model: ItemKNN, state: _State, old_similarity: sp.csr_array) -> _Refreshed | None:
    """Return the similarity of ``state.new`` in the state's space, or None to refit every row."""
    measure = model.similarity
    old_mode, mode = _Mode.of(state.old, measure), _Mode.of(state.new, measure)
    if old_mode != mode:
        logger.info("the weights changed between equal and unequal; recomputing every row")
        return None
    stats = ItemStats.of(state.new, binary=not mode.use_weights)
    old_stats = ItemStats.of(state.old, binary=not mode.use_weights)
    if measure in _USER_COUNT_MEASURES and stats.n_users != old_stats.n_users:
        logger.info("%s reads the number of users, which changed; recomputing every row", measure)
        return None

    changed_users = state.value_changed_users if mode.use_weights else state.presence_changed_users
    if len(changed_users) == 0:
        unchanged = np.zeros(state.new.shape[1], dtype=bool)
        return _Refreshed(old_similarity, unchanged, unchanged)
    # Rows whose co-occurrence changed: every item a changed user had or has.
    rows = np.unique(
        np.concatenate([_row_items(state.old, changed_users), _row_items(state.new, changed_users)])
    )
    if measure in _NEIGHBOR_STATISTICS:
        compared = (
            (stats.squared_norms, old_stats.squared_norms)
            if measure == "cosine"
            else (stats.counts, old_stats.counts)
        )
        rescored = np.flatnonzero(compared[0] != compared[1])
    else:
        rescored = np.empty(0, dtype=np.int64)

    transposed = state.new.T.tocsr()
    user_lengths = np.diff(state.new.indptr).astype(np.float64)
    full_pass = float(np.square(user_lengths).sum())
    estimate = _visits(transposed, user_lengths, rows) + _COLUMN_COST_FACTOR * _visits(
        transposed, user_lengths, rescored
    )
    if estimate >= _FULL_PASS_SHARE * full_pass:
        logger.info("the changed rows cost about a full pass; recomputing every row")
        return None

    computation = _RowComputation(model, state.new, transposed, mode, stats)
    recompute = np.zeros(state.new.shape[1], dtype=bool)
    recompute[rows] = True
    updates = computation.rescore(rescored, recompute, old_similarity, shrinking=model.shrinkage > 0)
    if _visits(transposed, user_lengths, np.flatnonzero(recompute)) >= _FULL_PASS_SHARE * full_pass:
        logger.info("the rows to recompute cost about a full pass; recomputing every row")
        return None
    similarity = computation.assemble(old_similarity, np.flatnonzero(recompute), updates)
    changed = recompute.copy()
    changed[updates[0]] = True
    cooccurrence_rows = np.zeros(state.new.shape[1], dtype=bool)
    cooccurrence_rows[rows] = True
    return _Refreshed(similarity, changed, cooccurrence_rows)


def _row_items(matrix: sp.csr_array, users: np.ndarray) -> np.ndarray:
    starts, stops = matrix.indptr[users], matrix.indptr[users + 1]
    if len(users) == 0:
        return np.empty(0, dtype=np.int64)
    lengths = (stops - starts).astype(np.int64)
    offsets = np.repeat(starts.astype(np.int64) - np.cumsum(lengths) + lengths, lengths)
    return np.asarray(matrix.indices[offsets + np.arange(lengths.sum())], dtype=np.int64)


def _visits(transposed: sp.csr_array, user_lengths: np.ndarray, items: np.ndarray) -> float:
    """Return the pair visits of the rows ``items``: the sum of ``d_u`` over their users."""
    positions = _row_positions(transposed.indptr, np.asarray(items, dtype=np.int64))
    return float(user_lengths[np.asarray(transposed.indices)[positions]].sum())


class _RowComputation:
    """The fit's similarity kernel, run on chosen rows of one matrix."""

    def __init__(
        self, model: ItemKNN, matrix: sp.csr_array, transposed: sp.csr_array, mode: _Mode, stats: ItemStats
    ) -> None:
        from recsys.models.item_knn import _SHRINKAGE_CANDIDATE_FACTOR

        self.model = model
        self.matrix = matrix
        self.transposed = transposed
        self.mode = mode
        self.stats = stats
        self.norms = np.sqrt(stats.squared_norms)
        self.count_support = mode.use_weights and model.min_support > 1
        n_items = matrix.shape[1]
        self.capacity = max(1, min(model.n_neighbors, n_items))
        candidates = model.n_neighbors * (_SHRINKAGE_CANDIDATE_FACTOR if model.shrinkage > 0 else 1)
        self.candidate_capacity = max(1, min(candidates, n_items))
        self.scratch = _kernels.scratch_space(n_items, self.count_support, mode.use_weights)

    def _common_arguments(self) -> tuple[Any, ...]:
        matrix, transposed = self.matrix, self.transposed
        return (
            matrix.indptr,
            matrix.indices,
            matrix.data,
            transposed.indptr,
            transposed.indices,
            transposed.data,
            _kernels.MEASURES[self.model.similarity],
            self.mode.use_weights,
            self.count_support,
            self.norms,
            self.stats.counts,
            float(self.stats.n_users),
            float(self.model.min_support),
        )

    def rescore(
        self, rescored: np.ndarray, recompute: np.ndarray, similarity: sp.csr_array, *, shrinking: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rescore the pairs of each item in ``rescored``; mark rows that need a full pass.

        Returns the pairs (row, column, score) to merge into rows not marked.
        """
        if len(rescored) == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0, dtype=np.float32)
        lengths = np.diff(similarity.indptr)
        full = lengths >= self.capacity
        # The worst stored pair of each row: lowest score, ties to the larger column.
        columns = np.asarray(similarity.indices, dtype=np.int64)
        values = np.asarray(similarity.data, dtype=np.float32)
        nonempty = lengths > 0
        starts = np.asarray(similarity.indptr[:-1], dtype=np.int64)[nonempty]
        worst_value = np.zeros(similarity.shape[0], dtype=np.float32)
        worst_index = np.zeros(similarity.shape[0], dtype=np.int64)
        if len(starts):
            worst_value[nonempty] = np.minimum.reduceat(values, starts)
            at_worst = values == np.repeat(worst_value, lengths)
            worst_index[nonempty] = np.maximum.reduceat(np.where(at_worst, columns, -1), starts)
        kept = (
            np.asarray(similarity.indptr, dtype=np.int64),
            np.asarray(similarity.indices, dtype=np.int64),
            np.asarray(similarity.data, dtype=np.float32),
        )
        rescored = np.asarray(rescored, dtype=np.int64)
        # The kernel releases the GIL, so threads share the columns. Threads only
        # ever set marks in recompute. A pair returned for a row that another thread
        # marks later is dropped when the rows are assembled.
        n_threads = max(1, min(numba.get_num_threads(), len(rescored)))

        def run(part: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            accumulated, shared, touched = (array[part] for array in self.scratch)
            return cast(Any, _rescore_columns)(
                rescored[part::n_threads],
                *self._common_arguments(),
                *kept,
                full,
                worst_value,
                worst_index,
                shrinking,
                recompute,
                accumulated,
                shared,
                touched,
            )

        with ThreadPoolExecutor(n_threads) as pool:
            parts = list(pool.map(run, range(n_threads)))
        return (
            np.concatenate([part[0] for part in parts]),
            np.concatenate([part[1] for part in parts]),
            np.concatenate([part[2] for part in parts]),
        )

    def rows(self, rows: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Compute the top ``capacity`` neighbours of ``rows``; return (row, column, score) pairs."""
        out_indices = np.zeros((len(rows), capacity), dtype=np.int64)
        out_values = np.zeros((len(rows), capacity), dtype=np.float32)
        out_lengths = np.zeros(len(rows), dtype=np.int64)
        if len(rows):
            cast(Any, _knn_rows)(
                np.asarray(rows, dtype=np.int64),
                *self._common_arguments(),
                self.scratch,
                out_indices,
                out_values,
                out_lengths,
            )
        keep = np.arange(capacity)[None, :] < out_lengths[:, None]
        values = out_values[keep]
        if self.mode.scale != 1.0:
            values = values * np.float32(self.mode.scale)
        return np.repeat(rows, out_lengths), out_indices[keep], values

    def assemble(
        self,
        similarity: sp.csr_array,
        recompute: np.ndarray,
        updates: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> sp.csr_array:
        """Combine kept rows, merged rows and recomputed rows into the new similarity."""
        from recsys.models.item_knn import _shrink_similarity

        n_items = similarity.shape[0]
        fresh_rows, fresh_columns, fresh_values = self.rows(recompute, self.candidate_capacity)
        if self.model.shrinkage > 0:
            candidates = _similarity_csr(fresh_rows, fresh_columns, fresh_values, n_items)
            shrunk = _shrink_similarity(
                candidates, self.matrix, float(self.model.shrinkage), self.model.n_neighbors
            )
            fresh_rows = np.repeat(np.arange(n_items), np.diff(shrunk.indptr))
            fresh_columns = np.asarray(shrunk.indices, dtype=np.int64)
            fresh_values = np.asarray(shrunk.data)

        is_fresh = np.zeros(n_items, dtype=bool)
        is_fresh[recompute] = True
        update_rows, update_columns, update_values = updates
        usable = ~is_fresh[update_rows]
        update_rows = update_rows[usable]
        update_columns = update_columns[usable]
        update_values = update_values[usable]

        # Rows that merge rescored pairs: their stored pairs, a rescored pair
        # replacing its old score, plus the new candidates.
        merged = np.unique(update_rows)
        positions = _row_positions(similarity.indptr, merged)
        rows = np.repeat(merged, np.diff(similarity.indptr)[merged])
        columns = np.asarray(similarity.indices, dtype=np.int64)[positions]
        values = np.asarray(similarity.data, dtype=np.float32)[positions]
        keys = rows * n_items + columns
        update_keys = update_rows * n_items + update_columns
        slot = np.searchsorted(keys, update_keys)
        stored = slot < len(keys)
        stored[stored] = keys[slot[stored]] == update_keys[stored]
        values[slot[stored]] = update_values[stored]
        rows = np.concatenate([rows, update_rows[~stored]])
        columns = np.concatenate([columns, update_columns[~stored]])
        values = np.concatenate([values, update_values[~stored]])
        keep = values > 0
        rows, columns, values = rows[keep], columns[keep], values[keep]
        # Top capacity per row: score descending, ties to the smaller column, as the heap.
        order = np.lexsort((columns, -values.astype(np.float64), rows))
        ranked_rows = rows[order]
        rank = np.arange(len(ranked_rows)) - np.searchsorted(ranked_rows, ranked_rows, side="left")
        top = order[rank < self.capacity]

        changed_rows = np.union1d(merged, recompute)
        rows = np.concatenate([rows[top], fresh_rows])
        columns = np.concatenate([columns[top], fresh_columns])
        values = np.concatenate([values[top], np.asarray(fresh_values, dtype=np.float32)])
        order = np.lexsort((columns, rows))
        indptr, indices, (data,) = _replace_rows(
            similarity.indptr,
            similarity.indices,
            [np.asarray(similarity.data, dtype=np.float32)],
            changed_rows,
            rows[order],
            columns[order],
            [values[order]],
        )
        return _similarity_csr(
            np.repeat(np.arange(n_items), np.diff(indptr)), indices, data, n_items, presorted=True
        )


# --------------------------------------------------------------------------- kernels


@numba.njit(cache=True, parallel=True)
def _knn_rows(
    rows: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    t_data: np.ndarray,
    measure: int,
    use_weights: bool,
    count_support: bool,
    norms: np.ndarray,
    counts: np.ndarray,
    n_users: float,
    min_support: float,
    scratch: tuple[np.ndarray, np.ndarray, np.ndarray],
    out_indices: np.ndarray,
    out_values: np.ndarray,
    out_lengths: np.ndarray,
) -> None:
    """Compute the top-k neighbours of the items ``rows``, slot ``s`` for ``rows[s]``.

    The same accumulation, support rule, float32 scores and heap as
    :func:`recsys._kernels.knn_from_user_items`, on a list of rows.
    """
    accumulated_all, shared_all, touched_all = scratch
    n_rows = len(rows)
    capacity = out_indices.shape[1]
    n_chunks = min(n_rows, accumulated_all.shape[0])
    for chunk in numba.prange(n_chunks):
        accumulated = accumulated_all[chunk]
        shared = shared_all[chunk]
        touched = touched_all[chunk]
        heap_values = np.empty(capacity, dtype=np.float32)
        heap_indices = np.empty(capacity, dtype=np.int64)
        for slot in range(chunk, n_rows, n_chunks):
            i = rows[slot]
            n_touched = _kernels._accumulate_tracked(
                i,
                indptr,
                indices,
                data,
                t_indptr,
                t_indices,
                t_data,
                use_weights,
                count_support,
                accumulated,
                shared,
                touched,
            )
            _kernels._emit_touched(
                i,
                slot,
                n_touched,
                touched,
                accumulated,
                shared,
                measure,
                use_weights,
                count_support,
                norms,
                counts,
                n_users,
                min_support,
                heap_values,
                heap_indices,
                out_indices,
                out_values,
                out_lengths,
            )


@numba.njit(cache=True, nogil=True)
def _rescore_columns(
    columns: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    t_data: np.ndarray,
    measure: int,
    use_weights: bool,
    count_support: bool,
    norms: np.ndarray,
    counts: np.ndarray,
    n_users: float,
    min_support: float,
    kept_indptr: np.ndarray,
    kept_indices: np.ndarray,
    kept_values: np.ndarray,
    full: np.ndarray,
    worst_value: np.ndarray,
    worst_index: np.ndarray,
    shrinking: bool,
    recompute: np.ndarray,
    accumulated: np.ndarray,
    shared: np.ndarray,
    touched: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rescore pair (i, j) for every item j in ``columns`` and every i that co-occurs with it.

    Co-occurrence is symmetric, so row j of the accumulation is column j. A row
    ``i`` not yet marked in ``recompute`` is marked when, in a full row, a stored
    neighbour's score falls below the row's old worst pair or the pair loses its
    support, and on any touch when ``shrinking``. Otherwise a new score of a
    stored neighbour (0 drops the pair), or a new pair that ranks inside the row,
    is returned as (row, column, score).
    """
    capacity = 1024
    out_rows = np.empty(capacity, dtype=np.int64)
    out_columns = np.empty(capacity, dtype=np.int64)
    out_values = np.empty(capacity, dtype=np.float32)
    n_out = 0
    for j in columns:
        n_touched = _kernels._accumulate_tracked(
            j,
            indptr,
            indices,
            data,
            t_indptr,
            t_indices,
            t_data,
            use_weights,
            count_support,
            accumulated,
            shared,
            touched,
        )
        for t in range(n_touched):
            i = touched[t]
            weighted, support = _kernels._take_touched(i, accumulated, shared, use_weights, count_support)
            if i == j or recompute[i]:
                continue
            if shrinking:
                recompute[i] = True
                continue
            # Is j a stored neighbour of i? Rows are sorted by column.
            low = kept_indptr[i]
            high = kept_indptr[i + 1]
            while low < high:
                middle = (low + high) // 2
                if kept_indices[middle] < j:
                    low = middle + 1
                else:
                    high = middle
            stored = low < kept_indptr[i + 1] and kept_indices[low] == j
            score = np.float32(0.0)
            if support >= min_support:
                score = np.float32(_kernels._score(measure, weighted, support, i, j, norms, counts, n_users))
            if stored:
                if score == kept_values[low]:
                    continue
                # In a full row, a stored pair that falls below the old worst pair, or
                # to no score, may let an unseen item in, so the row is recomputed.
                if full[i] and (score <= 0.0 or _kernels._worse(score, j, worst_value[i], worst_index[i])):
                    recompute[i] = True
                    continue
            elif score <= 0.0 or (full[i] and not _kernels._worse(worst_value[i], worst_index[i], score, j)):
                continue
            if n_out == len(out_rows):
                out_rows = np.concatenate((out_rows, np.empty(len(out_rows), dtype=np.int64)))
                out_columns = np.concatenate((out_columns, np.empty(len(out_columns), dtype=np.int64)))
                out_values = np.concatenate((out_values, np.empty(len(out_values), dtype=np.float32)))
            out_rows[n_out] = i
            out_columns[n_out] = j
            out_values[n_out] = score
            n_out += 1
    return out_rows[:n_out], out_columns[:n_out], out_values[:n_out]


# --------------------------------------------------------------------------- state


def _set_state(
    model: ItemKNN,
    state: _State,
    user_items: sp.csr_array,
    seen: np.ndarray,
    refreshed: _Refreshed | None,
    metadata: pd.DataFrame | None,
    old_support: sp.csr_array | None,
) -> None:
    """Install the new histories on ``model``, refitting every similarity row on request."""
    model.user_ids_ = state.user_ids
    model.item_ids_ = state.item_ids
    model.user_items_ = user_items
    model.seen_events_ = np.asarray(seen, dtype=np.uint32)
    model.popularity_ = np.asarray(user_items.sum(axis=0), dtype=np.float64).ravel()
    model.item_metadata_ = metadata
    model._set_popular_order()
    if refreshed is None:
        interactions = Interactions(
            user_ids=state.user_ids,
            item_ids=state.item_ids,
            user_items=user_items,
            event_user_items={},
            event_weights=model._event_weights(),
            count_repeats=bool(model.data_params_["count_repeats"]),
        )
        model._fit_model(interactions)
    else:
        model.similarity_ = refreshed.similarity
        if hasattr(model, "support_"):
            model.support_ = _refreshed_support(refreshed, user_items, old_support)


def _old_support(model: ItemKNN, item_map: np.ndarray, n_items: int) -> sp.csr_array | None:
    """Return the stored co-buyer counts (``support_``) moved to the new item space, if any."""
    support = getattr(model, "support_", None)
    if support is None:
        return None
    # Rows that lose a pair this way are changed rows, whose counts are recounted.
    return _remap_similarity(support, item_map, n_items, drop_dangling=True)


def _refreshed_support(
    refreshed: _Refreshed, user_items: sp.csr_array, old_support: sp.csr_array | None
) -> sp.csr_array:
    """Return the co-buyer count of every stored pair, recounting only where it can differ.

    A pair's count changes only through a changed user who has both items, so it
    is recounted in the rows whose co-occurrence changed and for pairs new to their
    row. Every other pair keeps its stored count.
    """
    from recsys.models.item_knn import _pair_support

    similarity = refreshed.similarity
    if old_support is None:
        return _pair_support(similarity, user_items)
    n_items = similarity.shape[0]
    lengths = np.diff(similarity.indptr)
    rows = np.repeat(np.arange(n_items), lengths)
    columns = np.asarray(similarity.indices, dtype=np.int64)
    data = np.empty(similarity.nnz, dtype=old_support.dtype)

    # Unchanged rows have the same pairs as before, in the same order.
    entry_changed = refreshed.changed_rows[rows]
    old_entry_kept = np.repeat(~refreshed.changed_rows, np.diff(old_support.indptr))
    data[~entry_changed] = np.asarray(old_support.data)[old_entry_kept]

    # Changed rows: look each pair up among the row's old pairs.
    changed = np.flatnonzero(entry_changed)
    old_rows = np.flatnonzero(refreshed.changed_rows)
    old_positions = _row_positions(old_support.indptr, old_rows)
    old_keys = (
        np.repeat(old_rows, np.diff(old_support.indptr)[old_rows]) * n_items
        + np.asarray(old_support.indices, dtype=np.int64)[old_positions]
    )
    keys = rows[changed] * n_items + columns[changed]
    slot = np.searchsorted(old_keys, keys)
    found = slot < len(old_keys)
    found[found] = old_keys[slot[found]] == keys[found]
    found &= ~refreshed.cooccurrence_rows[rows[changed]]
    data[changed[found]] = np.asarray(old_support.data)[old_positions[slot[found]]]

    recount = changed[~found]
    if len(recount):
        item_users = sp.csr_array(user_items).T.tocsr()
        item_users.sort_indices()
        counts = np.zeros(len(recount), dtype=np.int64)
        _count_pairs(
            rows[recount],
            columns[recount],
            np.asarray(item_users.indptr, dtype=np.int64),
            np.asarray(item_users.indices, dtype=np.int64),
            counts,
        )
        data[recount] = counts
    return sp.csr_array((data, similarity.indices, similarity.indptr), shape=similarity.shape)


@numba.njit(cache=True, parallel=True)
def _count_pairs(
    first: np.ndarray, second: np.ndarray, item_indptr: np.ndarray, item_users: np.ndarray, out: np.ndarray
) -> None:
    """Count the users of both items of each pair (first[p], second[p]).

    ``item_indptr/item_users`` lists each item's users, sorted. Each user of the
    item with fewer users is looked up by binary search in the other item's list,
    so a pair of a rare and a popular item costs little.
    """
    for p in numba.prange(len(first)):
        a, b = first[p], second[p]
        if item_indptr[a + 1] - item_indptr[a] > item_indptr[b + 1] - item_indptr[b]:
            a, b = b, a
        low_bound = item_indptr[b]
        stop = item_indptr[b + 1]
        shared = 0
        for q in range(item_indptr[a], item_indptr[a + 1]):
            user = item_users[q]
            low = low_bound
            high = stop
            while low < high:
                middle = (low + high) // 2
                if item_users[middle] < user:
                    low = middle + 1
                else:
                    high = middle
            if low < stop and item_users[low] == user:
                shared += 1
            # Users come sorted, so the next search starts where this one ended.
            low_bound = low
        out[p] = shared


def _grown_metadata(model: ItemKNN, state: _State) -> pd.DataFrame | None:
    """Return the item metadata in the new item order; new items get None in every column."""
    metadata = model.item_metadata_
    if metadata is None:
        return None
    grown = pd.DataFrame(index=pd.RangeIndex(len(state.item_ids)))
    for column in metadata.columns:
        values = np.full(len(state.item_ids), None, dtype=object)
        values[state.item_old_to_new] = metadata[column].to_numpy(dtype=object)
        grown[column] = pd.Series(values, index=grown.index, dtype=object)
    return grown


def _advance_data_end(model: ItemKNN, batch: Interactions) -> None:
    """Move ``data_until_`` to the newest event of both parts, and drop the store mark.

    ``data_until_`` stays unknown when either part has no timestamps, because the
    other part's newest time does not bound it. The new events need not come from
    the event store, so its mark no longer indicates which stored events the model
    contains. A caller that read them from the store sets the new mark itself.
    """
    if batch.n_events == 0:
        return
    old = getattr(model, "data_until_", None)
    model.data_until_ = None if old is None or batch.data_until is None else max(old, batch.data_until)
    model.store_high_water_mark_ = None


def _finish(model: ItemKNN, method: str, started: float, size: int) -> None:
    from recsys.persistence import content_version

    model.fitted_at_ = datetime.now(UTC).isoformat(timespec="seconds")
    model.version_ = content_version(model)
    logger.info(
        "%s of %s (%s) took %.2f s; model now has %s users x %s items",
        method,
        type(model).__name__,
        f"{size:,}",
        time.perf_counter() - started,
        f"{len(model.user_ids_):,}",
        f"{len(model.item_ids_):,}",
    )


def _indptr(lengths: np.ndarray) -> np.ndarray:
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return indptr


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    """Build canonical float32 histories with int32 indices when they fit, as the fit does."""
    index_dtype = np.int32 if max(*shape, len(data)) < np.iinfo(np.int32).max else np.int64
    matrix = sp.csr_array(
        (
            np.asarray(data, dtype=np.float32),
            np.asarray(indices).astype(index_dtype),
            np.asarray(indptr).astype(index_dtype),
        ),
        shape=shape,
    )
    matrix.has_sorted_indices = True
    return matrix
