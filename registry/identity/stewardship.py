"""A steward's identity work: move a source record to another master identity, or give it one of its own,
and decide the possible matches the engine queued for review (`match_review`). Merging whole
identities and undoing a merge are in `registry.identity.merges`.

A steward's decision is a link like any other, written by `registry.identity.links` as every link
is (superseding, never rewriting, the current one), made with method 'steward', which the
automatic linking never changes. A review decision is also kept as a constraint on the pair
(`match_constraint`) that every later run honours, and can be undone: the record goes back to the
identity its link history says it had. A pair is decided once: a decision on a decided item is
refused (`AlreadyDecided`), naming who decided it and when.

Master ids keep their meaning: a record given an identity of its own (a split) goes back to the
id it came from when that id was retired holding this record alone, and otherwise gets a new id;
a record is linked to a retired id only in that case (`registry.identity.master_ids`).

Each change is one transaction (a savepoint of the caller's: all or nothing), runs under the
linking step's advisory lock (so a load or a batch re-link never works from a state a steward is
changing) and is recorded in the identities' history (`registry.identity.history`) in the same
transaction: who, when, why, and the identities before and after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Row, delete, exists, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import aliased

from registry.db.models import (
    IdentityEvent,
    MasterPatient,
    MatchConstraint,
    MatchReview,
    PatientLink,
    SourcePatient,
)
from registry.identity.errors import AlreadyDecided, NotFoundError, StewardshipError
from registry.identity.history import checked_reason, close_event, open_event
from registry.identity.links import found_identities, lock_linking, retired_records, write_links
from registry.identity.master_ids import answer_for

__all__ = [
    "AlreadyDecided",
    "NotFoundError",
    "Relinked",
    "ReviewDecided",
    "StewardshipError",
    "decide_review",
    "open_reviews",
    "relink",
    "review",
    "undo_review_decision",
]


@dataclass(frozen=True)
class Relinked:
    link_id: int
    source_patient_id: int
    previous_master_id: int | None
    master_patient_id: int
    event_id: int | None = None  # the change recorded in the history

    @property
    def master_ids(self) -> tuple[int, ...]:
        """The identities it touched: the one the record left (if any) and the one it joined."""
        left = () if self.previous_master_id is None else (self.previous_master_id,)
        return tuple(dict.fromkeys((*left, self.master_patient_id)))


def relink(
    connection: Connection,
    source_patient_id: int,
    master_patient_id: int | None,
    steward: str,
    reason: str,
    details: Mapping[str, Any] | None = None,
) -> Relinked:
    """Link the source record to `master_patient_id`, or, when None, to an identity of its own: an
    id it came from, if one was retired holding this record alone (the latest), else a new one (a
    split).

    `details` are kept in the link's explanation with the reason. The citizen ID follows the
    record: the identity it leaves stops holding it when no other record there carries it, and
    the identity it joins holds it when it holds none and no other identity does.
    """
    reason = checked_reason(reason)
    with connection.begin_nested():
        lock_linking(connection)
        current = _current_link(connection, source_patient_id)
        target = _destination(connection, source_patient_id, current, master_patient_id)
        involved = [m for m in (current.master_patient_id if current else None, target) if m is not None]
        event = open_event(
            connection,
            "split" if master_patient_id is None else "relink",
            steward,
            reason,
            involved,
            [source_patient_id],
        )
        moved = _move(connection, source_patient_id, current, target, steward, reason, details, event)
        close_event(connection, event, [moved.master_patient_id], [])
        return moved


def _current_link(connection: Connection, source_patient_id: int) -> Row[Any] | None:
    if (
        connection.execute(select(SourcePatient.id).where(SourcePatient.id == source_patient_id)).scalar()
        is None
    ):
        raise NotFoundError("no such source record")
    return connection.execute(
        select(PatientLink.id, PatientLink.master_patient_id)
        .where(PatientLink.source_patient_id == source_patient_id, PatientLink.superseded_at.is_(None))
        .with_for_update()
    ).one_or_none()


def _destination(
    connection: Connection, source_patient_id: int, current: Row[Any] | None, asked: int | None
) -> int | None:
    """The identity the record is to join: the one asked for (a retired one only when the record is
    the one it retired with), or for an identity of its own the latest id it came from that was
    retired with this record alone; None: a new identity."""
    if asked is None:
        # The ids it was linked to before, latest first: the first retired with this record alone.
        earlier = connection.execute(
            select(PatientLink.master_patient_id)
            .where(PatientLink.source_patient_id == source_patient_id, PatientLink.superseded_at.is_not(None))
            .order_by(PatientLink.id.desc())
        ).scalars()
        came_from = [m for m in dict.fromkeys(earlier) if current is None or m != current.master_patient_id]
        retired = retired_records(connection, came_from)
        return next((m for m in came_from if retired.get(m) == [source_patient_id]), None)
    if connection.execute(select(MasterPatient.id).where(MasterPatient.id == asked)).scalar() is None:
        raise NotFoundError("no such patient")
    held = retired_records(connection, [asked]).get(asked)
    if held is not None and held != [source_patient_id]:
        answer = answer_for(connection, asked)
        where = ", ".join(map(str, answer.answers_with)) if answer else "-"
        raise StewardshipError(
            f"patient {asked} is no longer in use: its records are in patient(s) {where}; link to one of those"
        )
    return asked


def _move(
    connection: Connection,
    source_patient_id: int,
    current: Row[Any] | None,
    target: int | None,
    steward: str,
    reason: str,
    details: Mapping[str, Any] | None,
    event_id: int,
) -> Relinked:
    """The record's new steward link (to a new identity when `target` is None), written by
    `registry.identity.links`, with the citizen ID following it; under the caller's lock."""
    if target is None:
        target = found_identities(connection, {source_patient_id: None})[source_patient_id]
    if current is not None and current.master_patient_id == target:
        raise StewardshipError("the record is already linked to that patient")
    explanation = orjson.dumps({**(details or {}), "reason": reason}).decode()
    write_links(
        connection, [(source_patient_id, target, "steward", None, explanation)], steward, event_id=event_id
    )
    link_id = connection.execute(
        select(PatientLink.id).where(
            PatientLink.source_patient_id == source_patient_id, PatientLink.superseded_at.is_(None)
        )
    ).scalar_one()
    previous = current.master_patient_id if current else None
    # The identities' states are settled by now (the one left may be retired, the one joined back),
    # then the citizen ID moves: a retired identity holds none.
    _move_citizen_id(connection, source_patient_id, previous, target)
    return Relinked(link_id, source_patient_id, previous, target, event_id)


