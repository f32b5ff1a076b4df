"""The event store: events posted to the service, kept in SQLite or PostgreSQL.

One code path serves both databases through SQLAlchemy Core. A SQLite file is the
default. It runs in WAL mode with ``synchronous=FULL``, so a committed batch
survives a crash of the process or of the machine. PostgreSQL is used when the
URL names it (``postgresql+psycopg://user:password@127.0.0.1/recsys``).

Ids keep their JSON type: each id is stored as its text plus a flag that indicates
whether it was an integer, so ``1`` and ``"1"`` are different events, users or
items, and any Unicode string comes back unchanged.

Other parts of the service may add their own tables to :data:`metadata`;
:meth:`EventStore.create_tables` creates every table registered there.

Row ids (``events.id``) grow in commit order: SQLite has one writer at a time,
and on PostgreSQL :meth:`EventStore.add_events` takes a transaction-level
advisory lock before it inserts. So every snapshot contains a prefix of the ids,
and the largest id a training read saw (its high-water mark, see
:meth:`EventStore.read_events_with_mark`) splits the stored events exactly into
those a model contains and those it has not seen.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from tqdm.auto import tqdm

from recsys import Recommender
from recsys.data import Id
from recsys.exceptions import DataValidationError, RecsysError
from service.config import Settings

__all__ = [
    "AddResult",
    "EventIdConflictError",
    "EventStore",
    "NewEvent",
    "StoreEvents",
    "default_database_url",
    "events_table",
    "metadata",
    "open_event_store",
    "read_recent_history",
    "read_unseen_events",
    "unseen_mask",
]

logger = logging.getLogger("recsys.service.store")

#: How long a SQLite connection waits for another writer's lock before failing, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Newest events of one user passed to the model per request, so a very active
#: user cannot make one request read an unbounded history.
# NOTE: 1000 is a guess at "more than any session needs", and no benchmark has sized it.
MAX_RECENT_EVENTS = 1000
# How often add_events retries after another writer stored the same event_id first.
_MAX_ATTEMPTS = 3
# Event ids per SELECT ... IN, well below SQLite's limit on bound parameters.
_IN_CHUNK = 500
_ROWS_PER_FETCH = 10_000
# PostgreSQL advisory lock key that serializes writers of the events table, so row
# ids are committed in order (the first 8 bytes of SHA-256 of "recsys.events").
_WRITE_LOCK_KEY = int.from_bytes(hashlib.sha256(b"recsys.events").digest()[:8], "big", signed=True)


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and returned as an aware UTC datetime.

    PostgreSQL keeps the zone itself (``timestamptz``). SQLite has no zone type,
    so the value is stored as naive UTC text, whose text order is its time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise DataValidationError(f"times stored in the event store must have a time zone; got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: The tables of the service's database. Other modules may add theirs.
metadata = MetaData()

#: One row per stored event.
events_table = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=True),
    Column("event_id_is_int", Boolean, nullable=True),
    Column("user_id", Text, nullable=False),
    Column("user_id_is_int", Boolean, nullable=False),
    Column("item_id", Text, nullable=False),
    Column("item_id_is_int", Boolean, nullable=False),
    Column("event", Text, nullable=False),
    Column("weight", Double, nullable=False),
    # The client's event time, or received_at when the client sent none.
    Column("timestamp", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    # SHA-256 of the fields the client sent, to tell a retry from a different event.
    Column("content_sha256", String(64), nullable=False),
    # Events without an event_id (NULL) are never equal, so each one is stored.
    UniqueConstraint("event_id", "event_id_is_int", name="uq_events_event_id"),
    Index("ix_events_user_id_received_at", "user_id", "received_at"),
)


class EventIdConflictError(RecsysError, ValueError):
    """Raised when an event reuses a stored ``event_id`` with different content.

    Attributes
    ----------
    event_id : int or str
        The reused id.
    index : int
        Position of the conflicting event in the batch.
    """

    def __init__(self, event_id: Id, index: int, reason: str) -> None:
        self.event_id = event_id
        self.index = index
        super().__init__(
            f"event_id {event_id!r} (events[{index}]) {reason}; nothing from this batch was stored. "
            f"Send a new event_id for a different event, or the original content for a retry"
        )


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event to store, already validated.

    Attributes
    ----------
    user_id, item_id : int or str
        Ids as the client sent them.
    event : str
        Event type, such as ``"purchase"``.
    timestamp : datetime or None
        When the event happened, with a time zone; None means when it was received.
    weight : float or None
        Multiplier of the event type's weight; None means 1.
    event_id : int or str or None
        The client's id of the event, which makes a retry idempotent. None means
        the event is stored every time it is sent.
    """

    user_id: Id
    item_id: Id
    event: str
    timestamp: datetime | None = None
    weight: float | None = None
    event_id: Id | None = None


