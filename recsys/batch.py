"""Batch recommendations for many users, streamed to a Parquet file.

:func:`write_recommendations` writes the top ``n`` items of every fitted user (or of
a given list of users) to one Parquet file, one row per recommended item:

==========  ===================  ==============================================
column      type                 content
==========  ===================  ==============================================
user_id     int64 or string      the user id as given (fitted ids when
                                 ``user_ids`` is None)
rank        int32                1 for the best item of the user
item_id     int64 or string      the model's item id type
score       double               as :attr:`Recommendation.score`
reason      string               ``"similar"`` or ``"popular"``
because     list of item ids     as :attr:`Recommendation.because`
signals     list of structs      as :attr:`Recommendation.signals`, each
            (event, item_id)     ``{"event": str, "item_id": id}``; only for
                                 :class:`~recsys.CrossOccurrence` models
==========  ===================  ==============================================

Every user's rows equal ``model.recommend(user_id, n, ...)`` with the same options:
same items in the same order, bit-identical scores, same reasons, ``because`` and
``signals``. Rules and the availability window are applied at one time for the
whole file (``rules.now``, or the time the call starts).
A user with an empty list has no rows. The users are processed ``chunk_size`` at a
time and each chunk becomes one row group, so memory is bounded by the chunk size
and the catalogue size, not by the number of users. The kernel below needs about
20 bytes per catalogue item per thread on top of the chunk's rows.

For :class:`~recsys.models.item_knn.ItemKNN` a compiled kernel (numba) ranks a
whole chunk in parallel. It sums each score in the same order and with the same
float64 operations as ``ItemKNN._score``, which makes the scores bit-identical
instead of merely close. The kernel applies include and exclude rules, boosts,
the availability window and ``min_support``. Rules with ``max_per_category`` and
the other models call ``recommend`` once per user, which is slower.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys._batch_kernel import POPULAR, SIMILAR, rank_users
from recsys._ids import Id, canonical_int
from recsys.catalog import CompiledRules
from recsys.exceptions import DataValidationError
from recsys.models.base import N_REASONS, Recommender, _blocked, _check_n
from recsys.models.cross_occurrence import CrossOccurrence
from recsys.models.item_knn import ItemKNN
from recsys.rules import Rules

__all__ = ["read_user_ids", "write_recommendations"]

logger = logging.getLogger(__name__)

#: Upper bound on the rows one kernel call allocates (users x n slots). A chunk
#: whose users x n exceeds it is scored in several calls, so a large ``n`` costs
#: memory for the rows actually written rather than for every empty slot.
_MAX_SLOTS_PER_CALL = 1 << 20

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# Parquet columns written with dictionary encoding. The scores are left out because
# they are nearly all distinct, so a dictionary would only cost time.
_DICTIONARY_COLUMNS = ["user_id", "rank", "item_id", "reason", "because", "signals"]

# Codes of the ``reason`` column in the kernel output.
_REASONS = pa.array(["similar", "popular"], type=pa.string())


def write_recommendations(
    model: Recommender,
    path: str | PathLike[str],
    user_ids: Iterable[Id] | None = None,
    n: int = 10,
    *,
    chunk_size: int = 10_000,
    exclude_seen: bool | Sequence[str] = True,
    exclude: Iterable[Id] | None = None,
    allow: Iterable[Id] | None = None,
    backfill: bool = False,
    rules: Rules | Mapping[str, Any] | None = None,
    min_support: int | None = None,
    show_progress: bool = False,
) -> Path:
    """Write the recommendations of many users to a Parquet file.

    Parameters
    ----------
    model : Recommender
        A fitted (or loaded) model.
    path : path
        The Parquet file to write; an existing file is replaced. The rows go to a
        temporary file in the same directory, which is renamed to ``path`` only
        after the last row group is written, so an error never leaves a partial
        file under ``path``.
    user_ids : iterable of ids, optional
        The users, all ints or all strs. None means every fitted user, in position
        (sorted id) order. A list keeps its order and its duplicates. An unknown
        user gets the popular fallback, as from :meth:`Recommender.recommend`.
    n : int, default 10
        Maximum number of items per user, >= 0.
    chunk_size : int, default 10_000
        Users per row group, >= 1. Memory grows with ``chunk_size * n``.
    exclude_seen, exclude, allow, backfill
        As in :meth:`Recommender.recommend`, applied to every user. Unknown ids in
        ``exclude`` and ``allow`` are ignored and logged as a warning.
    rules : Rules or mapping, optional
        As in :meth:`Recommender.recommend`. Items outside their availability
        window are hidden whether or not rules are given, at ``rules.now`` or,
        when that is None, at the time the call starts, for every user alike.
    min_support : int, optional
        As in :meth:`Recommender.recommend`; raises DataValidationError for a
        model that stores no co-buyer counts.
    show_progress : bool, default False
        Show a progress bar (tqdm) counting users.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    DataValidationError
        For an invalid argument, naming it.
    NotFittedError
        If the model is not fitted.
    """
    started = time.perf_counter()
    model._check_fitted()
    n = _check_n(n)
    chunk_size = _check_chunk_size(chunk_size)
    request_rules = _rules_at_one_time(rules)
    compiled = model._compile_rules(request_rules)
    scorer = model._with_min_support(min_support)
    request = _Request(
        n=n,
        seen_mask=model._seen_mask_bits(exclude_seen),
        exclude_seen=exclude_seen,
        exclude=None if exclude is None else _id_list(exclude, "exclude"),
        allow=None if allow is None else _id_list(allow, "allow"),
        backfill=backfill,
        rules=request_rules,
        min_support=min_support,
    )
    exclude_idx, allow_idx, unknown = model._filter_positions(request.exclude, request.allow)
    if unknown:
        logger.warning(
            "ignored %d unknown item id(s) in exclude or allow, first %r", len(unknown), unknown[:5]
        )
    users = _Users(model, user_ids)
    target = Path(path)
    if target.is_dir():
        raise DataValidationError(
            f"path {str(target)!r} is a directory; give a file path such as "
            f"{str(target / 'recommendations.parquet')!r}"
        )

    blocked = _blocked(len(model.item_ids_), exclude_idx, allow_idx, compiled)
    writer = _ChunkWriter(model, users.kind)
    ranker = _ranker(model, scorer, request, blocked, compiled)
    n_rows = n_unknown = 0
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as file, _progress_bar(len(users), show_progress) as bar:
            with pq.ParquetWriter(file, writer.schema, use_dictionary=_DICTIONARY_COLUMNS) as parquet:
                for ids, positions in users.chunks(chunk_size):
                    table = writer.table(ids, ranker.rows(ids, positions))
                    if table.num_rows:
                        parquet.write_table(table, row_group_size=table.num_rows)
                    n_rows += table.num_rows
                    n_unknown += int((positions < 0).sum())
                    bar.update(len(positions))
            # The rename below must not publish a file whose bytes are still in
            # the page cache only.
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

    logger.info(
        "wrote %s rows for %s users (%s unknown) to %s in %.1f s",
        f"{n_rows:,}",
        f"{len(users):,}",
        f"{n_unknown:,}",
        target,
        time.perf_counter() - started,
    )
    return target


def read_user_ids(path: str | PathLike[str]) -> list[Id]:
    """Read a list of user ids from a text, CSV or Parquet file.

    A text or CSV file has one id per line, and blank lines are skipped. A first
    line that contains a ``user_id`` cell is a header, which a CSV with several
    columns must have. The id rule of :func:`recsys.data.read_events` applies:
    when every id is a canonical decimal integer (``"42"``, not ``"042"``), the ids
    are ints, otherwise they are kept as str exactly as written. A Parquet file
    needs a ``user_id`` column, or a single column, and keeps its types.

    Raises
    ------
    DataValidationError
        If the file is missing or unreadable, has no usable column, or contains
        an empty id.
    """
    source = Path(path)
    if not source.is_file():
        raise DataValidationError(f"user ids file not found: {str(source)!r}")
    try:
        if source.suffix == ".parquet":
            column = _user_column(pd.read_parquet(source), source)
        else:
            column = _user_column_from_text(source)
    except UnicodeDecodeError as error:
        raise DataValidationError(
            f"user ids file {str(source)!r} is not UTF-8 text ({error.reason} at byte {error.start}); "
            f"convert it to UTF-8"
        ) from error
    except (pd.errors.ParserError, OSError, EOFError, ValueError) as error:
        raise DataValidationError(f"cannot read user ids file {str(source)!r}: {error}") from error

    values = column.tolist()
    for index, value in enumerate(values):
        if isinstance(value, str) and not value.strip():
            raise DataValidationError(
                f"user ids file {str(source)!r} has an empty id at index {index} (0-based, "
                f"counting ids only); remove the row or fill in the id"
            )
    if all(isinstance(value, str) for value in values):
        as_int = [canonical_int(value) for value in values]
        if all(value is not None for value in as_int):
            return [int(value) for value in as_int if value is not None]
    return values


# --------------------------------------------------------------------------- arguments


@dataclass(frozen=True)
class _Request:
    """The options that apply to every user of one call."""

    n: int
    seen_mask: int | None
    exclude_seen: bool | Sequence[str]
    exclude: list[Id] | None
    allow: list[Id] | None
    backfill: bool
    rules: Rules | None = None
    min_support: int | None = None


def _rules_at_one_time(request_rules: Rules | Mapping[str, Any] | None) -> Rules:
    """Return the rules with ``now`` set, so one availability time applies to every user of the file."""
    checked = Rules.of(request_rules)
    if checked is None:
        return Rules(now=datetime.now(UTC))
    if checked.now is None:
        return dataclasses.replace(checked, now=datetime.now(UTC))
    return checked


def _check_chunk_size(chunk_size: Any) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise DataValidationError(f"chunk_size must be an int >= 1; got {chunk_size!r}")
    return int(chunk_size)


def _id_list(ids: Iterable[Id], name: str) -> list[Id]:
    """Return ``ids`` as a list, so a one-shot iterator can be used for every user."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise DataValidationError(f"{name} must be a list of ids; got {type(ids).__name__} {ids!r}")
    return list(ids)