def _move_citizen_id(connection: Connection, source_patient_id: int, left: int | None, joined: int) -> None:
    citizen_id = connection.execute(
        select(SourcePatient.citizen_id).where(SourcePatient.id == source_patient_id)
    ).scalar()
    if citizen_id is None:
        return
    if left is not None:
        still_carried = exists().where(
            PatientLink.master_patient_id == left,
            PatientLink.superseded_at.is_(None),
            SourcePatient.id == PatientLink.source_patient_id,
            SourcePatient.citizen_id == citizen_id,
        )
        connection.execute(
            update(MasterPatient)
            .where(MasterPatient.id == left, MasterPatient.citizen_id == citizen_id, ~still_carried)
            .values(citizen_id=None)
        )
    holder = aliased(MasterPatient)
    held = exists().where(holder.citizen_id == citizen_id)
    connection.execute(
        update(MasterPatient)
        .where(MasterPatient.id == joined, MasterPatient.citizen_id.is_(None), ~held)
        .values(citizen_id=citizen_id)
    )


# The review queue -------------------------------------------------------------------------------

_record_link = aliased(PatientLink)
_candidate_link = aliased(PatientLink)


def _review_rows() -> Any:
    """Review items with both records' current identities and the steward's decision on the pair, if any."""
    left, right = MatchReview.left_source_patient_id, MatchReview.right_source_patient_id
    return (
        select(
            MatchReview.__table__,
            _record_link.master_patient_id.label("master_patient_id"),
            _candidate_link.master_patient_id.label("candidate_master_patient_id"),
            MatchConstraint.same_person.label("pair_same_person"),
            MatchConstraint.decided_by.label("pair_decided_by"),
            MatchConstraint.decided_at.label("pair_decided_at"),
        )
        .outerjoin(
            _record_link,
            (_record_link.source_patient_id == MatchReview.source_patient_id)
            & _record_link.superseded_at.is_(None),
        )
        .outerjoin(
            _candidate_link,
            (_candidate_link.source_patient_id == MatchReview.candidate_source_patient_id)
            & _candidate_link.superseded_at.is_(None),
        )
        .outerjoin(
            MatchConstraint,
            (MatchConstraint.left_source_patient_id == left)
            & (MatchConstraint.right_source_patient_id == right),
        )
    )


