"""An identity's history: every event that formed it, merged it, split it or moved records in or out.

Two sources, read as one history:
- the stewards' changes, recorded as they are made (`identity_event`, written by `open_event` and
  `close_event` in the change's own transaction): who, when, why, the identities and records
  involved, and the identities as they were before and after (their records with their links,
  the citizen ID they held, whether active, which identities each id answered with). The links a
  change wrote name it (`patient_link.event_id`);
- the engine's links (a load, a batch re-link), which carry no event: read from the link history
  and grouped into the load or re-link that wrote them: *formed* (the identity's founding),
  *linked* (records joined it), *left* (records moved to another identity).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg

from registry.db.sql import Query, Steps
from registry.identity.errors import ReasonRequired

MAX_REASON_CHARS = 500
STEWARD_KINDS = ("relink", "split", "review_decision", "review_undo", "merge", "merge_undo")
ENGINE_KINDS = ("formed", "linked", "left")


def checked_reason(reason: str | None) -> str:
    """The reason, trimmed; refused when missing or longer than 500 characters."""
    stated = (reason or "").strip()
    if not 1 <= len(stated) <= MAX_REASON_CHARS:
        raise ReasonRequired(f"give a reason of 1 to {MAX_REASON_CHARS} characters")
    return stated


# The identities as they are now, one JSON object each (id order): whether active, the citizen ID
# held, the records with their current links, and the identities the id answers with.
_SNAPSHOT = """
(SELECT coalesce(jsonb_agg(jsonb_build_object(
    'id', m.id,
    'active', m.retired_at IS NULL,
    'citizen_id', m.citizen_id,
    'records', coalesce((
        SELECT jsonb_agg(jsonb_build_object('record', l.source_patient_id, 'link', l.id, 'method', l.method)
                         ORDER BY l.source_patient_id)
        FROM patient_link l WHERE l.master_patient_id = m.id AND l.superseded_at IS NULL), '[]'::jsonb),
    'answers_with', CASE WHEN m.retired_at IS NULL THEN jsonb_build_array(m.id) ELSE coalesce((
        SELECT jsonb_agg(DISTINCT l.master_patient_id)
        FROM retired_identity_record r
        JOIN patient_link l ON l.source_patient_id = r.source_patient_id AND l.superseded_at IS NULL
        WHERE r.master_patient_id = m.id), '[]'::jsonb) END
) ORDER BY m.id), '[]'::jsonb)
FROM master_patient m WHERE m.id = ANY(%(masters)s::bigint[]))
"""

_OPEN = f"""
INSERT INTO identity_event (kind, actor, reason, master_patient_ids, source_patient_ids, review_id, undoes_event_id,
                            citizen_id_override, before)
VALUES (%(kind)s, %(actor)s, %(reason)s, %(masters)s::bigint[], %(records)s::bigint[], %(review_id)s,
        %(undoes)s, %(override)s, {_SNAPSHOT})
RETURNING id
"""

_CLOSE = f"""
UPDATE identity_event SET after = {_SNAPSHOT}, master_patient_ids = %(masters)s::bigint[],
                          source_patient_ids = %(records)s::bigint[]
WHERE id = %(id)s
"""


def open_event(
    connection: psycopg.Connection[Any],
    kind: str,
    actor: str,
    reason: str,
    masters: Iterable[int],
    records: Iterable[int],
    *,
    review_id: int | None = None,
    undoes_event_id: int | None = None,
    citizen_id_override: bool = False,
) -> int:
    """Record a steward's change about to be made, with the identities involved as they are; returns
    its id, for the links it writes and for `close_event`."""
    if kind not in STEWARD_KINDS:
        raise ValueError(f"unknown kind of identity event: {kind}")
    ((event_id,),) = connection.execute(
        _OPEN,
        {
            "kind": kind,
            "actor": actor,
            "reason": checked_reason(reason),
            "masters": sorted(set(masters)),
            "records": sorted(set(records)),
            "review_id": review_id,
            "undoes": undoes_event_id,
            "override": citizen_id_override,
        },
    ).fetchall()
    return int(event_id)


def close_event(
    connection: psycopg.Connection[Any], event_id: int, masters: Iterable[int], records: Iterable[int]
) -> None:
    """Record the change's outcome: the identities involved (those before and any it made) as they
    are now. Required in the change's transaction (the database checks it at commit)."""
    before = connection.execute(
        "SELECT master_patient_ids, source_patient_ids FROM identity_event WHERE id = %(id)s",
        {"id": event_id},
    ).fetchall()
    ((known_masters, known_records),) = before
    connection.execute(
        _CLOSE,
        {
            "id": event_id,
            "masters": sorted({*known_masters, *masters}),
            "records": sorted({*known_records, *records}),
        },
    )


