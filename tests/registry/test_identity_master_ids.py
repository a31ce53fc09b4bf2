"""Master ids are stable and never reused for another person: a split-off record gets a new id or
returns to the id it came from; a retired id answers with where its records went, all of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from registry import reads
from registry.db import migrate
from registry.db.sql import run
from registry.identity.errors import StewardshipError
from registry.identity.master_ids import answer_for, answers_for
from registry.identity.merges import merge_identities, undo_merge
from registry.identity.stewardship import relink
from tests.database import Database
from tests.factories import make_patient
from tests.registry.identity_helpers import add_people, load, masters, roll_back_to, rows, source_id


def test_a_record_split_out_again_returns_to_its_own_id_which_never_answers_with_someone_else(
    database: Database, tmp_path: Path
) -> None:
    """The defect of issue 16: relink a record into another identity, split it out without a
    patient id, and its old id answered with the other person."""
    son = make_patient("S1", full_name="Cao Văn Sơn", born=(1980, 2, 1), serial="000811")
    nam = make_patient(
        "N1", facility_code="27002", full_name="CAO NAM", born=(2015, 9, 9), with_citizen_id=False
    )
    load(database, tmp_path, "27001", son)
    load(database, tmp_path, "27002", nam.model_copy(update={"phone": None, "insurance_cards": ()}))
    before = masters(database)
    nam_id, son_id = before["N1"], before["S1"]
    assert nam_id != son_id
    with database.begin() as connection:
        relink(connection, source_id(database, "N1"), son_id, "steward:Ms Hoa", "looked like the same child")
    with database.connect() as connection:
        assert run(connection, answer_for(nam_id)).answers_with == (son_id,)  # retired: where its record went
    with database.begin() as connection:
        split = relink(connection, source_id(database, "N1"), None, "steward:Ms Hoa", "not the same person")
    # The record returns to the id it came from; the other person keeps theirs.
    assert split.master_patient_id == nam_id and masters(database) == before
    with database.connect() as connection:
        answers = run(connection, answers_for([nam_id, son_id]))
        assert answers[nam_id].active and answers[nam_id].answers_with == (nam_id,)
        assert answers[son_id].active
        assert run(connection, reads.surviving_master(nam_id)) == nam_id  # active: read as itself
    assert rows(database, "SELECT id, retired_at IS NULL, merged_into FROM master_patient ORDER BY id") == [
        (son_id, True, None),
        (nam_id, True, None),
    ]


def test_a_retired_id_whose_records_went_to_several_identities_says_so(database: Database) -> None:
    with database.begin() as connection:
        c, d, e = add_people(connection, ["Trần Thị Bích", "Lê Văn Dũng", "Lê Dũng"])
        ids = _masters_of(connection, [c, d, e])
        merge_identities(connection, ids[d], ids[e], "steward:Ms Hoa", "one person")
        merge_identities(connection, ids[c], ids[d], "steward:Ms Hoa", "one person")
        answer = run(connection, answer_for(ids[d]))
        assert answer.answers_with == (ids[c],) and answer.moved_to == ids[c]
        assert run(connection, reads.surviving_master(ids[d])) == ids[c]
        # e's record split out again: it returns to its own id (retired with it alone), not to d's
        # (retired with d's and e's records); d's id now answers with both identities.
        split = relink(connection, e, None, "steward:Ms Hoa", "not the same person")
        assert split.master_patient_id == ids[e] and run(connection, answer_for(ids[e])).active
        answer = run(connection, answer_for(ids[d]))
        assert answer.scattered and not answer.active and answer.moved_to is None
        assert answer.answers_with == tuple(sorted((ids[c], ids[e])))
        assert run(connection, reads.surviving_master(ids[d])) is None  # no single identity to read it as
        # Split out again, e's record gets a new id: no id it came from is retired with it alone.
        merge_identities(connection, ids[c], ids[e], "steward:Ms Hoa", "one person after all")
        relink(connection, d, None, "steward:Ms Hoa", "not the same person")  # back to d's own id? no:
        assert _masters_of(connection, [d])[d] not in ids.values()  # d's id retired with d's and e's


def test_a_record_may_join_a_retired_id_only_when_it_is_the_record_that_id_retired_with(
    database: Database,
) -> None:
    with database.begin() as connection:
        a, b, c = add_people(connection, ["Nguyễn Văn An", "Trần Thị Bích", "Phạm Văn Cường"])
        ids = _masters_of(connection, [a, b, c])
        relink(connection, a, ids[b], "steward:Ms Hoa", "same person")
        with pytest.raises(StewardshipError, match=f"patient {ids[a]} is no longer in use"):
            relink(connection, c, ids[a], "steward:Ms Hoa", "wrong")
        assert _masters_of(connection, [c])[c] == ids[c]
        relink(connection, a, ids[a], "steward:Ms Hoa", "back where it was")
        assert run(connection, answer_for(ids[a])).active


def _masters_of(connection: psycopg.Connection[Any], records: list[int]) -> dict[int, int]:
    return dict(
        connection.execute(
            "SELECT source_patient_id, master_patient_id FROM patient_link"
            " WHERE superseded_at IS NULL AND source_patient_id = ANY(%(r)s)",
            {"r": records},
        ).all()
    )


# --- the rule, over random sequences of merge, split, relink and undo ----------------------------

NAMES = ["Nguyễn Văn An", "NGUYEN VAN AN", "Trần Thị Bích", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em"]
# Two records carry citizen IDs (different): merging their identities needs the override.
CITIZEN_IDS = ["027085012345", None, "027185000001", None, None, None]


class MasterIds(RuleBasedStateMachine):
    """Identities changed at random by a steward; after every step each master id that ever answered
    for a record still answers for it, or says where it went:
    - a retired id comes back only with exactly the records it held when it retired (never with
      someone else's);
    - a retired id answers with exactly the identities now holding the records it held when it was
      retired, all active; `merged_into` (and the API's read, `reads.surviving_master`) names the
      one when there is one, and none when they scattered;
    - a record given an identity of its own gets a new id or returns to the id it came from.
    An undone merge restores the state before it exactly (the records' links and both identities)."""

    connection: psycopg.Connection[Any]

    def __init__(self) -> None:
        super().__init__()
        self.connection.execute("SAVEPOINT machine")  # each run of the machine is undone after
        self.records = add_people(self.connection, NAMES, CITIZEN_IDS)
        self.ever_held: dict[int, set[int]] = {}  # master id -> every record it answered for
        self.last_held: dict[int, set[int]] = {}  # master id -> its records when last seen active
        self.was_active: dict[int, bool] = {}  # master id -> active at the last step
        self.merges: list[tuple[int, dict[str, Any]]] = []  # (event, the state of its identities before)
        self.observe()

    def teardown(self) -> None:
        self.connection.execute("ROLLBACK TO SAVEPOINT machine")

    # The registry as it is: record -> master, and each identity's state.
    def master_of(self) -> dict[int, int]:
        return dict(
            self.connection.execute(
                "SELECT source_patient_id, master_patient_id FROM patient_link"
                " WHERE superseded_at IS NULL AND source_patient_id = ANY(%(r)s)",
                {"r": self.records},
            ).all()
        )

    def identities(self) -> dict[int, tuple[bool, int | None, str | None]]:
        return {
            row.id: (row.active, row.merged_into, row.citizen_id)
            for row in self.connection.execute(
                "SELECT id, retired_at IS NULL AS active, merged_into, citizen_id FROM master_patient"
            )
        }

    def observe(self) -> None:
        held: dict[int, set[int]] = {}
        for record, master in self.master_of().items():
            held.setdefault(master, set()).add(record)
        for master, records in held.items():
            self.ever_held.setdefault(master, set()).update(records)
            self.last_held[master] = records
        self.was_active = {master: master in held for master in self.ever_held}

    def attempt(self, change: Any, *args: Any, **kwargs: Any) -> Any:
        """A change, or nothing at all when it is refused."""
        try:
            done = change(self.connection, *args, **kwargs)
        except StewardshipError as refused:
            event(f"{change.__name__} refused: {type(refused).__name__}")
            return None
        event(f"{change.__name__} made")
        return done

    @rule(data=st.data())
    def merge(self, data: st.DataObject) -> None:
        active = sorted({m for m in self.master_of().values()})
        if len(active) < 2:
            return
        survivor, merged = data.draw(st.permutations(active))[:2]
        override = data.draw(st.booleans())
        before = self.state_of([survivor, merged])
        done = self.attempt(
            merge_identities, survivor, merged, "steward:test", "one person", override_citizen_ids=override
        )
        if done is not None:
            self.merges.append((done.event_id, before))

    @rule(record=st.integers(0, len(NAMES) - 1))
    def split(self, record: int) -> None:
        source = self.records[record]
        came_from = set(
            self.connection.execute(
                "SELECT master_patient_id FROM patient_link WHERE source_patient_id = %(s)s", {"s": source}
            ).scalars()
        )
        known = set(self.ever_held)
        done = self.attempt(relink, source, None, "steward:test", "not the same person")
        if done is not None:  # a new id, or one the record came from
            assert done.master_patient_id not in known or done.master_patient_id in came_from

    @rule(record=st.integers(0, len(NAMES) - 1), data=st.data())
    def relink(self, record: int, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(self.ever_held)))
        self.attempt(relink, self.records[record], target, "steward:test", "moved by hand")

    @rule(data=st.data())
    def undo(self, data: st.DataObject) -> None:
        if not self.merges:
            return
        event, before = data.draw(st.sampled_from(self.merges))
        done = self.attempt(undo_merge, event, "steward:test", "merged by mistake")
        if done is not None:
            # Exactly the state before the merge: the links it rewrote, and its two identities.
            after = self.state_of([done.survivor_id, done.merged_id])
            assert after["identities"] == before["identities"]
            assert {r: after["links"][r] for r in done.restored} == {
                r: before["links"][r] for r in done.restored
            }

    def state_of(self, masters: list[int]) -> dict[str, Any]:
        """The records' current links, and these identities."""
        links = self.connection.execute(
            "SELECT source_patient_id, master_patient_id, method, score, explanation, decided_by, batch_id"
            " FROM patient_link WHERE superseded_at IS NULL AND source_patient_id = ANY(%(r)s)",
            {"r": self.records},
        ).all()
        identities = self.connection.execute(
            "SELECT id, retired_at IS NULL, merged_into, citizen_id FROM master_patient"
            " WHERE id = ANY(%(m)s) ORDER BY id",
            {"m": masters},
        ).all()
        return {
            "links": {link[0]: tuple(link) for link in links},
            "identities": [tuple(i) for i in identities],
        }

    @invariant()
    def every_master_id_answers_for_its_own_records_or_says_where_they_went(self) -> None:
        where = self.master_of()
        identities = self.identities()
        answers = run(self.connection, answers_for(self.ever_held))
        for master in self.ever_held:
            answer = answers[master]
            active, merged_into, _ = identities[master]
            assert answer.active == active
            if active:
                holding = {r for r, m in where.items() if m == master}
                assert holding, master
                if not self.was_active[master]:
                    assert holding == self.last_held[master], (master, holding, self.last_held[master])
                assert answer.answers_with == (master,) and merged_into is None
            else:
                went = {where[r] for r in self.last_held[master]}
                assert set(answer.answers_with) == went, (master, answer, went)
                assert all(identities[m][0] for m in went)
                assert merged_into == (next(iter(went)) if len(went) == 1 else None)
                assert run(self.connection, reads.surviving_master(master)) == merged_into
        # A retired identity holds no citizen ID.
        assert all(active for active, _, citizen_id in identities.values() if citizen_id is not None)
        self.observe()


def test_master_ids_keep_their_meaning_over_random_merges_splits_relinks_and_undos(
    database: Database,
) -> None:
    with database.connect() as connection, connection.transaction():
        MasterIds.connection = connection
        run_state_machine_as_test(
            MasterIds,
            settings=settings(
                max_examples=60,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )


def test_the_migration_gives_identities_retired_before_it_their_records_and_answers(
    db_url: str, database: Database
) -> None:
    """Retired before the rule: an id whose records scattered named the destination most of them
    went to; after the migration it answers with all of them, and `merged_into` names none."""
    with database.begin() as connection:
        c, d, e = add_people(connection, ["Trần Thị Bích", "Lê Văn Dũng", "Lê Dũng"])
        ids = _masters_of(connection, [c, d, e])
    with database.begin() as connection:
        merge_identities(connection, ids[d], ids[e], "steward:Ms Hoa", "one person")
    with database.begin() as connection:
        merge_identities(connection, ids[c], ids[d], "steward:Ms Hoa", "one person")
    with database.begin() as connection:
        split = relink(connection, d, None, "steward:Ms Hoa", "not the same person")
    roll_back_to(db_url, "0011_one_review_per_pair")
    with database.begin() as connection:  # as the settling before the rule left it: one destination picked
        connection.execute(
            "UPDATE master_patient SET merged_into = %(c)s WHERE id = %(d)s", {"c": ids[c], "d": ids[d]}
        )
    migrate.upgrade(db_url)
    with database.connect() as connection:
        answer = run(connection, answer_for(ids[d]))
        assert answer.answers_with == tuple(sorted((ids[c], split.master_patient_id)))
        assert run(connection, reads.surviving_master(ids[d])) is None
        assert run(connection, answer_for(ids[e])).answers_with == (ids[c],)
    assert rows(database, "SELECT merged_into FROM master_patient WHERE id = %(d)s", d=ids[d]) == [(None,)]
