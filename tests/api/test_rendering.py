"""Encounters written by PostgreSQL (registry/api/graphql/rendering.py) are what the schema's own
scalars would write, field by field, and follow the operation's aliases, fragments and directives."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLObjectType, get_named_type
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from strawberry.schema.schema_converter import GraphQLCoreConverter

from registry.api.config import ApiConfig
from registry.api.graphql.operations import FacilityKind
from registry.api.graphql.schema import build_schema
from tests.api.conftest import Graphql, MakeToken, load_records
from tests.factories import make_encounter, make_patient, make_record

SCHEMA = build_schema(ApiConfig())._schema
# What the schema's Encounter reads, where it is not the column of the field's Python name.
RENAMED = {
    "source_record_id": "source_patient_id",
    "referred_from_code": "referred_from",
    "referred_to_code": "referred_to",
}
FACILITIES = {"facility": "facility_code", "referred_from": "referred_from", "referred_to": "referred_to"}
CHILDREN = {
    "diagnoses": "diagnosis",
    "medications": "medication",
    "services": "service",
    "lab_results": "lab_result",
    "notes": "progress_note",
}


def _python_name(object_type: GraphQLObjectType, field: str) -> str:
    return object_type.fields[field].extensions[GraphQLCoreConverter.DEFINITION_BACKREF].python_name


def every_field(object_type: GraphQLObjectType) -> str:
    """A selection of every field of this type, and of every object below it."""
    parts = []
    for name, field in object_type.fields.items():
        named = get_named_type(field.type)
        parts.append(f"{name} {{ {every_field(named)} }}" if isinstance(named, GraphQLObjectType) else name)
    return " ".join(parts)


def serialized(type_: Any, value: Any) -> Any:
    """The value as the schema's scalar or enum writes it (graphql-core's own serialisation)."""
    if value is None:
        return None
    if isinstance(type_, GraphQLNonNull):
        return serialized(type_.of_type, value)
    if isinstance(type_, GraphQLList):
        return [serialized(type_.of_type, item) for item in value]
    return type_.serialize(value)


def expected(object_type: GraphQLObjectType, row: dict[str, Any], connection: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    for name, field in object_type.fields.items():
        python = _python_name(object_type, name)
        named = get_named_type(field.type)
        if python in FACILITIES and object_type.name == "Encounter":
            code = row[FACILITIES[python]]
            answer[name] = None if code is None else expected_facility(named, code, connection)
        elif python in CHILDREN and object_type.name == "Encounter":
            children = connection.execute(
                text(f"SELECT * FROM {CHILDREN[python]} WHERE encounter_id = :id ORDER BY ordinal"),
                {"id": row["id"]},
            ).mappings()
            answer[name] = [expected(named, dict(child), connection) for child in children]
        else:
            answer[name] = serialized(field.type, row[RENAMED.get(python, python)])
    return answer


def expected_facility(facility_type: GraphQLObjectType, code: str, connection: Any) -> dict[str, Any]:
    row = connection.execute(
        text("SELECT name, kind FROM facility WHERE code = :code"), {"code": code}
    ).first()
    kind_type: GraphQLEnumType = get_named_type(facility_type.fields["kind"].type)
    return {
        "code": code,
        "name": row.name if row else None,
        "kind": kind_type.serialize(FacilityKind(row.kind)) if row else None,
    }


@pytest.fixture
def history(engine: Engine, tmp_path: Path) -> int:
    patient = make_patient("A1", facility_code="27001")
    load_records(engine, tmp_path, [make_record(1, patient, make_encounter("A-1"))], "27001")
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE facility SET name = 'Bệnh viện \"Đa khoa\"', kind = 'hospital' WHERE code = '27001'")
        )
        return int(connection.execute(text("SELECT id FROM master_patient")).scalar_one())


ALL_FIELDS = (
    "query($id: ID!) { patient(id: $id) { encounters { nodes { "
    + every_field(SCHEMA.get_type("Encounter"))
    + " } } referrals { encounter { "
    + every_field(SCHEMA.get_type("Encounter"))
    + " } } } }"
)

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
def test_every_field_is_written_as_the_schema_writes_it(
    engine: Engine,
    graphql: Graphql,
    make_token: MakeToken,
    history: int,
    admitted_at: datetime,
    ordered_at: datetime | None,
    quantity: Decimal | None,
    name: str | None,
    departments: list[str],
    outcome: int | None,
) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE encounter SET admitted_at = :at, departments = :departments, outcome = :outcome"),
            {"at": admitted_at, "departments": departments, "outcome": outcome},
        )
        connection.execute(
            text(
                "UPDATE medication SET ordered_at = :at, quantity = :quantity, name = :name WHERE ordinal = 1"
            ),
            {"at": ordered_at, "quantity": quantity, "name": name},
        )
    answer = graphql(make_token("clinician"), ALL_FIELDS, {"id": str(history)})
    assert "errors" not in answer, answer
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM encounter")).mappings().all()
        want = [expected(SCHEMA.get_type("Encounter"), dict(row), connection) for row in rows]
    patient = answer["data"]["patient"]
    assert patient["encounters"]["nodes"] == want
    assert [r["encounter"] for r in patient["referrals"]] == want  # the encounter was referred on


def test_aliases_fragments_and_directives_shape_the_written_json(
    graphql: Graphql, make_token: MakeToken, history: int
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
    for yes in (True, False):
        answer = graphql(make_token("clinician"), query, {"id": str(history), "yes": yes})
        [node] = answer["data"]["patient"]["encounters"]["nodes"]
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
    graphql: Graphql, make_token: MakeToken, history: int
) -> None:
    """The JSON is written per response key: `nodes` twice under aliases, as GraphQL allows, is two
    selections, not the first one's answer twice."""
    query = """
    query($id: ID!) { patient(id: $id) {
      encounters { nodes { id } brief: nodes { visitType facility { code } } }
      referrals { encounter { id } seen: encounter { admittedAt } }
    } }
    """
    answer = graphql(make_token("clinician"), query, {"id": str(history)})
    assert "errors" not in answer, answer
    patient = answer["data"]["patient"]
    [node] = patient["encounters"]["nodes"]
    [brief] = patient["encounters"]["brief"]
    assert list(node) == ["id"]
    assert list(brief) == ["visitType", "facility"]
    assert brief["facility"] == {"code": "27001"}
    [referral] = patient["referrals"]
    assert list(referral["encounter"]) == ["id"]
    assert referral["seen"] == {"admittedAt": "2025-11-03T08:15:00"}
