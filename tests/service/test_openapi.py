"""The published schema documents the error body that the service sends."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_422_documents_shared_error_body(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    response = await client.post("/v1/recommendations", json={"items": ["mug"], "n": -1})

    documented = schema["paths"]["/v1/recommendations"]["post"]["responses"]["422"]
    reference = documented["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    body_schema = components[components[reference]["$ref"].rsplit("/", 1)[1]]
    assert response.status_code == 422
    assert set(response.json()) <= set(body_schema["properties"])
    assert set(body_schema["required"]) == {"detail", "request_id"}
    item_schema = components["FieldError"]
    assert set(response.json()["errors"][0]) == set(item_schema["properties"])
    assert "ValidationError" not in components
