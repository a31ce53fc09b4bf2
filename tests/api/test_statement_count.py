"""No N+1: a patient's history costs the same few SQL statements however many encounters it has."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from registry.api.config import ApiConfig
from tests.api.conftest import Graphql, MakeToken, load_records
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record

FACILITIES = ("27001", "27002", "27003", "27004", "27005")
FULL_HISTORY = """
query($id: ID!) { patient(id: $id) {
  identity { fullName citizenId }
  sourceRecords { facility { name } localId link { method } linkHistory { method } }
  encounters(first: 100) {
    nodes { id admittedAt facility { code name } referredFrom { code } referredTo { code name }
            diagnoses { code } medications { name } services { code } labResults { value } notes { text } }
    pageInfo { hasNextPage }
  }
} }
"""


def add_encounters(database: Database, tmp_path: Path, per_facility: int, start: int) -> None:
    for facility in FACILITIES:
        patient = make_patient(f"P-{facility}", facility_code=facility, serial="004242")
        records = [
            make_record(
                i + 1,
                patient,
                make_encounter(
                    f"{facility}-{start + i}", admitted_at=datetime(2024, 1, 1) + timedelta(days=start + i)
                ),
            )
            for i in range(per_facility)
        ]
        load_records(database, tmp_path, records, facility)


@contextmanager
def counted_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement psycopg sends, on the sync or async connections."""
    statements: list[str] = []
    for cursor_class in (psycopg.Cursor, psycopg.AsyncCursor):
        execute = cursor_class.execute

        def counted(self: Any, query: Any, *args: Any, _execute: Any = execute, **kwargs: Any) -> Any:
            statements.append(str(query))
            return _execute(self, query, *args, **kwargs)

        monkeypatch.setattr(cursor_class, "execute", counted)
    try:
        yield statements
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize(
    ("api_config", "most"),
    [
        # the audit with the source records, the encounter page with all its details, the link
        # histories (the token was looked up by the first request, the facilities are in memory)
        (ApiConfig(), 4),
        # encounters built from their rows: each kind of detail is one more statement
        (ApiConfig(written_encounters=False), 8),
    ],
)
def test_history_statements_stay_few_and_constant_as_encounters_grow(
    database: Database,
    tmp_path: Path,
    graphql: Graphql,
    make_token: MakeToken,
    monkeypatch: pytest.MonkeyPatch,
    most: int,
) -> None:
    token = make_token("clinician")
    add_encounters(database, tmp_path, per_facility=10, start=0)
    with database.connect() as connection:
        master = str(connection.execute("SELECT id FROM master_patient").scalar_one())
    graphql(token, "{ me { name } }")  # the pool's first connection does its own setup queries

    with counted_statements(monkeypatch) as at_50:
        answer = graphql(token, FULL_HISTORY, {"id": master})
    assert "errors" not in answer, answer
    assert len(answer["data"]["patient"]["encounters"]["nodes"]) == 50

    add_encounters(database, tmp_path, per_facility=10, start=100)
    with counted_statements(monkeypatch) as at_100:
        answer = graphql(token, FULL_HISTORY, {"id": master})
    assert len(answer["data"]["patient"]["encounters"]["nodes"]) == 100

    assert len(at_50) == len(at_100) <= most, "\n".join(at_50)
