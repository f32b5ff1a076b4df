"""Train/test splits of an events table for offline evaluation.

Each splitter returns a :class:`Split`: ``train`` is a subset of the event rows,
ready for ``model.fit``, and ``test`` lists the held-out relevant
``(user_id, item_id)`` pairs, one row per pair.

What counts as relevant
-----------------------
Only held-out events whose type is in ``relevant_events`` (by default
``("purchase",)``) become test pairs: a view after the split is not evidence that
a recommendation would have worked. Held-out events of other types are dropped
(they are in neither train nor test) and counted in the report.

Repeats
-------
With ``exclude_train_items`` (the default), a held-out pair that the user already
has in train is removed from the test set and counted. A re-purchase is not a
discovery. Besides, models leave items a user already has out of the list
(``exclude_seen=True``), so no model could score that pair. On browse data, users
usually view an item before buying it. There, pass the same event types to
``exclude_train_items`` and to ``evaluate(exclude_seen=...)``, for example
``["purchase"]``. A bought item that was only viewed in train then stays a test
pair and can still be recommended.

Users and items absent from train
---------------------------------
Nothing is dropped silently. Test users without train events stay in the test set
(a model returns its popular fallback for them) and test pairs whose item has no
train event stay too. No model can recommend such an item, but it still counts in
the denominator of recall, so that a split with many new items does not look
better than it is. :class:`SplitReport` counts both, and
:func:`~recsys.evaluation.evaluate` can leave them out (``known_users_only``,
``known_items_only``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import validate_events
from recsys.exceptions import DataValidationError

__all__ = ["Split", "SplitReport", "leave_last_k", "random_holdout", "temporal_split"]

_DIGITS_ONLY = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")


@dataclass(frozen=True)
class SplitReport:
    """Counts that describe a split: what went where, and what was dropped and why.

    Every input row is in exactly one of train, the test events, or a
    ``dropped_events`` reason, so
    ``n_events == n_train_events + n_test_events + sum(dropped_events.values())``.

    Attributes
    ----------
    method : str
        The splitter's name, such as ``"temporal_split"``.
    parameters : dict
        The splitter's arguments, resolved (for example the cutoff as a timestamp).
    relevant_events : tuple of str
        The event types that can become test pairs.
    n_events : int
        Rows of the input.
    n_train_events, n_train_users, n_train_items : int
        Rows, distinct users and distinct items of ``train``.
    n_test_events : int
        Held-out relevant rows behind the test pairs. Several rows of one pair
        (a product bought twice) make one pair.
    n_test_pairs, n_test_users, n_test_items : int
        Rows, distinct users and distinct items of ``test``.
    n_test_users_not_in_train : int
        Test users without any train event. Models return their popular fallback
        for them.
    n_test_items_not_in_train : int
        Distinct test items without any train event. No model can recommend them.
    n_test_pairs_item_not_in_train : int
        Test pairs whose item has no train event. They stay in recall's denominator
        unless :func:`~recsys.evaluation.evaluate` is called with
        ``known_items_only=True``.
    dropped_events : dict of str to int
        Rows in neither train nor test, by reason.
    users_without_test : dict of str to int
        Users with relevant events who got no test pair, by reason. Their events
        stay in train unless ``dropped_events`` counts them.
    """

    method: str
    parameters: dict[str, Any]
    relevant_events: tuple[str, ...]
    n_events: int
    n_train_events: int
    n_train_users: int
    n_train_items: int
    n_test_events: int
    n_test_pairs: int
    n_test_users: int
    n_test_items: int
    n_test_users_not_in_train: int
    n_test_items_not_in_train: int
    n_test_pairs_item_not_in_train: int
    dropped_events: dict[str, int] = field(default_factory=dict)
    users_without_test: dict[str, int] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Return the counts as a table with the columns ``quantity`` and ``count``."""
        rows = [
            ("input events", self.n_events),
            ("train events", self.n_train_events),
            ("train users", self.n_train_users),
            ("train items", self.n_train_items),
            ("test events (held-out relevant events)", self.n_test_events),
            ("test pairs (user, item)", self.n_test_pairs),
            ("test users", self.n_test_users),
            ("test items", self.n_test_items),
            ("test users not in train (popular fallback)", self.n_test_users_not_in_train),
            ("test items not in train (cannot be recommended)", self.n_test_items_not_in_train),
            ("test pairs whose item is not in train", self.n_test_pairs_item_not_in_train),
        ]
        rows += [(f"dropped events: {reason}", count) for reason, count in self.dropped_events.items()]
        rows += [
            (f"users without test pairs: {reason}", count)
            for reason, count in self.users_without_test.items()
        ]
        return pd.DataFrame(rows, columns=["quantity", "count"])

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={value!r}" for name, value in self.parameters.items())
        lines = [f"SplitReport {self.method}({settings}), relevant_events={list(self.relevant_events)}"]
        summary = self.summary()
        width = int(summary["quantity"].str.len().max())
        for quantity, count in summary.itertuples(index=False):
            lines.append(f"  {quantity:<{width}} {count:>12,}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Render the summary table in Jupyter."""
        return str(self.summary().to_html(index=False))


@dataclass(frozen=True, eq=False)
class Split:
    """A train/test split of an events table.

    Attributes
    ----------
    train : DataFrame
        The training rows, to pass to ``model.fit``. The event schema columns
        (``user_id``, ``item_id``, ``event`` and, when present, ``timestamp`` and
        ``weight``) are in the form :func:`recsys.data.validate_events` returns
        (timestamps in UTC), and other columns are kept unchanged. The index is the
        input's.
    test : DataFrame
        One row per held-out relevant pair, sorted by ``user_id`` then ``item_id``,
        with the columns ``user_id``, ``item_id``, ``n_events`` (held-out relevant
        rows of the pair), ``user_in_train`` and ``item_in_train`` (whether train
        has any event of that user or item).
    report : SplitReport
        The counts: what went where, and what was dropped and why.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    report: SplitReport

    @property
    def relevant_events(self) -> tuple[str, ...]:
        """The event types that became test pairs."""
        return self.report.relevant_events

    def __repr__(self) -> str:
        report = self.report
        return (
            f"Split({report.method}: train={report.n_train_events:,} events of "
            f"{report.n_train_users:,} users; test={report.n_test_pairs:,} pairs of "
            f"{report.n_test_users:,} users, {report.n_test_users_not_in_train:,} of them not in train)"
        )


# --------------------------------------------------------------------------- splitters


def temporal_split(
    events: pd.DataFrame,
    cutoff: Any,
    *,
    relevant_events: Sequence[str] = ("purchase",),
    exclude_train_items: bool | Sequence[str] = True,
) -> Split:
    """Split events at one point in time: the past trains, the future tests.

    This is the split closest to production, where a model trained up to today is
    judged on what users do next.

    Parameters
    ----------
    events : DataFrame
        Events with a ``timestamp`` column (see :func:`recsys.data.validate_events`).
    cutoff : timestamp-like or timedelta-like
        A time such as ``"2011-11-09"``, a :class:`pandas.Timestamp` or a
        :class:`datetime.datetime`, where naive times are read as UTC. Or a
        duration such as ``"28D"``, a :class:`pandas.Timedelta` or a
        :class:`datetime.timedelta`, measured back from the newest event, so that
        ``"28D"`` tests on the last 28 days.
    relevant_events : sequence of str, default ("purchase",)
        Event types whose held-out rows become test pairs.
    exclude_train_items : bool or sequence of str, default True
        Remove test pairs that the user already has in train: True for train
        events of any type, a list of event types for only those, False to keep
        every pair.

    Returns
    -------
    Split
        ``train`` contains the rows strictly before the cutoff, and ``test`` the pairs of
        relevant rows at or after it, minus the excluded repeats.

    Raises
    ------
    DataValidationError
        If the events are invalid or have no timestamp, if an argument is invalid,
        or if the cutoff leaves no train rows or no test pairs.
    """
    relevant = _check_relevant_events(relevant_events)
    exclude_types = _check_exclude_train_items(exclude_train_items)
    table = _Events(events, relevant, needs_timestamp="temporal_split")
    timestamps = table.clean["timestamp"]
    cutoff_time = _resolve_cutoff(cutoff, timestamps)

    train = (timestamps < cutoff_time).to_numpy()
    span = f"the events span {timestamps.min()} to {timestamps.max()}"
    if not train.any():
        raise DataValidationError(
            f"cutoff={cutoff!r} ({cutoff_time}) leaves no events before it for training; {span}"
        )
    held_out = ~train & table.relevant
    if not held_out.any():
        raise DataValidationError(
            f"cutoff={cutoff!r} ({cutoff_time}) leaves no {list(relevant)} events at or after it "
            f"for testing; {span}"
        )

    dropped: dict[str, int] = {}
    _count(dropped, "held out but not a relevant event type", ~train & ~table.relevant)
    repeats = table.repeats(held_out, train, exclude_types)
    _count(dropped, "held-out pair already in the user's train history", repeats)
    users_without_test = _users_without_test_rows(
        table, held_out, held_out & ~repeats, "all held-out pairs were repeats"
    )

    parameters = {
        "cutoff": cutoff_time,
        "exclude_train_items": exclude_train_items
        if isinstance(exclude_train_items, bool)
        else list(exclude_types or ()),
    }
    return table.split("temporal_split", parameters, train, held_out & ~repeats, dropped, users_without_test)


def leave_last_k(
    events: pd.DataFrame,
    k: int = 1,
    *,
    relevant_events: Sequence[str] = ("purchase",),
    exclude_train_items: bool | Sequence[str] = True,
) -> Split:
    """Hold out each user's last ``k`` relevant events.

    For every user with at least ``k + 1`` relevant events, the last ``k`` by time
    go to test. Rows tied in time keep the input order, the later row counting as
    later. The user's train rows are those strictly before the earliest held-out
    row, so nothing from the user's future trains the model. Their other rows at or
    after that time are dropped and counted. Users with fewer than ``k + 1``
    relevant events stay wholly in train and are counted.

    Parameters
    ----------
    events : DataFrame
        Events with a ``timestamp`` column.
    k : int, default 1
        Relevant events held out per user, >= 1. Two held-out rows of one item
        make one test pair, so a user has at most ``k`` pairs.
    relevant_events, exclude_train_items
        As in :func:`temporal_split`.

    Returns
    -------
    Split

    Raises
    ------
    DataValidationError
        If the events are invalid or have no timestamp, if an argument is invalid,
        or if no user has ``k + 1`` relevant events.

    Notes
    -----
    When a user's last purchases share one timestamp (the lines of one invoice),
    holding out ``k`` of them drops the others from train, and a user with a single
    invoice then has no train rows at all. The report counts such users among the
    test users not in train.
    """
    k = _check_int_at_least(k, "k", 1)
    relevant = _check_relevant_events(relevant_events)
    exclude_types = _check_exclude_train_items(exclude_train_items)
    table = _Events(events, relevant, needs_timestamp="leave_last_k")
    # Nanoseconds since the epoch, UTC: integers make the per-user minimum below simple.
    times = table.clean["timestamp"].to_numpy(dtype="datetime64[ns]").view(np.int64)

    # Relevant rows, ordered by user, then time, then input position.
    rows = np.flatnonzero(table.relevant)
    order = np.lexsort((rows, times[rows], table.user_codes[rows]))
    rows = rows[order]
    users = table.user_codes[rows]
    n_relevant = np.bincount(users, minlength=table.n_users)
    eligible = n_relevant[users] >= k + 1
    held_rows = rows[eligible & (_position_from_end(users) < k)]
    if len(held_rows) == 0:
        raise DataValidationError(
            f"k={k} is too large: no user has k + 1 = {k + 1} or more {list(relevant)} events, "
            f"so there is nothing to test on; use a smaller k"
        )

    held_out = np.zeros(table.n_rows, dtype=bool)
    held_out[held_rows] = True
    # Each eligible user's split time is their earliest held-out row. Other users
    # keep the sentinel, which is later than every event.
    no_split = np.iinfo(np.int64).max
    split_time = np.full(table.n_users, no_split, dtype=np.int64)
    np.minimum.at(split_time, table.user_codes[held_rows], times[held_rows])
    train = times < split_time[table.user_codes]
    train[split_time[table.user_codes] == no_split] = True

    dropped: dict[str, int] = {}
    _count(dropped, "at or after the user's first held-out event", ~train & ~held_out)
    repeats = table.repeats(held_out, train, exclude_types)
    _count(dropped, "held-out pair already in the user's train history", repeats)

    users_without_test: dict[str, int] = {}
    users_with_relevant = n_relevant > 0
    too_few = users_with_relevant & (n_relevant < k + 1)
    users_without_test[f"fewer than k + 1 = {k + 1} relevant events (kept in train)"] = int(too_few.sum())
    users_without_test.update(
        _users_without_test_rows(table, held_out, held_out & ~repeats, "all held-out pairs were repeats")
    )

    parameters = {
        "k": k,
        "exclude_train_items": exclude_train_items
        if isinstance(exclude_train_items, bool)
        else list(exclude_types or ()),
    }
    return table.split("leave_last_k", parameters, train, held_out & ~repeats, dropped, users_without_test)


def random_holdout(
    events: pd.DataFrame,
    fraction: float = 0.2,
    *,
    seed: int = 0,
    relevant_events: Sequence[str] = ("purchase",),
) -> Split:
    """Hold out a seeded random share of each user's relevant (user, item) pairs.

    Each user with ``n`` relevant pairs gets ``round(fraction * n)`` of them drawn
    for test (rounding half up), but at most ``n - 1``, so that every user keeps a
    relevant pair in train. Every row of a held-out pair leaves train: its relevant
    rows become test events and its other rows (a view of the bought item, say)
    are dropped and counted, since keeping them would reveal the held-out item to the model.
    The split ignores time, so it suits data without timestamps but lets the model
    learn from a user's future.

    Parameters
    ----------
    events : DataFrame
        Events, with or without a ``timestamp`` column.
    fraction : float, default 0.2
        Share of each user's relevant pairs to hold out, in (0, 1).
    seed : int, default 0
        Seed of the draw, >= 0. The pairs are sorted by id before drawing, so
        the same events in any row order give the same split.
    relevant_events : sequence of str, default ("purchase",)
        Event types whose pairs can be held out.

    Returns
    -------
    Split

    Raises
    ------
    DataValidationError
        If the events or an argument are invalid, or if no user has enough relevant
        pairs to hold one out.
    """
    fraction = _check_fraction(fraction)
    seed = _check_int_at_least(seed, "seed", 0)
    relevant = _check_relevant_events(relevant_events)
    table = _Events(events, relevant, needs_timestamp=None)

    pairs = pd.DataFrame(
        {
            "user_id": table.clean["user_id"].to_numpy()[table.relevant],
            "item_id": table.clean["item_id"].to_numpy()[table.relevant],
            "user": table.user_codes[table.relevant],
            "key": table.pair_keys[table.relevant],
        }
    ).drop_duplicates("key")
    pairs = pairs.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)
    per_user = pairs.groupby("user", sort=False)["key"].transform("size").to_numpy()
    n_test = np.minimum(np.floor(fraction * per_user + 0.5), per_user - 1).astype(np.int64)

    draws = np.random.default_rng(seed).random(len(pairs))
    order = np.lexsort((draws, pairs["user"].to_numpy()))
    rank_in_user = np.empty(len(pairs), dtype=np.int64)
    rank_in_user[order] = _position_from_start(pairs["user"].to_numpy()[order])
    held_keys = pairs["key"].to_numpy()[rank_in_user < n_test]
    if len(held_keys) == 0:
        raise DataValidationError(
            f"fraction={fraction!r} selects no test pair: no user has enough {list(relevant)} pairs "
            f"for round(fraction * n) >= 1 while keeping one pair in train; use a larger fraction"
        )

    in_held_pair = np.isin(table.pair_keys, held_keys)
    held_out = in_held_pair & table.relevant
    train = ~in_held_pair
    dropped: dict[str, int] = {}
    _count(dropped, "other event types of a held-out pair", in_held_pair & ~table.relevant)

    users_with_pairs = pairs.drop_duplicates("user")
    first_of_user = users_with_pairs.index.to_numpy()
    no_test = int((n_test[first_of_user] == 0).sum())
    users_without_test = {"too few relevant pairs for the fraction (kept in train)": no_test}

    parameters = {"fraction": fraction, "seed": seed}
    return table.split("random_holdout", parameters, train, held_out, dropped, users_without_test)


# --------------------------------------------------------------------------- shared steps


class _Events:
    """The validated events of one split call, with integer codes for users and pairs."""

    def __init__(self, events: pd.DataFrame, relevant: tuple[str, ...], needs_timestamp: str | None) -> None:
        self._validate(events, relevant, needs_timestamp)
        self.n_rows = len(self.clean)
        user_codes, user_uniques = pd.factorize(self.clean["user_id"])
        item_codes, item_uniques = pd.factorize(self.clean["item_id"])
        self.user_codes = np.asarray(user_codes, dtype=np.int64)
        self.item_codes = np.asarray(item_codes, dtype=np.int64)
        self.n_users = len(user_uniques)
        self.n_items = len(item_uniques)
        self.pair_keys = self.user_codes * self.n_items + self.item_codes

    def _validate(self, events: pd.DataFrame, relevant: tuple[str, ...], needs_timestamp: str | None) -> None:
        """Set ``original``, ``clean`` and the ``relevant`` row mask, or raise DataValidationError."""
        if not isinstance(events, pd.DataFrame):
            raise DataValidationError(f"events must be a pandas DataFrame; got {type(events).__name__}")
        if "event" in events.columns and events["event"].isna().any():
            bad = events["event"].isna().to_numpy()
            raise DataValidationError(
                f"column 'event' must not contain null event types; {int(bad.sum())} bad row(s), "
                f"first at row {int(np.flatnonzero(bad)[0])} (0-based)"
            )

        # Every event type present is accepted: the split does not weight events.
        event_types = {} if "event" not in events.columns else dict.fromkeys(pd.unique(events["event"]), 1.0)
        self.original = events
        self.clean = validate_events(events, event_types)
        if needs_timestamp is not None and "timestamp" not in self.clean.columns:
            raise DataValidationError(
                f"{needs_timestamp} needs a 'timestamp' column in the events; got columns "
                f"{list(map(str, events.columns))}. Use random_holdout for events without times"
            )

        self.relevant_events = relevant
        self.relevant = self.clean["event"].isin(list(relevant)).to_numpy()
        if not self.relevant.any():
            present = sorted(map(str, pd.unique(self.clean["event"])))
            raise DataValidationError(
                f"relevant_events={list(relevant)} matches no event; the events have the types {present}"
            )

    def repeats(
        self, held_out: np.ndarray, train: np.ndarray, exclude_types: tuple[str, ...] | None
    ) -> np.ndarray:
        """Return the held-out rows whose pair the user has in train (among ``exclude_types``).

        ``exclude_types`` None means every event type, and an empty tuple means none.
        """
        if exclude_types is not None and len(exclude_types) == 0:
            return np.zeros(self.n_rows, dtype=bool)
        history = train.copy()
        if exclude_types is not None:
            history &= self.clean["event"].isin(list(exclude_types)).to_numpy()
        return held_out & np.isin(self.pair_keys, self.pair_keys[history])

    def split(
        self,
        method: str,
        parameters: dict[str, Any],
        train: np.ndarray,
        test_rows: np.ndarray,
        dropped: dict[str, int],
        users_without_test: dict[str, int],
    ) -> Split:
        """Build the Split and its report from row masks."""
        train_positions = np.flatnonzero(train)
        train_frame = self.original.iloc[train_positions].copy()
        for column in self.clean.columns:
            if column in train_frame.columns:
                train_frame[column] = self.clean[column].to_numpy()[train_positions]

        if not test_rows.any():
            raise DataValidationError(
                f"{method} with {parameters} leaves no test pairs: every held-out "
                f"{list(self.relevant_events)} event was dropped ({dropped}); users without test "
                f"pairs: {users_without_test}"
            )
        test = self._test_pairs(train, test_rows)
        report = SplitReport(
            method=method,
            parameters=parameters,
            relevant_events=self.relevant_events,
            n_events=self.n_rows,
            n_train_events=len(train_positions),
            n_train_users=len(np.unique(self.user_codes[train])),
            n_train_items=len(np.unique(self.item_codes[train])),
            n_test_events=int(test_rows.sum()),
            n_test_pairs=len(test),
            n_test_users=int(test["user_id"].nunique()),
            n_test_items=int(test["item_id"].nunique()),
            n_test_users_not_in_train=int(test.loc[~test["user_in_train"], "user_id"].nunique()),
            n_test_items_not_in_train=int(test.loc[~test["item_in_train"], "item_id"].nunique()),
            n_test_pairs_item_not_in_train=int((~test["item_in_train"]).sum()),
            dropped_events=dropped,
            users_without_test=users_without_test,
        )
        return Split(train=train_frame, test=test, report=report)

    def _test_pairs(self, train: np.ndarray, test_rows: np.ndarray) -> pd.DataFrame:
        rows = np.flatnonzero(test_rows)
        frame = pd.DataFrame(
            {
                "user_id": self.clean["user_id"].to_numpy()[rows],
                "item_id": self.clean["item_id"].to_numpy()[rows],
                "user": self.user_codes[rows],
                "item": self.item_codes[rows],
            }
        )
        pairs = frame.groupby(["user", "item"], sort=False).agg(
            user_id=("user_id", "first"), item_id=("item_id", "first"), n_events=("user_id", "size")
        )
        train_users = np.zeros(self.n_users, dtype=bool)
        train_users[self.user_codes[train]] = True
        train_items = np.zeros(self.n_items, dtype=bool)
        train_items[self.item_codes[train]] = True
        test = pd.DataFrame(
            {
                "user_id": _id_values(pairs["user_id"]),
                "item_id": _id_values(pairs["item_id"]),
                "n_events": pairs["n_events"].to_numpy(dtype=np.int64),
                "user_in_train": train_users[pairs.index.get_level_values("user").to_numpy()],
                "item_in_train": train_items[pairs.index.get_level_values("item").to_numpy()],
            }
        )
        return test.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def _id_values(column: pd.Series) -> np.ndarray:
    """Return ids as int64, or as an object array of str, the kinds of :class:`recsys.data.IdMap`."""
    if pd.api.types.is_integer_dtype(column.dtype):
        return column.to_numpy(dtype=np.int64)
    return column.to_numpy(dtype=object)


def _users_without_test_rows(
    table: _Events, held_out: np.ndarray, test_rows: np.ndarray, reason: str
) -> dict[str, int]:
    """Count the users with held-out rows of which none became a test row."""
    held_users = np.unique(table.user_codes[held_out])
    test_users = np.unique(table.user_codes[test_rows])
    return {reason: len(np.setdiff1d(held_users, test_users))}


def _count(counts: dict[str, int], reason: str, mask: np.ndarray) -> None:
    """Record the number of rows in ``mask`` under ``reason``, including zero."""
    counts[reason] = int(mask.sum())


def _position_from_start(groups: np.ndarray) -> np.ndarray:
    """Return each element's 0-based position within its run of equal values."""
    if len(groups) == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.r_[True, groups[1:] != groups[:-1]]
    start_index = np.maximum.accumulate(np.where(starts, np.arange(len(groups)), 0))
    return np.arange(len(groups)) - start_index


def _position_from_end(groups: np.ndarray) -> np.ndarray:
    """Return each element's 0-based position within its run, counted from the run's end."""
    return _position_from_start(groups[::-1])[::-1]


# --------------------------------------------------------------------------- argument checks


def _check_relevant_events(relevant_events: Any) -> tuple[str, ...]:
    if isinstance(relevant_events, str) or not isinstance(relevant_events, Sequence | set | frozenset):
        raise DataValidationError(
            f"relevant_events must be a list of event types, such as ('purchase',); got {relevant_events!r}"
        )
    values = tuple(relevant_events)
    if not values or not all(isinstance(value, str) and value for value in values):
        raise DataValidationError(
            f"relevant_events must be a non-empty list of non-empty str event types; got {relevant_events!r}"
        )
    return tuple(dict.fromkeys(values))


def _check_exclude_train_items(exclude_train_items: Any) -> tuple[str, ...] | None:
    """Return None for "every event type", or the listed event types (empty for none)."""
    if exclude_train_items is True:
        return None
    if exclude_train_items is False:
        return ()
    if isinstance(exclude_train_items, str) or not isinstance(
        exclude_train_items, Sequence | set | frozenset
    ):
        raise DataValidationError(
            f"exclude_train_items must be True, False or a list of event types; got {exclude_train_items!r}"
        )
    values = tuple(exclude_train_items)
    if not all(isinstance(value, str) and value for value in values):
        raise DataValidationError(
            f"exclude_train_items must list non-empty str event types; got {exclude_train_items!r}"
        )
    return values


def _check_int_at_least(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DataValidationError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def _check_fraction(fraction: Any) -> float:
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float, np.number))
        or not math.isfinite(fraction)
        or not 0 < fraction < 1
    ):
        raise DataValidationError(f"fraction must be a number in (0, 1), such as 0.2; got {fraction!r}")
    return float(fraction)


