"""Encounters written as JSON by PostgreSQL (the default, registry/api/graphql/encounters.py) answer
exactly as the plain path does (encounters built from their rows and completed by strawberry, its
scalars writing every value): field by field with generated values, and with the operation's
aliases, fragments and directives."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLObjectType, build_schema, get_named_type
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.contracts import SCHEMA_DIR
from tests.api.conftest import Graphql, MakeToken, load_records
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record

# The published schema, to select every field there is.
PUBLISHED = build_schema((SCHEMA_DIR / "registry.graphql").read_text(encoding="utf-8"))


def every_field(object_type: GraphQLObjectType) -> str:
    """A selection of every field of this type, and of every object below it."""
    parts = []
    for name, field in object_type.fields.items():
        named = get_named_type(field.type)
        parts.append(f"{name} {{ {every_field(named)} }}" if isinstance(named, GraphQLObjectType) else name)
    return " ".join(parts)


ENCOUNTER = every_field(PUBLISHED.get_type("Encounter"))  # type: ignore[arg-type]
ALL_FIELDS = (
    f"query($id: ID!) {{ patient(id: $id) {{ encounters {{ nodes {{ {ENCOUNTER} }} pageInfo {{ hasNextPage }} }}"
    f" referrals {{ encounter {{ {ENCOUNTER} }} fromFacility {{ code name kind }} }} }} }}"
)


@pytest.fixture
def plain(db_url: str, tmp_path: Path) -> Iterator[Graphql]:
    """The same API, with encounters built from their rows."""
    config = ApiConfig(written_encounters=False)
    with TestClient(create_app(db_url, tmp_path / "plain-home", config)) as client:
        yield Graphql(client)


@pytest.fixture
def history(database: Database, tmp_path: Path) -> int:
    patient = make_patient("A1", facility_code="27001")
    load_records(database, tmp_path, [make_record(1, patient, make_encounter("A-1"))], "27001")
    with database.begin() as connection:
        connection.execute(
            "UPDATE facility SET name = 'Bệnh viện \"Đa khoa\"', kind = 'hospital' WHERE code = '27001'"
        )
        return int(connection.execute("SELECT id FROM master_patient").scalar_one())


def both(
    graphql: Graphql, plain: Graphql, token: str, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """The answer, the same (values, keys and their order) whichever way encounters are read."""
    written, built = graphql(token, query, variables), plain(token, query, variables)
    assert "errors" not in written, written
    assert written == built
    assert str(written) == str(built)  # the same keys in the same order
    return written["data"]


times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)) | st.just(
    datetime(2025, 11, 3, 8, 15)
)
texts = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=12)
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    admitted_at=times,
    ordered_at=st.none() | times,
    quantity=st.none() | decimals,
    name=st.none() | texts,
    departments=st.lists(texts, max_size=3),
    outcome=st.none() | st.integers(min_value=-32768, max_value=32767),
)
def test_every_field_is_written_as_the_plain_path_writes_it(
    database: Database,
    graphql: Graphql,
    plain: Graphql,
    make_token: MakeToken,
    history: int,
    admitted_at: datetime,
    ordered_at: datetime | None,
    quantity: Decimal | None,
    name: str | None,
    departments: list[str],
    outcome: int | None,
) -> None:
    with database.begin() as connection:
        connection.execute(
            "UPDATE encounter SET admitted_at = %(at)s, departments = %(departments)s, outcome = %(outcome)s",
            {"at": admitted_at, "departments": departments, "outcome": outcome},
        )
        connection.execute(
            "UPDATE medication SET ordered_at = %(at)s, quantity = %(quantity)s, name = %(name)s WHERE ordinal = 1",
            {"at": ordered_at, "quantity": quantity, "name": name},
        )
    data = both(graphql, plain, make_token("clinician"), ALL_FIELDS, {"id": str(history)})
    [node] = data["patient"]["encounters"]["nodes"]
    assert node["departments"] == departments
    assert data["patient"]["referrals"][0]["encounter"] == node  # the encounter was referred on
    assert node["facility"] == {"code": "27001", "name": 'Bệnh viện "Đa khoa"', "kind": "HOSPITAL"}
    assert node["referredTo"] == {"code": "01929", "name": None, "kind": None}  # not registered
    drug = node["medications"][0]
    assert drug["name"] == name
    assert (drug["quantity"] is None) == (quantity is None)


def test_aliases_fragments_and_directives_shape_the_written_json(
    graphql: Graphql, plain: Graphql, make_token: MakeToken, history: int
) -> None:
    query = """
    query($id: ID!, $yes: Boolean!) { patient(id: $id) { encounters { nodes {
      when: admittedAt @include(if: $yes)
      id @skip(if: $yes)
      ...Where
      ... on Encounter { diagnoses { code } }
      diagnoses { main: isMain }
      __typename
    } } } }
    fragment Where on Encounter { facility { __typename code } referredTo { code name } }
    """
    token = make_token("clinician")
    for yes in (True, False):
        data = both(graphql, plain, token, query, {"id": str(history), "yes": yes})
        [node] = data["patient"]["encounters"]["nodes"]
        assert list(node) == [
            "when" if yes else "id",
            "facility",
            "referredTo",
            "diagnoses",
            "__typename",
        ]
        assert node["facility"] == {"__typename": "Facility", "code": "27001"}
        assert node["referredTo"] == {"code": "01929", "name": None}  # a code not in the directory
        assert node["diagnoses"] == [{"code": "E11", "main": True}, {"code": "I10", "main": False}]
        assert node["__typename"] == "Encounter"
        assert node.get("when") == ("2025-11-03T08:15:00" if yes else None)


def test_each_alias_of_written_encounters_has_its_own_selection(
    graphql: Graphql, plain: Graphql, make_token: MakeToken, history: int
) -> None:
    """`nodes` twice under aliases, as GraphQL allows, is two selections, not the first one's answer twice."""
    query = """
    query($id: ID!) { patient(id: $id) {
      encounters { nodes { id } brief: nodes { visitType facility { code } } }
      referrals { encounter { id } seen: encounter { admittedAt } }
    } }
    """
    patient = both(graphql, plain, make_token("clinician"), query, {"id": str(history)})["patient"]
    [node] = patient["encounters"]["nodes"]
    [brief] = patient["encounters"]["brief"]
    assert list(node) == ["id"]
    assert list(brief) == ["visitType", "facility"]
    assert brief["facility"] == {"code": "27001"}
    [referral] = patient["referrals"]
    assert list(referral["encounter"]) == ["id"]
    assert referral["seen"] == {"admittedAt": "2025-11-03T08:15:00"}


