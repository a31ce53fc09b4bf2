"""Merging staged records into the registry: set-based SQL, one statement per step.

Every staged record is accounted for: the last occurrence of an episode (facility + MA_LK)
in a file wins and is classified against the registry (loaded = new, updated = content
changed, unchanged = same content hash); earlier occurrences of the same episode in the same
file count as updated (differing content) or unchanged. A patient sent without an episode
is classified by its demographics the same way. Earlier versions are kept in *_version tables.

Several files may be merged at once (registry/ingest/load.py loads small files together): each
staged row names its file's batch, and the counts come back per batch. Files merged together
never share a patient or an episode (the loader sees to it), so each file's outcome is the one it
would have had alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg

from registry.facilities import register_facilities
from registry.ingest.staging import CHILD_TABLES, ENCOUNTER_COLUMNS, PATIENT_COLUMNS, StagingTable

_PATIENT = [name for name, _ in PATIENT_COLUMNS]
_ENCOUNTER = [name for name, _ in ENCOUNTER_COLUMNS]


@dataclass(frozen=True)
class MergeCounts:
    records_in: int
    loaded: int
    updated: int
    unchanged: int
    rejected: int
    skipped_tables: dict[str, int]
    new_facilities: list[str]
    visits: int  # records with an encounter
    visits_with_citizen_id: int  # of those, carrying a valid (or repaired) citizen ID
    extract_date: date


@dataclass(frozen=True)
class StagedBatch:
    """A file staged for the merge: its batch, when it says it was made, the night its sender declared."""

    batch_id: int
    made_at: datetime | None = None
    night: date | None = None


def _list(names: list[str], prefix: str = "") -> str:
    return ", ".join(prefix + name for name in names)


def _assign(names: list[str]) -> str:
    return ", ".join(f"{name} = EXCLUDED.{name}" for name in names)


_PATIENT_WINNERS = f"""
CREATE TEMP TABLE stg_patient ON COMMIT DROP AS
SELECT DISTINCT ON (facility_code, local_id) pos, batch_id, {_list(_PATIENT)}, patient_sha256
FROM stg_record ORDER BY facility_code, local_id, pos DESC
"""

_UPSERT_PATIENTS = f"""
CREATE TEMP TABLE patient_result ON COMMIT DROP AS
WITH upserted AS (
    INSERT INTO source_patient ({_list(_PATIENT)}, content_sha256, first_batch_id, last_batch_id)
    SELECT {_list(_PATIENT)}, patient_sha256, batch_id, batch_id
    FROM stg_patient ORDER BY facility_code, local_id
    ON CONFLICT (facility_code, local_id) DO UPDATE SET
        {_assign(_PATIENT[2:])}, content_sha256 = EXCLUDED.content_sha256,
        version = source_patient.version + 1, last_batch_id = EXCLUDED.last_batch_id, updated_at = now()
    WHERE source_patient.content_sha256 <> EXCLUDED.content_sha256
    RETURNING id, facility_code, local_id, version, (xmax = 0) AS inserted
)
SELECT * FROM upserted
"""

# The JSON texts are read from stg_record, where they are stored uncompressed (staging.py), by position.
_PATIENT_VERSIONS = """
INSERT INTO source_patient_version (source_patient_id, version, batch_id, demographics, content_sha256)
SELECT r.id, r.version, s.batch_id, t.patient_json::jsonb, s.patient_sha256
FROM patient_result r JOIN stg_patient s USING (facility_code, local_id) JOIN stg_record t ON t.pos = s.pos
"""

_ENCOUNTER_WINNERS = f"""
CREATE TEMP TABLE stg_encounter ON COMMIT DROP AS
SELECT DISTINCT ON (facility_code, encounter_key)
    pos, batch_id, facility_code, local_id, {_list(_ENCOUNTER[1:])}, encounter_key, record_sha256
