"""The nurture campaign endpoints, on SQLite and PostgreSQL.

The retail model (tests/service/sample_data.py) has one similar item for 用户 1
(tea, through mug), none for u4, whose items zzz and bag/red were bought only
together, and the popular order mug, tea, TOKYO_CUP, bag/red, zzz.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import recsys
from recsys.cli import main as cli_main
from recsys.nurture import SendLedger
from service.config import Settings
from service.main import create_app
from service.store import EventStore, NewEvent
from tests.service.conftest import running_app
from tests.service.sample_data import TOKYO_CUP, USER_1

pytestmark = pytest.mark.anyio

API_KEY = "nurture-test-key"
KEY = {"X-API-Key": API_KEY}
CAMPAIGN = "/v1/nurture/campaigns/autumn"


@pytest.fixture
def nurture_app(retail_model_dir: Path, database_url: str) -> FastAPI:
    """The retail model's app with its own database, one API key and at most 3 ids per list."""
    settings = Settings(
        model_dir=retail_model_dir, database_url=database_url, api_keys=[API_KEY], max_items=3
    )
    return create_app(settings)


@pytest.fixture
async def nurture_client(nurture_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(nurture_app) as http:
        yield http


async def put_campaign(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    body = {"rounds": 2, "items_per_round": 1, **fields}
    return await client.put(CAMPAIGN, json=body, headers=KEY)


async def run(
    client: httpx.AsyncClient, round_number: int, leads: list[Any], **fields: Any
) -> httpx.Response:
    return await client.post(
        f"{CAMPAIGN}/rounds/{round_number}", json={"leads": leads, **fields}, headers=KEY
    )


async def post_events(client: httpx.AsyncClient, *events: dict[str, Any]) -> None:
    response = await client.post("/v1/events", json={"events": list(events)}, headers=KEY)
    assert response.status_code == 201, response.text


def recorded_sends(app: FastAPI) -> list[Any]:
    return SendLedger(app.state.store.engine).sends()


def items_by_lead(body: dict[str, Any]) -> dict[Any, list[Any]]:
    return {lead["lead_id"]: [item["item_id"] for item in lead["items"]] for lead in body["leads"]}


def error_fields(response: httpx.Response) -> list[tuple[str, Any]]:
    return [(error["field"], error["value"]) for error in response.json()["errors"]]


async def test_put_campaign_stores_and_replaces(nurture_client: httpx.AsyncClient) -> None:
    created = await put_campaign(nurture_client, exclude_items=["zzz"], engagement={"grade_a_min": 30})
    replaced = await put_campaign(nurture_client, rounds=3)

    assert created.status_code == 201
    assert created.json()["exclude_items"] == ["zzz"]
    assert created.json()["engagement"]["grade_a_min"] == 30
    assert created.json()["engagement"]["grade_b_min"] == 15
    assert replaced.status_code == 200
    assert replaced.json()["rounds"] == 3
    assert replaced.json()["exclude_items"] == []


async def test_round_one_picks_items_and_reasons(
    nurture_client: httpx.AsyncClient, nurture_app: FastAPI
) -> None:
    await put_campaign(nurture_client)

    response = await run(nurture_client, 1, [USER_1, "u4"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["recorded"] is True
    assert body["sends_recorded"] == 2
    assert body["model_version"] == nurture_app.state.serving.model.version_
    first, second = body["leads"]
    assert first["lead_id"] == USER_1
    assert first["items"][0]["item_id"] == "tea"
    assert first["items"][0]["reason"] == "similar"
    assert first["items"][0]["backfill"] is False
    assert first["items"][0]["because"] == ["mug", TOKYO_CUP]
    assert first["items"][0]["explanation"].startswith("because you bought mug")
    assert first["engagement"] == {
        "score": 0.0,
        "grade": "C",
        "stage": "interest",
        "breakdown": {},
        "last_event_at": None,
    }
    # u4's items were bought only with each other, so the list is backfilled with the most popular item.
    assert second["items"][0]["item_id"] == "mug"
    assert second["items"][0]["backfill"] is True
    assert second["items"][0]["explanation"] == "popular with other customers"
    assert [send.lead_id for send in recorded_sends(nurture_app)] == [USER_1, "u4"]


async def test_rerun_round_sends_nothing_twice(
    nurture_client: httpx.AsyncClient, nurture_app: FastAPI
) -> None:
    await put_campaign(nurture_client)
    first = await run(nurture_client, 1, [USER_1, "u4"])

    again = await run(nurture_client, 1, ["u4", USER_1, "u3"])

    assert again.status_code == 200
    assert items_by_lead(again.json()) == {"u4": ["mug"], USER_1: ["tea"], "u3": [TOKYO_CUP]}
    assert [lead["already_sent"] for lead in again.json()["leads"]] == [True, True, False]
    assert (again.json()["recorded"], again.json()["sends_recorded"]) == (True, 1)
    first_sent = [lead["sent_at"] for lead in first.json()["leads"]]
    assert first_sent == [first.json()["sent_at"]] * 2
    assert [lead["sent_at"] for lead in again.json()["leads"]] == [
        *reversed(first_sent),
        again.json()["sent_at"],
    ]
    assert items_by_lead(first.json()) == {USER_1: ["tea"], "u4": ["mug"]}
    sends = recorded_sends(nurture_app)
    assert [send.lead_id for send in sends] == [USER_1, "u4", "u3"]
    assert [send.sent_at for send in sends[:2]] == [datetime.fromisoformat(first.json()["sent_at"])] * 2


async def test_dry_run_records_nothing(nurture_client: httpx.AsyncClient, nurture_app: FastAPI) -> None:
    await put_campaign(nurture_client)

    response = await run(nurture_client, 1, [USER_1], dry_run=True)

    assert response.json()["recorded"] is False
    assert response.json()["sends_recorded"] == 0
    assert items_by_lead(response.json()) == {USER_1: ["tea"]}
    assert recorded_sends(nurture_app) == []


async def test_round_two_targets_engaged_leads(nurture_client: httpx.AsyncClient) -> None:
    await put_campaign(nurture_client)
    await run(nurture_client, 1, [USER_1, "u4"])
    before = await run(nurture_client, 2, [USER_1, "u4"], dry_run=True)
    await post_events(nurture_client, {"user_id": USER_1, "item_id": "zzz", "event": "view"})

    after = await run(nurture_client, 2, [USER_1, "u4"])

    assert before.json()["leads"] == []
    assert [lead["lead_id"] for lead in after.json()["leads"]] == [USER_1]
    item = after.json()["leads"][0]["items"][0]
    # The view after the fit joins the history: bag/red is similar to zzz, which counts as seen.
    assert (item["item_id"], item["because"]) == ("bag/red", ["zzz"])
    assert after.json()["leads"][0]["engagement"]["breakdown"] == {"view": pytest.approx(1.0, rel=1e-3)}


async def test_round_before_previous_is_409(nurture_client: httpx.AsyncClient) -> None:
    await put_campaign(nurture_client)

    response = await run(nurture_client, 2, [USER_1])

    assert response.status_code == 409
    assert "run round 1 first" in response.json()["detail"]
    assert response.json()["request_id"]


async def test_round_beyond_campaign_is_422(nurture_client: httpx.AsyncClient) -> None:
    await put_campaign(nurture_client)

    response = await run(nurture_client, 3, [USER_1])

    assert response.status_code == 422
    assert error_fields(response) == [("round_number", 3)]


async def test_unknown_campaign_is_404(nurture_client: httpx.AsyncClient) -> None:
    paths = [
        f"{CAMPAIGN}/leads/u4/next-best",
        f"{CAMPAIGN}/leads/u4/engagement",
    ]
    responses = [await nurture_client.get(path) for path in paths]
    responses.append(await run(nurture_client, 1, ["u4"]))

    for response in responses:
        assert response.status_code == 404
        assert "unknown campaign_id 'autumn'" in response.json()["detail"]


async def test_too_many_leads_is_422(nurture_client: httpx.AsyncClient, nurture_app: FastAPI) -> None:
    await put_campaign(nurture_client)

    response = await run(nurture_client, 1, ["a", "b", "c", "d"])

    assert response.status_code == 422
    assert error_fields(response) == [("leads", 4)]
    assert "RECSYS_MAX_ITEMS" in response.json()["detail"]
    assert recorded_sends(nurture_app) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"max_item_share": 2}, ("max_item_share", 2)),
        ({"items_per_round": 0}, ("items_per_round", 0)),
        ({"cooldown_days": -1}, ("cooldown_days", -1)),
        ({"exclude_seen": "yes"}, ("exclude_seen", "yes")),
        ({"colour": "red"}, ("colour", "red")),
    ],
)
async def test_bad_campaign_field_is_422(
    nurture_client: httpx.AsyncClient, fields: dict[str, Any], expected: tuple[str, Any]
) -> None:
    response = await put_campaign(nurture_client, **fields)

    assert response.status_code == 422
    # A field of several types, such as exclude_seen, is reported once per type: exclude_seen.bool.
    assert expected in [(field.split(".")[0], value) for field, value in error_fields(response)]


