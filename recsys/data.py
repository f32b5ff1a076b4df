"""Events in, weighted ``user_items`` out.

An *event* is one row ``(user_id, item_id, event[, timestamp][, weight])``: a user
viewed, carted or bought an item. :func:`validate_events` checks a table of events
against that schema, and :class:`Interactions` turns valid events into the sparse
users x items matrix that every model fits on.

The value of one cell of ``user_items`` is built in three steps:

1. each event row gets ``event_weights[event] * weight * 0.5 ** (age / half_life)``,
   where ``weight`` defaults to 1 and the decay applies only when a half-life is set
   (``age`` is measured back from ``reference_time``; future rows get factor 1);
2. repeated rows of one (user, item, event) count once, with their largest value
   (presence), or are summed when ``count_repeats=True``;
3. the event types of one (user, item) are summed.

Cells whose value is 0 are dropped, so a zero-weight event neither scores nor
marks an item as seen.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._ids import Id, IdMap, canonical_int
from recsys.exceptions import DataValidationError

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "EVENT_COLUMNS",
    "Id",
    "IdMap",
    "Interactions",
    "read_events",
    "read_table",
    "validate_event_weights",
    "validate_events",
]

logger = logging.getLogger(__name__)

#: Weight of each event type when none is given: a purchase counts five times as
#: much as a view, a cart addition three times.
DEFAULT_EVENT_WEIGHTS: Mapping[str, float] = {"view": 1.0, "cart": 3.0, "purchase": 5.0}

#: Required columns, then optional ones.
EVENT_COLUMNS = ("user_id", "item_id", "event", "timestamp", "weight")
_REQUIRED = ("user_id", "item_id", "event")
_MAX_EVENT_TYPES = 32  # the seen-by-event mask of a model is a uint32 bit field


def validate_event_weights(event_weights: Mapping[str, float] | None) -> dict[str, float]:
    """Return ``event_weights`` as a plain dict, or the defaults when None.

    Raises
    ------
    DataValidationError
        If the mapping is empty, a key is not a non-empty str, or a weight is not a
        finite number >= 0.
    """
    if event_weights is None:
        return dict(DEFAULT_EVENT_WEIGHTS)
    if not isinstance(event_weights, Mapping) or len(event_weights) == 0:
        raise DataValidationError(
            f"event_weights must be a non-empty mapping of event type to weight, "
            f"such as {dict(DEFAULT_EVENT_WEIGHTS)}; got {event_weights!r}"
        )
    if len(event_weights) > _MAX_EVENT_TYPES:
        raise DataValidationError(
            f"event_weights may name at most {_MAX_EVENT_TYPES} event types; got {len(event_weights)}"
        )
    checked: dict[str, float] = {}
    for event, weight in event_weights.items():
        if not isinstance(event, str) or not event:
            raise DataValidationError(f"event_weights keys must be non-empty str; got {event!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)):
            raise DataValidationError(
                f"event weight for {event!r} must be a finite number >= 0; got {weight!r}"
            )
        if not math.isfinite(weight) or weight < 0:
            raise DataValidationError(
                f"event weight for {event!r} must be a finite number >= 0; got {weight!r}"
            )
        checked[event] = float(weight)
    return checked


def read_events(source: str | PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """Read an events table from a DataFrame, a CSV file or a Parquet file.

    CSV id columns are read as text. A column whose every value is a canonical
    decimal integer (``"42"``, not ``"042"`` or ``"42.0"``) becomes int64, any other
    column stays str, exactly as written. Only empty cells count as missing, so an
    id such as ``"NA"`` is kept. CSV files must be UTF-8. Parquet and DataFrame
    columns keep their types.

    Parameters
    ----------
    source : path or DataFrame
        ``.csv``, ``.csv.gz`` (any compression pandas detects) or ``.parquet``.

    Returns
    -------
    pandas.DataFrame
        The rows, not yet validated; pass them to :func:`validate_events` or
        :meth:`Interactions.from_events`.

    Raises
    ------
    DataValidationError
        If the file is missing, empty, not UTF-8, or not valid CSV, gzip or Parquet.
    """
    if isinstance(source, pd.DataFrame):
        return source
    return read_table(source, "events")


def read_table(source: str | PathLike[str], what: str = "table") -> pd.DataFrame:
    """Read a CSV or Parquet file with the id rules of :func:`read_events`.

    Used for events and for item metadata files (``item_id`` plus attributes).
    ``what`` names the file in error messages.
    """
    if not isinstance(source, (str, PathLike)):
        raise DataValidationError(
            f"{what} must be a path to a CSV or Parquet file; got {type(source).__name__}"
        )
    path = Path(source)
    if not path.is_file():
        raise DataValidationError(f"{what} file not found: {str(path)!r}")
    try:
        frame = _read_file(path)
    except pd.errors.EmptyDataError as error:
        raise DataValidationError(f"{what} file {str(path)!r} is empty: it has no header row") from error
    except UnicodeDecodeError as error:
        raise DataValidationError(
            f"{what} file {str(path)!r} is not UTF-8 text ({error.reason} at byte {error.start}); "
            f"convert it to UTF-8"
        ) from error
    except (pd.errors.ParserError, OSError, EOFError, ValueError, zlib.error) as error:
        # Covers malformed CSV, a bad gzip stream and files that are not Parquet.
        raise DataValidationError(f"cannot read {what} file {str(path)!r}: {error}") from error
    return frame


def _read_file(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    frame = pd.read_csv(
        path,
        dtype={"user_id": str, "item_id": str, "event": str},
        keep_default_na=False,
        na_values={"user_id": [""], "item_id": [""], "event": [""], "timestamp": [""], "weight": [""]},
        encoding="utf-8",
    )
    for column in ("user_id", "item_id"):
        if column in frame.columns:
            frame[column] = _ints_if_canonical(frame[column])
    return frame


def _ints_if_canonical(column: pd.Series) -> pd.Series:
    values = column.to_numpy(dtype=object)
    if column.isna().any():
        return column
    as_int = [canonical_int(value) for value in values]
    if any(value is None for value in as_int):
        return column
    return pd.Series(np.array(as_int, dtype=np.int64), index=column.index, name=column.name)


def validate_events(events: pd.DataFrame, event_weights: Mapping[str, float]) -> pd.DataFrame:
    """Check ``events`` against the schema and return a clean copy.

    Returns
    -------
    pandas.DataFrame
        Columns ``user_id`` and ``item_id`` (int64, or strings), ``event``
        (strings), ``weight`` (float64, 1.0 where absent) and, when given,
        ``timestamp`` (datetime64 in UTC; naive times are taken as UTC and numbers
        as Unix seconds). Other columns are dropped.

    Raises
    ------
    DataValidationError
        Naming the column, the number of bad rows and the first bad row, for: a
        missing column, a null or empty id, a mixed or float id column, an event
        type absent from ``event_weights``, a weight that is not a finite number
        >= 0, or a timestamp that cannot be parsed.
    """
    if not isinstance(events, pd.DataFrame):
        raise DataValidationError(f"events must be a pandas DataFrame; got {type(events).__name__}")
    missing = [column for column in _REQUIRED if column not in events.columns]
    if missing:
        hint = "rename the columns to match"
        if missing == ["event"]:
            hint = "add an 'event' column naming each row's event type, such as 'purchase'"
        raise DataValidationError(
            f"events are missing the required column(s) {missing}; got columns "
            f"{list(map(str, events.columns))}. Expected {list(_REQUIRED)} plus optional "
            f"'timestamp' and 'weight': {hint}"
        )
    if len(events) == 0:
        raise DataValidationError("events contain no rows; there is nothing to learn from")

    clean = pd.DataFrame(index=events.index)
    clean["user_id"] = _id_column(events, "user_id")
    clean["item_id"] = _id_column(events, "item_id")
    clean["event"] = _event_column(events, event_weights)
    clean["weight"] = _weight_column(events)
    if "timestamp" in events.columns:
        clean["timestamp"] = _timestamp_column(events)
    return clean.reset_index(drop=True)


def _bad_rows(events: pd.DataFrame, bad: np.ndarray, column: str, expected: str) -> DataValidationError:
    """Build the error for the rows where ``bad`` is True."""
    positions = np.flatnonzero(bad)
    first = positions[0]
    shown = {name: _plain(events[name].iloc[first]) for name in events.columns if name in EVENT_COLUMNS}
    row = ", ".join(f"{name}={value!r}" for name, value in shown.items())
    return DataValidationError(
        f"column {column!r} {expected}; {len(positions)} bad row(s), first at row {first} (0-based): {row}"
    )


def _plain(value: Any) -> Any:
    """Return NumPy scalars as Python values, so messages read 1.0 rather than np.float64(1.0)."""
    return value.item() if isinstance(value, np.generic) else value


def _id_column(events: pd.DataFrame, column: str) -> np.ndarray:
    series = events[column]
    null = series.isna().to_numpy()
    if null.any():
        raise _bad_rows(events, null, column, "must not contain null ids")

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise DataValidationError(f"column {column!r} must hold int or str ids; got bool values")
    if pd.api.types.is_integer_dtype(dtype):
        if pd.api.types.is_unsigned_integer_dtype(dtype) and series.max() > np.iinfo(np.int64).max:
            raise DataValidationError(f"column {column!r} has ids above the int64 range; convert them to str")
        return series.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(dtype=np.float64)
        fractional = ~np.isfinite(values) | (values != np.round(values))
        if fractional.any():
            raise _bad_rows(events, fractional, column, "must hold int or str ids, not fractional numbers")
        # Integral floats are what pandas makes of an int column that once held NaN.
        return values.astype(np.int64)

    values = series.to_numpy(dtype=object)
    is_str = np.fromiter((isinstance(value, str) for value in values), dtype=bool, count=len(values))
    if is_str.all():
        empty = np.fromiter((not value.strip() for value in values), dtype=bool, count=len(values))
        if empty.any():
            raise _bad_rows(events, empty, column, "must not contain empty ids")
        return values
    is_int = np.fromiter(
        (
            isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            for value in values
        ),
        dtype=bool,
        count=len(values),
    )
    if is_int.all():
        return values.astype(np.int64)
    if is_str.any() and is_int.any():
        raise _bad_rows(
            events,
            ~is_str,
            column,
            f"mixes int and str ids; convert it to one type, e.g. events[{column!r}].astype(str)",
        )
    raise _bad_rows(events, ~(is_str | is_int), column, "must hold int or str ids")


def _event_column(events: pd.DataFrame, event_weights: Mapping[str, float]) -> np.ndarray:
    series = events["event"]
    values = series.to_numpy(dtype=object)
    known = series.isin(list(event_weights)).to_numpy()
    if not known.all():
        unknown = sorted({str(value) for value in values[~known]})[:10]
        raise _bad_rows(
            events,
            ~known,
            "event",
            f"has event types {unknown} missing from event_weights {sorted(event_weights)}; "
            f"add them to event_weights or drop those rows",
        )
    return values


def _weight_column(events: pd.DataFrame) -> np.ndarray:
    if "weight" not in events.columns:
        return np.ones(len(events), dtype=np.float64)
    numeric = pd.to_numeric(events["weight"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(numeric) | (numeric < 0)
    if bad.any():
        raise _bad_rows(events, bad, "weight", "must hold finite numbers >= 0")
    return numeric


def _timestamp_column(events: pd.DataFrame) -> pd.Series:
    series = events["timestamp"]
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        parsed = pd.to_datetime(series, unit="s", utc=True, errors="coerce")
    elif isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series.dtype):
        parsed = pd.to_datetime(series, utc=True)
    else:
        parsed = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise _bad_rows(
            events,
            bad,
            "timestamp",
            "must hold ISO 8601 times, datetimes or Unix seconds, with no empty cells",
        )
    # Keep the caller's index: validate_events aligns every column on it.
    return parsed.dt.as_unit("ns")


@dataclass(frozen=True, eq=False)
class Interactions:
    """Weighted users x items matrix built from events, with its id maps.

    Build it with :meth:`from_events`; the constructor only stores fields.

    Attributes
    ----------
    user_ids, item_ids : IdMap
        External ids of the rows and columns.
    user_items : scipy.sparse.csr_array
        Users x items, float32, the sum over event types (see the module notes).
    event_user_items : dict of str to csr_array
        The same matrix for each event type alone, with that type's weight applied.
    event_weights : dict of str to float
    half_life_days : float or None
    reference_time : pandas.Timestamp or None
        The time the decay is measured from (None without decay).
    count_repeats : bool
    item_metadata : pandas.DataFrame or None
        One row per item position (``item_ids`` order), for example a ``description``.
    n_events : int
        Number of event rows read, before deduplication.
    data_until : pandas.Timestamp or None
        The newest ``timestamp`` of the events read, UTC: where the data ends. None
        when the events had no ``timestamp`` column.
    """

    user_ids: IdMap
    item_ids: IdMap
    user_items: sp.csr_array
    event_user_items: dict[str, sp.csr_array]
    event_weights: dict[str, float]
    half_life_days: float | None = None
    reference_time: pd.Timestamp | None = None
    count_repeats: bool = False
    item_metadata: pd.DataFrame | None = None
    n_events: int = 0
    data_until: pd.Timestamp | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(number of users, number of items)."""
        return (len(self.user_ids), len(self.item_ids))

    def __repr__(self) -> str:
        n_users, n_items = self.shape
        return (
            f"Interactions(users={n_users:,}, items={n_items:,}, "
            f"nonzeros={self.user_items.nnz:,}, events={sorted(self.event_user_items)})"
        )

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame | str | PathLike[str],
        *,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        reference_time: Any = None,
        count_repeats: bool = False,
        item_metadata: pd.DataFrame | None = None,
    ) -> Interactions:
        """Validate events and build the weighted ``user_items`` matrix.

        Parameters
        ----------
        events : DataFrame or path
            Columns ``user_id``, ``item_id``, ``event`` and optionally ``timestamp``
            and ``weight``; a path is read with :func:`read_events`.
        event_weights : mapping of str to float, optional
            Weight of each event type; defaults to :data:`DEFAULT_EVENT_WEIGHTS`.
            Rows with an event type missing from the mapping are rejected.
        half_life_days : float, optional
            Time decay: an event ``half_life_days`` older than ``reference_time``
            counts half. None (the default) disables decay.
        reference_time : timestamp-like, optional
            The "now" of the decay. Defaults to the newest event; later events are
            capped at factor 1.
        count_repeats : bool, default False
            Sum repeated (user, item, event) rows instead of counting them once.
        item_metadata : DataFrame, optional
            Item attributes with an ``item_id`` column, such as ``description``.

        Returns
        -------
        Interactions

        Raises
        ------
        DataValidationError
            For invalid events (see :func:`validate_events`) or parameters.
        """
        weights = validate_event_weights(event_weights)
        half_life = _check_half_life(half_life_days)
        clean = validate_events(read_events(events), weights)
        if half_life is not None and "timestamp" not in clean.columns:
            raise DataValidationError("half_life_days needs a 'timestamp' column in the events")

        reference = None
        values = clean["event"].map(weights).to_numpy(dtype=np.float64) * clean["weight"].to_numpy()
        if half_life is not None:
            reference = _reference_time(reference_time, clean["timestamp"])
            age_days = (reference - clean["timestamp"]).dt.total_seconds().to_numpy() / 86_400.0
            values *= np.exp2(-np.clip(age_days, 0.0, None) / half_life)

        too_large = values > np.finfo(np.float32).max
        if too_large.any():
            raise _bad_rows(
                clean, too_large, "weight", "times its event weight must fit in float32 (at most 3.4e38)"
            )

        # Taken before the rows of value 0 are dropped: the data read ends here either way.
        data_until = clean["timestamp"].max() if "timestamp" in clean.columns and len(clean) else None
        keep = values > 0
        if not keep.all():
            logger.debug("dropped %d events with value 0", int((~keep).sum()))
        clean = clean.loc[keep]
        values = values[keep]

        user_ids, user_idx = IdMap.encode(clean["user_id"].to_numpy(), "user_id")
        item_ids, item_idx = IdMap.encode(clean["item_id"].to_numpy(), "item_id")
        shape = (len(user_ids), len(item_ids))
        event_user_items = {
            event: _event_matrix(
                user_idx, item_idx, values, clean["event"].to_numpy() == event, shape, count_repeats
            )
            for event in weights
        }
        user_items = _sum_matrices(event_user_items.values(), shape)

        interactions = cls(
            user_ids=user_ids,
            item_ids=item_ids,
            user_items=user_items,
            event_user_items=event_user_items,
            event_weights=weights,
            half_life_days=half_life,
            reference_time=reference,
            count_repeats=bool(count_repeats),
            item_metadata=_align_metadata(item_metadata, item_ids),
            n_events=len(keep),
            data_until=data_until,
        )
        logger.info("built %r from %s events", interactions, f"{len(keep):,}")
        return interactions


