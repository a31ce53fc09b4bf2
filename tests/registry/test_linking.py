"""Identities in the registry: incremental matching at load, batch re-linking, stewards, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from loaders.options import LoaderOptions
from loaders.records import Address
from registry.identity.batch_relink import relink_all
from registry.ingest import load_file
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record
from tests.registry.test_ingest import CLI, count, write_file


def masters_by_local_id(database: Database) -> dict[str, int]:
    with database.connect() as connection:
        rows = connection.execute(
            "SELECT p.facility_code || ':' || p.local_id, l.master_patient_id FROM source_patient p"
            " JOIN patient_link l ON l.source_patient_id = p.id AND l.superseded_at IS NULL"
        ).all()
    return {key: master for key, master in rows}


def load(database: Database, tmp_path: Path, name: str, facility: str, *records) -> None:
    numbered = [make_record(i, patient, encounter) for i, (patient, encounter) in enumerate(records, 1)]
    result = load_file(database.url, write_file(tmp_path / name, numbered, facility), LoaderOptions(), CLI)
    assert result.status == "loaded" and result.rejected == 0, result


def test_a_record_without_citizen_id_and_without_diacritics_links_by_score(
    database: Database, tmp_path: Path
) -> None:
    load(database, tmp_path, "a.xml", "27001", (make_patient("A1", serial="000101"), make_encounter("A-1")))
    plain = make_patient(
        "B7", facility_code="27002", full_name="NGUYEN VAN AN", with_citizen_id=False, serial="000101"
    )
    load(database, tmp_path, "b.xml", "27002", (plain, make_encounter("B-1")))
    masters = masters_by_local_id(database)
    assert masters["27001:A1"] == masters["27002:B7"]
    with database.connect() as connection:
        link = connection.execute(
            "SELECT method, score, explanation FROM patient_link WHERE superseded_at IS NULL AND method = 'score'"
        ).one()
    fields = {step["field"]: step["level"] for step in link.explanation["steps"]}
    assert link.score >= 6 and fields["social_insurance"] == "same" and fields["birth_date"] == "exact"


def test_twins_with_their_own_citizen_ids_are_never_merged(database: Database, tmp_path: Path) -> None:
    hung = make_patient("T1", full_name="Trần Văn Hùng", serial="000201")
    hung_twin = make_patient("T2", full_name="Trần Văn Hưng", serial="000202")
    load(
        database,
        tmp_path,
        "t.xml",
        "27001",
        (hung, make_encounter("T-1")),
        (hung_twin, make_encounter("T-2")),
    )
    masters = masters_by_local_id(database)
    assert masters["27001:T1"] != masters["27001:T2"]
    with database.connect() as connection:
        relink_all_in(database)
        holders = connection.execute(
            "SELECT count(*) FROM master_patient WHERE citizen_id IS NOT NULL"
        ).scalar()
    after = masters_by_local_id(database)
    assert after["27001:T1"] != after["27001:T2"]
    assert holders == 2


def relink_all_in(database: Database):
    raw = database.plain()
    try:
        with raw.transaction():
            return relink_all(raw, decided_by="test")
    finally:
        raw.close()


def test_a_borderline_pair_goes_to_the_review_queue_with_its_explanation(
    database: Database, tmp_path: Path
) -> None:
    load(
        database,
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
    load(database, tmp_path, "b.xml", "27002", (maybe, make_encounter("B-1")))
    masters = masters_by_local_id(database)
    with database.connect() as connection:
        reviews = connection.execute("SELECT reason, weight, explanation FROM match_review").all()
    if masters["27001:A1"] == masters["27002:B1"]:
        raise AssertionError("linked on name and birth date alone")
    assert len(reviews) == 1 and reviews[0].explanation["steps"][0]["field"] == "prior"


def test_batch_relinking_agrees_with_incremental_and_keeps_master_ids(
    database: Database, tmp_path: Path
) -> None:
    load(database, tmp_path, "a.xml", "27001",
         (make_patient("A1", serial="000401"), make_encounter("A-1")),
         (make_patient("A2", full_name="Lê Thị Hoa", sex=2, born=(1990, 5, 2), serial="000402"), make_encounter("A-2")))  # fmt: skip
    load(database, tmp_path, "b.xml", "27002",
         (make_patient("B1", facility_code="27002", serial="000401"), make_encounter("B-1")))  # fmt: skip
    before = masters_by_local_id(database)
    summary = relink_all_in(database)
    assert summary.records == 3 and summary.identities == 2 and summary.links_changed == 0
    assert masters_by_local_id(database) == before


def test_a_stewards_decision_outranks_the_model(database: Database, tmp_path: Path) -> None:
    load(database, tmp_path, "a.xml", "27001", (make_patient("A1", serial="000501"), make_encounter("A-1")))
    load(database, tmp_path, "b.xml", "27002",
         (make_patient("B1", facility_code="27002", serial="000501"), make_encounter("B-1")))  # fmt: skip
    assert len(set(masters_by_local_id(database).values())) == 1
    with database.begin() as connection:
        connection.execute(
            "INSERT INTO match_constraint (left_source_patient_id, right_source_patient_id, same_person, decided_by)"
            " SELECT min(id), max(id), false, 'steward:test' FROM source_patient"
        )
    summary = relink_all_in(database)
    assert summary.refused_links == 1
    assert len(set(masters_by_local_id(database).values())) == 2
    with database.connect() as connection:
        history = connection.execute(
            "SELECT count(*) FROM patient_link WHERE superseded_at IS NOT NULL"
        ).scalar()
    assert history == 1


def test_an_identity_merged_away_by_a_relink_is_retired_pointing_to_the_survivor(
    database: Database, tmp_path: Path
) -> None:
    load(database, tmp_path, "a.xml", "27001", (make_patient("A1", serial="000551"), make_encounter("A-1")))
    load(database, tmp_path, "b.xml", "27002",
         (make_patient("B1", facility_code="27002", serial="000551"), make_encounter("B-1")))  # fmt: skip
    kept_apart = (
        "INSERT INTO match_constraint (left_source_patient_id, right_source_patient_id, same_person, decided_by)"
        " SELECT min(id), max(id), false, 'steward:test' FROM source_patient"
    )
    with database.begin() as connection:
        connection.execute(kept_apart)
    relink_all_in(database)  # apart: B1 founds an identity of its own
    split = masters_by_local_id(database)["27002:B1"]
    with database.begin() as connection:
        connection.execute("DELETE FROM match_constraint")  # the steward's decision undone
    relink_all_in(database)  # together again: one of the two identities is left without records
    survivor = masters_by_local_id(database)["27002:B1"]
    with database.connect() as connection:
        states = connection.execute(
            "SELECT id, retired_at IS NOT NULL, merged_into, citizen_id IS NOT NULL FROM master_patient ORDER BY id"
        ).all()
    assert len(set(masters_by_local_id(database).values())) == 1 and survivor != split
    assert [tuple(row) for row in states] == [(survivor, False, None, True), (split, True, survivor, False)]


def test_two_loads_meeting_the_same_new_person_at_once_make_one_identity(
    database: Database, tmp_path: Path
) -> None:
    files = []
    for facility in ("27001", "27002"):
        person = make_patient(f"{facility}-P", facility_code=facility, with_citizen_id=False, serial="000601")
        records = [make_record(1, person, make_encounter(f"{facility}-E"))]
        files.append(write_file(tmp_path / f"{facility}.xml", records, facility))
    results = []
    threads = [
        threading.Thread(
            target=lambda p=path: results.append(load_file(database.url, p, LoaderOptions(), CLI))
        )
        for path in files
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in results] == ["loaded", "loaded"]
    assert len(set(masters_by_local_id(database).values())) == 1
    assert count(database, "SELECT count(*) FROM master_patient") == 1


# --- batch re-linking at scale: parallel shards, the key table ------------------------------------


def _synthetic_registry(database: Database, tmp_path: Path, persons: int = 300) -> None:
    """People of a synthetic province registered at one or two hospitals, with the hospitals' noise."""
    import random
    from datetime import date

    from synth.facilities import FacilityKind, build_facilities
    from synth.population import Population
    from synth.recording import record_patient, register

    hospitals = [f for f in build_facilities(4, 7) if f.kind == FacilityKind.PROVINCIAL_HOSPITAL]
    population = Population(7, persons, date(2025, 6, 16))
    rng = random.Random(7)
    files: dict[str, list] = {h.code: [] for h in hospitals}
    for household in population.households():
        for person in household.members:
            for hospital in hospitals if rng.random() < 0.4 else hospitals[:1]:
                registration = register(person, hospital, 7, second=False)
                recorded = record_patient(person, hospital, registration, date(2025, 6, 1), 7, rng)
                if not recorded.rejected:
                    number = len(files[hospital.code]) + 1
                    encounter = make_encounter(
                        f"{hospital.code}-{number}", drugs=0, services=0, labs=0, notes=0
                    )
                    files[hospital.code].append(make_record(number, recorded.patient, encounter))
    for code, records in files.items():
        result = load_file(
            database.url, write_file(tmp_path / f"{code}.xml", records, code), LoaderOptions(), CLI
        )
        assert result.status == "loaded" and result.rejected == 0, result


