"""schema/registry.graphql is the SDL the code serves (regenerate: `provreg schema write`)."""

from __future__ import annotations

from registry.api.graphql.schema import graphql_sdl
from registry.contracts import SCHEMA_DIR


def test_the_published_graphql_schema_is_current() -> None:
    path = SCHEMA_DIR / "registry.graphql"
    assert path.read_text(encoding="utf-8") == graphql_sdl(), "schema/registry.graphql is stale"