async def test_bad_engagement_rules_are_422(nurture_client: httpx.AsyncClient) -> None:
    response = await put_campaign(nurture_client, engagement={"grade_a_min": 5, "grade_b_min": 10})

    assert response.status_code == 422
    assert error_fields(response)[0][0] == "engagement"
    assert "grade_b_min (10) must not exceed grade_a_min (5)" in response.json()["detail"]


async def test_unknown_include_item_is_422(nurture_client: httpx.AsyncClient) -> None:
    await put_campaign(nurture_client, include_items=["tea", "no such item"])

    response = await run(nurture_client, 1, [USER_1])

    assert response.status_code == 422
    assert error_fields(response)[0][0] == "include_items"
    assert "no such item" in response.json()["detail"]


async def test_write_endpoints_need_key(nurture_client: httpx.AsyncClient) -> None:
    put = await nurture_client.put(CAMPAIGN, json={})
    post = await nurture_client.post(f"{CAMPAIGN}/rounds/1", json={"leads": [USER_1]})

    assert put.status_code == 401
    assert post.status_code == 401


async def test_next_best_records_nothing(nurture_client: httpx.AsyncClient, nurture_app: FastAPI) -> None:
    await put_campaign(nurture_client)
    await run(nurture_client, 1, [USER_1])

    response = await nurture_client.get(f"{CAMPAIGN}/leads/{USER_1}/next-best?n=2")

    assert response.status_code == 200, response.text
    body = response.json()
    # tea was sent in round 1, within the cooldown, and USER_1 bought mug and TOKYO_CUP.
    assert [item["item_id"] for item in body["items"]] == ["bag/red", "zzz"]
    assert all(item["backfill"] for item in body["items"])
    assert body["campaign_id"] == "autumn"
    assert body["known_lead"] is True
    assert len(recorded_sends(nurture_app)) == 1


