"""The GraphQL schema, with the limits that refuse hostile or heavy operations before they run."""

from __future__ import annotations

from functools import cache

import strawberry
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.tools import merge_types

from registry.api.config import ApiConfig
from registry.api.graphql import query
from registry.api.graphql.executor import PlainFieldsExecutionContext
from registry.api.graphql.review import ReviewMutation, ReviewQuery

Query = merge_types("Query", (query.Query, ReviewQuery))
Mutation = merge_types("Mutation", (query.Mutation, ReviewMutation))

# Parsing and validating the same operation text again is wasted work: doctors' systems send few shapes.
_CACHED_OPERATIONS = 256


@cache
def build_schema(config: ApiConfig) -> strawberry.Schema:
    # The rule classes are made once: the validation cache is keyed by them, so rules made per
    # request (as QueryDepthLimiter and MaxAliasesLimiter do) would never hit it.
    limits = [max_depth_rule(config.max_query_depth, None, None), max_aliases_rule(config.max_query_aliases)]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        execution_context_class=PlainFieldsExecutionContext,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=config.max_query_tokens),
            lambda: AddValidationRules(limits),
            lambda: ParserCache(maxsize=_CACHED_OPERATIONS),
            lambda: ValidationCache(maxsize=_CACHED_OPERATIONS),
        ],
    )


def graphql_sdl() -> str:
    """The published schema (schema/registry.graphql)."""
    return build_schema(ApiConfig()).as_str() + "\n"
