"""The registry's reads, shared by the API and the command line: one statement per kind of row,
batched over many keys (the API's DataLoaders call these).

Every function takes a SQLAlchemy `Connection` (the API runs them through
registry/api/database.py, the CLI on an engine's connection). A master patient's rows are found
through its current links, so a merge or split of identities shows at once and moves no clinical
data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Row,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from registry.access.audit import RECORD_ACCESS
from registry.db.models import (
    Diagnosis,
    Encounter,
    Facility,
    IngestBatch,
    IngestReject,
    LabResult,
    MasterPatient,
    Medication,
    PatientLink,
    ProgressNote,
    Service,
    SourcePatient,
)
from registry.identity.master_ids import answer_for

_NO_TIME = datetime(1, 1, 1)


def _linked_to(master_id: int, source_patient_id: Any) -> ColumnElement[bool]:
    """The rows of source patients currently linked to this master patient."""
    current = (
        select(PatientLink.source_patient_id)
        .where(PatientLink.master_patient_id == master_id, PatientLink.superseded_at.is_(None))
        .scalar_subquery()
    )
    return source_patient_id.in_(current)


def grouped(rows: Iterable[Row[Any]], key: str) -> dict[Any, list[Row[Any]]]:
    groups: dict[Any, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, key)].append(row)
    return groups


def surviving_master(connection: Connection, master_id: int) -> int | None:
    """The active identity a master id is read as: itself while active; once retired, the one
    identity its records are all in now (`master_ids.answer_for`). None when it never existed, or
    when its records went to several identities: `answer_for` then names them all, and the caller
    says so rather than picking one."""
    answer = answer_for(connection, master_id)
    if answer is None:
        return None
    return master_id if answer.active else answer.moved_to


def master_of_citizen(connection: Connection, citizen_id: str) -> int | None:
    """The master identity holding this citizen ID, or the one its source records are linked to."""
    return connection.execute(
        select(MasterPatient.id)
        .where(MasterPatient.citizen_id == citizen_id)
        .union_all(
            select(PatientLink.master_patient_id)
            .join(SourcePatient, SourcePatient.id == PatientLink.source_patient_id)
            .where(SourcePatient.citizen_id == citizen_id, PatientLink.superseded_at.is_(None))
        )
        .limit(1)
    ).scalar()


# A source patient with its current link.
_SOURCE_COLUMNS = (
    SourcePatient.__table__,
    PatientLink.master_patient_id,
    PatientLink.id.label("link_id"),
    PatientLink.method.label("link_method"),
    PatientLink.score.label("link_score"),
    PatientLink.decided_by.label("link_decided_by"),
    PatientLink.batch_id.label("link_batch_id"),
    PatientLink.created_at.label("linked_at"),
    PatientLink.explanation.label("link_explanation"),
)

# Each master's source patients with their current link, oldest first (group them with `grouped`).
SOURCES_OF_MASTERS = (
    select(*_SOURCE_COLUMNS)
    .join(PatientLink, PatientLink.source_patient_id == SourcePatient.id)
    .where(
        PatientLink.master_patient_id == any_(bindparam("masters", type_=ARRAY(BigInteger))),
        PatientLink.superseded_at.is_(None),
    )
    .order_by(SourcePatient.id)
)


# The audit of a read (an access record's values) and the read masters' source patients, in one
# statement, as a patient read needs both: a row per source patient of each audited master (one row
# of nulls for a master without any), oldest first; `audited` names the master.
_AUDITED = RECORD_ACCESS.cte("audited")
AUDITED_SOURCES = (
    select(_AUDITED.c.master_patient_id.label("audited"), *_SOURCE_COLUMNS)
    .select_from(_AUDITED)
    .outerjoin(
        PatientLink,
        and_(
            PatientLink.master_patient_id == _AUDITED.c.master_patient_id,
            PatientLink.superseded_at.is_(None),
        ),
    )
    .outerjoin(SourcePatient, SourcePatient.id == PatientLink.source_patient_id)
    .order_by(_AUDITED.c.master_patient_id, SourcePatient.id)
)


def link_histories(connection: Connection, source_patient_ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    """Every link each source patient ever had, newest first (superseded ones included)."""
    rows = connection.execute(
        select(PatientLink.__table__)
        .where(PatientLink.source_patient_id.in_(source_patient_ids))
        .order_by(PatientLink.id.desc())
    )
    return grouped(rows, "source_patient_id")


@dataclass(frozen=True)
class EncounterFilter:
    admitted_from: date | None = None
    admitted_to: date | None = None
    facility_codes: tuple[str, ...] = ()
    visit_types: tuple[str, ...] = ()


@lru_cache(maxsize=256)
def _encounter_page_statement(
    written: tuple[str, ...], since: bool, until: bool, facilities: bool, visit_types: bool, after: bool
) -> Select[Any]:
    """The page's statement for one shape of request, built once; the values are bound parameters."""
    admitted = func.coalesce(Encounter.admitted_at, literal_column(f"timestamp '{_NO_TIME.isoformat()}'"))
    query = select(*_encounter_columns(written)).where(
        _linked_to(bindparam("master_id"), Encounter.source_patient_id)
    )
    if since:
        query = query.where(Encounter.admitted_at >= bindparam("since"))
    if until:
        query = query.where(Encounter.admitted_at < bindparam("until"))
    if facilities:
        query = query.where(Encounter.facility_code == any_(bindparam("facility_codes", type_=ARRAY(Text))))
    if visit_types:
        query = query.where(Encounter.visit_type == any_(bindparam("visit_types", type_=ARRAY(Text))))
    if after:
        query = query.where(
            tuple_(admitted, Encounter.id) < tuple_(bindparam("after_time"), bindparam("after_id"))
        )
    return query.order_by(admitted.desc(), Encounter.id.desc()).limit(bindparam("limit"))