async def test_events_posted_after_fit_are_recent(
    nurture_client: httpx.AsyncClient, nurture_app: FastAPI
) -> None:
    await put_campaign(nurture_client)
    fitted_at = datetime.fromisoformat(nurture_app.state.serving.model.fitted_at_)
    before_fit = (fitted_at - timedelta(minutes=1)).isoformat()
    await post_events(
        nurture_client, {"user_id": "old lead", "item_id": "zzz", "event": "view", "timestamp": before_fit}
    )

    plan = (await nurture_client.get(f"{CAMPAIGN}/leads/old lead/next-best")).json()
    user = (await nurture_client.get("/v1/users/old lead/recommendations")).json()

    # The model cannot contain an event received after its fit, whatever its timestamp,
    # so it joins the history here as it does for the user endpoint.
    assert plan["known_lead"] is True
    assert [(item["item_id"], item["because"]) for item in plan["items"]] == [("bag/red", ["zzz"])]
    assert user["recent_events"] == 1
    assert set(plan["engagement"]["breakdown"]) == {"view"}


async def test_round_counts_events_after_store_mark(database_url: str, tmp_path: Path) -> None:
    with EventStore(database_url) as store:
        store.create_tables()
        store.add_events(
            [
                NewEvent(user, item, "purchase")
                for user, items in {"a": ["zzz", "bag/red"], "b": ["zzz", "bag/red"], "c": ["mug"]}.items()
                for item in items
            ]
        )
    assert cli_main(["-q", "train", "--from-store", database_url, "--out", str(tmp_path / "model")]) == 0
    model = recsys.load(tmp_path / "model")
    # Received after the training read the store but before the fit finished.
    during_training = datetime.fromisoformat(model.fitted_at_) - timedelta(seconds=1)
    with EventStore(database_url) as store:
        store.add_events([NewEvent("new lead", "zzz", "view")], received_at=during_training)
    settings = Settings(model_dir=tmp_path / "model", database_url=database_url, api_keys=[API_KEY])

    async with running_app(create_app(settings)) as http:
        await put_campaign(http)
        body = (await run(http, 1, ["new lead", "c"])).json()

    plans = {lead["lead_id"]: lead for lead in body["leads"]}
    assert plans["new lead"]["known_lead"] is True
    assert [item["because"] for item in plans["new lead"]["items"]] == [["zzz"]]
    assert plans["c"]["known_lead"] is True