TITLES = """
query($id: ID!) { patient(id: $id) {
  encounters { nodes {
    visitType visitTypeLabel { code vi en }
    outcomeLabel { vi en } dischargeTypeLabel { __typename code en }
    departments departmentLabels { code vi }
    diagnoses { code text title titleEn }
  } }
  conditions { code title titleEn chapter chapterTitle }
} }
"""


def test_codes_are_given_their_titles_and_labels_either_way(
    database: Database, graphql: Graphql, plain: Graphql, make_token: MakeToken, history: int
) -> None:
    """The WHO's titles until the province loads its catalogue, then the province's first; the XML 130
    code lists' labels from registry/codes/xml130.toml; a code no list has keeps its code alone."""
    token = make_token("clinician")
    with database.begin() as connection:
        connection.execute("UPDATE encounter SET departments = '{K02,X99}'")
    patient = both(graphql, plain, token, TITLES, {"id": str(history)})["patient"]
    [node] = patient["encounters"]["nodes"]
    assert node["visitTypeLabel"] == {"code": "03", "vi": "Điều trị nội trú", "en": "Inpatient treatment"}
    assert node["outcomeLabel"] == {"vi": "Đỡ", "en": "Improved"}
    assert node["dischargeTypeLabel"] == {"__typename": "CodeLabel", "code": "1", "en": "Discharged"}
    assert node["departmentLabels"] == [
        {"code": "K02", "vi": "Khoa Hồi sức cấp cứu"},
        {"code": "X99", "vi": None},
    ]
    assert node["diagnoses"] == [
        {
            "code": "E11",
            "text": None,
            "title": "Type 2 diabetes mellitus",
            "titleEn": "Type 2 diabetes mellitus",
        },
        {
            "code": "I10",
            "text": None,
            "title": "Essential (primary) hypertension",
            "titleEn": "Essential (primary) hypertension",
        },
    ]
    assert patient["conditions"][0]["chapter"] == "IV"
    assert patient["conditions"][0]["chapterTitle"] == "Endocrine, nutritional and metabolic diseases"

    with database.begin() as connection:
        connection.execute(
            "INSERT INTO icd10_catalogue (catalogue, code, title, chapter, source)"
            " VALUES ('province', 'E11', 'Bệnh đái tháo đường không phụ thuộc insuline', 'IV', 'test')"
        )
    patient = both(graphql, plain, token, TITLES, {"id": str(history)})["patient"]
    [node] = patient["encounters"]["nodes"]
    assert node["diagnoses"][0]["title"] == "Bệnh đái tháo đường không phụ thuộc insuline"
    assert node["diagnoses"][0]["titleEn"] == "Type 2 diabetes mellitus"
    assert node["diagnoses"][1]["title"] == "Essential (primary) hypertension"  # not in the province's
    condition = next(c for c in patient["conditions"] if c["code"] == "E11")
    assert condition["title"] == "Bệnh đái tháo đường không phụ thuộc insuline"
