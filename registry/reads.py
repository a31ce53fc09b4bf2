"""The registry's reads, shared by the API and the command line: one statement per kind of row,
batched over many keys (the API's DataLoaders call these).

Every read is a `Query` (registry/db/sql.py): the command line runs it with `run` on its
connection, the API with `run_async` on its pool's. A master patient's rows are found through its
current links, so a merge or split of identities shows at once and moves no clinical data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache, partial
from typing import Any

from registry.access.audit import RECORD_ACCESS
from registry.db.sql import Query, Steps, first, grouped, value
from registry.identity.master_ids import answer_for

_NO_TIME = datetime(1, 1, 1)


def _linked_to(column: str, master: str = "%(master_id)s") -> str:
    """The rows of source patients currently linked to this master patient."""
    return (
        f"{column} IN (SELECT source_patient_id FROM patient_link"
        f" WHERE master_patient_id = {master} AND superseded_at IS NULL)"
    )


def surviving_master(master_id: int) -> Steps[int | None]:
    """The active identity a master id is read as: itself while active; once retired, the one
    identity its records are all in now (`master_ids.answer_for`). None when it never existed, or
    when its records went to several identities: `answer_for` then names them all, and the caller
    says so rather than picking one."""
    answer = yield answer_for(master_id)
    if answer is None:
        return None
    return master_id if answer.active else answer.moved_to


_MASTER_OF_CITIZEN = """
(SELECT id FROM master_patient WHERE citizen_id = %(citizen_id)s
 UNION ALL
 SELECT l.master_patient_id FROM patient_link l JOIN source_patient sp ON sp.id = l.source_patient_id
 WHERE sp.citizen_id = %(citizen_id)s AND l.superseded_at IS NULL)
LIMIT 1
"""


def master_of_citizen(citizen_id: str) -> Query[int | None]:
    """The master identity holding this citizen ID, or the one its source records are linked to."""
    return Query(_MASTER_OF_CITIZEN, {"citizen_id": citizen_id}, value)


# A source patient (`sp`) with its current link (`l`).
_SOURCE_COLUMNS = """sp.*, l.master_patient_id, l.id AS link_id, l.method AS link_method,
    l.score AS link_score, l.decided_by AS link_decided_by, l.batch_id AS link_batch_id,
    l.created_at AS linked_at, l.explanation AS link_explanation"""

_SOURCES_OF_MASTERS = f"""
SELECT {_SOURCE_COLUMNS}
FROM source_patient sp JOIN patient_link l ON l.source_patient_id = sp.id
WHERE l.master_patient_id = ANY(%(masters)s::bigint[]) AND l.superseded_at IS NULL
ORDER BY sp.id
"""


def sources_of_masters(master_ids: Sequence[int]) -> Query[list[Any]]:
    """Each master's source patients with their current link, oldest first (group them with `grouped`)."""
    return Query(_SOURCES_OF_MASTERS, {"masters": list(master_ids)})


# The audit of a read (RECORD_ACCESS, its values from `access_record`) and the read masters' source
# patients, in one statement, as a patient read needs both: a row per source patient of each audited
# master (one row of nulls for a master without any), oldest first; `audited` names the master.
AUDITED_SOURCES = f"""
WITH audited AS ({RECORD_ACCESS})
SELECT audited.master_patient_id AS audited, {_SOURCE_COLUMNS}
FROM audited
LEFT JOIN patient_link l ON l.master_patient_id = audited.master_patient_id AND l.superseded_at IS NULL
LEFT JOIN source_patient sp ON sp.id = l.source_patient_id
ORDER BY audited.master_patient_id, sp.id
"""


def link_histories(source_patient_ids: Sequence[int]) -> Query[dict[int, list[Any]]]:
    """Every link each source patient ever had, newest first (superseded ones included)."""
    return Query(
        "SELECT * FROM patient_link WHERE source_patient_id = ANY(%(ids)s::bigint[]) ORDER BY id DESC",
        {"ids": list(source_patient_ids)},
        partial(grouped, key="source_patient_id"),
    )


@dataclass(frozen=True)
class EncounterFilter:
    admitted_from: date | None = None
    admitted_to: date | None = None
    facility_codes: tuple[str, ...] = ()
    visit_types: tuple[str, ...] = ()


_ADMITTED = f"coalesce(encounter.admitted_at, timestamp '{_NO_TIME.isoformat()}')"


def _encounter_columns(written: tuple[str, ...]) -> str:
    """An encounter row's columns; or, given SQL expressions over the `encounter` row (its JSON as
    an operation selects it, registry/api/graphql/encounters.py), each of them (`written0`,
    `written1`, ...) followed by the encounter's id, admission time and facility codes."""
    if not written:
        return "encounter.*"
    return ", ".join(
        [
            *(f"{sql} AS written{i}" for i, sql in enumerate(written)),
            "encounter.id, encounter.admitted_at, encounter.facility_code, encounter.referred_from,"
            " encounter.referred_to",
        ]
    )


