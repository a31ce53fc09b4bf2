"""Least privilege: the group role the application connects through, and what it may do.

`provreg db upgrade` runs as the schema's owner (PROVREG_OWNER_DATABASE_URL, else DATABASE_URL)
and ends by granting APP_ROLE, on every table the migrations made, what the application needs: it
reads and writes the registry and the job queue but owns nothing, so it cannot alter the schema,
and it cannot update, delete or truncate history: the audit of reads, the stewards' identity
events, links (superseded, never rewritten) and the versions of what facilities sent. Where it
completes a row it appended (a link's successor, an event's outcome) it is granted those columns
alone, and the tables' triggers allow that once (sql/0002, 0012, 0013): a trigger also holds for
the owner, whom grants do not bind. The login roles the application uses are members of APP_ROLE
(docs/operations.md, *Database roles*). A full re-link (`provreg match run`) rebuilds the
blocking-key index, dropping and building its indexes: an operator's command, it runs as the owner.
"""

from __future__ import annotations

from typing import Any

from registry.db import queue_schema

APP_ROLE = "provreg_app"

# The registry's history: appended to, never rewritten; with the columns the application completes.
APPEND_ONLY: dict[str, tuple[str, ...]] = {
    "patient_access": (),
    "identity_event": ("after", "master_patient_ids", "source_patient_ids"),
    "patient_link": ("superseded_at", "superseded_by"),
    "source_patient_version": (),
    "encounter_version": (),
}

_CREATE = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'the role {APP_ROLE} is missing and % may not create roles', current_user
            USING HINT = 'a superuser runs CREATE ROLE {APP_ROLE} NOLOGIN (docs/operations.md)';
    WHEN duplicate_object OR unique_violation THEN NULL;  -- made meanwhile by another upgrade
END $$
"""


def _grants() -> list[str]:
    schemas = f"public, {queue_schema.SCHEMA}"
    statements = [
        f"GRANT USAGE ON SCHEMA {schemas} TO {APP_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {schemas} TO {APP_ROLE}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schemas} TO {APP_ROLE}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schemas} TO {APP_ROLE}",
    ]
    for table, completed in APPEND_ONLY.items():
        statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {APP_ROLE}")
        if completed:
            statements.append(f"GRANT UPDATE ({', '.join(completed)}) ON {table} TO {APP_ROLE}")
    # The migrations' bookkeeping: read by every command (is the schema current?), written by upgrades.
    statements.append(
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock"
        f" FROM {APP_ROLE}"
    )
    return statements


def grant_application_role(connection: Any) -> None:
    """Create APP_ROLE when missing and grant it its privileges on everything the migrations made;
    run by every upgrade, in its transaction (a DB-API connection: yoyo's)."""
    cursor = connection.cursor()
    cursor.execute(_CREATE)
    for statement in _grants():
        cursor.execute(statement)
