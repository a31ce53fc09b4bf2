"""The blocking-key index: candidate search as an index lookup and a join."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from matching import MIN_SHARED_KEYS, STANDARD_BLOCKING

_RULES = {rule.kind: rule for rule in STANDARD_BLOCKING}

# Pairs (record, candidate) worth scoring, as `matching.candidate_pairs` has them: sharing keys
# whose blocks are within their rules' size limits (a key held by thousands of records, a shared
# phone or Nguyễn Văn Hùng 1985, finds nobody in particular), one of a sufficient rule or enough.
_CANDIDATES = """
WITH mine AS (
    SELECT kind, value, source_patient_id FROM blocking_key WHERE source_patient_id = ANY(%(ids)s)
), rules AS (
    SELECT * FROM unnest(%(kinds)s::text[], %(limits)s::int[], %(counts)s::int[]) AS r (kind, max_size, counts)
), blocks AS (
    -- the records' keys whose blocks are within their rules' limits, each block counted only up
    -- to its limit (an index scan that stops), so that a huge block costs no more than a small one
    SELECT k.kind, k.value, r.counts
    FROM (SELECT DISTINCT kind, value FROM mine) k JOIN rules r USING (kind)
    WHERE (
        SELECT count(*) FROM (
            SELECT FROM blocking_key b WHERE b.kind = k.kind AND b.value = k.value LIMIT r.max_size + 1
        ) capped
    ) <= r.max_size
)
SELECT m.source_patient_id AS record, b.source_patient_id AS candidate
FROM mine m JOIN blocks k USING (kind, value) JOIN blocking_key b USING (kind, value)
WHERE b.source_patient_id <> m.source_patient_id
GROUP BY 1, 2
HAVING sum(k.counts) >= %(needed)s
"""


def replace_keys(connection: psycopg.Connection[Any], ids: Sequence[int], rows: Iterable[str]) -> None:
    """Index these records under their current keys (a changed record loses its old keys); `rows`:
    COPY text (kind, value, source patient id), as `replace_key_table` takes them."""
    connection.execute("DELETE FROM blocking_key WHERE source_patient_id = ANY(%s)", (list(ids),))
    _copy_keys(connection, rows)


def _copy_keys(connection: psycopg.Connection[Any], rows: Iterable[str], *, freeze: bool = False) -> None:
    options = " WITH (FREEZE)" if freeze else ""
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY blocking_key (kind, value, source_patient_id) FROM STDIN{options}") as copy,
    ):
        for chunk in rows:
            copy.write(chunk)


def candidate_pairs_for(connection: psycopg.Connection[Any], ids: Sequence[int]) -> list[tuple[int, int]]:
    kinds = list(_RULES)
    params = {
        "ids": list(ids),
        "kinds": kinds,
        "limits": [_RULES[kind].max_block_size for kind in kinds],
        "counts": [_RULES[kind].keys_counted(MIN_SHARED_KEYS) for kind in kinds],
        "needed": MIN_SHARED_KEYS,
    }
    return [(row[0], row[1]) for row in connection.execute(_CANDIDATES, params).fetchall()]


_TABLE_CONSTRAINTS = """
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'blocking_key'::regclass AND contype IN ('p', 'u') ORDER BY conname
"""
_TABLE_INDEXES = """
SELECT x.indexrelid::regclass::text, pg_get_indexdef(x.indexrelid) FROM pg_index x
WHERE x.indrelid = 'blocking_key'::regclass
AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid)
ORDER BY 1
"""


def replace_key_table(connection: psycopg.Connection[Any], rows: Iterable[str]) -> None:
    """Replace every key with these rows (COPY text format: kind, value, source patient id).

    The table's indexes are dropped and built again around the load, as the schema declares
    them (read from the catalogue): a sorted build is many times faster than maintaining them row
    by row. TRUNCATE already locks the table until commit, so nobody sees it without them.
    """
    constraints = connection.execute(_TABLE_CONSTRAINTS).fetchall()
    indexes = connection.execute(_TABLE_INDEXES).fetchall()
    connection.execute("TRUNCATE blocking_key")
    for name, _ in constraints:
        connection.execute(f'ALTER TABLE blocking_key DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        connection.execute(f"DROP INDEX {name}")
    # Frozen as written (the table was emptied in this transaction): visible to all at once, so
    # the candidate search's index-only scans need not visit the table until a vacuum has run.
    _copy_keys(connection, rows, freeze=True)
    connection.execute("SELECT set_config('maintenance_work_mem', '1GB', true)")
    for name, definition in constraints:
        connection.execute(f'ALTER TABLE blocking_key ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        connection.execute(definition)
    connection.execute("ANALYZE blocking_key")
