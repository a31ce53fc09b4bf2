"""The served application's connections (the API's and the web pages'): psycopg_pool's pools, and one
connection per request, taken when first used.

A request that only reads (a GraphQL query, a health or batch read) runs its reads
(registry/db/sql.py) on a connection of the async pool, in autocommit: its one write, the audit
of what it reads, is committed as it is made, before the data it records leaves.

A request that changes the registry (a mutation, a posted file) runs as one transaction, which
the endpoint commits before answering. The operations that change the registry are plain
functions of a `psycopg.Connection`, shared with the command line and the loads, so a
transaction is a connection of the synchronous pool, driven from a worker thread; the request's
reads after its change run on the same connection, inside the transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from registry.db.sql import Read, run, run_async

P = ParamSpec("P")
T = TypeVar("T")


def read_pool(url: str, size: int) -> AsyncConnectionPool:
    """Autocommit connections for requests that only read; opened by the application's start. It
    grows to `size` as requests overlap, so that its connections, each used in turn, are as many as
    the requests one process serves at once (each keeps its prepared statements warm)."""
    return AsyncConnectionPool(url, min_size=1, max_size=size, kwargs={"autocommit": True}, open=False)


def transaction_pool(url: str, size: int) -> ConnectionPool:
    """Connections for requests that change the registry, each request one transaction."""
    return ConnectionPool(url, min_size=1, max_size=size, open=False)


class Reads:
    """A request's connection for reading, taken from the pool when first used."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def read(self, read: Read[T]) -> T:
        # One statement at a time (a request's DataLoaders run concurrently).
        async with self._lock:
            if self._connection is None:
                self._connection = await self._pool.getconn()
            try:
                return await run_async(self._connection, read)
            except psycopg.OperationalError:
                if self._connection.broken:
                    # The server dropped it (restarted, say), and likely the pool's others too:
                    # they are checked and replaced now, so that the next requests go through.
                    await self._pool.check()
                raise

    async def close(self) -> None:
        """Return the connection to the pool (which replaces it if the server dropped it)."""
        async with self._lock:
            if self._connection is not None:
                await self._pool.putconn(self._connection)
                self._connection = None


class Transaction:
    """A request's transaction: a connection of the synchronous pool, taken when first used, in one
    transaction (an operation's own `connection.transaction()` is a savepoint inside it) until the
    endpoint commits it or the request ends, rolling it back."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._connection: psycopg.Connection[Any] | None = None
        self._transaction: psycopg.Transaction | None = None
        self._lock = asyncio.Lock()

    def _begin(self) -> psycopg.Connection[Any]:
        connection = self._pool.getconn()
        self._transaction = connection.transaction()
        self._transaction.__enter__()
        return connection

    async def change(
        self,
        operation: Callable[Concatenate[psycopg.Connection[Any], P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`operation(connection, ...)`, in a worker thread, inside the request's transaction."""
        async with self._lock:
            if self._connection is None:
                self._connection = await asyncio.to_thread(self._begin)
            try:
                return await asyncio.to_thread(operation, self._connection, *args, **kwargs)
            except psycopg.OperationalError:
                if self._connection.broken:  # as `Reads.read`
                    await asyncio.to_thread(self._pool.check)
                raise

    async def read(self, read: Read[T]) -> T:
        return await self.change(run, read)

    async def commit(self) -> None:
        async with self._lock:
            if self._transaction is not None:
                transaction, self._transaction = self._transaction, None
                await asyncio.to_thread(transaction.__exit__, None, None, None)

    async def close(self) -> None:
        """Return the connection to the pool; whatever was not committed is rolled back."""
        async with self._lock:
            connection, self._connection = self._connection, None
            transaction, self._transaction = self._transaction, None
        if connection is not None:
            await asyncio.to_thread(self._close, connection, transaction)

    def _close(self, connection: psycopg.Connection[Any], transaction: psycopg.Transaction | None) -> None:
        if transaction is not None:
            with contextlib.suppress(psycopg.Error):  # a broken connection: the pool replaces it
                transaction.__exit__(psycopg.Rollback, psycopg.Rollback(), None)
        self._pool.putconn(connection)
