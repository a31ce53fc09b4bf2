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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg

from registry.db.sql import Query, first, named_rows, run
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
    connection: psycopg.Connection[Any],
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
    with connection.transaction():
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


def _current_link(connection: psycopg.Connection[Any], source_patient_id: int) -> Any | None:
    if (
        connection.execute("SELECT 1 FROM source_patient WHERE id = %s", (source_patient_id,)).fetchone()
        is None
    ):
        raise NotFoundError("no such source record")
    with connection.cursor(row_factory=named_rows) as cursor:
        return cursor.execute(
            "SELECT id, master_patient_id FROM patient_link"
            " WHERE source_patient_id = %s AND superseded_at IS NULL FOR UPDATE",
            (source_patient_id,),
        ).fetchone()


def _destination(
    connection: psycopg.Connection[Any], source_patient_id: int, current: Any | None, asked: int | None
) -> int | None:
    """The identity the record is to join: the one asked for (a retired one only when the record is
    the one it retired with), or for an identity of its own the latest id it came from that was
    retired with this record alone; None: a new identity."""
    if asked is None:
        # The ids it was linked to before, latest first: the first retired with this record alone.
        earlier = (
            master
            for (master,) in connection.execute(
                "SELECT master_patient_id FROM patient_link"
                " WHERE source_patient_id = %s AND superseded_at IS NOT NULL ORDER BY id DESC",
                (source_patient_id,),
            )
        )
        came_from = [m for m in dict.fromkeys(earlier) if current is None or m != current.master_patient_id]
        retired = retired_records(connection, came_from)
        return next((m for m in came_from if retired.get(m) == [source_patient_id]), None)
    if connection.execute("SELECT 1 FROM master_patient WHERE id = %s", (asked,)).fetchone() is None:
        raise NotFoundError("no such patient")
    held = retired_records(connection, [asked]).get(asked)
    if held is not None and held != [source_patient_id]:
        answer = run(connection, answer_for(asked))
        where = ", ".join(map(str, answer.answers_with)) if answer else "-"
        raise StewardshipError(
            f"patient {asked} is no longer in use: its records are in patient(s) {where}; link to one of those"
        )
    return asked


