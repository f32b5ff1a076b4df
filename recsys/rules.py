"""Business rules applied to scores: which items may be returned, in what order.

Every function works on item positions and dense per-item arrays, so the models
stay free of filtering code. Order is always descending score, ties broken by the
smaller position, which is the smaller id (see :class:`recsys.data.IdMap`).

:class:`Rules` states per-request rules over item attributes (include, exclude,
boost, availability, a cap per category). :mod:`recsys.catalog` compiles them once
per request into the per-item arrays that :func:`top_n` and :func:`backfill` take.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from recsys.exceptions import DataValidationError

__all__ = [
    "Boost",
    "Condition",
    "Range",
    "Rules",
    "backfill",
    "backfill_ranked",
    "blocked_mask",
    "is_reversed_range",
    "split_range_text",
    "top_n",
]

# Above this many candidates per requested item, a partition first narrows the
# candidates before the stable sort.
_PARTITION_FACTOR = 8


def blocked_mask(
    n_items: int,
    *,
    excluded: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """Return a boolean mask of the items that must not be returned.

    Parameters
    ----------
    n_items : int
    excluded : int array, optional
        Positions that must not be returned (seen items, exclude list, basket).
    allowed : int array, optional
        When given, only these positions may be returned; an empty array blocks
        everything.
    """
    if allowed is None:
        blocked = np.zeros(n_items, dtype=bool)
    else:
        blocked = np.ones(n_items, dtype=bool)
        blocked[allowed] = False
    if excluded is not None and len(excluded):
        blocked[excluded] = True
    return blocked


def top_n(
    scores: np.ndarray,
    blocked: np.ndarray,
    n: int,
    *,
    groups: np.ndarray | None = None,
    max_per_group: int | None = None,
    taken: np.ndarray | None = None,
) -> np.ndarray:
    """Return the positions of the ``n`` best unblocked items with a score > 0.

    Ties in score go to the smaller position. Fewer than ``n`` positions come back
    when fewer items have evidence; nothing is padded.

    With ``groups`` (an int group code per position, -1 for no group) and
    ``max_per_group``, at most that many items of one group are picked. The cap
    applies while picking: an item over its group's cap makes room for the next
    best item, so the list still reaches ``n`` when enough items qualify. Items
    with group -1 are never capped. ``taken`` lists positions picked before
    (for example by the history), which count towards their groups' caps.
    """
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    if groups is not None and max_per_group is not None:
        return _top_n_capped(scores, blocked, n, groups, max_per_group, taken)
    candidates = np.flatnonzero((scores > 0) & ~blocked)
    if len(candidates) > _PARTITION_FACTOR * n:
        # Keep every candidate scoring at least the n-th best, ties included, so
        # the stable sort below still breaks ties by position.
        threshold = np.partition(scores[candidates], len(candidates) - n)[len(candidates) - n]
        candidates = candidates[scores[candidates] >= threshold]
    order = np.argsort(-scores[candidates], kind="stable")
    return candidates[order[:n]]


def _top_n_capped(
    scores: np.ndarray,
    blocked: np.ndarray,
    n: int,
    groups: np.ndarray,
    max_per_group: int,
    taken: np.ndarray | None,
) -> np.ndarray:
    candidates = np.flatnonzero((scores > 0) & ~blocked)
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
    candidate_groups = groups[candidates]
    # Picking greedily in score order keeps an item exactly when fewer than
    # max_per_group better items of its group were kept, so its rank within its
    # group (plus the group's items already taken) decides.
    rank = _rank_within_group(candidate_groups)
    if taken is not None and len(taken):
        taken_groups = groups[taken]
        taken_groups = taken_groups[taken_groups >= 0]
        if len(taken_groups):
            counts = np.bincount(taken_groups, minlength=int(max(groups.max(), 0)) + 1)
            rank = rank + counts[np.maximum(candidate_groups, 0)]
    keep = (candidate_groups < 0) | (rank < max_per_group)
    return candidates[keep][:n].astype(np.int64)


def _rank_within_group(groups: np.ndarray) -> np.ndarray:
    """Return, for each element, how many earlier elements share its group."""
    if len(groups) == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    run_lengths = np.diff(np.r_[starts, len(groups)])
    rank_sorted = np.arange(len(groups)) - np.repeat(starts, run_lengths)
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = rank_sorted
    return rank


def backfill(
    chosen: np.ndarray,
    popular_order: np.ndarray,
    blocked: np.ndarray,
    n: int,
) -> np.ndarray:
    """Return popular positions that fill ``chosen`` up to ``n`` items.

    ``popular_order`` lists the items with popularity > 0, most popular first. The
    result skips blocked and already chosen items.
    """
    needed = n - len(chosen)
    if needed <= 0:
        return np.empty(0, dtype=np.int64)
    skip = blocked.copy()
    skip[chosen] = True
    available = popular_order[~skip[popular_order]]
    return available[:needed].astype(np.int64)


def backfill_ranked(
    chosen: np.ndarray,
    popularity: np.ndarray,
    blocked: np.ndarray,
    n: int,
    *,
    multiplier: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    max_per_group: int | None = None,
) -> np.ndarray:
    """Return popular positions that fill ``chosen`` up to ``n``, under rules.

    Like :func:`backfill`, with the order of ``popularity * multiplier`` and the
    group cap of :func:`top_n`, which counts the items in ``chosen``. Items with
    popularity 0 are never used.
    """
    needed = n - len(chosen)
    if needed <= 0:
        return np.empty(0, dtype=np.int64)
    skip = blocked.copy()
    skip[chosen] = True
    scores = popularity if multiplier is None else popularity * multiplier
    return top_n(scores, skip, needed, groups=groups, max_per_group=max_per_group, taken=chosen)


# --------------------------------------------------------------------------- rule definitions

#: A scalar condition value: an attribute equals it.
Scalar: TypeAlias = str | int | float | bool | datetime


@dataclass(frozen=True)
class Range:
    """A closed interval condition on a number or datetime attribute.

    Parameters
    ----------
    min, max : number, datetime or ISO 8601 str, optional
        Inclusive bounds; None leaves that side open. An item with no value for
        the attribute is never in range.

    Raises
    ------
    DataValidationError
        If both bounds are None, or if both are numbers (or both dates) and
        ``min`` is above ``max``, because such a range matches no item.
    """

    min: Scalar | None = None
    max: Scalar | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise DataValidationError("a Range needs min, max or both; got neither")
        if is_reversed_range(self.min, self.max):
            raise DataValidationError(
                f"Range min {self.min!r} is above max {self.max!r}, so it matches no item; "
                f"swap them: Range({self.max!r}, {self.min!r})"
            )


def is_reversed_range(low: Any, high: Any) -> bool:
    """Return whether ``low`` is above ``high`` when both are numbers or both are dates.

    Number and ISO 8601 strings count as numbers and dates; a naive date is taken
    as UTC. Bounds of different or unknown kinds return False, because only the
    attribute's kind decides how they compare (see :meth:`recsys.Catalog.compile`).
    """
    low_key = _bound_key(low)
    high_key = _bound_key(high)
    if low_key is None or high_key is None or low_key[0] != high_key[0]:
        return False
    return low_key[1] > high_key[1]


def _bound_key(value: Any) -> tuple[str, float] | None:
    """Return a range bound as ("number", value) or ("datetime", UTC nanoseconds), or None."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.number)):
        number = float(value)
        return None if np.isnan(number) else ("number", number)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            return None if np.isnan(number) else ("number", number)
    if not isinstance(value, (str, datetime)):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return ("datetime", float(stamp.value))


