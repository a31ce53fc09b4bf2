"""Encounters written as JSON by PostgreSQL, in the shape the operation asks for.

A page of a patient's history is a hundred small objects (diagnoses, drugs, services, lab
results, notes) whose every field is a column. Reading them into Python objects for graphql-core
to complete, one field at a time, and encoding them again as JSON costs most of a request. So,
as PostGraphile and Hasura do, the statement that reads them writes them: the operation's
selection below an `Encounter` (fields, aliases, fragments, @skip and @include) is compiled, once
per shape, into a `json_build_object` expression, and its text goes into the answer verbatim (an
orjson `Fragment`, which the executor passes through).

Scalars are written exactly as the schema's own scalars write them: IDs and decimals as text,
dates and times as JSON writes them (the schema's DateTime writes them alike: scalars.py), enums
by name (tests compare both, value by value). The SQL is made from the schema and the table
definitions only; the one thing from the request in it is a response key, which the GraphQL
grammar restricts to letters, digits and underscores (checked again here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLObjectType,
    GraphQLScalarType,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from sqlalchemy import Numeric, Table
from sqlalchemy.types import TIMESTAMP, Date
from strawberry.schema.schema_converter import GraphQLCoreConverter

from registry.api.errors import BadUserInput
from registry.api.graphql.kept import KeptByNodes, fixed_selection
from registry.db import models

_RESPONSE_KEY = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
# json_build_object takes at most 100 arguments: 50 keys with their values.
MAX_KEYS = 50


@dataclass(frozen=True, slots=True)
class Selected:
    """One response key of a selection: the field it reads, and what is selected below it."""

    key: str
    field: str
    below: Selection


Selection = tuple[Selected, ...]


def _condition(node: Any, directive: str, variables: dict[str, Any]) -> bool | None:
    """The `if` of this @skip or @include on the node, or None without one (validation checked the rest)."""
    for given in node.directives or ():
        if given.name.value == directive:
            value = next(a.value for a in given.arguments if a.name.value == "if")
            return bool(variables.get(value.name.value) if isinstance(value, VariableNode) else value.value)
    return None


def _included(node: Any, variables: dict[str, Any]) -> bool:
    return (
        _condition(node, "skip", variables) is not True
        and _condition(node, "include", variables) is not False
    )


def _collect(
    selection_sets: list[SelectionSetNode], fragments: dict[str, Any], variables: dict[str, Any]
) -> dict[str, tuple[str, list[SelectionSetNode]]]:
    """Response key -> (field name, the selection sets below it), merged as GraphQL merges them.

    The types below an encounter are concrete object types without interfaces, so every fragment
    that validation let through applies.
    """
    fields: dict[str, tuple[str, list[SelectionSetNode]]] = {}
    pending = [s for selection_set in selection_sets for s in selection_set.selections]
    while pending:
        node = pending.pop(0)
        if not _included(node, variables):
            continue
        if isinstance(node, FieldNode):
            key = node.alias.value if node.alias else node.name.value
            _, below = fields.setdefault(key, (node.name.value, []))
            if node.selection_set is not None:
                below.append(node.selection_set)
        elif isinstance(node, InlineFragmentNode):
            pending[:0] = node.selection_set.selections
        elif isinstance(node, FragmentSpreadNode):
            pending[:0] = fragments[node.name.value].selection_set.selections
    return fields


def _selection(
    selection_sets: list[SelectionSetNode], fragments: dict[str, Any], variables: dict[str, Any]
) -> Selection:
    return tuple(
        Selected(key, name, _selection(below, fragments, variables) if below else ())
        for key, (name, below) in _collect(selection_sets, fragments, variables).items()
    )


# How the rows behind each object type are found. A field reads the column of its Python name
# unless renamed here.
@dataclass(frozen=True)
class Rows:
    table: Table
    renamed: dict[str, str]
    facilities: dict[str, str]  # field -> the column holding a facility code
    children: dict[str, Table]  # field -> child rows, by encounter_id, in `ordinal` order


ENCOUNTER_ROWS = Rows(
    models.Encounter.__table__,
    renamed={
        "source_record_id": "source_patient_id",
        "referred_from_code": "referred_from",
        "referred_to_code": "referred_to",
    },
    facilities={"facility": "facility_code", "referred_from": "referred_from", "referred_to": "referred_to"},
    children={
        "diagnoses": models.Diagnosis.__table__,
        "medications": models.Medication.__table__,
        "services": models.Service.__table__,
        "lab_results": models.LabResult.__table__,
        "notes": models.ProgressNote.__table__,
    },
)


def _python_name(object_type: GraphQLObjectType, field: str) -> str:
    return object_type.fields[field].extensions[GraphQLCoreConverter.DEFINITION_BACKREF].python_name


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _enum(type_: GraphQLEnumType, value: str) -> str:
    cases = " ".join(
        f"WHEN {_literal(item.value.value if isinstance(item.value, Enum) else item.value)} THEN {_literal(name)}"
        for name, item in type_.values.items()
    )
    return f"CASE {value} {cases} END"


def _scalar(type_: Any, value: str, sql_type: Any) -> str:
    """The column's value written as the schema's scalar writes it."""
    if isinstance(type_, GraphQLEnumType):
        return _enum(type_, value)
    name = type_.name if isinstance(type_, GraphQLScalarType) else ""
    if name == "ID" or (name == "Decimal" and isinstance(sql_type, Numeric)):
        return f"({value})::text"
    if (name == "DateTime" and isinstance(sql_type, TIMESTAMP)) or (
        name == "Date" and isinstance(sql_type, Date)
    ):
        return value  # JSON's own ISO 8601, which the schema's scalars write too (scalars.py)
    if name in ("String", "Int", "Boolean", "Float", "JSON"):
        return value
    raise TypeError(f"no SQL rendering of {name} from {sql_type}")  # a schema change this module must learn


def _object(pairs: list[tuple[str, str]]) -> str:
    if len(pairs) > MAX_KEYS:
        raise BadUserInput(f"select at most {MAX_KEYS} fields of one object")
    for key, _ in pairs:
        if not _RESPONSE_KEY.match(key):
            raise BadUserInput("a response key is letters, digits and underscores")
    return "json_build_object(" + ", ".join(f"{_literal(key)}, {value}" for key, value in pairs) + ")"


def _facility(object_type: GraphQLObjectType, selection: Selection, code: str, depth: int) -> str:
    """The facility of a code as the directory has it, or by its code alone if it has none."""
    alias = f"f{depth}"
    table: Table = models.Facility.__table__
    facility = _rows_object(object_type, _own_columns(table), selection, alias, depth)
    others = "".join(f", f.{column.name}" for column in table.c if column.name != "code")
    return (
        f"CASE WHEN {code} IS NULL THEN NULL ELSE (SELECT {facility} FROM (SELECT {code} AS code{others}"
        f" FROM (SELECT 1) one LEFT JOIN facility f ON f.code = {code}) {alias}) END"
    )


def _rows_object(
    object_type: GraphQLObjectType, rows: Rows, selection: Selection, alias: str, depth: int
) -> str:
    pairs = []
    for selected in selection:
        if selected.field == "__typename":
            pairs.append((selected.key, _literal(object_type.name)))
            continue
        field_type = get_named_type(object_type.fields[selected.field].type)
        name = _python_name(object_type, selected.field)
        if name in rows.facilities:
            code = f"{alias}.{rows.facilities[name]}"
            pairs.append((selected.key, _facility(field_type, selected.below, code, depth + 1)))
        elif name in rows.children:
            table = rows.children[name]
            child = f"c{depth + 1}"
            item = _rows_object(field_type, _own_columns(table), selected.below, child, depth + 1)
            pairs.append(
                (
                    selected.key,
                    f"(SELECT coalesce(json_agg({item} ORDER BY {child}.ordinal), '[]') FROM {table.name} {child}"
                    f" WHERE {child}.encounter_id = {alias}.id)",
                )
            )
        else:
            column = rows.renamed.get(name, name)
            pairs.append((selected.key, _scalar(field_type, f"{alias}.{column}", rows.table.c[column].type)))
    return _object(pairs)


def _own_columns(table: Table) -> Rows:
    """Rows whose every field reads the column of its Python name."""
    return Rows(table, {}, {}, {})


@lru_cache(maxsize=256)
def encounter_json(encounter_type: GraphQLObjectType, selection: Selection) -> str:
    """The JSON of an `encounter` row (that alias) as `selection` asks for it: SQL of type `json`."""
    return _rows_object(encounter_type, ENCOUNTER_ROWS, selection, "encounter", 0)


# The SQL of an operation's encounters, by the field's nodes and name.
_written: KeptByNodes[tuple[tuple[str, str], ...]] = KeptByNodes(1024)


def encounters_json_below(info: Any, field: str) -> tuple[tuple[str, str], ...]:
    """The JSON of the encounters `field` holds, below the field being resolved, as SQL text: one
    for each response key the operation selects it under (aliases select differently), in order."""
    raw = info._raw_info
    written = _written.get(raw.field_nodes, field)
    if written is not None:
        return written
    variables = getattr(raw.variable_values, "coerced", raw.variable_values)  # graphql-core 3.3 wraps them
    selected = _collect(
        [node.selection_set for node in raw.field_nodes if node.selection_set is not None],
        raw.fragments,
        variables,
    )
    encounter_type = raw.schema.get_type("Encounter")
    written = tuple(
        (response_key, encounter_json(encounter_type, _selection(below, raw.fragments, variables)))
        for response_key, (name, below) in selected.items()
        if name == field
    )
    if fixed_selection(raw.operation, raw.fragments.values()):
        _written.keep(raw.field_nodes, field, value=written)
    return written
