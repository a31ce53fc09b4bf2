"""A steward's identity work: move a source record to another master identity, or give it one of its own,
and decide the possible matches the engine queued for review (`match_review`).

A steward's decision is a link like any other, written by `registry.identity.links` as every link
is (superseding, never rewriting, the current one), made with method 'steward', which the
automatic linking never changes. A review decision is also kept as a constraint on the pair
(`match_constraint`) that every later run honours, and can be undone: the record goes back to the
identity its link history says it had.
Every change runs under the linking step's advisory lock, so a load or a batch re-link never
works from a state a steward is changing.
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

from registry.db.models import MasterPatient, MatchConstraint, MatchReview, PatientLink, SourcePatient
from registry.identity.links import found_identities, lock_linking, settle_identities, write_links


class StewardshipError(ValueError):
    """The decision cannot be made as asked (unknown record or identity, nothing to change)."""


class NotFoundError(StewardshipError):
    """The record, identity or review item asked for does not exist."""


class AlreadyDecided(StewardshipError):
    """The pair has been decided already (by another steward, or a moment ago): nothing is changed."""

    def __init__(self, decided_by: str, decided_at: datetime, status: str) -> None:
        self.decided_by, self.decided_at, self.status = decided_by, decided_at, status
        answer = {"same": "the same person", "different": "different people"}.get(status, status)
        super().__init__(
            f"already decided by {decided_by} at {decided_at.isoformat(timespec='seconds')} ({answer}):"
            " undo that decision first to change it"
        )


@dataclass(frozen=True)
class Relinked:
    link_id: int
    source_patient_id: int
    previous_master_id: int | None
    master_patient_id: int


def relink(
    connection: Connection,
    source_patient_id: int,
    master_patient_id: int | None,
    steward: str,
    reason: str,
    details: Mapping[str, Any] | None = None,
) -> Relinked:
    """Link the source record to `master_patient_id`, or to a new identity of its own when None.

    `details` are kept in the link's explanation with the reason. The citizen ID follows the
    record: the identity it leaves stops holding it when no other record there carries it, and
    the identity it joins holds it when it holds none and no other identity does.
    """
    lock_linking(connection)
    if (
        connection.execute(select(SourcePatient.id).where(SourcePatient.id == source_patient_id)).scalar()
        is None
    ):
        raise NotFoundError("no such source record")
    current = connection.execute(
        select(PatientLink.id, PatientLink.master_patient_id)
        .where(PatientLink.source_patient_id == source_patient_id, PatientLink.superseded_at.is_(None))
        .with_for_update()
    ).one_or_none()
    if master_patient_id is None:
        master_patient_id = found_identities(connection, {source_patient_id: None})[source_patient_id]
    elif (
        connection.execute(select(MasterPatient.id).where(MasterPatient.id == master_patient_id)).scalar()
        is None
    ):
        raise NotFoundError("no such patient")
    if current is not None and current.master_patient_id == master_patient_id:
        raise StewardshipError("the record is already linked to that patient")
    explanation = orjson.dumps({**(details or {}), "reason": reason}).decode()
    write_links(connection, [(source_patient_id, master_patient_id, "steward", None, explanation)], steward)
    link_id = connection.execute(
        select(PatientLink.id).where(
            PatientLink.source_patient_id == source_patient_id, PatientLink.superseded_at.is_(None)
        )
    ).scalar_one()
    previous = current.master_patient_id if current else None
    # First the identities' states (the one left may retire, the one joined may come back), then
    # the citizen ID: a retired identity holds none.
    settle_identities(connection, [m for m in (previous, master_patient_id) if m is not None])
    _move_citizen_id(connection, source_patient_id, previous, master_patient_id)
    return Relinked(link_id, source_patient_id, previous, master_patient_id)


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
    left = func.least(MatchReview.source_patient_id, MatchReview.candidate_source_patient_id)
    right = func.greatest(MatchReview.source_patient_id, MatchReview.candidate_source_patient_id)
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

    The answer is kept for the pair (`match_constraint`, replacing an earlier one) and on the item.
    Same person: the item's record joins the candidate's identity, unless already there.
    Different people: when the two share an identity, the item's record gets one of its own.
    Either move is a steward link made by `relink` (marked with the review item's id, for undo).
    """
    with connection.begin_nested():
        lock_linking(connection)
        item = _locked_review(connection, review_id)
        if item.status != "open":
            raise AlreadyDecided(item.decided_by, item.decided_at, item.status)
        record_master = _current_master(connection, item.source_patient_id)
        candidate_master = _current_master(connection, item.candidate_source_patient_id)
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
        if same_person and record_master != candidate_master:
            relinked = relink(
                connection, item.source_patient_id, candidate_master, steward,
                f"review {review_id}: same person", details,
            )  # fmt: skip
        elif not same_person and record_master == candidate_master:
            relinked = relink(
                connection, item.source_patient_id, None, steward, f"review {review_id}: different people",
                details,
            )  # fmt: skip
        return ReviewDecided(review_id, relinked, _affected(connection, item, relinked))


def undo_review_decision(connection: Connection, review_id: int, steward: str) -> ReviewDecided:
    """Undo a review decision: the record back to its previous identity, the constraint gone, the item open.

    The link the decision made is found by its mark and time; the identity to go back to is the
    one of the link it superseded. The way back is a new steward link (history kept). If the
    record has been relinked since, nothing is done: a steward relinks it by hand.
    """
    with connection.begin_nested():
        lock_linking(connection)
        item = _locked_review(connection, review_id)
        if item.status not in ("same", "different"):
            raise StewardshipError("the review item has no decision to undo")
        made = connection.execute(
            select(PatientLink.id, PatientLink.superseded_at)
            .where(
                PatientLink.source_patient_id == item.source_patient_id,
                PatientLink.method == "steward",
                PatientLink.explanation.contains({"review_id": review_id}),
                PatientLink.created_at == item.decided_at,
            )
            .order_by(PatientLink.id.desc())
            .limit(1)
        ).one_or_none()
        relinked = None
        if made is not None:
            if made.superseded_at is not None:
                raise StewardshipError("the record has been relinked since this decision: relink it by hand")
            previous = connection.execute(
                select(PatientLink.master_patient_id).where(PatientLink.superseded_by == made.id)
            ).scalar()
            relinked = relink(
                connection, item.source_patient_id, previous, steward, f"undo of review {review_id}",
                {"undoes_review_id": review_id, "undoes_link_id": made.id},
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
        return ReviewDecided(review_id, relinked, _affected(connection, item, relinked))
