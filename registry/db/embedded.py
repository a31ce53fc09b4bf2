"""The embedded PostgreSQL server: pgserver's binaries, a data directory under PROVREG_HOME.

The server outlives the provreg process that started it (later commands reuse it) and is
stopped explicitly with `provreg db stop`; a server left by a dead process is reused, and
one stopped uncleanly (kill -9, power loss) recovers from its WAL on the next start.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from functools import cache
from pathlib import Path

PGDATA = "pgdata"

# pgserver logs every failed pg_ctl call (such as `status` on a stopped server) as an error.
logging.getLogger("pgserver").setLevel(logging.CRITICAL)


def start(home: Path) -> str:
    """Start (or reuse) the embedded server and return a libpq connection URI."""
    home.mkdir(parents=True, exist_ok=True)
    # Not stopped when this process exits (cleanup_mode=None): later commands reuse it.
    server = _pgserver().get_server(home / PGDATA, cleanup_mode=None)
    if not is_running(home):
        # pgserver caches one handle per data directory; after `stop` it must be started again.
        server.ensure_postgres_running()
    return server.get_uri()


def is_running(home: Path) -> bool:
    return (home / PGDATA / "postmaster.pid").exists() and pg_ctl(home / PGDATA, "status")


def stop(home: Path) -> bool:
    """Stop the embedded server cleanly (fast shutdown: sessions end, data is flushed). False if not running."""
    if not is_running(home):
        return False
    if not pg_ctl(home / PGDATA, "-m", "fast", "-w", "stop"):
        raise RuntimeError(f"pg_ctl stop failed: see {home / PGDATA / 'log'}")
    return True


@cache
def program(name: str) -> str:
    """The path of one of the PostgreSQL programs pgserver ships (pg_basebackup, pg_ctl, ...)."""
    return str(Path(_pgserver().pg_config(["--bindir"]).strip()) / name)


def server_user() -> str | None:
    """The system user the server runs as: pgserver's own unprivileged one when provreg runs as root
    (files the server reads must be theirs), else None (this process's user)."""
    return "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def start_recovering(home: Path, timeout_seconds: float) -> str:
    """Start the embedded server on a data directory that has WAL to replay first (a restored
    backup) and return its URI. pgserver gives a start 10 seconds, too short for a long replay."""
    start_data_directory(home / PGDATA, timeout_seconds)
    return start(home)


def start_data_directory(pgdata: Path, timeout_seconds: float) -> str:
    """Start a server of pgserver's binaries on `pgdata` (a restored backup, a standby) as pgserver
    starts its own: no TCP, its socket in the data directory (whose path must be short enough for
    one); waits for it to take connections and returns its URI (user postgres, database postgres)."""
    if not pg_ctl(pgdata, "-w", "-t", str(int(timeout_seconds)), "-l", str(pgdata / "log"),
                  "-o", '-h ""', "-o", f"-k {pgdata}", "start"):  # fmt: skip
        raise RuntimeError(f"the server on {pgdata} did not start: see {pgdata / 'log'}")
    return f"postgresql://postgres:@/postgres?host={pgdata}"


def _pgserver():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver
    return pgserver


def pg_ctl(pgdata: Path, *args: str) -> bool:
    """pgserver's pg_ctl on a data directory; whether it succeeded (`status` fails when the server is down)."""
    # As root, pgserver runs the server as its own unprivileged user; pg_ctl must run as that user too.
    try:
        _pgserver().pg_ctl(list(args), pgdata=pgdata, user=server_user())
    except subprocess.CalledProcessError:
        return False
    return True