def _encounter_columns(written: tuple[str, ...]) -> list[Any]:
    """An encounter row's columns; or, given SQL expressions over the `encounter` row (its JSON as
    an operation selects it, registry/api/graphql/encounters.py), each of them (`written0`,
    `written1`, ...) followed by the encounter's id, admission time and facility codes."""
    if not written:
        return [Encounter.__table__]
    return [
        *(literal_column(sql).label(f"written{i}") for i, sql in enumerate(written)),
        Encounter.id,
        Encounter.admitted_at,
        Encounter.facility_code,
        Encounter.referred_from,
        Encounter.referred_to,
    ]


def encounter_page(
    master_id: int,
    where: EncounterFilter,
    after: tuple[datetime, int] | None,
    limit: int,
    written: tuple[str, ...] = (),
) -> tuple[Select[Any], dict[str, Any]]:
    """A page of the master's encounters at every facility, newest first (keyset: admission time, id):
    the statement and its values. Rows as `_encounter_columns` makes them."""
    statement = _encounter_page_statement(
        written,
        where.admitted_from is not None,
        where.admitted_to is not None,
        bool(where.facility_codes),
        bool(where.visit_types),
        after is not None,
    )
    values: dict[str, Any] = {"master_id": master_id, "limit": limit}
    if where.admitted_from:
        values["since"] = datetime.combine(where.admitted_from, time())
    if where.admitted_to:
        # The day after, at midnight; the last day there is has none after it.
        last = where.admitted_to == date.max
        values["until"] = (
            datetime.max if last else datetime.combine(where.admitted_to + timedelta(days=1), time())
        )
    if where.facility_codes:
        values["facility_codes"] = list(where.facility_codes)
    if where.visit_types:
        values["visit_types"] = list(where.visit_types)
    if after is not None:
        values["after_time"], values["after_id"] = after
    return statement, values


def condition_summary(connection: Connection, master_id: int) -> Sequence[Row[Any]]:
    """One row per ICD-10 code ever diagnosed: first and last seen, where, how often, its titles and
    chapter in the catalogues; most recent first."""
    return connection.execute(
        select(
            Diagnosis.code,
            func.max(Diagnosis.text).label("text"),
            *_catalogued(ICD10_TITLES, "diagnosis"),
            literal_column("icd10_chapter(diagnosis.code)").label("chapter"),
            literal_column("icd10_title(icd10_chapter(diagnosis.code))").label("chapter_title"),
            func.min(Encounter.admitted_at).label("first_seen"),
            func.max(Encounter.admitted_at).label("last_seen"),
            func.array_agg(Encounter.facility_code.distinct()).label("facility_codes"),
            func.count(Encounter.id.distinct()).label("encounters"),
            func.bool_or(Diagnosis.is_main).label("ever_main"),
        )
        .join(Encounter, Encounter.id == Diagnosis.encounter_id)
        .where(_linked_to(master_id, Diagnosis.source_patient_id))
        .group_by(Diagnosis.code)
        .order_by(func.max(Encounter.admitted_at).desc().nulls_last(), Diagnosis.code)
    ).all()


def medication_uses(connection: Connection, master_id: int, since: datetime | None) -> Sequence[Row[Any]]:
    """One row per drug (code, name, strength) ordered since `since`: first and last order, where; latest first."""
    ordered = func.coalesce(Medication.ordered_at, Encounter.admitted_at)
    query = (
        select(
            Medication.code,
            Medication.name,
            Medication.strength,
            func.max(Medication.dosage).label("dosage"),
            func.max(Medication.unit).label("unit"),
            func.min(ordered).label("first_ordered_at"),
            func.max(ordered).label("last_ordered_at"),
            func.count().label("orders"),
            func.array_agg(Encounter.facility_code.distinct()).label("facility_codes"),
        )
        .join(Encounter, Encounter.id == Medication.encounter_id)
        .where(_linked_to(master_id, Medication.source_patient_id))
        .group_by(Medication.code, Medication.name, Medication.strength)
        .order_by(func.max(ordered).desc().nulls_last(), Medication.name)
    )
    if since is not None:
        query = query.where(ordered >= since)
    return connection.execute(query).all()


