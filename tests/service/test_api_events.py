"""POST /v1/events and the real-time history of GET /v1/users/{user_id}/recommendations."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text, update

import recsys
from recsys.cli import main as cli_main
from recsys.exceptions import DataValidationError
from recsys.persistence import MANIFEST, content_version
from service.config import Settings
from service.main import create_app
from service.store import EventStore, NewEvent, events_table
from tests.service.conftest import running_app
from tests.service.sample_data import TOKYO_CUP, USER_1

pytestmark = pytest.mark.anyio

API_KEY = "events-test-key"
KEY = {"X-API-Key": API_KEY}


@pytest.fixture
def events_app(retail_model_dir: Path, database_url: str) -> FastAPI:
    """The retail model's app with its own store and one API key."""
    settings = Settings(
        model_dir=retail_model_dir, database_url=database_url, api_keys=[API_KEY], max_events=5
    )
    return create_app(settings)


@pytest.fixture
async def events_client(events_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(events_app) as http:
        yield http


def stored_count(app: FastAPI) -> int:
    store: EventStore = app.state.store
    return store.count_events()


async def test_post_events_stores_batch(events_client: httpx.AsyncClient, events_app: FastAPI) -> None:
    response = await events_client.post(
        "/v1/events",
        json={
            "events": [
                {"event_id": "e1", "user_id": USER_1, "item_id": TOKYO_CUP, "event": "view"},
                {"user_id": 7, "item_id": 1, "event": "purchase", "timestamp": "2026-12-05T10:00:00+09:00"},
            ]
        },
        headers=KEY,
    )

    assert response.status_code == 201
    body = response.json()
    assert body == {"accepted": 2, "duplicates": 0, "request_id": response.headers["X-Request-ID"]}
    events = events_app.state.store.read_events()
    assert events["user_id"].tolist() == [USER_1, "7"]
    assert events["item_id"].tolist() == [TOKYO_CUP, "1"]


async def test_post_events_keeps_id_types(events_client: httpx.AsyncClient, events_app: FastAPI) -> None:
    batch = [{"user_id": "u", "item_id": item_id, "event": "view"} for item_id in (1, "1", " 商品 ")]
    await events_client.post("/v1/events", json={"events": batch}, headers=KEY)

    store: EventStore = events_app.state.store
    recent = store.read_user_events("u", store.read_events()["timestamp"].min().to_pydatetime())

    assert recent["item_id"].tolist() == [1, "1", " 商品 "]


async def test_retry_counts_duplicates(events_client: httpx.AsyncClient, events_app: FastAPI) -> None:
    batch = {
        "events": [
            {"event_id": "a", "user_id": "u", "item_id": "mug", "event": "cart", "weight": 2},
            {"event_id": "b", "user_id": "u", "item_id": "tea", "event": "view"},
        ]
    }
    first = await events_client.post("/v1/events", json=batch, headers=KEY)

    retry = await events_client.post("/v1/events", json=batch, headers=KEY)

    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json()["accepted"] == 0
    assert retry.json()["duplicates"] == 2
    assert stored_count(events_app) == 2


async def test_conflicting_event_id_is_409(events_client: httpx.AsyncClient, events_app: FastAPI) -> None:
    await events_client.post(
        "/v1/events",
        json={"events": [{"event_id": "order-9", "user_id": "u", "item_id": "mug", "event": "purchase"}]},
        headers=KEY,
    )

    response = await events_client.post(
        "/v1/events",
        json={
            "events": [
                {"event_id": "new", "user_id": "u", "item_id": "tea", "event": "view"},
                {"event_id": "order-9", "user_id": "u", "item_id": "tea", "event": "purchase"},
            ]
        },
        headers=KEY,
    )

    assert response.status_code == 409
    assert (
        "event_id 'order-9' (events[1]) is already stored with different content" in response.json()["detail"]
    )
    assert response.json()["request_id"]
    assert stored_count(events_app) == 1


def event(**fields: Any) -> dict[str, Any]:
    """A valid event with ``fields`` replaced; a field set to ... is left out."""
    base: dict[str, Any] = {"user_id": "u", "item_id": "mug", "event": "view"}
    base.update(fields)
    return {name: value for name, value in base.items() if value is not ...}


@pytest.mark.parametrize(
    ("bad", "field", "value", "message"),
    [
        (event(event="click"), "events[1].event", "click", "must be an event type of the served model"),
        (event(user_id=""), "events[1].user_id", "", "must not be empty or only whitespace"),
        (event(item_id="  \t"), "events[1].item_id", "  \t", "must not be empty or only whitespace"),
        (event(user_id=1.5), "events[1].user_id", 1.5, "must be an integer or a string, not a number"),
        (event(item_id=True), "events[1].item_id", True, "not a boolean"),
        (event(user_id=None), "events[1].user_id", None, "not null"),
        (event(item_id=2**64), "events[1].item_id", 2**64, "must fit in 64 bits"),
        (event(event_id=[1]), "events[1].event_id", "[1]", "not an array"),
        (event(weight=-1), "events[1].weight", -1, "finite number >= 0"),
        (event(weight="2"), "events[1].weight", "2", "must be a number, not a string"),
        (event(timestamp="2026-12-05T10:00:00"), "events[1].timestamp", "2026-12-05T10:00:00", "time zone"),
        (event(timestamp="yesterday"), "events[1].timestamp", "yesterday", "ISO 8601"),
        (event(timestamp=1764928800), "events[1].timestamp", 1764928800, "not an integer"),
        (event(timestamp="1500-01-01T00:00:00Z"), "events[1].timestamp", "1500-01-01T00:00:00Z", "between"),
        (event(user_id="x" * 300), "events[1].user_id", "x" * 97 + "...", "at most 256 characters"),
        (event(colour="red"), "events[1].colour", "red", "extra inputs are not permitted"),
        (event(user_id=...), "events[1].user_id", None, "is required"),
    ],
)
async def test_invalid_event_rejects_batch(
    events_client: httpx.AsyncClient,
    events_app: FastAPI,
    bad: dict[str, Any],
    field: str,
    value: Any,
    message: str,
) -> None:
    response = await events_client.post("/v1/events", json={"events": [event(), bad]}, headers=KEY)

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert error["value"] == value
    assert message in error["message"]
    assert stored_count(events_app) == 0


async def test_infinite_weight_is_422(events_client: httpx.AsyncClient) -> None:
    body = b'{"events": [{"user_id": "u", "item_id": "mug", "event": "view", "weight": 1e400}]}'

    response = await events_client.post(
        "/v1/events", content=body, headers={**KEY, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "events[0].weight"
    assert error["value"] == "Infinity"


async def test_every_bad_event_is_listed(events_client: httpx.AsyncClient) -> None:
    batch = [event(item_id=""), event(), event(weight=-2, user_id=None)]

    response = await events_client.post("/v1/events", json={"events": batch}, headers=KEY)

    assert response.status_code == 422
    fields = sorted(error["field"] for error in response.json()["errors"])
    assert fields == ["events[0].item_id", "events[2].user_id", "events[2].weight"]


async def test_unknown_types_and_long_ids_listed(events_client: httpx.AsyncClient) -> None:
    # Event types and id lengths are checked once the batch matches the schema.
    batch = [event(event="click"), event(), event(event="like", event_id="e" * 257)]

    response = await events_client.post("/v1/events", json={"events": batch}, headers=KEY)

    assert response.status_code == 422
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == ["events[0].event", "events[2].event_id", "events[2].event"]
    assert "cart, email_click, email_open, purchase" in response.json()["errors"][0]["message"]


async def test_batch_above_max_events_is_422(events_client: httpx.AsyncClient) -> None:
    response = await events_client.post("/v1/events", json={"events": [event()] * 6}, headers=KEY)

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "events"
    assert error["value"] == 6
    assert "at most 5 events (the server's RECSYS_MAX_EVENTS)" in error["message"]


async def test_empty_batch_is_422(events_client: httpx.AsyncClient) -> None:
    response = await events_client.post("/v1/events", json={"events": []}, headers=KEY)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events"


async def test_events_need_api_key(events_client: httpx.AsyncClient, events_app: FastAPI) -> None:
    missing = await events_client.post("/v1/events", json={"events": [event()]})
    wrong = await events_client.post("/v1/events", json={"events": [event()]}, headers={"X-API-Key": "nope"})

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert stored_count(events_app) == 0


async def test_events_disabled_without_keys(retail_model_dir: Path, tmp_path: Path) -> None:
    settings = Settings(model_dir=retail_model_dir, database_url=f"sqlite:///{tmp_path / 'e.sqlite3'}")
    async with running_app(create_app(settings)) as http:
        response = await http.post("/v1/events", json={"events": [event()]}, headers=KEY)

    assert response.status_code == 403
    assert "RECSYS_API_KEYS" in response.json()["detail"]


async def test_events_need_json_body(events_client: httpx.AsyncClient) -> None:
    response = await events_client.post(
        "/v1/events", content=b'{"events": []}', headers={**KEY, "Content-Type": "text/plain"}
    )

    assert response.status_code == 415


async def test_events_count_in_metrics(events_client: httpx.AsyncClient, events_app: FastAPI) -> None:
    registry = events_app.state.metrics.registry
    before = registry.get_sample_value("recsys_events_ingested_total") or 0.0
    batch = {"events": [event(event_id="m1"), event(event_id="m2")]}

    await events_client.post("/v1/events", json=batch, headers=KEY)
    await events_client.post("/v1/events", json=batch, headers=KEY)

    assert registry.get_sample_value("recsys_events_ingested_total") == before + 2


async def recommended(http: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await http.get(path)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_posted_event_changes_known_user_list(events_client: httpx.AsyncClient) -> None:
    path = f"/v1/users/{USER_1}/recommendations"
    before = await recommended(events_client, path)

    await events_client.post(
        "/v1/events", json={"events": [event(user_id=USER_1, item_id="zzz", event="purchase")]}, headers=KEY
    )
    after = await recommended(events_client, path)

    assert [item["item_id"] for item in before["items"]] == ["tea"]
    assert before["recent_events"] == 0
    # zzz was bought with bag/red only (cosine 1), so bag/red joins the list. zzz itself is seen.
    assert [item["item_id"] for item in after["items"]] == ["tea", "bag/red"]
    assert after["items"][1]["because"] == ["zzz"]
    assert after["known_user"] is True
    assert after["recent_events"] == 1
    assert after["unknown_items"] == []


async def test_posted_event_serves_unknown_user(events_client: httpx.AsyncClient) -> None:
    path = "/v1/users/new%20shopper/recommendations?strict=true"
    before = await events_client.get(path)

    await events_client.post(
        "/v1/events",
        json={
            "events": [
                event(user_id="new shopper", item_id="zzz", event="view"),
                event(user_id="new shopper"),
            ]
        },
        headers=KEY,
    )
    after = await recommended(events_client, path)

    assert before.status_code == 404
    assert after["known_user"] is False
    assert after["fallback"] is False
    assert after["recent_events"] == 2
    assert [item["item_id"] for item in after["items"]] == ["bag/red", "tea", TOKYO_CUP]
    assert {item["reason"] for item in after["items"]} == {"similar"}


async def test_history_unknown_items_not_reported(events_client: httpx.AsyncClient) -> None:
    await events_client.post(
        "/v1/events", json={"events": [event(user_id="v", item_id="brand-new item")]}, headers=KEY
    )

    body = await recommended(events_client, "/v1/users/v/recommendations")

    assert body["recent_events"] == 0
    assert body["fallback"] is True
    assert body["unknown_items"] == []


async def test_int_model_matches_posted_int_user(numeric_model_dir: Path, database_url: str) -> None:
    settings = Settings(model_dir=numeric_model_dir, database_url=database_url, api_keys=[API_KEY])
    async with running_app(create_app(settings)) as http:
        before = await recommended(http, "/v1/users/3/recommendations")
        await http.post(
            "/v1/events", json={"events": [{"user_id": 3, "item_id": 1001, "event": "purchase"}]}, headers=KEY
        )
        after = await recommended(http, "/v1/users/3/recommendations")

    assert [item["item_id"] for item in before["items"]] == [1001, 1002]
    assert [item["item_id"] for item in after["items"]] == [1002]
    assert after["recent_events"] == 1


async def test_failing_store_still_recommends(
    retail_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(model_dir=retail_model_dir, database_url=f"sqlite:///{tmp_path / 'e.sqlite3'}")
    app = create_app(settings)
    async with running_app(app) as http:
        with app.state.store.engine.begin() as connection:
            connection.execute(text("DROP TABLE events"))
        with caplog.at_level(logging.WARNING, logger="recsys.service"):
            body = await recommended(http, f"/v1/users/{USER_1}/recommendations")

    assert [item["item_id"] for item in body["items"]] == ["tea"]
    assert "recommending without recent events: reading the event store failed" in caplog.text


async def test_store_opened_beside_model_by_default(retail_model_dir: Path) -> None:
    async with running_app(create_app(Settings(model_dir=retail_model_dir))) as http:
        response = await http.get("/readyz")

    assert response.status_code == 200
    assert (retail_model_dir.parent / "events.sqlite3").is_file()


async def test_train_from_store_end_to_end(retail_model_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store' / 'events.sqlite3'}"
    settings = Settings(model_dir=retail_model_dir, database_url=url, api_keys=[API_KEY])
    baskets = {"a": ["mug", TOKYO_CUP], "b": ["mug", TOKYO_CUP], "c": ["tea", "zzz"], 7: ["tea"]}
    batch = [
        {"user_id": user, "item_id": item, "event": "purchase"}
        for user, items in baskets.items()
        for item in items
    ]
    async with running_app(create_app(settings)) as http:
        response = await http.post("/v1/events", json={"events": batch}, headers=KEY)
    assert response.status_code == 201

    status = cli_main(
        ["-q", "train", "--from-store", url, "--out", str(tmp_path / "model"), "--event-weight", "purchase=2"]
    )

    assert status == 0
    model = recsys.load(tmp_path / "model")
    assert model.data_params_["event_weights"] == {"purchase": 2.0}
    assert model.n_events_ == 7
    # The int user 7 is read as "7", because the other user ids are strings.
    assert sorted(model.user_ids_.ids.tolist()) == ["7", "a", "b", "c"]
    assert model.similar_items("mug", 1).item_ids == [TOKYO_CUP]


async def test_train_from_store_skips_engagement_events(
    retail_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'store' / 'events.sqlite3'}"
    settings = Settings(model_dir=retail_model_dir, database_url=url, api_keys=[API_KEY])
    batch = [
        {"user_id": "a", "item_id": "mug", "event": "purchase"},
        {"user_id": "a", "item_id": "tea", "event": "view"},
        {"user_id": "a", "item_id": "tea", "event": "email_open"},
        {"user_id": "b", "item_id": "mug", "event": "time_on_page", "weight": 3},
        {"user_id": "b", "item_id": "tea", "event": "purchase"},
    ]
    async with running_app(create_app(settings)) as http:
        response = await http.post("/v1/events", json={"events": batch}, headers=KEY)
    assert response.status_code == 201
    caplog.set_level(logging.INFO, logger="recsys.cli")

    status = cli_main(["train", "--from-store", url, "--out", str(tmp_path / "model")])

    assert status == 0
    model = recsys.load(tmp_path / "model")
    assert model.n_events_ == 3
    assert "left out 2 stored events of types without an event weight" in caplog.text
    assert "email_open 1" in caplog.text
    assert "time_on_page 1" in caplog.text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from-store", "sqlite:///{tmp}/missing.sqlite3"], "event store file not found"),
        (["--from-store", "sqlite:///{tmp}/e.sqlite3", "--events", "x.csv"], "give only one source"),
        (["--from-store", "nonsense"], "must be a SQLAlchemy URL"),
    ],
)
def test_train_bad_source_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = [part.replace("{tmp}", str(tmp_path)) for part in extra]

    status = cli_main(["-q", "train", *args, "--out", str(tmp_path / "model")])

    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "missing.sqlite3").exists()


async def test_bad_database_url_fails_startup(
    retail_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(model_dir=retail_model_dir, database_url="mysql://user:secret@127.0.0.1/recsys")

    with pytest.raises(DataValidationError, match="unsupported database 'mysql'"):
        async with running_app(create_app(settings)):
            pass

    assert "startup failed: cannot open the event store mysql://user:***@127.0.0.1/recsys" in caplog.text
    assert "secret" not in caplog.text


async def test_engagement_events_stored_not_recommended(
    events_client: httpx.AsyncClient, events_app: FastAPI
) -> None:
    path = f"/v1/users/{USER_1}/recommendations"
    before = await recommended(events_client, path)

    response = await events_client.post(
        "/v1/events",
        json={
            "events": [
                event(user_id=USER_1, item_id="zzz", event="email_open"),
                event(user_id=USER_1, item_id="zzz", event="time_on_page", weight=3.5),
            ]
        },
        headers=KEY,
    )
    after = await recommended(events_client, path)

    assert response.status_code == 201
    assert events_app.state.store.read_events()["event"].tolist() == ["email_open", "time_on_page"]
    assert after["items"] == before["items"]
    assert after["recent_events"] == 0


async def test_engagement_events_follow_the_setting(retail_model_dir: Path, database_url: str) -> None:
    settings = Settings(
        model_dir=retail_model_dir, database_url=database_url, api_keys=[API_KEY], engagement_events=[]
    )
    async with running_app(create_app(settings)) as http:
        response = await http.post("/v1/events", json={"events": [event(event="email_open")]}, headers=KEY)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events[0].event"
    assert "RECSYS_ENGAGEMENT_EVENTS" in response.json()["errors"][0]["message"]


# --------------------------------------------------------------------------- recent events after training


def train_from_store(database_url: str, out: Path) -> recsys.Recommender:
    """Store a few purchases, train a model on them with `recsys train --from-store`, and load it."""
    baskets = {"a": ["mug", TOKYO_CUP], "b": ["mug", TOKYO_CUP, "tea"], "c": ["tea", "zzz"]}
    with EventStore(database_url) as store:
        store.create_tables()
        store.add_events(
            [NewEvent(user, item, "purchase") for user, items in baskets.items() for item in items]
        )
    assert cli_main(["-q", "train", "--from-store", database_url, "--out", str(out)]) == 0
    return recsys.load(out)


def receive_again(database_url: str, user_id: str, received_at: datetime) -> None:
    """Change the receive time of a user's stored events, as if they had arrived then."""
    with EventStore(database_url) as store, store.engine.begin() as connection:
        connection.execute(
            update(events_table).where(events_table.c.user_id == user_id).values(received_at=received_at)
        )


async def recent_events_of(model_dir: Path, database_url: str, user_id: str) -> int:
    settings = Settings(model_dir=model_dir, database_url=database_url, api_keys=[API_KEY])
    async with running_app(create_app(settings)) as http:
        body = await recommended(http, f"/v1/users/{user_id}/recommendations")
    count: int = body["recent_events"]
    return count


async def test_train_from_store_records_mark(database_url: str, tmp_path: Path) -> None:
    model = train_from_store(database_url, tmp_path / "model")

    with EventStore(database_url) as store, store.engine.connect() as connection:
        largest_id = connection.execute(select(func.max(events_table.c.id))).scalar_one()
    assert model.store_high_water_mark_ == largest_id
    assert model.version_ == content_version(model)


async def test_fitted_event_counts_once(database_url: str, tmp_path: Path) -> None:
    model = train_from_store(database_url, tmp_path / "model")
    # Received in the second of the fit, before the training read it.
    receive_again(database_url, "c", datetime.fromisoformat(model.fitted_at_))

    assert await recent_events_of(tmp_path / "model", database_url, "c") == 0


async def test_event_after_store_read_is_recent(database_url: str, tmp_path: Path) -> None:
    model = train_from_store(database_url, tmp_path / "model")
    # Received after the training read the store but before the fit finished.
    during_training = datetime.fromisoformat(model.fitted_at_) - timedelta(seconds=1)
    with EventStore(database_url) as store:
        store.add_events([NewEvent("c", "mug", "purchase")], received_at=during_training)

    assert await recent_events_of(tmp_path / "model", database_url, "c") == 1


async def test_model_without_mark_uses_receive_time(database_url: str, tmp_path: Path) -> None:
    model = train_from_store(database_url, tmp_path / "model")
    manifest_path = tmp_path / "model" / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["store_high_water_mark"]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    fitted_at = datetime.fromisoformat(model.fitted_at_)
    receive_again(database_url, "c", fitted_at)
    with EventStore(database_url) as store:
        store.add_events([NewEvent("c", "mug", "purchase")], received_at=fitted_at - timedelta(seconds=1))

    # Without the mark the two gaps remain: c's two fitted events count again, the new one not at all.
    assert await recent_events_of(tmp_path / "model", database_url, "c") == 2


@pytest.mark.parametrize("weight", [1e39, 1e308, 7e37])
async def test_weight_beyond_float32_is_422(
    events_client: httpx.AsyncClient, events_app: FastAPI, weight: float
) -> None:
    # A purchase weighs 5, so 7e37 is 3.5e38 once weighted: past float32's 3.4e38.
    batch = [event(), event(event="purchase", weight=weight)]

    response = await events_client.post("/v1/events", json={"events": batch}, headers=KEY)

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["field"], error["value"]) == ("events[1].weight", weight)
    assert "must be at most 3.4e+38" in error["message"]
    assert stored_count(events_app) == 0


async def test_largest_weight_that_fits_is_stored(events_client: httpx.AsyncClient) -> None:
    response = await events_client.post(
        "/v1/events", json={"events": [event(event="purchase", weight=6e37)]}, headers=KEY
    )

    assert response.status_code == 201
