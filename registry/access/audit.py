"""The audit of patient reads: who, in which role, which master patient, which operation, when, why.

Written before the data leaves the registry: if the audit cannot be written, nothing is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import psycopg

from registry.access.tokens import Principal
from registry.db.sql import Query, Steps, run, values

MAX_PURPOSE_CHARS = 200
P = ParamSpec("P")


class PurposeRequired(ValueError):
    """A patient read without a stated purpose, or with an unusable one."""


def checked_purpose(purpose: str | None) -> str:
    """The stated purpose, trimmed; refused when missing, too long or holding control characters."""
    stated = (purpose or "").strip()
    if not stated:
        raise PurposeRequired("state the purpose of this read (X-Purpose header or `purpose` argument)")
    if len(stated) > MAX_PURPOSE_CHARS or not stated.isprintable():
        raise PurposeRequired(f"the purpose must be printable text of at most {MAX_PURPOSE_CHARS} characters")
    return stated


# The audit of a read of the master patients `masters` that are not retired; returns those recorded.
# The array is read through a scalar subquery so that PostgreSQL plans the statement alike whatever
# its length: it keeps one plan per connection (a generic plan) instead of planning it again at every
# read, as it would for an array it can see (bench/README.md).
RECORD_ACCESS = """
INSERT INTO patient_access (token_id, actor, role, master_patient_id, operation, purpose, request_id)
SELECT %(token_id)s::bigint, %(actor)s::text, %(role)s::text, m.id, %(operation)s::text, %(purpose)s::text,
       %(request_id)s::text
FROM master_patient m
WHERE m.id = ANY((SELECT %(masters)s::bigint[])::bigint[]) AND m.retired_at IS NULL
ORDER BY m.id
RETURNING master_patient_id
"""


def access_record(
    principal: Principal,
    master_patient_ids: Iterable[int],
    operation: str,
    purpose: str,
    request_id: str,
) -> dict[str, Any] | None:
    """The values of RECORD_ACCESS for this read, or None when it reads nobody."""
    wanted = sorted(set(master_patient_ids))
    if not wanted:
        return None
    return {
        "token_id": principal.token_id,
        "actor": principal.name,
        "role": principal.role.value,
        "operation": operation,
        "purpose": purpose,
        "request_id": request_id,
        "masters": wanted,
    }


def record_access(
    principal: Principal,
    master_patient_ids: Iterable[int],
    operation: str,
    purpose: str,
    request_id: str,
) -> Steps[set[int]]:
    """Record the read of these master patients; returns those that exist and are not retired (only
    they are recorded, and only they may be read)."""
    params = access_record(principal, master_patient_ids, operation, purpose, request_id)
    if params is None:
        return set()
    return set((yield Query(RECORD_ACCESS, params, values)))


def access_log(master_patient_id: int, before_id: int | None, limit: int) -> Query[list[Any]]:
    """A patient's access log, newest first: `limit` entries recorded before entry `before_id`."""
    return Query(
        "SELECT * FROM patient_access WHERE master_patient_id = %(master)s"
        " AND (%(before)s::bigint IS NULL OR id < %(before)s) ORDER BY id DESC LIMIT %(limit)s",
        {"master": master_patient_id, "before": before_id, "limit": limit},
    )


class IdentityChange(Protocol):
    """What a steward's change to identities did (registry/identity/): the identities it touched."""

    @property
    def master_ids(self) -> tuple[int, ...]: ...


C = TypeVar("C", bound=IdentityChange)


def audited_change(
    connection: psycopg.Connection[Any],
    principal: Principal,
    operation: str,
    purpose: str,
    request_id: str,
    change: Callable[Concatenate[psycopg.Connection[Any], P], C],
    *args: P.args,
    **kwargs: P.kwargs,
) -> tuple[C, set[int]]:
    """A steward's change and the audit of the identities it touched: both or neither (one savepoint).
    With the change, the identities audited: those it leaves active (only they may be shown)."""
    with connection.transaction():
        done = change(connection, *args, **kwargs)
        audited = run(connection, record_access(principal, done.master_ids, operation, purpose, request_id))
    return done, audited