def lab_series(connection: Connection, master_id: int, code: str) -> Sequence[Row[Any]]:
    """Every result of one lab code across facilities, oldest first."""
    return connection.execute(
        select(LabResult.__table__, Encounter.facility_code)
        .join(Encounter, Encounter.id == LabResult.encounter_id)
        .where(_linked_to(master_id, LabResult.source_patient_id), LabResult.code == code)
        .order_by(LabResult.result_at.nulls_first(), LabResult.encounter_id, LabResult.ordinal)
    ).all()


def referrals(connection: Connection, master_id: int, written: tuple[str, ...] = ()) -> Sequence[Row[Any]]:
    """The master's encounters that came by referral or ended in one, oldest first: the referral
    chain. Rows as `_encounter_columns` makes them."""
    return connection.execute(
        select(*_encounter_columns(written))
        .where(
            _linked_to(master_id, Encounter.source_patient_id),
            or_(Encounter.referred_from.is_not(None), Encounter.referred_to.is_not(None)),
        )
        .order_by(Encounter.admitted_at.nulls_first(), Encounter.id)
    ).all()


ENCOUNTER_DETAILS = {
    "diagnoses": Diagnosis,
    "medications": Medication,
    "services": Service,
    "lab_results": LabResult,
    "notes": ProgressNote,
}

# What the ICD-10 catalogues say of a row's code (sql/0013_icd10_catalogue.py): SQL over the row
# `{row}`, by column name. The title a facility sent stays in `text`.
ICD10_TITLES = {
    "title": "icd10_title({row}.code)",
    "title_en": "icd10_title_en({row}.code)",
}
# The columns a detail row is read with besides its table's own.
DETAIL_COLUMNS = {"diagnoses": ICD10_TITLES}


def _catalogued(columns: dict[str, str], row: str) -> list[Any]:
    return [literal_column(sql.format(row=row)).label(name) for name, sql in columns.items()]


def encounter_details(
    connection: Connection, kind: str, encounter_ids: Sequence[int]
) -> dict[int, list[Row[Any]]]:
    """The rows of one kind of detail (`ENCOUNTER_DETAILS`) of each of these encounters, in their order."""
    table = ENCOUNTER_DETAILS[kind]
    rows = connection.execute(
        select(table.__table__, *_catalogued(DETAIL_COLUMNS.get(kind, {}), table.__tablename__))
        .where(table.encounter_id.in_(encounter_ids))
        .order_by(table.encounter_id, table.ordinal)
    )
    return grouped(rows, "encounter_id")


def facilities(connection: Connection) -> Sequence[Row[Any]]:
    """Every facility with its batch counts and when it last sent a file."""
    stats = (
        select(
            IngestBatch.facility_code,
            func.count().label("batches"),
            func.count().filter(IngestBatch.status == "rejected").label("rejected_batches"),
            func.max(IngestBatch.received_at).label("last_received_at"),
        )
        .group_by(IngestBatch.facility_code)
        .subquery()
    )
    return connection.execute(
        select(
            Facility.__table__,
            func.coalesce(stats.c.batches, 0).label("batches"),
            func.coalesce(stats.c.rejected_batches, 0).label("rejected_batches"),
            stats.c.last_received_at,
        )
        .outerjoin(stats, stats.c.facility_code == Facility.code)
        .order_by(Facility.code)
    ).all()


def batches(
    connection: Connection, facility_code: str | None, before_id: int | None, limit: int
) -> Sequence[Row[Any]]:
    """Ingest batches newest first, of one facility or all."""
    query = select(IngestBatch.__table__)
    if facility_code is not None:
        query = query.where(IngestBatch.facility_code == facility_code)
    if before_id is not None:
        query = query.where(IngestBatch.id < before_id)
    return connection.execute(query.order_by(IngestBatch.id.desc()).limit(limit)).all()


def batch(connection: Connection, batch_id: int) -> Row[Any] | None:
    return connection.execute(select(IngestBatch.__table__).where(IngestBatch.id == batch_id)).one_or_none()


def rejects(
    connection: Connection, batch_id: int, after_position: int = 0, limit: int | None = None
) -> Sequence[Row[Any]]:
    """A batch's rejected records in file order, after a position (positions start at 1); all by default."""
    return connection.execute(
        select(IngestReject.__table__)
        .where(and_(IngestReject.batch_id == batch_id, IngestReject.position > after_position))
        .order_by(IngestReject.position)
        .limit(limit)
    ).all()
