"""Links are written here, and only here: every path that changes which identity a source record
belongs to (a load, a batch re-link, a steward's relink, decision, merge or undo) goes through
this module, so an identity's history is written one way and a master id keeps its meaning.

- `lock_linking`: the linking step's transaction-scoped advisory lock. A load, a batch re-link and
  a steward's change each take it first, so none works from a state another is changing.
- `found_identities`: new master identities, each founded by a source record.
- `write_links`: a record's current link is superseded (kept, `superseded_at`, pointing to its
  successor by `superseded_by`), never rewritten, and the new one inserted; `restore_links`
  does the same with copies of earlier links (an undo).
- Both then settle the identities the links left and joined, in the same transaction:
  - an identity left without records is retired: it keeps the records it held at that moment
    (`retired_identity_record`), and answers with the identities those records are in now; a
    single one is named by `merged_into` (null when they scattered), kept current as the records
    move on;
  - a retired identity comes back only with exactly the records it held when it retired (an
    undone merge, a record returning to the id it came from): a master id never comes to answer
    for someone it did not answer for (`IdentityRuleError` otherwise, and nothing is written).

Every function takes a psycopg connection; the caller owns the transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg

LINKING_LOCK = 7_212_637_001  # advisory lock key of the linking step

# A new link: (source patient, master identity, method, score in bits or None, explanation as JSON
# text or None). Methods: 'score' and 'new_identity' (at load), 'batch' (a re-link), 'steward'.
LinkRow = tuple[int, int, str, float | None, str | None]


class IdentityRuleError(ValueError):
    """A change that would make a retired master id answer for records it did not hold."""


_FOUND = """
INSERT INTO master_patient (founded_by_source_patient_id, citizen_id)
SELECT * FROM unnest(%(founders)s::bigint[], %(citizen_ids)s::text[]) ORDER BY 1
RETURNING founded_by_source_patient_id, id
"""

# Superseded first: one current link per source record (unique index patient_link_current). Returns
# the identities the records leave, each with the records leaving it.
_SUPERSEDE = """
WITH leaving AS (
    UPDATE patient_link l SET superseded_at = now()
    FROM unnest(%(sources)s::bigint[]) AS c (source_patient_id)
    WHERE l.source_patient_id = c.source_patient_id AND l.superseded_at IS NULL
    RETURNING l.master_patient_id, l.source_patient_id
)
SELECT master_patient_id, array_agg(source_patient_id ORDER BY source_patient_id)
FROM leaving GROUP BY master_patient_id
"""

_NAME_SUCCESSORS = """
UPDATE patient_link old SET superseded_by = made.id FROM made
WHERE old.source_patient_id = made.source_patient_id AND old.superseded_at IS NOT NULL
AND old.superseded_by IS NULL
"""

# The new links, in the order given, each named by the link it superseded.
_INSERT = f"""
WITH made AS (
    INSERT INTO patient_link (source_patient_id, master_patient_id, method, score, explanation, decided_by, batch_id,
                              event_id)
    SELECT c.source_patient_id, c.master_patient_id, c.method, c.score, c.explanation::jsonb,
           %(decided_by)s, c.batch_id, %(event_id)s
    FROM unnest(%(sources)s::bigint[], %(masters)s::bigint[], %(methods)s::text[], %(scores)s::float8[],
                %(explanations)b::text[], %(batch_ids)s::bigint[]) WITH ORDINALITY
         AS c (source_patient_id, master_patient_id, method, score, explanation, batch_id, position)
    ORDER BY c.position
    RETURNING id, source_patient_id
)
{_NAME_SUCCESSORS}
"""

# Copies of earlier links, as they were (an undo restores the engine's opinions as the engine's).
_RESTORE = f"""
WITH made AS (
    INSERT INTO patient_link (source_patient_id, master_patient_id, method, score, explanation, decided_by, batch_id,
                              event_id)
    SELECT e.source_patient_id, e.master_patient_id, e.method, e.score, e.explanation, e.decided_by, e.batch_id,
           %(event_id)s
    FROM unnest(%(links)s::bigint[]) WITH ORDINALITY AS c (id, position)
    JOIN patient_link e ON e.id = c.id
    ORDER BY c.position
    RETURNING id, source_patient_id
)
{_NAME_SUCCESSORS}
"""

_RETIRED_RECORDS = """
SELECT m.id, coalesce(array_agg(r.source_patient_id ORDER BY r.source_patient_id)
                      FILTER (WHERE r.source_patient_id IS NOT NULL), '{}')
