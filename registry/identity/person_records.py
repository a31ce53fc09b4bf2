"""Source patients as the matching engine's PersonRecords, read set-based from the registry."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg

from matching import PersonRecord

_COLUMNS = """
    sp.id, sp.facility_code, sp.full_name, sp.birth_year, sp.birth_month, sp.birth_day, sp.sex,
    sp.citizen_id, sp.old_id_number, sp.passport_number, sp.social_insurance_number, sp.phone,
    sp.address_text, sp.province_code, sp.district_code, sp.commune_code, sp.updated_at::date,
    l.master_patient_id,
    (SELECT min(e.admitted_at)::date FROM encounter e WHERE e.source_patient_id = sp.id)
"""
_FROM = """
FROM source_patient sp
LEFT JOIN patient_link l ON l.source_patient_id = sp.id AND l.superseded_at IS NULL
"""


def person_of_row(row: Sequence[Any]) -> tuple[PersonRecord, int | None]:
    """A row of `person_rows` as the engine's record, and its current master identity (None if unlinked)."""
    person = PersonRecord(
        record_id=row[0],
        facility_code=row[1],
        full_name=row[2],
        birth_year=row[3],
        birth_month=row[4],
        birth_day=row[5],
        sex=row[6],
        citizen_id=row[7],
        old_id_number=row[8],
        passport=row[9],
        social_insurance_number=row[10],
        phone=row[11],
        address_text=row[12],
        province_code=row[13],
        district_code=row[14],
        commune_code=row[15],
        recorded_at=row[16],
        first_visit=row[18],
    )
    return person, master_of_row(row)


def master_of_row(row: Sequence[Any]) -> int | None:
    """The current master identity of a row of `person_rows` (None if unlinked)."""
    return row[17]


def person_rows(connection: psycopg.Connection[Any], ids: Iterable[int]) -> list[tuple[Any, ...]]:
    """These source patients as rows for `person_of_row`: plain values, cheap to send to a worker
    process (a PersonRecord is not: pickling it costs tens of microseconds)."""
    return connection.execute(f"SELECT {_COLUMNS} {_FROM} WHERE sp.id = ANY(%s)", (list(ids),)).fetchall()


def all_people(
    connection: psycopg.Connection[Any], chunk: int = 20_000
) -> Iterator[tuple[PersonRecord, int | None]]:
    """Every source patient, streamed with a server-side cursor."""
    with connection.cursor(name="all_people") as cursor:
        cursor.itersize = chunk
        cursor.execute(f"SELECT {_COLUMNS} {_FROM} ORDER BY sp.id")
        for row in cursor:
            yield person_of_row(row)
