"""One SQL statement run on either connection the application holds: psycopg's own (a load, a batch
re-link, the command line) or SQLAlchemy's (the API's resolvers, the command line's ORM work),
through `Connection.exec_driver_sql`. For the few operations both reach (writing links, registering
a facility, reading the matching model). Parameters are psycopg's: `%(name)s`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
import sqlalchemy

AnyConnection = psycopg.Connection[Any] | sqlalchemy.Connection


def execute(
    connection: AnyConnection, statement: str, parameters: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """Run `statement`; returns its rows (none for a statement that returns none)."""
    if isinstance(connection, sqlalchemy.Connection):
        result = connection.exec_driver_sql(statement, dict(parameters))
        return [tuple(row) for row in result] if result.returns_rows else []
    cursor = connection.execute(statement, parameters)
    return cursor.fetchall() if cursor.description is not None else []