@dataclass(frozen=True, slots=True)
class StoreEvents:
    """Every stored event, read in one snapshot, and the largest row id among them.

    Attributes
    ----------
    events : pandas.DataFrame
        As :meth:`EventStore.read_events` returns them.
    high_water_mark : int or None
        The largest ``events.id`` read; None when the store was empty. Events
        stored later have larger ids.
    """

    events: pd.DataFrame
    high_water_mark: int | None


@dataclass(frozen=True, slots=True)
class AddResult:
    """Outcome of :meth:`EventStore.add_events`.

    Attributes
    ----------
    accepted : int
        Events stored by this call.
    duplicates : int
        Events whose ``event_id`` was already stored with the same content, or
        repeated earlier in the same batch; they were not stored again.
    """

    accepted: int
    duplicates: int


def default_database_url(model_dir: Path) -> str:
    """Return the URL of the SQLite file ``events.sqlite3`` beside ``model_dir``."""
    path = Path(model_dir).absolute().parent / "events.sqlite3"
    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


class EventStore:
    """Events in a SQLite file or a PostgreSQL database.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///path/to/events.sqlite3`` or
        ``postgresql+psycopg://user:password@host/database``. A plain
        ``postgresql://`` URL uses psycopg 3 too.

    Raises
    ------
    DataValidationError
        If the URL is malformed or names a database other than SQLite or PostgreSQL.

    Attributes
    ----------
    engine : sqlalchemy.Engine
        The connection pool; other parts of the service may run their own queries on it.
    metadata : sqlalchemy.MetaData
        The module's :data:`metadata`, with the ``events`` table.
    """

    metadata = metadata

    def __init__(self, url: str) -> None:
        parsed = _parse_url(url)
        self.url = parsed
        self.engine: Engine = _create_engine(parsed)

    def __repr__(self) -> str:
        return f"EventStore({self.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()

    def create_tables(self) -> None:
        """Create the tables of :data:`metadata` that do not exist yet; existing ones are kept."""
        self.metadata.create_all(self.engine, checkfirst=True)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def add_events(self, events: Sequence[NewEvent], *, received_at: datetime | None = None) -> AddResult:
        """Store a batch of events in one transaction, committed before this returns.

        An event whose ``event_id`` is already stored with the same content is
        counted as a duplicate and not stored again, so a client may resend a
        batch whose response it never received. On PostgreSQL, batches are
        written one at a time, so that row ids grow in commit order.

        Parameters
        ----------
        events : sequence of NewEvent
        received_at : datetime, optional
            The receive time of the batch, with a time zone; defaults to now (UTC).

        Returns
        -------
        AddResult

        Raises
        ------
        EventIdConflictError
            If an event reuses an ``event_id`` with different content, whether
            stored before or earlier in the batch. Nothing of the batch is stored.
        DataValidationError
            If an id is not an int or a str, or a timestamp has no time zone.
        """
        received = datetime.now(UTC) if received_at is None else _aware(received_at, "received_at")
        rows = [_row(item, received) for item in events]
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self.engine.begin() as connection:
                    if connection.dialect.name == "postgresql":
                        # Held until commit, so ids are committed in the order they were taken.
                        connection.execute(select(func.pg_advisory_xact_lock(_WRITE_LOCK_KEY)))
                    new_rows, duplicates = _new_rows(connection, rows)
                    if new_rows:
                        connection.execute(insert(events_table), new_rows)
                return AddResult(accepted=len(new_rows), duplicates=duplicates)
            except IntegrityError as error:
                # Another writer stored one of the event_ids between the check and
                # the insert, so the next attempt reads its row.
                if attempt == _MAX_ATTEMPTS:
                    raise
                logger.info(
                    "retrying a batch of %d events after a concurrent insert: %s", len(rows), error.orig
                )
        raise AssertionError("unreachable")

    def read_user_events(
        self,
        user_id: Id,
        since: datetime | None = None,
        *,
        after_row_id: int | None = None,
        limit: int = MAX_RECENT_EVENTS,
    ) -> pd.DataFrame:
        """Read the events of one user received at or after ``since``, oldest first.

        The user is matched by the text of the id, so ``1`` and ``"1"`` both match
        ``user_id=1`` or ``user_id="1"``, as an HTTP path cannot carry the type.

        Parameters
        ----------
        user_id : int or str
        since : datetime, optional
            With a time zone; compared with ``received_at``. None reads from the first event.
        after_row_id : int, optional
            Read only events with a larger row id, such as those stored after a
            model's ``store_high_water_mark_``.
        limit : int, default MAX_RECENT_EVENTS
            Keep only this many of the newest events.

        Returns
        -------
        pandas.DataFrame
            Columns ``item_id`` (int or str objects, as sent), ``event``,
            ``weight``, ``timestamp`` and ``received_at`` (aware UTC datetimes),
            and ``row_id`` (int).
        """
        text, _ = _id_parts(user_id, "user_id")
        query = (
            select(
                events_table.c.item_id,
                events_table.c.item_id_is_int,
                events_table.c.event,
                events_table.c.weight,
                events_table.c.timestamp,
                events_table.c.received_at,
                events_table.c.id,
            )
            .where(events_table.c.user_id == text)
            .order_by(events_table.c.received_at.desc(), events_table.c.id.desc())
            .limit(limit)
        )
        if since is not None:
            query = query.where(events_table.c.received_at >= _aware(since, "since"))
        if after_row_id is not None:
            query = query.where(events_table.c.id > int(after_row_id))
        with self.engine.connect() as connection:
            rows = list(reversed(connection.execute(query).all()))
        if not rows:
            # Most users have no recent events, and copying a built frame takes a twentieth
            # of the time of building one.
            return _empty_user_events().copy()
        return _user_events_frame(rows)

    def count_events(self) -> int:
        """Return the number of stored events."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(events_table)).scalar_one())

    def read_events(self, *, show_progress: bool = False) -> pd.DataFrame:
        """Read every stored event as a table for :meth:`recsys.Interactions.from_events`.

        Use :meth:`read_events_with_mark` to also learn which events were read.

        Parameters
        ----------
        show_progress : bool, default False
            Show a tqdm progress bar while reading.

        Returns
        -------
        pandas.DataFrame
            Columns ``user_id``, ``item_id``, ``event``, ``timestamp`` (UTC) and
            ``weight``, in the order the events were stored. An id column is int64
            when every id is an integer and str otherwise: a model's ids are all
            one type, so where integers and strings are mixed the integers become
            their decimal text, and a warning is logged. The lookup rule of a
            model matches ``1`` and ``"1"`` in that case anyway.
        """
        return self.read_events_with_mark(show_progress=show_progress).events

    def read_events_with_mark(self, *, show_progress: bool = False) -> StoreEvents:
        """Read every stored event and the largest row id read, for training a model.

        The rows and the mark come from one SELECT, so from one snapshot, and row
        ids grow in commit order (see the module notes). So the events stored
        with a larger id than the mark are exactly those the read did not return.

        Parameters
        ----------
        show_progress : bool, default False
            Show a tqdm progress bar while reading.

        Returns
        -------
        StoreEvents
        """
        columns = [
            events_table.c.id,
            events_table.c.user_id,
            events_table.c.user_id_is_int,
            events_table.c.item_id,
            events_table.c.item_id_is_int,
            events_table.c.event,
            events_table.c.timestamp,
            events_table.c.weight,
        ]
        fields: list[list[Any]] = [[] for _ in columns]
        total = self.count_events()
        with (
            self.engine.connect() as connection,
            tqdm(total=total, unit="events", desc="reading events", disable=not show_progress) as progress,
        ):
            result = connection.execution_options(yield_per=_ROWS_PER_FETCH).execute(
                select(*columns).order_by(events_table.c.id)
            )
            for partition in result.partitions():
                for row in partition:
                    for values, value in zip(fields, row, strict=True):
                        values.append(value)
                progress.update(len(partition))
        row_ids, user_ids, user_is_int, item_ids, item_is_int, event_names, timestamps, weights = fields
        events = pd.DataFrame(
            {
                "user_id": _id_column(user_ids, user_is_int, "user_id"),
                "item_id": _id_column(item_ids, item_is_int, "item_id"),
                "event": pd.Series(event_names, dtype=object),
                "timestamp": pd.to_datetime(pd.Series(timestamps, dtype=object), utc=True),
                "weight": np.array(weights, dtype=np.float64),
            }
        )
        # Rows come in id order, so the last one has the largest id.
        return StoreEvents(events=events, high_water_mark=int(row_ids[-1]) if row_ids else None)


def _user_events_frame(rows: Sequence[Any]) -> pd.DataFrame:
    """Build the frame of :meth:`EventStore.read_user_events` from its query's rows."""
    return pd.DataFrame(
        {
            "item_id": pd.Series([_id_value(row[0], row[1]) for row in rows], dtype=object),
            "event": pd.Series([row[2] for row in rows], dtype=object),
            "weight": np.array([row[3] for row in rows], dtype=np.float64),
            "timestamp": pd.Series([row[4] for row in rows], dtype=object),
            "received_at": pd.Series([row[5] for row in rows], dtype=object),
            "row_id": np.array([row[6] for row in rows], dtype=np.int64),
        }
    )


