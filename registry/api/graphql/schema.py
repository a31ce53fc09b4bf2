"""The GraphQL schema, run on strawberry's standard path (`Schema.execute`) with its extensions:
its parser and validation caches, and its limits on an operation's tokens, depth and aliases,
which refuse hostile or heavy operations before they run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache

import strawberry
from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from registry.api.config import ApiConfig
from registry.api.errors import BadUserInput
from registry.api.graphql import query
from registry.api.graphql.encounters import WrittenJsonExecutionContext
from registry.api.graphql.inputs import NoNulInText
from registry.api.graphql.merges import MergeMutation
from registry.api.graphql.quality import QualityQuery
from registry.api.graphql.review import ReviewMutation, ReviewQuery
from registry.api.graphql.scalars import SCALAR_OVERRIDES

Query = merge_types("Query", (query.Query, ReviewQuery, QualityQuery))
Mutation = merge_types("Mutation", (query.Mutation, ReviewMutation, MergeMutation))

# Operations parsed and validated are kept by their text: doctors' systems send few shapes.
CACHED_OPERATIONS = 256


class MutationsInATransaction(SchemaExtension):
    """A mutation runs in one transaction, which the endpoint commits when the answer has no error;
    a query's statements run in autocommit (its one write, the audit of what it reads, is committed
    as it is made, before the reads it records)."""

    def on_execute(self) -> Iterator[None]:
        if self.execution_context.operation_type is OperationType.MUTATION:
            self.execution_context.context.begin_transaction()
        yield


class NamedOperation(SchemaExtension):
    """A document holding several operations needs `operationName`, as GraphQL says (strawberry
    would run the first)."""

    def on_execute(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        operations = (
            [d for d in document.definitions if isinstance(d, OperationDefinitionNode)] if document else []
        )
        if self.execution_context.context.operation_name is None and len(operations) > 1:
            raise BadUserInput("the document holds several operations: give the operationName of one")
        yield


class RegistrySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Nothing: the endpoint logs errors, telling the server's failures (ERROR) from a client's
        mistakes, which strawberry's own logging would report at ERROR too."""


def _extensions(config: ApiConfig) -> list[Callable[[], SchemaExtension]]:
    # strawberry's limiters make their validation rule when they are constructed, and the validation
    # cache is keyed by the rules: limiters made for each request would never find what it keeps.
    # So their rules are made once, and each request's AddValidationRules is given them.
    rules = [
        *QueryDepthLimiter(max_depth=config.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=config.max_query_aliases).validation_rules,
        NoNulInText,
    ]
    return [
        lambda: MaxTokensLimiter(max_token_count=config.max_query_tokens),
        lambda: AddValidationRules(rules),
        lambda: ParserCache(maxsize=CACHED_OPERATIONS),
        lambda: ValidationCache(maxsize=CACHED_OPERATIONS),
        NamedOperation,
        MutationsInATransaction,
    ]


@cache
def build_schema(config: ApiConfig) -> strawberry.Schema:
    return RegistrySchema(
        query=Query,
        mutation=Mutation,
        extensions=_extensions(config),
        execution_context_class=WrittenJsonExecutionContext,
        scalar_overrides=SCALAR_OVERRIDES,
    )


def graphql_sdl() -> str:
    """The published schema (schema/registry.graphql)."""
    return build_schema(ApiConfig()).as_str() + "\n"
