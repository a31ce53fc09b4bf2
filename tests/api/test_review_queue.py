"""The stewards' review queue over GraphQL: possible duplicates listed with why, decided, undone, audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loaders.records import Address, Patient
from registry.identity.batch_relink import relink_all
from tests.api.conftest import Graphql, MakeToken, codes, load_records
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record

QUEUE = """query($first: Int!, $after: String) { reviewQueue(first: $first, after: $after) {
    nodes { id status reason inWords weight probability modelVersion sameIdentity
            record { sourceRecordId patient { id } sourceRecord { facilityCode localId fullName birthDate { text } } }
            candidate { sourceRecordId patient { id } sourceRecord { facilityCode localId fullName phone } }
            explanation { field level weight cumulative left right note }
            pairDecision { samePerson decidedBy } }
    pageInfo { hasNextPage endCursor } } }"""

DECIDE = """mutation($id: ID!, $same: Boolean!) { decideReview(id: $id, samePerson: $same) {
    review { id status decidedBy decidedAt pairDecision { samePerson decidedBy } }
    linkId movedFromId movedFrom { id } patients { id sourceRecords { localId } } } }"""

UNDO = """mutation($id: ID!) { undoReviewDecision(id: $id) {
    review { id status decidedBy } linkId movedFrom { id } patients { id } } }"""

RELINK = """mutation($s: ID!, $p: ID) { relinkSourceRecord(sourceRecordId: $s, patientId: $p, reason: "by hand") {
    patient { id } } }"""


def _bare(patient: Patient, phone: str | None = None, *, insurance: bool = True) -> Patient:
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
    load_records(database, tmp_path, [make_record(1, _bare(known), make_encounter(f"A-{serial}"))], "27001")
    load_records(
        database,
        tmp_path,
        [make_record(1, _bare(maybe, insurance=False), make_encounter(f"B-{serial}"))],
        "27002",
    )


def linked_through_a_third(database: Database, tmp_path: Path) -> None:
    """B1 joins A1's identity through C1 (same phone), but B1 and A1 alone are only a possible match."""
    a1 = make_patient("A1", with_citizen_id=False, serial="000301")
    c1 = make_patient("C1", with_citizen_id=False, serial="000301")
    b1 = make_patient("B1", facility_code="27002", with_citizen_id=False)
    load_records(database, tmp_path, [make_record(1, _bare(a1), make_encounter("A-1"))], "27001")
    load_records(
        database, tmp_path, [make_record(1, _bare(c1, "0912345678"), make_encounter("C-1"))], "27001"
    )
    load_records(
        database,
        tmp_path,
        [make_record(1, _bare(b1, "0912345678", insurance=False), make_encounter("B-1"))],
        "27002",
    )


def rows(database: Database, sql: str) -> list[tuple[Any, ...]]:
    with database.connect() as connection:
        return [tuple(row) for row in connection.execute(sql)]


def masters(database: Database) -> dict[str, int]:
    return dict(
        rows(
            database,
            "SELECT p.local_id, l.master_patient_id FROM source_patient p"
            " JOIN patient_link l ON l.source_patient_id = p.id AND l.superseded_at IS NULL",
        )
    )


def only_review(database: Database) -> str:
    ((review_id,),) = rows(database, "SELECT id FROM match_review")
    return str(review_id)


def audits(database: Database, operation: str) -> list[tuple[Any, ...]]:
    return rows(
        database,
        f"SELECT actor, role, master_patient_id, purpose FROM patient_access WHERE operation = '{operation}'"
        " ORDER BY id",
    )


def ok(answer: dict[str, Any], field: str) -> Any:
    assert "errors" not in answer, answer
    return answer["data"][field]


