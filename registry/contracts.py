"""Published contracts, generated from code into schema/ (a test fails when a file there is stale).

Regenerate with `provreg schema write`.
"""

from __future__ import annotations

import json
from pathlib import Path

from loaders.records import SourceRecord

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schema"


def canonical_record_schema() -> str:
    schema = SourceRecord.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://provreg.example/schema/canonical-record.schema.json"
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def published() -> dict[str, str]:
    """Every generated contract: file name in schema/ -> its current content."""
    from registry.api.graphql.schema import graphql_sdl

    return {"canonical-record.schema.json": canonical_record_schema(), "registry.graphql": graphql_sdl()}


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(exist_ok=True)
    written = []
    for name, content in published().items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
