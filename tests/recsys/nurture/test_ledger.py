"""The send ledger: storage, uniqueness, sharing a database, time zones."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
import sqlalchemy as sa

from recsys.exceptions import DataValidationError
from recsys.nurture import Send, SendLedger, SentItem

SENT_AT = pd.Timestamp("2026-03-01 12:30", tz="UTC")


def make_send(lead, items=("x1", "x2"), round_number=1, campaign="spring", sent_at=SENT_AT) -> Send:
    return Send(
        campaign_id=campaign,
        round=round_number,
        lead_id=lead,
        items=tuple(
            SentItem(item, rank, 1.0 / rank, "similar", ("h1",)) for rank, item in enumerate(items, 1)
        ),
        model_version="v1",
        sent_at=sent_at,
    )


def test_ledger_round_trips_sends(ledger):
    send = Send(
        "spring",
        2,
        17850,
        (SentItem(85123, 1, 0.5, "popular"), SentItem("85123A", 2, 0.25, "similar", (1, "b"))),
        "v9",
        SENT_AT,
    )

    ledger.record([send])

    assert ledger.sends() == [send]


def test_ledger_records_each_key_once(ledger):
    first = make_send("a", ("x1", "x2"))
    second = make_send("a", ("x3",))

    ledger.record([first])
    stored = ledger.record([second])

    assert stored == [first]
    assert len(ledger.sends()) == 1
    assert len(ledger.to_frame()) == 2


def test_ledger_int_str_leads_share_key(ledger):
    ledger.record([make_send(1001)])

    stored = ledger.record([make_send("1001", ("x9",))])

    assert stored[0].lead_id == 1001
    assert ledger.sends(lead_ids=["1001"])[0].item_ids == ["x1", "x2"]


def test_ledger_sent_items_since(ledger):
    ledger.record([make_send("a", ("old",), campaign="winter", sent_at=SENT_AT - pd.Timedelta(days=100))])
    ledger.record([make_send("a", ("new",))])

    assert ledger.sent_items(["a"], since=SENT_AT - pd.Timedelta(days=30)) == {"a": {"new"}}
    assert ledger.sent_items(["a"]) == {"a": {"old", "new"}}
    assert ledger.sent_items(["nobody"]) == {}


def test_ledger_keeps_utc_time(ledger):
    local = pd.Timestamp("2026-03-01 13:30", tz="Europe/Paris")

    ledger.record([make_send("a", sent_at=local)])

    assert ledger.sends()[0].sent_at == local
    assert str(ledger.sends()[0].sent_at.tz) == "UTC"


def test_ledger_shares_engine_with_other_tables(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    other = sa.MetaData()
    events = sa.Table("events", other, sa.Column("id", sa.Integer, primary_key=True))
    other.create_all(engine)

    SendLedger(engine).record([make_send("a")])
    SendLedger(engine)  # creating the tables again is a no-op

    tables = set(sa.inspect(engine).get_table_names())
    assert {"events", "nurture_sends", "nurture_send_items"} <= tables
    assert len(SendLedger(engine).sends()) == 1
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 0
    engine.dispose()


def test_ledger_file_url_persists(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with SendLedger(url) as ledger:
        ledger.record([make_send("a")])

    with SendLedger(url) as reopened:
        assert reopened.sends()[0].item_ids == ["x1", "x2"]


def test_ledger_bad_url_raises():
    with pytest.raises(DataValidationError, match="not a database URL"):
        SendLedger("not a url")


def test_ledger_bad_bind_raises():
    with pytest.raises(DataValidationError, match="Engine or a database URL"):
        SendLedger(42)  # type: ignore[arg-type]


def test_ledger_race_returns_other_writers_send(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with SendLedger(url) as first, SendLedger(url) as second:
        theirs = make_send("a", items=("x1",))
        first.record([theirs])
        # The second writer read the ledger before the first one committed.
        original = SendLedger._existing
        calls = []

        def stale_then_fresh(self, connection, keys):
            calls.append(len(keys))
            return {} if len(calls) == 1 else original(self, connection, keys)

        monkeypatch.setattr(SendLedger, "_existing", stale_then_fresh)
        mine = make_send("a", items=("x9",))

        returned = second.record([mine, make_send("b")])

        assert len(calls) == 2
        assert returned == [theirs, make_send("b")]
        assert second.sends() == [theirs, make_send("b")]


def test_ledger_threads_record_each_lead_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    leads = [f"lead {index}" for index in range(40)]
    results: list[list[Send]] = []
    errors: list[BaseException] = []

    def record(items: tuple[str, ...]) -> None:
        try:
            with SendLedger(url) as ledger:
                results.append(ledger.record([make_send(lead, items=items) for lead in leads]))
        except BaseException as error:
            errors.append(error)

    with SendLedger(url):
        pass  # Creates the tables before the writers start.
    threads = [threading.Thread(target=record, args=((f"x{index}",),)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    with SendLedger(url) as ledger:
        stored = ledger.sends()
    assert [send.lead_id for send in stored] == leads
    # Every writer gets the stored send of each lead back, whichever writer stored it.
    assert all(result == stored for result in results)