def _resolve_cutoff(cutoff: Any, timestamps: pd.Series) -> pd.Timestamp:
    """Return the cutoff as a UTC timestamp; a duration counts back from the newest event."""
    hint = "give a time such as '2011-11-09' or a duration such as '28D' counted back from the newest event"
    if cutoff is None or isinstance(cutoff, (bool, int, float, np.number)):
        raise DataValidationError(f"cutoff must be a time or a duration; got {cutoff!r}: {hint}")

    duration: pd.Timedelta | None = None
    if isinstance(cutoff, (pd.Timedelta, timedelta, np.timedelta64)):
        duration = pd.Timedelta(cutoff)
    elif isinstance(cutoff, str):
        if _DIGITS_ONLY.fullmatch(cutoff):
            raise DataValidationError(f"cutoff={cutoff!r} has no unit or date form: {hint}")
        try:
            duration = pd.Timedelta(cutoff)
        except ValueError:
            duration = None
    if duration is not None:
        if duration is pd.NaT or duration <= pd.Timedelta(0):
            raise DataValidationError(f"cutoff={cutoff!r} must be a positive duration: {hint}")
        return timestamps.max() - duration

    if not isinstance(cutoff, (str, pd.Timestamp, datetime, date, np.datetime64)):
        raise DataValidationError(
            f"cutoff must be a time or a duration; got {type(cutoff).__name__} {cutoff!r}"
        )
    try:
        moment = pd.Timestamp(cutoff)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"cutoff={cutoff!r} is neither a time nor a duration: {hint}") from error
    if moment is pd.NaT:
        raise DataValidationError(f"cutoff={cutoff!r} is neither a time nor a duration: {hint}")
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
