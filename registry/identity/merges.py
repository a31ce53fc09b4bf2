"""Identity-level operations of a steward: merge two identities, and undo a merge as one step.

- `merge_identities(survivor, merged, reason)`: every record of the merged identity joins the
  survivor, and every record of both is given a steward link to the survivor, so neither a load
  nor a batch re-link separates them again (the automatic linking never changes a steward's
  link). The merged identity is retired: its id answers with the survivor. The survivor keeps
  its citizen ID, or takes the merged identity's if it held none. Two identities carrying
  different valid citizen IDs (held, or carried by their records) are refused unless the steward
  overrides that explicitly (`override_citizen_ids`, recorded with the reason).
- `undo_merge(merge, reason)`: the state before the merge, exactly: every record's link as it was
  (copies of the earlier links, the engine's as the engine's), the merged identity active again
  under its own id with its own records, each identity's citizen ID as it was, and so the same
  golden records. Refused when a record of either identity has been moved since (one the merge
  moved, or one of the survivor's it left where it was), or the survivor's citizen ID has changed:
  a steward then relinks by hand. A merge is undone at most once.

A merge does not touch `match_constraint` (the stewards' pair decisions): it is kept in the links,
so its undoing leaves the pair decisions as they were. A merge is refused when a steward decided
that a record of one and a record of the other are different people (undo that decision first).

Each is one transaction (a savepoint of the caller's), under the linking lock, with a mandatory
reason, and recorded in the identities' history in that transaction (`registry.identity.history`:
who, when, why, both identities before and after); links are written by `registry.identity.links`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from registry.db.sql import run
from registry.identity.errors import AlreadyUndone, CitizenIdConflict, NotFoundError, StewardshipError
from registry.identity.history import checked_reason, close_event, open_event
from registry.identity.links import LinkRow, lock_linking, restore_links, write_links
from registry.identity.master_ids import answer_for


@dataclass(frozen=True)
class Merged:
    event_id: int
    survivor_id: int
    merged_id: int
    moved: tuple[int, ...]  # the records that joined the survivor
    citizen_id: str | None  # the citizen ID the survivor holds now

    @property
    def master_ids(self) -> tuple[int, ...]:
        return (self.survivor_id, self.merged_id)


@dataclass(frozen=True)
class MergeUndone:
    event_id: int
    merge_event_id: int
    survivor_id: int
    merged_id: int
    restored: tuple[int, ...]  # the records whose earlier links were restored

    @property
    def master_ids(self) -> tuple[int, ...]:
        return (self.survivor_id, self.merged_id)


_IDENTITY = """
SELECT m.id, m.retired_at IS NOT NULL, m.citizen_id,
       coalesce(array_agg(l.source_patient_id ORDER BY l.source_patient_id)
                FILTER (WHERE l.source_patient_id IS NOT NULL), '{}'),
       coalesce(array_agg(p.citizen_id) FILTER (WHERE p.citizen_id IS NOT NULL), '{}'),
       coalesce(array_agg(l.source_patient_id ORDER BY l.source_patient_id)
                FILTER (WHERE l.method <> 'steward'), '{}')
FROM master_patient m
LEFT JOIN patient_link l ON l.master_patient_id = m.id AND l.superseded_at IS NULL
LEFT JOIN source_patient p ON p.id = l.source_patient_id
WHERE m.id = %(id)s
GROUP BY m.id
"""

_KEPT_APART = """
SELECT c.left_source_patient_id, c.right_source_patient_id, c.decided_by, c.decided_at
FROM match_constraint c
WHERE NOT c.same_person
  AND ((c.left_source_patient_id = ANY(%(a)s::bigint[]) AND c.right_source_patient_id = ANY(%(b)s::bigint[]))
    OR (c.left_source_patient_id = ANY(%(b)s::bigint[]) AND c.right_source_patient_id = ANY(%(a)s::bigint[])))
