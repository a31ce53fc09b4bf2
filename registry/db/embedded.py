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
    return (home / PGDATA / "postmaster.pid").exists() and _pg_ctl(home, "status")


def stop(home: Path) -> bool:
    """Stop the embedded server cleanly (fast shutdown: sessions end, data is flushed). False if not running."""
    if not is_running(home):
        return False
    if not _pg_ctl(home, "-m", "fast", "-w", "stop"):
        raise RuntimeError(f"pg_ctl stop failed: see {home / PGDATA / 'log'}")
    return True


def _pgserver():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver
    return pgserver


def _pg_ctl(home: Path, *args: str) -> bool:
    """pgserver's pg_ctl wrapper; whether it succeeded (pg_ctl status fails when the server is down)."""
    # As root, pgserver runs the server as its own unprivileged user; pg_ctl must run as that user too.
    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    try:
        _pgserver().pg_ctl(list(args), pgdata=home / PGDATA, user=user)
    except subprocess.CalledProcessError:
        return False
    return True
