"""graphql-core's executor with a short path for plain fields.

A patient's history is hundreds of scalar fields read straight off rows: a drug's name, a lab
value, a time. graphql-core executes each one as a field (resolve info, resolver, value
completion), which costs more than everything else a request does. A *plain* field, a strawberry
field without resolver, field extensions or arguments whose type is a scalar or enum or a list of
them, is completed here in one step instead: the attribute read and the type's output coercion,
which is all graphql-core would do with it. A list of rows (a plain field whose type is a list
of objects) whose selected fields are all plain is completed row by row the same way. Any value
that graphql-core would turn into an error (a null in a non-null field, a value the scalar
refuses) goes graphql-core's own way, and so does every other field, so answers and errors are
the same with or without the short path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter


class _Slow:
    """A plain value the short path leaves to graphql-core (it becomes an error there)."""


SLOW = _Slow()


@dataclass(frozen=True, slots=True)
class _Leaf:
    """How to complete a leaf type's value: its coercion, and whether null is allowed."""

    coerce: Callable[[Any], Any]
    non_null: bool

    def complete(self, value: Any) -> Any:
        if value is None:
            return SLOW if self.non_null else None
        try:
            coerced = self.coerce(value)
        except Exception:  # graphql-core reports it, with the field's path
            return SLOW
        return SLOW if coerced is None or coerced is Undefined else coerced


@dataclass(frozen=True, slots=True)
class PlainField:
    attribute: str
    leaf: _Leaf
    is_list: bool
    non_null: bool

    def complete(self, source: Any) -> Any:
        value = getattr(source, self.attribute, None)
        if value is None:
            return SLOW if self.non_null else None
        if not self.is_list:
            return self.leaf.complete(value)
        if not isinstance(value, list | tuple):
            return SLOW
        items = [self.leaf.complete(item) for item in value]
        return SLOW if any(item is SLOW for item in items) else items


@dataclass(frozen=True, slots=True)
class PlainRows:
    """A plain field holding a list of objects (rows), each completed field by field when every
    field the operation selects of them is plain."""

    attribute: str
    row_type: GraphQLObjectType
    non_null: bool
    rows_non_null: bool


def _leaf(type_: GraphQLOutputType) -> _Leaf | None:
    non_null = isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if not is_leaf_type(inner):
        return None
    leaf: GraphQLLeafType = inner  # type: ignore[assignment]
    return _Leaf(leaf.coerce_output_value, non_null)


def plain_field(field: GraphQLField) -> PlainField | PlainRows | None:
    """The short path for this field, or None when graphql-core must execute it."""
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or field.args or not getattr(definition, "is_basic_field", False):
        return None
    if definition.default_resolver is not getattr:
        return None
    type_ = field.type
    non_null = isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        item = inner.of_type
        row = item.of_type if isinstance(item, GraphQLNonNull) else item
        if isinstance(row, GraphQLObjectType) and row.is_type_of is None:
            return PlainRows(definition.python_name, row, non_null, isinstance(item, GraphQLNonNull))
        leaf = _leaf(item)
        return PlainField(definition.python_name, leaf, True, non_null) if leaf else None
    leaf = _leaf(type_)
    return PlainField(definition.python_name, leaf, False, non_null) if leaf else None


_plain_fields: dict[GraphQLObjectType, dict[str, PlainField | PlainRows | None]] = {}


def plain_fields_of(type_: GraphQLObjectType) -> dict[str, PlainField | PlainRows | None]:
    found = _plain_fields.get(type_)
    if found is None:
        found = _plain_fields[type_] = {name: plain_field(field) for name, field in type_.fields.items()}
    return found


class PlainFieldsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, Any],
        position_context: Any,
    ) -> Any:
        if self.middleware_manager and self.middleware_manager.middlewares:
            # A middleware (an extension's `resolve`) wraps every resolver: no field may skip it.
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plain = plain_fields_of(parent_type)
        done: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for response_name, field_details_list in grouped_field_set.items():
            field = plain.get(field_details_list[0].node.name.value)
            if field is None:
                value = SLOW
            elif isinstance(field, PlainRows):
                value = self._complete_rows(field, field_details_list, source_value)
            else:
                value = field.complete(source_value)
            if value is SLOW:
                rest[response_name] = field_details_list
            else:
                done[response_name] = value
        if not rest:
            return done
        executed = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if self.is_awaitable(executed):
            return self._in_order(grouped_field_set, done, executed)
        return _ordered(grouped_field_set, done, executed)

    def _complete_rows(self, field: PlainRows, field_details_list: Any, source: Any) -> Any:
        rows = getattr(source, field.attribute, None)
        if rows is None:
            return SLOW if field.non_null else None
        if not isinstance(rows, list | tuple):
            return SLOW
        selected, deferred, forbidden = self.collect_subfields(field.row_type, field_details_list)
        if deferred or forbidden:
            return SLOW
        columns = []
        plain = plain_fields_of(field.row_type)
        for response_name, details in selected.items():
            name = details[0].node.name.value
            column = field.row_type.name if name == "__typename" else plain.get(name)
            if column is None or isinstance(column, PlainRows):
                return SLOW
            columns.append((response_name, column))
        completed = []
        for row in rows:
            if row is None:
                if field.rows_non_null:
                    return SLOW
                completed.append(None)
                continue
            values = {}
            for response_name, column in columns:
                value = column if isinstance(column, str) else column.complete(row)
                if value is SLOW:
                    return SLOW
                values[response_name] = value
            completed.append(values)
        return completed

    @staticmethod
    async def _in_order(
        grouped_field_set: dict[str, Any], done: dict[str, Any], executed: Awaitable[dict[str, Any]]
    ) -> dict[str, Any]:
        return _ordered(grouped_field_set, done, await executed)


def _ordered(
    grouped_field_set: dict[str, Any], done: dict[str, Any], executed: dict[str, Any]
) -> dict[str, Any]:
    """Both parts' answers, in the order of the request (as the specification wants them)."""
    if not done:
        return executed
    return {
        name: done[name] if name in done else executed[name]
        for name in grouped_field_set
        if name in done or name in executed
    }
