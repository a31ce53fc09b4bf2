"""The ingest job queue's tables: procrastinate's own schema, from procrastinate's own files.

They live in a PostgreSQL schema of their own (`procrastinate`), apart from the registry's tables.
A new database gets the installed procrastinate's schema (its `schema.sql`, through migration
sql/0003_job_queue.py), and the procrastinate version it came from is recorded as the schema's
comment. After procrastinate is upgraded, `provreg db upgrade` applies the migration files
procrastinate ships for the versions in between, `pre` and `post` alike (procrastinate's upgrade
"with service interruption": stop `provreg serve` / `worker` first), and until then
`provreg db status` lists them as pending and the other commands refuse to run.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path
from typing import Any

from procrastinate.schema import SchemaManager

SCHEMA = "procrastinate"
MIGRATIONS = Path(SchemaManager.get_migrations_path())
# Databases made before the schema came from procrastinate itself hold a verbatim copy of
# procrastinate 3.10.0's schema.sql (the earlier sql/0003_job_queue.sql) and record no version.
COPIED_VERSION = (3, 10, 0)

Version = tuple[int, ...]


def _version(text: str) -> Version:
    """(3, 10, 0) from "3.10.0" or a migration file's "03.10.00_01_..." prefix."""
    found = re.match(r"\d+(?:\.\d+)*", text)
    if not found:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(part) for part in found.group(0).split("."))


def version_text(version: Version) -> str:
    return ".".join(map(str, version))


def installed_version() -> Version:
    return _version(importlib.metadata.version("procrastinate"))


def create(connection: Any) -> None:
    """Create the queue's schema with the installed procrastinate's schema.sql, in the caller's
    transaction (a DB-API connection, as yoyo gives a migration)."""
    cursor = connection.cursor()
    try:
        cursor.execute(f"CREATE SCHEMA {SCHEMA}")
        _in_queue_schema(cursor, SchemaManager.get_schema())
        _record(cursor, installed_version())
    finally:
        cursor.close()


def recorded_version(connection: Any) -> Version | None:
    """The procrastinate version the database's queue schema is at; None before it exists."""
    exists, comment = _comment(connection)
    if not exists:
        return None
    if comment is None:
        return COPIED_VERSION
    found = re.fullmatch(r"procrastinate (\S+)", comment)
    if not found:
        raise RuntimeError(f"the {SCHEMA} schema's comment does not name its version: {comment!r}")
    return _version(found.group(1))


def _comment(connection: Any) -> tuple[bool, str | None]:
    """Whether the queue's schema exists, and its comment."""
    cursor = connection.cursor()
    try:
        cursor.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s", (SCHEMA,)
        )
        row = cursor.fetchone()
    finally:
        cursor.close()
    return (False, None) if row is None else (True, row[0])


def pending(connection: Any) -> list[str]:
    """procrastinate's migration files the database's queue schema still needs, in order."""
    recorded = recorded_version(connection)
    if recorded is None:
        return []
    installed = installed_version()
    if recorded > installed:
        raise RuntimeError(
            f"the job queue's schema is from procrastinate {version_text(recorded)}, "
            f"newer than the installed {version_text(installed)}"
        )
    files = sorted(MIGRATIONS.glob("*.sql"), key=lambda path: (_version(path.name), path.name))
    return [path.name for path in files if recorded < _version(path.name) <= installed]


def upgrade(connection: Any) -> list[str]:
    """Apply the pending migration files and record the installed version, in the caller's
    transaction; returns the files applied."""
    names = pending(connection)
    exists, comment = _comment(connection)
    installed = installed_version()
    if not exists or (not names and comment == f"procrastinate {version_text(installed)}"):
        return names
    cursor = connection.cursor()
    try:
        for name in names:
            _in_queue_schema(cursor, (MIGRATIONS / name).read_text(encoding="utf-8"))
        _record(cursor, installed)
    finally:
        cursor.close()
    return names


def _in_queue_schema(cursor: Any, sql: str) -> None:
    """Run procrastinate's SQL (unqualified names) in the queue's schema, then restore the search path."""
    cursor.execute("SELECT current_setting('search_path')")
    (previous,) = cursor.fetchone()
    cursor.execute("SELECT set_config('search_path', %s, true)", (f"{SCHEMA}, public",))
    cursor.execute(sql)  # no parameters: psycopg sends it as it is, several statements at once
    cursor.execute("SELECT set_config('search_path', %s, true)", (previous,))


def _record(cursor: Any, version: Version) -> None:
    cursor.execute(f"COMMENT ON SCHEMA {SCHEMA} IS 'procrastinate {version_text(version)}'")