@functools.cache
def _empty_user_events() -> pd.DataFrame:
    """Return the frame of :meth:`EventStore.read_user_events` without rows; callers copy it."""
    return _user_events_frame([])


def open_event_store(settings: Settings) -> EventStore:
    """Open the store of ``settings.database_url``, or the default SQLite file, and create its tables.

    Raises
    ------
    DataValidationError
        If the URL is malformed or names an unsupported database.
    sqlalchemy.exc.SQLAlchemyError
        If the database cannot be reached or its tables cannot be created.
    """
    url = settings.database_url or default_database_url(settings.model_dir)
    try:
        store = EventStore(url)
        store.create_tables()
    except Exception as error:
        logger.error("startup failed: cannot open the event store %s: %s", _shown_url(url), error)
        raise
    logger.info("storing events in %s", store.url.render_as_string(hide_password=True))
    return store


def read_unseen_events(
    store: EventStore, model: Recommender, user_id: Id, *, limit: int = MAX_RECENT_EVENTS
) -> pd.DataFrame:
    """Read a user's stored events that ``model`` was not trained on, oldest first.

    When the model was trained from this store (``store_high_water_mark_`` is
    set), those are exactly the events with a larger row id. Otherwise they are
    the events received since the model was fitted. Then ``fitted_at_`` is cut to
    whole seconds, so an event received in the same second just before the fit
    counts twice, and an event received while ``recsys train`` ran, after it
    read the data, counts nowhere until the next training.

    NOTE: the row ids are only meaningful when the service's store is the one
    the model was trained from. A model trained from a copy of another store
    takes the wrong events as recent.

    Returns
    -------
    pandas.DataFrame
        As :meth:`EventStore.read_user_events` returns them.
    """
    mark = getattr(model, "store_high_water_mark_", None)
    if mark is not None:
        return store.read_user_events(user_id, after_row_id=mark, limit=limit)
    fitted_at = datetime.fromisoformat(model.fitted_at_)
    return store.read_user_events(user_id, _aware(fitted_at, "fitted_at"), limit=limit)


