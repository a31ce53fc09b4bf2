"""Staging: a file's canonical records streamed into temporary tables with COPY.

One table per kind of row, all keyed by the record's position in its file, dropped at the
end of the load transaction. Small files are loaded several at a time (load.py): stg_record,
stg_reject and stg_flag name each row's batch, and in stg_record and its child tables a file's
positions are shifted past the files staged before it, so that they meet no other file's
(stg_reject and stg_flag keep the position in the file: it is what is stored, and nothing joins
them by it). Rows are buffered a chunk at a time, so memory stays bounded
whatever the file size; the merge into the registry tables is then set-based SQL (merge.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from loaders.records import Encounter, Patient, Reject, SourceRecord
from loaders.xml130 import RawHoso


@dataclass(frozen=True)
class StagingTable:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type)
    # Columns read once by the merge, and large (a record's JSON): kept uncompressed, since
    # compressing them costs the COPY more than it saves (EXTERNAL: out of line, not compressed).
    uncompressed: tuple[str, ...] = ()

    @property
    def ddl(self) -> str:
        body = ", ".join(f"{column} {sql_type}" for column, sql_type in self.columns)
        ddl = f"CREATE TEMP TABLE {self.name} ({body}) ON COMMIT DROP"
        if self.uncompressed:
            storage = ", ".join(f"ALTER COLUMN {column} SET STORAGE EXTERNAL" for column in self.uncompressed)
            ddl += f"; ALTER TABLE {self.name} {storage}"
        return ddl

    @property
    def copy_sql(self) -> str:
        return (
            f"COPY {self.name} ({', '.join(column for column, _ in self.columns)}) FROM STDIN (FORMAT binary)"
        )

    @property
    def types(self) -> list[str]:
        return [sql_type for _, sql_type in self.columns]


PATIENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("facility_code", "text"),
    ("local_id", "text"),
    ("full_name", "text"),
    ("birth_year", "smallint"),
    ("birth_month", "smallint"),
    ("birth_day", "smallint"),
    ("sex", "smallint"),
    ("citizen_id", "text"),
    ("old_id_number", "text"),
    ("passport_number", "text"),
    ("insurance_cards", "text[]"),
    ("social_insurance_number", "text"),
    ("phone", "text"),
    ("address_text", "text"),
    ("province_code", "text"),
    ("district_code", "text"),
    ("commune_code", "text"),
    ("nationality_code", "text"),
    ("ethnicity_code", "text"),
    ("occupation_code", "text"),
    ("flags", "jsonb"),
)
ENCOUNTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("encounter_key", "text"),
    ("record_number", "text"),
    ("visit_type", "text"),
    ("admitted_at", "timestamp"),
    ("inpatient_at", "timestamp"),
    ("discharged_at", "timestamp"),
    ("departments", "text[]"),
    ("outcome", "smallint"),
    ("discharge_type", "smallint"),
    ("referred_from", "text"),
    ("referred_to", "text"),
    ("referral_paper", "text"),
    ("admission_diagnosis_text", "text"),
    ("discharge_diagnosis_text", "text"),
    ("procedures", "text[]"),
)

RECORDS = StagingTable(
    "stg_record",
    (
        ("pos", "integer"),
        ("batch_id", "bigint"),
        *PATIENT_COLUMNS,
        ("patient_json", "text"),  # the exact text hashed; jsonb where stored (merge.py)
        ("patient_sha256", "text"),
        *ENCOUNTER_COLUMNS,
        ("record_json", "text"),
        ("record_sha256", "text"),
        ("skipped_tables", "text[]"),
    ),
    uncompressed=("patient_json", "record_json"),
)
DIAGNOSES = StagingTable(
    "stg_diagnosis",
    (("pos", "integer"), ("ordinal", "smallint"), ("code", "text"), ("is_main", "boolean"), ("text", "text")),
)
MEDICATIONS = StagingTable(
    "stg_medication",
    (
        ("pos", "integer"),
        ("ordinal", "integer"),
        ("code", "text"),
        ("name", "text"),
        ("strength", "text"),
        ("dosage", "text"),
        ("route", "text"),
        ("quantity", "numeric"),
        ("unit", "text"),
        ("ordered_at", "timestamp"),
        ("performed_at", "timestamp"),
    ),
)
SERVICES = StagingTable(
    "stg_service",
    (
        ("pos", "integer"),
        ("ordinal", "integer"),
        ("code", "text"),
        ("supply_code", "text"),
        ("name", "text"),
        ("quantity", "numeric"),
        ("ordered_at", "timestamp"),
        ("performed_at", "timestamp"),
        ("result_at", "timestamp"),
    ),
)
LAB_RESULTS = StagingTable(
    "stg_lab_result",
    (
        ("pos", "integer"),
        ("ordinal", "integer"),
        ("service_code", "text"),
        ("code", "text"),
        ("name", "text"),
        ("value", "text"),
        ("unit", "text"),
        ("description", "text"),
        ("conclusion", "text"),
        ("result_at", "timestamp"),
    ),
)
NOTES = StagingTable(
    "stg_progress_note",
    (
        ("pos", "integer"),
        ("ordinal", "integer"),
        ("text", "text"),
        ("stage", "text"),
        ("consultation", "text"),
        ("surgery", "text"),
        ("recorded_at", "timestamp"),
        ("author", "text"),
    ),
)
REJECTS = StagingTable(
    "stg_reject",
    (
        ("pos", "integer"),
        ("batch_id", "bigint"),
        ("locator", "text"),
        ("reason", "text"),
        ("excerpt", "text"),
        ("local_id", "text"),
        ("encounter_key", "text"),
    ),
)
# Every flagged field of a staged record (patient and visit), for the batch's quality report.
FLAGS = StagingTable(
    "stg_flag",
    (
        ("pos", "integer"),
        ("batch_id", "bigint"),
        ("ordinal", "smallint"),
        ("field", "text"),
        ("identifier", "text"),
        ("kind", "text"),
        ("reason", "text"),
        ("local_id", "text"),
        ("encounter_key", "text"),
    ),
)
CHILD_TABLES = (DIAGNOSES, MEDICATIONS, SERVICES, LAB_RESULTS, NOTES)
ALL_TABLES = (RECORDS, *CHILD_TABLES, REJECTS, FLAGS)
# The tables whose rows name their batch (second column), added as they are staged (StagingWriter).
_NAMING_THE_BATCH = {RECORDS.name, REJECTS.name, FLAGS.name}

_RECORD_FIELDS_OUTSIDE_CONTENT = {"position", "locator", "skipped_tables"}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _patient_values(patient: Patient) -> tuple[Any, ...]:
    born = patient.birth_date
    address = patient.address
    return (
        patient.facility_code,
        patient.local_id,
        patient.full_name,
        born.year if born else None,
        born.month if born else None,
        born.day if born else None,
        int(patient.sex) if patient.sex is not None else None,
        patient.citizen_id,
        patient.old_id_number,
        patient.passport_number,
        list(patient.insurance_cards),
        patient.social_insurance_number,
        patient.phone,
        address.text,
        address.province_code,
        address.district_code,
        address.commune_code,
        patient.nationality_code,
        patient.ethnicity_code,
        patient.occupation_code,
        Jsonb([flag.model_dump(mode="json") for flag in patient.flags]),
    )


def _encounter_values(encounter: Encounter | None) -> tuple[Any, ...]:
    if encounter is None:
        return (None,) * len(ENCOUNTER_COLUMNS)
    e = encounter
    return (
        e.encounter_id,
        e.record_number,
        e.visit_type,
        e.admitted_at,
        e.inpatient_at,
        e.discharged_at,
        list(e.departments),
        e.outcome,
        e.discharge_type,
        e.referred_from,
        e.referred_to,
        e.referral_paper,
        e.admission_diagnosis_text,
        e.discharge_diagnosis_text,
        list(e.procedures),
    )


def record_row(record: SourceRecord) -> tuple[Any, ...]:
    """The stg_record row, with content hashes that make re-sent data recognisable."""
    patient_json = record.patient.model_dump_json()
    record_json = record.model_dump_json(exclude=_RECORD_FIELDS_OUTSIDE_CONTENT)
    return (
        record.position,
        *_patient_values(record.patient),
        patient_json,
        _sha256(patient_json),
        *_encounter_values(record.encounter),
        record_json,
        _sha256(record_json),
        list(record.skipped_tables),
    )


def child_rows(record: SourceRecord) -> Iterable[tuple[StagingTable, tuple[Any, ...]]]:
    encounter = record.encounter
    pos = record.position
    flags = record.patient.flags + (encounter.flags if encounter else ())
    for i, flag in enumerate(flags, 1):
        yield FLAGS, (pos, i, flag.field, flag.identifier, flag.kind.value, flag.reason,
                      record.patient.local_id, encounter.encounter_id if encounter else None)  # fmt: skip
    if encounter is None:
        return
    for i, d in enumerate(encounter.diagnoses, 1):
        yield DIAGNOSES, (pos, i, d.code, d.is_main, d.text)
    for i, m in enumerate(encounter.medications, 1):
        yield MEDICATIONS, (pos, i, m.code, m.name, m.strength, m.dosage, m.route, m.quantity, m.unit,
                            m.ordered_at, m.performed_at)  # fmt: skip
    for i, s in enumerate(encounter.services, 1):
        yield SERVICES, (pos, i, s.code, s.supply_code, s.name, s.quantity, s.ordered_at, s.performed_at,
                         s.result_at)  # fmt: skip
    for i, lab in enumerate(encounter.lab_results, 1):
        yield LAB_RESULTS, (pos, i, lab.service_code, lab.code, lab.name, lab.value, lab.unit,
                            lab.description, lab.conclusion, lab.result_at)  # fmt: skip
    for i, n in enumerate(encounter.notes, 1):
        yield NOTES, (pos, i, n.text, n.stage, n.consultation, n.surgery, n.recorded_at, n.author)


def reject_row(reject: Reject) -> tuple[Any, ...]:
    return (
        reject.position,
        reject.locator,
        reject.reason,
        reject.excerpt,
        reject.local_id,
        reject.encounter_id,
    )


@dataclass
class StagedRows:
    """Some units of a file as staging rows, with what the load needs to know about them."""

    rows: dict[str, list[tuple[Any, ...]]]  # staging table name -> rows
    units: int
    facilities: set[str]  # the facilities the units' records (or rejects) name
    flagged: int  # records stored with a flagged field


def stage_units(units: Iterable[SourceRecord | Reject | RawHoso]) -> StagedRows:
    """The staging rows of these units (an unread HOSO is read here: in a worker process, see parsing.py)."""
    staged = StagedRows({table.name: [] for table in ALL_TABLES}, 0, set(), 0)
    rows = staged.rows
    for unit in units:
        item = unit.read() if isinstance(unit, RawHoso) else unit
        staged.units += 1
        if isinstance(item, SourceRecord):
            rows[RECORDS.name].append(record_row(item))
            for table, row in child_rows(item):
                rows[table.name].append(row)
            staged.facilities.add(item.patient.facility_code)
            staged.flagged += bool(item.patient.flags or (item.encounter and item.encounter.flags))
        else:
            rows[REJECTS.name].append(reject_row(item))
            if item.facility_code:
                staged.facilities.add(item.facility_code)
    return staged


class StagingWriter:
    """Buffers staging rows and COPYs them a chunk at a time."""

    def __init__(self, connection: psycopg.Connection[Any], chunk_records: int = 2000) -> None:
        self._connection = connection
        self._chunk_records = chunk_records
        self._pending: dict[str, list[tuple[Any, ...]]] = {table.name: [] for table in ALL_TABLES}
        self._buffered = 0
        with connection.cursor() as cursor:
            cursor.execute("; ".join(table.ddl for table in ALL_TABLES))  # one round trip

    def add(self, staged: StagedRows, batch_id: int, offset: int = 0) -> None:
        """Stage these rows as batch `batch_id`'s, their records' positions shifted by `offset`."""
        pending = self._pending
        for name, rows in staged.rows.items():
            if name in _NAMING_THE_BATCH:
                shift = offset if name == RECORDS.name else 0
                pending[name].extend((row[0] + shift, batch_id, *row[1:]) for row in rows)
            elif offset:
                pending[name].extend((row[0] + offset, *row[1:]) for row in rows)
            else:
                pending[name].extend(rows)
        self._buffered += staged.units
        if self._buffered >= self._chunk_records:
            self.flush()

    def flush(self) -> None:
        with self._connection.cursor() as cursor:
            for table in ALL_TABLES:
                rows = self._pending[table.name]
                if rows:
                    _copy(cursor, table, rows)
                    rows.clear()
        self._buffered = 0


def _copy(cursor: psycopg.Cursor[Any], table: StagingTable, rows: Sequence[tuple[Any, ...]]) -> None:
    with cursor.copy(table.copy_sql) as copy:
        # Binary, its types given: a third less of this process's time and of the server's than text.
        copy.set_types(table.types)
        write: Callable[[Sequence[Any]], None] = copy.write_row
        for row in rows:
            write(row)


_FACILITY, _LOCAL_ID = 1, 2  # in a stg_record row as stage_units makes it (before its batch is named)
_ENCOUNTER_KEY = 1 + len(PATIENT_COLUMNS) + 2  # after the patient's columns, its JSON and its hash


def stored_keys(staged: StagedRows) -> set[tuple[str, str, str]]:
    """The patients and episodes these rows store: ('patient', facility, local id) and ('visit',
    facility, episode key). Files merged together must not share one (merge.py)."""
    keys: set[tuple[str, str, str]] = set()
    for row in staged.rows[RECORDS.name]:
        keys.add(("patient", row[_FACILITY], row[_LOCAL_ID]))
        if row[_ENCOUNTER_KEY] is not None:
            keys.add(("visit", row[_FACILITY], row[_ENCOUNTER_KEY]))
    return keys
