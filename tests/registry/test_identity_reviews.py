"""The review queue holds one item per unordered pair, a decided pair stays decided, and a pair is
decided once however many stewards answer at the same moment."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from registry.db import migrate
from registry.identity.stewardship import AlreadyDecided, decide_review, undo_review_decision
from tests.database import Database
from tests.registry.identity_helpers import (
    borderline_pair,
    linked_through_a_third,
    masters,
    relink_all_in,
    roll_back_to,
    rows,
    source_id,
)


def items(database: Database) -> list[tuple[Any, ...]]:
    return rows(
        database,
        "SELECT id, source_patient_id, candidate_source_patient_id, status, decided_by,"
        " (explanation->>'left_source_patient_id')::bigint FROM match_review ORDER BY id",
    )


def test_a_pair_found_from_both_sides_is_one_item_in_the_direction_first_found(
    database: Database, tmp_path: Path
) -> None:
    linked_through_a_third(database, tmp_path)
    ((item, record, candidate, status, _, left),) = items(database)
    assert (record, candidate, status) == (source_id(database, "B1"), source_id(database, "A1"), "open")
    assert left == record
    for _ in range(2):  # a batch re-link scores the pair the other way round, twice
        relink_all_in(database)
    # Still one item, in the direction it was found, its explanation turned to that direction.
    assert items(database) == [(item, record, candidate, "open", None, record)]
    ((name_step,),) = rows(
        database,
        "SELECT s FROM match_review, jsonb_array_elements(explanation->'steps') s"
        " WHERE s->>'field' = 'social_insurance'",
    )
    ((b1_number, a1_number),) = rows(
        database,
        "SELECT (SELECT social_insurance_number FROM source_patient WHERE local_id = 'B1'),"
        " (SELECT social_insurance_number FROM source_patient WHERE local_id = 'A1')",
    )
    assert b1_number is None and name_step["right"] == a1_number


def test_the_database_refuses_a_second_item_for_a_pair(database: Database, tmp_path: Path) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    ((_, record, candidate, *_),) = items(database)
    with pytest.raises(Exception, match="match_review_one_per_pair"), database.begin() as connection:
        connection.execute(
            "INSERT INTO match_review (source_patient_id, candidate_source_patient_id, weight, probability,"
            " reason, explanation) VALUES (%(a)s, %(b)s, 3, 0.9, 'test', '{}')",
            {"a": candidate, "b": record},
        )


def test_a_decided_pair_is_never_queued_again(database: Database, tmp_path: Path) -> None:
    linked_through_a_third(database, tmp_path)
    ((item, *_),) = items(database)
    with database.begin() as connection:
        decide_review(connection, item, False, "steward:Ms Hoa")
    apart = masters(database)
    assert apart["B1"] != apart["A1"]
    relink_all_in(database)
    relink_all_in(database)
    (decided,) = [i for i in items(database) if i[0] == item]
    assert decided[3:5] == ("different", "steward:Ms Hoa")
    pair = {source_id(database, "A1"), source_id(database, "B1")}
    assert [i for i in items(database) if {i[1], i[2]} == pair] == [decided]
    assert masters(database)["B1"] != masters(database)["A1"]


def test_a_decision_on_a_decided_pair_says_who_decided_it_and_when_and_changes_nothing(
    database: Database, tmp_path: Path
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    ((item, *_),) = items(database)
    with database.begin() as connection:
        decide_review(connection, item, True, "steward:Ms Hoa")
    state = (
        masters(database),
        rows(database, "SELECT * FROM match_constraint"),
        rows(database, "SELECT * FROM patient_link"),
    )
    ((decided_at,),) = rows(database, "SELECT decided_at FROM match_review")
    for same in (False, True):
        with pytest.raises(AlreadyDecided) as refused, database.begin() as connection:
            decide_review(connection, item, same, "steward:Mr Nam")
        assert str(refused.value).startswith(
            f"already decided by steward:Ms Hoa at {decided_at.isoformat(timespec='seconds')} (the same person)"
        )
    assert state == (
        masters(database),
        rows(database, "SELECT * FROM match_constraint"),
        rows(database, "SELECT * FROM patient_link"),
    )
    # Undone, the pair may be decided again.
    with database.begin() as connection:
        undo_review_decision(connection, item, "steward:Mr Nam")
        decide_review(connection, item, False, "steward:Mr Nam")
    assert rows(database, "SELECT same_person, decided_by FROM match_constraint") == [
        (False, "steward:Mr Nam")
    ]


@pytest.mark.parametrize("answers", [(True, False), (False, True), (True, True)])
def test_two_stewards_deciding_one_item_at_once_make_one_decision(
    database: Database, tmp_path: Path, answers: tuple[bool, bool]
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    ((item, *_),) = items(database)
    before = masters(database)
    start = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def steward(name: str, same: bool) -> None:
        with database.connect() as connection:
            start.wait()
            try:
                with connection.transaction():
                    outcomes[name] = decide_review(connection, item, same, name)
            except AlreadyDecided as refused:
                outcomes[name] = refused

    threads = [
        threading.Thread(target=steward, args=(name, same))
        for name, same in zip(("steward:Ms Hoa", "steward:Mr Nam"), answers, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [name for name, outcome in outcomes.items() if isinstance(outcome, AlreadyDecided)]
    assert len(outcomes) == 2 and len(refused) == 1
    (winner,) = set(outcomes) - set(refused)
    same = dict(zip(("steward:Ms Hoa", "steward:Mr Nam"), answers, strict=True))[winner]
    assert outcomes[refused[0]].decided_by == winner
    assert str(outcomes[refused[0]]).startswith(f"already decided by {winner} at ")
    assert rows(database, "SELECT status, decided_by FROM match_review") == [
        ("same" if same else "different", winner)
    ]
    assert rows(database, "SELECT same_person, decided_by FROM match_constraint") == [(same, winner)]
    steward_links = rows(database, "SELECT decided_by FROM patient_link WHERE method = 'steward'")
    assert steward_links == ([(winner,)] if same else [])
    after = masters(database)
    assert (after["A-000301"] == after["B-000301"]) is same
    assert after["A-000301"] == before["A-000301"]


def test_the_migration_merges_reversed_duplicates_keeping_the_standing_decision(
    db_url: str, database: Database, tmp_path: Path
) -> None:
    for serial, name, born in (
        ("000301", "Nguyễn Văn An", (1985, 3, 14)),
        ("000302", "Nguyễn Thị Lan", (1972, 8, 21)),
        ("000303", "Nguyễn Văn Hùng", (1979, 11, 5)),
    ):
        borderline_pair(database, tmp_path, name, born, serial)
    roll_back_to(db_url, "0010_field_lengths")
    found = rows(
        database, "SELECT id, source_patient_id, candidate_source_patient_id FROM match_review ORDER BY id"
    )
    (open_pair, decided_pair, mixed_pair) = found
    with database.begin() as connection:
        reverse = (
            "INSERT INTO match_review (source_patient_id, candidate_source_patient_id, weight, probability, reason,"
            " explanation, status, decided_by, decided_at)"
            " SELECT candidate_source_patient_id, source_patient_id, weight, probability, reason, explanation,"
            " %(status)s, %(by)s, %(at)s FROM match_review WHERE id = %(id)s RETURNING id"
        )
        decide = "UPDATE match_review SET status = %(status)s, decided_by = %(by)s, decided_at = %(at)s WHERE id = %(id)s"
        constraint = "INSERT INTO match_constraint VALUES (least(%(a)s, %(b)s), greatest(%(a)s, %(b)s), %(same)s, %(by)s, %(at)s)"
        open_twin = connection.execute(
            reverse, {"id": open_pair[0], "status": "open", "by": None, "at": None}
        ).scalar_one()
        # Ms Hoa said different on one side, then Mr Nam same on the other: his decision stands.
        connection.execute(
            decide,
            {"id": decided_pair[0], "status": "different", "by": "steward:Ms Hoa", "at": "2026-01-05"},
        )
        nam = connection.execute(
            reverse,
            {"id": decided_pair[0], "status": "same", "by": "steward:Mr Nam", "at": "2026-01-06"},
        ).scalar_one()
        connection.execute(
            constraint,
            {
                "a": decided_pair[1],
                "b": decided_pair[2],
                "same": True,
                "by": "steward:Mr Nam",
                "at": "2026-01-06",
            },
        )
        decided_twin = connection.execute(
            reverse,
            {"id": mixed_pair[0], "status": "different", "by": "steward:Ms Hoa", "at": "2026-01-07"},
        ).scalar_one()
        connection.execute(
            constraint,
            {
                "a": mixed_pair[1],
                "b": mixed_pair[2],
                "same": False,
                "by": "steward:Ms Hoa",
                "at": "2026-01-07",
            },
        )
    before = rows(database, "SELECT * FROM match_review ORDER BY id")
    migrate.upgrade(db_url)
    assert [r[0] for r in rows(database, "SELECT id FROM match_review ORDER BY id")] == sorted(
        [open_pair[0], nam, decided_twin]
    )
    assert rows(
        database, "SELECT id, kept_review_id, item->>'status' FROM match_review_duplicate ORDER BY id"
    ) == sorted(
        [
            (open_twin, open_pair[0], "open"),
            (decided_pair[0], nam, "different"),
            (mixed_pair[0], decided_twin, "open"),
        ]
    )
    # Rolled back, every item is back as it was.
    roll_back_to(db_url, "0010_field_lengths")
    assert rows(database, "SELECT * FROM match_review ORDER BY id") == before
    migrate.upgrade(db_url)
