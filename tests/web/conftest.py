"""Workbench tests: the real application on this test's database, over HTTPS as a browser sees it
(the session cookie is `Secure`), called in-process (Starlette TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.web.session import CSRF_COOKIE, CSRF_FIELD
from tests.api.conftest import MakeToken, make_token  # noqa: F401 (a fixture)


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(db_url, tmp_path / "home", ApiConfig())
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def form_guard(client: TestClient) -> str:
    """The form guard the browser holds (a page sets it first)."""
    if CSRF_COOKIE not in client.cookies:
        assert client.get("/sign-in").status_code == 200
    return client.cookies[CSRF_COOKIE]


def sign_in(client: TestClient, token: str) -> None:
    answer = client.post("/sign-in", data={"token": token, CSRF_FIELD: form_guard(client)})
    assert answer.status_code == 303, answer.text


def post(client: TestClient, path: str, **fields: str) -> Any:
    return client.post(path, data={**fields, CSRF_FIELD: form_guard(client)})


@pytest.fixture
def steward(web: TestClient, make_token: MakeToken) -> TestClient:  # noqa: F811
    sign_in(web, make_token("steward", name="Ms Hoa"))
    return web
