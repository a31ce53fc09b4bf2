"""Malformed values for every argument of every operation of the live schema: never a server error.

Read from the schema itself, so an operation added later is fuzzed too: every root field of Query
and Mutation, and every field with arguments of an object type a root query answers with (a
patient's `encounters`, a batch's `rejects`...). Each argument in turn gets each malformed value
(wrong types, null for a required one, huge and negative numbers, NUL characters, over-long
strings, impossible dates, bad ids, look-alike digits and other Unicode oddities), as a variable
of the argument's own type and as a literal in the operation text, while the other arguments keep
valid values; a required variable is also left out. The call is made with a token of a role allowed
to make it. Every answer must be a client's error or data: no INTERNAL_SERVER_ERROR, no 5xx, and
nothing logged at ERROR. An enumerated matrix (a few thousand requests), bounded in time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    get_named_type,
    is_leaf_type,
)

from registry.api.graphql.schema import graphql_sdl
from tests.api.conftest import Graphql, MakeToken
from tests.api.test_graphql_history import two_facilities
from tests.api.test_review_queue import borderline_pair
from tests.database import Database

TIME_BUDGET_SECONDS = 240  # far above what it takes (about 30 s alone on 2 cores): a runaway guard


class Name(str):
    """An enum value: a bare name in an operation's text, a string in its variables."""


BAD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**63,
    10**30,
    1e300,
    "",
    "   ",
    "1.5",
    "-1",
    "0",
    "1e3",
    "1_000",
    "NaN",
    "\x00",
    "a\x00b",
    "x" * 5000,
    "１２３４５６７８９０１２",  # full-width digits
    "٠٢٧٠٨٥٠١٢٣٤٥",  # Arabic-Indic digits
    "2024-13-45",
    "2024-02-30",
    "0000-00-00",
    "20240101",
    "9999-12-31",
    "0001-01-01",
    "\u202e\u200b\ufeff",  # bidi override, zero-width space, BOM
    "Ｎｇｕｙễｎ",  # full-width letters with a combined tone mark
    "Nguye\u0302\u0303n",  # decomposed marks
    "\U0001f642" * 50,
    "\uffff",
    "'; DROP TABLE patient_access; --",
    "%_\\",
    [],
    [None],
    ["\x00"],
    [2**31],
    {},
    {"a": 1},
    Name("NOT_A_VALUE"),
]

# Fewer in an operation's text: most are refused by validation before anything runs.
LITERAL_VALUES: list[Any] = [
    None,
    1.5,
    2**31 - 1,
    -1,
    "1.5",
    "\x00",
    "x" * 5000,
    "１２３４５６７８９０１２",
    "٠٢٧٠٨٥٠١٢٣٤٥",
    "2024-13-45",
    "\u202e\u200b\ufeff",
    [],
    {},
    Name("NOT_A_VALUE"),
]

# Valid values for arguments the fixture's data decides; any other takes a value of its type.
Known = Callable[["Data"], Any]
KNOWN: dict[tuple[str, str, str], Known] = {
    ("Query", "patient", "id"): lambda d: str(d.master),
    ("Query", "patients", "search"): lambda d: {"name": "Nguyễn Văn An", "birthYear": 1985},
    ("Query", "batch", "id"): lambda d: str(d.batch),
    ("Query", "accessLog", "patientId"): lambda d: str(d.master),
    ("Mutation", "createToken", "name"): lambda d: "fuzz",
    ("Mutation", "createToken", "role"): lambda d: Name("CLINICIAN"),
    ("Mutation", "revokeToken", "id"): lambda d: str(d.spare_token),
    ("Mutation", "relinkSourceRecord", "sourceRecordId"): lambda d: str(d.source_record),
    ("Mutation", "relinkSourceRecord", "reason"): lambda d: "fuzz",
    ("Mutation", "setFacility", "code"): lambda d: "27001",
    ("Mutation", "setFacility", "name"): lambda d: "Bệnh viện đa khoa tỉnh",
    ("Mutation", "decideReview", "id"): lambda d: str(d.review),
    ("Mutation", "decideReview", "samePerson"): lambda d: True,
    ("Mutation", "undoReviewDecision", "id"): lambda d: str(d.review),
    ("Patient", "labSeries", "code"): lambda d: "GLU0",
}
# Arguments of which exactly one is given: fuzzing one leaves the others out.
EXCLUSIVE = {("Query", "patient"): {"id", "citizenId"}}

_TYPED = {
    "ID": "1",
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": True,
    "Date": "2024-01-01",
    "DateTime": "2024-01-01T00:00:00",
    "Decimal": "1",
    "JSON": {},
}


