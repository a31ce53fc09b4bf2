"""Test databases: a URL and its connections, with the shortcuts tests read results with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from registry.db.sql import named_rows


class Rows(psycopg.Cursor[Any]):
    """A cursor with the shortcuts tests read results with (rows are named tuples)."""

    def all(self) -> list[Any]:
        return self.fetchall()

    def first(self) -> Any | None:
        return self.fetchone()

    def one(self) -> Any:
        (row,) = self.fetchall()
        return row

    def one_or_none(self) -> Any | None:
        found = self.fetchall()
        assert len(found) <= 1, found
        return found[0] if found else None

    def scalar(self) -> Any | None:
        row = self.fetchone()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.fetchall()]


@dataclass(frozen=True)
class Database:
    """A test's database: its URL, and connections to it (`with database.connect() as c:` commits
    at the end, or rolls back on an exception)."""

    url: str

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=autocommit, cursor_factory=Rows, row_factory=named_rows)

    begin = connect

    def plain(self) -> psycopg.Connection[Any]:
        """A connection as the application's own are: rows as plain tuples."""
        return psycopg.connect(self.url)
