"""The API's limits and switches, from the environment (PROVREG_API_*), with safe defaults; read
once by `provreg serve` and given to every server process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from registry.config import IngestConfig, env_number


def _switch(name: str) -> bool:
    return os.environ.get(name, "") in ("1", "true", "yes")


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
    # Encounters written as JSON by PostgreSQL (registry/api/graphql/encounters.py); off, they are
    # built from their rows (the plain path, which answers the same).
    written_encounters: bool = True
    # How long a server process trusts a token it has looked up: a revocation takes this long.
    token_cache_seconds: float = 5.0
    # Readiness needs a live ingest worker (set by `provreg serve --workers N`, N > 0).
    require_worker: bool = False
    ingest: IngestConfig = field(default_factory=IngestConfig)

    @classmethod
    def from_env(cls) -> ApiConfig:
        defaults = cls()
        return cls(
            # The variable keeps the name it had when the console was GraphiQL: deployments set it.
            console=_switch("PROVREG_API_GRAPHIQL"),
            max_graphql_body_bytes=env_number(
                "PROVREG_API_MAX_GRAPHQL_BYTES", defaults.max_graphql_body_bytes
            ),
            max_ingest_body_bytes=env_number("PROVREG_API_MAX_INGEST_BYTES", defaults.max_ingest_body_bytes),
            max_query_depth=env_number("PROVREG_API_MAX_DEPTH", defaults.max_query_depth),
            max_query_tokens=env_number("PROVREG_API_MAX_TOKENS", defaults.max_query_tokens),
            max_query_aliases=env_number("PROVREG_API_MAX_ALIASES", defaults.max_query_aliases),
            max_page_size=env_number("PROVREG_API_MAX_PAGE", defaults.max_page_size),
            written_encounters=os.environ.get("PROVREG_API_WRITTEN_ENCOUNTERS", "1")
            not in ("0", "false", "no"),
            token_cache_seconds=env_number("PROVREG_API_TOKEN_CACHE_SECONDS", defaults.token_cache_seconds),
            require_worker=_switch("PROVREG_API_REQUIRE_WORKER"),
            ingest=IngestConfig.from_env(),
        )