@dataclass(frozen=True)
class Data:
    master: int
    batch: int
    source_record: int
    review: int
    spare_token: int


@dataclass
class Target:
    """A field whose arguments are fuzzed, and how to reach it: the root field above it, if any."""

    operation: str  # query or mutation
    parent: str  # the type holding the field
    field_name: str
    field: GraphQLField
    way_in: tuple[str, GraphQLField] | None = None  # (root query field, its field) for a nested field
    roles: list[str] = field(default_factory=list)


def valid(type_: GraphQLInputType) -> Any:
    """A value of this type that the type itself accepts."""
    if isinstance(type_, GraphQLNonNull):
        return valid(type_.of_type)
    if isinstance(type_, GraphQLList):
        return [valid(type_.of_type)]
    if isinstance(type_, GraphQLEnumType):
        return Name(next(iter(type_.values)))
    if isinstance(type_, GraphQLInputObjectType):
        return {
            name: valid(f.type)
            for name, f in type_.fields.items()
            if isinstance(f.type, GraphQLNonNull) and f.default_value is None
        }
    return _TYPED.get(type_.name, "x")


def base_arguments(parent: str, field_name: str, field_: GraphQLField, data: Data) -> dict[str, Any]:
    """Valid values for the arguments a call needs: the required ones and those the data decides."""
    values = {}
    for name, argument in field_.args.items():
        known = KNOWN.get((parent, field_name, name))
        if known is not None:
            values[name] = known(data)
        elif isinstance(argument.type, GraphQLNonNull) and argument.default_value is None:
            values[name] = valid(argument.type)
    return values


def literal(value: Any) -> str:
    """The value written in an operation's text."""
    if value is None:
        return "null"
    if isinstance(value, Name):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are GraphQL's (\\u0000, surrogate pairs)
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    return "{" + ", ".join(f"{key}: {literal(item)}" for key, item in value.items()) + "}"


def as_variable(value: Any) -> Any:
    if isinstance(value, list):
        return [as_variable(item) for item in value]
    if isinstance(value, dict):
        return {key: as_variable(item) for key, item in value.items()}
    return str(value) if isinstance(value, Name) else value


