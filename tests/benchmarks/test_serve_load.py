"""Smoke test of the HTTP load benchmark: a short run against a tiny model, and its report logic.

The test checks what the script writes, never how fast the server was.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import recsys
from benchmarks import serve_load

ROW_KEYS = {"endpoint", "rps", "p50_ms", "p99_ms", "errors"}


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved ItemKNN with str and int-like ids, one of them with a character that needs quoting."""
    baskets = {
        "u1": ["a", "b", "c/d"],
        "u 2": ["a", "b", "e"],
        "u3": ["b", "c/d", "e", "f"],
        "u4": ["a", "f", "g"],
    }
    events = pd.DataFrame(
        [(user, item, "purchase") for user, items in baskets.items() for item in items],
        columns=["user_id", "item_id", "event"],
    )
    path = tmp_path_factory.mktemp("serve-load") / "model"
    recsys.ItemKNN().fit(events).save(path)
    return path


def run_benchmark(model_dir: Path, out_json: Path, generator: str) -> dict:
    argv = [
        "--model",
        str(model_dir),
        "--generator",
        generator,
        "--duration",
        "1",
        "--warmup",
        "0",
        "--concurrency",
        "4",
        "--distinct",
        "20",
        "--out-json",
        str(out_json),
    ]
    assert serve_load.main(argv) == 0
    return json.loads(out_json.read_text(encoding="utf-8"))


def check_document(document: dict) -> None:
    rows = document["rows"]
    assert [row["endpoint"] for row in rows] == list(serve_load.ENDPOINTS)
    for row in rows:
        assert set(row) >= ROW_KEYS, row
        assert row["errors"] == 0, row
        assert row["requests"] > 0, row
        assert row["rps"] > 0, row
        assert 0 < row["p50_ms"] <= row["p99_ms"], row
    assert [ratio["endpoint"] for ratio in document["ratios"]] == list(serve_load.RECOMMEND_ENDPOINTS)
    settings = document["settings"]
    assert settings["workers"] == 1
    assert settings["loop"] in {"uvloop", "asyncio"}
    assert settings["http"] in {"httptools", "h11"}
    assert settings["concurrency"] == 4
    assert settings["duration_s"] == 1


def test_builtin_generator_writes_rows(tiny_model_dir: Path, tmp_path: Path) -> None:
    document = run_benchmark(tiny_model_dir, tmp_path / "serve_load.json", "builtin")

    check_document(document)
    assert document["settings"]["generator"] == "builtin"


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_generator_writes_rows(tiny_model_dir: Path, tmp_path: Path) -> None:
    document = run_benchmark(tiny_model_dir, tmp_path / "serve_load.json", "wrk")

    check_document(document)
    assert document["settings"]["generator"] == "wrk"


def test_requests_drawn_from_model(tiny_model_dir: Path) -> None:
    requests = serve_load.build_requests(tiny_model_dir, seed=1, distinct=30)

    assert requests == serve_load.build_requests(tiny_model_dir, seed=1, distinct=30)
    model = recsys.load(tiny_model_dir)
    user_paths = {f"/v1/users/{serve_load._quote(user)}/recommendations" for user in model.user_ids_.ids}
    assert {request.path for request in requests[serve_load.USER]} <= user_paths
    assert "/v1/items/c%2Fd/similar" in {request.path for request in requests[serve_load.SIMILAR]}
    for request in requests[serve_load.BASKET]:
        basket = json.loads(request.body)["items"]
        assert 3 <= len(basket) <= 5
        assert len(set(basket)) == len(basket)
        assert set(basket) <= set(model.item_ids_.ids)


def test_ratios_apply_goal() -> None:
    rows = [
        {"endpoint": serve_load.HEALTH, "rps": 1000.0, "p99_ms": 10.0, "errors": 0},
        {"endpoint": serve_load.USER, "rps": 800.0, "p99_ms": 20.0, "errors": 0},
        {"endpoint": serve_load.SIMILAR, "rps": 799.0, "p99_ms": 5.0, "errors": 0},
        {"endpoint": serve_load.BASKET, "rps": 900.0, "p99_ms": 21.0, "errors": 0},
    ]

    ratios = {ratio["endpoint"]: ratio for ratio in serve_load.compare_with_trivial(rows)}

    assert ratios[serve_load.USER]["rps_ratio"] == pytest.approx(0.8)
    assert ratios[serve_load.USER]["p99_ratio"] == pytest.approx(2.0)
    assert ratios[serve_load.USER]["goal_met"] is True
    assert ratios[serve_load.SIMILAR]["goal_met"] is False
    assert ratios[serve_load.BASKET]["goal_met"] is False


def test_ratios_errors_fail_goal() -> None:
    rows = [
        {"endpoint": serve_load.HEALTH, "rps": 1000.0, "p99_ms": 10.0, "errors": 0},
        {"endpoint": serve_load.USER, "rps": 1000.0, "p99_ms": 10.0, "errors": 3},
    ]

    [ratio] = serve_load.compare_with_trivial(rows)

    assert ratio["goal_met"] is False


@pytest.mark.parametrize(
    ("response", "status"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", 200),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200),
    ],
)
def test_read_response_consumes_body(response: bytes, status: int) -> None:
    async def read_twice() -> tuple[int, int]:
        reader = asyncio.StreamReader()
        reader.feed_data(response + response)
        reader.feed_eof()
        return await serve_load._read_response(reader), await serve_load._read_response(reader)

    assert asyncio.run(read_twice()) == (status, status)


def test_wrk_script_lists_every_request() -> None:
    requests = [
        serve_load.HttpRequest("GET", "/v1/items/a%20b/similar"),
        serve_load.HttpRequest("POST", "/v1/recommendations", b'{"items": ["a\\"b", 1]}'),
    ]

    script = serve_load.wrk_script(requests)

    assert 'wrk.format("GET", "/v1/items/a%20b/similar", {}, nil)' in script
    assert '"{\\"items\\": [\\"a\\\\\\"b\\", 1]}"' in script
    assert "WRK_RESULT" in script
