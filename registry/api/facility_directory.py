"""The facility directory: every facility's name and kind, held in memory by each server process.

Facilities are reference data (hundreds of rows, changed by admins and by loads meeting a new
code), read by nearly every query to name where an encounter happened. Each process reloads the
directory when it is older than `max_age` seconds, so a change shows within that time; a facility
not (yet) in the directory is shown by its code alone.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import Connection, Row, select

from registry.api.database import RequestConnection
from registry.db.models import Facility

MAX_AGE_SECONDS = 30.0


def _all_facilities(connection: Connection) -> dict[str, Row[Any]]:
    return {row.code: row for row in connection.execute(select(Facility.__table__))}


class FacilityDirectory:
    def __init__(self, max_age: float = MAX_AGE_SECONDS) -> None:
        self._max_age = max_age
        self._rows: dict[str, Row[Any]] = {}
        self._loaded_at = float("-inf")
        self._reloading = asyncio.Lock()

    async def refresh_if_stale(self, db: RequestConnection) -> None:
        if time.monotonic() - self._loaded_at < self._max_age:
            return
        async with self._reloading:
            if time.monotonic() - self._loaded_at >= self._max_age:
                self._rows = await db.run(_all_facilities)
                self._loaded_at = time.monotonic()

    def get(self, code: str) -> Row[Any] | None:
        return self._rows.get(code)
