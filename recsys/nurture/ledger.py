"""The send ledger: every product sent to a lead, stored as its own record.

A send is what the campaign did, never what the lead did, so the ledger is kept
apart from the events a model is fitted on. It lives in two tables of its own
:data:`METADATA`, created on first use (``CREATE TABLE`` only where missing), so
they can share a database with other tables:

``nurture_sends``
    One row per (campaign, round, lead): ``send_id``, ``campaign_id``, ``round``,
    ``lead_id`` (the id's text), ``lead_id_type`` (``int`` or ``str``),
    ``model_version``, ``sent_at`` (UTC). The unique key on
    (``campaign_id``, ``round``, ``lead_id``) makes recording a round twice a no-op.
``nurture_send_items``
    One row per item of a send: ``send_id``, ``rank`` (1 = best), ``item_id``,
    ``item_id_type``, ``score``, ``reason`` (``similar`` or ``popular``) and
    ``because`` (a JSON list of the history items behind the pick).

Any database SQLAlchemy supports through Core works; SQLite (the default, a file)
and PostgreSQL take the same code. Ids are stored as text with their type, so an
int id comes back an int and a str id comes back exactly as written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from recsys._ids import Id
from recsys.exceptions import DataValidationError
from recsys.nurture._frames import check_lead_id, id_key, to_utc

__all__ = ["DEFAULT_LEDGER_URL", "METADATA", "Send", "SendLedger", "SentItem"]

logger = logging.getLogger(__name__)

#: Default database of the ledger when no engine or URL is given: a SQLite file in
#: the working directory.
DEFAULT_LEDGER_URL = "sqlite:///nurture_ledger.db"

#: The ledger's own tables, apart from any other ``MetaData`` of the database.
METADATA = sa.MetaData()

SENDS = sa.Table(
    "nurture_sends",
    METADATA,
    sa.Column("send_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("campaign_id", sa.String, nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("lead_id", sa.String, nullable=False),
    sa.Column("lead_id_type", sa.String(3), nullable=False),
    sa.Column("model_version", sa.String, nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("campaign_id", "round", "lead_id", name="uq_nurture_sends_campaign_round_lead"),
    sa.Index("ix_nurture_sends_lead_sent_at", "lead_id", "sent_at"),
)

SEND_ITEMS = sa.Table(
    "nurture_send_items",
    METADATA,
    sa.Column(
        "send_id", sa.Integer, sa.ForeignKey("nurture_sends.send_id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.String, nullable=False),
    sa.Column("item_id_type", sa.String(3), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("because", sa.Text, nullable=False),
    sa.UniqueConstraint("send_id", "item_id", name="uq_nurture_send_items_send_item"),
    sa.Index("ix_nurture_send_items_item", "item_id"),
)

# Ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500
# Attempts to record a round when another writer inserts the same sends at the same time.
_RECORD_ATTEMPTS = 3


@dataclass(frozen=True)
class SentItem:
    """One item of a send.

    Attributes
    ----------
    item_id : int or str
    rank : int
        1 for the lead's best item of the round.
    score : float
        The model's score; for ``reason="popular"`` the item's popularity.
    reason : {"similar", "popular"}
        ``"popular"`` marks a backfilled item.
    because : tuple of ids
        History items behind the pick, largest contribution first.
    """

    item_id: Id
    rank: int
    score: float
    reason: str
    because: tuple[Id, ...] = ()

    @property
    def backfill(self) -> bool:
        """Whether the item fills the list from popularity rather than the lead's history."""
        return self.reason == "popular"


@dataclass(frozen=True)
class Send:
    """The items one round of one campaign sent to one lead.

    Attributes
    ----------
    campaign_id : str
    round : int
    lead_id : int or str
    items : tuple of SentItem
        By rank.
    model_version : str
        Version of the model that chose the items.
    sent_at : pandas.Timestamp
        UTC.
    """

    campaign_id: str
    round: int
    lead_id: Id
    items: tuple[SentItem, ...]
    model_version: str
    sent_at: pd.Timestamp

    @property
    def item_ids(self) -> list[Id]:
        """The sent ids, by rank."""
        return [item.item_id for item in self.items]