@lru_cache(maxsize=256)
def _encounter_page_sql(
    written: tuple[str, ...], since: bool, until: bool, facilities: bool, visit_types: bool, after: bool
) -> str:
    """The page's statement for one shape of request, written once; the values are parameters."""
    where = [_linked_to("encounter.source_patient_id")]
    if since:
        where.append("encounter.admitted_at >= %(since)s")
    if until:
        where.append("encounter.admitted_at < %(until)s")
    if facilities:
        where.append("encounter.facility_code = ANY(%(facility_codes)s::text[])")
    if visit_types:
        where.append("encounter.visit_type = ANY(%(visit_types)s::text[])")
    if after:
        where.append(f"({_ADMITTED}, encounter.id) < (%(after_time)s, %(after_id)s)")
    return (
        f"SELECT {_encounter_columns(written)} FROM encounter WHERE {' AND '.join(where)}"
        f" ORDER BY {_ADMITTED} DESC, encounter.id DESC LIMIT %(limit)s"
    )


def encounter_page(
    master_id: int,
    where: EncounterFilter,
    after: tuple[datetime, int] | None,
    limit: int,
    written: tuple[str, ...] = (),
) -> Query[list[Any]]:
    """A page of the master's encounters at every facility, newest first (keyset: admission time, id).
    Rows as `_encounter_columns` makes them."""
    sql = _encounter_page_sql(
        written,
        where.admitted_from is not None,
        where.admitted_to is not None,
        bool(where.facility_codes),
        bool(where.visit_types),
        after is not None,
    )
    params: dict[str, Any] = {"master_id": master_id, "limit": limit}
    if where.admitted_from:
        params["since"] = datetime.combine(where.admitted_from, time())
    if where.admitted_to:
        # The day after, at midnight; the last day there is has none after it.
        last = where.admitted_to == date.max
        params["until"] = (
            datetime.max if last else datetime.combine(where.admitted_to + timedelta(days=1), time())
        )
    if where.facility_codes:
        params["facility_codes"] = list(where.facility_codes)
    if where.visit_types:
        params["visit_types"] = list(where.visit_types)
    if after is not None:
        params["after_time"], params["after_id"] = after
    return Query(sql, params)


# What the ICD-10 catalogues say of a row's code (sql/0013_icd10_catalogue.py): SQL over the row
# `{row}`, by column name. The title a facility sent stays in `text`.
ICD10_TITLES = {
    "title": "icd10_title({row}.code)",
    "title_en": "icd10_title_en({row}.code)",
}


def _catalogued(columns: dict[str, str], row: str) -> str:
    """`, <sql> AS <name>` for each of these columns over the row `row`."""
    return "".join(f", {sql.format(row=row)} AS {name}" for name, sql in columns.items())


_CONDITIONS = f"""
SELECT d.code, max(d.text) AS text{_catalogued(ICD10_TITLES, "d")},
       icd10_chapter(d.code) AS chapter, icd10_title(icd10_chapter(d.code)) AS chapter_title,
       min(e.admitted_at) AS first_seen, max(e.admitted_at) AS last_seen,
       array_agg(DISTINCT e.facility_code) AS facility_codes, count(DISTINCT e.id) AS encounters,
       bool_or(d.is_main) AS ever_main
FROM diagnosis d JOIN encounter e ON e.id = d.encounter_id
WHERE {_linked_to("d.source_patient_id")}
GROUP BY d.code
ORDER BY max(e.admitted_at) DESC NULLS LAST, d.code
"""


def condition_summary(master_id: int) -> Query[list[Any]]:
    """One row per ICD-10 code ever diagnosed: first and last seen, where, how often, its titles and
    chapter in the catalogues; most recent first."""
    return Query(_CONDITIONS, {"master_id": master_id})


_ORDERED = "coalesce(m.ordered_at, e.admitted_at)"
_MEDICATIONS = f"""
SELECT m.code, m.name, m.strength, max(m.dosage) AS dosage, max(m.unit) AS unit,
       min({_ORDERED}) AS first_ordered_at, max({_ORDERED}) AS last_ordered_at, count(*) AS orders,
       array_agg(DISTINCT e.facility_code) AS facility_codes
FROM medication m JOIN encounter e ON e.id = m.encounter_id
WHERE {_linked_to("m.source_patient_id")} {{since}}
GROUP BY m.code, m.name, m.strength
ORDER BY max({_ORDERED}) DESC NULLS LAST, m.name
"""
_MEDICATIONS_EVER = _MEDICATIONS.format(since="")
_MEDICATIONS_SINCE = _MEDICATIONS.format(since=f"AND {_ORDERED} >= %(since)s")