def _relinked_state(database: Database, processes: int) -> tuple[object, ...]:
    """Relink in a transaction that is rolled back; what it wrote, new identities named by founder."""
    import psycopg

    raw = database.plain()
    try:
        connection = raw
        state: tuple[object, ...] = ()
        with connection.transaction():
            newest = connection.execute("SELECT coalesce(max(id), 0) FROM master_patient").fetchone()[0]
            summary = relink_all(connection, decided_by="test", processes=processes)
            counts = (summary.records, summary.pairs_scored, summary.identities, summary.links_changed)
            state = (counts, *_written(connection, newest, "l.method"))
            raise psycopg.Rollback()
        return state
    finally:
        raw.close()


def _written(connection: Any, newest: int, link_columns: str) -> tuple[object, ...]:
    """What linking wrote: links (with `link_columns`), citizen-ID holders, reviews, keys; identities
    made after `newest` named by their founding record, so that two runs compare."""
    label = "CASE WHEN m.id <= %(newest)s THEN m.id::text ELSE 'new:' || m.founded_by_source_patient_id END"
    links = connection.execute(
        f"SELECT l.source_patient_id, {label}, {link_columns} FROM patient_link l"
        " JOIN master_patient m ON m.id = l.master_patient_id WHERE l.superseded_at IS NULL ORDER BY 1",
        {"newest": newest},
    ).fetchall()
    holders = connection.execute(
        f"SELECT {label}, m.citizen_id FROM master_patient m WHERE m.citizen_id IS NOT NULL ORDER BY 1",
        {"newest": newest},
    ).fetchall()
    reviews = connection.execute(
        "SELECT source_patient_id, candidate_source_patient_id, round(weight::numeric, 6), reason,"
        " explanation FROM match_review ORDER BY 1, 2"
    ).fetchall()
    keys = connection.execute(
        "SELECT kind, value, source_patient_id FROM blocking_key ORDER BY 1, 2, 3"
    ).fetchall()
    return links, holders, reviews, keys


