"""A steward's identity work: move a source record to another master identity, or give it one of its own.

A steward's decision is a link like any other (superseding, never rewriting, the current one),
made with method 'steward', which the automatic linking never changes (registry/linking.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from registry.db.models import MasterPatient, PatientLink, SourcePatient


class StewardshipError(ValueError):
    """The decision cannot be made as asked (unknown record or identity, nothing to change)."""


@dataclass(frozen=True)
class Relinked:
    link_id: int
    source_patient_id: int
    previous_master_id: int | None
    master_patient_id: int


def relink(
    connection: Connection, source_patient_id: int, master_patient_id: int | None, steward: str, reason: str
) -> Relinked:
    """Link the source record to `master_patient_id`, or to a new identity of its own when None."""
    if (
        connection.execute(select(SourcePatient.id).where(SourcePatient.id == source_patient_id)).scalar()
        is None
    ):
        raise StewardshipError("no such source record")
    current = connection.execute(
        select(PatientLink.id, PatientLink.master_patient_id)
        .where(PatientLink.source_patient_id == source_patient_id, PatientLink.superseded_at.is_(None))
        .with_for_update()
    ).one_or_none()
    if master_patient_id is None:
        master_patient_id = connection.execute(
            insert(MasterPatient)
            .values(founded_by_source_patient_id=source_patient_id)
            .returning(MasterPatient.id)
        ).scalar_one()
    elif (
        connection.execute(select(MasterPatient.id).where(MasterPatient.id == master_patient_id)).scalar()
        is None
    ):
        raise StewardshipError("no such patient")
    if current is not None and current.master_patient_id == master_patient_id:
        raise StewardshipError("the record is already linked to that patient")
    if current is not None:
        # Superseded first: only one current link per source record (unique index patient_link_current).
        connection.execute(
            update(PatientLink).where(PatientLink.id == current.id).values(superseded_at=func.now())
        )
    link_id = connection.execute(
        insert(PatientLink)
        .values(
            source_patient_id=source_patient_id,
            master_patient_id=master_patient_id,
            method="steward",
            decided_by=steward,
            explanation={"reason": reason},
        )
        .returning(PatientLink.id)
    ).scalar_one()
    if current is not None:
        connection.execute(
            update(PatientLink).where(PatientLink.id == current.id).values(superseded_by=link_id)
        )
    return Relinked(
        link_id, source_patient_id, current.master_patient_id if current else None, master_patient_id
    )