@dataclass(frozen=True)
class Move:
    """A record's link changing identity (or, in a steward's change, its kind of link)."""

    source_patient_id: int
    from_master_id: int | None  # None: the record's first link
    to_master_id: int
    link_id: int
    method: str


@dataclass(frozen=True)
class HistoryEntry:
    kind: str  # formed, linked, left (the engine's); relink, split, review_decision, review_undo, merge, merge_undo
    at: datetime
    actor: str  # a steward ("steward:Ms Hoa"), or the engine and model version that linked
    reason: str | None
    master_patient_ids: tuple[int, ...]  # the identities involved
    moves: tuple[Move, ...]  # the records it moved (to or from this identity, for the engine's)
    event_id: int | None = None  # a steward's change: its event
    review_id: int | None = None
    batch_id: int | None = None  # a load's: the batch
    undoes_event_id: int | None = None
    undone_by_event_id: int | None = None
    citizen_id_override: bool = False
    before: list[dict[str, Any]] | None = None  # a steward's change: the identities before and after
    after: list[dict[str, Any]] | None = None


_LINKS_OF_RECORDS_EVER_IN = """
SELECT l.id, l.source_patient_id, l.master_patient_id, l.method, l.decided_by, l.batch_id, l.created_at, l.event_id,
       l.explanation->>'reason'
FROM patient_link l
WHERE l.source_patient_id IN (SELECT source_patient_id FROM patient_link WHERE master_patient_id = %(master)s)
ORDER BY l.source_patient_id, l.id
"""

_EVENTS = """
SELECT e.id, e.kind, e.actor, e.reason, e.occurred_at, e.master_patient_ids, e.source_patient_ids, e.review_id,
       e.undoes_event_id, e.citizen_id_override, e.before, e.after,
       (SELECT u.id FROM identity_event u WHERE u.undoes_event_id = e.id) AS undone_by
FROM identity_event e
WHERE e.master_patient_ids @> ARRAY[%(master)s]::bigint[]
ORDER BY e.id
"""


def identity_history(master_patient_id: int) -> Steps[list[HistoryEntry]]:
    """Every event of this identity, oldest first: the stewards' changes involving it, and the
    engine's links into and out of it, grouped by the load or re-link that wrote them."""
    moves_of_event: dict[int, list[Move]] = defaultdict(list)
    engine: dict[tuple[Any, ...], list[Move]] = defaultdict(list)
    engine_reason: dict[tuple[Any, ...], str | None] = {}
    first_link_in: int | None = None  # the link that brought the identity its first record
    previous: tuple[Any, ...] | None = None
    links = yield Query(_LINKS_OF_RECORDS_EVER_IN, {"master": master_patient_id})
    events = yield Query(_EVENTS, {"master": master_patient_id})
    for row in links:
        link_id, record, master, method, decided_by, batch_id, created_at, event_id, reason = row
        came_from = previous[2] if previous is not None and previous[1] == record else None
        previous = row
        if master_patient_id not in (master, came_from):
            continue
        if master == master_patient_id and (first_link_in is None or link_id < first_link_in):
            first_link_in = link_id
        move = Move(record, came_from, master, link_id, method)
        if event_id is not None:
            moves_of_event[event_id].append(move)
        elif came_from != master:
            # The engine's (and stewards' links from before changes were recorded as events).
            key = (created_at, decided_by, batch_id, "in" if master == master_patient_id else "out", method)
            engine[key].append(move)
            engine_reason[key] = reason if method == "steward" else None
    entries = [
        HistoryEntry(
            kind=event[1],
            at=event[4],
            actor=event[2],
            reason=event[3],
            master_patient_ids=tuple(event[5]),
            moves=tuple(moves_of_event.get(event[0], ())),
            event_id=event[0],
            review_id=event[7],
            undoes_event_id=event[8],
            undone_by_event_id=event[12],
            citizen_id_override=event[9],
            before=_json(event[10]),
            after=_json(event[11]),
        )
        for event in events
    ]
    for key, moves in engine.items():
        created_at, decided_by, batch_id, direction, method = key
        if method == "steward":
            kind = "relink"
        elif direction == "out":
            kind = "left"
        else:
            kind = "formed" if any(m.link_id == first_link_in for m in moves) else "linked"
        involved = {master_patient_id, *(m.to_master_id for m in moves)}
        involved |= {m.from_master_id for m in moves if m.from_master_id is not None}
        entries.append(
            HistoryEntry(
                kind=kind,
                at=created_at,
                actor=decided_by,
                reason=engine_reason[key],
                master_patient_ids=tuple(sorted(involved)),
                moves=tuple(moves),
                batch_id=batch_id,
            )
        )
    return sorted(entries, key=_order)


def _order(entry: HistoryEntry) -> tuple[Any, ...]:
    first_link = min((m.link_id for m in entry.moves), default=0)
    return (entry.at, first_link if entry.event_id is None else 0, entry.event_id or 0)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value