def test_relinking_in_parallel_shards_writes_exactly_what_one_process_writes(
    database: Database, tmp_path: Path
) -> None:
    _synthetic_registry(database, tmp_path)
    one = _relinked_state(database, processes=1)
    (records, pairs, identities, _), links, _, _, keys = one
    assert records > 300 and pairs > 100 and identities < records and keys
    assert len({master for _, master, _ in links}) == identities
    assert _relinked_state(database, processes=2) == one
    assert _relinked_state(database, processes=3) == one


def _relinked_at_load_state(database: Database, processes: int) -> tuple[object, ...]:
    """The later half of the records linked again as one load would link them, in a transaction
    that is rolled back; what it wrote, new identities named by founder."""
    import psycopg

    from registry.identity.load_linking import link_changed_patients

    raw = database.plain()
    try:
        connection = raw
        state: tuple[object, ...] = ()
        with connection.transaction():
            newest = connection.execute("SELECT max(id) FROM master_patient").fetchone()[0]
            connection.execute(
                "CREATE TEMP TABLE patient_result ON COMMIT DROP AS SELECT id FROM source_patient"
                " WHERE id > (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM source_patient)"
            )
            connection.execute(
                "UPDATE patient_link SET superseded_at = now() WHERE superseded_at IS NULL"
                " AND source_patient_id IN (SELECT id FROM patient_result)"
            )
            connection.execute("TRUNCATE match_review")
            made = link_changed_patients(connection, processes=processes).total()
            state = (
                made,
                *_written(connection, newest, "l.method, round(l.score::numeric, 6), l.explanation"),
            )
            raise psycopg.Rollback()
        return state
    finally:
        raw.close()


