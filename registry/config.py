"""Where provreg keeps its state, and what its ingest workers do: read from the environment once,
by the command that starts them, and passed on explicitly.

DATABASE_URL: any reachable PostgreSQL >= 15 (postgresql://user:pass@host/db); when unset,
provreg runs its own embedded PostgreSQL in $PROVREG_HOME/pgdata (default ./.provreg).
PROVREG_OWNER_DATABASE_URL: the same database as the schema's owner, for `provreg db upgrade`,
backups and standbys, when the application's DATABASE_URL is a least-privilege role
(registry/db/roles.py); when unset, DATABASE_URL does everything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

N = TypeVar("N", int, float)


def env_number(name: str, default: N) -> N:
    """The environment variable `name` read as the type of `default`, or `default` when unset."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return type(default)(raw)
    except ValueError:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise ValueError(f"{name} must be {kind}, not {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    home: Path
    owner_database_url: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            home=Path(os.environ.get("PROVREG_HOME", ".provreg")).resolve(),
            owner_database_url=os.environ.get("PROVREG_OWNER_DATABASE_URL") or None,
        )


@dataclass(frozen=True)
class IngestConfig:
    """What the ingest workers do, and what the servers expect of them (docs/api.md, *Ingest*)."""

    # Seconds between a worker's heartbeats; three missed and it counts as dead: its jobs are
    # taken back, and readiness no longer counts it.
    heartbeat_seconds: float = 10.0
    # Tries of one file, whether an attempt failed or its worker died holding it: a file that
    # kills its worker would otherwise kill every worker that takes it, forever.
    max_attempts: int = 3
    # A load running longer than this is reported (readiness, metrics) as stuck.
    job_time_limit_seconds: float = 3600.0
    # How long a received file stays in the inbox once its batch is final (for audit); 0: removed then.
    inbox_keep_seconds: float = 0.0

    @property
    def stalled_after(self) -> float:
        return self.heartbeat_seconds * 3

    @classmethod
    def from_env(cls) -> IngestConfig:
        defaults = cls()
        return cls(
            heartbeat_seconds=env_number("PROVREG_INGEST_HEARTBEAT_SECONDS", defaults.heartbeat_seconds),
            max_attempts=max(1, env_number("PROVREG_INGEST_MAX_ATTEMPTS", defaults.max_attempts)),
            job_time_limit_seconds=env_number(
                "PROVREG_INGEST_JOB_TIME_LIMIT_SECONDS", defaults.job_time_limit_seconds
            ),
            inbox_keep_seconds=env_number("PROVREG_INBOX_KEEP_SECONDS", defaults.inbox_keep_seconds),
        )
