"""A standby that takes over: a second PostgreSQL that streams the primary's WAL as it is written
(physical streaming replication through a replication slot), answers reads while it follows, and
is promoted to take writes when the primary is lost.

Made by pg_basebackup --write-recovery-conf from the primary, as any PostgreSQL standby is; these
functions run it with pgserver's binaries (the embedded set-up, and the tests). With the primary
asking for it by name (synchronous_standby_names), a commit returns only once the standby has
flushed it: no acknowledged load or audit row is lost when the primary is (docs/operations.md,
*A standby that takes over*).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from registry.db import embedded

NAME = "provreg_standby"  # its application_name and replication slot on the primary


class StandbyError(RuntimeError):
    """A standby that could not be made, started or promoted; the message says why."""


def create(primary_url: str, pgdata: Path, name: str = NAME) -> None:
    """Copy the primary into `pgdata` (new) as a standby of it: a base backup, a replication slot
    `name` on the primary (its WAL kept until the standby has it) and the connection back to it."""
    if pgdata.exists() and any(pgdata.iterdir()):
        raise StandbyError(f"{pgdata} is not empty: a standby is made into a new data directory")
    command = [
        embedded.program("pg_basebackup"), "-d", make_conninfo(primary_url, application_name=name),
        "-D", str(pgdata), "--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast",
        "--slot", name, "--create-slot",
    ]  # fmt: skip
    made = subprocess.run(command, capture_output=True, text=True)
    if made.returncode != 0:
        raise StandbyError(made.stderr.strip())
    # The embedded primary's socket lock files come with the copy (its sockets live in its data
    # directory); the standby's own would collide with them.
    for lock in pgdata.glob(".s.PGSQL.*.lock"):
        lock.unlink()
    pgdata.chmod(0o700)
    if user := embedded.server_user():
        for path in (pgdata, *pgdata.rglob("*")):
            shutil.chown(path, user, user)


def start(pgdata: Path, timeout_seconds: float = 120) -> str:
    """Start the standby on `pgdata`; returns its URI (read-only until promoted)."""
    return embedded.start_data_directory(pgdata, timeout_seconds)


def promote(pgdata: Path, timeout_seconds: float = 60) -> None:
    """Make the standby the primary: it stops following, finishes replaying what it received, and
    takes writes (a new timeline). The old primary must not come back as a primary beside it."""
    if not embedded.pg_ctl(pgdata, "-w", "-t", str(int(timeout_seconds)), "promote"):
        raise StandbyError(f"the standby on {pgdata} could not be promoted: see {pgdata / 'log'}")


def require_synchronous(primary_url: str, name: str = NAME) -> None:
    """Make every commit on the primary wait until the standby `name` has flushed it."""
    _set_synchronous_names(primary_url, name)


def allow_asynchronous(primary_url: str) -> None:
    """Commits no longer wait for any standby (while it is down: commits would wait for ever)."""
    _set_synchronous_names(primary_url, "")


def _set_synchronous_names(primary_url: str, names: str) -> None:
    with psycopg.connect(primary_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(sql.Literal(names))
        )
        connection.execute("SELECT pg_reload_conf()")


@dataclass(frozen=True)
class Replication:
    """One standby as the primary sees it (pg_stat_replication)."""

    name: str
    state: str  # streaming once caught up
    sync_state: str  # sync: commits wait for it; async: they do not
    replay_lag_bytes: int  # WAL written on the primary and not yet replayed by the standby
    replay_lag_seconds: float | None  # how long ago the last replayed commit was made on the primary


def replication(primary_url: str) -> list[Replication]:
    with psycopg.connect(primary_url) as connection:
        rows = connection.execute(
            "SELECT application_name, state, sync_state,"
            " coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint,"
            " extract(epoch FROM replay_lag)::float8"
            " FROM pg_stat_replication WHERE application_name <> 'pg_receivewal' ORDER BY 1"
        ).fetchall()
    return [Replication(*row) for row in rows]


def wait_until_streaming(primary_url: str, name: str = NAME, timeout_seconds: float = 60) -> Replication:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        found = [standby for standby in replication(primary_url) if standby.name == name]
        if found and found[0].state == "streaming":
            return found[0]
        time.sleep(0.2)
    raise StandbyError(f"the standby {name} is not streaming from the primary")
