"""Schema migrations: the versioned files in sql/, applied by yoyo-migrations, then the job queue's
own migrations from procrastinate (registry/db/queue_schema.py)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from yoyo import get_backend, read_migrations

from registry.db import queue_schema, roles

# sql/ beside the packages in a checkout (and an editable install); a wheel installs the same
# files as data under the environment's prefix (pyproject.toml, [tool.setuptools.data-files]).
CHECKOUT_MIGRATIONS = Path(__file__).resolve().parents[2] / "sql"
INSTALLED_MIGRATIONS = Path(sys.prefix) / "share" / "provreg" / "sql"


def migrations_dir() -> Path:
    for folder in (CHECKOUT_MIGRATIONS, INSTALLED_MIGRATIONS):
        if (folder / "0001_initial.sql").is_file():
            return folder
    raise FileNotFoundError(
        f"provreg's migrations are in neither {CHECKOUT_MIGRATIONS} nor {INSTALLED_MIGRATIONS}"
    )


class SchemaBehind(RuntimeError):
    """The database lacks migrations this version of provreg needs."""


@dataclass(frozen=True)
class SchemaStatus:
    applied: list[str]
    pending: list[str]

    @property
    def current(self) -> bool:
        return not self.pending


def _backend(url: str):
    # yoyo chooses its driver by the URI's scheme.
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in ("postgresql", "postgres"):
        raise ValueError("the database URL must be a postgresql:// URI")
    return get_backend(f"postgresql+psycopg://{rest}")


def status(url: str) -> SchemaStatus:
    migrations = read_migrations(str(migrations_dir()))
    with _backend(url) as backend:
        pending_ids = [m.id for m in backend.to_apply(migrations)]
        queue_pending = queue_schema.pending(backend.connection)
        queue_version = queue_schema.recorded_version(backend.connection)
    # The job queue's schema is listed last as the procrastinate version it is at.
    queue = [f"{queue_schema.SCHEMA} {queue_schema.version_text(queue_version)}"] if queue_version else []
    return SchemaStatus(
        applied=[m.id for m in migrations if m.id not in pending_ids] + queue,
        pending=pending_ids + [f"{queue_schema.SCHEMA}/{name}" for name in queue_pending],
    )


def upgrade(url: str) -> list[str]:
    """Apply every pending migration, each in its own transaction, then procrastinate's own for the
    job queue and the application role's grants on what they made (one transaction); returns what
    was applied. `url` connects as the schema's owner."""
    migrations = read_migrations(str(migrations_dir()))
    with _backend(url) as backend, backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
        with backend.transaction():
            queue_applied = queue_schema.upgrade(backend.connection)
            roles.grant_application_role(backend.connection)
    return [m.id for m in pending] + [f"{queue_schema.SCHEMA}/{name}" for name in queue_applied]


def require_current(url: str) -> None:
    found = status(url)
    if not found.current:
        raise SchemaBehind(
            f"the database schema is behind: {len(found.pending)} migration(s) pending "
            f"({', '.join(found.pending)}). Run `provreg db upgrade` first."
        )
