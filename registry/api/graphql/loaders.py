"""DataLoaders: every kind of row is fetched once per request for all the keys a query needs (no N+1)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy import Connection, Row
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


def _details(kind: str) -> Callable[[Connection, Sequence[int]], Mapping[int, list[Row[Any]]]]:
    def read(connection: Connection, encounter_ids: Sequence[int]) -> Mapping[int, list[Row[Any]]]:
        return reads.encounter_details(connection, kind, encounter_ids)

    return read


class Loaders:
    """The loaders of one request, each made when first used (a DataLoader caches for its lifetime:
    one request, one user)."""

    def __init__(self, db: RequestConnection) -> None:
        self._db = db

    @cached_property
    def link_history(self) -> DataLoader[int, list[Row[Any]]]:
        return _loader(self._db, reads.link_histories, list)

    # Encounters' details by encounter id, for encounters built from their rows (encounters.py).
    @cached_property
    def diagnoses(self) -> DataLoader[int, list[Row[Any]]]:
        return _loader(self._db, _details("diagnoses"), list)

    @cached_property
    def medications(self) -> DataLoader[int, list[Row[Any]]]:
        return _loader(self._db, _details("medications"), list)

    @cached_property
    def services(self) -> DataLoader[int, list[Row[Any]]]:
        return _loader(self._db, _details("services"), list)

    @cached_property
    def lab_results(self) -> DataLoader[int, list[Row[Any]]]:
        return _loader(self._db, _details("lab_results"), list)

    @cached_property
    def notes(self) -> DataLoader[int, list[Row[Any]]]:
        return _loader(self._db, _details("notes"), list)