def split_range_text(text: str) -> tuple[str | None, str | None] | None:
    """Return the bounds of a range written ``low..high``, or None when ``text`` has no ``..``.

    An empty side is None, as in ``"..20"``.
    """
    if ".." not in text:
        return None
    low_text, _, high_text = text.partition("..")
    return low_text.strip() or None, high_text.strip() or None


#: One attribute condition: a value (equals), a list of values (equals one of)
#: or a :class:`Range`. A str such as ``"10..20"`` or ``"..20"`` is read as a range
#: for number and datetime attributes. :class:`Rules` rejects such a str whose
#: lower bound is above its upper bound, whatever the attribute's kind.
Condition: TypeAlias = Scalar | Sequence[Scalar] | Range


@dataclass(frozen=True)
class Boost:
    """Multiply the score of items matching every condition of ``where`` by ``factor``.

    Parameters
    ----------
    where : mapping of attribute name to Condition
    factor : float
        A finite number > 0; below 1 demotes. Factors of several matching boosts
        multiply.
    """

    where: Mapping[str, Condition]
    factor: float

    def __post_init__(self) -> None:
        factor = self.factor
        if (
            isinstance(factor, bool)
            or not isinstance(factor, (int, float, np.number))
            or not (np.isfinite(factor) and factor > 0)
        ):
            raise DataValidationError(f"boost factor must be a finite number > 0; got {factor!r}")
        _check_conditions("boost where", self.where)