def open_reviews(
    connection: Connection, after: tuple[datetime, int] | None, limit: int
) -> Sequence[Row[Any]]:
    """Open review items, newest first (keyset: created_at, id), each with both records' identities."""
    query = _review_rows().where(MatchReview.status == "open")
    if after is not None:
        query = query.where(
            tuple_(MatchReview.created_at, MatchReview.id) < tuple_(literal(after[0]), literal(after[1]))
        )
    return connection.execute(
        query.order_by(MatchReview.created_at.desc(), MatchReview.id.desc()).limit(limit)
    ).all()


def review(connection: Connection, review_id: int) -> Row[Any] | None:
    return connection.execute(_review_rows().where(MatchReview.id == review_id)).one_or_none()


@dataclass(frozen=True)
class ReviewDecided:
    review_id: int
    relinked: Relinked | None  # None: the decision needed no link change
    master_ids: tuple[int, ...]  # the identities affected: those of both records, and any one left
    event_id: int | None = None  # the decision (or its undoing) in the identities' history


def _locked_review(connection: Connection, review_id: int) -> Row[Any]:
    found = connection.execute(
        select(MatchReview.__table__).where(MatchReview.id == review_id).with_for_update()
    ).one_or_none()
    if found is None:
        raise NotFoundError("no such review item")
    return found


def _current_master(connection: Connection, source_patient_id: int) -> int:
    master = connection.execute(
        select(PatientLink.master_patient_id).where(
            PatientLink.source_patient_id == source_patient_id, PatientLink.superseded_at.is_(None)
        )
    ).scalar()
    if master is None:
        raise StewardshipError("a record of this pair is not linked to any patient")
    return int(master)


def _pair(item: Row[Any]) -> tuple[int, int]:
    a, b = item.source_patient_id, item.candidate_source_patient_id
    return (a, b) if a < b else (b, a)


def _affected(connection: Connection, item: Row[Any], relinked: Relinked | None) -> tuple[int, ...]:
    masters = [
        _current_master(connection, item.source_patient_id),
        _current_master(connection, item.candidate_source_patient_id),
    ]
    if relinked is not None and relinked.previous_master_id is not None:
        masters.append(relinked.previous_master_id)
    return tuple(dict.fromkeys(masters))


def decide_review(connection: Connection, review_id: int, same_person: bool, steward: str) -> ReviewDecided:
    """A steward's answer to an open review item, kept and applied (all or nothing: a savepoint).

    A decided item is refused (`AlreadyDecided`, naming who and when): a pair is decided once,
    however many stewards answer at the same moment (the item is read under the linking lock).
    The answer is kept for the pair (`match_constraint`) and on the item.
    Same person: the item's record joins the candidate's identity, unless already there.
    Different people: when the two share an identity, the item's record gets one of its own (the
    id it came from, or a new one, as `relink` gives). Either move is a steward link marked with
    the review item's id; the decision is one event of the identities' history.
    """
    with connection.begin_nested():
        lock_linking(connection)
        item = _locked_review(connection, review_id)
        if item.status != "open":
            raise AlreadyDecided(item.decided_by, item.decided_at, item.status)
        record_master = _current_master(connection, item.source_patient_id)
        candidate_master = _current_master(connection, item.candidate_source_patient_id)
        answer = "same person" if same_person else "different people"
        records = [item.source_patient_id, item.candidate_source_patient_id]
        event = open_event(
            connection, "review_decision", steward, f"review {review_id}: {answer}",
            [record_master, candidate_master], records, review_id=review_id,
        )  # fmt: skip
        # One transaction, one now(): the constraint, the item and the link share their decision time.
        decided_at = connection.execute(select(func.now())).scalar_one()
        left, right = _pair(item)
        upsert = pg_insert(MatchConstraint).values(
            left_source_patient_id=left,
            right_source_patient_id=right,
            same_person=same_person,
            decided_by=steward,
            decided_at=decided_at,
        )
        connection.execute(
            upsert.on_conflict_do_update(
                index_elements=[
                    MatchConstraint.left_source_patient_id,
                    MatchConstraint.right_source_patient_id,
                ],
                set_={"same_person": same_person, "decided_by": steward, "decided_at": decided_at},
            )
        )
        connection.execute(
            update(MatchReview)
            .where(MatchReview.id == review_id)
            .values(status="same" if same_person else "different", decided_by=steward, decided_at=decided_at)
        )
        relinked = None
        details = {"review_id": review_id, "same_person": same_person}
        moving = (same_person and record_master != candidate_master) or (
            not same_person and record_master == candidate_master
        )
        if moving:
            current = _current_link(connection, item.source_patient_id)
            target = _destination(
                connection, item.source_patient_id, current, candidate_master if same_person else None
            )
            relinked = _move(
                connection, item.source_patient_id, current, target, steward,
                f"review {review_id}: {answer}", details, event,
            )  # fmt: skip
        affected = _affected(connection, item, relinked)
        close_event(connection, event, affected, [])
        return ReviewDecided(review_id, relinked, affected, event)


