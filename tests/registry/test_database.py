"""The schema, its migrations and the embedded server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect

import registry.db.access_models  # noqa: F401  (registers the access tables with Base)
from registry.db import embedded, migrate
from registry.db.models import Base


def test_models_match_the_migrated_schema(engine) -> None:
    inspector = inspect(engine)
    database_tables = set(inspector.get_table_names()) - {
        t for t in inspector.get_table_names() if "yoyo" in t
    }
    assert database_tables == set(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        database_columns = {column["name"]: column for column in inspector.get_columns(name)}
        assert set(database_columns) == set(table.columns.keys()), name
        for column in table.columns:
            found = database_columns[column.name]
            assert found["nullable"] == column.nullable or column.primary_key, f"{name}.{column.name}"
            assert type(found["type"]).__name__ == type(column.type).__name__ or (
                column.type.python_type is found["type"].python_type
            ), f"{name}.{column.name}: {found['type']} vs {column.type}"


def test_schema_status_reports_pending_migrations_on_an_empty_database(empty_db_url: str) -> None:
    every = migrate.status(empty_db_url).pending
    assert every[0] == "0001_initial" and every == sorted(every)
    with pytest.raises(migrate.SchemaBehind, match="provreg db upgrade"):
        migrate.require_current(empty_db_url)
    assert migrate.upgrade(empty_db_url) == every
    assert migrate.status(empty_db_url).current
    migrate.require_current(empty_db_url)
    assert migrate.upgrade(empty_db_url) == []


def test_cli_refuses_to_run_on_a_schema_that_is_behind(empty_db_url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "registry", "batches"],
        env={"DATABASE_URL": empty_db_url, "PATH": "/usr/bin:/bin", "PROVREG_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "schema is behind" in done.stderr and "provreg db upgrade" in done.stderr


def test_embedded_server_survives_a_restart_of_provreg_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    url = embedded.start(home)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (value int)")
        connection.execute("INSERT INTO kept VALUES (42)")
    # A new provreg process finds the running server and the data.
    probe = (
        "import pathlib, sys, psycopg\n"
        "from registry.db import embedded\n"
        "url = embedded.start(pathlib.Path(sys.argv[1]))\n"
        "print(psycopg.connect(url).execute('SELECT value FROM kept').fetchone()[0])\n"
    )
    seen = subprocess.run(
        [sys.executable, "-c", probe, str(home)], capture_output=True, text=True, timeout=120
    )
    assert seen.stdout.strip() == "42", seen.stderr
    assert embedded.stop(home)
    assert not embedded.is_running(home)
    assert not embedded.stop(home)
    # Started again after a clean stop, the data is still there.
    with psycopg.connect(embedded.start(home)) as connection:
        assert connection.execute("SELECT value FROM kept").fetchone() == (42,)
    assert embedded.stop(home)
