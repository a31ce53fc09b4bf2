"""Facilities: registered by an admin with their name and kind (`set_facility`), or by code alone
when first met (`register_facilities`: a load naming an unknown facility, a facility token)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert

from registry.db.driver_sql import AnyConnection, execute
from registry.db.models import Facility

_REGISTER = """
INSERT INTO facility (code, name)
SELECT code, code FROM unnest(%(codes)s::text[]) AS code ORDER BY 1
ON CONFLICT (code) DO NOTHING
RETURNING code
"""


def register_facilities(connection: AnyConnection, codes: Iterable[str]) -> list[str]:
    """Register the facilities not known yet, named by their code until an admin names them;
    returns the codes registered now, in order."""
    wanted = sorted(set(codes))
    if not wanted:
        return []
    return [code for (code,) in execute(connection, _REGISTER, {"codes": wanted})]


def set_facility(connection: Connection, code: str, name: str, kind: str) -> None:
    connection.execute(
        insert(Facility)
        .values(code=code, name=name, kind=kind)
        .on_conflict_do_update(index_elements=[Facility.code], set_={"name": name, "kind": kind})
    )