def test_linking_a_load_in_worker_processes_writes_exactly_what_one_process_writes(
    database: Database, tmp_path: Path
) -> None:
    _synthetic_registry(database, tmp_path)
    one = _relinked_at_load_state(database, processes=1)
    made, links, _, _, _ = one
    assert made > 100 and any(method == "score" for _, _, method, _, _ in links)
    assert _relinked_at_load_state(database, processes=2) == one
    assert _relinked_at_load_state(database, processes=3) == one


def test_rebuilding_the_key_table_keeps_its_indexes_and_the_engines_keys(
    database: Database, tmp_path: Path
) -> None:
    from matching import blocking_keys, prepare
    from registry.identity.batch_relink import rebuild_keys
    from registry.identity.person_records import all_people

    _synthetic_registry(database, tmp_path, persons=60)
    indexes = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'blocking_key' ORDER BY 1"
    raw = database.plain()
    try:
        connection = raw
        before = connection.execute(indexes).fetchall()
        with connection.transaction():
            connection.execute("DELETE FROM blocking_key")  # stale: rebuilt from the records alone
            written = rebuild_keys(connection, processes=2)
        expected = sorted(
            (kind, value, person.record_id)
            for person, _ in all_people(connection)
            for kind, value in blocking_keys(prepare(person))
        )
        stored = connection.execute(
            "SELECT kind, value, source_patient_id FROM blocking_key ORDER BY 1, 2, 3"
        ).fetchall()
        assert written == len(expected) and [tuple(row) for row in stored] == expected
        assert connection.execute(indexes).fetchall() == before
    finally:
        raw.close()


def test_shards_score_every_candidate_pair_once() -> None:
    """Sharded by birth year, the shards together score exactly the engine's candidate pairs."""
    from datetime import date

    from matching import STANDARD_BLOCKING, PersonRecord, candidate_pairs, default_parameters, prepare
    from registry.identity.relink_shards import Shard, shared_pairs

    people = [
        ("Nguyễn Văn An", 1985, "0912345678"), ("NGUYEN VAN AN", 1985, None), ("Nguyễn Văn An", 1986, "0912345678"),
        ("Nguyễn Thị An", 1986, "0912345678"), ("Trần Văn Bình", None, "0912345678"), ("Trần Văn Bình", 1990, None),
        ("Lê Thị Hoa", 1990, "0987654321"), ("Lê Thị Hoa", 1991, "0987654321"), ("Lê Thị Hoa", 1990, None),
    ]  # fmt: skip
    records = [
        PersonRecord(record_id=10 + i, facility_code="27001", full_name=name, birth_year=year,
                     birth_month=3 if year else None, birth_day=14 if year else None, sex=1, phone=phone,
                     recorded_at=date(2025, 6, 1))
        for i, (name, year, phone) in enumerate(people)
    ]  # fmt: skip
    expected = candidate_pairs([prepare(r) for r in records])
    for shards in (1, 2, 3):
        parts = [Shard(records, i, shards, default_parameters(), STANDARD_BLOCKING) for i in range(shards)]
        prepared = [part.prepare() for part in parts]
        handed: list[list[tuple[int, int, int]]] = [[] for _ in range(shards)]
        for shard, a, b, keys in shared_pairs(prepared, records, shards, STANDARD_BLOCKING):
            handed[shard].append((a, b, keys))
        assert sum(part.score(pairs).pairs for part, pairs in zip(parts, handed, strict=True)) == len(
            expected
        )


