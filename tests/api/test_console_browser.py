"""The API console in a real headless Chromium (Playwright), on the real app served by uvicorn.

One registry, one server and one browser for the module: the tests share them (xdist_group keeps
them on one worker) and each test gets a fresh browser context (tests/browser.py: Debian's
Chromium, never skipped on CI).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from registry.access.roles import Role
from registry.access.tokens import create_token
from registry.api.app import create_app
from registry.api.config import ApiConfig
from tests.api.conftest import load_records
from tests.api.test_console import assert_console_headers
from tests.browser import served
from tests.conftest import cloned_database
from tests.database import Database
from tests.factories import citizen_id, make_encounter, make_patient, make_record

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("console-browser")]

PATIENT_SERIAL = "000321"
HISTORY_EXAMPLE = "A patient's history by citizen ID (clinician, steward)"
WHO_AM_I_EXAMPLE = "Who am I (any token)"


@dataclass(frozen=True)
class Registry:
    base_url: str
    clinician_token: str


def _load_a_patient(database: Database, folder: Path) -> None:
    patient = make_patient("BN1", serial=PATIENT_SERIAL)
    load_records(database, folder, [make_record(1, patient, make_encounter("LK1"))], "27001")


def _clinician_token(database: Database) -> str:
    with database.begin() as connection:
        return create_token(connection, name="console test", role=Role.CLINICIAN, created_by="test").secret


@pytest.fixture(scope="module")
def registry(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """The real app with the console on, served by uvicorn in a thread, on a registry of one patient."""
    with cloned_database(server_url, template_url) as url:
        database = Database(url)
        _load_a_patient(database, tmp_path_factory.mktemp("extracts"))
        token = _clinician_token(database)
        app = create_app(url, tmp_path_factory.mktemp("home"), ApiConfig(console=True))
        with served(app) as base_url:
            yield Registry(base_url=base_url, clinician_token=token)


@dataclass
class Console:
    """The console page, with every URL it requested and every problem the browser reported."""

    page: Page
    requested: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def origins(self) -> set[str]:
        return {"{0.scheme}://{0.netloc}".format(urlsplit(url)) for _, url in self.requested}

    def posts(self) -> int:
        return sum(method == "POST" for method, _ in self.requested)

    def note_console(self, message: ConsoleMessage) -> None:
        """CSP violations and script errors are reported as console errors; refused requests too, and
        those are the API's answers, which the tests look at in the page instead."""
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(message.text)

    def run_example(self, title: str, token: str = "", purpose: str = "") -> None:
        page = self.page
        page.get_by_label("Bearer token").fill(token)
        page.get_by_label("Purpose").fill(purpose)
        page.get_by_label("Example").select_option(label=title)
        page.get_by_role("button", name="Run").click()


@pytest.fixture
def console(browser: Browser, registry: Registry) -> Iterator[Console]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    opened = Console(page)
    page.on("request", lambda request: opened.requested.append((request.method, request.url)))
    page.on("console", lambda message: opened.note_console(message))
    page.on("pageerror", lambda error: opened.problems.append(str(error)))
    answer = page.goto(f"{registry.base_url}/graphql")
    assert answer is not None and answer.status == 200
    assert_console_headers(answer.headers)
    yield opened
    context.close()


def test_a_clinician_runs_the_history_example_and_sees_the_patient(
    console: Console, registry: Registry
) -> None:
    page = console.page
    page.get_by_label("Bearer token").fill(registry.clinician_token)
    page.get_by_label("Purpose").fill("treatment")
    page.get_by_label("Example").select_option(label=HISTORY_EXAMPLE)
    expect(page.get_by_label("Query")).to_have_value(re.compile(re.escape("patient(citizenId: $citizenId)")))
    page.get_by_label("Variables (JSON object)").fill(
        json.dumps({"citizenId": citizen_id(serial=PATIENT_SERIAL), "first": 5})
    )
    page.get_by_label("Query").press("Control+Enter")

    expect(page.get_by_label("Answer as JSON")).to_contain_text("Nguyễn Văn An")
    expect(page.get_by_role("status")).to_contain_text("HTTP 200")
    expect(page.get_by_role("list", name="Errors")).to_be_hidden()
    assert console.origins() == {registry.base_url}
    assert console.problems == []


def test_without_a_token_the_refusal_and_its_code_are_shown(console: Console) -> None:
    console.run_example(WHO_AM_I_EXAMPLE)

    errors = console.page.get_by_role("list", name="Errors")
    expect(errors).to_contain_text("UNAUTHENTICATED")
    expect(errors).to_contain_text("send a bearer token")
    expect(console.page.get_by_role("status")).to_contain_text("HTTP 401")
    assert console.problems == []


def test_invalid_variables_are_explained_and_nothing_is_sent(console: Console) -> None:
    page = console.page
    page.get_by_label("Example").select_option(label=HISTORY_EXAMPLE)
    page.get_by_label("Variables (JSON object)").fill('{"citizenId": ')
    page.get_by_role("button", name="Run").click()

    expect(page.get_by_text("Variables are not valid JSON")).to_be_visible()
    expect(page.get_by_label("Variables (JSON object)")).to_have_attribute("aria-invalid", "true")
    assert console.posts() == 0


def test_the_page_fits_a_narrow_window(console: Console) -> None:
    page = console.page
    page.set_viewport_size({"width": 360, "height": 740})
    for label in ("Bearer token", "Purpose", "Example", "Query", "Variables (JSON object)"):
        expect(page.get_by_label(label)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_purpose_an_http_header_cannot_carry_is_explained_and_nothing_is_sent(console: Console) -> None:
    console.run_example(WHO_AM_I_EXAMPLE, token="prv_any", purpose="điều trị")

    expect(console.page.get_by_role("status")).to_contain_text("Latin-1 only")
    assert console.posts() == 0