FROM master_patient m
LEFT JOIN retired_identity_record r ON r.master_patient_id = m.id
WHERE m.id = ANY(%(masters)s::bigint[]) AND m.retired_at IS NOT NULL
GROUP BY m.id
"""

_REVIVE = """
WITH revived AS (
    UPDATE master_patient m SET retired_at = NULL, merged_into = NULL
    WHERE m.id = ANY(%(masters)s::bigint[]) AND m.retired_at IS NOT NULL
    RETURNING m.id
)
DELETE FROM retired_identity_record r USING revived v WHERE r.master_patient_id = v.id
"""

_RETIRE = """
WITH departed AS (
    SELECT * FROM unnest(%(masters)s::bigint[], %(sources)s::bigint[]) AS d (master_patient_id, source_patient_id)
), emptied AS (
    UPDATE master_patient m SET retired_at = now(), citizen_id = NULL
    WHERE m.id IN (SELECT master_patient_id FROM departed) AND m.retired_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM patient_link l WHERE l.master_patient_id = m.id AND l.superseded_at IS NULL)
    RETURNING m.id
)
INSERT INTO retired_identity_record (master_patient_id, source_patient_id)
SELECT d.master_patient_id, d.source_patient_id FROM departed d JOIN emptied e ON e.id = d.master_patient_id
ON CONFLICT DO NOTHING
"""

# Retired identities whose records moved: `merged_into` names where they are now, if in one identity.
_REDIRECT = """
UPDATE master_patient m SET merged_into = went.destination
FROM (
    SELECT r.master_patient_id AS id,
           CASE WHEN count(DISTINCT l.master_patient_id) = 1 THEN min(l.master_patient_id) END AS destination
    FROM retired_identity_record r
    JOIN patient_link l ON l.source_patient_id = r.source_patient_id AND l.superseded_at IS NULL
    WHERE r.master_patient_id IN (
        SELECT master_patient_id FROM retired_identity_record WHERE source_patient_id = ANY(%(sources)s::bigint[])
    )
    GROUP BY r.master_patient_id
) went
WHERE m.id = went.id AND m.merged_into IS DISTINCT FROM went.destination
"""


def lock_linking(connection: psycopg.Connection[Any]) -> None:
    """Wait for any load, batch re-link or steward's change in progress; held until the transaction
    ends (re-entrant)."""
    connection.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": LINKING_LOCK})


def found_identities(
    connection: psycopg.Connection[Any], founders: Mapping[int, str | None]
) -> dict[int, int]:
    """A new identity for each founding source record, holding the citizen ID given with it (if
    any), made in record order; returns founding record -> master id."""
    if not founders:
        return {}
    records = sorted(founders)
    rows = connection.execute(
        _FOUND, {"founders": records, "citizen_ids": [founders[r] for r in records]}
    ).fetchall()
    return {int(record): int(master) for record, master in rows}


def retired_records(connection: psycopg.Connection[Any], masters: Iterable[int]) -> dict[int, list[int]]:
    """Of these identities, the retired ones, each with the records it held when it retired."""
    rows = connection.execute(_RETIRED_RECORDS, {"masters": sorted(set(masters))}).fetchall()
    return {int(master): [int(r) for r in records] for master, records in rows}


def write_links(
    connection: psycopg.Connection[Any],
    links: Sequence[LinkRow],
    decided_by: str,
    batch_id: int | Mapping[int, int] | None = None,
    *,
    event_id: int | None = None,
) -> None:
    """Give each record its new link (one per record), superseding its current one, history kept;
    then settle the identities left and joined. `batch_id`: the load that made them, or each
    record's (files loaded together); `event_id`: the steward's change writing them."""
    if not links:
        return
    sources, masters, methods, scores, explanations = (list(column) for column in zip(*links, strict=True))
    _check_returns(connection, sources, masters)
    leaving = connection.execute(_SUPERSEDE, {"sources": sources}).fetchall()
    connection.execute(
        _INSERT,
        {
            "sources": sources,
            "masters": masters,
            "methods": methods,
            "scores": scores,
            "explanations": explanations,
            "decided_by": decided_by,
            "batch_ids": [
                batch_id.get(source) if isinstance(batch_id, Mapping) else batch_id for source in sources
            ],
            "event_id": event_id,
        },
    )
    _settle(connection, leaving, masters, sources)


def restore_links(connection: psycopg.Connection[Any], link_ids: Sequence[int], event_id: int) -> None:
    """Make these earlier links current again, as copies (same identity, method, score, explanation,
    decider and batch) written by the steward's change `event_id`; then settle as `write_links`."""
    if not link_ids:
        return
    earlier = connection.execute(
        "SELECT source_patient_id, master_patient_id FROM patient_link WHERE id = ANY(%(links)s::bigint[])",
        {"links": list(link_ids)},
    ).fetchall()
    if len(earlier) != len(set(link_ids)) or len({source for source, _ in earlier}) != len(earlier):
        raise IdentityRuleError("links to restore must exist and be of different records")
    sources = [int(source) for source, _ in earlier]
    masters = [int(master) for _, master in earlier]
    _check_returns(connection, sources, masters)
    leaving = connection.execute(_SUPERSEDE, {"sources": sources}).fetchall()
    connection.execute(_RESTORE, {"links": list(link_ids), "event_id": event_id})
    _settle(connection, leaving, masters, sources)


def _check_returns(
    connection: psycopg.Connection[Any], sources: Sequence[int], masters: Sequence[int]
) -> None:
    """Refuse links to a retired identity unless they bring back exactly the records it retired with."""
    joining: dict[int, set[int]] = defaultdict(set)
    for source, master in zip(sources, masters, strict=True):
        joining[master].add(source)
    for master, held in retired_records(connection, joining).items():
        if sorted(joining[master]) != held:
            raise IdentityRuleError(
                f"master id {master} is retired: it comes back only with the records it held when it"
                f" retired ({', '.join(map(str, held)) or 'none'}), all of them and no others"
            )


def _settle(
    connection: psycopg.Connection[Any],
    leaving: list[tuple[int, list[int]]],
    joined: Sequence[int],
    sources: Sequence[int],
) -> None:
    """Identities that got records back are active again; those left without any are retired with
    the records that just left them; retired identities whose records moved point to where they are."""
    connection.execute(_REVIVE, {"masters": sorted(set(joined))})
    departed = [(int(master), int(source)) for master, records in leaving for source in records]
    if departed:
        connection.execute(
            _RETIRE,
            {"masters": [master for master, _ in departed], "sources": [source for _, source in departed]},
        )
    connection.execute(_REDIRECT, {"sources": list(sources)})
