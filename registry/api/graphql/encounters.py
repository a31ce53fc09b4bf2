"""A patient's encounters (a page of the history, the referral chain), read one of two ways:

- written by PostgreSQL (the default, and the API's one fast path): the statement that reads the
  encounters writes each one as JSON in the shape the operation selects below it (fields,
  aliases, fragments, @skip and @include, read from strawberry's `info.selected_fields`), as
  PostGraphile and Hasura do, and its text is the answer's as it is;
- plain (`ApiConfig.written_encounters` off): encounters built from their rows, their details
  loaded when selected (clinical.py), and completed field by field by strawberry.

Both answer the same (tests/api/test_encounters.py). Why the fast path: a page of a history is a
hundred small objects, several hundred fields, and completing each field is most of a request's
work in Python; bench/README.md has the figures.

The SQL is compiled once per shape of selection, from the schema's types (a field reads the column
of its name); the one thing from the request in it is a response key, which the GraphQL grammar
restricts to letters, digits and underscores (checked again here). Scalars are written as the
schema's scalars write them: IDs and decimals as text, dates and times as JSON writes them (the
schema's DateTime writes them alike: scalars.py), enums by name.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import strawberry
from graphql import GraphQLOutputType
from graphql.pyutils import Path
from orjson import Fragment
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import get_object_definition
from strawberry.types.base import StrawberryContainer
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from registry import reads
from registry.api.errors import BadUserInput
from registry.api.graphql.clinical import CodeLabel, Encounter, EncounterPage, Referral
from registry.api.graphql.context import Info
from registry.api.graphql.operations import Facility
from registry.api.graphql.pagination import PageInfo, time_cursor
from registry.codes import labels

_NO_TIME = datetime(1, 1, 1)


async def encounter_page(
    info: Info, master_id: int, where: reads.EncounterFilter, after: tuple[datetime, int] | None, limit: int
) -> EncounterPage:
    """A page of the patient's encounters, newest first, below the `encounters` field being resolved."""
    context = info.context
    written = _written_below(info, "nodes") if context.config.written_encounters else ()
    rows = await context.db.read(
        reads.encounter_page(master_id, where, after, limit + 1, tuple(sql for _, sql in written))
    )
    page = rows[:limit]
    nodes: Any
    if written:
        nodes = Written(
            (key, Fragment("[" + ",".join(r[i] for r in page) + "]")) for i, (key, _) in enumerate(written)
        )
    else:
        nodes = [Encounter.of(r, context.facilities) for r in page]
    last = rows[limit - 1] if len(rows) > limit else None
    end_cursor = time_cursor(last.admitted_at or _NO_TIME, last.id) if last is not None else None
    return EncounterPage(
        nodes=nodes, page_info=PageInfo(has_next_page=last is not None, end_cursor=end_cursor)
    )


async def referrals(info: Info, master_id: int) -> list[Referral]:
    """The patient's referral chain, below the `referrals` field being resolved."""
    context = info.context
    written = _written_below(info, "encounter") if context.config.written_encounters else ()
    rows = await context.db.read(reads.referrals(master_id, tuple(sql for _, sql in written)))
    facilities = context.facilities
    return [
        Referral(
            encounter=Written((key, Fragment(r[i])) for i, (key, _) in enumerate(written))  # type: ignore[arg-type]
            if written
            else Encounter.of(r, facilities),
            from_facility=Facility.of(r.referred_from, facilities) if r.referred_from else None,
            at_facility=Facility.of(r.facility_code, facilities),
            to_facility=Facility.of(r.referred_to, facilities) if r.referred_to else None,
        )
        for r in rows
    ]


class Written(dict[str, Fragment]):
    """A field's value written as JSON by PostgreSQL, for each response key the operation selects
    the field under (aliases of one field may select differently)."""


class WrittenJsonExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution, except that a value PostgreSQL wrote (`Written`) is the answer as it is."""

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: Any,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        if isinstance(result, Written):
            return result[str(path.key)]
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)


# The operation's selection below an encounter, as GraphQL merges it: for each response key, the
# field it reads and what is selected below it, in the order of the answer.
Shape = tuple[tuple[str, str, "Shape"], ...]


def _included(selection: Selection) -> bool:
    skip, include = selection.directives.get("skip"), selection.directives.get("include")
    return not (skip and skip.get("if")) and not (include is not None and not include.get("if"))


def _merged(selections: Iterable[Selection]) -> dict[str, tuple[str, list[Selection]]]:
    """Response key -> (field name, the selections below it), in the order GraphQL answers them.
    Below an encounter every type is a concrete object type: every fragment validation let through
    applies."""
    fields: dict[str, tuple[str, list[Selection]]] = {}
    for selection in selections:
        if not _included(selection):
            continue
        if isinstance(selection, SelectedField):
            _, below = fields.setdefault(selection.alias or selection.name, (selection.name, []))
            below.extend(selection.selections)
        elif isinstance(selection, FragmentSpread | InlineFragment):
            for key, (name, below) in _merged(selection.selections).items():
                fields.setdefault(key, (name, []))[1].extend(below)
    return fields


def _shape(selections: Iterable[Selection]) -> Shape:
    return tuple((key, name, _shape(below)) for key, (name, below) in _merged(selections).items())


WrittenSql = tuple[tuple[str, str], ...]
# The SQL below a field, by what decides it: the operation (its text and name), the field's place in
# the answer, and the values of the operation's Boolean variables, the only ones @skip and @include
# can read. Reading the selection again for every request would cost more than the rest of the fast
# path (bench/README.md).
_written: dict[Hashable, WrittenSql] = {}
_WRITTEN_KEPT = 1024


def _written_below(info: Info, field: str) -> WrittenSql:
    """The SQL writing the encounters `field` holds, below the field being resolved: one for each
    response key the operation selects it under, in order."""
    context = info.context
    switches = tuple((n, v) for n, v in info.variable_values.items() if v is None or isinstance(v, bool))
    place = tuple(step for step in info.path.as_list() if isinstance(step, str))
    key = (context.query, context.operation_name, place, field, switches)
    written = _written.get(key)
    if written is None:
        below = _merged(s for selected in info.selected_fields for s in selected.selections)
        written = tuple(
            (response_key, encounter_json(info.schema, _shape(selections)))
            for response_key, (name, selections) in below.items()
            if name == field
        )
        if len(_written) >= _WRITTEN_KEPT:
            _written.clear()
        _written[key] = written
    return written


# How the rows behind each object type are found. A field reads the column of its Python name
# unless renamed here.
@dataclass(frozen=True)
class Rows:
    renamed: dict[str, str]
    facilities: dict[str, str]  # field -> the column holding a facility code
    children: dict[str, str]  # field -> the table of its child rows, by encounter_id, in `ordinal` order
    computed: dict[str, str] = field(default_factory=dict)  # field -> SQL over the row `{row}`
    # field -> (its code list, the column of codes, whether that column is an array of codes giving
    # a list of labels)
    labelled: dict[str, tuple[labels.CodeList, str, bool]] = field(default_factory=dict)


ENCOUNTER_ROWS = Rows(
    renamed={
        "source_record_id": "source_patient_id",
        "referred_from_code": "referred_from",
        "referred_to_code": "referred_to",
    },
    facilities={"facility": "facility_code", "referred_from": "referred_from", "referred_to": "referred_to"},
    children=reads.ENCOUNTER_DETAILS,
    labelled={
        "visit_type_label": ("visit_type", "visit_type", False),
        "outcome_label": ("outcome", "outcome", False),
        "discharge_type_label": ("discharge_type", "discharge_type", False),
        "department_labels": ("department", "departments", True),
    },
)
_RESPONSE_KEY = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
# json_build_object takes at most 100 arguments: 50 keys with their values.
MAX_KEYS = 50


@lru_cache(maxsize=256)
def encounter_json(schema: strawberry.Schema, selection: Shape) -> str:
    """The JSON text of an `encounter` row (that alias) as `selection` asks for it: SQL of type text."""
    return f"({_object(schema, Encounter, ENCOUNTER_ROWS, selection, 'encounter', 0)})::text"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _named_type(type_: Any) -> Any:
    while isinstance(type_, StrawberryContainer):  # optional, list
        type_ = type_.of_type
    return type_


def _scalar(type_: Any, value: str) -> str:
    """The column's value written as the schema's scalar or enum writes it."""
    if isinstance(type_, StrawberryEnumDefinition):
        cases = " ".join(f"WHEN {_literal(v.value)} THEN {_literal(v.name)}" for v in type_.values)
        return f"CASE {value} {cases} END"
    if type_ is strawberry.ID or type_ is Decimal:
        return f"({value})::text"
    if type_ in (str, int, bool, datetime, date):
        return value  # JSON's own, as the schema writes them (times: ISO 8601, scalars.py)
    raise TypeError(f"no SQL writing of {type_}")  # a schema change this module must learn


def _json_object(pairs: list[tuple[str, str]]) -> str:
    if len(pairs) > MAX_KEYS:
        raise BadUserInput(f"select at most {MAX_KEYS} fields of one object")
    for key, _ in pairs:
        if not _RESPONSE_KEY.match(key):
            raise BadUserInput("a response key is letters, digits and underscores")
    return "json_build_object(" + ", ".join(f"{_literal(key)}, {value}" for key, value in pairs) + ")"


def _object(
    schema: strawberry.Schema, cls: type, rows: Rows, selection: Shape, alias: str, depth: int
) -> str:
    type_name = get_object_definition(cls, strict=True).name
    pairs = []
    for key, graphql_name, below in selection:
        if graphql_name == "__typename":
            pairs.append((key, _literal(type_name)))
            continue
        field = schema.get_field_for_type(graphql_name, type_name)
        if field is None:
            raise TypeError(f"{type_name} has no field {graphql_name}")
        name, field_type = field.python_name, _named_type(field.type)
        if name in rows.facilities:
            code = f"{alias}.{rows.facilities[name]}"
            pairs.append((key, _facility(schema, below, code, depth + 1)))
        elif name in rows.labelled:
            code_list, column, is_list = rows.labelled[name]
            pairs.append((key, _labelled(below, code_list, f"{alias}.{column}", is_list, depth + 1)))
        elif name in rows.computed:
            pairs.append((key, rows.computed[name].format(row=alias)))
        elif name in rows.children:
            table = rows.children[name]
            child = f"c{depth + 1}"
            child_rows = Rows({}, {}, {}, computed=reads.DETAIL_COLUMNS.get(name, {}))
            item = _object(schema, field_type, child_rows, below, child, depth + 1)
            pairs.append(
                (
                    key,
                    f"(SELECT coalesce(json_agg({item} ORDER BY {child}.ordinal), '[]') FROM {table} {child}"
                    f" WHERE {child}.encounter_id = {alias}.id)",
                )
            )
        else:
            column = rows.renamed.get(name, name)
            pairs.append((key, _scalar(field_type, f"{alias}.{column}")))
    return _json_object(pairs)


_FACILITY_FIELDS = get_object_definition(Facility, strict=True).fields


def _facility(schema: strawberry.Schema, selection: Shape, code: str, depth: int) -> str:
    """The facility of a code as the facility table has it, or by its code alone if it has none."""
    alias = f"f{depth}"
    facility = _object(schema, Facility, Rows({}, {}, {}), selection, alias, depth)
    others = "".join(f", f.{f.python_name}" for f in _FACILITY_FIELDS if f.python_name != "code")
    return (
        f"CASE WHEN {code} IS NULL THEN NULL ELSE (SELECT {facility} FROM (SELECT {code} AS code{others}"
        f" FROM (SELECT 1) one LEFT JOIN facility f ON f.code = {code}) {alias}) END"
    )


def _labelled(selection: Shape, code_list: labels.CodeList, column: str, is_list: bool, depth: int) -> str:
    """The CodeLabel of a column's code (null for none), or the list of them for an array of codes."""
    if is_list:
        item = _code_label(selection, code_list, f"l{depth}.code")
        return (
            f"(SELECT coalesce(json_agg({item} ORDER BY l{depth}.ordinal), '[]')"
            f" FROM unnest({column}) WITH ORDINALITY AS l{depth}(code, ordinal))"
        )
    label = _code_label(selection, code_list, f"({column})::text")
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {label} END"


def _code_label(selection: Shape, code_list: labels.CodeList, code: str) -> str:
    type_name = get_object_definition(CodeLabel, strict=True).name
    pairs = []
    for key, graphql_name, _ in selection:
        if graphql_name == "__typename":
            pairs.append((key, _literal(type_name)))
        elif graphql_name == "code":
            pairs.append((key, code))
        elif graphql_name in ("vi", "en"):
            pairs.append((key, labels.label_sql(code_list, graphql_name, code)))
        else:
            raise TypeError(f"{type_name} has no field {graphql_name}")  # a schema change
    return _json_object(pairs)
