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
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from registry.db import embedded, migrate
from tests.database import Database

# The browser tests' `browser` fixture (one Chromium per module), for tests/api and tests/web.
pytest_plugins = ["tests.browser"]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
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
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def cloned_database(server_url: str, template_url: str) -> Iterator[str]:
    """A fresh, migrated database cloned from the template, dropped afterwards."""
    name = f"provreg_test_{uuid.uuid4().hex[:12]}"
    _admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{_database_name(template_url)}"')
    url = _with_database(server_url, name)
    try:
        yield url
    finally:
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
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(db_url: str) -> Database:
    return Database(db_url)


@pytest.fixture
def registry_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Environment for CLI tests: DATABASE_URL points at this test's database."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("PROVREG_HOME", str(tmp_path / "home"))
    return db_url
