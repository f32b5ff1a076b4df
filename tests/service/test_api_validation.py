"""Invalid requests get 422 with a message naming the field, never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from service.config import Settings
from service.main import create_app
from tests.service.conftest import running_app

pytestmark = pytest.mark.anyio

SIMILAR = "/v1/items/mug/similar"
USER = "/v1/users/u2/recommendations"

QUERY_CASES = [
    pytest.param(SIMILAR, {"n": "-1"}, "n", "greater than or equal to 0", id="n-negative"),
    pytest.param(SIMILAR, {"n": "abc"}, "n", "valid integer", id="n-not-a-number"),
    pytest.param(SIMILAR, {"n": "1.5"}, "n", "valid integer", id="n-fraction"),
    pytest.param(SIMILAR, {"n": "101"}, "n", "at most 100", id="n-above-max-n"),
    pytest.param(USER, {"n": "101"}, "n", "at most 100", id="user-n-above-max-n"),
    pytest.param(USER, {"n": ""}, "n", "valid integer", id="user-n-empty"),
    pytest.param(USER, {"backfill": "maybe"}, "backfill", "valid boolean", id="backfill-not-bool"),
    pytest.param(USER, {"strict": "2"}, "strict", "valid boolean", id="strict-not-bool"),
]


@pytest.mark.parametrize(("url", "params", "field", "message"), QUERY_CASES)
async def test_invalid_query_422(
    client: httpx.AsyncClient, url: str, params: dict[str, str], field: str, message: str
) -> None:
    response = await client.get(url, params=params)

    assert response.status_code == 422
    body = response.json()
    assert f"query parameter '{field}'" in body["detail"]
    assert message in body["detail"]
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["location"] == "query"
    assert body["request_id"] == response.headers["X-Request-ID"]


BODY_CASES = [
    pytest.param({"items": "abc"}, "items", "valid list", "abc", id="items-not-a-list"),
    pytest.param({"items": {"a": 1}}, "items", "valid list", None, id="items-object"),
    pytest.param({"items": [True]}, "items[0]", "not a boolean", True, id="id-true"),
    pytest.param({"items": ["mug", 1.5]}, "items[1]", "not a number", 1.5, id="id-float"),
    pytest.param({"items": [None]}, "items[0]", "not null", None, id="id-null"),
    pytest.param({"items": [["mug"]]}, "items[0]", "not an array", None, id="id-array"),
    pytest.param({"items": ["mug"], "n": "10"}, "n", "valid integer", "10", id="n-str"),
    pytest.param({"items": ["mug"], "n": True}, "n", "valid integer", True, id="n-bool"),
    pytest.param({"items": ["mug"], "n": 2.0}, "n", "valid integer", 2.0, id="n-float"),
    pytest.param({"items": ["mug"], "n": -1}, "n", "greater than or equal to 0", -1, id="n-negative"),
    pytest.param({"items": ["mug"], "n": 101}, "n", "at most 100", 101, id="n-above-max-n"),
    pytest.param(
        {"items": ["mug"], "backfill": "yes"}, "backfill", "valid boolean", "yes", id="backfill-str"
    ),
    pytest.param({"items": ["mug"], "exclude": [1.5]}, "exclude[0]", "not a number", 1.5, id="exclude-float"),
    pytest.param({"items": ["mug"], "allow": "mug"}, "allow", "valid list", "mug", id="allow-str"),
    pytest.param({"items": ["mug"], "exlude": ["tea"]}, "exlude", "not permitted", None, id="unknown-field"),
    pytest.param({"n": 3}, "items", "is required", None, id="items-missing"),
]


@pytest.mark.parametrize(("payload", "field", "message", "value"), BODY_CASES)
async def test_invalid_body_422(
    client: httpx.AsyncClient, payload: dict[str, Any], field: str, message: str, value: Any
) -> None:
    response = await client.post("/v1/recommendations", json=payload)

    assert response.status_code == 422
    body = response.json()
    assert f"body field '{field}'" in body["detail"]
    assert message in body["detail"]
    error = body["errors"][0]
    assert error["field"] == field
    assert error["location"] == "body"
    if value is not None:
        assert error["value"] == value
        assert type(error["value"]) is type(value)
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_invalid_body_lists_every_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/recommendations", json={"items": [True, "mug", 1.5], "n": -1})

    assert response.status_code == 422
    body = response.json()
    assert [error["field"] for error in body["errors"]] == ["items[0]", "items[2]", "n"]
    assert "2 more error(s)" in body["detail"]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"items": [', id="truncated"),
        pytest.param(b"items=mug", id="form-text"),
        pytest.param(b'{"items": ["mug",]}', id="trailing-comma"),
        pytest.param(b'{"items": ["\xff\xfe"]}', id="not-utf-8"),
    ],
)
async def test_malformed_json_422(client: httpx.AsyncClient, content: bytes) -> None:
    headers = {"Content-Type": "application/json"}

    response = await client.post("/v1/recommendations", content=content, headers=headers)

    assert response.status_code == 422
    body = response.json()
    assert "not valid JSON" in body["detail"]
    assert body["errors"][0]["location"] == "body"
    assert body["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_id_422(client: httpx.AsyncClient, literal: str) -> None:
    # Python's JSON parser accepts these literals; echoing them back as-is would make invalid JSON.
    content = f'{{"items": [{literal}]}}'.encode()
    headers = {"Content-Type": "application/json"}

    response = await client.post("/v1/recommendations", content=content, headers=headers)

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "items[0]"
    assert isinstance(error["value"], str)


async def test_missing_body_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/recommendations")

    assert response.status_code == 422
    assert response.json()["detail"] == "the request body is required"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json", "application/jsonp"]
)
async def test_body_wrong_content_type_415(client: httpx.AsyncClient, content_type: str) -> None:
    headers = {"Content-Type": content_type}

    response = await client.post("/v1/recommendations", content=b'{"items": ["mug"]}', headers=headers)

    assert response.status_code == 415
    body = response.json()
    assert set(body) == {"detail", "request_id"}
    assert "must be JSON sent with Content-Type: application/json" in body["detail"]
    assert f"got Content-Type '{content_type}'" in body["detail"]
    assert "b'" not in body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_body_without_content_type_415(client: httpx.AsyncClient) -> None:
    # httpx sends no Content-Type header for raw bytes unless one is given.
    response = await client.post("/v1/recommendations", content=b'{"items": ["mug"]}')

    assert response.status_code == 415
    assert "no Content-Type header" in response.json()["detail"]
    assert "Content-Type: application/json" in response.json()["detail"]


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"]
)
async def test_body_json_content_type_ok(client: httpx.AsyncClient, content_type: str) -> None:
    headers = {"Content-Type": content_type}

    response = await client.post("/v1/recommendations", content=b'{"items": ["mug"]}', headers=headers)

    assert response.status_code == 200
    assert [item["item_id"] for item in response.json()["items"]] == ["tea", "商品-東京-01"]


async def test_empty_text_body_422(client: httpx.AsyncClient) -> None:
    # The missing body is the first thing to fix, so it is reported before the media type.
    headers = {"Content-Type": "text/plain"}

    response = await client.post("/v1/recommendations", content=b"", headers=headers)

    assert response.status_code == 422
    assert response.json()["detail"] == "the request body is required"


UNKNOWN_QUERY_CASES = [
    pytest.param("GET", SIMILAR, {"limit": "1"}, "limit", "accepted: n, exclude", id="similar-limit"),
    pytest.param(
        "GET", SIMILAR, {"backfill": "true"}, "backfill", "accepted: n, exclude", id="similar-backfill"
    ),
    pytest.param(
        "GET", USER, {"limit": "1"}, "limit", "accepted: n, exclude, backfill, strict", id="user-limit"
    ),
    pytest.param("GET", USER, {"N": "1"}, "N", "accepted: n, exclude, backfill, strict", id="user-case"),
    pytest.param(
        "POST", "/v1/recommendations", {"n": "1"}, "n", "send its fields in the JSON body", id="basket-n"
    ),
]


@pytest.mark.parametrize(("method", "url", "params", "name", "accepted"), UNKNOWN_QUERY_CASES)
async def test_unknown_query_parameter_422(
    client: httpx.AsyncClient, method: str, url: str, params: dict[str, str], name: str, accepted: str
) -> None:
    response = await client.request(method, url, params=params, json={"items": ["mug"]})

    assert response.status_code == 422
    body = response.json()
    assert f"unknown query parameter '{name}'" in body["detail"]
    assert accepted in body["detail"]
    assert body["errors"][0]["field"] == name
    assert body["errors"][0]["location"] == "query"
    assert body["errors"][0]["value"] == params[name]
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_unknown_query_parameters_all_listed(client: httpx.AsyncClient) -> None:
    params = [("n", "2"), ("limit", "1"), ("page", "2"), ("page", "3")]

    response = await client.get(SIMILAR, params=params)

    assert response.status_code == 422
    body = response.json()
    assert [error["field"] for error in body["errors"]] == ["limit", "page"]
    assert body["errors"][1]["value"] == '["2", "3"]'
    assert "1 more unknown query parameter" in body["detail"]


@pytest.mark.parametrize("url", ["/healthz", "/readyz", "/docs", "/openapi.json"])
async def test_probes_ignore_unknown_query(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url, params={"limit": "1"})

    assert response.status_code == 200


async def test_huge_path_id_422(client: httpx.AsyncClient) -> None:
    user_id = "u" * 50_000

    response = await client.get(f"/v1/users/{user_id}/recommendations")

    assert response.status_code == 422
    body = response.json()
    assert "path parameter 'user_id'" in body["detail"]
    assert "at most 256 characters" in body["detail"]
    assert "RECSYS_MAX_ID_LENGTH" in body["detail"]
    assert "not 50000" in body["detail"]
    assert body["errors"][0]["location"] == "path"
    assert len(body["errors"][0]["value"]) == 100
    assert body["errors"][0]["value"].endswith("...")
    # The id is echoed at most twice (in detail and errors), shortened to 100 characters each time.
    assert len(response.text) < 1000


@pytest.fixture
async def limited_client(retail_model_dir: Path) -> Any:
    """A client of a service with max_n=5, max_items=3 and max_id_length=8."""
    settings = Settings(model_dir=retail_model_dir, max_n=5, max_items=3, max_id_length=8)
    async with running_app(create_app(settings)) as http:
        yield http


@pytest.mark.parametrize("field", ["items", "exclude", "allow"])
async def test_body_list_above_max_items_422(limited_client: httpx.AsyncClient, field: str) -> None:
    payload: dict[str, Any] = {"items": ["mug"], field: ["a", "b", "c", "d"]}

    response = await limited_client.post("/v1/recommendations", json=payload)

    assert response.status_code == 422
    body = response.json()
    assert f"body field '{field}'" in body["detail"]
    assert "at most 3 ids" in body["detail"]
    assert body["errors"][0]["value"] == 4


async def test_body_list_at_max_items_ok(limited_client: httpx.AsyncClient) -> None:
    payload = {"items": ["mug", "tea", "zzz"], "exclude": ["a", "b", "c"], "n": 5}

    response = await limited_client.post("/v1/recommendations", json=payload)

    assert response.status_code == 200


async def test_query_exclude_above_max_items_422(limited_client: httpx.AsyncClient) -> None:
    params = {"exclude": ["a", "b", "c", "d"]}

    response = await limited_client.get(SIMILAR, params=params)

    assert response.status_code == 422
    assert "query parameter 'exclude'" in response.json()["detail"]
    assert "at most 3 ids" in response.json()["detail"]


async def test_n_above_configured_max_n_422(limited_client: httpx.AsyncClient) -> None:
    response = await limited_client.get(USER, params={"n": 6})

    assert response.status_code == 422
    assert "at most 5" in response.json()["detail"]
    assert "RECSYS_MAX_N" in response.json()["detail"]


async def test_n_at_configured_max_n_ok(limited_client: httpx.AsyncClient) -> None:
    response = await limited_client.get(USER, params={"n": 5, "backfill": "true"})

    assert response.status_code == 200
    assert len(response.json()["items"]) == 2


async def test_default_n_capped_at_max_n(limited_client: httpx.AsyncClient) -> None:
    response = await limited_client.get("/v1/users/nobody/recommendations")

    assert response.status_code == 200
    # Five items exist, and the default n of 10 is capped at max_n=5 instead of being rejected.
    assert len(response.json()["items"]) == 5


@pytest.mark.parametrize(
    ("url", "field"),
    [
        pytest.param("/v1/users/{}/recommendations", "user_id", id="user-id"),
        pytest.param("/v1/items/{}/similar", "item_id", id="item-id"),
    ],
)
async def test_path_long_id_422(limited_client: httpx.AsyncClient, url: str, field: str) -> None:
    response = await limited_client.get(url.format("x" * 9))

    assert response.status_code == 422
    body = response.json()
    assert f"path parameter '{field}'" in body["detail"]
    assert "at most 8 characters" in body["detail"]
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["value"] == "x" * 9


async def test_path_id_at_limit_ok(limited_client: httpx.AsyncClient) -> None:
    response = await limited_client.get("/v1/users/abcdefgh/recommendations")

    assert response.status_code == 200
    assert response.json()["user_id"] == "abcdefgh"


@pytest.mark.parametrize("field", ["items", "exclude", "allow"])
async def test_body_long_id_422(limited_client: httpx.AsyncClient, field: str) -> None:
    payload: dict[str, Any] = {"items": ["mug"], field: ["tea", "y" * 9]}

    response = await limited_client.post("/v1/recommendations", json=payload)

    assert response.status_code == 422
    body = response.json()
    assert f"body field '{field}[1]'" in body["detail"]
    assert "at most 8 characters" in body["detail"]
    assert "RECSYS_MAX_ID_LENGTH" in body["detail"]
    assert body["errors"][0]["value"] == "y" * 9


async def test_body_long_int_id_422(limited_client: httpx.AsyncClient) -> None:
    response = await limited_client.post("/v1/recommendations", json={"items": [1234567890]})

    assert response.status_code == 422
    assert "body field 'items[0]'" in response.json()["detail"]
    assert response.json()["errors"][0]["value"] == 1234567890


async def test_body_ids_at_limit_ok(limited_client: httpx.AsyncClient) -> None:
    payload = {"items": ["mug", "abcdefgh", 12345678], "exclude": ["abcdefgh"]}

    response = await limited_client.post("/v1/recommendations", json=payload)

    assert response.status_code == 200


async def test_body_long_ids_each_listed(limited_client: httpx.AsyncClient) -> None:
    payload = {"items": ["y" * 9, "mug", "z" * 10], "allow": ["w" * 11]}

    response = await limited_client.post("/v1/recommendations", json=payload)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["items[0]", "items[2]", "allow[0]"]


async def test_long_list_length_reported_alone(limited_client: httpx.AsyncClient) -> None:
    # A list above max_items is reported once, not once per long id inside it.
    payload = {"items": ["mug"], "exclude": ["y" * 9] * 4}

    response = await limited_client.post("/v1/recommendations", json=payload)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["exclude"]


async def test_query_exclude_long_id_422(limited_client: httpx.AsyncClient) -> None:
    response = await limited_client.get(SIMILAR, params={"exclude": ["tea", "y" * 9]})

    assert response.status_code == 422
    body = response.json()
    assert "query parameter 'exclude[1]'" in body["detail"]
    assert "at most 8 characters" in body["detail"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/users/%20/recommendations", "user_id"),
        ("/v1/users/%20%09/recommendations?n=3", "user_id"),
        ("/v1/items/%20/similar", "item_id"),
    ],
)
async def test_blank_path_id_is_422(client: httpx.AsyncClient, path: str, field: str) -> None:
    response = await client.get(path)

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["location"], error["field"]) == ("path", field)
    assert error["message"] == "must not be empty or only whitespace"