def test_rules_said_to_hold_the_birth_year_never_join_two_birth_years() -> None:
    """Sharding by birth year is sound only if these rules' keys differ whenever the years do."""
    import random
    from datetime import date

    from matching import STANDARD_BLOCKING, PersonRecord, prepare
    from registry.identity.relink_shards import YEAR_BOUND_RULES

    rules = [rule for rule in STANDARD_BLOCKING if rule.kind in YEAR_BOUND_RULES]
    assert {rule.kind for rule in rules} == YEAR_BOUND_RULES
    rng = random.Random(3)
    names = ["Nguyễn Văn An", "NGUYEN VAN AN", "Trần Thị Hoa", "Hoa Trần Thị", "Lê Minh", "Phạm Văn Hùng"]
    years_of: dict[tuple[str, str], set[int]] = {}
    for i in range(600):
        year = rng.choice([1950, 1951, 1985, 1986, 2000, 2010])
        month, day = rng.choice([(3, 14), (12, 1), (None, None)])
        record = PersonRecord(
            record_id=i, facility_code="27001", full_name=rng.choice(names), birth_year=year, birth_month=month,
            birth_day=day, commune_code=rng.choice(["09256", "07483"]), address_text="Xã Lạc Vệ, Tiên Du",
            recorded_at=date(2025, 6, 1),
        )  # fmt: skip
        person = prepare(record)
        for rule in rules:
            for value in rule.keys(person):
                years_of.setdefault((rule.kind, value), set()).add(year)
    assert years_of and all(len(years) == 1 for years in years_of.values())


def test_a_loads_candidates_are_found_in_the_key_index_within_the_block_limits(database: Database) -> None:
    """A load's blocks count the load's own records against the rule's limit; a changed record's
    old keys no longer find anyone; three keys of other rules make a candidate, two do not."""
    import psycopg

    from matching import STANDARD_BLOCKING
    from registry.identity.key_index import load_candidate_pairs, stage_keys, store_staged_keys

    limit = next(rule.max_block_size for rule in STANDARD_BLOCKING if rule.kind == "phone")
    name_keys = ("name_birth_year", "sounds_birth_year", "syllables_birth_year")
    held = [("phone", "0900000001", i) for i in range(10, 8 + limit)]  # with the load's two: at the limit
    held += [("phone", "0900000002", i) for i in range(10, 9 + limit)]  # with the load's two: one too many
    held += [(kind, "x|y|1990", 7) for kind in name_keys] + [(kind, "x|y|1990", 8) for kind in name_keys[:2]]
    held += [("phone", "0900000003", 5), ("phone", "0900000003", 9)]  # 5's old phone
    loaded = [(kind, phone, record) for kind, phone in (("phone", "0900000001"), ("phone", "0900000002"))
              for record in (100, 101)] + [(kind, "x|y|1990", 102) for kind in name_keys]  # fmt: skip
    loaded += [("phone", "0900000004", 5)]  # record 5 changed its phone
    raw = database.plain()
    try:
        connection = raw
        with connection.transaction():
            with connection.cursor().copy(
                "COPY blocking_key (kind, value, source_patient_id) FROM STDIN"
            ) as copy:
                for row in held:
                    copy.write_row(row)
            stage_keys(connection, [5, 100, 101, 102], ["".join(f"{k}\t{v}\t{r}\n" for k, v, r in loaded)])
            pairs = load_candidate_pairs(connection)
            store_staged_keys(connection)
            stored = connection.execute(
                "SELECT kind, value, source_patient_id FROM blocking_key WHERE source_patient_id IN (5, 100, 101, 102)"
                " ORDER BY 3, 1, 2"
            ).fetchall()
            raise psycopg.Rollback()
    finally:
        raw.close()
    same_phone = list(range(10, 8 + limit))
    assert pairs == [
        *((100, other) for other in [*same_phone, 101]),
        *((101, other) for other in [*same_phone, 100]),
        (102, 7),
    ]
    assert stored == sorted(loaded, key=lambda row: (row[2], row[0], row[1]))


