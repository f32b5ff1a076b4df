"""Item catalogue: typed attributes per item id, and the rules compiled over them.

A :class:`Catalog` is built from a table with an ``item_id`` column and any number
of attribute columns. Each attribute column gets one kind:

==========  ===============================================  ====================
kind        values                                           missing value
==========  ===============================================  ====================
string      str                                              None, NaN, ""
number      int or float, stored as float64                  None, NaN
bool        True or False                                    None, NaN
datetime    ISO 8601 text or datetimes, stored as UTC        None, NaN, NaT, ""
==========  ===============================================  ====================

The columns ``available_from`` and ``available_until`` are always datetime: an
item is available from ``available_from`` (inclusive) until ``available_until``
(exclusive), and a missing bound leaves that side open. A date without a time
means midnight UTC at its start, and a naive time is taken as UTC.

A model attaches a catalogue with :meth:`recsys.Recommender.set_catalog`. Items in
the catalogue that the model does not contain are kept and reported but never
recommended. Items the model contains and the catalogue lacks have every attribute
missing (see :class:`recsys.rules.Rules` for how rules treat missing values).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from os import PathLike
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from recsys._ids import IdMap
from recsys.data import _id_column, _ints_if_canonical, read_table
from recsys.exceptions import DataValidationError
from recsys.rules import Condition, Range, Rules, split_range_text

__all__ = ["AVAILABLE_FROM", "AVAILABLE_UNTIL", "Catalog", "CatalogView", "CompiledRules"]

logger = logging.getLogger(__name__)

AVAILABLE_FROM = "available_from"
AVAILABLE_UNTIL = "available_until"
_DATETIME_COLUMNS = (AVAILABLE_FROM, AVAILABLE_UNTIL)

Kind: TypeAlias = Literal["string", "number", "bool", "datetime"]
KINDS: tuple[Kind, ...] = ("string", "number", "bool", "datetime")

#: Missing value of a datetime column (int64 nanoseconds since the Unix epoch).
_NAT = np.iinfo(np.int64).min
_MAX_NS = np.iinfo(np.int64).max
#: Maximum compiled rule sets cached per catalogue view. Beyond it, the oldest is dropped.
_MAX_CACHED_RULES = 128
_TRUE_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True, eq=False)
class CatalogColumn:
    """One attribute column of a catalogue, in catalogue row order.

    Attributes
    ----------
    name : str
    kind : {"string", "number", "bool", "datetime"}
    values : ndarray
        The values, typed by ``kind``, each with its marker for a missing value:

        - string: int32 codes into ``categories``, -1 when missing.
        - number: float64, NaN when missing.
        - bool: int8 1 or 0, -1 when missing.
        - datetime: int64 nanoseconds since the Unix epoch (UTC), int64 minimum
          when missing.
    categories : tuple of str
        The distinct strings of a string column, sorted; empty for other kinds.
    """

    name: str
    kind: Kind
    values: np.ndarray
    categories: tuple[str, ...] = ()

    @property
    def missing(self) -> np.ndarray:
        """Boolean mask of the rows without a value."""
        if self.kind == "number":
            return np.isnan(self.values)
        if self.kind == "datetime":
            return self.values == _NAT
        return self.values < 0

    def python_values(self) -> list[Any]:
        """Return the values as Python objects (str, float, bool, ISO 8601 str), None when missing."""
        missing = self.missing
        if self.kind == "string":
            categories = np.array(self.categories, dtype=object)
            result = (
                categories[np.maximum(self.values, 0)] if len(categories) else np.full(len(self.values), None)
            )
        elif self.kind == "number":
            result = self.values.astype(object)
        elif self.kind == "bool":
            result = (self.values == 1).astype(object)
        else:
            stamps = pd.to_datetime(np.where(missing, 0, self.values), unit="ns", utc=True)
            result = np.array([stamp.isoformat() for stamp in stamps], dtype=object)
        result = np.asarray(result, dtype=object).copy()
        result[missing] = None
        return result.tolist()


class Catalog:
    """Validated item attributes by item id.

    Build it with :meth:`from_frame` or :meth:`read`; the rows are kept in item id
    order. Attach it to a model with :meth:`recsys.Recommender.set_catalog`.

    Attributes
    ----------
    item_ids : IdMap
        The catalogue's item ids, int or str like a model's.
    columns : dict of str to CatalogColumn
        The attribute columns, in input order.

    Examples
    --------
    >>> import pandas as pd
    >>> from recsys import Catalog
    >>> catalog = Catalog.from_frame(pd.DataFrame({
    ...     "item_id": ["tea", "cup"], "category": ["food", "kitchen"], "price": [3.5, 8.0],
    ... }))
    >>> catalog.kinds
    {'category': 'string', 'price': 'number'}
    """

    def __init__(self, item_ids: IdMap, columns: Mapping[str, CatalogColumn]) -> None:
        for column in columns.values():
            if len(column.values) != len(item_ids):
                raise DataValidationError(
                    f"catalogue column {column.name!r} has {len(column.values)} values for {len(item_ids)} items"
                )
        self.item_ids = item_ids
        self.columns = dict(columns)

    # ----------------------------------------------------------------- building

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Catalog:
        """Validate a table of item attributes and build the catalogue.

        Parameters
        ----------
        frame : DataFrame
            An ``item_id`` column (int or str ids, unique, none missing) and any
            attribute columns (see the module notes for the kinds).

        Raises
        ------
        DataValidationError
            For a missing ``item_id`` column, a missing or duplicate id, a value
            of an unsupported type (list, dict, bytes, ...), a column mixing kinds
            (for example str and int), an infinite number, or a date that cannot
            be parsed. The message names the column, the value and the 0-based row.
        """
        if not isinstance(frame, pd.DataFrame):
            raise DataValidationError(f"a catalogue must be a pandas DataFrame; got {type(frame).__name__}")
        if "item_id" not in frame.columns:
            raise DataValidationError(
                f"the catalogue needs an 'item_id' column; got columns {list(map(str, frame.columns))}"
            )
        names = [str(name) for name in frame.columns]
        duplicated_names = sorted({name for name in names if names.count(name) > 1})
        if duplicated_names:
            raise DataValidationError(
                f"the catalogue has duplicate column names {duplicated_names}; rename them"
            )
        frame = frame.reset_index(drop=True)
        ids = _id_column(frame[["item_id"]], "item_id")
        item_ids, rows = _unique_ids(ids, frame)
        # Catalogue rows follow the id order, so row r of a column is item_ids position r.
        order = np.empty(len(rows), dtype=np.int64)
        order[rows] = np.arange(len(rows))
        columns = {}
        for name in frame.columns:
            if name == "item_id":
                continue
            column = _build_column(str(name), frame[name], frame["item_id"])
            columns[column.name] = CatalogColumn(
                column.name, column.kind, column.values[order], column.categories
            )
        return cls(item_ids, columns)

    @classmethod
    def read(cls, path: str | PathLike[str]) -> Catalog:
        """Read a catalogue from a CSV or Parquet file.

        CSV cells that are empty are missing values; numbers and ``true``/``false``
        are parsed as such. Item ids follow the rule of
        :func:`recsys.data.read_events`: a column of canonical decimal integers
        becomes int, anything else stays str.
        """
        source = Path(path)
        if source.suffix == ".parquet":
            return cls.from_frame(read_table(source, "catalogue"))
        if not source.is_file():
            raise DataValidationError(f"catalogue file not found: {str(source)!r}")
        try:
            frame = pd.read_csv(
                source,
                dtype={"item_id": str},
                keep_default_na=False,
                na_values=[""],
                encoding="utf-8",
            )
        except (
            pd.errors.ParserError,
            pd.errors.EmptyDataError,
            UnicodeDecodeError,
            OSError,
            ValueError,
        ) as error:
            raise DataValidationError(f"cannot read catalogue file {str(source)!r}: {error}") from error
        if "item_id" in frame.columns:
            frame["item_id"] = _ints_if_canonical(frame["item_id"])
        return cls.from_frame(frame)

    # ----------------------------------------------------------------- views

    def __len__(self) -> int:
        return len(self.item_ids)

    def __repr__(self) -> str:
        return f"Catalog(items={len(self):,}, columns={self.kinds})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Catalog):
            return NotImplemented
        if self.item_ids != other.item_ids or list(self.columns) != list(other.columns):
            return False
        return all(
            mine.kind == theirs.kind
            and mine.categories == theirs.categories
            and np.array_equal(mine.values, theirs.values, equal_nan=mine.kind == "number")
            for mine, theirs in zip(self.columns.values(), other.columns.values(), strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def kinds(self) -> dict[str, Kind]:
        """The kind of each attribute column."""
        return {name: column.kind for name, column in self.columns.items()}

    def to_frame(self) -> pd.DataFrame:
        """Return the catalogue as a table: ``item_id`` plus the attributes, missing as None."""
        frame = pd.DataFrame({"item_id": pd.Series(self.item_ids.ids_of(np.arange(len(self))), dtype=object)})
        for name, column in self.columns.items():
            frame[name] = pd.Series(column.python_values(), dtype=object)
        return frame

    def align(self, item_ids: IdMap) -> CatalogView:
        """Return the attributes by position of ``item_ids`` (a model's items), for rules."""
        return CatalogView(self, item_ids)

    # ----------------------------------------------------------------- persistence

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Return the arrays to save and the JSON description that reads them back."""
        arrays = _encode_strings("catalog_item_ids", self.item_ids.ids, self.item_ids.kind)
        described = []
        for index, column in enumerate(self.columns.values()):
            prefix = f"catalog_{index}"
            arrays[f"{prefix}_values"] = np.ascontiguousarray(column.values)
            if column.kind == "string":
                arrays.update(
                    _encode_strings(f"{prefix}_categories", np.array(column.categories, dtype=object), "str")
                )
            described.append({"name": column.name, "kind": column.kind, "prefix": prefix})
        return arrays, {"item_id": self.item_ids.kind, "rows": len(self), "columns": described}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], description: Mapping[str, Any]) -> Catalog:
        """Rebuild a catalogue from :meth:`to_arrays` output.

        Raises
        ------
        ValueError
            If an array is missing or does not fit the description.
        """
        ids = _decode_strings("catalog_item_ids", description["item_id"], arrays)
        item_ids = IdMap.from_sorted(ids, "item_id")
        columns = {}
        for entry in description["columns"]:
            kind = entry["kind"]
            if kind not in KINDS:
                raise ValueError(f"catalogue column {entry['name']!r} has unknown kind {kind!r}")
            prefix = entry["prefix"]
            categories: tuple[str, ...] = ()
            if kind == "string":
                categories = tuple(_decode_strings(f"{prefix}_categories", "str", arrays).tolist())
            values = np.asarray(arrays[f"{prefix}_values"])
            columns[entry["name"]] = CatalogColumn(entry["name"], kind, values, categories)
        return cls(item_ids, columns)


@dataclass(frozen=True, eq=False)
class CompiledRules:
    """Per-position arrays of one request's rules.

    Attributes
    ----------
    blocked : ndarray of bool or None
        Items the rules and the availability window leave out; None when none.
    multiplier : ndarray of float64 or None
        Score factor per item; None when no boost applies.
    groups : ndarray of int64 or None
        Group code per item for ``max_per_group``, -1 when the item has no value.
    max_per_group : int or None
    """

    blocked: np.ndarray | None = None
    multiplier: np.ndarray | None = None
    groups: np.ndarray | None = None
    max_per_group: int | None = None


@dataclass(eq=False)
class CatalogView:
    """A catalogue aligned with a model's item positions.

    Attributes
    ----------
    catalog : Catalog
    n_items : int
        Number of model items.
    unknown_item_ids : list of ids
        Catalogue items the model does not know; they are never recommended.
    n_missing : int
        Model items the catalogue has no row for; their attributes are missing.
    """

    catalog: Catalog
    item_ids: IdMap
    n_items: int = field(init=False)
    unknown_item_ids: list[Any] = field(init=False)
    n_missing: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_items = len(self.item_ids)
        positions = self.item_ids.indices_of(self.catalog.item_ids.ids_of(np.arange(len(self.catalog))))
        known = positions >= 0
        self.unknown_item_ids = self.catalog.item_ids.ids_of(np.flatnonzero(~known))
        self.n_missing = self.n_items - int(known.sum())
        self._columns: dict[str, CatalogColumn] = {}
        for name, column in self.catalog.columns.items():
            values = np.full(self.n_items, _missing_value(column.kind), dtype=column.values.dtype)
            values[positions[known]] = column.values[known]
            self._columns[name] = CatalogColumn(name, column.kind, values, column.categories)
        self._groups: dict[str, np.ndarray] = {}
        self._cache: dict[str, CompiledRules] = {}
        self._window = self._availability_bounds()

    def metadata_frame(self) -> pd.DataFrame:
        """Return the attributes by model position as an object DataFrame, None when missing."""
        frame = pd.DataFrame(index=pd.RangeIndex(self.n_items))
        for name, column in self._columns.items():
            frame[name] = pd.Series(column.python_values(), index=frame.index, dtype=object)
        return frame

    def compile(self, rules: Rules | None, now: datetime | str | None = None) -> CompiledRules:
        """Compile ``rules`` into per-position arrays, adding the availability window at ``now``.

        The arrays of a rule set are cached by :meth:`Rules.cache_key`; only the
        availability window is computed per call.

        Raises
        ------
        DataValidationError
            If a rule names an attribute the catalogue lacks, or a value that does
            not fit the attribute's kind.
        """
        compiled = self._compiled(rules) if rules is not None and not rules.is_empty else None
        blocked = None if compiled is None else compiled.blocked
        if self._window is not None:
            hidden = self._hidden_at(_now_ns(rules.now if rules is not None and now is None else now))
            blocked = hidden if blocked is None else blocked | hidden
        if compiled is None:
            return CompiledRules(blocked=blocked)
        return CompiledRules(blocked, compiled.multiplier, compiled.groups, compiled.max_per_group)

    # ----------------------------------------------------------------- internals

    def _compiled(self, rules: Rules) -> CompiledRules:
        key = rules.cache_key()
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        blocked = np.zeros(self.n_items, dtype=bool)
        for attribute, condition in rules.include.items():
            blocked |= ~self._match(attribute, condition, "include")
        for attribute, condition in rules.exclude.items():
            blocked |= self._match(attribute, condition, "exclude")
        multiplier = None
        for boost in rules.boost:
            matched = np.ones(self.n_items, dtype=bool)
            for attribute, condition in boost.where.items():
                matched &= self._match(attribute, condition, "boost")
            if multiplier is None:
                multiplier = np.ones(self.n_items)
            multiplier[matched] *= float(boost.factor)
        groups = None
        if rules.max_per_category is not None:
            groups = self._group_codes(rules.category_attribute)
        compiled = CompiledRules(
            blocked if blocked.any() else None, multiplier, groups, rules.max_per_category
        )
        if len(self._cache) >= _MAX_CACHED_RULES:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = compiled
        return compiled

    def _column(self, attribute: str, where: str) -> CatalogColumn:
        column = self._columns.get(attribute)
        if column is None:
            raise DataValidationError(
                f"{where} rule names attribute {attribute!r}, which the catalogue does not have; "
                f"use one of {sorted(self._columns)}"
            )
        return column

    def _match(self, attribute: str, condition: Condition, where: str) -> np.ndarray:
        column = self._column(attribute, where)
        if isinstance(condition, (list, tuple, set, frozenset)):
            matched = np.zeros(self.n_items, dtype=bool)
            for value in condition:
                matched |= self._match_value(column, value, where)
            return matched
        return self._match_value(column, condition, where)

    def _match_value(self, column: CatalogColumn, value: Any, where: str) -> np.ndarray:
        bounds = split_range_text(value) if isinstance(value, str) else None
        if bounds is not None and column.kind in ("number", "datetime"):
            if bounds == (None, None):
                raise DataValidationError(
                    f"{where} rule on {column.name!r} gives the range {value!r} with neither bound; "
                    f"write it as low..high, ..high or low.."
                )
            value = Range(*bounds)
        values = column.values
        if column.kind == "string":
            if isinstance(value, Range):
                raise DataValidationError(
                    f"{where} rule on {column.name!r} gives a range, but {column.name!r} is a string "
                    f"attribute; give a value or a list of values"
                )
            text = _condition_text(column.name, value, where)
            try:
                code = column.categories.index(text)
            except ValueError:
                return np.zeros(self.n_items, dtype=bool)
            return values == code
        if isinstance(value, Range):
            low = -math.inf if value.min is None else self._coerce(column, value.min, where)
            high = math.inf if value.max is None else self._coerce(column, value.max, where)
            if column.kind == "datetime":
                present = values != _NAT
                return present & (values >= max(low, _NAT + 1)) & (values <= min(high, _MAX_NS))
            return (values >= low) & (values <= high)
        target = self._coerce(column, value, where)
        if column.kind == "bool":
            return values == (1 if target else 0)
        return values == target

    @staticmethod
    def _coerce(column: CatalogColumn, value: Any, where: str) -> Any:
        """Convert a condition value to the storage unit of ``column``."""
        problem = f"{where} rule on {column.name!r} ({column.kind} attribute) cannot use {value!r}"
        if column.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in _TRUE_TEXT:
                return _TRUE_TEXT[value.strip().lower()]
            raise DataValidationError(f"{problem}; give true or false")
        if column.kind == "number":
            if isinstance(value, (bool, np.bool_, datetime)):
                raise DataValidationError(f"{problem}; give a number")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise DataValidationError(f"{problem}; give a number") from None
            if math.isnan(number):
                raise DataValidationError(f"{problem}; give a number")
            return number
        nanoseconds = _utc_ns(value)
        if nanoseconds is None:
            raise DataValidationError(f"{problem}; give an ISO 8601 date or time, such as 2026-12-24")
        return nanoseconds

    def _group_codes(self, attribute: str) -> np.ndarray:
        groups = self._groups.get(attribute)
        if groups is None:
            column = self._column(attribute, "max_per_category")
            if column.kind == "string":
                groups = column.values.astype(np.int64)
            else:
                missing = column.missing
                _, codes = np.unique(column.values, return_inverse=True)
                groups = np.where(missing, -1, codes).astype(np.int64)
            self._groups[attribute] = groups
        return groups

    def _availability_bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        start = self._columns.get(AVAILABLE_FROM)
        stop = self._columns.get(AVAILABLE_UNTIL)
        if start is None and stop is None:
            return None
        starts = np.full(self.n_items, _NAT, dtype=np.int64) if start is None else start.values
        stops = np.full(self.n_items, _MAX_NS, dtype=np.int64)
        if stop is not None:
            stops = np.where(stop.values == _NAT, _MAX_NS, stop.values)
        return starts, stops

    def _hidden_at(self, now_ns: int) -> np.ndarray:
        assert self._window is not None
        starts, stops = self._window
        return (starts > now_ns) | (stops <= now_ns)


# --------------------------------------------------------------------------- validation


def _unique_ids(ids: np.ndarray, frame: pd.DataFrame) -> tuple[IdMap, np.ndarray]:
    """Build the id map and return it with each input row's position in it. A duplicate id raises."""
    duplicated = pd.Series(ids).duplicated(keep=False).to_numpy()
    if duplicated.any():
        rows = np.flatnonzero(duplicated)
        first = ids[rows[0]]
        same = rows[ids[rows] == first][:2].tolist()
        error = DataValidationError(
            f"column 'item_id' of the catalogue has duplicate ids: {_plain(first)!r} is on rows {same} "
            f"(0-based), {len(rows)} row(s) in all; keep one row per item"
        )
        error.row, error.column, error.value = same[-1], "item_id", _plain(first)  # type: ignore[attr-defined]
        raise error
    return IdMap.encode(ids, "item_id")


def _build_column(name: str, series: pd.Series, item_ids: pd.Series) -> CatalogColumn:
    dtype = series.dtype
    if name in _DATETIME_COLUMNS or pd.api.types.is_datetime64_any_dtype(dtype):
        return _datetime_column(name, series, item_ids)
    if pd.api.types.is_bool_dtype(dtype):
        values = series.to_numpy(dtype=object)
        return _bool_column(name, values)
    if pd.api.types.is_numeric_dtype(dtype):
        return _number_column(name, series.to_numpy(dtype=np.float64, na_value=np.nan), item_ids)
    values = series.to_numpy(dtype=object)
    missing = np.fromiter((_is_missing(value) for value in values), dtype=bool, count=len(values))
    kinds = np.array([_value_kind(value) for value in values], dtype=object)
    present = np.flatnonzero(~missing)
    unsupported = present[kinds[present] == "other"]
    if len(unsupported):
        row = int(unsupported[0])
        raise _bad_value(
            name,
            row,
            values[row],
            item_ids,
            f"contains a {type(values[row]).__name__}, which a catalogue cannot store; "
            f"use str, int, float, bool or a date",
        )
    found = list(dict.fromkeys(kinds[present].tolist()))
    if len(found) > 1:
        odd = present[kinds[present] != found[0]]
        row = int(odd[0])
        raise _bad_value(
            name,
            row,
            values[row],
            item_ids,
            f"mixes {found[0]} and {found[1]} values; convert the column to one kind",
        )
    kind = found[0] if found else "string"
    if kind == "number":
        numbers = np.array(
            [np.nan if skip else float(value) for value, skip in zip(values, missing, strict=True)]
        )
        return _number_column(name, numbers, item_ids)
    if kind == "bool":
        present_values = values.copy()
        present_values[missing] = None
        return _bool_column(name, present_values)
    if kind == "datetime":
        return _datetime_column(name, series, item_ids)
    texts = values.copy()
    texts[missing] = None
    categories = sorted({value for value in texts if value is not None})
    lookup = {category: code for code, category in enumerate(categories)}
    codes = np.fromiter(
        (-1 if value is None else lookup[value] for value in texts), dtype=np.int32, count=len(texts)
    )
    return CatalogColumn(name, "string", codes, tuple(categories))


def _number_column(name: str, numbers: np.ndarray, item_ids: pd.Series) -> CatalogColumn:
    infinite = np.isinf(numbers)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise _bad_value(name, row, numbers[row], item_ids, "must contain finite numbers")
    return CatalogColumn(name, "number", numbers.astype(np.float64))


def _bool_column(name: str, values: np.ndarray) -> CatalogColumn:
    codes = np.fromiter(
        (-1 if _is_missing(value) else int(bool(value)) for value in values), dtype=np.int8, count=len(values)
    )
    return CatalogColumn(name, "bool", codes)


def _datetime_column(name: str, series: pd.Series, item_ids: pd.Series) -> CatalogColumn:
    values = series.to_numpy(dtype=object)
    missing = np.fromiter((_is_missing(value) for value in values), dtype=bool, count=len(values))
    result = np.full(len(values), _NAT, dtype=np.int64)
    for row in np.flatnonzero(~missing):
        value = values[row]
        nanoseconds = _utc_ns(value) if isinstance(value, (str, datetime, np.datetime64)) else None
        if nanoseconds is None:
            raise _bad_value(
                name,
                int(row),
                value,
                item_ids,
                "must contain ISO 8601 dates or times from 1678 to 2261, such as 2026-12-24T09:00Z",
            )
        result[row] = nanoseconds
    return CatalogColumn(name, "datetime", result)


def _bad_value(name: str, row: int, value: Any, item_ids: pd.Series, expected: str) -> DataValidationError:
    """Build the error for one bad cell; ``row``, ``column`` and ``value`` are also set as attributes."""
    error = DataValidationError(
        f"catalogue column {name!r} {expected}; row {row} (0-based, item_id={_plain(item_ids.iloc[row])!r}) "
        f"has {_plain(value)!r}"
    )
    error.row, error.column, error.value = row, name, _plain(value)  # type: ignore[attr-defined]
    return error


def _value_kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (datetime, np.datetime64)):
        return "datetime"
    return "other"


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    if isinstance(value, str):
        return not value.strip()
    return False