class _Users:
    """The users of one call, their id column type and their chunks."""

    def __init__(self, model: Recommender, user_ids: Iterable[Id] | None) -> None:
        self._model = model
        self._ids: np.ndarray | Sequence[Id] | None = None
        self.kind: str = model.user_ids_.kind
        self._count = len(model.user_ids_)
        if user_ids is None:
            return
        values = _user_values(user_ids)
        self.kind = _id_kind(values, model.user_ids_.kind)
        # Integer ids become one int64 array: compact, and searchable in one call.
        self._ids = np.asarray(values, dtype=np.int64) if self.kind == "int" else values
        self._count = len(values)

    def __len__(self) -> int:
        return self._count

    def chunks(self, chunk_size: int) -> Iterator[tuple[np.ndarray | Sequence[Id], np.ndarray]]:
        """Yield (user ids, their positions, -1 for unknown users) per chunk."""
        id_map = self._model.user_ids_
        for start in range(0, self._count, chunk_size):
            stop = min(start + chunk_size, self._count)
            if self._ids is None:
                yield id_map.ids[start:stop], np.arange(start, stop, dtype=np.int64)
                continue
            ids = self._ids[start:stop]
            if isinstance(ids, np.ndarray) and id_map.kind == "int":
                yield ids, _sorted_positions(id_map.ids, ids)
            else:
                yield ids, id_map.indices_of(ids.tolist() if isinstance(ids, np.ndarray) else ids)


