"""What the benchmarks share: a throw-away registry database on the embedded server."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from registry.db import embedded, migrate
from registry.db.engine import engine_for


@contextmanager
def scratch_registry() -> Iterator[Engine]:
    """A freshly migrated database (on DATABASE_URL's server when set, else an embedded one), dropped after."""
    with tempfile.TemporaryDirectory(prefix="provreg-bench-") as home:
        server = os.environ.get("DATABASE_URL") or embedded.start(Path(home))
        name = f"provreg_bench_{uuid.uuid4().hex[:8]}"
        admin = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
        engine = engine_for(url)
        try:
            yield engine
        finally:
            engine.dispose()
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not os.environ.get("DATABASE_URL"):
                embedded.stop(Path(home))
