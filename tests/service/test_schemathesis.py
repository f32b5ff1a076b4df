"""Generated requests for every operation of the OpenAPI schema, run in process against the app.

schemathesis builds requests from the schema the app publishes, valid and
invalid ones. No response may be a 5xx, and every response must match the
schema: a documented status, its content type and its body schema. The runs are
derandomized and capped at MAX_EXAMPLES per operation, so they are repeatable
and take a few seconds in all.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.config import Settings
from service.main import create_app
from service.security import API_KEY_HEADER

#: Generated cases per operation.
MAX_EXAMPLES = 25
API_KEY = "schemathesis-key"
BASE_URL = "http://testserver"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def published_schema() -> dict[str, Any]:
    """Return the OpenAPI schema of the app, which does not depend on the model.

    The app built here is never started, so it needs no model directory.
    schemathesis 4.32's ``schemathesis.pytest.from_fixture`` fails on pytest 9
    (it reads the removed ``Function._nodeid``), so the schema is loaded when the
    module is imported and the app under test is passed to each call.
    """
    app = create_app(Settings(model_dir=Path("schema-only"), api_keys=[API_KEY]))
    return app.openapi()


schema = schemathesis.openapi.from_dict(published_schema())


@pytest.fixture(scope="module")
def app(retail_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """An app with an API key, serving a private copy of the retail model.

    The read endpoints keep their default of needing no key.
    """
    # A copy, so the events that the generated requests store stay out of the shared model's directory.
    model_dir = tmp_path_factory.mktemp("schemathesis") / "retail"
    shutil.copytree(retail_model_dir, model_dir)
    yield create_app(Settings(model_dir=model_dir, api_keys=[API_KEY]))
    # schemathesis starts the app's lifespan on the first request and keeps it running until asked to stop.
    asgi.shutdown_lifespans()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_schema(case: schemathesis.Case, app: FastAPI) -> None:
    case.call_and_validate(app=app, base_url=BASE_URL, headers={API_KEY_HEADER: API_KEY}, checks=CHECKS)
