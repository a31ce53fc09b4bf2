"""The API console as HTTP sees it: where it is served, its headers, its files and its examples.

The page itself is tried in a real browser in test_console_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path

from starlette.testclient import TestClient

from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.api.console import ASSETS, PAGE
from tests.api.conftest import Graphql, MakeToken, load_records
from tests.database import Database
from tests.factories import make_encounter, make_patient, make_record

ASSET_TYPES = {
    "console.js": "text/javascript",
    "console.css": "text/css",
    "examples.json": "application/json",
}


def assert_console_headers(headers: Mapping[str, str]) -> None:
    policy = headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'none'",
    ):
        assert directive in policy
    assert "unsafe" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_the_console_is_served_at_get_graphql_under_a_strict_policy(client: TestClient) -> None:
    page = client.get("/graphql")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "provreg API console" in page.text
    assert_console_headers(page.headers)


def test_its_script_stylesheet_and_examples_come_from_the_package(client: TestClient) -> None:
    assert sorted(path.name for path in ASSETS.iterdir()) == sorted(ASSET_TYPES)
    for name, media_type in ASSET_TYPES.items():
        answer = client.get(f"/console/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith(media_type), name
        assert answer.content == (ASSETS / name).read_bytes()
        assert_console_headers(answer.headers)
    assert client.get("/console/missing.js").status_code == 404


def test_the_console_is_absent_when_off(db_url: str, tmp_path: Path) -> None:
    with TestClient(create_app(db_url, tmp_path / "home", ApiConfig(console=False))) as closed:
        page = closed.get("/graphql")
        assert page.status_code == 404 and page.json()["code"] == "NOT_FOUND"
        assert closed.get("/console/console.js").status_code == 404


class _PageParts(HTMLParser):
    """What the page loads and runs: scripts, links, inline code, and named form controls."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self.named_controls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.urls += [value for name, value in attrs if name in ("src", "href", "action") and value]
        self.inline += [f"{tag} {name}" for name, _ in attrs if name == "style" or name.startswith("on")]
        if tag == "style":
            self.inline.append("style element")
        if tag in ("input", "textarea", "select") and "name" in attributes:
            self.named_controls.append(tag)
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script element")


def test_the_page_has_no_inline_code_loads_only_its_own_files_and_names_no_control() -> None:
    parts = _PageParts()
    parts.feed(PAGE.read_text(encoding="utf-8"))
    assert parts.inline == []
    assert sorted(parts.urls) == ["console/console.css", "console/console.js"]
    # An unnamed control is never put in a URL, even if the form were submitted without the script.
    assert parts.named_controls == []


def test_every_example_runs_on_the_real_api_without_an_error(
    database: Database, tmp_path: Path, graphql: Graphql, make_token: MakeToken
) -> None:
    # The examples name patients of the demo province (seed 1): Lê Minh Minh, Nguyễn Hữu Thịnh.
    demo = make_patient("BN1", full_name="Lê Minh Minh", born=(1955, 7, 9), serial="966469")
    load_records(database, tmp_path, [make_record(1, demo, make_encounter("LK1"))], "27001")
    with database.connect() as connection:
        master = str(connection.execute("SELECT id FROM master_patient").scalar_one())
    steward = make_token("steward")
    examples = json.loads((ASSETS / "examples.json").read_text(encoding="utf-8"))
    assert len(examples) >= 5
    for example in examples:
        variables = example["variables"]
        if "id" in variables:  # the registry id of a patient is the registry's own
            variables = {**variables, "id": master}
        answer = graphql(steward, "\n".join(example["query"]), variables)
        assert answer["http_status"] == 200 and "errors" not in answer, (example["title"], answer)
    history = next(e for e in examples if "history" in e["title"])
    found = graphql(steward, "\n".join(history["query"]), history["variables"])
    assert found["data"]["patient"]["identity"]["fullName"] == "Lê Minh Minh"
    [first] = found["data"]["patient"]["encounters"]["nodes"]
    assert first["diagnoses"][0]["title"] == "Type 2 diabetes mellitus" and first["visitTypeLabel"]["vi"]
