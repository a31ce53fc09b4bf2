"""Facilities: registered by an admin with their name and kind (`set_facility`), or by code alone
when first met (`register_facilities`: a load naming an unknown facility, a facility token)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

_REGISTER = """
INSERT INTO facility (code, name)
SELECT code, code FROM unnest(%(codes)s::text[]) AS code ORDER BY 1
ON CONFLICT (code) DO NOTHING
RETURNING code
"""

_SET = """
INSERT INTO facility (code, name, kind) VALUES (%(code)s, %(name)s, %(kind)s)
ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind
"""


def register_facilities(connection: psycopg.Connection[Any], codes: Iterable[str]) -> list[str]:
    """Register the facilities not known yet, named by their code until an admin names them;
    returns the codes registered now, in order."""
    wanted = sorted(set(codes))
    if not wanted:
        return []
    return [code for (code,) in connection.execute(_REGISTER, {"codes": wanted})]


def set_facility(connection: psycopg.Connection[Any], code: str, name: str, kind: str) -> None:
    connection.execute(_SET, {"code": code, "name": name, "kind": kind})
