"""Loading facility files into the registry: counts, versions, rejects, idempotence, linking."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text

from loaders.options import LoaderOptions
from loaders.records import SourceRecord
from loaders.xml130_write import write_xml130
from registry.ingest import Submission, load_file
from registry.links import export_links
from tests.factories import citizen_id, make_encounter, make_patient, make_record

CLI = Submission(submitted_by="test")


def write_file(path: Path, records: list[SourceRecord], facility_code: str = "27001") -> Path:
    with path.open("wb") as out:
        write_xml130(records, out, facility_code=facility_code, created_at=datetime(2025, 11, 4, 2, 0))
    return path


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def table_sizes(engine: Engine) -> dict[str, int]:
    tables = ("source_patient", "source_patient_version", "master_patient", "patient_link", "encounter",
              "encounter_version", "diagnosis", "medication", "service", "lab_result", "progress_note")  # fmt: skip
    return {table: count(engine, f"SELECT count(*) FROM {table}") for table in tables}


def night(facility: str = "27001", patients: int = 3, prefix: str = "LK") -> list[SourceRecord]:
    return [
        make_record(
            i,
            make_patient(f"BN{i:04d}", facility_code=facility, serial=f"{i:06d}"),
            make_encounter(f"{prefix}{i:04d}"),
        )
        for i in range(1, patients + 1)
    ]


def test_a_night_loads_with_every_clinical_row(engine: Engine, tmp_path: Path) -> None:
    result = load_file(engine, write_file(tmp_path / "n1.xml", night()), LoaderOptions(), CLI)
    assert (result.status, result.records_in, result.loaded, result.updated, result.unchanged, result.rejected) == (
        "loaded", 3, 3, 0, 0, 0,
    )  # fmt: skip
    assert result.format == "xml130" and result.facility_code == "27001"
    sizes = table_sizes(engine)
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
    with engine.connect() as connection:
        batch = connection.execute(text("SELECT status, records_in, loaded FROM ingest_batch")).one()
        main = connection.execute(
            text("SELECT code FROM diagnosis WHERE is_main ORDER BY code LIMIT 1")
        ).scalar()
    assert tuple(batch) == ("loaded", 3, 3)
    assert main == "E11"


def test_the_same_file_twice_changes_nothing_and_says_so(engine: Engine, tmp_path: Path) -> None:
    path = write_file(tmp_path / "n1.xml", night())
    first = load_file(engine, path, LoaderOptions(), CLI)
    before = table_sizes(engine)
    again = load_file(engine, path, LoaderOptions(), CLI)
    assert again.status == "duplicate" and again.batch_id == first.batch_id
    assert (again.records_in, again.loaded, again.updated, again.unchanged) == (3, 0, 0, 3)
    assert "already loaded" in (again.error or "")
    assert table_sizes(engine) == before
    assert count(engine, "SELECT count(*) FROM ingest_batch") == 1


def test_a_corrected_episode_updates_and_keeps_the_earlier_version(engine: Engine, tmp_path: Path) -> None:
    load_file(engine, write_file(tmp_path / "n1.xml", night()), LoaderOptions(), CLI)
    corrected = night()
    corrected[1] = make_record(
        2, corrected[1].patient, make_encounter("LK0002", main_diagnosis="J18.9", drugs=1)
    )
    result = load_file(engine, write_file(tmp_path / "n2.xml", corrected), LoaderOptions(), CLI)
    assert (result.loaded, result.updated, result.unchanged) == (0, 1, 2)
    with engine.connect() as connection:
        versions = connection.execute(
            text(
                "SELECT v.version, v.record->'encounter'->'diagnoses'->0->>'code' FROM encounter_version v"
                " JOIN encounter e ON e.id = v.encounter_id WHERE e.encounter_key = 'LK0002' ORDER BY v.version"
            )
        ).all()
        drugs = connection.execute(
            text(
                "SELECT count(*) FROM medication m JOIN encounter e ON e.id = m.encounter_id WHERE e.encounter_key = 'LK0002'"
            )
        ).scalar()
    assert [tuple(v) for v in versions] == [(1, "E11"), (2, "J18.9")]
    assert drugs == 1


def test_rejected_records_are_kept_with_reasons_and_the_rest_loads(engine: Engine, tmp_path: Path) -> None:
    records = night()
    # model_copy does not validate: the file carries a woman's citizen ID for a man, as a facility might.
    mismatched = records[2].patient.model_copy(update={"citizen_id": citizen_id(sex=2, year=1985)})
    records[2] = SourceRecord.model_construct(
        position=3, locator="HOSO 3", patient=mismatched, encounter=records[2].encounter, skipped_tables=()
    )
    result = load_file(engine, write_file(tmp_path / "n1.xml", records), LoaderOptions(), CLI)
    assert (result.records_in, result.loaded, result.rejected) == (3, 2, 1)
    with engine.connect() as connection:
        reject = connection.execute(
            text("SELECT position, reason, local_id, encounter_key FROM ingest_reject")
        ).one()
    assert (reject.position, reject.local_id, reject.encounter_key) == (3, "BN0003", "LK0003")
    assert reject.reason.startswith("SO_CCCD:") and "says a woman" in reject.reason
    assert count(engine, "SELECT count(*) FROM encounter") == 2


def test_an_unreadable_file_changes_nothing_and_is_recorded(engine: Engine, tmp_path: Path) -> None:
    path = write_file(tmp_path / "n1.xml", night())
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = load_file(engine, truncated, LoaderOptions(), CLI)
    assert result.status == "rejected" and result.error
    assert all(size == 0 for size in table_sizes(engine).values())
    with engine.connect() as connection:
        batch = connection.execute(text("SELECT status, error FROM ingest_batch")).one()
    assert batch.status == "rejected" and batch.error == result.error


def test_one_citizen_id_across_facilities_is_one_master(engine: Engine, tmp_path: Path) -> None:
    load_file(engine, write_file(tmp_path / "a.xml", night("27001", 2, "A")), LoaderOptions(), CLI)
    load_file(engine, write_file(tmp_path / "b.xml", night("27002", 2, "B"), "27002"), LoaderOptions(), CLI)
    anonymous = make_record(
        1, make_patient("X1", facility_code="27003", with_citizen_id=False), make_encounter("C1")
    )
    load_file(engine, write_file(tmp_path / "c.xml", [anonymous], "27003"), LoaderOptions(), CLI)
    assert count(engine, "SELECT count(*) FROM source_patient") == 5
    assert count(engine, "SELECT count(*) FROM master_patient") == 3
    buffer = io.BytesIO()
    assert export_links(engine, buffer) == 5
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue().decode())))
    assert list(rows[0]) == ["facility_code", "local_patient_id", "master_patient_id"]
    by_local = {(r["facility_code"], r["local_patient_id"]): r["master_patient_id"] for r in rows}
    assert by_local[("27001", "BN0001")] == by_local[("27002", "BN0001")]
    assert by_local[("27001", "BN0001")] != by_local[("27001", "BN0002")]
    assert by_local[("27003", "X1")] not in {by_local[("27001", "BN0001")], by_local[("27001", "BN0002")]}


def test_a_corrected_citizen_id_joins_the_identity_and_keeps_link_history(
    engine: Engine, tmp_path: Path
) -> None:
    holder = [make_record(1, make_patient("H1", facility_code="27002"), make_encounter("H-E1"))]
    load_file(engine, write_file(tmp_path / "h.xml", holder, "27002"), LoaderOptions(), CLI)
    first = [make_record(1, make_patient("P1", with_citizen_id=False, serial="999999"), make_encounter("E1"))]
    load_file(engine, write_file(tmp_path / "a.xml", first), LoaderOptions(), CLI)
    assert count(engine, "SELECT count(DISTINCT master_patient_id) FROM patient_link") == 2
    second = [make_record(1, make_patient("P1"), make_encounter("E2"))]
    result = load_file(engine, write_file(tmp_path / "b.xml", second), LoaderOptions(), CLI)
    assert result.loaded == 1
    with engine.connect() as connection:
        links = connection.execute(
            text(
                "SELECT l.method, l.superseded_at IS NOT NULL AS old, l.superseded_by, l.explanation"
                " FROM patient_link l JOIN source_patient p ON p.id = l.source_patient_id"
                " WHERE p.local_id = 'P1' ORDER BY l.id"
            )
        ).all()
        versions = connection.execute(text("SELECT count(*) FROM source_patient_version")).scalar()
    assert [(link.method, link.old) for link in links] == [("new_identity", True), ("score", False)]
    assert links[0].superseded_by is not None
    steps = {step["field"]: step["level"] for step in links[1].explanation["steps"]}
    assert steps["citizen_id"] == "same"
    assert (
        count(
            engine, "SELECT count(DISTINCT master_patient_id) FROM patient_link WHERE superseded_at IS NULL"
        )
        == 1
    )
    assert versions == 3
