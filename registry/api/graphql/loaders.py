"""DataLoaders: every kind of row is fetched once per request for all the keys a query needs (no N+1)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property, partial
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from registry import reads
from registry.db.connections import Reads, Transaction
from registry.db.sql import Query

K = TypeVar("K")
V = TypeVar("V")


def _loader(
    db: Reads | Transaction,
    read: Callable[[Sequence[K]], Query[Mapping[K, V]]],
    missing: Callable[[], V],
) -> DataLoader[K, V]:
    async def load(keys: list[K]) -> list[V]:
        found = await db.read(read(keys))
        return [found.get(key) or missing() for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    """The loaders of one request, each made when first used (a DataLoader caches for its lifetime:
    one request, one user)."""

    def __init__(self, db: Reads | Transaction) -> None:
        self._db = db

    @cached_property
    def link_history(self) -> DataLoader[int, list[Any]]:
        return _loader(self._db, reads.link_histories, list)

    # Encounters' details by encounter id, for encounters built from their rows (encounters.py).
    @cached_property
    def diagnoses(self) -> DataLoader[int, list[Any]]:
        return _loader(self._db, partial(reads.encounter_details, "diagnoses"), list)

    @cached_property
    def medications(self) -> DataLoader[int, list[Any]]:
        return _loader(self._db, partial(reads.encounter_details, "medications"), list)

    @cached_property
    def services(self) -> DataLoader[int, list[Any]]:
        return _loader(self._db, partial(reads.encounter_details, "services"), list)

    @cached_property
    def lab_results(self) -> DataLoader[int, list[Any]]:
        return _loader(self._db, partial(reads.encounter_details, "lab_results"), list)

    @cached_property
    def notes(self) -> DataLoader[int, list[Any]]:
        return _loader(self._db, partial(reads.encounter_details, "notes"), list)
