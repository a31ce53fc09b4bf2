"""Identities in the registry: incremental matching at load, batch re-linking, stewards, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, text

from loaders.options import LoaderOptions
from loaders.records import Address
from registry.ingest import load_file
from registry.linking import relink_all
from tests.factories import make_encounter, make_patient, make_record
from tests.registry.test_ingest import CLI, count, write_file


def masters_by_local_id(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT p.facility_code || ':' || p.local_id, l.master_patient_id FROM source_patient p"
                " JOIN patient_link l ON l.source_patient_id = p.id AND l.superseded_at IS NULL"
            )
        ).all()
    return {key: master for key, master in rows}


def load(engine: Engine, tmp_path: Path, name: str, facility: str, *records) -> None:
    numbered = [make_record(i, patient, encounter) for i, (patient, encounter) in enumerate(records, 1)]
    result = load_file(engine, write_file(tmp_path / name, numbered, facility), LoaderOptions(), CLI)
    assert result.status == "loaded" and result.rejected == 0, result


def test_a_record_without_citizen_id_and_without_diacritics_links_by_score(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine, tmp_path, "a.xml", "27001", (make_patient("A1", serial="000101"), make_encounter("A-1")))
    plain = make_patient(
        "B7", facility_code="27002", full_name="NGUYEN VAN AN", with_citizen_id=False, serial="000101"
    )
    load(engine, tmp_path, "b.xml", "27002", (plain, make_encounter("B-1")))
    masters = masters_by_local_id(engine)
    assert masters["27001:A1"] == masters["27002:B7"]
    with engine.connect() as connection:
        link = connection.execute(
            text(
                "SELECT method, score, explanation FROM patient_link WHERE superseded_at IS NULL AND method = 'score'"
            )
        ).one()
    fields = {step["field"]: step["level"] for step in link.explanation["steps"]}
    assert link.score >= 6 and fields["social_insurance"] == "same" and fields["birth_date"] == "exact"


def test_twins_with_their_own_citizen_ids_are_never_merged(engine: Engine, tmp_path: Path) -> None:
    hung = make_patient("T1", full_name="Trần Văn Hùng", serial="000201")
    hung_twin = make_patient("T2", full_name="Trần Văn Hưng", serial="000202")
    load(
        engine, tmp_path, "t.xml", "27001", (hung, make_encounter("T-1")), (hung_twin, make_encounter("T-2"))
    )
    masters = masters_by_local_id(engine)
    assert masters["27001:T1"] != masters["27001:T2"]
    with engine.connect() as connection:
        relink_all_in(engine)
        holders = connection.execute(
            text("SELECT count(*) FROM master_patient WHERE citizen_id IS NOT NULL")
        ).scalar()
    after = masters_by_local_id(engine)
    assert after["27001:T1"] != after["27001:T2"]
    assert holders == 2


def relink_all_in(engine: Engine):
    raw = engine.raw_connection()
    try:
        with raw.driver_connection.transaction():
            return relink_all(raw.driver_connection, decided_by="test")
    finally:
        raw.close()


def test_a_borderline_pair_goes_to_the_review_queue_with_its_explanation(
    engine: Engine, tmp_path: Path
) -> None:
    load(
        engine,
        tmp_path,
        "a.xml",
        "27001",
        (make_patient("A1", with_citizen_id=False, serial="000301"), make_encounter("A-1")),
    )
    # Same name, sex and birth date, nothing else known: maybe the same person.
    maybe = make_patient("B1", facility_code="27002", with_citizen_id=False).model_copy(
        update={
            "address": Address(),
            "insurance_cards": (),
            "social_insurance_number": None,
            "phone": None,
        }
    )
    load(engine, tmp_path, "b.xml", "27002", (maybe, make_encounter("B-1")))
    masters = masters_by_local_id(engine)
    with engine.connect() as connection:
        reviews = connection.execute(text("SELECT reason, weight, explanation FROM match_review")).all()
    if masters["27001:A1"] == masters["27002:B1"]:
        raise AssertionError("linked on name and birth date alone")
    assert len(reviews) == 1 and reviews[0].explanation["steps"][0]["field"] == "prior"


def test_batch_relinking_agrees_with_incremental_and_keeps_master_ids(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, "a.xml", "27001",
         (make_patient("A1", serial="000401"), make_encounter("A-1")),
         (make_patient("A2", full_name="Lê Thị Hoa", sex=2, born=(1990, 5, 2), serial="000402"), make_encounter("A-2")))  # fmt: skip
    load(engine, tmp_path, "b.xml", "27002",
         (make_patient("B1", facility_code="27002", serial="000401"), make_encounter("B-1")))  # fmt: skip
    before = masters_by_local_id(engine)
    summary = relink_all_in(engine)
    assert summary.records == 3 and summary.identities == 2 and summary.links_changed == 0
    assert masters_by_local_id(engine) == before


def test_a_stewards_decision_outranks_the_model(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, "a.xml", "27001", (make_patient("A1", serial="000501"), make_encounter("A-1")))
    load(engine, tmp_path, "b.xml", "27002",
         (make_patient("B1", facility_code="27002", serial="000501"), make_encounter("B-1")))  # fmt: skip
    assert len(set(masters_by_local_id(engine).values())) == 1
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO match_constraint (left_source_patient_id, right_source_patient_id, same_person, decided_by)"
                " SELECT min(id), max(id), false, 'steward:test' FROM source_patient"
            )
        )
    summary = relink_all_in(engine)
    assert summary.refused_links == 1
    assert len(set(masters_by_local_id(engine).values())) == 2
    with engine.connect() as connection:
        history = connection.execute(
            text("SELECT count(*) FROM patient_link WHERE superseded_at IS NOT NULL")
        ).scalar()
    assert history == 1


def test_two_loads_meeting_the_same_new_person_at_once_make_one_identity(
    engine: Engine, tmp_path: Path
) -> None:
    files = []
    for facility in ("27001", "27002"):
        person = make_patient(f"{facility}-P", facility_code=facility, with_citizen_id=False, serial="000601")
        records = [make_record(1, person, make_encounter(f"{facility}-E"))]
        files.append(write_file(tmp_path / f"{facility}.xml", records, facility))
    results = []
    threads = [
        threading.Thread(target=lambda p=path: results.append(load_file(engine, p, LoaderOptions(), CLI)))
        for path in files
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in results] == ["loaded", "loaded"]
    assert len(set(masters_by_local_id(engine).values())) == 1
    assert count(engine, "SELECT count(*) FROM master_patient") == 1
