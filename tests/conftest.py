"""Every database test runs on real PostgreSQL: DATABASE_URL when set, else an embedded server.

Each test gets its own database, cloned from a template migrated once per test session.
With DATABASE_URL, the role needs CREATEDB.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from registry.db import embedded, migrate
from registry.db.engine import engine_for


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as connection:  # fmt: skip
        connection.execute(sql)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A maintenance URL of the server the tests use."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    home = tmp_path_factory.mktemp("provreg-home")
    url = embedded.start(home)
    yield url
    embedded.stop(home)


@pytest.fixture(scope="session")
def template_url(server_url: str) -> Iterator[str]:
    name = f"provreg_template_{uuid.uuid4().hex[:8]}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    migrate.upgrade(url)
    yield url
    engine_for(url).dispose()
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def cloned_database(server_url: str, template_url: str) -> Iterator[str]:
    """A fresh, migrated database cloned from the template, dropped afterwards."""
    name = f"provreg_test_{uuid.uuid4().hex[:12]}"
    template = make_url(template_url).database
    _admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = _with_database(server_url, name)
    try:
        yield url
    finally:
        engine_for(url).dispose()
        _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(server_url: str, template_url: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    with cloned_database(server_url, template_url) as url:
        yield url


@pytest.fixture
def empty_db_url(server_url: str) -> Iterator[str]:
    """A database with no schema at all, as a new installation finds it."""
    name = f"provreg_empty_{uuid.uuid4().hex[:12]}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    yield url
    engine_for(url).dispose()
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(db_url: str) -> Engine:
    return engine_for(db_url)


@pytest.fixture
def registry_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Environment for CLI tests: DATABASE_URL points at this test's database."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("PROVREG_HOME", str(tmp_path / "home"))
    return db_url
