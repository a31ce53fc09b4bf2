"""The files in schema/ are what the code generates today."""

from __future__ import annotations

import json

import pytest

from registry.contracts import SCHEMA_DIR, published


@pytest.mark.parametrize("name", sorted(published()))
def test_published_contract_is_current(name: str) -> None:
    path = SCHEMA_DIR / name
    assert path.exists(), f"schema/{name} is missing: run `provreg schema write`"
    assert path.read_text(encoding="utf-8") == published()[name], (
        f"schema/{name} is stale: run `provreg schema write`"
    )


def test_canonical_record_schema_names_the_identifiers() -> None:
    schema = json.loads(published()["canonical-record.schema.json"])
    patient = schema["$defs"]["Patient"]["properties"]
    assert "citizen_id" in patient and "social_insurance_number" in patient