def selection(type_: Any) -> str:
    """What to ask of a field's answer: its type name and every scalar field without arguments."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    leaves = [
        name
        for name, f in named.fields.items()
        if not f.args and is_leaf_type(get_named_type(f.type)) and name != "secret"
    ]
    return "{ __typename " + " ".join(leaves) + " }"


def targets(schema: GraphQLSchema) -> list[Target]:
    found: list[Target] = []
    roots = [("query", schema.query_type), ("mutation", schema.mutation_type)]
    for operation, root in roots:
        if root is None:
            continue
        for name, f in root.fields.items():
            found.append(Target(operation, root.name, name, f))
    # Fields with arguments below a root query's answer, reached through that root query.
    assert schema.query_type is not None
    ways_in: dict[str, tuple[str, GraphQLField]] = {}
    for name, f in schema.query_type.fields.items():
        returned = get_named_type(f.type)
        if isinstance(returned, GraphQLObjectType):
            ways_in.setdefault(returned.name, (name, f))
    for type_name, way_in in ways_in.items():
        object_type = schema.get_type(type_name)
        assert isinstance(object_type, GraphQLObjectType)
        for name, f in object_type.fields.items():
            if f.args:
                found.append(Target("query", type_name, name, f, way_in))
    return found


@dataclass
class Call:
    target: Target
    arguments: dict[str, Any]  # name -> value, given as variables of the argument's type
    literals: dict[str, Any] = field(default_factory=dict)  # name -> value, written in the text
    declared_only: tuple[str, str] | None = None  # a variable declared (name, type) and not sent

    def operation(self, data: Data) -> tuple[str, dict[str, Any]]:
        t = self.target
        declarations: list[str] = []
        variables: dict[str, Any] = {}

        def written(parent: str, field_name: str, f: GraphQLField, values: dict[str, Any]) -> str:
            parts = []
            for name, value in values.items():
                if name in self.literals:
                    parts.append(f"{name}: {literal(value)}")
                    continue
                variable = f"{field_name}_{name}"
                declarations.append(f"${variable}: {f.args[name].type}")
                variables[variable] = as_variable(value)
                parts.append(f"{name}: ${variable}")
            if self.declared_only and self.declared_only[0] in f.args and t.field_name == field_name:
                name, type_ = self.declared_only
                declarations.append(f"${field_name}_{name}: {type_}")
                parts.append(f"{name}: ${field_name}_{name}")
            return f"{field_name}({', '.join(parts)})" if parts else field_name

        inner = written(t.parent, t.field_name, t.field, self.arguments) + " " + selection(t.field.type)
        if t.way_in is not None:
            root_name, root_field = t.way_in
            root = written(
                "Query", root_name, root_field, base_arguments("Query", root_name, root_field, data)
            )
            inner = f"{root} {{ {inner} }}"
        header = f"{t.operation} Fuzz" + (f"({', '.join(declarations)})" if declarations else "")
        return f"{header} {{ {inner} }}", variables


def calls(target: Target, data: Data) -> Iterator[Call]:
    base = base_arguments(target.parent, target.field_name, target.field, data)
    exclusive = EXCLUSIVE.get((target.parent, target.field_name), set())
    for name, argument in target.field.args.items():
        others = {k: v for k, v in base.items() if k != name and not (name in exclusive and k in exclusive)}
        bad_values = [*BAD_VALUES]
        named = get_named_type(argument.type)
        if isinstance(named, GraphQLInputObjectType):
            # Each field of an input object in turn, the others as in a valid one.
            good = base.get(name) or valid(argument.type) or {}
            bad_values += [{**good, key: value} for key in named.fields for value in BAD_VALUES]
        for value in bad_values:
            yield Call(target, {**others, name: value})
        for value in LITERAL_VALUES:
            yield Call(target, {**others, name: value}, literals={name: value})
        if isinstance(argument.type, GraphQLNonNull):
            yield Call(target, others, declared_only=(name, str(argument.type)))  # required, not sent
        else:
            yield Call(target, others, declared_only=(name, f"{argument.type}!"))


@pytest.fixture
def data(database: Database, tmp_path: Path, make_token: MakeToken) -> Data:
    master = two_facilities(database, tmp_path)
    borderline_pair(database, tmp_path, "Nguyễn Thị Lan", (1972, 8, 21), "000302")
    make_token("clinician", name="spare")
    with database.connect() as connection:

        def one(sql: str) -> int:
            return int(connection.execute(sql).scalar_one())

        return Data(
            master=master,
            batch=one("SELECT min(id) FROM ingest_batch"),
            source_record=one("SELECT id FROM source_patient WHERE local_id = 'B1'"),
            review=one("SELECT min(id) FROM match_review"),
            spare_token=one("SELECT id FROM api_token WHERE name = 'spare'"),
        )


def _allowed_roles(graphql: Graphql, tokens: dict[str, str], target: Target, data: Data) -> list[str]:
    """The roles that may make this call: tried with valid values (FORBIDDEN otherwise)."""
    allowed = []
    for role, token in tokens.items():
        query, variables = Call(
            target, base_arguments(target.parent, target.field_name, target.field, data)
        ).operation(data)
        answer = graphql(token, query, variables)
        if "FORBIDDEN" not in [e.get("extensions", {}).get("code") for e in answer.get("errors", [])]:
            allowed.append(role)
    return allowed


def test_no_malformed_argument_of_any_operation_is_a_server_error(
    graphql: Graphql, make_token: MakeToken, data: Data, caplog: pytest.LogCaptureFixture
) -> None:
    schema = build_schema(graphql_sdl())  # the live schema, as its SDL says
    tokens = {
        "steward": make_token("steward"),
        "admin": make_token("admin"),
        "facility": make_token("facility", facility_code="27001"),
        "clinician": make_token("clinician"),
    }
    caplog.set_level(logging.WARNING)
    found = targets(schema)
    assert {(t.parent, t.field_name) for t in found} >= {
        ("Query", "patient"),
        ("Query", "patients"),
        ("Mutation", "relinkSourceRecord"),
        ("Mutation", "decideReview"),
        ("Patient", "encounters"),
        ("Batch", "rejects"),
    }
    started = time.monotonic()
    failures: list[str] = []
    sent = 0
    for target in found:
        if not target.field.args:
            continue
        roles = _allowed_roles(graphql, tokens, target, data) or ["steward"]
        token = tokens[roles[0]]
        for call in calls(target, data):
            query, variables = call.operation(data)
            try:
                answer = graphql(token, query, variables)
            except Exception as raised:  # the test client re-raises what the application did not handle
                failures.append(f"{type(raised).__name__}: {query} {variables!r:.300}")
                continue
            sent += 1
            codes = [e.get("extensions", {}).get("code") for e in answer.get("errors", [])]
            if answer["http_status"] >= 500 or "INTERNAL_SERVER_ERROR" in codes or None in codes:
                failures.append(f"{answer['http_status']} {codes}: {query} {variables!r:.300}")
            assert time.monotonic() - started < TIME_BUDGET_SECONDS, f"over the time budget after {sent}"
    errors_logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(failures[:40])
    assert not errors_logged, errors_logged[:20]
    assert sent > 1000