def test_the_queue_lists_open_items_newest_first_with_why(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    borderline_pair(database, tmp_path, "Nguyễn Thị Lan", (1972, 8, 21), "000302")
    steward = make_token("steward", name="Ms Hoa")
    first = ok(graphql(steward, QUEUE, {"first": 1}, purpose="duplicate review"), "reviewQueue")
    (newest,) = first["nodes"]
    assert first["pageInfo"]["hasNextPage"] and newest["status"] == "open"
    assert newest["record"]["sourceRecord"] == {
        "facilityCode": "27002",
        "localId": "B-000302",
        "fullName": "Nguyễn Thị Lan",
        "birthDate": {"text": "1972-08-21"},
    }
    assert newest["candidate"]["sourceRecord"]["localId"] == "A-000302"
    assert newest["record"]["patient"]["id"] != newest["candidate"]["patient"]["id"]
    assert not newest["sameIdentity"] and newest["pairDecision"] is None
    assert 2 <= newest["weight"] < 6 and 0.8 <= newest["probability"] < 0.985
    steps = newest["explanation"]
    assert steps[0]["field"] == "prior" and steps[0]["note"] == "two records at random"
    by_field = {step["field"]: step for step in steps}
    assert by_field["birth_date"]["level"] == "exact" and by_field["birth_date"]["weight"] > 0
    assert steps[-1]["cumulative"] == pytest.approx(newest["weight"], abs=0.01)
    assert newest["inWords"] == "same name, birth date, sex"
    second = ok(graphql(steward, QUEUE, {"first": 1, "after": first["pageInfo"]["endCursor"]}), "reviewQueue")
    assert [n["record"]["sourceRecord"]["localId"] for n in second["nodes"]] == ["B-000301"]
    assert not second["pageInfo"]["hasNextPage"]
    # Every identity shown is audited, with the purpose stated.
    shown = {int(newest[side]["patient"]["id"]) for side in ("record", "candidate")}
    assert {(a, r, p) for a, r, _, p in audits(database, "reviewQueue")} == {
        ("Ms Hoa", "steward", "duplicate review"),
        ("Ms Hoa", "steward", "treatment"),
    }
    assert shown <= {m for _, _, m, _ in audits(database, "reviewQueue")}
    assert len(audits(database, "reviewQueue")) == 4


def test_same_person_links_them_and_undo_restores_the_previous_identity(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    before = masters(database)
    review = only_review(database)
    steward = make_token("steward", name="Ms Hoa")
    decided = ok(
        graphql(steward, DECIDE, {"id": review, "same": True}, purpose="duplicate review"), "decideReview"
    )
    assert decided["review"]["status"] == "same" and decided["review"]["decidedBy"] == "steward:Ms Hoa"
    assert decided["review"]["pairDecision"] == {"samePerson": True, "decidedBy": "steward:Ms Hoa"}
    assert decided["movedFromId"] == str(before["B-000301"]) and decided["linkId"]
    # B's identity, emptied by the move, is retired: shown as the identity its record went to.
    assert decided["movedFrom"] == {"id": str(before["A-000301"])}
    (together,) = decided["patients"]
    assert together["id"] == str(before["A-000301"])
    assert sorted(r["localId"] for r in together["sourceRecords"]) == ["A-000301", "B-000301"]
    assert masters(database) == {"A-000301": before["A-000301"], "B-000301": before["A-000301"]}
    pair = rows(
        database,
        "SELECT left_source_patient_id < right_source_patient_id, same_person, decided_by FROM match_constraint",
    )
    assert pair == [(True, True, "steward:Ms Hoa")]
    assert ok(graphql(steward, QUEUE, {"first": 10}), "reviewQueue")["nodes"] == []
    # B's identity, left without records, is retired into A's: only A's is shown, and audited.
    assert {m for _, _, m, p in audits(database, "decideReview") if p == "duplicate review"} == {
        before["A-000301"]
    }
    assert rows(database, f"SELECT merged_into FROM master_patient WHERE id = {before['B-000301']}") == [
        (before["A-000301"],)
    ]

    undone = ok(graphql(steward, UNDO, {"id": review}, purpose="wrong click"), "undoReviewDecision")
    assert undone["review"] == {"id": review, "status": "open", "decidedBy": None}
    assert undone["movedFrom"] == {"id": str(before["A-000301"])}
    assert masters(database) == before
    assert rows(database, "SELECT count(*) FROM master_patient WHERE retired_at IS NOT NULL") == [(0,)]
    assert rows(database, "SELECT count(*) FROM match_constraint") == [(0,)]
    assert [n["id"] for n in ok(graphql(steward, QUEUE, {"first": 10}), "reviewQueue")["nodes"]] == [review]
    # Superseded, never rewritten: the automatic link, the decision, and its undoing.
    history = rows(
        database,
        "SELECT l.method, l.master_patient_id, l.superseded_at IS NULL, l.explanation->>'reason' FROM patient_link l"
        " JOIN source_patient p ON p.id = l.source_patient_id WHERE p.local_id = 'B-000301' ORDER BY l.id",
    )
    assert [(method, master, current) for method, master, current, _ in history] == [
        ("new_identity", before["B-000301"], False),
        ("steward", before["A-000301"], False),
        ("steward", before["B-000301"], True),
    ]
    assert history[2][3] == f"undo of review {review}"
    assert {p for _, _, _, p in audits(database, "undoReviewDecision")} == {"wrong click"}


def test_different_people_are_separated_and_a_batch_relink_keeps_them_apart(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    linked_through_a_third(database, tmp_path)
    before = masters(database)
    assert len(set(before.values())) == 1
    review = only_review(database)
    steward = make_token("steward", name="Ms Hoa")
    item = ok(graphql(steward, QUEUE, {"first": 10}), "reviewQueue")["nodes"][0]
    assert item["sameIdentity"] and item["record"]["sourceRecord"]["fullName"] == "Nguyễn Văn An"
    decided = ok(graphql(steward, DECIDE, {"id": review, "same": False}), "decideReview")
    assert decided["review"]["status"] == "different" and decided["movedFrom"] == {"id": str(before["A1"])}
    after = masters(database)
    assert after["A1"] == after["C1"] == before["A1"] and after["B1"] not in before.values()
    assert {p["id"] for p in decided["patients"]} == {str(before["A1"]), str(after["B1"])}
    assert rows(database, "SELECT same_person FROM match_constraint") == [(False,)]
    assert rows(
        database,
        "SELECT l.method, l.decided_by FROM patient_link l JOIN source_patient p ON p.id = l.source_patient_id"
        " WHERE p.local_id = 'B1' AND l.superseded_at IS NULL",
    ) == [("steward", "steward:Ms Hoa")]

    raw = database.plain()
    try:
        with raw.transaction():
            relink_all(raw, decided_by="test")
    finally:
        raw.close()
    rerun = masters(database)
    assert rerun["A1"] != rerun["B1"]

    # The re-run found the pair again (the other way round): still one item, still decided. A second
    # decision on it is refused, naming the first, and changes nothing; undone, it may be decided again.
    queued = ok(graphql(steward, QUEUE, {"first": 10}), "reviewQueue")["nodes"]
    pair = {"A1", "B1"}
    assert [
        n for n in queued if {n[side]["sourceRecord"]["localId"] for side in ("record", "candidate")} == pair
    ] == []
    assert rows(database, f"SELECT status FROM match_review WHERE id = {review}") == [("different",)]
    other = make_token("steward", name="Mr Nam")
    again = graphql(other, DECIDE, {"id": review, "same": True})
    assert codes(again) == ["BAD_USER_INPUT"]
    assert again["errors"][0]["message"].startswith("already decided by steward:Ms Hoa at ")
    assert rows(database, "SELECT same_person, decided_by FROM match_constraint") == [
        (False, "steward:Ms Hoa")
    ]
    ok(graphql(other, UNDO, {"id": review}), "undoReviewDecision")
    ok(graphql(other, DECIDE, {"id": review, "same": True}), "decideReview")
    assert rows(database, "SELECT same_person, decided_by FROM match_constraint") == [
        (True, "steward:Mr Nam")
    ]
    assert masters(database)["A1"] == masters(database)["B1"]


def test_decisions_refused_change_nothing(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    before = masters(database)
    review = only_review(database)
    steward = make_token("steward")
    assert codes(graphql(steward, UNDO, {"id": review})) == ["BAD_USER_INPUT"]
    assert codes(graphql(steward, DECIDE, {"id": "999999", "same": True})) == ["NOT_FOUND"]
    assert codes(graphql(steward, DECIDE, {"id": review, "same": True}, purpose=None)) == ["BAD_USER_INPUT"]
    assert codes(graphql(steward, QUEUE, {"first": 10}, purpose=None)) == ["BAD_USER_INPUT"]
    assert masters(database) == before and rows(database, "SELECT count(*) FROM match_constraint") == [(0,)]
    # Different people already in two identities: kept, nothing moves.
    apart = ok(graphql(steward, DECIDE, {"id": review, "same": False}), "decideReview")
    assert apart["linkId"] is None and apart["movedFrom"] is None and len(apart["patients"]) == 2
    assert codes(graphql(steward, DECIDE, {"id": review, "same": True})) == ["BAD_USER_INPUT"]
    assert rows(database, "SELECT same_person FROM match_constraint") == [(False,)]
    assert ok(graphql(steward, UNDO, {"id": review}), "undoReviewDecision")["linkId"] is None
    assert masters(database) == before and rows(database, "SELECT count(*) FROM match_constraint") == [(0,)]
    # A record relinked by hand since the decision is not moved back by an undo.
    ok(graphql(steward, DECIDE, {"id": review, "same": True}), "decideReview")
    ok(
        graphql(steward, RELINK, {"s": str(_source_id(database, "B-000301")), "p": None}),
        "relinkSourceRecord",
    )
    assert codes(graphql(steward, UNDO, {"id": review})) == ["BAD_USER_INPUT"]
    assert rows(database, "SELECT status FROM match_review") == [("same",)]


def _source_id(database: Database, local_id: str) -> int:
    ((found,),) = rows(database, f"SELECT id FROM source_patient WHERE local_id = '{local_id}'")
    return int(found)


def test_clinicians_may_not_see_or_decide_reviews(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    review = only_review(database)
    clinician = make_token("clinician")
    assert codes(graphql(clinician, QUEUE, {"first": 10})) == ["FORBIDDEN"]
    assert codes(graphql(clinician, DECIDE, {"id": review, "same": True})) == ["FORBIDDEN"]
    assert codes(graphql(clinician, UNDO, {"id": review})) == ["FORBIDDEN"]
    assert rows(database, "SELECT status FROM match_review") == [("open",)]
    assert rows(database, "SELECT count(*) FROM patient_access") == [(0,)]


def test_the_citizen_id_an_identity_holds_follows_the_record_a_steward_moves(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    load_records(
        database,
        tmp_path,
        [make_record(1, make_patient("A1", serial="000901"), make_encounter("A-1"))],
        "27001",
    )
    ((old, held),) = rows(database, "SELECT id, citizen_id FROM master_patient")
    moved = ok(
        graphql(make_token("steward"), RELINK, {"s": str(_source_id(database, "A1")), "p": None}),
        "relinkSourceRecord",
    )
    new = int(moved["patient"]["id"])
    assert sorted(rows(database, "SELECT id, citizen_id FROM master_patient")) == [(old, None), (new, held)]