FROM stg_record WHERE encounter_key IS NOT NULL
ORDER BY facility_code, encounter_key, pos DESC
"""

_UPSERT_ENCOUNTERS = f"""
CREATE TEMP TABLE encounter_result ON COMMIT DROP AS
WITH upserted AS (
    INSERT INTO encounter (facility_code, source_patient_id, {_list(_ENCOUNTER)},
                           content_sha256, first_batch_id, last_batch_id)
    SELECT e.facility_code, p.id, {_list(_ENCOUNTER, "e.")}, e.record_sha256, e.batch_id, e.batch_id
    FROM stg_encounter e
    JOIN source_patient p ON p.facility_code = e.facility_code AND p.local_id = e.local_id
    ORDER BY e.facility_code, e.encounter_key
    ON CONFLICT (facility_code, encounter_key) DO UPDATE SET
        source_patient_id = EXCLUDED.source_patient_id, {_assign(_ENCOUNTER[1:])},
        content_sha256 = EXCLUDED.content_sha256, version = encounter.version + 1,
        last_batch_id = EXCLUDED.last_batch_id, updated_at = now()
    WHERE encounter.content_sha256 <> EXCLUDED.content_sha256
    RETURNING id, facility_code, encounter_key, source_patient_id, version, (xmax = 0) AS inserted
)
SELECT u.*, s.pos FROM upserted u JOIN stg_encounter s USING (facility_code, encounter_key)
"""

_ENCOUNTER_VERSIONS = """
INSERT INTO encounter_version (encounter_id, version, batch_id, record, content_sha256)
SELECT r.id, r.version, t.batch_id, t.record_json::jsonb, t.record_sha256
FROM encounter_result r JOIN stg_record t ON t.pos = r.pos
"""

_DELETE_REPLACED_CHILDREN = """
DELETE FROM {table} c USING encounter_result r WHERE c.encounter_id = r.id AND NOT r.inserted
"""

_COUNT_RECORDS = """
WITH classified AS (
    SELECT s.batch_id, CASE
        WHEN s.encounter_key IS NOT NULL AND s.pos = w.pos THEN
            CASE WHEN er.inserted THEN 'loaded' WHEN er.id IS NOT NULL THEN 'updated' ELSE 'unchanged' END
        WHEN s.encounter_key IS NOT NULL THEN
            CASE WHEN s.record_sha256 = w.record_sha256 THEN 'unchanged' ELSE 'updated' END
        WHEN s.pos = sp.pos THEN
            CASE WHEN pr.inserted THEN 'loaded' WHEN pr.id IS NOT NULL THEN 'updated' ELSE 'unchanged' END
        WHEN s.patient_sha256 = sp.patient_sha256 THEN 'unchanged'
        ELSE 'updated'
    END AS outcome
    FROM stg_record s
    LEFT JOIN stg_encounter w USING (facility_code, encounter_key)
    LEFT JOIN encounter_result er ON er.pos = s.pos
    LEFT JOIN stg_patient sp ON sp.facility_code = s.facility_code AND sp.local_id = s.local_id
    LEFT JOIN patient_result pr ON pr.facility_code = s.facility_code AND pr.local_id = s.local_id
)
SELECT b.batch_id,
       count(*) FILTER (WHERE outcome = 'loaded'),
       count(*) FILTER (WHERE outcome = 'updated'),
       count(*) FILTER (WHERE outcome = 'unchanged'),
       (SELECT count(*) FROM stg_reject r WHERE r.batch_id = b.batch_id)
FROM unnest(%(batches)s::bigint[]) AS b (batch_id) LEFT JOIN classified c USING (batch_id)
GROUP BY b.batch_id
"""

_SKIPPED_TABLES = """
SELECT batch_id, t, count(*) FROM stg_record, unnest(skipped_tables) AS t GROUP BY batch_id, t ORDER BY batch_id, t
"""

_STORE_FLAGS = """
INSERT INTO ingest_flag (batch_id, position, ordinal, field, identifier, kind, reason, local_id, encounter_key)
SELECT batch_id, pos, ordinal, field, identifier, kind, reason, local_id, encounter_key FROM stg_flag
"""

# The night a file covers: the one its sender declared; else the day of its latest visit, but no
# later than the day the file says it was made (XML 130 NGAYLAP, often just after midnight: the
# next day); else today.
_FILE_FACTS = """
SELECT b.batch_id,
       count(r.pos) FILTER (WHERE r.encounter_key IS NOT NULL),
       count(r.pos) FILTER (WHERE r.encounter_key IS NOT NULL AND r.citizen_id IS NOT NULL),
       coalesce(b.night, least(max(coalesce(r.discharged_at, r.admitted_at))::date, b.made::date), current_date)
