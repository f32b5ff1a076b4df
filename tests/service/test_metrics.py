"""GET /metrics: Prometheus text with request, model and reload metrics, per app."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

import recsys
from service.config import Settings
from service.main import create_app
from service.metrics import Metrics
from tests.service.conftest import running_app

pytestmark = pytest.mark.anyio


def samples(text: str) -> list[Sample]:
    """Parse Prometheus text; the parser raises on invalid input."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value_of(text: str, name: str, **labels: str) -> float | None:
    """Return the value of the one sample with this name and these labels, or None."""
    found = [sample.value for sample in samples(text) if sample.name == name and sample.labels == labels]
    assert len(found) <= 1
    return found[0] if found else None


async def test_metrics_parse_and_count_request(client: httpx.AsyncClient) -> None:
    await client.get("/v1/items/mug/similar")
    await client.get("/v1/items/tea/similar")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    route = "/v1/items/{item_id}/similar"
    assert value_of(response.text, "recsys_http_requests_total", route=route, method="GET", status="200") == 2
    assert (
        value_of(response.text, "recsys_http_request_duration_seconds_count", route=route, method="GET") == 2
    )


async def test_route_label_is_template(client: httpx.AsyncClient) -> None:
    await client.get("/v1/users/%E7%94%A8%E6%88%B7%201/recommendations")
    await client.get("/v1/users/a/b/c/recommendations")
    await client.get("/no/such/path/1")
    await client.get("/no/such/path/2")
    await client.request("BREW", "/healthz")

    text = (await client.get("/metrics")).text

    routes = {
        sample.labels.get("route") for sample in samples(text) if sample.name == "recsys_http_requests_total"
    }
    assert routes == {"/v1/users/{user_id}/recommendations", "unmatched", "/healthz"}
    user_route = "/v1/users/{user_id}/recommendations"
    assert value_of(text, "recsys_http_requests_total", route=user_route, method="GET", status="200") == 2
    assert value_of(text, "recsys_http_requests_total", route="unmatched", method="GET", status="404") == 2
    assert value_of(text, "recsys_http_requests_total", route="/healthz", method="OTHER", status="405") == 1


async def test_model_info_shows_version(client: httpx.AsyncClient, retail_model_dir: Path) -> None:
    version = recsys.load(retail_model_dir).version_

    text = (await client.get("/metrics")).text

    assert value_of(text, "recsys_model_info", version=version, model_class="ItemKNN") == 1
    assert value_of(text, "recsys_model_reloads_total") == 0
    assert value_of(text, "recsys_model_reload_failures_total") == 0


async def test_model_info_follows_reload(
    tmp_path: Path, retail_model_dir: Path, numeric_model_dir: Path
) -> None:
    link = tmp_path / "current"
    link.symlink_to(retail_model_dir)
    app = create_app(Settings(model_dir=link, api_keys=["key-1"], reload_interval_s=0))

    async with running_app(app) as http:
        link.unlink()
        link.symlink_to(numeric_model_dir)
        reload = await http.post("/v1/admin/reload", headers={"X-API-Key": "key-1"})
        text = (await http.get("/metrics")).text

    assert reload.status_code == 200
    info = [sample for sample in samples(text) if sample.name == "recsys_model_info"]
    assert [(sample.labels["version"], sample.value) for sample in info] == [
        (recsys.load(numeric_model_dir).version_, 1.0)
    ]
    assert value_of(text, "recsys_model_reloads_total") == 1


async def test_events_ingested_counter(retail_model_dir: Path) -> None:
    app = create_app(Settings(model_dir=retail_model_dir, reload_interval_s=0))
    metrics: Metrics = app.state.metrics

    async with running_app(app) as http:
        metrics.events_ingested.inc(3)
        text = (await http.get("/metrics")).text

    assert value_of(text, "recsys_events_ingested_total") == 3


async def test_apps_count_separately(retail_model_dir: Path) -> None:
    first = create_app(Settings(model_dir=retail_model_dir, reload_interval_s=0))
    second = create_app(Settings(model_dir=retail_model_dir, reload_interval_s=0))

    async with running_app(first) as http_first, running_app(second) as http_second:
        await http_first.get("/healthz")
        await http_first.get("/healthz")
        await http_second.get("/healthz")
        first_text = (await http_first.get("/metrics")).text
        second_text = (await http_second.get("/metrics")).text

    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    assert value_of(first_text, "recsys_http_requests_total", **labels) == 2
    assert value_of(second_text, "recsys_http_requests_total", **labels) == 1
