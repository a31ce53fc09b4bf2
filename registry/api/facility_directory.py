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

from registry.db.connections import Reads, Transaction
from registry.db.sql import Query

MAX_AGE_SECONDS = 30.0


def _by_code(found: list[Any]) -> dict[str, Any]:
    return {row.code: row for row in found}


ALL_FACILITIES = Query("SELECT * FROM facility", {}, _by_code)


class FacilityDirectory:
    def __init__(self, max_age: float = MAX_AGE_SECONDS) -> None:
        self._max_age = max_age
        self._rows: dict[str, Any] = {}
        self._loaded_at = float("-inf")
        self._reloading = asyncio.Lock()

    async def refresh_if_stale(self, db: Reads | Transaction) -> None:
        if time.monotonic() - self._loaded_at < self._max_age:
            return
        async with self._reloading:
            if time.monotonic() - self._loaded_at >= self._max_age:
                self._rows = await db.read(ALL_FACILITIES)
                self._loaded_at = time.monotonic()

    def get(self, code: str) -> Any | None:
        return self._rows.get(code)