def test_a_record_whose_citizen_id_another_identity_holds_joins_no_other_identity(
    database: Database, tmp_path: Path
) -> None:
    """Ba holds the citizen ID; An's records match each other but not Ba's. A record of An carrying
    Ba's ID founds an identity of its own (queued for a steward) rather than join An's, which a
    record with An's own ID would then claim, leaving one identity with two citizen IDs."""
    ba = make_patient("B1", full_name="Trần Văn Ba", born=(1985, 7, 20), serial="000701")
    an = make_patient("A1", with_citizen_id=False, serial="000702")
    an_under_bas_id = an.model_copy(update={"local_id": "A2", "citizen_id": ba.citizen_id})
    an_with_own_id = make_patient("A3", serial="000702")
    load(database, tmp_path, "1.xml", "27001", (ba, make_encounter("L-1")), (an, make_encounter("L-2")))
    load(database, tmp_path, "2.xml", "27001", (an_under_bas_id, make_encounter("L-3")))
    load(database, tmp_path, "3.xml", "27001", (an_with_own_id, make_encounter("L-4")))
    masters = masters_by_local_id(database)
    assert masters["27001:A1"] == masters["27001:A3"]
    assert masters["27001:A2"] not in (masters["27001:A1"], masters["27001:B1"])
    with database.plain() as connection:
        (mixed,) = connection.execute(
            "SELECT count(*) FROM (SELECT l.master_patient_id FROM patient_link l"
            " JOIN source_patient p ON p.id = l.source_patient_id"
            " WHERE l.superseded_at IS NULL AND p.citizen_id IS NOT NULL"
            " GROUP BY 1 HAVING count(DISTINCT p.citizen_id) > 1) m"
        ).fetchone()  # type: ignore[misc]
        reasons = [reason for (reason,) in connection.execute("SELECT reason FROM match_review")]
    assert mixed == 0
    assert "carries a citizen ID another identity holds" in reasons


def test_a_record_that_gains_another_citizen_id_than_its_identity_holds_leaves_it(
    database: Database, tmp_path: Path
) -> None:
    """A1 came without its card and A2, with a mistyped ID, joined it and claimed that ID; A1 sent
    again with its own ID must not stay in an identity holding another one."""
    first = make_patient("A1", with_citizen_id=False, serial="000801")
    own = make_patient("A1", serial="000801")
    assert own.citizen_id is not None
    typo = own.citizen_id[:-1] + str((int(own.citizen_id[-1]) + 1) % 10)
    mistyped = make_patient("A2", serial="000801").model_copy(update={"citizen_id": typo})
    load(database, tmp_path, "1.xml", "27001", (first, make_encounter("M-1")))
    load(database, tmp_path, "2.xml", "27001", (mistyped, make_encounter("M-2")))
    assert len(set(masters_by_local_id(database).values())) == 1
    load(database, tmp_path, "3.xml", "27001", (own, make_encounter("M-3")))
    masters = masters_by_local_id(database)
    assert masters["27001:A1"] != masters["27001:A2"]
    with database.plain() as connection:
        (held,) = connection.execute(
            "SELECT citizen_id FROM master_patient WHERE id = %s", (masters["27001:A2"],)
        ).fetchone()  # type: ignore[misc]
        reasons = [reason for (reason,) in connection.execute("SELECT reason FROM match_review")]
    assert held == typo
    assert reasons == [
        "two different valid citizen IDs are never linked automatically (one-digit typo or two people)"
    ]
