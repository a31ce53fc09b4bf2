"""DataLoaders: every kind of row is fetched once per request for all the keys a query needs (no N+1)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from registry.api import reads
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


async def _sources_of_masters(db: RequestConnection, masters: list[int]) -> list[list[Any]]:
    found = reads.grouped(await db.rows(reads.SOURCES_OF_MASTERS, {"masters": masters}), "master_patient_id")
    return [found.get(master, []) for master in masters]


class Loaders:
    """The loaders of one request (a DataLoader caches for its lifetime: one request, one user)."""

    def __init__(self, db: RequestConnection) -> None:
        self.sources = DataLoader(load_fn=lambda masters: _sources_of_masters(db, masters))
        self.link_history = _loader(db, reads.link_histories, list)
