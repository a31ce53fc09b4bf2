"""Connections: one SQLAlchemy engine per database URL, on psycopg 3."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from registry.config import Settings
from registry.db import embedded


def database_url(settings: Settings) -> str:
    """DATABASE_URL when set, else the embedded server (started on demand)."""
    return settings.database_url or embedded.start(settings.home)


def sqlalchemy_url(url: str) -> str:
    """Any libpq URI as a SQLAlchemy URL that uses psycopg 3."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@cache
def engine_for(url: str) -> Engine:
    return create_engine(sqlalchemy_url(url), pool_pre_ping=True, pool_size=10, max_overflow=10)


def get_engine(settings: Settings | None = None) -> Engine:
    return engine_for(database_url(settings or Settings.from_env()))