@dataclass(frozen=True)
class Rules:
    """Per-request business rules over item attributes of the model's catalogue.

    Items the model has but the catalogue lacks have every attribute missing. A
    missing value never equals a condition and is never in a range, so such items
    fail ``include`` and pass ``exclude``. They get no boost, count as always
    available, and are not capped by ``max_per_category``.

    Parameters
    ----------
    include : mapping of attribute name to Condition, optional
        Only items matching every condition may be returned.
    exclude : mapping of attribute name to Condition, optional
        Items matching any condition are never returned.
    boost : sequence of Boost, optional
        Score multipliers; ``(where, factor)`` pairs and ``{"where": ..., "factor":
        ...}`` dicts are accepted too. Boosted scores decide the order and are the
        scores returned.
    max_per_category : int, optional
        At most this many items per value of ``category_attribute``, applied while
        picking the top ``n`` (see :func:`top_n`), in the backfill too.
    category_attribute : str, default "category"
        The attribute ``max_per_category`` counts.
    now : datetime or ISO 8601 str, optional
        The time at which items outside their ``available_from`` /
        ``available_until`` window are hidden; None means the current time, UTC.
        The window is hidden on every request of a model whose catalogue has those
        columns, with or without ``Rules``. A naive time is taken as UTC.
    """

    include: Mapping[str, Condition] = field(default_factory=dict)
    exclude: Mapping[str, Condition] = field(default_factory=dict)
    boost: Sequence[Boost] = ()
    max_per_category: int | None = None
    category_attribute: str = "category"
    now: datetime | str | None = None

    def __post_init__(self) -> None:
        _check_conditions("include", self.include)
        _check_conditions("exclude", self.exclude)
        object.__setattr__(self, "boost", tuple(_as_boost(boost) for boost in _as_list("boost", self.boost)))
        cap = self.max_per_category
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1):
            raise DataValidationError(f"max_per_category must be an int >= 1 or None; got {cap!r}")
        if not isinstance(self.category_attribute, str) or not self.category_attribute:
            raise DataValidationError(
                f"category_attribute must be a non-empty str; got {self.category_attribute!r}"
            )

    @classmethod
    def of(cls, rules: Rules | Mapping[str, Any] | None) -> Rules | None:
        """Return ``rules`` as :class:`Rules`; a mapping gives the constructor's keywords."""
        if rules is None or isinstance(rules, Rules):
            return rules
        if not isinstance(rules, Mapping):
            raise DataValidationError(
                f"rules must be a recsys.Rules or a mapping of its fields; got {type(rules).__name__}"
            )
        unknown = sorted(
            set(rules) - {"include", "exclude", "boost", "max_per_category", "category_attribute", "now"}
        )
        if unknown:
            raise DataValidationError(
                f"rules have unknown field(s) {unknown}; use include, exclude, boost, "
                f"max_per_category, category_attribute or now"
            )
        return cls(**rules)

    @property
    def attributes(self) -> list[str]:
        """The attribute names the rules read, in first-use order."""
        names: list[str] = [*self.include, *self.exclude]
        for boost in self.boost:
            names.extend(boost.where)
        if self.max_per_category is not None:
            names.append(self.category_attribute)
        return list(dict.fromkeys(names))

    @property
    def is_empty(self) -> bool:
        """Whether the rules change nothing besides the availability time."""
        return not (self.include or self.exclude or self.boost or self.max_per_category is not None)

    def cache_key(self) -> str:
        """Return a text that is equal for rules that compile to the same arrays (``now`` aside)."""
        document = {
            "include": _key_conditions(self.include),
            "exclude": _key_conditions(self.exclude),
            "boost": [[_key_conditions(boost.where), float(boost.factor)] for boost in self.boost],
            "max_per_category": self.max_per_category,
            "category_attribute": self.category_attribute if self.max_per_category is not None else None,
        }
        return json.dumps(document, sort_keys=True, default=repr)