def unseen_mask(model: Recommender, events: pd.DataFrame) -> np.ndarray:
    """Return which rows of :meth:`EventStore.read_user_events` ``model`` was not trained on.

    The rule of :func:`read_unseen_events`, for events already read.
    """
    mark = getattr(model, "store_high_water_mark_", None)
    if mark is not None:
        return events["row_id"].to_numpy(dtype=np.int64) > int(mark)
    fitted_at = _aware(datetime.fromisoformat(model.fitted_at_), "fitted_at")
    return np.array([received >= fitted_at for received in events["received_at"]], dtype=bool)


def read_recent_history(store: EventStore, model: Recommender, user_id: Id) -> pd.DataFrame | None:
    """Read a user's events that ``model`` was not trained on, for ``model.recommend(recent=...)``.

    :func:`read_unseen_events` decides which events those are. Only events of
    types the model was fitted with and of items in the model are kept. The
    others cannot change its scores, and the model would report their items as
    unknown request items.

    Returns
    -------
    pandas.DataFrame or None
        Columns ``item_id``, ``event`` and ``weight``; None when no event counts.
    """
    events = read_unseen_events(store, model, user_id)
    if events.empty:
        return None
    known_event = events["event"].isin(list(model.event_names_)).to_numpy()
    known_item = model.item_ids_.indices_of(events["item_id"].tolist()) >= 0
    kept = events.loc[known_event & known_item, ["item_id", "event", "weight"]]
    if kept.empty:
        return None
    return kept.reset_index(drop=True)