FROM unnest(%(batches)s::bigint[], %(nights)s::date[], %(made)s::timestamp[]) AS b (batch_id, night, made)
LEFT JOIN stg_record r USING (batch_id)
GROUP BY b.batch_id, b.night, b.made
"""

_STORE_REJECTS = """
INSERT INTO ingest_reject (batch_id, position, locator, reason, excerpt, local_id, encounter_key)
SELECT batch_id, pos, locator, reason, excerpt, local_id, encounter_key FROM stg_reject
"""


def _insert_children(table: StagingTable) -> str:
    columns = [name for name, _ in table.columns if name != "pos"]
    target = table.name.removeprefix("stg_")
    return f"""
    INSERT INTO {target} (encounter_id, source_patient_id, {_list(columns)})
    SELECT r.id, r.source_patient_id, {_list(columns, "c.")}
    FROM encounter_result r JOIN {table.name} c ON c.pos = r.pos
    """


def merge_staged(
    connection: psycopg.Connection[Any], batches: Sequence[StagedBatch]
) -> dict[int, MergeCounts]:
    """Merge everything staged for these batches; the caller owns the transaction. Counts per batch.

    A batch's night is the one its sender declared, else its visits' and the day its file says it
    was made (see _FILE_FACTS).
    """
    batch_ids = [batch.batch_id for batch in batches]
    with connection.cursor() as cursor:
        # Row counts and the statistics of the columns the statements join, group and filter on, for
        # the plans; not the wide ones (the JSON, the arrays), which cost ANALYZE most of its time.
        cursor.execute(
            "ANALYZE stg_record (pos, batch_id, facility_code, local_id, encounter_key), stg_reject"
        )
        staged = cursor.execute("SELECT DISTINCT batch_id, facility_code FROM stg_record").fetchall()
        new_facilities = set(register_facilities(connection, (code for _, code in staged)))
        cursor.execute(_PATIENT_WINNERS)
        cursor.execute(_UPSERT_PATIENTS)
        cursor.execute(_PATIENT_VERSIONS)
        cursor.execute(_ENCOUNTER_WINNERS)
        cursor.execute(_UPSERT_ENCOUNTERS)
        cursor.execute(_ENCOUNTER_VERSIONS)
        for table in CHILD_TABLES:
            cursor.execute(_DELETE_REPLACED_CHILDREN.format(table=table.name.removeprefix("stg_")))
            cursor.execute(_insert_children(table))
        cursor.execute(_STORE_REJECTS)
        cursor.execute(_STORE_FLAGS)
        counts = cursor.execute(_COUNT_RECORDS, {"batches": batch_ids}).fetchall()
        skipped: dict[int, dict[str, int]] = defaultdict(dict)
        for batch_id, table, count in cursor.execute(_SKIPPED_TABLES):
            skipped[batch_id][table] = count
        facts = {
            row[0]: row[1:]
            for row in cursor.execute(
                _FILE_FACTS,
                {
                    "batches": batch_ids,
                    "nights": [batch.night for batch in batches],
                    "made": [batch.made_at for batch in batches],
                },
            )
        }
    first_naming: dict[str, int] = {}  # a facility registered now: the first batch naming it
    for batch_id, code in sorted(staged):
        if code in new_facilities:
            first_naming.setdefault(code, batch_id)
    merged = {}
    for batch_id, loaded, updated, unchanged, rejected in counts:
        visits, visits_with_citizen_id, extract_date = facts[batch_id]
        merged[batch_id] = MergeCounts(
            records_in=loaded + updated + unchanged + rejected,
            loaded=loaded,
            updated=updated,
            unchanged=unchanged,
            rejected=rejected,
            skipped_tables=skipped[batch_id],
            new_facilities=sorted(code for code, first in first_naming.items() if first == batch_id),
            visits=visits,
            visits_with_citizen_id=visits_with_citizen_id,
            extract_date=extract_date,
        )
    return merged