async def test_engagement_grades_lead(nurture_client: httpx.AsyncClient) -> None:
    await put_campaign(nurture_client, engagement={"grade_b_min": 5})
    await post_events(
        nurture_client,
        {"user_id": 7, "item_id": "mug", "event": "purchase"},
        {"user_id": 7, "item_id": "tea", "event": "view", "weight": 2},
    )

    response = await nurture_client.get(f"{CAMPAIGN}/leads/7/engagement")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["lead_id"] == "7"
    assert body["breakdown"] == {
        "purchase": pytest.approx(10.0, rel=1e-3),
        "view": pytest.approx(2.0, rel=1e-3),
    }
    assert body["score"] == pytest.approx(12.0, rel=1e-3)
    assert body["grade"] == "B"
    assert body["stage"] == "consideration"
    assert body["last_event_at"] is not None


async def test_engagement_counts_browse_and_email_events(nurture_client: httpx.AsyncClient) -> None:
    await put_campaign(nurture_client)
    await post_events(
        nurture_client,
        {"user_id": "lead 9", "item_id": "mug", "event": "brochure_download"},
        {"user_id": "lead 9", "item_id": "mug", "event": "time_on_page", "weight": 4},
        {"user_id": "lead 9", "item_id": "mug", "event": "email_click"},
    )

    response = await nurture_client.get(f"{CAMPAIGN}/leads/lead 9/engagement")

    assert response.status_code == 200, response.text
    # Default points: download 8, time on page 0.5 per minute, email click 3.
    assert response.json()["breakdown"] == {
        "brochure_download": pytest.approx(8.0, rel=1e-3),
        "time_on_page": pytest.approx(2.0, rel=1e-3),
        "email_click": pytest.approx(3.0, rel=1e-3),
    }
    assert response.json()["score"] == pytest.approx(13.0, rel=1e-3)


async def test_cooldown_beyond_a_century_is_422(nurture_client: httpx.AsyncClient) -> None:
    response = await put_campaign(nurture_client, cooldown_days=1e300)

    assert response.status_code == 422
    assert error_fields(response) == [("cooldown_days", 1e300)]