def medication_uses(master_id: int, since: datetime | None) -> Query[list[Any]]:
    """One row per drug (code, name, strength) ordered since `since`: first and last order, where; latest first."""
    if since is None:
        return Query(_MEDICATIONS_EVER, {"master_id": master_id})
    return Query(_MEDICATIONS_SINCE, {"master_id": master_id, "since": since})


_LAB_SERIES = f"""
SELECT r.*, e.facility_code
FROM lab_result r JOIN encounter e ON e.id = r.encounter_id
WHERE {_linked_to("r.source_patient_id")} AND r.code = %(code)s
ORDER BY r.result_at NULLS FIRST, r.encounter_id, r.ordinal
"""


def lab_series(master_id: int, code: str) -> Query[list[Any]]:
    """Every result of one lab code across facilities, oldest first."""
    return Query(_LAB_SERIES, {"master_id": master_id, "code": code})


@lru_cache(maxsize=64)
def _referrals_sql(written: tuple[str, ...]) -> str:
    return (
        f"SELECT {_encounter_columns(written)} FROM encounter"
        f" WHERE {_linked_to('encounter.source_patient_id')}"
        " AND (encounter.referred_from IS NOT NULL OR encounter.referred_to IS NOT NULL)"
        " ORDER BY encounter.admitted_at NULLS FIRST, encounter.id"
    )


def referrals(master_id: int, written: tuple[str, ...] = ()) -> Query[list[Any]]:
    """The master's encounters that came by referral or ended in one, oldest first: the referral
    chain. Rows as `_encounter_columns` makes them."""
    return Query(_referrals_sql(written), {"master_id": master_id})


# Each kind of an encounter's details, and its table.
ENCOUNTER_DETAILS = {
    "diagnoses": "diagnosis",
    "medications": "medication",
    "services": "service",
    "lab_results": "lab_result",
    "notes": "progress_note",
}
# The columns a detail row is read with besides its table's own.
DETAIL_COLUMNS = {"diagnoses": ICD10_TITLES}
_DETAILS = {
    kind: f"SELECT {table}.*{_catalogued(DETAIL_COLUMNS.get(kind, {}), table)} FROM {table}"
    " WHERE encounter_id = ANY(%(ids)s::bigint[]) ORDER BY encounter_id, ordinal"
    for kind, table in ENCOUNTER_DETAILS.items()
}


def encounter_details(kind: str, encounter_ids: Sequence[int]) -> Query[dict[int, list[Any]]]:
    """The rows of one kind of detail (`ENCOUNTER_DETAILS`) of each of these encounters, in their order."""
    return Query(_DETAILS[kind], {"ids": list(encounter_ids)}, partial(grouped, key="encounter_id"))


FACILITIES = Query(
    """
    SELECT f.*, coalesce(stats.batches, 0) AS batches, coalesce(stats.rejected_batches, 0) AS rejected_batches,
           stats.last_received_at
    FROM facility f
    LEFT JOIN (SELECT facility_code, count(*) AS batches,
                      count(*) FILTER (WHERE status = 'rejected') AS rejected_batches,
                      max(received_at) AS last_received_at
               FROM ingest_batch GROUP BY facility_code) stats ON stats.facility_code = f.code
    ORDER BY f.code
    """,
    {},
)
"""Every facility with its batch counts and when it last sent a file."""


def batches(facility_code: str | None, before_id: int | None, limit: int) -> Query[list[Any]]:
    """Ingest batches newest first, of one facility or all."""
    return Query(
        "SELECT * FROM ingest_batch"
        " WHERE (%(facility)s::text IS NULL OR facility_code = %(facility)s)"
        " AND (%(before)s::bigint IS NULL OR id < %(before)s)"
        " ORDER BY id DESC LIMIT %(limit)s",
        {"facility": facility_code, "before": before_id, "limit": limit},
    )


def batch(batch_id: int) -> Query[Any]:
    return Query("SELECT * FROM ingest_batch WHERE id = %(id)s", {"id": batch_id}, first)


def rejects(batch_id: int, after_position: int = 0, limit: int | None = None) -> Query[list[Any]]:
    """A batch's rejected records in file order, after a position (positions start at 1); all by default."""
    return Query(
        "SELECT * FROM ingest_reject WHERE batch_id = %(batch)s AND position > %(after)s"
        " ORDER BY position LIMIT %(limit)s",
        {"batch": batch_id, "after": after_position, "limit": limit},
    )
