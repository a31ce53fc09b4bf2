"""Identity-level changes over GraphQL: mergePatients, undoMerge and Patient.identityHistory; the
review decisions and relinks in the same history; a retired id that scattered says so; two stewards
deciding one item at once. Every change one transaction, audited, with a mandatory reason."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.api.app import create_app
from registry.api.config import ApiConfig
from tests.api.conftest import Graphql, MakeToken, codes
from tests.browser import served
from tests.database import Database
from tests.factories import make_patient
from tests.registry.identity_helpers import bare, borderline_pair, load, masters, rows, source_id

MERGE = """mutation($s: ID!, $m: ID!, $reason: String!, $override: Boolean! = false) {
  mergePatients(survivorId: $s, mergedId: $m, reason: $reason, overrideCitizenIds: $override) {
    mergeId mergedId movedSourceRecordIds survivor { id identity { fullName citizenId } sourceRecords { localId } } } }"""

UNDO_MERGE = """mutation($id: ID!, $reason: String!) { undoMerge(mergeId: $id, reason: $reason) {
    undoId mergeId restoredSourceRecordIds survivor { id sourceRecords { localId } }
    restored { id sourceRecords { localId } } } }"""

HISTORY = """query($id: ID!) { patient(id: $id) { id identityHistory {
    kind occurredAt: at actor reason patientIds eventId reviewId undoesEventId undoneByEventId citizenIdOverride
    moves { sourceRecordId fromPatientId toPatientId method } before after } } }"""

PATIENT = """query($id: ID!) { patient(id: $id) { id sourceRecords { localId } } }"""

DECIDE = """mutation($id: ID!, $same: Boolean!) { decideReview(id: $id, samePerson: $same) { review { status } } }"""
UNDO_DECISION = """mutation($id: ID!) { undoReviewDecision(id: $id) { review { status } } }"""
RELINK = """mutation($s: ID!, $p: ID) { relinkSourceRecord(sourceRecordId: $s, patientId: $p, reason: "by hand") {
    patient { id } } }"""


@pytest.fixture
def steward(make_token: MakeToken) -> str:
    return make_token("steward", name="Ms Hoa")


@pytest.fixture
def two(database: Database, tmp_path: Path) -> dict[str, int]:
    """Two identities that may be one person (a review item between them): local id -> master id."""
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    return masters(database)


def _history(graphql: Graphql, token: str, master: int) -> list[dict[str, Any]]:
    answer = graphql(token, HISTORY, {"id": str(master)})
    assert "errors" not in answer, answer
    return answer["data"]["patient"]["identityHistory"]


def test_a_merge_joins_both_identities_audited_and_recorded_in_both_histories(
    graphql: Graphql, steward: str, two: dict[str, int], database: Database
) -> None:
    a, b = two["A-000301"], two["B-000301"]
    answer = graphql(steward, MERGE, {"s": str(a), "m": str(b), "reason": "same birth certificate"})
    assert "errors" not in answer, answer
    merged = answer["data"]["mergePatients"]
    assert {r["localId"] for r in merged["survivor"]["sourceRecords"]} == {"A-000301", "B-000301"}
    assert merged["mergedId"] == str(b) and merged["survivor"]["id"] == str(a)
    assert masters(database) == {"A-000301": a, "B-000301": a}
    # The merged id answers with the survivor.
    assert graphql(steward, PATIENT, {"id": str(b)})["data"]["patient"]["id"] == str(a)
    for master in (a, b):  # b's history is a's now: b answers with a
        (event,) = [e for e in _history(graphql, steward, master) if e["kind"] == "merge"]
        assert event["eventId"] == merged["mergeId"] and event["reason"] == "same birth certificate"
        assert event["actor"] == "steward:Ms Hoa" and set(event["patientIds"]) == {str(a), str(b)}
        assert [s["active"] for s in event["before"]] == [True, True]
        assert {s["id"]: s["active"] for s in event["after"]} == {a: True, b: False}
        assert [m["sourceRecordId"] for m in event["moves"] if m["fromPatientId"] == str(b)]
    audited = rows(
        database,
        "SELECT operation, purpose, master_patient_id FROM patient_access WHERE operation = 'mergePatients'",
    )
    assert audited == [("mergePatients", "identity work: same birth certificate", a)]


def test_undo_merge_restores_both_identities_once(
    graphql: Graphql, steward: str, two: dict[str, int], database: Database
) -> None:
    a, b = two["A-000301"], two["B-000301"]
    before = masters(database)
    merge = graphql(steward, MERGE, {"s": str(a), "m": str(b), "reason": "looked alike"})["data"][
        "mergePatients"
    ]
    undone = graphql(steward, UNDO_MERGE, {"id": merge["mergeId"], "reason": "different mothers"})
    assert "errors" not in undone, undone
    result = undone["data"]["undoMerge"]
    assert result["restored"]["id"] == str(b) and [
        r["localId"] for r in result["restored"]["sourceRecords"]
    ] == ["B-000301"]
    assert [r["localId"] for r in result["survivor"]["sourceRecords"]] == ["A-000301"]
    assert masters(database) == before
    assert graphql(steward, PATIENT, {"id": str(b)})["data"]["patient"]["id"] == str(b)
    (merge_event,) = [e for e in _history(graphql, steward, b) if e["kind"] == "merge"]
    (undo_event,) = [e for e in _history(graphql, steward, b) if e["kind"] == "merge_undo"]
    assert merge_event["undoneByEventId"] == undo_event["eventId"] == result["undoId"]
    assert undo_event["undoesEventId"] == merge["mergeId"] and undo_event["reason"] == "different mothers"
    again = graphql(steward, UNDO_MERGE, {"id": merge["mergeId"], "reason": "again"})
    assert codes(again) == ["BAD_USER_INPUT"] and again["data"] is None
    assert again["errors"][0]["message"].startswith("already undone by steward:Ms Hoa at ")


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_change_without_a_usable_reason_is_refused_and_changes_nothing(
    graphql: Graphql, steward: str, two: dict[str, int], database: Database, reason: str
) -> None:
    a, b = two["A-000301"], two["B-000301"]
    answer = graphql(steward, MERGE, {"s": str(a), "m": str(b), "reason": reason})
    assert (
        codes(answer) == ["BAD_USER_INPUT"]
        and "reason of 1 to 500 characters" in answer["errors"][0]["message"]
    )
    assert masters(database) == two
    assert rows(database, "SELECT count(*) FROM identity_event") == [(0,)]


def test_only_a_steward_may_merge(
    graphql: Graphql, make_token: MakeToken, two: dict[str, int], database: Database
) -> None:
    a, b = two["A-000301"], two["B-000301"]
    answer = graphql(make_token("clinician"), MERGE, {"s": str(a), "m": str(b), "reason": "why not"})
    assert codes(answer) == ["FORBIDDEN"] and masters(database) == two
    history = graphql(make_token("clinician"), HISTORY, {"id": str(a)})
    assert codes(history) == ["FORBIDDEN"]


def test_two_citizen_ids_merge_only_with_the_override_which_the_history_keeps(
    graphql: Graphql, steward: str, database: Database, tmp_path: Path
) -> None:
    load(database, tmp_path, "27001", bare(make_patient("C1", full_name="Phạm Văn Cường", serial="000501")))
    load(
        database,
        tmp_path,
        "27002",
        bare(make_patient("C2", facility_code="27002", full_name="Phạm Cường", serial="000502")),
    )
    ids = masters(database)
    c1, c2 = ids["C1"], ids["C2"]
    refused = graphql(steward, MERGE, {"s": str(c1), "m": str(c2), "reason": "one man"})
    assert codes(refused) == ["BAD_USER_INPUT"] and "different citizen IDs" in refused["errors"][0]["message"]
    assert masters(database) == ids
    done = graphql(steward, MERGE, {"s": str(c1), "m": str(c2), "reason": "ID re-issued", "override": True})
    assert "errors" not in done, done
    (event,) = [e for e in _history(graphql, steward, c1) if e["kind"] == "merge"]
    assert event["citizenIdOverride"] is True


def test_review_decisions_and_relinks_are_in_the_same_history(
    graphql: Graphql, steward: str, two: dict[str, int], database: Database
) -> None:
    a = two["A-000301"]
    ((item,),) = rows(database, "SELECT id FROM match_review")
    assert "errors" not in graphql(steward, DECIDE, {"id": str(item), "same": True})
    assert "errors" not in graphql(steward, UNDO_DECISION, {"id": str(item)})
    record = source_id(database, "B-000301")
    assert "errors" not in graphql(steward, RELINK, {"s": str(record), "p": str(a)})
    kinds = [e["kind"] for e in _history(graphql, steward, a)]
    assert kinds[-3:] == ["review_decision", "review_undo", "relink"]
    assert kinds[0] == "formed"
    (decision,) = [e for e in _history(graphql, steward, a) if e["kind"] == "review_decision"]
    assert decision["reviewId"] == str(item) and decision["reason"] == f"review {item}: same person"


def test_a_retired_id_whose_records_scattered_names_every_identity_and_picks_none(
    graphql: Graphql, steward: str, database: Database, tmp_path: Path
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    borderline_pair(database, tmp_path, "Nguyễn Thị Lan", (1990, 1, 5), "000302")
    ids = masters(database)
    a, b, c = ids["A-000301"], ids["B-000301"], ids["A-000302"]
    graphql(steward, MERGE, {"s": str(b), "m": str(a), "reason": "same"})  # a retired with A's record
    graphql(steward, MERGE, {"s": str(c), "m": str(b), "reason": "same"})  # b retired with A's and B's
    graphql(steward, RELINK, {"s": str(source_id(database, "B-000301")), "p": None})  # B back to b? no: new
    now = masters(database)
    assert now["A-000301"] != now["B-000301"]
    answer = graphql(steward, PATIENT, {"id": str(b)})
    assert codes(answer) == ["NOT_FOUND"] and answer["data"] == {"patient": None}
    error = answer["errors"][0]
    assert error["extensions"]["answersWith"] == sorted({str(now["A-000301"]), str(now["B-000301"])}, key=int)
    assert f"patient {b} is no longer in use" in error["message"]


def test_two_stewards_deciding_one_item_at_once_make_one_decision(
    db_url: str, tmp_path: Path, database: Database, make_token: MakeToken
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    ((item,),) = rows(database, "SELECT id FROM match_review")
    tokens = {
        "same": make_token("steward", name="Ms Hoa"),
        "different": make_token("steward", name="Mr Tuấn"),
    }
    answers: dict[str, dict[str, Any]] = {}
    start = threading.Barrier(2)
    with served(create_app(db_url, tmp_path / "home", ApiConfig())) as base_url:

        def decide(answer: str) -> None:
            with httpx.Client(base_url=base_url, timeout=30) as client:
                start.wait()
                answers[answer] = client.post(
                    "/graphql",
                    json={"query": DECIDE, "variables": {"id": str(item), "same": answer == "same"}},
                    headers={"Authorization": f"Bearer {tokens[answer]}", "X-Purpose": "identity work"},
                ).json()

        threads = [threading.Thread(target=decide, args=(a,)) for a in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    won = [a for a, body in answers.items() if "errors" not in body]
    lost = [a for a, body in answers.items() if "errors" in body]
    assert len(won) == 1 and len(lost) == 1, answers
    winner = "Ms Hoa" if won == ["same"] else "Mr Tuấn"
    refusal = answers[lost[0]]
    assert codes(refusal) == ["BAD_USER_INPUT"] and refusal["data"] is None
    assert refusal["errors"][0]["message"].startswith(f"already decided by steward:{winner} at ")
    assert rows(database, "SELECT status, decided_by FROM match_review") == [(won[0], f"steward:{winner}")]
    assert rows(database, "SELECT count(*) FROM identity_event WHERE kind = 'review_decision'") == [(1,)]
