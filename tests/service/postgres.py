"""Databases for the event store tests: a SQLite file, or a schema of a PostgreSQL test server.

The PostgreSQL cases need ``RECSYS_TEST_DATABASE_URL``, such as
``postgresql+psycopg://recsys:password@127.0.0.1:5432/recsys``; ``.ci/postgres start``
sets up such a server. Without it they are skipped, unless
``RECSYS_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which makes them fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

__all__ = ["DATABASE_KINDS", "POSTGRES_URL_VARIABLE", "temporary_database"]

POSTGRES_URL_VARIABLE = "RECSYS_TEST_DATABASE_URL"
REQUIRE_POSTGRES_VARIABLE = "RECSYS_REQUIRE_POSTGRES"
DATABASE_KINDS = ("sqlite", "postgresql")


def postgres_url() -> str:
    """Return the URL of the PostgreSQL test server, or skip (or fail) the test without one."""
    url = os.environ.get(POSTGRES_URL_VARIABLE, "")
    if url:
        return url
    reason = (
        f"{POSTGRES_URL_VARIABLE} is not set; start a test server with `.ci/postgres start DIR` "
        f"and export the URL it prints to run the PostgreSQL cases"
    )
    if os.environ.get(REQUIRE_POSTGRES_VARIABLE) == "1":
        pytest.fail(f"{REQUIRE_POSTGRES_VARIABLE}=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def temporary_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty database of ``kind``, removed afterwards.

    For PostgreSQL, the database is a new schema, named first in the URL's
    ``search_path``, so tests do not see each other's tables.
    """
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.sqlite3'}"
        return
    if kind != "postgresql":
        raise ValueError(f"kind must be one of {DATABASE_KINDS}; got {kind!r}")
    server_url = make_url(postgres_url())
    schema = f"test_{uuid.uuid4().hex}"
    admin = create_engine(server_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = server_url.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