class SendLedger:
    """Record sends, and look up which items a lead was sent and when.

    Parameters
    ----------
    bind : Engine or str, optional
        A SQLAlchemy engine (for example the ``engine`` of the service's event
        store, to keep both in one database) or a database URL. Default
        :data:`DEFAULT_LEDGER_URL`. The tables are created where missing.

    Examples
    --------
    >>> ledger = SendLedger.in_memory()
    >>> ledger.sends()
    []
    """

    def __init__(self, bind: Engine | str | None = None) -> None:
        if isinstance(bind, Engine):
            self.engine = bind
            self._owns_engine = False
        elif bind is None or isinstance(bind, str):
            url = DEFAULT_LEDGER_URL if bind is None else bind
            try:
                self.engine = sa.create_engine(url)
            except sa.exc.ArgumentError as error:
                raise DataValidationError(
                    f"ledger URL {url!r} is not a database URL, such as sqlite:///ledger.db or "
                    f"postgresql+psycopg://user@host/db ({error})"
                ) from error
            self._owns_engine = True
        else:
            raise DataValidationError(
                f"ledger needs a SQLAlchemy Engine or a database URL; got {type(bind).__name__}"
            )
        METADATA.create_all(self.engine, checkfirst=True)

    @classmethod
    def in_memory(cls) -> SendLedger:
        """Return a ledger in an in-memory SQLite database, gone when the ledger is closed."""
        engine = sa.create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        ledger = cls(engine)
        ledger._owns_engine = True
        return ledger

    def close(self) -> None:
        """Release the connections, if this ledger created its engine."""
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> SendLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SendLedger({self.engine.url.render_as_string(hide_password=True)!r})"

    # ----------------------------------------------------------------- writing

    def record(self, sends: Sequence[Send]) -> list[Send]:
        """Store sends, each unless its (campaign, round, lead) is already stored.

        Returns
        -------
        list of Send
            In the input order, the stored send of each (campaign, round, lead):
            the input send when it was new, else the one recorded earlier. The
            earlier send wins even when its items or model version differ.
        """
        if not sends:
            return []
        for attempt in range(1, _RECORD_ATTEMPTS + 1):
            try:
                return self._record_once(sends)
            except IntegrityError:
                # Another writer stored some of these sends first, so the next attempt reads theirs.
                logger.info("recording %d sends raced with another writer (attempt %d)", len(sends), attempt)
        raise DataValidationError(
            f"could not record {len(sends)} sends after {_RECORD_ATTEMPTS} attempts because other writers "
            f"kept inserting the same (campaign, round, lead); retry the round"
        )

    def _record_once(self, sends: Sequence[Send]) -> list[Send]:
        keys = [(send.campaign_id, send.round, id_key(send.lead_id)) for send in sends]
        with self.engine.begin() as connection:
            stored = self._existing(connection, keys)
            new_keys: set[tuple[str, int, str]] = set()
            fresh: list[Send] = []
            for send, key in zip(sends, keys, strict=True):
                if key not in stored and key not in new_keys:
                    new_keys.add(key)
                    fresh.append(send)
            if fresh:
                rows = [_send_row(send) for send in fresh]
                returned = connection.execute(
                    SENDS.insert().returning(
                        SENDS.c.send_id, SENDS.c.campaign_id, SENDS.c.round, SENDS.c.lead_id
                    ),
                    rows,
                ).all()
                send_ids = {(row.campaign_id, row.round, row.lead_id): row.send_id for row in returned}
                item_rows = [
                    _item_row(send_ids[(send.campaign_id, send.round, id_key(send.lead_id))], item)
                    for send in fresh
                    for item in send.items
                ]
                if item_rows:
                    connection.execute(SEND_ITEMS.insert(), item_rows)
        logger.info("recorded %d new sends, %d were already stored", len(fresh), len(sends) - len(fresh))
        by_key = dict(stored)
        for send in fresh:
            by_key[(send.campaign_id, send.round, id_key(send.lead_id))] = send
        return [by_key[key] for key in keys]

    def _existing(
        self, connection: sa.Connection, keys: Sequence[tuple[str, int, str]]
    ) -> dict[tuple[str, int, str], Send]:
        found: dict[tuple[str, int, str], Send] = {}
        groups: dict[tuple[str, int], list[str]] = {}
        for campaign_id, round_number, lead in keys:
            groups.setdefault((campaign_id, round_number), []).append(lead)
        for (campaign_id, round_number), leads in groups.items():
            for send in self._select(connection, campaign_id, round_number, leads):
                found[(send.campaign_id, send.round, id_key(send.lead_id))] = send
        return found

    # ----------------------------------------------------------------- reading

    def sends(
        self,
        campaign_id: str | None = None,
        round_number: int | None = None,
        lead_ids: Iterable[Id] | None = None,
    ) -> list[Send]:
        """Return the stored sends, filtered by campaign, round and leads, oldest first."""
        leads = None if lead_ids is None else [id_key(check_lead_id(lead)) for lead in lead_ids]
        with self.engine.connect() as connection:
            return self._select(connection, campaign_id, round_number, leads)

    def sent_items(self, lead_ids: Iterable[Id], since: Any = None) -> dict[str, set[str]]:
        """Return, per lead, the text of every item id sent to the lead after ``since``.

        Parameters
        ----------
        lead_ids : iterable of ids
        since : time, optional
            Only sends strictly after this time count; None counts every send.

        Returns
        -------
        dict of str to set of str
            Keyed by the lead id's text; only leads with sends appear.
        """
        leads = sorted({id_key(check_lead_id(lead)) for lead in lead_ids})
        moment = None if since is None else _as_datetime(to_utc(since, "since"))
        result: dict[str, set[str]] = {}
        join = SENDS.join(SEND_ITEMS, SENDS.c.send_id == SEND_ITEMS.c.send_id)
        with self.engine.connect() as connection:
            for start in range(0, len(leads), _CHUNK):
                query = sa.select(SENDS.c.lead_id, SEND_ITEMS.c.item_id).select_from(join)
                query = query.where(SENDS.c.lead_id.in_(leads[start : start + _CHUNK]))
                if moment is not None:
                    query = query.where(SENDS.c.sent_at > moment)
                for lead, item in connection.execute(query):
                    result.setdefault(lead, set()).add(item)
        return result

    def to_frame(self, campaign_id: str | None = None, round_number: int | None = None) -> pd.DataFrame:
        """Return the stored sends as one row per item.

        Columns ``campaign_id``, ``round``, ``lead_id``, ``rank``, ``item_id``,
        ``score``, ``reason``, ``because`` (list of ids), ``model_version``,
        ``sent_at``.
        """
        rows = [
            {
                "campaign_id": send.campaign_id,
                "round": send.round,
                "lead_id": send.lead_id,
                "rank": item.rank,
                "item_id": item.item_id,
                "score": item.score,
                "reason": item.reason,
                "because": list(item.because),
                "model_version": send.model_version,
                "sent_at": send.sent_at,
            }
            for send in self.sends(campaign_id, round_number)
            for item in send.items
        ]
        columns = ["campaign_id", "round", "lead_id", "rank", "item_id", "score", "reason", "because"]
        return pd.DataFrame(rows, columns=[*columns, "model_version", "sent_at"])

    def _select(
        self,
        connection: sa.Connection,
        campaign_id: str | None,
        round_number: int | None,
        leads: Sequence[str] | None,
    ) -> list[Send]:
        conditions = []
        if campaign_id is not None:
            conditions.append(SENDS.c.campaign_id == campaign_id)
        if round_number is not None:
            conditions.append(SENDS.c.round == round_number)
        lead_chunks: list[Sequence[str] | None] = (
            [None]
            if leads is None
            else [leads[start : start + _CHUNK] for start in range(0, len(leads), _CHUNK)]
        )
        result: list[Send] = []
        for chunk in lead_chunks:
            where = list(conditions)
            if chunk is not None:
                where.append(SENDS.c.lead_id.in_(chunk))
            send_rows = connection.execute(sa.select(SENDS).where(*where).order_by(SENDS.c.send_id)).all()
            if not send_rows:
                continue
            items: dict[int, list[SentItem]] = {}
            send_ids = [row.send_id for row in send_rows]
            for start in range(0, len(send_ids), _CHUNK):
                item_query = (
                    sa.select(SEND_ITEMS)
                    .where(SEND_ITEMS.c.send_id.in_(send_ids[start : start + _CHUNK]))
                    .order_by(SEND_ITEMS.c.send_id, SEND_ITEMS.c.rank)
                )
                for row in connection.execute(item_query):
                    items.setdefault(row.send_id, []).append(
                        SentItem(
                            item_id=_decode_id(row.item_id, row.item_id_type),
                            rank=row.rank,
                            score=row.score,
                            reason=row.reason,
                            because=tuple(json.loads(row.because)),
                        )
                    )
            result.extend(
                Send(
                    campaign_id=row.campaign_id,
                    round=row.round,
                    lead_id=_decode_id(row.lead_id, row.lead_id_type),
                    items=tuple(items.get(row.send_id, ())),
                    model_version=row.model_version,
                    sent_at=_as_timestamp(row.sent_at),
                )
                for row in send_rows
            )
        return result


