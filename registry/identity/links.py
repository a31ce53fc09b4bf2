"""Identities left without records are retired (pointing to where their records went); identities
given records again are active again. Run after anything that moves links, on the identities it
touched (every identity, after a batch re-link)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

LINKING_LOCK = 7_212_637_001  # advisory lock key of the linking step

# %(masters)s: the identities to look at, or NULL for all of them.
SETTLE_IDENTITIES = """
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


def settle_identities(connection: psycopg.Connection[Any], masters: Iterable[int] | None) -> None:
    """Retire the emptied and revive the refilled among `masters` (None: every identity)."""
    connection.execute(SETTLE_IDENTITIES, {"masters": None if masters is None else sorted(set(masters))})
