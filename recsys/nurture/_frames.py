"""Validation shared by the nurture modules: lead ids, times and the events table."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from recsys._ids import Id
from recsys.data import _timestamp_column
from recsys.exceptions import DataValidationError

#: Columns of a nurture events table. The lead, the event type and its time are
#: required, while ``item_id`` (for product events) and ``weight`` are optional.
EVENT_COLUMNS = ("user_id", "event", "timestamp", "item_id", "weight")


def check_lead_id(value: Any, name: str = "lead_id") -> Id:
    """Validate a lead id and return it as a plain int or str. Any other type raises."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise DataValidationError(f"{name} must be an int or a non-empty str; got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str):
        if not value.strip():
            raise DataValidationError(f"{name} must be an int or a non-empty str; got {value!r}")
        return value
    raise DataValidationError(
        f"{name} must be an int or a non-empty str; got {type(value).__name__} {value!r}"
    )


def id_key(value: Id) -> str:
    """Return the text that matches an id, following the id rule of :mod:`recsys._ids`.

    The integer ``1001`` and the string ``"1001"`` share the key ``"1001"``.
    """
    return str(value)


def unique_leads(leads: Iterable[Any]) -> list[Id]:
    """Validate a list of lead ids and drop repeats, keeping the first occurrence."""
    if isinstance(leads, (str, bytes)) or not isinstance(leads, Iterable):
        raise DataValidationError(f"leads must be a list of lead ids; got {type(leads).__name__} {leads!r}")
    seen: set[str] = set()
    result: list[Id] = []
    for index, value in enumerate(leads):
        lead = check_lead_id(value, f"leads[{index}]")
        key = id_key(lead)
        if key not in seen:
            seen.add(key)
            result.append(lead)
    return result


def to_utc(value: Any, name: str) -> pd.Timestamp:
    """Parse a time; a time without a zone is read as UTC."""
    try:
        parsed = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"{name} must be an ISO 8601 time or a datetime; got {value!r}") from error
    if parsed is pd.NaT:
        raise DataValidationError(f"{name} must be an ISO 8601 time or a datetime; got {value!r}")
    return parsed.tz_localize("UTC") if parsed.tzinfo is None else parsed.tz_convert("UTC")


#: Maximum period accepted in days (about 100 years), because pandas time spans end near 292 years.
MAX_DAYS = 36_500


def check_days(value: Any, name: str, *, allow_none: bool = False, allow_zero: bool = True) -> float | None:
    """Validate a number of days (finite, not negative, at most MAX_DAYS) and return it as a float."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise DataValidationError(f"{name} must be a number of days; got {value!r}")
    lowest = "0" if allow_zero else "greater than 0"
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise DataValidationError(f"{name} must be a finite number of days, {lowest} or more; got {value!r}")
    if value > MAX_DAYS:
        raise DataValidationError(
            f"{name} must be at most {MAX_DAYS:,} days (about 100 years); got {value!r}"
        )
    return float(value)


def normalize_events(events: pd.DataFrame | None) -> pd.DataFrame:
    """Validate a nurture events table and add ``lead_key``.

    Parameters
    ----------
    events : DataFrame or None
        Columns ``user_id`` (or ``lead_id``), ``event`` and ``timestamp``, and
        optionally ``item_id`` and ``weight``. A ``weight`` scales the event's
        points, for example minutes on a page or the share of a video watched.
        None means no events.

    Returns
    -------
    DataFrame
        The columns of :data:`EVENT_COLUMNS` (``item_id`` None where absent,
        ``weight`` 1 where absent), ``timestamp`` in UTC, plus ``lead_key``.
    """
    if events is None:
        events = pd.DataFrame(columns=["user_id", "event", "timestamp"])
    if not isinstance(events, pd.DataFrame):
        raise DataValidationError(f"events must be a pandas DataFrame; got {type(events).__name__}")
    if "user_id" not in events.columns and "lead_id" in events.columns:
        events = events.rename(columns={"lead_id": "user_id"})
    missing = [column for column in ("user_id", "event", "timestamp") if column not in events.columns]
    if missing:
        raise DataValidationError(
            f"nurture events are missing the column(s) {missing}; expected user_id (or lead_id), "
            f"event, timestamp and optionally item_id and weight; got {list(map(str, events.columns))}"
        )
    frame = pd.DataFrame(index=pd.RangeIndex(len(events)))
    frame["user_id"] = [check_lead_id(value, "column 'user_id'") for value in events["user_id"].tolist()]
    frame["event"] = events["event"].astype(str).to_numpy(dtype=object)
    if len(events):
        frame["timestamp"] = _timestamp_column(events.reset_index(drop=True))
    else:
        frame["timestamp"] = pd.Series([], dtype="datetime64[ns, UTC]")
    if "item_id" in events.columns:
        frame["item_id"] = [
            None if _missing(value) else _plain(value) for value in events["item_id"].tolist()
        ]
    else:
        frame["item_id"] = pd.Series([None] * len(events), dtype=object)
    weight = np.ones(len(events))
    if "weight" in events.columns:
        weight = pd.to_numeric(events["weight"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(weight) | (weight < 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"column 'weight' of nurture events must hold finite numbers >= 0 (an empty cell "
                f"reads as NaN; leave the column out for weight 1); {int(bad.sum())} bad row(s), "
                f"first at row {first} (0-based): weight={events['weight'].iloc[first]}"
            )
    frame["weight"] = weight
    frame["lead_key"] = frame["user_id"].map(id_key).astype(object)
    return frame


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _plain(value: Any) -> Id:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    # A column of integer ids with empty cells is read as float, so 85123.0 is the id 85123.
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return str(value)
