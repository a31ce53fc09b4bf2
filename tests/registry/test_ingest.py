"""Loading facility files into the registry: counts, versions, rejects, idempotence, linking."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

from loaders.csv_write import write_csv
from loaders.fhir_write import write_fhir_ndjson
from loaders.options import LoaderOptions, default_profile
from loaders.records import SourceRecord
from loaders.xml130_write import write_xml130
from registry.identity.links_export import export_links
from registry.ingest import Submission, load_file
from tests.database import Database
from tests.factories import citizen_id, make_encounter, make_patient, make_record

CLI = Submission(submitted_by="test")


def write_file(path: Path, records: list[SourceRecord], facility_code: str = "27001") -> Path:
    with path.open("wb") as out:
        write_xml130(records, out, facility_code=facility_code, created_at=datetime(2025, 11, 4, 2, 0))
    return path


def count(database: Database, sql: str) -> int:
    with database.connect() as connection:
        return int(connection.execute(sql).scalar_one())


def table_sizes(database: Database) -> dict[str, int]:
    tables = ("source_patient", "source_patient_version", "master_patient", "patient_link", "encounter",
              "encounter_version", "diagnosis", "medication", "service", "lab_result", "progress_note")  # fmt: skip
    return {table: count(database, f"SELECT count(*) FROM {table}") for table in tables}


def night(facility: str = "27001", patients: int = 3, prefix: str = "LK") -> list[SourceRecord]:
    return [
        make_record(
            i,
            make_patient(f"BN{i:04d}", facility_code=facility, serial=f"{i:06d}"),
            make_encounter(f"{prefix}{i:04d}"),
        )
        for i in range(1, patients + 1)
    ]


def test_a_night_loads_with_every_clinical_row(database: Database, tmp_path: Path) -> None:
    result = load_file(database.url, write_file(tmp_path / "n1.xml", night()), LoaderOptions(), CLI)
    assert (result.status, result.records_in, result.loaded, result.updated, result.unchanged, result.rejected) == (
        "loaded", 3, 3, 0, 0, 0,
    )  # fmt: skip
    assert result.format == "xml130" and result.facility_code == "27001"
    sizes = table_sizes(database)
    assert (
        sizes["source_patient"] == sizes["encounter"] == sizes["master_patient"] == sizes["patient_link"] == 3
    )
    assert (sizes["medication"], sizes["service"], sizes["lab_result"], sizes["progress_note"]) == (
        9,
        9,
        6,
        3,
    )
    assert sizes["diagnosis"] == 6
    with database.connect() as connection:
        batch = connection.execute("SELECT status, records_in, loaded FROM ingest_batch").one()
        main = connection.execute("SELECT code FROM diagnosis WHERE is_main ORDER BY code LIMIT 1").scalar()
    assert tuple(batch) == ("loaded", 3, 3)
    assert main == "E11"


def test_the_same_file_twice_changes_nothing_and_says_so(database: Database, tmp_path: Path) -> None:
    path = write_file(tmp_path / "n1.xml", night())
    first = load_file(database.url, path, LoaderOptions(), CLI)
    before = table_sizes(database)
    again = load_file(database.url, path, LoaderOptions(), CLI)
    assert again.status == "duplicate" and again.batch_id == first.batch_id
    assert (again.records_in, again.loaded, again.updated, again.unchanged) == (3, 0, 0, 3)
    assert "already loaded" in (again.error or "")
    assert table_sizes(database) == before
    assert count(database, "SELECT count(*) FROM ingest_batch") == 1


def test_a_corrected_episode_updates_and_keeps_the_earlier_version(
    database: Database, tmp_path: Path
) -> None:
    load_file(database.url, write_file(tmp_path / "n1.xml", night()), LoaderOptions(), CLI)
    corrected = night()
    corrected[1] = make_record(
        2, corrected[1].patient, make_encounter("LK0002", main_diagnosis="J18.9", drugs=1)
    )
    result = load_file(database.url, write_file(tmp_path / "n2.xml", corrected), LoaderOptions(), CLI)
    assert (result.loaded, result.updated, result.unchanged) == (0, 1, 2)
    with database.connect() as connection:
        versions = connection.execute(
            "SELECT v.version, v.record->'encounter'->'diagnoses'->0->>'code' FROM encounter_version v"
            " JOIN encounter e ON e.id = v.encounter_id WHERE e.encounter_key = 'LK0002' ORDER BY v.version"
        ).all()
        drugs = connection.execute(
            "SELECT count(*) FROM medication m JOIN encounter e ON e.id = m.encounter_id WHERE e.encounter_key = 'LK0002'"
        ).scalar()
    assert [tuple(v) for v in versions] == [(1, "E11"), (2, "J18.9")]
    assert drugs == 1


def test_rejected_records_are_kept_with_reasons_and_the_rest_loads(
    database: Database, tmp_path: Path
) -> None:
    records = night()
    # model_copy does not validate: the file carries a visit with no name, as a facility might.
    nameless = records[2].patient.model_copy(update={"full_name": ""})
    records[2] = SourceRecord.model_construct(
        position=3, locator="HOSO 3", patient=nameless, encounter=records[2].encounter, skipped_tables=()
    )
    result = load_file(database.url, write_file(tmp_path / "n1.xml", records), LoaderOptions(), CLI)
    assert (result.records_in, result.loaded, result.rejected) == (3, 2, 1)
    with database.connect() as connection:
        reject = connection.execute(
            "SELECT position, reason, local_id, encounter_key FROM ingest_reject"
        ).one()
    assert (reject.position, reject.local_id, reject.encounter_key) == (3, "BN0003", "LK0003")
    assert reject.reason == "HO_TEN: missing"
    assert count(database, "SELECT count(*) FROM encounter") == 2


def test_a_visit_under_a_parents_citizen_id_is_stored_flagged_and_the_id_never_keys_it(
    database: Database, tmp_path: Path
) -> None:
    records = night()
    mother = citizen_id(sex=2, year=1985)
    # model_copy does not validate: a son recorded under his mother's citizen ID, as desks do.
    son = records[2].patient.model_copy(update={"citizen_id": mother})
    records[2] = SourceRecord.model_construct(
        position=3, locator="HOSO 3", patient=son, encounter=records[2].encounter, skipped_tables=()
    )
    result = load_file(database.url, write_file(tmp_path / "n1.xml", records), LoaderOptions(), CLI)
    assert (result.records_in, result.loaded, result.rejected, result.flagged) == (3, 3, 0, 1)
    with database.connect() as connection:
        stored = connection.execute(
            "SELECT citizen_id, flags FROM source_patient WHERE local_id = 'BN0003'"
        ).one()
        flag = connection.execute("SELECT * FROM ingest_flag").one()
        batch = connection.execute("SELECT * FROM ingest_batch").one()
        master_ids = connection.execute("SELECT citizen_id FROM master_patient").scalars()
    assert stored.citizen_id is None
    assert [(f["field"], f["kind"], f["value"]) for f in stored.flags] == [
        ("SO_CCCD", "inconsistent", mother)
    ]
    assert "says a woman" in stored.flags[0]["reason"]
    assert (flag.position, flag.field, flag.identifier, flag.kind, flag.local_id, flag.encounter_key) == (
        3, "SO_CCCD", "person_id", "inconsistent", "BN0003", "LK0003",
    )  # fmt: skip
    assert mother not in master_ids  # never an identity's citizen ID
    assert (batch.visits, batch.visits_with_citizen_id, str(batch.extract_date)) == (3, 2, "2025-11-04")


def test_an_unreadable_file_changes_nothing_and_is_recorded(database: Database, tmp_path: Path) -> None:
    path = write_file(tmp_path / "n1.xml", night())
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = load_file(database.url, truncated, LoaderOptions(), CLI)
    assert result.status == "rejected" and result.error
    assert all(size == 0 for size in table_sizes(database).values())
    with database.connect() as connection:
        batch = connection.execute("SELECT status, error FROM ingest_batch").one()
    assert batch.status == "rejected" and batch.error == result.error


def test_one_citizen_id_across_facilities_is_one_master(database: Database, tmp_path: Path) -> None:
    load_file(database.url, write_file(tmp_path / "a.xml", night("27001", 2, "A")), LoaderOptions(), CLI)
    load_file(
        database.url, write_file(tmp_path / "b.xml", night("27002", 2, "B"), "27002"), LoaderOptions(), CLI
    )
    anonymous = make_record(
        1, make_patient("X1", facility_code="27003", with_citizen_id=False), make_encounter("C1")
    )
    load_file(database.url, write_file(tmp_path / "c.xml", [anonymous], "27003"), LoaderOptions(), CLI)
    assert count(database, "SELECT count(*) FROM source_patient") == 5
    assert count(database, "SELECT count(*) FROM master_patient") == 3
    buffer = io.BytesIO()
    assert export_links(database.url, buffer) == 5
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue().decode())))
    assert list(rows[0]) == ["facility_code", "local_patient_id", "master_patient_id"]
    by_local = {(r["facility_code"], r["local_patient_id"]): r["master_patient_id"] for r in rows}
    assert by_local[("27001", "BN0001")] == by_local[("27002", "BN0001")]
    assert by_local[("27001", "BN0001")] != by_local[("27001", "BN0002")]
    assert by_local[("27003", "X1")] not in {by_local[("27001", "BN0001")], by_local[("27001", "BN0002")]}


def test_a_corrected_citizen_id_joins_the_identity_and_keeps_link_history(
    database: Database, tmp_path: Path
) -> None:
    holder = [make_record(1, make_patient("H1", facility_code="27002"), make_encounter("H-E1"))]
    load_file(database.url, write_file(tmp_path / "h.xml", holder, "27002"), LoaderOptions(), CLI)
    first = [make_record(1, make_patient("P1", with_citizen_id=False, serial="999999"), make_encounter("E1"))]
    load_file(database.url, write_file(tmp_path / "a.xml", first), LoaderOptions(), CLI)
    assert count(database, "SELECT count(DISTINCT master_patient_id) FROM patient_link") == 2
    second = [make_record(1, make_patient("P1"), make_encounter("E2"))]
    result = load_file(database.url, write_file(tmp_path / "b.xml", second), LoaderOptions(), CLI)
    assert result.loaded == 1
    with database.connect() as connection:
        links = connection.execute(
            "SELECT l.method, l.superseded_at IS NOT NULL AS old, l.superseded_by, l.explanation"
            " FROM patient_link l JOIN source_patient p ON p.id = l.source_patient_id"
            " WHERE p.local_id = 'P1' ORDER BY l.id"
        ).all()
        versions = connection.execute("SELECT count(*) FROM source_patient_version").scalar()
    assert [(link.method, link.old) for link in links] == [("new_identity", True), ("score", False)]
    assert links[0].superseded_by is not None
    steps = {step["field"]: step["level"] for step in links[1].explanation["steps"]}
    assert steps["citizen_id"] == "same"
    assert (
        count(
            database, "SELECT count(DISTINCT master_patient_id) FROM patient_link WHERE superseded_at IS NULL"
        )
        == 1
    )
    assert versions == 3


# --- Every batch is one facility's, quiet nights included -------------------------------------


def batch_row(database: Database, batch_id: int | None) -> Any:
    with database.connect() as connection:
        return connection.execute("SELECT * FROM ingest_batch WHERE id = %(id)s", {"id": batch_id}).one()


def test_a_zero_byte_file_is_an_empty_night_of_the_declared_facility(
    database: Database, tmp_path: Path
) -> None:
    empty = tmp_path / "27002-2025-11-04.ndjson"
    empty.write_bytes(b"")
    result = load_file(database.url, empty, LoaderOptions(facility_code="27002"), CLI)
    assert (result.status, result.records_in, result.facility_code) == ("loaded", 0, "27002")
    batch = batch_row(database, result.batch_id)
    assert (batch.status, batch.facility_code, batch.records_in, batch.visits) == ("loaded", "27002", 0, 0)


def test_a_file_whose_facility_cannot_be_known_is_refused_with_the_reason(
    database: Database, tmp_path: Path
) -> None:
    empty = tmp_path / "night.ndjson"
    empty.write_bytes(b"")
    result = load_file(database.url, empty, LoaderOptions(), CLI)
    assert result.status == "rejected"
    assert result.error is not None and "facility cannot be known" in result.error


def test_a_fhir_or_csv_batch_takes_the_facility_its_records_name(database: Database, tmp_path: Path) -> None:
    fhir = tmp_path / "n1.ndjson"
    with fhir.open("wb") as out:
        write_fhir_ndjson(night("27003"), out, default_profile())
    result = load_file(database.url, fhir, LoaderOptions(), CLI)
    assert (result.status, result.facility_code) == ("loaded", "27003")
    assert batch_row(database, result.batch_id).facility_code == "27003"
    clinic = tmp_path / "n1.csv"
    with clinic.open("wb") as out:
        write_csv(night("27004") + night("27005", prefix="LX"), out, default_profile())
    mixed = load_file(database.url, clinic, LoaderOptions(), CLI)
    assert mixed.status == "rejected"
    assert (
        mixed.error
        == "the file holds records of several facilities (27004, 27005): send one file per facility"
    )


def test_a_file_missing_a_declared_record_changes_nothing(database: Database, tmp_path: Path) -> None:
    path = write_file(tmp_path / "n1.xml", night())
    path.write_bytes(path.read_bytes().replace(b"<SOLUONGHOSO>3<", b"<SOLUONGHOSO>4<"))
    result = load_file(database.url, path, LoaderOptions(), CLI)
    assert (result.status, result.error) == (
        "rejected",
        "THONGTINHOSO/SOLUONGHOSO says 4 records, but the file holds 3 HOSO",
    )
    assert all(size == 0 for size in table_sizes(database).values())


def test_the_same_bytes_are_loaded_once_per_facility_and_every_empty_night_is_its_own_batch(
    database: Database, tmp_path: Path
) -> None:
    clinic = tmp_path / "visits.csv"
    clinic.write_text("ma_bn,ho_ten,ma_lk,ngay_vao\nBN1,Hồ Lan,LK1,2025-11-03\n", encoding="utf-8")
    first = load_file(database.url, clinic, LoaderOptions(facility_code="27002"), CLI)
    other = load_file(database.url, clinic, LoaderOptions(facility_code="27003"), CLI)
    again = load_file(database.url, clinic, LoaderOptions(facility_code="27002"), CLI)
    assert (first.status, other.status, again.status) == ("loaded", "loaded", "duplicate")
    assert again.batch_id == first.batch_id != other.batch_id
    quiet = tmp_path / "quiet.ndjson"
    quiet.write_bytes(b"")
    nights = [load_file(database.url, quiet, LoaderOptions(facility_code="27002"), CLI) for _ in range(2)]
    assert [night.status for night in nights] == ["loaded", "loaded"]
    assert nights[0].batch_id != nights[1].batch_id


def test_a_batch_is_dated_by_the_night_its_sender_declares_else_by_its_visits(
    database: Database, tmp_path: Path
) -> None:
    # The file says it was made at 02:00 on 4 November; its last visit ended on 3 November.
    records = [
        make_record(
            1,
            make_patient("BN1", serial="000001"),
            make_encounter("LK1", admitted_at=datetime(2025, 10, 31, 8)),
        )
    ]
    made_after_midnight = load_file(
        database.url, write_file(tmp_path / "n1.xml", records), LoaderOptions(), CLI
    )
    assert str(batch_row(database, made_after_midnight.batch_id).extract_date) == "2025-11-03"
    quiet = tmp_path / "quiet.ndjson"
    quiet.write_bytes(b"")
    declared = Submission(submitted_by="test", night=date(2025, 11, 4))
    empty = load_file(database.url, quiet, LoaderOptions(facility_code="27001"), declared)
    assert str(batch_row(database, empty.batch_id).extract_date) == "2025-11-04"


def test_a_backfill_load_stores_without_linking(database: Database, tmp_path: Path) -> None:
    result = load_file(
        database.url, write_file(tmp_path / "n1.xml", night()), LoaderOptions(), CLI, link=False
    )
    assert (result.status, result.loaded, result.links_made) == ("loaded", 3, 0)
    assert count(database, "SELECT count(*) FROM source_patient") == 3
    assert count(database, "SELECT count(*) FROM patient_link") == 0  # the batch re-link makes them
