"""Facilities: registered by an admin with their name and kind (loads register unknown codes by code alone)."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert

from registry.db.models import Facility


def set_facility(connection: Connection, code: str, name: str, kind: str) -> None:
    connection.execute(
        insert(Facility)
        .values(code=code, name=name, kind=kind)
        .on_conflict_do_update(index_elements=[Facility.code], set_={"name": name, "kind": kind})
    )
