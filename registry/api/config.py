"""The API's and the ingest workers' limits and switches, from the environment (PROVREG_API_*,
PROVREG_INGEST_*, PROVREG_INBOX_*), with safe defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class IngestConfig:
    """What the ingest workers do, and what the servers expect of them (docs/api.md, *Ingest*)."""

    # Seconds between a worker's heartbeats; three missed and it counts as dead: its jobs are
    # taken back, and readiness no longer counts it.
    heartbeat_seconds: float = 10.0
    # Tries of one file, whether an attempt failed or its worker died holding it: a file that
    # kills its worker would otherwise kill every worker that takes it, forever.
    max_attempts: int = 3
    # A load running longer than this is reported (readiness, metrics) as stuck.
    job_time_limit_seconds: float = 3600.0
    # How long a received file stays in the inbox once its batch is final (for audit); 0: removed then.
    inbox_keep_seconds: float = 0.0

    @property
    def stalled_after(self) -> float:
        return self.heartbeat_seconds * 3

    @classmethod
    def from_env(cls) -> IngestConfig:
        defaults = cls()
        return cls(
            heartbeat_seconds=_float("PROVREG_INGEST_HEARTBEAT_SECONDS", defaults.heartbeat_seconds),
            max_attempts=max(1, _int("PROVREG_INGEST_MAX_ATTEMPTS", defaults.max_attempts)),
            job_time_limit_seconds=_float(
                "PROVREG_INGEST_JOB_TIME_LIMIT_SECONDS", defaults.job_time_limit_seconds
            ),
            inbox_keep_seconds=_float("PROVREG_INBOX_KEEP_SECONDS", defaults.inbox_keep_seconds),
        )


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
    # Readiness needs a live ingest worker (set by `provreg serve --workers N`, N > 0).
    require_worker: bool = False
    ingest: IngestConfig = field(default_factory=IngestConfig)

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
            require_worker=os.environ.get("PROVREG_API_REQUIRE_WORKER", "") in ("1", "true", "yes"),
            ingest=IngestConfig.from_env(),
        )
