"""The GraphQL schema, and how an operation runs: within the limits that refuse hostile or heavy
operations before they run."""

from __future__ import annotations

from functools import cache, lru_cache
from inspect import isawaitable
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    parse,
    specified_rules,
)
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types
from strawberry.utils.str_converters import to_camel_case

from registry.api.config import ApiConfig
from registry.api.errors import Code
from registry.api.graphql import query
from registry.api.graphql.executor import PlainFieldsExecutionContext
from registry.api.graphql.inputs import NoNulInText, refused_variables
from registry.api.graphql.quality import QualityQuery
from registry.api.graphql.review import ReviewMutation, ReviewQuery
from registry.api.graphql.scalars import SCALAR_OVERRIDES

Query = merge_types("Query", (query.Query, ReviewQuery, QualityQuery))
Mutation = merge_types("Mutation", (query.Mutation, ReviewMutation))

# Parsing and validating the same operation text again is wasted work: doctors' systems send few shapes.
_CACHED_OPERATIONS = 256


@lru_cache(maxsize=_CACHED_OPERATIONS)
def parsed_operation(text: str, max_tokens: int) -> DocumentNode:
    """The operation text parsed (GraphQLError when it is not GraphQL or has too many tokens)."""
    return parse(text, max_tokens=max_tokens)


@lru_cache(maxsize=_CACHED_OPERATIONS)
def _validation_errors(schema: GraphQLSchema, text: str, max_tokens: int, rules: Any) -> list[GraphQLError]:
    return validate_document(schema, parsed_operation(text, max_tokens), rules)


@cache
def _validation_rules(config: ApiConfig) -> tuple[type[ASTValidationRule], ...]:
    # Made once per configuration: validation is cached by them, so rules made per request (as
    # strawberry's QueryDepthLimiter and MaxAliasesLimiter extensions make them) would never hit.
    return (
        *specified_rules,
        max_depth_rule(config.max_query_depth, None, None),
        max_aliases_rule(config.max_query_aliases),
        NoNulInText,
    )


class _CachedNames(NameConverter):
    """strawberry's GraphQL names, each worked out once: it converts each argument's name to camel
    case again on every call of a resolver."""

    @staticmethod
    @cache
    def _camel(name: str) -> str:
        return to_camel_case(name)

    def apply_naming_config(self, name: str) -> str:
        return self._camel(name) if self.auto_camel_case else name


@cache
def build_schema(config: ApiConfig) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(name_converter=_CachedNames()),
        execution_context_class=PlainFieldsExecutionContext,
        scalar_overrides=SCALAR_OVERRIDES,
    )


async def run_operation(
    config: ApiConfig, query: str, variables: dict[str, Any] | None, operation_name: str | None, context: Any
) -> ExecutionResult:
    """Parse the operation within the token limit and validate it within the depth and alias
    limits, each once per operation text, then execute it with the schema's executor.

    strawberry's `Schema.execute` does this around its extension hooks (a context manager per
    hook per request) and its own result types: 9% of a patient history's work in Python
    (callgrind), for nothing this API uses.
    """
    schema = build_schema(config)._schema
    try:
        document = parsed_operation(query, config.max_query_tokens)
    except GraphQLError as refused:
        return ExecutionResult(None, [as_bad_user_input(refused)])
    errors = _validation_errors(schema, query, config.max_query_tokens, _validation_rules(config))
    if errors:
        return ExecutionResult(None, [as_bad_user_input(error) for error in errors])
    refused_variable = refused_variables(variables)
    if refused_variable is not None:
        return ExecutionResult(None, [as_bad_user_input(GraphQLError(refused_variable))])
    try:
        executor = PlainFieldsExecutionContext.build(
            schema,
            document,
            context_value=context,
            raw_variable_values=variables,
            operation_name=operation_name,
            is_awaitable=optimized_is_awaitable,
        )
        if isinstance(executor, list):
            # The operation cannot run as asked: no such operation, or variables missing or of the
            # wrong type (graphql-core's and the scalars' messages say which). Each is the client's.
            return ExecutionResult(None, [as_bad_user_input(error) for error in executor])
        result = executor.execute_operation()
        return await result if isawaitable(result) else result  # type: ignore[return-value]
    except Exception as failed:  # answered as an internal error, with its type logged
        return ExecutionResult(None, [GraphQLError(str(failed), original_error=failed)])


def as_bad_user_input(error: GraphQLError) -> GraphQLError:
    """The error as the client's mistake (BAD_USER_INPUT), with its message, locations and path."""
    return GraphQLError(
        error.message,
        error.nodes,
        error.source,
        error.positions,
        error.path,
        extensions={**(error.extensions or {}), "code": Code.BAD_USER_INPUT.value},
    )


def graphql_sdl() -> str:
    """The published schema (schema/registry.graphql)."""
    return build_schema(ApiConfig()).as_str() + "\n"
