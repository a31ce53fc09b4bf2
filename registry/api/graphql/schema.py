"""The GraphQL schema, with the limits that refuse hostile or heavy operations before they run."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache, lru_cache
from typing import Any

import strawberry
from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types

from registry.api.config import ApiConfig
from registry.api.graphql import query
from registry.api.graphql.executor import PlainFieldsExecutionContext
from registry.api.graphql.review import ReviewMutation, ReviewQuery
from registry.api.graphql.scalars import SCALAR_OVERRIDES

Query = merge_types("Query", (query.Query, ReviewQuery))
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


class CheckedOperations(SchemaExtension):
    """Parse an operation within the token limit and validate it within the depth and alias limits,
    each once per operation text.

    One extension for what strawberry's MaxTokensLimiter, ParserCache and AddValidationRules do, as
    each extension costs every request its hooks; validation is kept by text, as strawberry's
    ValidationCache keys on the parsed document, which hashing walks all of, on every request.
    """

    def __init__(self, max_tokens: int, limits: tuple[type[ASTValidationRule], ...]) -> None:
        self.max_tokens = max_tokens
        self.limits = limits

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            context.graphql_document = parsed_operation(context.query, self.max_tokens)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.query is not None  # parsed by on_parse (the same cache)
        context.pre_execution_errors = _validation_errors(
            context.schema._schema, context.query, self.max_tokens, (*context.validation_rules, *self.limits)
        )
        yield


@cache
def build_schema(config: ApiConfig) -> strawberry.Schema:
    # The rule classes are made once: the validation cache is keyed by them, so rules made per
    # request (as QueryDepthLimiter and MaxAliasesLimiter do) would never hit it.
    limits = (max_depth_rule(config.max_query_depth, None, None), max_aliases_rule(config.max_query_aliases))
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        execution_context_class=PlainFieldsExecutionContext,
        scalar_overrides=SCALAR_OVERRIDES,
        extensions=[lambda: CheckedOperations(config.max_query_tokens, limits)],
    )


def graphql_sdl() -> str:
    """The published schema (schema/registry.graphql)."""
    return build_schema(ApiConfig()).as_str() + "\n"
