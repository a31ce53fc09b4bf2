"""The schema, its migrations and the embedded server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from registry.db import embedded, migrate, queue_schema


def test_schema_status_reports_pending_migrations_on_an_empty_database(empty_db_url: str) -> None:
    every = migrate.status(empty_db_url).pending
    assert every[0] == "0001_initial" and every == sorted(every)
    with pytest.raises(migrate.SchemaBehind, match="provreg db upgrade"):
        migrate.require_current(empty_db_url)
    assert migrate.upgrade(empty_db_url) == every
    assert migrate.status(empty_db_url).current
    migrate.require_current(empty_db_url)
    assert migrate.upgrade(empty_db_url) == []


QUEUE_TABLES = {
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
}


def _queue_comment(url: str) -> str | None:
    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT obj_description('procrastinate'::regnamespace, 'pg_namespace')"
        ).fetchone()[0]


def test_a_new_database_gets_the_job_queue_schema_from_the_installed_procrastinate(db_url: str) -> None:
    with psycopg.connect(db_url) as connection:
        tables = {
            name
            for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'procrastinate'"
            )
        }
        # Its functions are found through the queue's search path, not the registry's.
        assert connection.execute("SELECT to_regproc('procrastinate_fetch_job_v2')").fetchone() == (None,)
    assert tables >= QUEUE_TABLES
    installed = queue_schema.version_text(queue_schema.installed_version())
    assert _queue_comment(db_url) == f"procrastinate {installed}"
    assert migrate.status(db_url).applied[-1] == f"procrastinate {installed}"


def test_a_database_whose_queue_schema_was_copied_from_procrastinate_3_10_keeps_working(db_url: str) -> None:
    """Databases migrated before the schema came from procrastinate hold 3.10.0's, recording no version."""
    with psycopg.connect(db_url) as connection:
        connection.execute("COMMENT ON SCHEMA procrastinate IS NULL")
    found = migrate.status(db_url)
    assert found.current and found.applied[-1] == "procrastinate 3.10.0"
    assert migrate.upgrade(db_url) == []
    assert _queue_comment(db_url) == "procrastinate 3.10.0"


def test_procrastinates_migrations_for_a_newer_version_are_pending_until_upgrade(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "03.04.00_01_pre_already_in_the_schema.sql": "SELECT 1/0;",
        "03.11.00_01_pre_add_note.sql": "ALTER TABLE procrastinate_jobs ADD COLUMN note text;",
        "03.11.00_50_post_describe_note.sql": "COMMENT ON COLUMN procrastinate_jobs.note IS '50%';",
        "03.12.00_01_pre_not_installed_yet.sql": "SELECT 1/0;",
    }
    for name, sql in files.items():
        (tmp_path / name).write_text(sql, encoding="utf-8")
    monkeypatch.setattr(queue_schema, "MIGRATIONS", tmp_path)
    monkeypatch.setattr(queue_schema, "installed_version", lambda: (3, 11, 0))
    monkeypatch.setattr(queue_schema, "COPIED_VERSION", (3, 10, 0))
    with psycopg.connect(db_url) as connection:
        connection.execute("COMMENT ON SCHEMA procrastinate IS 'procrastinate 3.10.0'")

    expected = [
        "procrastinate/03.11.00_01_pre_add_note.sql",
        "procrastinate/03.11.00_50_post_describe_note.sql",
    ]
    assert migrate.status(db_url).pending == expected
    with pytest.raises(migrate.SchemaBehind, match="provreg db upgrade"):
        migrate.require_current(db_url)
    assert migrate.upgrade(db_url) == expected
    found = migrate.status(db_url)
    assert found.current and found.applied[-1] == "procrastinate 3.11.0"
    with psycopg.connect(db_url) as connection:
        assert connection.execute(
            "SELECT col_description('procrastinate.procrastinate_jobs'::regclass, attnum) FROM pg_attribute"
            " WHERE attrelid = 'procrastinate.procrastinate_jobs'::regclass AND attname = 'note'"
        ).fetchone() == ("50%",)
        # The registry's search path is as it was.
        assert connection.execute("SHOW search_path").fetchone()[0] == '"$user", public'


def test_a_queue_schema_newer_than_the_installed_procrastinate_is_refused(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_schema, "installed_version", lambda: (3, 9, 0))
    with pytest.raises(RuntimeError, match=r"newer than the installed 3\.9\.0"):
        migrate.status(db_url)


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
