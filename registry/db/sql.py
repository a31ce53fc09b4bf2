"""The one way the application reaches PostgreSQL: psycopg 3, with SQL written out and named
parameters (`%(name)s`).

A read is written once, as a `Query` (its SQL, its values, and a pure function shaping its rows,
named tuples, into the answer) or, when it takes several statements, as `Steps`: a generator that
yields each `Query` and receives its answer. The same read runs on a plain connection (`run`: the
command line, tests, loads) and on the API's pooled async connections (`run_async`). Operations
that change the registry are functions of a `psycopg.Connection` (the API runs them in a worker
thread, registry/db/connections.py).

Nothing here connects on import: the URL is passed in by whoever holds the settings.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import psycopg
from psycopg.rows import RowMaker

from registry.config import Settings
from registry.db import embedded

T = TypeVar("T")


def database_url(settings: Settings) -> str:
    """DATABASE_URL when set, else the embedded server (started on demand)."""
    return settings.database_url or embedded.start(settings.home)


def owner_database_url(settings: Settings) -> str:
    """The schema owner's URL (PROVREG_OWNER_DATABASE_URL), else the application's."""
    return settings.owner_database_url or database_url(settings)


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection of its own (rows as tuples); `with connect(url) as c:` commits at the end, or
    rolls back on an exception, and closes."""
    return psycopg.connect(url)


@lru_cache(maxsize=512)
def _row_type(names: tuple[str, ...]) -> Callable[[Iterable[Any]], Any]:
    # rename: a column without a usable name (an expression, a name met twice) is read by position.
    return namedtuple("Row", names, rename=True)._make  # type: ignore[misc]


def named_rows(cursor: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> RowMaker[Any]:
    """Rows as named tuples: `row.column`, or `row[i]`."""
    result = cursor.pgresult
    if result is None or not result.nfields:
        return tuple
    # The names straight from the result: `cursor.description` would build a Column, with its type
    # looked up, for every column of every statement (bench/README.md).
    encoding = cursor.connection.info.encoding
    return _row_type(tuple(result.fname(i).decode(encoding) for i in range(result.nfields)))  # type: ignore[union-attr]


def rows(found: list[Any]) -> list[Any]:
    return found


def first(found: list[Any]) -> Any | None:
    """The first row, or None."""
    return found[0] if found else None


def value(found: list[Any]) -> Any | None:
    """The first column of the first row, or None."""
    return found[0][0] if found else None


def values(found: list[Any]) -> list[Any]:
    """The first column of every row."""
    return [row[0] for row in found]


def grouped(found: Iterable[Any], key: str) -> dict[Any, list[Any]]:
    """Rows grouped by one of their columns, in their order."""
    groups: dict[Any, list[Any]] = {}
    for row in found:
        groups.setdefault(getattr(row, key), []).append(row)
    return groups


@dataclass(frozen=True, slots=True)
class Query(Generic[T]):
    """One statement and what its rows mean."""

    sql: str
    params: Mapping[str, Any]
    shape: Callable[[list[Any]], T] = rows  # type: ignore[assignment]


Steps = Generator[Query[Any], Any, T]
Read = Query[T] | Steps[T]


def _fetch(connection: psycopg.Connection[Any], query: Query[Any]) -> list[Any]:
    with connection.cursor(row_factory=named_rows) as cursor:
        cursor.execute(query.sql, query.params)
        return cursor.fetchall() if cursor.rownumber is not None else []  # None: no rows to fetch


async def _fetch_async(connection: psycopg.AsyncConnection[Any], query: Query[Any]) -> list[Any]:
    async with connection.cursor(row_factory=named_rows) as cursor:
        await cursor.execute(query.sql, query.params)
        return await cursor.fetchall() if cursor.rownumber is not None else []


def run(connection: psycopg.Connection[Any], read: Read[T]) -> T:
    """The read's answer, on a plain connection."""
    if isinstance(read, Query):
        return read.shape(_fetch(connection, read))
    answer = None
    try:
        while True:
            query = read.send(answer)
            answer = query.shape(_fetch(connection, query))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(connection: psycopg.AsyncConnection[Any], read: Read[T]) -> T:
    """The read's answer, on an async connection (the API's)."""
    if isinstance(read, Query):
        return read.shape(await _fetch_async(connection, read))
    answer = None
    try:
        while True:
            query = read.send(answer)
            answer = query.shape(await _fetch_async(connection, query))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
