"""The API's limits and switches, from the environment (PROVREG_API_*), with safe defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class ApiConfig:
    # The API console at GET /graphql (off in production unless asked for).
    console: bool = False
    # Request bodies: a GraphQL query is small; a facility's nightly extract may be large.
    max_graphql_body_bytes: int = 64 * 1024
    max_ingest_body_bytes: int = 512 * 1024 * 1024
    # The shape of a GraphQL operation: deep, long or alias-heavy queries are refused before running.
    max_query_depth: int = 10
    max_query_tokens: int = 2000
    max_query_aliases: int = 15
    max_page_size: int = 100
    # How long a server process trusts a token it has looked up: a revocation takes this long.
    token_cache_seconds: float = 5.0

    @classmethod
    def from_env(cls) -> ApiConfig:
        defaults = cls()
        return cls(
            # The variable keeps the name it had when the console was GraphiQL: deployments set it.
            console=os.environ.get("PROVREG_API_GRAPHIQL", "") in ("1", "true", "yes"),
            max_graphql_body_bytes=_int("PROVREG_API_MAX_GRAPHQL_BYTES", defaults.max_graphql_body_bytes),
            max_ingest_body_bytes=_int("PROVREG_API_MAX_INGEST_BYTES", defaults.max_ingest_body_bytes),
            max_query_depth=_int("PROVREG_API_MAX_DEPTH", defaults.max_query_depth),
            max_query_tokens=_int("PROVREG_API_MAX_TOKENS", defaults.max_query_tokens),
            max_query_aliases=_int("PROVREG_API_MAX_ALIASES", defaults.max_query_aliases),
            max_page_size=_int("PROVREG_API_MAX_PAGE", defaults.max_page_size),
            token_cache_seconds=float(
                os.environ.get("PROVREG_API_TOKEN_CACHE_SECONDS", defaults.token_cache_seconds)
            ),
        )