def _check_half_life(half_life_days: float | None) -> float | None:
    if half_life_days is None:
        return None
    if isinstance(half_life_days, bool) or not isinstance(half_life_days, (int, float, np.number)):
        raise DataValidationError(f"half_life_days must be a number > 0 or None; got {half_life_days!r}")
    if not math.isfinite(half_life_days) or half_life_days <= 0:
        raise DataValidationError(
            f"half_life_days must be a finite number > 0 or None; got {half_life_days!r}"
        )
    return float(half_life_days)


def _reference_time(reference_time: Any, timestamps: pd.Series) -> pd.Timestamp:
    if reference_time is None:
        return timestamps.max()
    try:
        parsed = pd.Timestamp(reference_time)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"reference_time must be a timestamp; got {reference_time!r}") from error
    if parsed is pd.NaT:
        raise DataValidationError(f"reference_time must be a timestamp; got {reference_time!r}")
    return parsed.tz_localize("UTC") if parsed.tzinfo is None else parsed.tz_convert("UTC")


def _event_matrix(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    values: np.ndarray,
    rows: np.ndarray,
    shape: tuple[int, int],
    count_repeats: bool,
) -> sp.csr_array:
    """Build one event type's matrix; repeats count once (max) or are summed."""
    frame = pd.DataFrame({"user": user_idx[rows], "item": item_idx[rows], "value": values[rows]})
    grouped = frame.groupby(["user", "item"], sort=False)["value"]
    cells = grouped.sum() if count_repeats else grouped.max()
    users = cells.index.get_level_values("user").to_numpy()
    items = cells.index.get_level_values("item").to_numpy()
    matrix = sp.coo_array((cells.to_numpy(dtype=np.float32), (users, items)), shape=shape).tocsr()
    # A heavily decayed value can underflow to 0 in float32; drop it like any zero.
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _sum_matrices(matrices: Any, shape: tuple[int, int]) -> sp.csr_array:
    total: Any = sp.csr_array(shape, dtype=np.float32)
    for matrix in matrices:
        total = total + matrix
    total = sp.csr_array(total).astype(np.float32)
    total.eliminate_zeros()
    total.sort_indices()
    # scipy's sum may widen the index arrays to int64; int32 halves them when they fit.
    if max(*shape, total.nnz) < np.iinfo(np.int32).max:
        total = sp.csr_array(
            (total.data, total.indices.astype(np.int32), total.indptr.astype(np.int32)), shape=shape
        )
    return total


def _align_metadata(item_metadata: pd.DataFrame | None, item_ids: IdMap) -> pd.DataFrame | None:
    """Return the metadata rows in ``item_ids`` order; items without metadata get None."""
    if item_metadata is None:
        return None
    if "item_id" not in item_metadata.columns:
        raise DataValidationError(
            f"item_metadata needs an 'item_id' column; got columns {list(map(str, item_metadata.columns))}"
        )
    metadata = item_metadata.drop_duplicates("item_id", keep="first")
    positions = item_ids.indices_of(metadata["item_id"].tolist())
    known = positions >= 0
    aligned = pd.DataFrame(index=pd.RangeIndex(len(item_ids)))
    for column in metadata.columns:
        if column == "item_id":
            continue
        series = metadata[column]
        source = series.astype(object).where(series.notna(), None).to_numpy(dtype=object)
        values = np.full(len(item_ids), None, dtype=object)
        values[positions[known]] = source[known]
        # An explicit object dtype keeps None, because pandas 3 infers its str dtype
        # for a column of strings and turns None into NaN.
        aligned[str(column)] = pd.Series(values, index=aligned.index, dtype=object)
    return aligned