def _send_row(send: Send) -> dict[str, Any]:
    lead = check_lead_id(send.lead_id)
    return {
        "campaign_id": send.campaign_id,
        "round": send.round,
        "lead_id": id_key(lead),
        "lead_id_type": _id_type(lead),
        "model_version": send.model_version,
        "sent_at": _as_datetime(to_utc(send.sent_at, "sent_at")),
    }


def _item_row(send_id: int, item: SentItem) -> dict[str, Any]:
    return {
        "send_id": send_id,
        "rank": item.rank,
        "item_id": id_key(item.item_id),
        "item_id_type": _id_type(item.item_id),
        "score": float(item.score),
        "reason": item.reason,
        "because": json.dumps(list(item.because), ensure_ascii=False),
    }


def _id_type(value: Id) -> str:
    return "int" if isinstance(value, int) else "str"


def _decode_id(text: str, kind: str) -> Id:
    return int(text) if kind == "int" else text


def _as_datetime(moment: pd.Timestamp) -> datetime:
    # Python datetimes and both databases keep microseconds. A fractional cooldown in
    # days can give nanoseconds, which are cut here rather than warned about.
    return moment.tz_convert("UTC").floor("us").to_pydatetime()


def _as_timestamp(value: datetime) -> pd.Timestamp:
    # SQLite returns the stored UTC time without a zone, but PostgreSQL returns it with one.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return pd.Timestamp(value).tz_convert("UTC")