def _move(
    connection: psycopg.Connection[Any],
    source_patient_id: int,
    current: Any | None,
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
    (link_id,) = connection.execute(
        "SELECT id FROM patient_link WHERE source_patient_id = %s AND superseded_at IS NULL",
        (source_patient_id,),
    ).fetchone()  # type: ignore[misc]
    previous = current.master_patient_id if current else None
    # The identities' states are settled by now (the one left may be retired, the one joined back),
    # then the citizen ID moves: a retired identity holds none.
    _move_citizen_id(connection, source_patient_id, previous, target)
    return Relinked(link_id, source_patient_id, previous, target, event_id)


_LEAVE_CITIZEN_ID = """
UPDATE master_patient m SET citizen_id = NULL
WHERE m.id = %(left)s AND m.citizen_id = %(citizen_id)s
  AND NOT EXISTS (SELECT 1 FROM patient_link l JOIN source_patient sp ON sp.id = l.source_patient_id
                  WHERE l.master_patient_id = %(left)s AND l.superseded_at IS NULL
                    AND sp.citizen_id = %(citizen_id)s)
"""
_JOIN_CITIZEN_ID = """
UPDATE master_patient m SET citizen_id = %(citizen_id)s
WHERE m.id = %(joined)s AND m.citizen_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM master_patient holder WHERE holder.citizen_id = %(citizen_id)s)
"""


def _move_citizen_id(
    connection: psycopg.Connection[Any], source_patient_id: int, left: int | None, joined: int
) -> None:
    (citizen_id,) = connection.execute(
        "SELECT citizen_id FROM source_patient WHERE id = %s", (source_patient_id,)
    ).fetchone() or (None,)
    if citizen_id is None:
        return
    if left is not None:
        connection.execute(_LEAVE_CITIZEN_ID, {"left": left, "citizen_id": citizen_id})
    connection.execute(_JOIN_CITIZEN_ID, {"joined": joined, "citizen_id": citizen_id})


# The review queue -------------------------------------------------------------------------------

# Review items with both records' current identities and the steward's decision on the pair, if any.
_REVIEW_ROWS = """
SELECT r.*, record_link.master_patient_id AS master_patient_id,
       candidate_link.master_patient_id AS candidate_master_patient_id,
       c.same_person AS pair_same_person, c.decided_by AS pair_decided_by, c.decided_at AS pair_decided_at
FROM match_review r
LEFT JOIN patient_link record_link
       ON record_link.source_patient_id = r.source_patient_id AND record_link.superseded_at IS NULL
LEFT JOIN patient_link candidate_link
       ON candidate_link.source_patient_id = r.candidate_source_patient_id
      AND candidate_link.superseded_at IS NULL
LEFT JOIN match_constraint c
       ON c.left_source_patient_id = r.left_source_patient_id
      AND c.right_source_patient_id = r.right_source_patient_id
"""


def open_reviews(after: tuple[datetime, int] | None, limit: int) -> Query[list[Any]]:
    """Open review items, newest first (keyset: created_at, id), each with both records' identities."""
    if after is None:
        return Query(
            _REVIEW_ROWS + " WHERE r.status = 'open' ORDER BY r.created_at DESC, r.id DESC LIMIT %(limit)s",
            {"limit": limit},
        )
    return Query(
        _REVIEW_ROWS + " WHERE r.status = 'open' AND (r.created_at, r.id) < (%(after_time)s, %(after_id)s)"
        " ORDER BY r.created_at DESC, r.id DESC LIMIT %(limit)s",
        {"limit": limit, "after_time": after[0], "after_id": after[1]},
    )


def review(review_id: int) -> Query[Any]:
    return Query(_REVIEW_ROWS + " WHERE r.id = %(id)s", {"id": review_id}, first)


@dataclass(frozen=True)
class ReviewDecided:
    review_id: int
    relinked: Relinked | None  # None: the decision needed no link change
    master_ids: tuple[int, ...]  # the identities affected: those of both records, and any one left
    event_id: int | None = None  # the decision (or its undoing) in the identities' history


def _locked_review(connection: psycopg.Connection[Any], review_id: int) -> Any:
    with connection.cursor(row_factory=named_rows) as cursor:
        found = cursor.execute("SELECT * FROM match_review WHERE id = %s FOR UPDATE", (review_id,)).fetchone()
    if found is None:
        raise NotFoundError("no such review item")
    return found


def _current_master(connection: psycopg.Connection[Any], source_patient_id: int) -> int:
    (master,) = connection.execute(
        "SELECT master_patient_id FROM patient_link WHERE source_patient_id = %s AND superseded_at IS NULL",
        (source_patient_id,),
    ).fetchone() or (None,)
    if master is None:
        raise StewardshipError("a record of this pair is not linked to any patient")
    return int(master)


def _pair(item: Any) -> tuple[int, int]:
    a, b = item.source_patient_id, item.candidate_source_patient_id
    return (a, b) if a < b else (b, a)


def _affected(connection: psycopg.Connection[Any], item: Any, relinked: Relinked | None) -> tuple[int, ...]:
    masters = [
        _current_master(connection, item.source_patient_id),
        _current_master(connection, item.candidate_source_patient_id),
    ]
    if relinked is not None and relinked.previous_master_id is not None:
        masters.append(relinked.previous_master_id)
    return tuple(dict.fromkeys(masters))


def decide_review(
    connection: psycopg.Connection[Any], review_id: int, same_person: bool, steward: str
) -> ReviewDecided:
    """A steward's answer to an open review item, kept and applied (all or nothing: a savepoint).

    A decided item is refused (`AlreadyDecided`, naming who and when): a pair is decided once,
    however many stewards answer at the same moment (the item is read under the linking lock).
    The answer is kept for the pair (`match_constraint`) and on the item.
    Same person: the item's record joins the candidate's identity, unless already there.
    Different people: when the two share an identity, the item's record gets one of its own (the
    id it came from, or a new one, as `relink` gives). Either move is a steward link marked with
    the review item's id; the decision is one event of the identities' history.
    """
    with connection.transaction():
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
        (decided_at,) = connection.execute("SELECT now()").fetchone()  # type: ignore[misc]
        left, right = _pair(item)
        connection.execute(
            "INSERT INTO match_constraint"
            " (left_source_patient_id, right_source_patient_id, same_person, decided_by, decided_at)"
            " VALUES (%(left)s, %(right)s, %(same)s, %(by)s, %(at)s)"
            " ON CONFLICT (left_source_patient_id, right_source_patient_id) DO UPDATE"
            " SET same_person = excluded.same_person, decided_by = excluded.decided_by,"
            " decided_at = excluded.decided_at",
            {"left": left, "right": right, "same": same_person, "by": steward, "at": decided_at},
        )
        connection.execute(
            "UPDATE match_review SET status = %s, decided_by = %s, decided_at = %s WHERE id = %s",
            ("same" if same_person else "different", steward, decided_at, review_id),
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


def _decision_event(connection: psycopg.Connection[Any], review_id: int) -> int | None:
    """The item's decision standing (not undone) in the history; None for one made before decisions
    were recorded as events."""
    (event_id,) = connection.execute(
        "SELECT e.id FROM identity_event e WHERE e.kind = 'review_decision' AND e.review_id = %s"
        " AND NOT EXISTS (SELECT 1 FROM identity_event undo WHERE undo.undoes_event_id = e.id)"
        " ORDER BY e.id DESC LIMIT 1",
        (review_id,),
    ).fetchone() or (None,)
    return event_id  # type: ignore[no-any-return]


def undo_review_decision(connection: psycopg.Connection[Any], review_id: int, steward: str) -> ReviewDecided:
    """Undo a review decision: the record back to its previous identity, the constraint gone, the item open.

    The link the decision made is the one its event wrote (for a decision made before decisions
    were events: the one marked with the item's id at the decision's time); the identity to go back
    to is the one of the link it superseded. The way back is a new steward link (history kept). If
    the record has been relinked since, or its previous identity can no longer take it back alone,
    nothing is done: a steward relinks it by hand.
    """
    with connection.transaction():
        lock_linking(connection)
        item = _locked_review(connection, review_id)
        if item.status not in ("same", "different"):
            raise StewardshipError("the review item has no decision to undo")
        decision = _decision_event(connection, review_id)
        mark = (
            "event_id = %(event)s"
            if decision is not None
            else "explanation @> %(marked)s::jsonb AND created_at = %(decided_at)s"
        )
        with connection.cursor(row_factory=named_rows) as cursor:
            made = cursor.execute(
                "SELECT id, superseded_at FROM patient_link"
                f" WHERE source_patient_id = %(source)s AND method = 'steward' AND {mark}"
                " ORDER BY id DESC LIMIT 1",
                {
                    "source": item.source_patient_id,
                    "event": decision,
                    "marked": orjson.dumps({"review_id": review_id}).decode(),
                    "decided_at": item.decided_at,
                },
            ).fetchone()
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
            (previous,) = connection.execute(
                "SELECT master_patient_id FROM patient_link WHERE source_patient_id = %s AND superseded_by = %s",
                (item.source_patient_id, made.id),
            ).fetchone() or (None,)
            current = _current_link(connection, item.source_patient_id)
            target = _destination(connection, item.source_patient_id, current, previous)
            relinked = _move(
                connection, item.source_patient_id, current, target, steward, reason,
                {"undoes_review_id": review_id, "undoes_link_id": made.id}, event,
            )  # fmt: skip
        left, right = _pair(item)
        # Only the constraint this decision wrote: a later decision on the pair stands.
        connection.execute(
            "DELETE FROM match_constraint WHERE left_source_patient_id = %s AND right_source_patient_id = %s"
            " AND same_person = %s AND decided_by = %s AND decided_at = %s",
            (left, right, item.status == "same", item.decided_by, item.decided_at),
        )
        connection.execute(
            "UPDATE match_review SET status = 'open', decided_by = NULL, decided_at = NULL WHERE id = %s",
            (review_id,),
        )
        affected = _affected(connection, item, relinked)
        close_event(connection, event, affected, [])
        return ReviewDecided(review_id, relinked, affected, event)