def _missing_value(kind: Kind) -> Any:
    return {"string": -1, "number": np.nan, "bool": -1, "datetime": _NAT}[kind]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _condition_text(attribute: str, value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    raise DataValidationError(
        f"{where} rule on {attribute!r} (string attribute) cannot use {value!r}; give a str"
    )


def _now_ns(now: datetime | str | None) -> int:
    if now is None:
        now = datetime.now(UTC)
    nanoseconds = _utc_ns(now) if isinstance(now, (str, datetime)) else None
    if nanoseconds is None:
        raise DataValidationError(f"now must be a datetime or an ISO 8601 str; got {now!r}")
    return nanoseconds


def _utc_ns(value: Any) -> int | None:
    """Return a date or time as nanoseconds since the Unix epoch, UTC, or None when invalid.

    A naive time is taken as UTC. Numbers are rejected, because their unit is
    unknown, and so are times outside the int64 nanosecond range (1677 to 2262).
    """
    if isinstance(value, (bool, int, float, np.number)):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    try:
        return int(stamp.as_unit("ns").value)
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        return None


# --------------------------------------------------------------------------- persistence helpers


def _encode_strings(name: str, values: np.ndarray, kind: str) -> dict[str, np.ndarray]:
    if kind == "int":
        return {name: np.asarray(values, dtype=np.int64)}
    encoded = [str(value).encode("utf-8") for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(value) for value in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return {f"{name}_utf8": blob, f"{name}_offsets": offsets}


def _decode_strings(name: str, kind: str, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    if kind == "int":
        return np.asarray(arrays[name], dtype=np.int64)
    raw = np.asarray(arrays[f"{name}_utf8"]).tobytes()
    offsets = np.asarray(arrays[f"{name}_offsets"]).tolist()
    return np.array([raw[start:stop].decode("utf-8") for start, stop in pairwise(offsets)], dtype=object)


def catalog_from_metadata(metadata: pd.DataFrame, item_ids: IdMap) -> Catalog:
    """Build a catalogue from position-aligned metadata, in the layout of ``Interactions.item_metadata``."""
    frame = metadata.copy()
    frame.insert(0, "item_id", pd.Series(item_ids.ids_of(np.arange(len(item_ids))), dtype=object))
    if item_ids.kind == "int":
        frame["item_id"] = frame["item_id"].astype(np.int64)
    return Catalog.from_frame(frame)
