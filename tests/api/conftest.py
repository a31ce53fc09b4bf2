"""API tests: the real application on this test's database, called in-process (Starlette TestClient)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from loaders.options import LoaderOptions
from loaders.records import SourceRecord
from loaders.xml130_write import write_xml130
from registry.access.roles import Role
from registry.access.tokens import create_token
from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.ingest import Submission, load_file
from tests.database import Database


def write_extract(path: Path, records: list[SourceRecord], facility_code: str) -> Path:
    with path.open("wb") as out:
        write_xml130(records, out, facility_code=facility_code, created_at=datetime(2025, 11, 4, 2, 0))
    return path


def load_records(database: Database, tmp_path: Path, records: list[SourceRecord], facility_code: str) -> None:
    path = write_extract(
        tmp_path / f"{facility_code}-{len(list(tmp_path.iterdir()))}.xml", records, facility_code
    )
    result = load_file(database.url, path, LoaderOptions(), Submission(submitted_by="test"))
    assert result.status == "loaded", result.error


@pytest.fixture
def api_config() -> ApiConfig:
    return ApiConfig(console=True)


@pytest.fixture
def client(db_url: str, tmp_path: Path, api_config: ApiConfig) -> Iterator[TestClient]:
    with TestClient(create_app(db_url, tmp_path / "home", api_config)) as test_client:
        yield test_client


MakeToken = Callable[..., str]


@pytest.fixture
def make_token(database: Database) -> MakeToken:
    def make(role: str, name: str | None = None, facility_code: str | None = None) -> str:
        with database.begin() as connection:
            issued = create_token(
                connection,
                name=name or f"test {role}",
                role=Role(role),
                created_by="test",
                facility_code=facility_code,
            )
        return issued.secret

    return make


class Graphql:
    """Posts GraphQL operations as a doctor's system would."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __call__(
        self,
        token: str | None,
        query: str,
        variables: dict[str, Any] | None = None,
        purpose: str | None = "treatment",
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if purpose:
            headers["X-Purpose"] = purpose
        answer = self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body = answer.json()
        body["http_status"] = answer.status_code
        return body


@pytest.fixture
def graphql(client: TestClient) -> Graphql:
    return Graphql(client)


def codes(answer: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in answer.get("errors", [])]