def _shown_url(url: str) -> str:
    """Return ``url`` with its password masked, for logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(malformed URL)"


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise DataValidationError(
            f"invalid database URL: {error}; use sqlite:///path/to/events.sqlite3 or "
            f"postgresql+psycopg://user:password@host/database"
        ) from error
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DataValidationError(
            f"unsupported database {backend!r} in the database URL "
            f"{parsed.render_as_string(hide_password=True)!r}; use sqlite:/// or postgresql+psycopg://"
        )
    if parsed.drivername == "postgresql":
        # SQLAlchemy's default driver for postgresql:// is psycopg2, which recsys does not install.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        # pool_pre_ping replaces connections that a database restart has closed.
        return create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _connection_record: Any) -> None:
    """Turn on WAL and full syncs, and wait for locks instead of failing at once."""
    cursor = dbapi_connection.cursor()
    try:
        # The busy timeout comes first, because switching to WAL takes a lock.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL syncs the WAL at every commit, so a committed batch survives a power loss too.
        cursor.execute("PRAGMA synchronous = FULL")
    finally:
        cursor.close()


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise DataValidationError(f"{name} must have a time zone; got {value.isoformat()!r}")
    return value.astimezone(UTC)


def _id_parts(value: Any, name: str) -> tuple[str, bool]:
    """Split an id into its text and whether it is an integer."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, str)):
        raise DataValidationError(f"{name} must be an int or a str; got {type(value).__name__} {value!r}")
    if isinstance(value, str):
        return value, False
    return str(int(value)), True


def _id_value(text: str, is_int: bool) -> Id:
    return int(text) if is_int else text


def _row(item: NewEvent, received_at: datetime) -> dict[str, Any]:
    user_id, user_is_int = _id_parts(item.user_id, "user_id")
    item_id, item_is_int = _id_parts(item.item_id, "item_id")
    event_id, event_is_int = (None, None) if item.event_id is None else _id_parts(item.event_id, "event_id")
    timestamp = None if item.timestamp is None else _aware(item.timestamp, "timestamp")
    weight = 1.0 if item.weight is None else float(item.weight)
    if not math.isfinite(weight) or weight < 0:
        raise DataValidationError(f"weight must be a finite number >= 0; got {item.weight!r}")
    content = json.dumps(
        [
            [user_id, user_is_int],
            [item_id, item_is_int],
            item.event,
            weight,
            None if timestamp is None else timestamp.isoformat(),
        ],
        ensure_ascii=False,
    )
    return {
        "event_id": event_id,
        "event_id_is_int": event_is_int,
        "user_id": user_id,
        "user_id_is_int": user_is_int,
        "item_id": item_id,
        "item_id_is_int": item_is_int,
        "event": item.event,
        "weight": weight,
        "timestamp": received_at if timestamp is None else timestamp,
        "received_at": received_at,
        "content_sha256": hashlib.sha256(content.encode("utf-8")).hexdigest(),
    }


def _new_rows(connection: Any, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Split a batch into rows to insert and a count of duplicates.

    Raises
    ------
    EventIdConflictError
        For an event_id stored, or sent earlier in the batch, with other content.
    """
    first_seen: dict[tuple[str, bool], str] = {}
    candidates: list[tuple[int, dict[str, Any]]] = []
    duplicates = 0
    for index, row in enumerate(rows):
        if row["event_id"] is None:
            candidates.append((index, row))
            continue
        key = (row["event_id"], row["event_id_is_int"])
        earlier = first_seen.get(key)
        if earlier is None:
            first_seen[key] = row["content_sha256"]
            candidates.append((index, row))
        elif earlier == row["content_sha256"]:
            duplicates += 1
        else:
            raise EventIdConflictError(
                _id_value(*key), index, "appears earlier in the batch with different content"
            )

    stored = _stored_hashes(connection, list(first_seen))
    new_rows: list[dict[str, Any]] = []
    for index, row in candidates:
        if row["event_id"] is None:
            new_rows.append(row)
            continue
        key = (row["event_id"], row["event_id_is_int"])
        stored_hash = stored.get(key)
        if stored_hash is None:
            new_rows.append(row)
        elif stored_hash == row["content_sha256"]:
            duplicates += 1
        else:
            raise EventIdConflictError(_id_value(*key), index, "is already stored with different content")
    return new_rows, duplicates


def _stored_hashes(connection: Any, keys: list[tuple[str, bool]]) -> Mapping[tuple[str, bool], str]:
    stored: dict[tuple[str, bool], str] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        # Matching the text alone uses the unique index, so the type is compared here.
        query = select(
            events_table.c.event_id, events_table.c.event_id_is_int, events_table.c.content_sha256
        ).where(events_table.c.event_id.in_([text for text, _ in chunk]))
        for event_id, is_int, content in connection.execute(query):
            stored[(event_id, bool(is_int))] = content
    return stored


def _id_column(texts: list[str], is_int: list[bool], name: str) -> pd.Series:
    if all(is_int):
        return pd.Series(np.array([int(text) for text in texts], dtype=np.int64), dtype=np.int64)
    n_int = sum(1 for flag in is_int if flag)
    if n_int:
        logger.warning(
            "%d of %d stored %s values are integers and the rest strings; "
            "reading the integers as their decimal text",
            n_int,
            len(texts),
            name,
        )
    return pd.Series(texts, dtype=object)
