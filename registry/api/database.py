"""The API's database access: an async engine, and one connection per request.

Reads are written once as plain functions of a SQLAlchemy `Connection` and run here through
`AsyncConnection.run_sync`, so the same functions serve the CLI, tests and the API. A request
uses one pooled connection, one statement at a time (DataLoaders of one request run
concurrently), inside one transaction that the endpoint commits before answering: the audit
of a read is committed before the data leaves. A request that only reads (a GraphQL query)
runs its statements in autocommit instead, which spares the BEGIN and COMMIT round trips: its
one write, the audit of what it reads, is committed as it is made, before the reads it records.

The hot statements of a patient read (`rows`) are SQLAlchemy Core statements compiled once and
run on the connection's psycopg driver directly, without `run_sync`'s greenlet hop and
SQLAlchemy's per-execution work, which cost more than the statements themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg
from psycopg.rows import RowFactory, RowMaker, namedtuple_row
from sqlalchemy import Connection, Dialect, Executable
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from registry.db.engine import sqlalchemy_url

P = ParamSpec("P")
T = TypeVar("T")


def create_api_engine(url: str, pool_size: int = 10, *, autocommit: bool = False) -> AsyncEngine:
    """The API's engine: for transactions, or (autocommit) for requests that only read.

    Autocommit is the engine's own setting, so its connections are not switched and switched
    back on every request.
    """
    # No pre-ping (a round trip per request): a connection found dead fails its request, and
    # SQLAlchemy then replaces the pool's connections, so the next requests go through.
    options: dict[str, Any] = {}
    if autocommit:
        # Nothing to roll back when a connection goes back to the pool: every statement committed.
        options = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None}
    return create_async_engine(sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size, **options)


_MAX_COMPILED = 1024
_compiled: dict[int, tuple[Executable, str, dict[str, Any]]] = {}


def compiled(statement: Executable, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The statement's SQL for psycopg and its own bound values (literals), compiled once."""
    found = _compiled.get(id(statement))
    if found is None or found[0] is not statement:
        if len(_compiled) >= _MAX_COMPILED:
            _compiled.clear()
        done = statement.compile(dialect=dialect)
        found = _compiled[id(statement)] = (statement, done.string, dict(done.params))
    return found[1], found[2]


_row_makers: dict[str, RowMaker[Any]] = {}


def _named_tuples(sql: str) -> RowFactory[Any]:
    """psycopg's `namedtuple_row`, its tuple class found once per statement, not per execution."""

    def row_maker(cursor: Any) -> RowMaker[Any]:
        maker = _row_makers.get(sql)
        if maker is None:
            maker = namedtuple_row(cursor)
            if cursor.description is not None:  # no row type to keep from a statement without rows
                if len(_row_makers) >= _MAX_COMPILED:
                    _row_makers.clear()
                _row_makers[sql] = maker
        return maker

    return row_maker


class RequestConnection:
    """A connection taken from the pool on first use and returned when the request ends."""

    def __init__(self, engine: AsyncEngine, *, autocommit: bool = False) -> None:
        """`autocommit`: the engine is one made with `create_api_engine(..., autocommit=True)`."""
        self._engine = engine
        self._autocommit = autocommit
        self._pooled: PoolProxiedConnection | None = None  # the pool's connection (autocommit)
        self._connection: AsyncConnection | None = None  # SQLAlchemy's connection over it
        self._lock = asyncio.Lock()

    async def _pooled_connection(self) -> PoolProxiedConnection:
        if self._pooled is None:
            self._pooled = await self._engine.raw_connection()
        return self._pooled

    async def _connected(self) -> AsyncConnection:
        if self._connection is None:
            if self._autocommit:
                # Over the connection `rows` may have taken already: one per request.
                pooled = await self._pooled_connection()
                self._connection = AsyncConnection(self._engine, Connection(self._engine.sync_engine, pooled))
            else:
                self._connection = await self._engine.connect()
        return self._connection

    async def run(
        self, read: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        async with self._lock:
            connection = await self._connected()
            return await connection.run_sync(read, *args, **kwargs)

    async def rows(self, statement: Executable, values: Mapping[str, Any]) -> Sequence[Any]:
        """The rows of one Core statement (named tuples, or SQLAlchemy rows in a transaction)."""
        async with self._lock:
            if not self._autocommit:
                # In a transaction SQLAlchemy must see every statement, or it would not commit them.
                connection = await self._connected()
                return (await connection.execute(statement, dict(values))).all()
            # The pool's connection alone: a SQLAlchemy `Connection` costs more than a statement.
            pooled = await self._pooled_connection()
            driver = pooled.driver_connection
            sql, literals = compiled(statement, self._engine.dialect)
            try:
                async with driver.cursor(row_factory=_named_tuples(sql)) as cursor:
                    await cursor.execute(sql, {**literals, **values})
                    return await cursor.fetchall()
            except psycopg.Error:
                if driver.broken or driver.closed:
                    # The server went away (restarted, say): SQLAlchemy did not see it happen, so
                    # the pool is renewed here, as SQLAlchemy does on a disconnect.
                    await greenlet_spawn(pooled.invalidate)
                    await self._engine.dispose()
                raise

    async def commit(self) -> None:
        async with self._lock:
            if self._connection is not None and not self._autocommit:
                await self._connection.commit()

    async def close(self) -> None:
        """Return the connection to the pool; whatever was not committed is rolled back."""
        async with self._lock:
            if self._connection is not None:
                await self._connection.close()  # and the pool's connection under it
            elif self._pooled is not None:
                # In SQLAlchemy's async context, as the pool may close a connection it has no room for.
                await greenlet_spawn(self._pooled.close)
            self._connection = self._pooled = None