def _sorted_positions(sorted_ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Return the positions of ``keys`` in the sorted unique ``sorted_ids``, -1 where absent.

    This is ``IdMap.indices_of`` for int64 keys of an int64 map, without a Python
    call per id.
    """
    positions = np.searchsorted(sorted_ids, keys)
    inside = positions < len(sorted_ids)
    found = np.zeros(len(keys), dtype=bool)
    found[inside] = sorted_ids[positions[inside]] == keys[inside]
    return np.where(found, positions, -1).astype(np.int64)


def _user_values(user_ids: Iterable[Id]) -> np.ndarray | list[Id]:
    """Return the users as an int64 array or a list, checking each id's type."""
    if isinstance(user_ids, (str, bytes)) or not isinstance(user_ids, Iterable):
        raise DataValidationError(
            f"user_ids must be a list of ids or None; got {type(user_ids).__name__} {user_ids!r}"
        )
    if isinstance(user_ids, pd.Series | pd.Index):
        user_ids = user_ids.to_numpy()
    if isinstance(user_ids, np.ndarray) and user_ids.dtype.kind in "iu":
        if user_ids.dtype.kind == "u" and len(user_ids) and user_ids.max() > _INT64_MAX:
            raise DataValidationError("user_ids must fit in int64; convert larger ids to str")
        return user_ids.astype(np.int64, copy=False).ravel()
    values = user_ids.tolist() if isinstance(user_ids, np.ndarray) else list(user_ids)
    for index, value in enumerate(values):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, str)):
            raise DataValidationError(
                f"user_ids[{index}] must be an int or a str; got {type(value).__name__} {value!r}"
            )
        if not isinstance(value, str) and not _INT64_MIN <= int(value) <= _INT64_MAX:
            raise DataValidationError(
                f"user_ids[{index}] = {value!r} does not fit in int64; convert larger ids to str"
            )
    return values


