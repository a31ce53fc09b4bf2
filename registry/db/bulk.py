"""Bulk writes: rows COPYed into a temporary table, for one set-based statement to apply them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg


def temp_table_of(
    connection: psycopg.Connection[Any], name: str, columns: str, rows: Iterable[Sequence[Any]]
) -> None:
    """Create the temporary table `name` (`columns`: its column definitions; dropped at commit or
    by the caller) holding `rows`, and ANALYZE it so the statements joining it plan well."""
    connection.execute(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
    with connection.cursor() as cursor, cursor.copy(f"COPY {name} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    connection.execute(f"ANALYZE {name}")


def copy_text(value: str) -> str:
    """A value for COPY's text format (rows built as text are written whole, without per-row calls)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value
