"""Translation between external ids (``user_id``, ``item_id``) and 0-based positions.

Ids rule
--------
A model's ids of one kind (users or items) are either all integers (int64) or all
strings; the kind is fixed when the data is read. Strings are kept exactly (any
Unicode, inner and outer spaces included), except that an empty or whitespace-only
string is rejected as a missing id. Integers stay integers and are never turned
into floats.

Lookups follow one rule everywhere (Python API, CLI and HTTP): an id is matched
by its canonical decimal text when its type differs from the model's kind. So for
an integer-keyed model the string ``"1001"`` finds ``1001`` (``"01001"`` and
``"1001.0"`` find nothing), and for a string-keyed model the integer ``1001`` finds
``"1001"``. Any other type (float, bool, None) is rejected with
:class:`~recsys.exceptions.DataValidationError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from recsys.exceptions import DataValidationError

__all__ = ["Id", "IdMap"]

Id: TypeAlias = int | str
IdKind: TypeAlias = Literal["int", "str"]

_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def canonical_int(text: str) -> int | None:
    """Return the integer that ``text`` spells canonically, or None."""
    if _CANONICAL_INT.fullmatch(text) is None:
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


class IdMap:
    """Bijection between external ids and 0-based positions.

    Positions follow the sorted order of the ids (numeric order for integers, code
    point order for strings), so breaking a tie by position is the same as breaking
    it by id.

    Parameters
    ----------
    ids : array-like of int or str
        Unique ids. They are sorted; duplicates raise ``DataValidationError``.
    name : str
        ``"user_id"`` or ``"item_id"``; used in error messages.
    """

    def __init__(self, ids: Iterable[Id] | np.ndarray, name: str = "id") -> None:
        array = _as_id_array(ids, name)
        self.name = name
        self.kind: IdKind = "int" if array.dtype.kind == "i" else "str"
        self.ids = np.sort(array) if self.kind == "int" else np.array(sorted(array), dtype=object)
        self._index = pd.Index(self.ids, dtype="int64" if self.kind == "int" else object)
        if not self._index.is_unique:
            raise DataValidationError(f"{name} values passed to IdMap must be unique")

    @classmethod
    def from_sorted(cls, ids: np.ndarray, name: str) -> IdMap:
        """Build a map from ids already sorted and unique, as a saved model stores them."""
        id_map = cls.__new__(cls)
        id_map.name = name
        id_map.kind = "int" if ids.dtype.kind == "i" else "str"
        id_map.ids = ids
        id_map._index = pd.Index(ids, dtype="int64" if id_map.kind == "int" else object)
        if len(ids) and not (id_map._index.is_unique and id_map._index.is_monotonic_increasing):
            raise ValueError(f"stored {name} values are not sorted and unique")
        return id_map

    @classmethod
    def encode(cls, values: np.ndarray, name: str) -> tuple[IdMap, np.ndarray]:
        """Build the map of the distinct ``values`` and return it with their positions."""
        uniques = pd.unique(values)
        id_map = cls(uniques, name)
        return id_map, id_map._index.get_indexer(values).astype(np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"IdMap(name={self.name!r}, kind={self.kind!r}, n={len(self)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdMap):
            return NotImplemented
        return self.kind == other.kind and np.array_equal(self.ids, other.ids)

    __hash__ = None  # type: ignore[assignment]

    def normalize(self, id: Any) -> Id | None:  # noqa: A002 - the field is called id
        """Return ``id`` converted to this map's kind, or None when no conversion exists.

        Raises
        ------
        DataValidationError
            If ``id`` is neither an int nor a str.
        """
        if isinstance(id, (bool, np.bool_)) or not isinstance(id, (int, np.integer, str)):
            raise DataValidationError(f"{self.name} must be an int or a str; got {type(id).__name__} {id!r}")
        if self.kind == "int":
            if isinstance(id, str):
                return canonical_int(id)
            return int(id)
        return id if isinstance(id, str) else str(int(id))

    def index_of(self, id: Any) -> int:  # noqa: A002
        """Return the position of ``id``, or -1 if the map does not contain it."""
        key = self.normalize(id)
        if key is None:
            return -1
        try:
            position = self._index.get_loc(key)
        except KeyError:
            return -1
        return int(position)

    def indices_of(self, ids: Sequence[Any]) -> np.ndarray:
        """Return the positions of ``ids`` as int64, with -1 for ids not in the map."""
        if len(ids) == 0:
            return np.empty(0, dtype=np.int64)
        return np.fromiter((self.index_of(id_) for id_ in ids), dtype=np.int64, count=len(ids))

    def id_of(self, position: int) -> Id:
        """Return the external id at ``position`` as a plain Python int or str."""
        value = self.ids[position]
        return int(value) if self.kind == "int" else value

    def ids_of(self, positions: Iterable[int] | np.ndarray) -> list[Id]:
        """Return the external ids at ``positions`` as plain Python values."""
        values = self.ids[np.asarray(positions, dtype=np.int64)]
        return values.tolist()


def _as_id_array(ids: Iterable[Id] | np.ndarray, name: str) -> np.ndarray:
    """Return ``ids`` as an int64 array or an object array of str."""
    # A list goes through an object array, because np.asarray would turn [1, "a"] into
    # the strings ["1", "a"] and hide the mix of types.
    array = ids if isinstance(ids, np.ndarray) else np.array(list(ids), dtype=object)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    values = array.astype(object)
    if all(isinstance(value, str) for value in values):
        return values
    if all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in values):
        if any(not _INT64_MIN <= int(value) <= _INT64_MAX for value in values):
            raise DataValidationError(f"{name} values must fit in int64; convert larger ids to str")
        return values.astype(np.int64)
    raise DataValidationError(f"{name} values must be all int or all str; got {values[:5].tolist()!r}")
