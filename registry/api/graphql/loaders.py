"""DataLoaders: every kind of row is fetched once per request for all the keys a query needs (no N+1)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from registry import reads
from registry.api.database import RequestConnection

K = TypeVar("K")
V = TypeVar("V")


def _loader(
    db: RequestConnection,
    read: Callable[[Connection, Sequence[K]], Mapping[K, V]],
    missing: Callable[[], V],
) -> DataLoader[K, V]:
    async def load(keys: list[K]) -> list[V]:
        found = await db.run(read, keys)
        return [found.get(key) or missing() for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    """The loaders of one request (a DataLoader caches for its lifetime: one request, one user)."""

    def __init__(self, db: RequestConnection) -> None:
        self.link_history = _loader(db, reads.link_histories, list)
