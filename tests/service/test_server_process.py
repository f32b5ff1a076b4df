"""The service under a real uvicorn process, called over TCP on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.service.live_server import live_server
from tests.service.sample_data import TOKYO_CUP, USER_1


def test_uvicorn_serves_requests(retail_model_dir: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"

    with (
        live_server(retail_model_dir, log_path) as base_url,
        httpx.Client(base_url=base_url, timeout=5.0, trust_env=False) as http,
    ):
        similar = http.get(
            "/v1/items/%E5%95%86%E5%93%81-%E6%9D%B1%E4%BA%AC-01/similar",
            headers={"X-Request-ID": "real-server-1"},
        )
        user = http.get("/v1/users/%E7%94%A8%E6%88%B7%201/recommendations")
        basket = http.post("/v1/recommendations", json={"items": [TOKYO_CUP], "n": 1})
        invalid = http.post(
            "/v1/recommendations",
            content=b'{"items": [',
            headers={"Content-Type": "application/json"},
        )

    assert similar.status_code == 200
    assert [item["item_id"] for item in similar.json()["items"]] == ["mug", "tea"]
    assert similar.headers["X-Request-ID"] == "real-server-1"
    assert user.status_code == 200
    assert user.json()["user_id"] == USER_1
    assert [item["item_id"] for item in user.json()["items"]] == ["tea"]
    assert basket.status_code == 200
    assert [item["item_id"] for item in basket.json()["items"]] == ["mug"]
    assert invalid.status_code == 422
    assert invalid.json()["request_id"] == invalid.headers["X-Request-ID"]

    log_lines = log_path.read_text(encoding="utf-8").splitlines()
    access = [json.loads(line) for line in log_lines if '"recsys.service.access"' in line]
    [entry] = [entry for entry in access if entry["request_id"] == "real-server-1"]
    assert entry["path"] == f"/v1/items/{TOKYO_CUP}/similar"
    assert entry["status"] == 200
    # The JSON handler stops the records there, so the plain-text root handler prints none of them.
    assert not [line for line in log_lines if line.startswith("INFO recsys.")]
