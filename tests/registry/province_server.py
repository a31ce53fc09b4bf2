"""A small synthetic province on a PostgreSQL server of its own (an embedded pgserver instance the
tests treat as the province's primary), for the operations tests: backups, the standby, roles.

The registry is what an operator would compare after a restore or a fail-over: every table's row
count, the current links, and the audit log of patient reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from registry.access.audit import record_access
from registry.access.roles import Role
from registry.access.tokens import Principal, create_token
from registry.cli import app
from registry.db import embedded
from registry.db.sql import run
from tests.database import Database

PERSONS = 3000
NIGHTS = 3


@dataclass(frozen=True)
class Primary:
    home: Path  # PROVREG_HOME: the embedded server's data is in home/pgdata
    url: str
    nights: list[list[Path]]  # the province's files, night by night, none loaded yet


@contextmanager
def province_primary(folder: Path) -> Iterator[Primary]:
    """A PostgreSQL of its own in `folder`, migrated with `provreg db upgrade`, which provreg's
    commands use (PROVREG_HOME set, DATABASE_URL unset) until the block ends and the server stops."""
    home = folder / "primary"
    with pytest.MonkeyPatch.context() as env:
        env.delenv("DATABASE_URL", raising=False)
        env.setenv("PROVREG_HOME", str(home))
        url = embedded.start(home)
        try:
            nights = write_province(folder / "province")
            invoke("db", "upgrade")
            yield Primary(home, url, nights)
        finally:
            embedded.stop(home)


def write_province(folder: Path) -> list[list[Path]]:
    """A synthetic province's nightly files, night by night."""
    invoke(
        "synth", "--persons", str(PERSONS), "--facilities", "3", "--days", str(NIGHTS), "--out", str(folder)
    )
    return [sorted(night.iterdir()) for night in sorted((folder / "nights").iterdir())]


def invoke(*args: str) -> str:
    """A provreg command, in this process, with the environment as it is; its output, or it fails."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def load_night(files: list[Path]) -> None:
    """A night's files, each named by its facility (nights/DATE/CODE.ext) as a nightly job knows it."""
    for path in files:
        invoke("load", "--json", "--facility", path.stem, str(path))


def audited_reads(url: str, how_many: int) -> None:
    """Patient reads by a clinician, audited as the API audits them."""
    with Database(url).begin() as connection:
        issued = create_token(
            connection, name=f"doctor {uuid.uuid4().hex[:6]}", role=Role.CLINICIAN, created_by="test"
        )
        masters = connection.execute(
            "SELECT id FROM master_patient WHERE retired_at IS NULL ORDER BY random() LIMIT %(n)s",
            {"n": how_many},
        ).scalars()
        doctor = Principal(token_id=issued.id, name=issued.name, role=Role.CLINICIAN, facility_code=None)
        assert run(connection, record_access(doctor, list(masters), "patient", "care", uuid.uuid4().hex))


@dataclass(frozen=True)
class Registry:
    counts: dict[str, int]
    links: list[tuple[int, int]]
    audit: list[tuple[Any, ...]]


def registry_state(url: str) -> Registry:
    with psycopg.connect(url) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
        counts = {
            name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # type: ignore[index]
            for (name,) in tables
        }
        links = connection.execute(
            "SELECT source_patient_id, master_patient_id FROM patient_link WHERE superseded_at IS NULL ORDER BY 1"
        ).fetchall()
        audit = connection.execute(
            "SELECT id, accessed_at, actor, master_patient_id, operation, request_id FROM patient_access ORDER BY id"
        ).fetchall()
    return Registry(counts, links, audit)


def current_time(url: str) -> Any:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
