"""Typed SQLAlchemy models of the schema that sql/ migrations create (a test keeps the two in step).

Bulk paths (ingest, linking) use set-based SQL on these tables; the models serve queries.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Computed, Identity, SmallInteger, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        int: BigInteger,
        str: Text,
        datetime: TIMESTAMP(timezone=True),
        dict[str, Any]: JSONB,
        list[str]: ARRAY(Text),
    }


def _id() -> Mapped[int]:
    return mapped_column(BigInteger, Identity(always=True), primary_key=True)


def _local_time() -> Any:
    # Times from facility files are local wall-clock times without a zone.
    return mapped_column(TIMESTAMP(timezone=False), nullable=True)


class Facility(Base):
    __tablename__ = "facility"
    code: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    kind: Mapped[str]
    created_at: Mapped[datetime]


class IngestBatch(Base):
    __tablename__ = "ingest_batch"
    id: Mapped[int] = _id()
    facility_code: Mapped[str | None]
    channel: Mapped[str]
    submitted_by: Mapped[str]
    filename: Mapped[str | None]
    content_sha256: Mapped[str]
    size_bytes: Mapped[int]
    format: Mapped[str | None]
    status: Mapped[str]
    error: Mapped[str | None]
    records_in: Mapped[int]
    loaded: Mapped[int]
    updated: Mapped[int]
    unchanged: Mapped[int]
    rejected: Mapped[int]
    skipped_tables: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    extract_date: Mapped[date | None]
    declared_count: Mapped[int | None]
    visits: Mapped[int]
    visits_with_citizen_id: Mapped[int]


class IngestReject(Base):
    __tablename__ = "ingest_reject"
    batch_id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    locator: Mapped[str]
    reason: Mapped[str]
    excerpt: Mapped[str]
    local_id: Mapped[str | None]
    encounter_key: Mapped[str | None]


class IngestFlag(Base):
    __tablename__ = "ingest_flag"
    batch_id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    ordinal: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    field: Mapped[str]
    identifier: Mapped[str | None]
    kind: Mapped[str]
    reason: Mapped[str]
    local_id: Mapped[str | None]
    encounter_key: Mapped[str | None]


class SourcePatient(Base):
    __tablename__ = "source_patient"
    id: Mapped[int] = _id()
    facility_code: Mapped[str]
    local_id: Mapped[str]
    full_name: Mapped[str]
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    birth_month: Mapped[int | None] = mapped_column(SmallInteger)
    birth_day: Mapped[int | None] = mapped_column(SmallInteger)
    sex: Mapped[int | None] = mapped_column(SmallInteger)
    citizen_id: Mapped[str | None]
    old_id_number: Mapped[str | None]
    passport_number: Mapped[str | None]
    insurance_cards: Mapped[list[str]]
    social_insurance_number: Mapped[str | None]
    phone: Mapped[str | None]
    address_text: Mapped[str | None]
    province_code: Mapped[str | None]
    district_code: Mapped[str | None]
    commune_code: Mapped[str | None]
    nationality_code: Mapped[str | None]
    ethnicity_code: Mapped[str | None]
    occupation_code: Mapped[str | None]
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    content_sha256: Mapped[str]
    version: Mapped[int]
    first_batch_id: Mapped[int]
    last_batch_id: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SourcePatientVersion(Base):
    __tablename__ = "source_patient_version"
    source_patient_id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int]
    demographics: Mapped[dict[str, Any]]
    content_sha256: Mapped[str]
    recorded_at: Mapped[datetime]


class MasterPatient(Base):
    __tablename__ = "master_patient"
    id: Mapped[int] = _id()
    citizen_id: Mapped[str | None]
    founded_by_source_patient_id: Mapped[int | None]
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]  # left without records (sql/0005_retired_identities.sql)
    merged_into: Mapped[int | None]


class RetiredIdentityRecord(Base):
    """The records a retired identity held when it was left without any (sql/0012)."""

    __tablename__ = "retired_identity_record"
    master_patient_id: Mapped[int] = mapped_column(primary_key=True)
    source_patient_id: Mapped[int] = mapped_column(primary_key=True)


class IdentityEvent(Base):
    """A steward's change to identities, with the identities before and after (sql/0012)."""

    __tablename__ = "identity_event"
    id: Mapped[int] = _id()
    kind: Mapped[str]
    actor: Mapped[str]
    reason: Mapped[str]
    occurred_at: Mapped[datetime]
    master_patient_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    source_patient_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    review_id: Mapped[int | None]
    undoes_event_id: Mapped[int | None]
    citizen_id_override: Mapped[bool]
    before: Mapped[dict[str, Any]]
    after: Mapped[dict[str, Any] | None]


class PatientLink(Base):
    __tablename__ = "patient_link"
    id: Mapped[int] = _id()
    source_patient_id: Mapped[int]
    master_patient_id: Mapped[int]
    method: Mapped[str]
    score: Mapped[float | None]
    explanation: Mapped[dict[str, Any] | None]
    decided_by: Mapped[str]
    batch_id: Mapped[int | None]
    created_at: Mapped[datetime]
    superseded_at: Mapped[datetime | None]
    superseded_by: Mapped[int | None]
    event_id: Mapped[int | None]  # the steward's change that wrote it (sql/0012); None: the engine's


