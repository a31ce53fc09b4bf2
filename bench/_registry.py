"""What the benchmarks share: a throw-away registry database on the embedded server."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from registry.db import embedded, migrate


def with_database(url: str, name: str) -> str:
    """The URL of another database on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def scratch_registry() -> Iterator[str]:
    """A freshly migrated database (on DATABASE_URL's server when set, else an embedded one), dropped
    after: its URL."""
    with tempfile.TemporaryDirectory(prefix="provreg-bench-") as home:
        server = os.environ.get("DATABASE_URL") or embedded.start(Path(home))
        name = f"provreg_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = with_database(server, name)
        migrate.upgrade(url)
        try:
            yield url
        finally:
            with psycopg.connect(server, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not os.environ.get("DATABASE_URL"):
                embedded.stop(Path(home))
