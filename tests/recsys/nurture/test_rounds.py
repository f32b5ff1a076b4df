"""Campaign rounds: cooldown, idempotency, targeting, exclusions and unknown ids."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys import ItemKNN
from recsys.exceptions import DataValidationError, UnknownItemError, UnknownUserError
from recsys.nurture import Campaign, SendLedger, engaged_leads, next_best, run_round
from tests.recsys.nurture.conftest import FIT_TIME, START, shop_events

LEADS = ["a", "b", "c", "d", "e"]


def bought(lead: str) -> set[str]:
    from tests.recsys.nurture.conftest import shop_events

    events = shop_events()
    return set(events.loc[(events["user_id"] == lead) & (events["event"] == "purchase"), "item_id"])


def click(lead: str, when: pd.Timestamp, event: str = "email_click") -> dict:
    return {"user_id": lead, "event": event, "timestamp": when, "item_id": None}


def test_round_never_sends_bought_items(model, ledger):
    result = run_round(Campaign("spring", items_per_round=2), 1, model, ledger, LEADS, now=START)

    for plan in result.plans:
        assert not set(plan.item_ids) & bought(str(plan.lead_id)), plan.lead_id


def test_round_skips_purchases_from_events(model, ledger):
    events = pd.DataFrame([{"user_id": "a", "event": "purchase", "item_id": "pot", "timestamp": START}])
    campaign = Campaign("spring", items_per_round=3, exclude_seen=False)

    result = run_round(campaign, 1, model, ledger, ["a"], events, now=START)

    assert "pot" not in result.plans[0].item_ids


def test_no_exclude_seen_skips_purchases(model, ledger):
    campaign = Campaign("spring", items_per_round=4, exclude_seen=False)

    result = run_round(campaign, 1, model, ledger, ["a"], now=START)

    assert not set(result.plans[0].item_ids) & bought("a")


def test_cooldown_never_repeats_across_rounds(model, ledger):
    campaign = Campaign("spring", rounds=3, items_per_round=1, cooldown_days=90)
    events = []
    sent: dict[str, list[str]] = {lead: [] for lead in LEADS}
    for round_number in (1, 2, 3):
        now = START + pd.Timedelta(days=10 * (round_number - 1))
        frame = pd.DataFrame(events, columns=["user_id", "event", "timestamp", "item_id"])
        result = run_round(campaign, round_number, model, ledger, LEADS, frame, now=now)
        for plan in result.plans:
            sent[str(plan.lead_id)].extend(map(str, plan.item_ids))
        # Everyone engages a day after each send.
        events += [click(lead, now + pd.Timedelta(days=1)) for lead in LEADS]

    for lead, items in sent.items():
        assert len(items) == len(set(items)), f"{lead} was sent {items}"


def test_cooldown_spans_campaigns(model, ledger):
    first = run_round(Campaign("spring", items_per_round=2), 1, model, ledger, ["a"], now=START)
    within = run_round(
        Campaign("summer", items_per_round=2), 1, model, ledger, ["a"], now=START + pd.Timedelta(days=30)
    )

    assert not set(first.plans[0].item_ids) & set(within.plans[0].item_ids)


def test_cooldown_expires(model, ledger):
    campaign = Campaign("spring", items_per_round=1, cooldown_days=30, backfill=False)
    first = run_round(campaign, 1, model, ledger, ["a"], now=START)
    later = run_round(
        Campaign("autumn", items_per_round=1, cooldown_days=30, backfill=False),
        1,
        model,
        ledger,
        ["a"],
        now=START + pd.Timedelta(days=31),
    )

    assert later.plans[0].item_ids == first.plans[0].item_ids


def test_cooldown_none_never_resends(model, ledger):
    run_round(Campaign("spring", items_per_round=1, cooldown_days=None), 1, model, ledger, ["a"], now=START)
    years_later = START + pd.Timedelta(days=3650)
    first_item = ledger.sends("spring")[0].item_ids[0]

    again = run_round(
        Campaign("autumn", items_per_round=1, cooldown_days=None), 1, model, ledger, ["a"], now=years_later
    )

    assert first_item not in again.plans[0].item_ids


def test_rerun_returns_same_items(model, ledger):
    campaign = Campaign("spring", items_per_round=2, max_item_share=0.4)
    first = run_round(campaign, 1, model, ledger, LEADS, now=START)

    again = run_round(campaign, 1, model, ledger, LEADS, now=START + pd.Timedelta(hours=5))

    assert [plan.item_ids for plan in again.plans] == [plan.item_ids for plan in first.plans]
    assert all(plan.already_sent for plan in again.plans)
    assert not any(plan.already_sent for plan in first.plans)


def test_rerun_records_nothing_twice(model, ledger):
    campaign = Campaign("spring", items_per_round=2)
    run_round(campaign, 1, model, ledger, LEADS, now=START)
    count = len(ledger.sends())
    rows = len(ledger.to_frame())

    run_round(campaign, 1, model, ledger, LEADS, now=START + pd.Timedelta(days=1))

    assert len(ledger.sends()) == count == len(LEADS)
    assert len(ledger.to_frame()) == rows


def test_rerun_adds_only_new_leads(model, ledger):
    campaign = Campaign("spring", items_per_round=1)
    run_round(campaign, 1, model, ledger, ["a", "b"], now=START)

    result = run_round(campaign, 1, model, ledger, ["a", "b", "c"], now=START)

    assert [plan.already_sent for plan in result.plans] == [True, True, False]
    assert len(ledger.sends("spring", 1)) == 3


def test_dry_run_records_nothing(model, ledger):
    result = run_round(Campaign("spring"), 1, model, ledger, LEADS, now=START, dry_run=True)

    assert ledger.sends() == []
    assert result.recorded is False
    assert all(plan.items for plan in result.plans)


def test_next_round_targets_engaged_leads(model, ledger):
    campaign = Campaign("spring", rounds=2, items_per_round=1)
    run_round(campaign, 1, model, ledger, LEADS, now=START)
    events = pd.DataFrame(
        [
            click("b", START + pd.Timedelta(days=2)),
            click("c", START - pd.Timedelta(days=2)),  # before the send: not engagement with it
            click("d", START + pd.Timedelta(days=20)),  # after the round 2 time: not seen yet
        ]
    )

    result = run_round(campaign, 2, model, ledger, LEADS, events, now=START + pd.Timedelta(days=7))

    assert result.lead_ids == ["b"]


def test_engagement_events_filter(model, ledger):
    campaign = Campaign("spring", rounds=2, items_per_round=1, engagement_events=("email_click",))
    run_round(campaign, 1, model, ledger, LEADS, now=START)
    events = pd.DataFrame(
        [click("b", START + pd.Timedelta(days=1)), click("c", START + pd.Timedelta(days=1), "email_open")]
    )

    engaged = engaged_leads(campaign, 1, ledger, events, now=START + pd.Timedelta(days=7))

    assert engaged == ["b"]


def test_round_two_uses_recent_views(model, ledger):
    campaign = Campaign("spring", rounds=2, items_per_round=1, backfill=False)
    run_round(campaign, 1, model, ledger, ["d"], now=START)
    view = {"user_id": "d", "event": "view", "item_id": "tea", "timestamp": START + pd.Timedelta(days=1)}

    result = run_round(
        campaign, 2, model, ledger, ["d"], pd.DataFrame([view]), now=START + pd.Timedelta(days=2)
    )

    plan = result.plans[0]
    assert plan.items
    assert "tea" in plan.items[0].because
    assert "tea" not in plan.item_ids


def test_reason_text_names_event(model, ledger):
    result = run_round(
        Campaign("spring", items_per_round=1, backfill=False), 1, model, ledger, ["a"], now=START
    )

    assert result.plans[0].reasons[0].startswith("because you bought")


def test_backfill_flagged(model, ledger):
    result = run_round(Campaign("spring", items_per_round=3), 1, model, ledger, ["newcomer"], now=START)

    plan = result.plans[0]
    assert plan.known_lead is False
    assert [item.backfill for item in plan.items] == [True, True, True]
    assert plan.reasons == ("popular with other customers",) * 3


def test_new_lead_recent_events_known(model, ledger):
    events = pd.DataFrame(
        {"user_id": ["newcomer"], "item_id": ["honey"], "event": ["view"], "timestamp": [START]}
    )

    result = run_round(
        Campaign("spring", items_per_round=1), 1, model, ledger, ["newcomer"], events, now=START
    )
    plan = next_best(model, "newcomer", events, n=1, now=START)

    assert result.plans[0].known_lead is True
    assert result.plans[0].items[0].backfill is False
    assert plan.known_lead is True


def test_unknown_lead_strict_raises(model, ledger):
    with pytest.raises(UnknownUserError, match="newcomer"):
        run_round(Campaign("spring"), 1, model, ledger, ["newcomer"], now=START, strict=True)


def test_unknown_include_item_raises(model, ledger):
    campaign = Campaign("spring", include_items=("tea", "kettle"))

    with pytest.raises(UnknownItemError, match="kettle"):
        run_round(campaign, 1, model, ledger, LEADS, now=START)


def test_include_items_limit_sends(model, ledger):
    campaign = Campaign("spring", items_per_round=3, include_items=("tray", "honey"))

    result = run_round(campaign, 1, model, ledger, LEADS, now=START)

    assert {item for plan in result.plans for item in plan.item_ids} <= {"tray", "honey"}


def test_unknown_exclude_item_reported(model, ledger):
    campaign = Campaign("spring", exclude_items=("kettle", "tea"))

    result = run_round(campaign, 1, model, ledger, LEADS, now=START)

    assert result.unknown_items == ("kettle",)
    assert all("tea" not in plan.item_ids for plan in result.plans)


def test_empty_leads_raise(model, ledger):
    with pytest.raises(DataValidationError, match="leads is empty"):
        run_round(Campaign("spring"), 1, model, ledger, [], now=START)


def test_round_outside_campaign_raises(model, ledger):
    with pytest.raises(DataValidationError, match="rounds 1 to 2"):
        run_round(Campaign("spring", rounds=2), 3, model, ledger, LEADS, now=START)


def test_bad_lead_id_raises(model, ledger):
    with pytest.raises(DataValidationError, match=r"leads\[1\]"):
        run_round(Campaign("spring"), 1, model, ledger, ["a", 1.5], now=START)


def test_events_missing_column_raise(model, ledger):
    events = pd.DataFrame({"user_id": ["a"], "event": ["view"]})

    with pytest.raises(DataValidationError, match="timestamp"):
        run_round(Campaign("spring"), 1, model, ledger, ["a"], events, now=START)


def test_next_best_reads_without_recording(model, ledger):
    plan = next_best(model, "a", n=2, ledger=ledger, now=START)

    assert len(plan.items) == 2
    assert ledger.sends() == []
    assert plan.engagement.grade == "C"


def test_unicode_ids_round_trip(tmp_path):
    from recsys import ItemKNN

    events = pd.DataFrame(
        {
            "user_id": ["Zoë", "Zoë", "Łukasz", "Łukasz", "東京"],
            "item_id": ["thé vert", "tasse ☕", "thé vert", "tasse ☕", "thé vert"],
            "event": "purchase",
        }
    )
    model = ItemKNN().fit(events)
    with SendLedger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        run_round(Campaign("été"), 1, model, ledger, ["東京"], now=START)
    with SendLedger(f"sqlite:///{tmp_path / 'ledger.db'}") as reopened:
        send = reopened.sends("été")[0]

    assert send.lead_id == "東京"
    assert send.item_ids == ["tasse ☕"]
    assert send.items[0].because == ("thé vert",)


def test_recent_weights_match_weigh_events(model):
    from recsys.nurture._frames import normalize_events
    from recsys.nurture.rounds import _recent_weights

    events = pd.DataFrame(
        {
            "user_id": ["d", "d", "d", "d"],
            "item_id": ["tea", "tea", "cup", "tea"],
            "event": ["view", "view", "cart", "purchase"],
            "timestamp": START,
            "weight": [1.0, 2.0, 1.0, 1.0],
        }
    )

    weights = _recent_weights(model, normalize_events(events))

    assert weights == {"d": model.weigh_events(events)}


@pytest.mark.parametrize("days", [36_501, 1e300])
def test_cooldown_beyond_a_century_is_rejected(days: float) -> None:
    # pandas time spans end near 292 years, so a larger cooldown could not be applied.
    with pytest.raises(DataValidationError, match=r"cooldown_days must be at most 36,500 days"):
        Campaign("spring", cooldown_days=days)


# --------------------------------------------------------------------------- recent events


def scores_of(plan) -> list[tuple[object, float]]:
    return [(item.item_id, round(item.score, 9)) for item in plan.items]


def lead_events(lead: str) -> pd.DataFrame:
    """Return the fitted events of one lead, as a caller that reads all its events passes them."""
    events = shop_events()
    return events[events["user_id"] == lead].reset_index(drop=True)


def test_model_records_fit_data_end(model):
    assert model.data_until_ == FIT_TIME


def test_fitted_events_count_once_by_default(model, ledger):
    campaign = Campaign("spring", items_per_round=3, backfill=False)

    alone = next_best(model, "c", n=3, now=START)
    again = next_best(model, "c", lead_events("c"), n=3, now=START)
    twice = next_best(
        model, "c", lead_events("c"), n=3, now=START, recent_after=FIT_TIME - pd.Timedelta(days=1)
    )
    round_scores = run_round(campaign, 1, model, ledger, ["c"], lead_events("c"), now=START, dry_run=True)

    assert scores_of(again) == scores_of(alone)
    assert scores_of(twice) != scores_of(alone)
    assert [(item.item_id, round(item.score, 9)) for item in round_scores.plans[0].items] == scores_of(alone)


def test_events_after_data_end_are_recent(model):
    view = pd.DataFrame(
        [{"user_id": "d", "item_id": "tea", "event": "view", "timestamp": FIT_TIME + pd.Timedelta(hours=1)}]
    )
    events = pd.concat([lead_events("d"), view], ignore_index=True)

    by_default = next_best(model, "d", events, n=3, now=START)
    explicit = next_best(model, "d", events, n=3, now=START, recent_after=FIT_TIME)

    assert any("tea" in item.because for item in by_default.items)
    assert scores_of(by_default) == scores_of(explicit)


def test_unknown_data_end_counts_every_event():
    untimed = ItemKNN().fit(shop_events().drop(columns=["timestamp"]))

    alone = next_best(untimed, "c", n=3, now=START)
    given = next_best(untimed, "c", lead_events("c"), n=3, now=START)

    assert untimed.data_until_ is None
    assert scores_of(given) != scores_of(alone)


def test_recent_column_decides(model):
    view = pd.DataFrame([{"user_id": "d", "item_id": "tea", "event": "view", "timestamp": FIT_TIME}])
    events = pd.concat([lead_events("d"), view], ignore_index=True)
    # The view shares the fitted events' timestamp, so only the flag can mark it as new.
    flagged = events.assign(recent=[False] * len(lead_events("d")) + [True])

    by_time = next_best(model, "d", events, n=3, now=START)
    by_flag = next_best(model, "d", flagged, n=3, now=START)

    assert all("tea" not in item.because for item in by_time.items)
    assert any("tea" in item.because for item in by_flag.items)


def test_recent_column_with_recent_after_raises(model):
    flagged = lead_events("d").assign(recent=True)

    with pytest.raises(DataValidationError, match="only one may mark which events are recent"):
        next_best(model, "d", flagged, now=START, recent_after=FIT_TIME)


def test_recent_column_not_bool_raises(model, ledger):
    flagged = lead_events("d").assign(recent="yes")

    with pytest.raises(DataValidationError, match="column 'recent' of nurture events must be bool"):
        run_round(Campaign("spring"), 1, model, ledger, ["d"], flagged, now=START)


def test_fractional_cooldown_runs_without_warnings(model, ledger) -> None:
    # 0.1234567891234 days is not a whole number of microseconds.
    campaign = Campaign("spring", items_per_round=1, cooldown_days=0.1234567891234)

    result = run_round(campaign, 1, model, ledger, ["a"], now=START)
    again = run_round(campaign, 1, model, ledger, ["a"], now=START)

    assert [plan.lead_id for plan in result.plans] == ["a"]
    assert [plan.items for plan in again.plans] == [plan.items for plan in result.plans]


def test_empty_weight_cell_is_named() -> None:
    from recsys.nurture._frames import normalize_events

    events = pd.DataFrame(
        {
            "user_id": ["a", "b"],
            "event": ["view", "email_open"],
            "timestamp": [START, START],
            "weight": [2.0, float("nan")],
        }
    )

    with pytest.raises(DataValidationError, match=r"first at row 1 \(0-based\): weight=nan"):
        normalize_events(events)