def _id_kind(values: np.ndarray | list[Id], model_kind: str) -> str:
    """Return "int" or "str", the type of the user_id column for these ids."""
    if isinstance(values, np.ndarray):
        return "int"
    if not values:
        return model_kind
    n_str = sum(isinstance(value, str) for value in values)
    if n_str == len(values):
        return "str"
    if n_str == 0:
        return "int"
    first_str = next(index for index, value in enumerate(values) if isinstance(value, str))
    first_int = next(index for index, value in enumerate(values) if not isinstance(value, str))
    raise DataValidationError(
        f"user_ids must be all int or all str, because they form one column of the file; got "
        f"user_ids[{first_int}] = {values[first_int]!r} and user_ids[{first_str}] = {values[first_str]!r}"
    )


def _user_column(frame: pd.DataFrame, source: Path) -> pd.Series:
    if "user_id" in frame.columns:
        return frame["user_id"]
    if len(frame.columns) == 1:
        return frame.iloc[:, 0]
    raise DataValidationError(
        f"user ids file {str(source)!r} has columns {list(map(str, frame.columns))}; "
        f"it needs a user_id column, or a single column"
    )


def _user_column_from_text(source: Path) -> pd.Series:
    try:
        frame = pd.read_csv(
            source, header=None, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
        )
    except pd.errors.EmptyDataError:
        return pd.Series([], dtype=object)
    first_row = frame.iloc[0].tolist() if len(frame) else []
    if "user_id" in first_row:
        frame = frame.iloc[1:]
        frame.columns = first_row
        return frame["user_id"]
    return _user_column(frame, source)


# --------------------------------------------------------------------------- output


@dataclass
class _ChunkRows:
    """The rows of one chunk, users in chunk order, each user's items best first."""

    counts: np.ndarray  # rows per user of the chunk
    item_ids: pa.Array
    scores: np.ndarray
    reasons: np.ndarray  # SIMILAR or POPULAR per row
    because: pa.Array  # list of item ids per row
    signals: pa.Array | None = None  # list of (event, item id) structs per row, for signal models


