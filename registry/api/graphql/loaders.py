"""DataLoaders: every kind of row is fetched once per request for all the keys a query needs (no N+1)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Row
from strawberry.dataloader import DataLoader

from registry.api import reads
from registry.api.database import RequestConnection
from registry.db.models import Diagnosis, LabResult, Medication, ProgressNote, Service

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


def _children(db: RequestConnection, model: reads.EncounterChild) -> DataLoader[int, list[Row[Any]]]:
    def read(connection: Connection, encounter_ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
        return reads.encounter_children(connection, model, encounter_ids)

    return _loader(db, read, list)


class Loaders:
    """The loaders of one request (a DataLoader caches for its lifetime: one request, one user)."""

    def __init__(self, db: RequestConnection) -> None:
        self.sources = _loader(db, reads.sources_of_masters, list)
        self.link_history = _loader(db, reads.link_histories, list)
        self.diagnoses = _children(db, Diagnosis)
        self.medications = _children(db, Medication)
        self.services = _children(db, Service)
        self.lab_results = _children(db, LabResult)
        self.notes = _children(db, ProgressNote)
