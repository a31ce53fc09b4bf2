"""The audit of patient reads: who, in which role, which master patient, which operation, when, why.

Written before the data leaves the registry: if the audit cannot be written, nothing is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Connection, Row, Text, any_, bindparam, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.dml import ReturningInsert

from registry.access.tokens import Principal
from registry.db.access_models import PatientAccess
from registry.db.models import MasterPatient

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


def _record_access(read: ColumnElement[bool]) -> ReturningInsert[tuple[int]]:
    """The audit of a read of the master patients `read` selects that are not retired."""
    return (
        insert(PatientAccess)
        .from_select(
            ["token_id", "actor", "role", "master_patient_id", "operation", "purpose", "request_id"],
            select(
                bindparam("token_id", type_=BigInteger),
                bindparam("actor", type_=Text),
                bindparam("role", type_=Text),
                MasterPatient.id,
                bindparam("operation", type_=Text),
                bindparam("purpose", type_=Text),
                bindparam("request_id", type_=Text),
            )
            .where(read, MasterPatient.retired_at.is_(None))
            .order_by(MasterPatient.id),
        )
        .returning(PatientAccess.master_patient_id)
    )


RECORD_ACCESS = _record_access(MasterPatient.id == any_(bindparam("masters", type_=ARRAY(BigInteger))))


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
    connection: Connection,
    principal: Principal,
    master_patient_ids: Iterable[int],
    operation: str,
    purpose: str,
    request_id: str,
) -> set[int]:
    """Record the read of these master patients; returns those that exist and are not retired (only
    they are recorded, and only they may be read)."""
    values = access_record(principal, master_patient_ids, operation, purpose, request_id)
    if values is None:
        return set()
    return set(connection.execute(RECORD_ACCESS, values).scalars())


def access_log(
    connection: Connection, master_patient_id: int, before_id: int | None, limit: int
) -> Sequence[Row[Any]]:
    """A patient's access log, newest first: `limit` entries recorded before entry `before_id`."""
    query = select(PatientAccess.__table__).where(PatientAccess.master_patient_id == master_patient_id)
    if before_id is not None:
        query = query.where(PatientAccess.id < before_id)
    return connection.execute(query.order_by(PatientAccess.id.desc()).limit(limit)).all()


class IdentityChange(Protocol):
    """What a steward's change to identities did (registry/identity/): the identities it touched."""

    @property
    def master_ids(self) -> tuple[int, ...]: ...


C = TypeVar("C", bound=IdentityChange)


def audited_change(
    connection: Connection,
    principal: Principal,
    operation: str,
    purpose: str,
    request_id: str,
    change: Callable[Concatenate[Connection, P], C],
    *args: P.args,
    **kwargs: P.kwargs,
) -> tuple[C, set[int]]:
    """A steward's change and the audit of the identities it touched: both or neither (one savepoint).
    With the change, the identities audited: those it leaves active (only they may be shown)."""
    with connection.begin_nested():
        done = change(connection, *args, **kwargs)
        audited = record_access(connection, principal, done.master_ids, operation, purpose, request_id)
    return done, audited