def _as_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise DataValidationError(f"{name} must be a list; got {type(value).__name__} {value!r}")
    return list(value)


def _as_boost(value: Any) -> Boost:
    if isinstance(value, Boost):
        return value
    if isinstance(value, Mapping):
        if set(value) != {"where", "factor"}:
            raise DataValidationError(
                f"a boost needs exactly the keys 'where' and 'factor'; got {sorted(value)}"
            )
        return Boost(where=value["where"], factor=value["factor"])
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return Boost(where=value[0], factor=value[1])
    raise DataValidationError(f"a boost must be a Boost, a (where, factor) pair or a dict; got {value!r}")


def _check_conditions(name: str, conditions: Any) -> None:
    if not isinstance(conditions, Mapping):
        raise DataValidationError(
            f"{name} must be a mapping of attribute name to condition; got {type(conditions).__name__}"
        )
    for attribute, condition in conditions.items():
        if not isinstance(attribute, str) or not attribute:
            raise DataValidationError(f"{name} attribute names must be non-empty str; got {attribute!r}")
        values = condition if isinstance(condition, (list, tuple, set, frozenset)) else [condition]
        if not values:
            raise DataValidationError(
                f"{name} condition on {attribute!r} is an empty list; give at least one value"
            )
        for value in values:
            if isinstance(value, str):
                _check_range_text(name, attribute, value)
            if isinstance(value, Range) and values is not condition:
                continue
            if not isinstance(value, (str, int, float, bool, np.generic, datetime)) or isinstance(
                value, Range
            ):
                raise DataValidationError(
                    f"{name} condition on {attribute!r} must be a value, a list of values or a "
                    f"recsys.Range; got {type(value).__name__} {value!r}"
                )


def _check_range_text(name: str, attribute: str, text: str) -> None:
    bounds = split_range_text(text)
    if bounds is not None and is_reversed_range(*bounds):
        low, high = bounds
        raise DataValidationError(
            f"{name} condition on {attribute!r} has the range {text!r}, whose lower bound is above "
            f"its upper bound, so it matches no item; write it as '{high}..{low}'"
        )


def _key_conditions(conditions: Mapping[str, Condition]) -> list[Any]:
    def key(condition: Condition) -> Any:
        if isinstance(condition, Range):
            return {"min": repr(condition.min), "max": repr(condition.max)}
        if isinstance(condition, (list, tuple, set, frozenset)):
            return ["list", *[repr(value) for value in condition]]
        return repr(condition)

    return sorted([attribute, key(condition)] for attribute, condition in conditions.items())
