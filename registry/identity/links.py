"""Links are written here, and only here: every path that changes which identity a source record
belongs to (a load, a batch re-link, a steward) goes through this module, so an identity's
history is written one way and a master id keeps its meaning.

- `lock_linking`: the linking step's transaction-scoped advisory lock. A load, a batch re-link and
  a steward's change each take it first, so none works from a state another is changing.
- `found_identities`: new master identities, each founded by a source record.
- `write_links`: a record's current link is superseded (kept, `superseded_at`, pointing to its
  successor by `superseded_by`), never rewritten, and the new one inserted.
- `settle_identities`: identities left without records are retired, naming where their records
  went (`merged_into`), so a stored master id still finds the patient; identities given records
  again are active again. Run after anything that moves links, on the identities it touched
  (every identity, after a batch re-link).

Every function takes psycopg's connection or SQLAlchemy's (see `registry.db.driver_sql`); the
caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from registry.db.driver_sql import AnyConnection, execute

LINKING_LOCK = 7_212_637_001  # advisory lock key of the linking step

# A new link: (source patient, master identity, method, score in bits or None, explanation as JSON
# text or None). Methods: 'score' and 'new_identity' (at load), 'batch' (a re-link), 'steward'.
LinkRow = tuple[int, int, str, float | None, str | None]

_FOUND = """
INSERT INTO master_patient (founded_by_source_patient_id, citizen_id)
SELECT * FROM unnest(%(founders)s::bigint[], %(citizen_ids)s::text[]) ORDER BY 1
RETURNING founded_by_source_patient_id, id
"""

# Superseded first: one current link per source record (unique index patient_link_current).
_SUPERSEDE = """
UPDATE patient_link l SET superseded_at = now()
FROM unnest(%(sources)s::bigint[]) AS c (source_patient_id)
WHERE l.source_patient_id = c.source_patient_id AND l.superseded_at IS NULL
"""

# The new links, in the order given, each named by the link it superseded.
_INSERT = """
WITH made AS (
    INSERT INTO patient_link (source_patient_id, master_patient_id, method, score, explanation, decided_by, batch_id)
    SELECT c.source_patient_id, c.master_patient_id, c.method, c.score, c.explanation::jsonb,
           %(decided_by)s, %(batch_id)s
    FROM unnest(%(sources)s::bigint[], %(masters)s::bigint[], %(methods)s::text[], %(scores)s::float8[],
                %(explanations)s::text[]) WITH ORDINALITY
         AS c (source_patient_id, master_patient_id, method, score, explanation, position)
    ORDER BY c.position
    RETURNING id, source_patient_id
)
UPDATE patient_link old SET superseded_by = made.id FROM made
WHERE old.source_patient_id = made.source_patient_id AND old.superseded_at IS NOT NULL
AND old.superseded_by IS NULL
"""

# %(masters)s: the identities to look at, or NULL for all of them.
_SETTLE = """
WITH touched AS (
    SELECT m.id, m.retired_at IS NOT NULL AS retired,
           EXISTS (SELECT 1 FROM patient_link l WHERE l.master_patient_id = m.id AND l.superseded_at IS NULL) AS linked
    FROM master_patient m
    WHERE %(masters)s::bigint[] IS NULL OR m.id = ANY(%(masters)s::bigint[])
), went AS (
    -- where the records an emptied identity had are linked now, the most-followed destination first
    SELECT DISTINCT ON (t.id) t.id, now_at.master_patient_id AS destination
    FROM touched t
    JOIN patient_link before ON before.master_patient_id = t.id AND before.superseded_at IS NOT NULL
    JOIN patient_link now_at ON now_at.source_patient_id = before.source_patient_id AND now_at.superseded_at IS NULL
    WHERE NOT t.linked AND NOT t.retired AND now_at.master_patient_id <> t.id
    GROUP BY t.id, now_at.master_patient_id
    ORDER BY t.id, count(DISTINCT before.source_patient_id) DESC, now_at.master_patient_id
)
UPDATE master_patient m
SET retired_at = CASE WHEN t.linked THEN NULL ELSE now() END,
    merged_into = CASE WHEN t.linked THEN NULL ELSE went.destination END,
    citizen_id = CASE WHEN t.linked THEN m.citizen_id END
FROM touched t LEFT JOIN went ON went.id = t.id
WHERE m.id = t.id AND t.linked = t.retired
"""


def lock_linking(connection: AnyConnection) -> None:
    """Wait for any load, batch re-link or steward's change in progress; held until the transaction
    ends (re-entrant)."""
    execute(connection, "SELECT pg_advisory_xact_lock(%(key)s)", {"key": LINKING_LOCK})


def found_identities(connection: AnyConnection, founders: Mapping[int, str | None]) -> dict[int, int]:
    """A new identity for each founding source record, holding the citizen ID given with it (if
    any), made in record order; returns founding record -> master id."""
    if not founders:
        return {}
    records = sorted(founders)
    rows = execute(connection, _FOUND, {"founders": records, "citizen_ids": [founders[r] for r in records]})
    return {int(record): int(master) for record, master in rows}


def write_links(
    connection: AnyConnection, links: Sequence[LinkRow], decided_by: str, batch_id: int | None = None
) -> None:
    """Give each record its new link (one per record), superseding its current one, history kept."""
    if not links:
        return
    sources, masters, methods, scores, explanations = (list(column) for column in zip(*links, strict=True))
    execute(connection, _SUPERSEDE, {"sources": sources})
    execute(
        connection,
        _INSERT,
        {
            "sources": sources,
            "masters": masters,
            "methods": methods,
            "scores": scores,
            "explanations": explanations,
            "decided_by": decided_by,
            "batch_id": batch_id,
        },
    )


def settle_identities(connection: AnyConnection, masters: Iterable[int] | None) -> None:
    """Retire the emptied and revive the refilled among `masters` (None: every identity)."""
    execute(connection, _SETTLE, {"masters": None if masters is None else sorted(set(masters))})
