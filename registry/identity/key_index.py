"""The blocking-key index: a load's candidates found by one index lookup per key of the load."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from matching import STANDARD_BLOCKING, pairs_in_blocks

_LIMITS = {rule.kind: rule.max_block_size for rule in STANDARD_BLOCKING}

# The blocks of a load's keys (table load_key) within their rules' size limits: per key, the
# load's records holding it and the registry's other records holding it. The load's own rows are
# not in blocking_key yet, so the index-only scans below find every heap page all-visible.
_BLOCKS = """
WITH keys AS MATERIALIZED (
    -- in key order, so that the lookups below walk the index from one end to the other
    SELECT l.kind, l.value, r.max_size, array_agg(l.source_patient_id) AS loaded
    FROM load_key l JOIN unnest(%(kinds)s::text[], %(limits)s::int[]) AS r (kind, max_size) USING (kind)
    GROUP BY l.kind, l.value, r.max_size
    ORDER BY l.kind, l.value
)
SELECT k.kind, k.loaded, held.ids
FROM keys k CROSS JOIN LATERAL (
    -- the other members, counted only up to the limit (an index scan that stops), so that a huge
    -- block costs no more than a small one
    SELECT coalesce(array_agg(b.source_patient_id), '{}') AS ids FROM (
        SELECT b.source_patient_id FROM blocking_key b WHERE b.kind = k.kind AND b.value = k.value
        LIMIT greatest(k.max_size + 1 - cardinality(k.loaded), 0)
    ) b
) held
WHERE cardinality(held.ids) + cardinality(k.loaded) BETWEEN 2 AND k.max_size
"""


def stage_keys(connection: psycopg.Connection[Any], ids: Sequence[int], rows: Iterable[str]) -> None:
    """Take these records' keys out of the index and hold their current keys in the temporary
    table load_key, for `load_candidate_pairs` and then `store_staged_keys`; `rows`: COPY text
    (kind, value, source patient id), as `replace_key_table` takes them."""
    connection.execute("DELETE FROM blocking_key WHERE source_patient_id = ANY(%s)", (list(ids),))
    connection.execute(
        'CREATE TEMP TABLE load_key (kind text COLLATE "C", value text COLLATE "C", source_patient_id bigint)'
        " ON COMMIT DROP"
    )
    _copy_keys(connection, rows, table="load_key")


def load_candidate_pairs(connection: psycopg.Connection[Any]) -> list[tuple[int, int]]:
    """The staged records' candidate pairs (record, candidate), as `matching.pairs_in_blocks` has them."""
    kinds = list(_LIMITS)
    blocks = connection.execute(_BLOCKS, {"kinds": kinds, "limits": [_LIMITS[k] for k in kinds]}).fetchall()
    return pairs_in_blocks(blocks)


def store_staged_keys(connection: psycopg.Connection[Any]) -> None:
    """Index the staged records under their keys (in key order: each index page is visited once)."""
    connection.execute(
        "INSERT INTO blocking_key (kind, value, source_patient_id)"
        " SELECT kind, value, source_patient_id FROM load_key ORDER BY kind, value"
    )
    connection.execute("DROP TABLE load_key")


def _copy_keys(
    connection: psycopg.Connection[Any],
    rows: Iterable[str],
    *,
    table: str = "blocking_key",
    freeze: bool = False,
) -> None:
    options = " WITH (FREEZE)" if freeze else ""
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} (kind, value, source_patient_id) FROM STDIN{options}") as copy,
    ):
        for chunk in rows:
            copy.write(chunk)


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
