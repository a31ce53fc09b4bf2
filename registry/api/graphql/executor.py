"""graphql-core's executor with a short path for plain fields.

A patient's history is hundreds of scalar fields read straight off rows: a drug's name, a lab
value, a time. graphql-core executes each one as a field (resolve info, resolver, value
completion), which costs more than everything else a request does. A *plain* field, a strawberry
field without resolver, field extensions or arguments whose type is a scalar or enum or a list of
them, is completed here in one step instead: the attribute read and the type's output coercion,
which is all graphql-core would do with it. An object, or a list of them, held by a plain field
is completed the same way, field by field, when every field selected of it is plain. Any value
that graphql-core would turn into an error (a null in a non-null field, a value the scalar
refuses) goes graphql-core's own way, and so does every other field, so answers and errors are
the same with or without the short path.

A value that is already JSON (an orjson `Fragment`: encounters written by PostgreSQL, see
rendering.py) is the field's answer as it is, on either path; so is a `JsonByKey`'s JSON for the
response key being answered.
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
from orjson import Fragment
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from registry.api.graphql.kept import KeptByNodes, fixed_selection


class JsonByKey(dict[str, Fragment]):
    """A field's value written as JSON once for each response key the operation selects the field
    under: aliases of one field may select differently."""


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
class PlainObjects:
    """A plain field holding an object or a list of objects (rows), completed field by field when
    every field the operation selects of them is plain."""

    attribute: str
    object_type: GraphQLObjectType
    non_null: bool
    is_list: bool
    items_non_null: bool


Plain = PlainField | PlainObjects


def _leaf(type_: GraphQLOutputType) -> _Leaf | None:
    non_null = isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if not is_leaf_type(inner):
        return None
    leaf: GraphQLLeafType = inner  # type: ignore[assignment]
    return _Leaf(leaf.coerce_output_value, non_null)


def _object(type_: GraphQLOutputType) -> GraphQLObjectType | None:
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    return inner if isinstance(inner, GraphQLObjectType) and inner.is_type_of is None else None


def plain_field(field: GraphQLField) -> Plain | None:
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
        if (object_type := _object(item)) is not None:
            return PlainObjects(
                definition.python_name, object_type, non_null, True, isinstance(item, GraphQLNonNull)
            )
        leaf = _leaf(item)
        return PlainField(definition.python_name, leaf, True, non_null) if leaf else None
    if (object_type := _object(type_)) is not None:
        return PlainObjects(definition.python_name, object_type, non_null, False, False)
    leaf = _leaf(type_)
    return PlainField(definition.python_name, leaf, False, non_null) if leaf else None


_plain_fields: dict[GraphQLObjectType, dict[str, Plain | None]] = {}


def plain_fields_of(type_: GraphQLObjectType) -> dict[str, Plain | None]:
    found = _plain_fields.get(type_)
    if found is None:
        found = _plain_fields[type_] = {name: plain_field(field) for name, field in type_.fields.items()}
    return found


_collected: KeptByNodes[Any] = KeptByNodes()


class PlainFieldsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    _fixed: bool | None = None

    def collect_subfields(self, return_type: GraphQLObjectType, field_details_list: Any) -> Any:
        """The fields selected below these, collected once per operation text rather than once
        per request (kept.py), when no variable decides them."""
        if self._fixed is None:
            definitions = [details.definition for details in self.fragments.values()]
            self._fixed = fixed_selection(self.operation, definitions)
        if not self._fixed:
            return super().collect_subfields(return_type, field_details_list)
        nodes = [details.node for details in field_details_list]
        collected = _collected.get(nodes, return_type)
        if collected is None:
            collected = _collected.keep(
                nodes, return_type, value=super().collect_subfields(return_type, field_details_list)
            )
        return collected

    def complete_value(
        self, return_type: Any, field_details_list: Any, info: Any, path: Any, result: Any, *rest: Any
    ) -> Any:
        if isinstance(result, Fragment):
            return result
        if isinstance(result, JsonByKey):
            return result[path.key]
        return super().complete_value(return_type, field_details_list, info, path, result, *rest)

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
            value = (
                SLOW
                if field is None
                else self._complete_plain(field, response_name, field_details_list, source_value)
            )
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

    def _complete_plain(self, field: Plain, response_name: str, field_details_list: Any, source: Any) -> Any:
        if isinstance(field, PlainField):
            return field.complete(source)
        value = getattr(source, field.attribute, None)
        if value is None:
            return SLOW if field.non_null else None
        if isinstance(value, Fragment):
            return value
        if isinstance(value, JsonByKey):
            return value[response_name]
        columns = self._columns(field.object_type, field_details_list)
        if columns is None:
            return SLOW
        if not field.is_list:
            return self._complete_object(columns, value)
        if not isinstance(value, list | tuple):
            return SLOW
        completed = []
        for item in value:
            done = (
                (SLOW if field.items_non_null else None)
                if item is None
                else self._complete_object(columns, item)
            )
            if done is SLOW:
                return SLOW
            completed.append(done)
        return completed

    def _columns(
        self, object_type: GraphQLObjectType, field_details_list: Any
    ) -> list[tuple[str, Any, Any]] | None:
        """(response name, how to complete it, its field details) for every field selected of these
        objects, or None when one of them is not plain (or deferred)."""
        selected, deferred, forbidden = self.collect_subfields(object_type, field_details_list)
        if deferred or forbidden:
            return None
        plain = plain_fields_of(object_type)
        columns = []
        for response_name, details in selected.items():
            name = details[0].node.name.value
            column = object_type.name if name == "__typename" else plain.get(name)
            if column is None:
                return None
            columns.append((response_name, column, details))
        return columns

    def _complete_object(self, columns: list[tuple[str, Any, Any]], source: Any) -> Any:
        values = {}
        for response_name, column, details in columns:
            value = (
                column
                if isinstance(column, str)
                else self._complete_plain(column, response_name, details, source)
            )
            if value is SLOW:
                return SLOW
            values[response_name] = value
        return values

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