class Encounter(Base):
    __tablename__ = "encounter"
    id: Mapped[int] = _id()
    facility_code: Mapped[str]
    encounter_key: Mapped[str]
    source_patient_id: Mapped[int]
    record_number: Mapped[str | None]
    visit_type: Mapped[str | None]
    admitted_at: Mapped[datetime | None] = _local_time()
    inpatient_at: Mapped[datetime | None] = _local_time()
    discharged_at: Mapped[datetime | None] = _local_time()
    departments: Mapped[list[str]]
    outcome: Mapped[int | None] = mapped_column(SmallInteger)
    discharge_type: Mapped[int | None] = mapped_column(SmallInteger)
    referred_from: Mapped[str | None]
    referred_to: Mapped[str | None]
    referral_paper: Mapped[str | None]
    admission_diagnosis_text: Mapped[str | None]
    discharge_diagnosis_text: Mapped[str | None]
    procedures: Mapped[list[str]]
    content_sha256: Mapped[str]
    version: Mapped[int]
    first_batch_id: Mapped[int]
    last_batch_id: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EncounterVersion(Base):
    __tablename__ = "encounter_version"
    encounter_id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int]
    record: Mapped[dict[str, Any]]
    content_sha256: Mapped[str]
    recorded_at: Mapped[datetime]


class _EncounterChild:
    """Rows that belong to one encounter, ordered as the facility sent them."""

    encounter_id: Mapped[int] = mapped_column(primary_key=True)
    source_patient_id: Mapped[int]
    ordinal: Mapped[int] = mapped_column(primary_key=True)


class Diagnosis(_EncounterChild, Base):
    __tablename__ = "diagnosis"
    ordinal: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    code: Mapped[str]
    is_main: Mapped[bool]
    text: Mapped[str | None]


class Medication(_EncounterChild, Base):
    __tablename__ = "medication"
    code: Mapped[str | None]
    name: Mapped[str | None]
    strength: Mapped[str | None]
    dosage: Mapped[str | None]
    route: Mapped[str | None]
    quantity: Mapped[Decimal | None]
    unit: Mapped[str | None]
    ordered_at: Mapped[datetime | None] = _local_time()
    performed_at: Mapped[datetime | None] = _local_time()


class Service(_EncounterChild, Base):
    __tablename__ = "service"
    code: Mapped[str | None]
    supply_code: Mapped[str | None]
    name: Mapped[str | None]
    quantity: Mapped[Decimal | None]
    ordered_at: Mapped[datetime | None] = _local_time()
    performed_at: Mapped[datetime | None] = _local_time()
    result_at: Mapped[datetime | None] = _local_time()


class LabResult(_EncounterChild, Base):
    __tablename__ = "lab_result"
    service_code: Mapped[str | None]
    code: Mapped[str | None]
    name: Mapped[str | None]
    value: Mapped[str | None]
    unit: Mapped[str | None]
    description: Mapped[str | None]
    conclusion: Mapped[str | None]
    result_at: Mapped[datetime | None] = _local_time()


class ProgressNote(_EncounterChild, Base):
    __tablename__ = "progress_note"
    text: Mapped[str | None]
    stage: Mapped[str | None]
    consultation: Mapped[str | None]
    surgery: Mapped[str | None]
    recorded_at: Mapped[datetime | None] = _local_time()
    author: Mapped[str | None]


class BlockingKey(Base):
    __tablename__ = "blocking_key"
    kind: Mapped[str] = mapped_column(Text(collation="C"), primary_key=True)  # sql/0006: byte for byte
    value: Mapped[str] = mapped_column(Text(collation="C"), primary_key=True)
    source_patient_id: Mapped[int] = mapped_column(primary_key=True)


class MatchReview(Base):
    __tablename__ = "match_review"
    id: Mapped[int] = _id()
    source_patient_id: Mapped[int]
    candidate_source_patient_id: Mapped[int]
    weight: Mapped[float]
    probability: Mapped[float]
    reason: Mapped[str]
    explanation: Mapped[dict[str, Any]]
    status: Mapped[str]
    created_at: Mapped[datetime]
    decided_by: Mapped[str | None]
    decided_at: Mapped[datetime | None]
    # The pair, smaller id first, computed by the database: one item per pair (sql/0011).
    left_source_patient_id: Mapped[int] = mapped_column(
        Computed("least(source_patient_id, candidate_source_patient_id)")
    )
    right_source_patient_id: Mapped[int] = mapped_column(
        Computed("greatest(source_patient_id, candidate_source_patient_id)")
    )


class MatchReviewDuplicate(Base):
    """A reversed duplicate item removed when pairs became unique, kept whole (sql/0011)."""

    __tablename__ = "match_review_duplicate"
    id: Mapped[int] = mapped_column(primary_key=True)
    kept_review_id: Mapped[int]
    item: Mapped[dict[str, Any]]
    removed_at: Mapped[datetime]


class MatchConstraint(Base):
    __tablename__ = "match_constraint"
    left_source_patient_id: Mapped[int] = mapped_column(primary_key=True)
    right_source_patient_id: Mapped[int] = mapped_column(primary_key=True)
    same_person: Mapped[bool]
    decided_by: Mapped[str]
    decided_at: Mapped[datetime]


class MatchModel(Base):
    __tablename__ = "match_model"
    id: Mapped[int] = _id()
    model_version: Mapped[str]
    parameters: Mapped[dict[str, Any]]
    created_by: Mapped[str]
    created_at: Mapped[datetime]
    active: Mapped[bool]


class Icd10Catalogue(Base):
    """ICD-10 titles: the WHO's and the province's (registry/codes/icd10.py)."""

    __tablename__ = "icd10_catalogue"
    catalogue: Mapped[str] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(primary_key=True)
    title: Mapped[str]
    chapter: Mapped[str | None]
    source: Mapped[str]
    loaded_at: Mapped[datetime]