ORDER BY 1, 2
LIMIT 1
"""


@dataclass(frozen=True)
class _Identity:
    id: int
    retired: bool
    citizen_id: str | None
    records: list[int]
    citizen_ids: set[str]  # held, and carried by its records
    not_by_steward: list[int]  # its records linked by the engine


def _identity(connection: psycopg.Connection[Any], master_id: int) -> _Identity:
    rows = connection.execute(_IDENTITY, {"id": master_id}).fetchall()
    if not rows:
        raise NotFoundError(f"no such patient: {master_id}")
    ((identity, retired, citizen_id, records, carried, not_by_steward),) = rows
    held = {citizen_id} if citizen_id else set()
    return _Identity(identity, retired, citizen_id, list(records), held | set(carried), list(not_by_steward))


def merge_identities(
    connection: psycopg.Connection[Any],
    survivor_id: int,
    merged_id: int,
    steward: str,
    reason: str,
    *,
    override_citizen_ids: bool = False,
) -> Merged:
    """Merge `merged_id` into `survivor_id` (see the module's docstring)."""
    reason = checked_reason(reason)
    if survivor_id == merged_id:
        raise StewardshipError("a patient cannot be merged with itself")
    with connection.transaction():
        lock_linking(connection)
        connection.execute(
            "SELECT id FROM master_patient WHERE id = ANY(%(ids)s::bigint[]) ORDER BY id FOR UPDATE",
            {"ids": [survivor_id, merged_id]},
        )
        survivor, merged = _identity(connection, survivor_id), _identity(connection, merged_id)
        for identity in (survivor, merged):
            if identity.retired:
                answer = run(connection, answer_for(identity.id))
                where = ", ".join(map(str, answer.answers_with)) if answer else "-"
                raise StewardshipError(
                    f"patient {identity.id} is no longer in use: its records are in patient(s) {where}"
                )
        if (
            survivor.citizen_ids
            and merged.citizen_ids
            and survivor.citizen_ids != merged.citizen_ids
            and not override_citizen_ids
        ):
            raise CitizenIdConflict(
                f"patients {survivor_id} and {merged_id} carry different citizen IDs: merging them needs"
                " the explicit citizen-ID override, with the reason"
            )
        apart = connection.execute(_KEPT_APART, {"a": survivor.records, "b": merged.records}).fetchall()
        if apart:
            ((left, right, decided_by, decided_at),) = apart
            raise StewardshipError(
                f"{decided_by} decided at {decided_at.isoformat(timespec='seconds')} that records {left} and"
                f" {right} are different people: undo that decision before merging"
            )
        event = open_event(
            connection,
            "merge",
            steward,
            reason,
            [survivor_id, merged_id],
            [*survivor.records, *merged.records],
            citizen_id_override=override_citizen_ids,
        )
        explanation = orjson.dumps(
            {"reason": reason, "merge_event_id": event, "merged_id": merged_id}
        ).decode()
        links: list[LinkRow] = [
            (record, survivor_id, "steward", None, explanation)
            for record in sorted({*merged.records, *survivor.not_by_steward})
        ]
        write_links(connection, links, steward, event_id=event)  # the merged identity is retired
        if survivor.citizen_id is None and merged.citizen_id is not None:
            connection.execute(
                "UPDATE master_patient SET citizen_id = %(c)s WHERE id = %(id)s",
                {"c": merged.citizen_id, "id": survivor_id},
            )
        close_event(connection, event, [survivor_id, merged_id], [])
        held = connection.execute(
            "SELECT citizen_id FROM master_patient WHERE id = %(id)s", {"id": survivor_id}
        ).fetchall()
        return Merged(event, survivor_id, merged_id, tuple(merged.records), held[0][0])


def _state(snapshot: list[dict[str, Any]], master_id: int) -> dict[str, Any]:
    return next(identity for identity in snapshot if identity["id"] == master_id)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def undo_merge(
    connection: psycopg.Connection[Any], merge_event_id: int, steward: str, reason: str
) -> MergeUndone:
    """Undo a merge as one step, restoring exactly the state before it (see the module's docstring)."""
    reason = checked_reason(reason)
    with connection.transaction():
        lock_linking(connection)
        found = connection.execute(
            "SELECT master_patient_ids, before, after FROM identity_event WHERE id = %(id)s AND kind = 'merge'",
            {"id": merge_event_id},
        ).fetchall()
        if not found:
            raise NotFoundError("no such merge")
        undone = connection.execute(
            "SELECT actor, occurred_at FROM identity_event WHERE undoes_event_id = %(id)s",
            {"id": merge_event_id},
        ).fetchall()
        if undone:
            raise AlreadyUndone(*undone[0])
        ((_, before, after),) = found
        before, after = _json(before), _json(after)
        survivor_id = next(m for m in (s["id"] for s in after) if _state(after, m)["active"])
        (merged_id,) = [s["id"] for s in after if s["id"] != survivor_id]
        written = connection.execute(
            "SELECT source_patient_id, superseded_at IS NOT NULL FROM patient_link WHERE event_id = %(id)s"
            " ORDER BY source_patient_id",
            {"id": merge_event_id},
        ).fetchall()
        earlier = {
            record["record"]: record["link"]
            for master in (survivor_id, merged_id)
            for record in _state(before, master)["records"]
        }
        rewritten = [record for record, _ in written]
        # The records the merge left as they were (the survivor's steward links) must be where they
        # were too: without them the survivor would not be as it was before the merge.
        left = connection.execute(
            "SELECT source_patient_id FROM patient_link WHERE id = ANY(%(links)s::bigint[])"
            " AND superseded_at IS NOT NULL",
            {"links": [link for record, link in earlier.items() if record not in set(rewritten)]},
        ).fetchall()
        moved_since = sorted({record for record, superseded in written if superseded} | {r for (r,) in left})
        if moved_since:
            raise StewardshipError(
                f"record(s) {', '.join(map(str, moved_since))} of this merge have been moved since: relink by hand"
            )
        now = connection.execute(
            "SELECT id, citizen_id FROM master_patient WHERE id = ANY(%(ids)s::bigint[]) FOR UPDATE",
            {"ids": [survivor_id, merged_id]},
        ).fetchall()
        citizen_now = dict(now)
        if citizen_now.get(survivor_id) != _state(after, survivor_id)["citizen_id"]:
            raise StewardshipError(
                f"patient {survivor_id}'s citizen ID has changed since this merge: relink by hand"
            )
        wanted = {
            _state(before, master)["citizen_id"]
            for master in (survivor_id, merged_id)
            if _state(before, master)["citizen_id"]
        }
        held_elsewhere = connection.execute(
            "SELECT citizen_id FROM master_patient WHERE citizen_id = ANY(%(c)s::text[])"
            " AND id <> ALL(%(ids)s::bigint[])",
            {"c": sorted(wanted), "ids": [survivor_id, merged_id]},
        ).fetchall()
        if held_elsewhere:
            raise StewardshipError(
                "a citizen ID of this merge is held by another patient now: relink by hand"
            )
        event = open_event(
            connection,
            "merge_undo",
            steward,
            reason,
            [survivor_id, merged_id],
            rewritten,
            undoes_event_id=merge_event_id,
        )
        restore_links(connection, [earlier[record] for record in rewritten], event)
        for master in (survivor_id, merged_id):  # the survivor's first: it may hold the merged one's
            connection.execute(
                "UPDATE master_patient SET citizen_id = %(c)s WHERE id = %(id)s AND citizen_id IS DISTINCT FROM %(c)s",
                {"c": _state(before, master)["citizen_id"], "id": master},
            )
        close_event(connection, event, [survivor_id, merged_id], [])
        return MergeUndone(event, merge_event_id, survivor_id, merged_id, tuple(rewritten))
