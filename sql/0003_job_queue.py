"""The job queue of the ingest worker: procrastinate's own schema, from the installed procrastinate
(registry/db/queue_schema.py), in a PostgreSQL schema of its own so the registry's tables stay apart
from the library's. provreg's connections to the queue put `procrastinate` first on their search_path.
procrastinate's later migrations are applied by `provreg db upgrade` after these (queue_schema.upgrade).
"""

from yoyo import step

from registry.db import queue_schema

__depends__ = {"0002_access"}

steps = [step(queue_schema.create, f"DROP SCHEMA {queue_schema.SCHEMA} CASCADE")]