def _decision_event(connection: Connection, review_id: int) -> int | None:
    """The item's decision standing (not undone) in the history; None for one made before decisions
    were recorded as events."""
    undo = aliased(IdentityEvent)
    return connection.execute(
        select(IdentityEvent.id)
        .where(
            IdentityEvent.kind == "review_decision",
            IdentityEvent.review_id == review_id,
            ~exists().where(undo.undoes_event_id == IdentityEvent.id),
        )
        .order_by(IdentityEvent.id.desc())
        .limit(1)
    ).scalar()


def undo_review_decision(connection: Connection, review_id: int, steward: str) -> ReviewDecided:
    """Undo a review decision: the record back to its previous identity, the constraint gone, the item open.

    The link the decision made is the one its event wrote (for a decision made before decisions
    were events: the one marked with the item's id at the decision's time); the identity to go back
    to is the one of the link it superseded. The way back is a new steward link (history kept). If
    the record has been relinked since, or its previous identity can no longer take it back alone,
    nothing is done: a steward relinks it by hand.
    """
    with connection.begin_nested():
        lock_linking(connection)
        item = _locked_review(connection, review_id)
        if item.status not in ("same", "different"):
            raise StewardshipError("the review item has no decision to undo")
        decision = _decision_event(connection, review_id)
        mark = (
            PatientLink.event_id == decision
            if decision is not None
            else PatientLink.explanation.contains({"review_id": review_id})
            & (PatientLink.created_at == item.decided_at)
        )
        made = connection.execute(
            select(PatientLink.id, PatientLink.superseded_at)
            .where(
                PatientLink.source_patient_id == item.source_patient_id, PatientLink.method == "steward", mark
            )
            .order_by(PatientLink.id.desc())
            .limit(1)
        ).one_or_none()
        if made is not None and made.superseded_at is not None:
            raise StewardshipError("the record has been relinked since this decision: relink it by hand")
        masters = [
            _current_master(connection, r) for r in (item.source_patient_id, item.candidate_source_patient_id)
        ]
        reason = f"undo of review {review_id}"
        event = open_event(
            connection, "review_undo", steward, reason, masters,
            [item.source_patient_id, item.candidate_source_patient_id], review_id=review_id,
            undoes_event_id=decision,
        )  # fmt: skip
        relinked = None
        if made is not None:
            previous = connection.execute(
                select(PatientLink.master_patient_id).where(
                    PatientLink.source_patient_id == item.source_patient_id,
                    PatientLink.superseded_by == made.id,
                )
            ).scalar()
            current = _current_link(connection, item.source_patient_id)
            target = _destination(connection, item.source_patient_id, current, previous)
            relinked = _move(
                connection, item.source_patient_id, current, target, steward, reason,
                {"undoes_review_id": review_id, "undoes_link_id": made.id}, event,
            )  # fmt: skip
        left, right = _pair(item)
        # Only the constraint this decision wrote: a later decision on the pair stands.
        connection.execute(
            delete(MatchConstraint).where(
                MatchConstraint.left_source_patient_id == left,
                MatchConstraint.right_source_patient_id == right,
                MatchConstraint.same_person == (item.status == "same"),
                MatchConstraint.decided_by == item.decided_by,
                MatchConstraint.decided_at == item.decided_at,
            )
        )
        connection.execute(
            update(MatchReview)
            .where(MatchReview.id == review_id)
            .values(status="open", decided_by=None, decided_at=None)
        )
        affected = _affected(connection, item, relinked)
        close_event(connection, event, affected, [])
        return ReviewDecided(review_id, relinked, affected, event)
