"""Registries for identity tests: records loaded through the real loads, or bare records linked one
identity each (for tests of the identity operations alone, where matching is not the subject)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from yoyo import read_migrations

from loaders.options import LoaderOptions
from loaders.records import Address, Patient
from registry.db import migrate
from registry.identity.batch_relink import RelinkSummary, relink_all
from registry.identity.links import found_identities, write_links
from registry.ingest import load_file
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record
from tests.registry.test_ingest import CLI, write_file


def load(
    database: Database, tmp_path: Path, facility: str, *patients: Patient, admitted_at: datetime | None = None
) -> None:
    """One file of these patients (one episode each, begun at `admitted_at` if given), loaded with matching."""
    when = {} if admitted_at is None else {"admitted_at": admitted_at}
    records = [
        make_record(i, patient, make_encounter(f"{patient.local_id}-E", **when))
        for i, patient in enumerate(patients, 1)
    ]
    path = write_file(tmp_path / f"{facility}-{len(list(tmp_path.iterdir()))}.xml", records, facility)
    result = load_file(database.url, path, LoaderOptions(), CLI)
    assert result.status == "loaded" and result.rejected == 0, result


def bare(patient: Patient, phone: str | None = None, *, insurance: bool = True) -> Patient:
    """Without a phone (or with this one), and without insurance card or address when asked."""
    update: dict[str, Any] = {"phone": phone}
    if not insurance:
        update |= {"insurance_cards": (), "social_insurance_number": None, "address": Address()}
    return patient.model_copy(update=update)


def borderline_pair(
    database: Database, tmp_path: Path, name: str, born: tuple[int, int, int], serial: str
) -> None:
    """Same name, sex and birth date at two facilities, nothing else shared: one review item, two identities."""
    known = make_patient(f"A-{serial}", full_name=name, born=born, with_citizen_id=False, serial=serial)
    maybe = make_patient(
        f"B-{serial}", facility_code="27002", full_name=name, born=born, with_citizen_id=False
    )
    load(database, tmp_path, "27001", bare(known))
    load(database, tmp_path, "27002", bare(maybe, insurance=False))


def linked_through_a_third(database: Database, tmp_path: Path) -> None:
    """B1 joins A1's identity through C1 (same phone), but B1 and A1 alone are only a possible match."""
    a1 = make_patient("A1", with_citizen_id=False, serial="000301")
    c1 = make_patient("C1", with_citizen_id=False, serial="000301")
    b1 = make_patient("B1", facility_code="27002", with_citizen_id=False)
    load(database, tmp_path, "27001", bare(a1))
    load(database, tmp_path, "27001", bare(c1, "0912345678"))
    load(database, tmp_path, "27002", bare(b1, "0912345678", insurance=False))


def relink_all_in(database: Database) -> RelinkSummary:
    raw = database.plain()
    try:
        with raw.transaction():
            return relink_all(raw, decided_by="test")
    finally:
        raw.close()


def rows(database: Database, sql: str, **values: Any) -> list[tuple[Any, ...]]:
    with database.connect() as connection:
        return [tuple(row) for row in connection.execute(sql, values)]


def masters(database: Database) -> dict[str, int]:
    """Local id -> the master id its record is linked to now."""
    return dict(
        rows(
            database,
            "SELECT p.local_id, l.master_patient_id FROM source_patient p"
            " JOIN patient_link l ON l.source_patient_id = p.id AND l.superseded_at IS NULL",
        )
    )


def source_id(database: Database, local_id: str) -> int:
    ((found,),) = rows(database, "SELECT id FROM source_patient WHERE local_id = %(l)s", l=local_id)
    return int(found)


def add_people(
    connection: psycopg.Connection[Any], names: Sequence[str], citizen_ids: Sequence[str | None] | None = None
) -> list[int]:
    """Bare source records (no load, no matching), each linked to an identity of its own as a load
    would found it; returns their ids."""
    connection.execute("INSERT INTO facility (code, name) VALUES ('27001', 'test') ON CONFLICT DO NOTHING")
    ids = []
    for number, name in enumerate(names):
        citizen_id = citizen_ids[number] if citizen_ids else None
        ids.append(
            connection.execute(
                "INSERT INTO source_patient (facility_code, local_id, full_name, citizen_id, content_sha256,"
                " first_batch_id, last_batch_id)"
                " VALUES ('27001', %(local_id)s, %(name)s, %(citizen_id)s, 'test', 0, 0) RETURNING id",
                {"local_id": f"P{number}-{name}", "name": name, "citizen_id": citizen_id},
            ).scalar_one()
        )
    founded = found_identities(
        connection, {i: (citizen_ids[n] if citizen_ids else None) for n, i in enumerate(ids)}
    )
    write_links(connection, [(i, founded[i], "new_identity", None, None) for i in ids], "engine:test")
    return ids


def roll_back_to(db_url: str, last: str) -> None:
    """Roll the schema back to migration `last` (as `yoyo rollback` would)."""
    migrations = read_migrations(str(migrate.migrations_dir()))
    with migrate._backend(db_url) as backend, backend.lock():
        backend.rollback_migrations(backend.to_rollback(migrations.filter(lambda m: m.id > last)))