class _ChunkWriter:
    """Turns the rows of one chunk into an Arrow table with the file's schema."""

    def __init__(self, model: Recommender, user_kind: str) -> None:
        item_type = _arrow_type(model.item_ids_.kind)
        fields = [
            pa.field("user_id", _arrow_type(user_kind), nullable=False),
            pa.field("rank", pa.int32(), nullable=False),
            pa.field("item_id", item_type, nullable=False),
            pa.field("score", pa.float64(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("because", pa.list_(item_type), nullable=False),
        ]
        self.has_signals = _provides_signals(model)
        if self.has_signals:
            fields.append(pa.field("signals", _signals_type(item_type), nullable=False))
        self.schema = pa.schema(
            fields,
            metadata={
                "recsys.model_class": type(model).__name__,
                "recsys.model_version": model.version_,
            },
        )
        self._user_type = _arrow_type(user_kind)

    def table(self, user_ids: np.ndarray | Sequence[Id], rows: _ChunkRows) -> pa.Table:
        users = pa.array(user_ids, type=self._user_type)
        user_of_row = np.repeat(np.arange(len(rows.counts)), rows.counts)
        first_row = np.cumsum(rows.counts) - rows.counts
        rank = np.arange(len(user_of_row)) - first_row[user_of_row] + 1
        columns = [
            users.take(pa.array(user_of_row, type=pa.int64())),
            pa.array(rank.astype(np.int32)),
            rows.item_ids,
            pa.array(rows.scores, type=pa.float64()),
            _REASONS.take(pa.array(rows.reasons, type=pa.int8())),
            rows.because,
        ]
        if self.has_signals:
            assert rows.signals is not None
            columns.append(rows.signals)
        return pa.Table.from_arrays(columns, schema=self.schema)


def _arrow_type(kind: str) -> pa.DataType:
    return pa.int64() if kind == "int" else pa.string()


def _signals_type(item_type: pa.DataType) -> pa.DataType:
    return pa.list_(
        pa.struct(
            [pa.field("event", pa.string(), nullable=False), pa.field("item_id", item_type, nullable=False)]
        )
    )


def _provides_signals(model: Recommender) -> bool:
    """Tell whether the model fills ``Recommendation.signals``, so the file gets a ``signals`` column."""
    return isinstance(model, CrossOccurrence)


@contextlib.contextmanager
def _progress_bar(total: int, show_progress: bool) -> Iterator[Any]:
    if not show_progress:
        yield _NoProgress()
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc="recommendations", unit="user") as bar:
        yield bar


class _NoProgress:
    def update(self, count: int) -> None:
        """Ignore the count: no progress bar was requested."""


# --------------------------------------------------------------------------- ranking


class _Ranker(Protocol):
    def rows(self, ids: np.ndarray | Sequence[Id], positions: np.ndarray) -> _ChunkRows:
        """Return the rows of the users ``ids``, whose positions are ``positions`` (-1: unknown)."""
        ...


def _ranker(
    model: Recommender,
    scorer: Recommender,
    request: _Request,
    blocked: np.ndarray,
    compiled: CompiledRules | None,
) -> _Ranker:
    """Return the numba kernel for a model that ranks as ItemKNN does, else the per-user loop.

    ``scorer`` is the model or its ``min_support`` view, whose neighbour table the
    kernel reads.
    """
    if (
        isinstance(model, ItemKNN)
        and isinstance(scorer, ItemKNN)
        and all(
            getattr(type(model), name) is getattr(ItemKNN, name)
            for name in (
                "_score",
                "_contributions",
                "_rank",
                "_backfill",
                "_similar_items_with_reasons",
                "_popular_items",
            )
        )
    ):
        if compiled is None or compiled.groups is None:
            return _ItemKNNRanker(model, request, blocked, scorer=scorer, compiled=compiled)
        logger.info(
            "max_per_category=%d: ranking each user with recommend(), because the batch kernel "
            "does not apply the cap per category",
            compiled.max_per_group,
        )
    return _RecommendEach(model, request)


class _RecommendEach:
    """Call ``recommend`` per user: the path for models without a batch kernel."""

    def __init__(self, model: Recommender, request: _Request) -> None:
        self._model = model
        self._request = request
        self._id_type = _arrow_type(model.item_ids_.kind)
        self._has_signals = _provides_signals(model)

    def rows(self, ids: np.ndarray | Sequence[Id], positions: np.ndarray) -> _ChunkRows:
        request = self._request
        counts, item_ids, scores, reasons, because = [], [], [], [], []
        signals: list[list[dict[str, Id]]] = []
        for user_id in ids.tolist() if isinstance(ids, np.ndarray) else ids:
            result = self._model.recommend(
                user_id,
                request.n,
                exclude_seen=request.exclude_seen,
                exclude=request.exclude,
                allow=request.allow,
                backfill=request.backfill,
                rules=request.rules,
                min_support=request.min_support,
            )
            counts.append(len(result))
            for item in result:
                item_ids.append(item.item_id)
                scores.append(item.score)
                reasons.append(POPULAR if item.reason == "popular" else SIMILAR)
                because.append(list(item.because))
                signals.append([{"event": event, "item_id": item_id} for event, item_id in item.signals])
        return _ChunkRows(
            counts=np.asarray(counts, dtype=np.int64),
            item_ids=pa.array(item_ids, type=self._id_type),
            scores=np.asarray(scores, dtype=np.float64),
            reasons=np.asarray(reasons, dtype=np.int8),
            because=pa.array(because, type=pa.list_(self._id_type)),
            signals=pa.array(signals, type=_signals_type(self._id_type)) if self._has_signals else None,
        )


class _ItemKNNRanker:
    """Rank chunks of users of an ItemKNN model with the numba kernel."""

    def __init__(
        self,
        model: ItemKNN,
        request: _Request,
        blocked: np.ndarray,
        *,
        scorer: ItemKNN | None = None,
        compiled: CompiledRules | None = None,
    ) -> None:
        """Prepare the kernel's arrays. ``scorer`` is the ``min_support`` view of ``model``, if any."""
        self._model = model
        self._similarity = (model if scorer is None else scorer).similarity_
        self._request = request
        self._blocked = blocked
        self._item_ids = pa.array(model.item_ids_.ids, type=_arrow_type(model.item_ids_.kind))
        # Boosts multiply the scores and reorder the popular backfill, as
        # Recommender._rank and rules.backfill_ranked do. A factor of 1.0 changes no score.
        multiplier = None if compiled is None else compiled.multiplier
        if multiplier is None:
            self._multiplier = np.ones(len(model.item_ids_))
            self._popular_order = np.asarray(model._popular_order, dtype=np.int64)
            self._popular_scores = np.asarray(model.popularity_, dtype=np.float64)
        else:
            self._multiplier = np.asarray(multiplier, dtype=np.float64)
            boosted = model.popularity_ * self._multiplier
            order = np.argsort(-boosted, kind="stable")
            self._popular_order = order[boosted[order] > 0].astype(np.int64)
            self._popular_scores = boosted
        # The kernel stores at most n items per user, and never more than the catalogue.
        self._slots = min(request.n, len(model.item_ids_))

    def rows(self, ids: np.ndarray | Sequence[Id], positions: np.ndarray) -> _ChunkRows:
        if self._slots == 0 or len(positions) == 0:
            return self._assemble(np.zeros(len(positions), dtype=np.int64), *_empty_kernel_rows())
        per_call = max(1, _MAX_SLOTS_PER_CALL // self._slots)
        parts = [
            self._rank(positions[start : start + per_call]) for start in range(0, len(positions), per_call)
        ]
        counts = np.concatenate([part[0] for part in parts])
        items, scores, reasons, because = (np.concatenate([part[k] for part in parts]) for k in range(1, 5))
        return self._assemble(counts, items, scores, reasons, because)

    def _rank(self, positions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Run the kernel on some users and return their row counts and their rows, packed."""
        model = self._model
        slots = self._slots
        n_users = len(positions)

        items = np.empty(n_users * slots, dtype=np.int64)
        scores = np.empty(n_users * slots, dtype=np.float64)
        reasons = np.empty(n_users * slots, dtype=np.int8)
        because = np.empty((n_users * slots, N_REASONS), dtype=np.int64)
        counts = np.empty(n_users, dtype=np.int64)
        user_items = model.user_items_
        similarity = self._similarity
        seen_mask = self._request.seen_mask

        rank_users(
            positions,
            np.asarray(user_items.indptr),
            np.asarray(user_items.indices),
            np.asarray(user_items.data),
            np.asarray(model.seen_events_),
            -1 if seen_mask is None else seen_mask,
            np.asarray(similarity.indptr),
            np.asarray(similarity.indices),
            np.asarray(similarity.data),
            self._blocked,
            self._multiplier,
            self._popular_order,
            self._popular_scores,
            slots,
            bool(self._request.backfill),
            min(numba.get_num_threads(), n_users),
            items,
            scores,
            reasons,
            because,
            counts,
        )

        filled = (np.arange(slots) < counts[:, None]).ravel()
        return counts, items[filled], scores[filled], reasons[filled], because[filled]

    def _assemble(
        self,
        counts: np.ndarray,
        items: np.ndarray,
        scores: np.ndarray,
        reasons: np.ndarray,
        because: np.ndarray,
    ) -> _ChunkRows:
        named = because >= 0
        offsets = np.zeros(len(because) + 1, dtype=np.int32)
        np.cumsum(named.sum(axis=1), out=offsets[1:])
        because_ids = self._item_ids.take(pa.array(because[named], type=pa.int64()))
        return _ChunkRows(
            counts=counts,
            item_ids=self._item_ids.take(pa.array(items, type=pa.int64())),
            scores=scores,
            reasons=reasons,
            because=pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), because_ids),
        )


def _empty_kernel_rows() -> tuple[np.ndarray, ...]:
    return (
        np.empty(0, dtype=np.int64),
        np.empty(0, dtype=np.float64),
        np.empty(0, dtype=np.int8),
        np.empty((0, N_REASONS), dtype=np.int64),
    )
