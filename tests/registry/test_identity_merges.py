"""Identity-level operations: merging two identities, undoing a merge as one step, and the identity
history that records them with the engine's links and the stewards' decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from registry.db.sql import run
from registry.identity.errors import AlreadyUndone, CitizenIdConflict, ReasonRequired, StewardshipError
from registry.identity.golden_record import golden_record
from registry.identity.history import close_event, identity_history, open_event
from registry.identity.master_ids import answer_for
from registry.identity.merges import merge_identities, undo_merge
from registry.identity.stewardship import decide_review, relink
from tests.database import Database
from tests.factories import make_patient
from tests.registry.identity_helpers import (
    add_people,
    borderline_pair,
    load,
    masters,
    relink_all_in,
    rows,
    source_id,
)


def two_people(database: Database, tmp_path: Path, *, second_citizen_id: bool = False) -> tuple[int, int]:
    """An (one record with a citizen ID, one in the same identity by a LINK) and Bình (one record,
    with a citizen ID of his own only when asked); returns their master ids."""
    load(database, tmp_path, "27001", make_patient("A1", serial="000101"))
    load(
        database,
        tmp_path,
        "27002",
        make_patient("A2", facility_code="27002", full_name="NGUYEN VAN AN", serial="000101"),
    )
    load(
        database,
        tmp_path,
        "27002",
        make_patient(
            "B1", facility_code="27002", full_name="Trần Văn Bình", born=(1990, 6, 2), serial="000202",
            with_citizen_id=second_citizen_id,
        ),
    )  # fmt: skip
    found = masters(database)
    assert found["A1"] == found["A2"] != found["B1"]
    return found["A1"], found["B1"]


def state(database: Database) -> dict[str, Any]:
    """Everything a merge and its undoing may touch."""
    with database.connect() as connection:
        return {
            "links": rows(
                database,
                "SELECT source_patient_id, master_patient_id, method, score, explanation, decided_by, batch_id"
                " FROM patient_link WHERE superseded_at IS NULL ORDER BY source_patient_id",
            ),
            "identities": rows(
                database,
                "SELECT id, retired_at IS NULL, merged_into, citizen_id FROM master_patient ORDER BY id",
            ),
            "retired_records": rows(database, "SELECT * FROM retired_identity_record ORDER BY 1, 2"),
            "constraints": rows(database, "SELECT * FROM match_constraint ORDER BY 1, 2"),
            "golden": {m: golden(connection, m) for (m,) in rows(database, "SELECT id FROM master_patient")},
        }


def golden(connection: psycopg.Connection[Any], master: int) -> Any:
    sources = connection.execute(
        "SELECT p.* FROM source_patient p JOIN patient_link l ON l.source_patient_id = p.id"
        " AND l.superseded_at IS NULL WHERE l.master_patient_id = %(m)s",
        {"m": master},
    ).all()
    return golden_record(sources)


def test_a_merge_moves_every_record_into_the_survivor_and_retires_the_merged_id(
    database: Database, tmp_path: Path
) -> None:
    bình, an = two_people(database, tmp_path)[::-1]  # Bình's identity holds no citizen ID
    with database.begin() as connection:
        merged = merge_identities(connection, bình, an, "steward:Ms Hoa", "same man, two hospitals")
    assert set(masters(database).values()) == {bình}
    assert merged.moved == tuple(sorted((source_id(database, "A1"), source_id(database, "A2"))))
    ((held,),) = rows(database, "SELECT citizen_id FROM source_patient WHERE local_id = 'A1'")
    assert merged.citizen_id == held  # the survivor held none: it takes the merged identity's
    assert rows(
        database, "SELECT id, retired_at IS NULL, merged_into, citizen_id FROM master_patient ORDER BY id"
    ) == sorted([(an, False, bình, None), (bình, True, None, held)])
    with database.connect() as connection:
        assert run(connection, answer_for(an)).answers_with == (bình,)
    # Every record of both has a steward link naming the merge: a batch re-link keeps them together.
    assert rows(
        database, "SELECT DISTINCT method, event_id FROM patient_link WHERE superseded_at IS NULL"
    ) == [("steward", merged.event_id)]
    relink_all_in(database)
    assert set(masters(database).values()) == {bình}
    ((kind, actor, reason, involved, before, after),) = rows(
        database, "SELECT kind, actor, reason, master_patient_ids, before, after FROM identity_event"
    )
    assert (kind, actor, reason, involved) == (
        "merge",
        "steward:Ms Hoa",
        "same man, two hospitals",
        sorted([an, bình]),
    )
    assert [(i["id"], i["active"], len(i["records"])) for i in before] == sorted(
        [(an, True, 2), (bình, True, 1)]
    )
    assert [(i["id"], i["active"], len(i["records"]), i["answers_with"]) for i in after] == sorted(
        [(an, False, 0, [bình]), (bình, True, 3, [bình])]
    )


def test_two_different_citizen_ids_are_merged_only_with_the_override_and_a_reason(
    database: Database, tmp_path: Path
) -> None:
    an, bình = two_people(database, tmp_path, second_citizen_id=True)
    before = state(database)
    with pytest.raises(CitizenIdConflict, match="different citizen IDs"), database.begin() as connection:
        merge_identities(connection, an, bình, "steward:Ms Hoa", "looks the same")
    assert state(database) == before and rows(database, "SELECT count(*) FROM identity_event") == [(0,)]
    with database.begin() as connection:
        merged = merge_identities(
            connection, an, bình, "steward:Ms Hoa", "a typo in one ID card number", override_citizen_ids=True
        )
    assert rows(database, "SELECT citizen_id_override, reason FROM identity_event") == [
        (True, "a typo in one ID card number")
    ]
    # The survivor keeps its own citizen ID; the merged identity's is held by nobody until undone.
    assert merged.citizen_id == before["identities"][0][3]
    with database.begin() as connection:
        undo_merge(connection, merged.event_id, "steward:Ms Hoa", "the IDs were right after all")
    assert state(database)["identities"] == before["identities"]


def test_a_merge_is_refused_against_a_stewards_different_people_decision(
    database: Database, tmp_path: Path
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    ((item,),) = rows(database, "SELECT id FROM match_review")
    with database.begin() as connection:
        decide_review(connection, item, False, "steward:Mr Nam")
    found = masters(database)
    refused = pytest.raises(StewardshipError, match=r"steward:Mr Nam decided at .* are different people")
    with refused, database.begin() as connection:
        merge_identities(connection, found["A-000301"], found["B-000301"], "steward:Ms Hoa", "same")
    assert masters(database) == found


def test_undoing_a_merge_restores_exactly_the_state_before_it(database: Database, tmp_path: Path) -> None:
    an, bình = two_people(database, tmp_path)
    before = state(database)
    with database.begin() as connection:
        merged = merge_identities(connection, an, bình, "steward:Ms Hoa", "same man")
    assert state(database) != before
    with database.begin() as connection:
        undone = undo_merge(connection, merged.event_id, "steward:Mr Nam", "two men after all")
    # The links as they were (the engine's as the engine's: score, explanation, batch), both
    # identities active under their own ids with their citizen IDs, the same golden records.
    assert state(database) == before
    assert set(undone.restored) == {source_id(database, r) for r in ("A1", "A2", "B1")}
    assert rows(
        database,
        "SELECT count(*) FROM patient_link WHERE superseded_at IS NULL AND event_id = %(e)s",
        e=undone.event_id,
    ) == [(3,)]
    with (
        pytest.raises(AlreadyUndone, match="already undone by steward:Mr Nam at "),
        database.begin() as connection,
    ):
        undo_merge(connection, merged.event_id, "steward:Ms Hoa", "again")
    # Undone, the same identities may be merged again, and undone again.
    with database.begin() as connection:
        again = merge_identities(connection, an, bình, "steward:Ms Hoa", "same man after all")
        undo_merge(connection, again.event_id, "steward:Mr Nam", "no")
    assert state(database) == before


def test_a_merge_is_not_undone_once_a_record_it_moved_has_moved_again(
    database: Database, tmp_path: Path
) -> None:
    an, bình = two_people(database, tmp_path)
    with database.begin() as connection:
        merged = merge_identities(connection, an, bình, "steward:Ms Hoa", "same man")
        relink(connection, source_id(database, "B1"), None, "steward:Ms Hoa", "not him")
    after = state(database)
    with pytest.raises(StewardshipError, match="have been moved since"), database.begin() as connection:
        undo_merge(connection, merged.event_id, "steward:Mr Nam", "two men")
    assert state(database) == after


def test_a_merge_is_not_undone_once_a_record_of_the_survivor_it_left_in_place_has_moved(
    database: Database,
) -> None:
    """Found by the master-ids state machine: the survivor's records already linked by a steward are
    not rewritten by a merge; one of them split out since, the undoing retired the survivor (its
    other records back in the merged identity) instead of restoring it."""
    with database.begin() as connection:
        a, b, c = add_people(connection, ["Nguyễn Văn An", "Nguyễn An", "Nguyễn V. An"])
        ids = {
            r: m
            for r, m in connection.execute(
                "SELECT source_patient_id, master_patient_id FROM patient_link WHERE superseded_at IS NULL"
            )
        }
        merge_identities(connection, ids[a], ids[b], "steward:Ms Hoa", "same man")  # a and b: steward links
        merged = merge_identities(connection, ids[a], ids[c], "steward:Ms Hoa", "same man again")
        relink(connection, a, None, "steward:Ms Hoa", "not him after all")  # left in place by the merge
    after = state(database)
    moved = f"record[(]s[)] {a} of this merge have been moved since"
    with pytest.raises(StewardshipError, match=moved), database.begin() as connection:
        undo_merge(connection, merged.event_id, "steward:Mr Nam", "three men")
    assert state(database) == after


def test_every_change_needs_a_reason(database: Database, tmp_path: Path) -> None:
    an, bình = two_people(database, tmp_path)
    before = state(database)
    for reason in ("", "   ", "x" * 501):
        with pytest.raises(ReasonRequired), database.begin() as connection:
            merge_identities(connection, an, bình, "steward:Ms Hoa", reason)
        with pytest.raises(ReasonRequired), database.begin() as connection:
            relink(connection, source_id(database, "B1"), an, "steward:Ms Hoa", reason)
    assert state(database) == before


def test_an_identity_history_tells_every_event_with_who_when_why_and_before_after(
    database: Database, tmp_path: Path
) -> None:
    an, bình = two_people(database, tmp_path)
    a2 = source_id(database, "A2")
    with database.begin() as connection:
        split = relink(connection, a2, None, "steward:Ms Hoa", "another An")
        relink(connection, a2, an, "steward:Ms Hoa", "the same An after all")
        merged = merge_identities(connection, an, bình, "steward:Ms Hoa", "same man")
        undo_merge(connection, merged.event_id, "steward:Mr Nam", "two men")
        history = run(connection, identity_history(an))
    assert [(e.actor, e.reason) for e in history[2:]] == [
        ("steward:Ms Hoa", "another An"),
        ("steward:Ms Hoa", "the same An after all"),
        ("steward:Ms Hoa", "same man"),
        ("steward:Mr Nam", "two men"),
    ]
    kinds = [e.kind for e in history]
    assert kinds == ["formed", "linked", "split", "relink", "merge", "merge_undo"]
    formed, linked, split_event, back, merge, undo = history
    assert formed.actor.startswith("engine:") and formed.batch_id and linked.batch_id != formed.batch_id
    assert [(m.source_patient_id, m.from_master_id, m.to_master_id) for m in linked.moves] == [(a2, None, an)]
    assert split_event.master_patient_ids == tuple(sorted((an, split.master_patient_id)))
    assert [(m.source_patient_id, m.from_master_id, m.to_master_id) for m in split_event.moves] == [
        (a2, an, split.master_patient_id)
    ]
    assert [i["id"] for i in split_event.before] == [an] and len(split_event.after) == 2
    assert back.moves[0].to_master_id == an
    assert merge.undone_by_event_id == undo.event_id and undo.undoes_event_id == merge.event_id
    assert {i["id"]: i["active"] for i in merge.after} == {an: True, bình: False}
    assert {i["id"]: i["active"] for i in undo.after} == {an: True, bình: True}
    assert all(e.at is not None for e in history)
    # Bình's history: formed by a load, merged into An's, merge undone.
    with database.connect() as connection:
        assert [e.kind for e in run(connection, identity_history(bình))] == ["formed", "merge", "merge_undo"]


def test_review_decisions_and_their_undoing_are_part_of_the_history(
    database: Database, tmp_path: Path
) -> None:
    from registry.identity.stewardship import undo_review_decision

    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    found = masters(database)
    ((item,),) = rows(database, "SELECT id FROM match_review")
    with database.begin() as connection:
        decided = decide_review(connection, item, True, "steward:Ms Hoa")
        undo_review_decision(connection, item, "steward:Mr Nam")
        history = run(connection, identity_history(found["A-000301"]))
    assert [(e.kind, e.actor, e.review_id) for e in history] == [
        ("formed", history[0].actor, None),
        ("review_decision", "steward:Ms Hoa", item),
        ("review_undo", "steward:Mr Nam", item),
    ]
    assert history[1].event_id == decided.event_id and history[1].undone_by_event_id == history[2].event_id
    assert history[1].reason == f"review {item}: same person"
    assert [m.to_master_id for m in history[1].moves] == [found["A-000301"]]


def test_the_history_is_append_only_and_every_change_records_its_outcome(
    database: Database, tmp_path: Path
) -> None:
    an, bình = two_people(database, tmp_path)
    with database.begin() as connection:
        merge_identities(connection, an, bình, "steward:Ms Hoa", "same man")
    for change in ("UPDATE identity_event SET reason = 'other'", "DELETE FROM identity_event"):
        with pytest.raises(Exception, match="identity_event is append-only"), database.begin() as connection:
            connection.execute(change)
    with (
        pytest.raises(Exception, match="was not completed in its transaction"),
        database.begin() as connection,
    ):
        open_event(connection, "relink", "steward:Ms Hoa", "left open", [an], [])
    with database.begin() as connection:
        event = open_event(connection, "relink", "steward:Ms Hoa", "closed", [an], [])
        close_event(connection, event, [an], [])
    assert rows(database, "SELECT count(*) FROM identity_event WHERE after IS NOT NULL") == [(2,)]
