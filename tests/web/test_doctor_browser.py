"""The doctor's pages in a real headless Chromium (Playwright driving Debian's Chromium, as
tests/browser.py sets up; never skipped on CI), on the real app served by uvicorn: a clinician signs
in, finds a patient each way, opens the history, and what the page shows is checked against the
database (ICD-10 titles, the XML 130 labels, the referral chain).

Screenshots of the search and the patient's page are taken on the way; with PROVREG_SCREENSHOTS set
to a folder (docs/screenshots for the README's), they are kept there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from registry.access.roles import Role
from registry.access.tokens import create_token
from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.codes import labels
from tests.browser import screenshot_folder, served, watched_page
from tests.conftest import cloned_database
from tests.database import Database
from tests.registry.identity_helpers import rows
from tests.web.doctor_history import NAME, load_history

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("doctor-browser")]


@dataclass(frozen=True)
class Registry:
    base_url: str
    database: Database
    token: str
    master_id: int
    screenshots: Path


@pytest.fixture(scope="module")
def registry(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    with cloned_database(server_url, template_url) as url:
        database = Database(url)
        master = load_history(database, tmp_path_factory.mktemp("extracts"))
        with database.begin() as connection:
            token = create_token(
                connection, name="BS Lê Văn Tâm", role=Role.CLINICIAN, created_by="test"
            ).secret
        screenshots = screenshot_folder(tmp_path_factory)
        with served(create_app(url, tmp_path_factory.mktemp("home"), ApiConfig())) as base_url:
            yield Registry(base_url, database, token, master, screenshots)


@pytest.fixture
def page(browser: Browser, registry: Registry) -> Iterator[Page]:
    """A clinician signed in, on the search page."""
    with watched_page(browser) as opened:
        opened.goto(f"{registry.base_url}/doctor")
        opened.get_by_label("Token").fill(registry.token)
        opened.get_by_role("button", name="Sign in").click()
        expect(opened).to_have_url(f"{registry.base_url}/doctor")
        yield opened


def test_a_doctor_finds_the_patient_by_name_and_year_and_reads_why(page: Page, registry: Registry) -> None:
    form = page.get_by_role("form", name="By name and birth")
    form.get_by_label("Name").fill("Trần Thị Hồng Nhung")
    form.get_by_label("or year").fill("1958")
    form.get_by_label("Purpose").select_option("treatment")
    form.get_by_role("button", name="Find by name and birth").click()
    found = page.get_by_role("table", name="Patients found")
    expect(found).to_contain_text(NAME)
    expect(found).to_contain_text("match: name")
    assert page.evaluate("document.fonts.check('16px \"Noto Sans Workbench\"', 'Trần Thị Hồng Nhung')")
    page.screenshot(path=registry.screenshots / "doctor-search.png", full_page=True)


def test_a_doctor_finds_the_patient_by_citizen_id_and_reads_the_history_as_the_database_has_it(
    page: Page, registry: Registry
) -> None:
    [(citizen_id,)] = rows(registry.database, "SELECT citizen_id FROM master_patient")
    form = page.get_by_role("form", name="By citizen ID")
    form.get_by_label("Citizen ID").fill(citizen_id)
    form.get_by_label("Purpose").select_option("referral")
    form.get_by_role("button", name="Find by citizen ID").click()
    page.get_by_role("link", name=NAME).click()
    expect(page.get_by_role("heading", name=NAME, level=1)).to_be_visible()
    page.screenshot(path=registry.screenshots / "doctor-patient-first-screen.png")
    page.screenshot(path=registry.screenshots / "doctor-patient.png", full_page=True)

    summary = page.get_by_role("region", name="Summary")
    for code, title, chapter_title in rows(
        registry.database,
        "SELECT DISTINCT code, icd10_title(code), icd10_title(icd10_chapter(code)) FROM diagnosis",
    ):
        expect(summary).to_contain_text(f"{code} {title}")
        expect(summary).to_contain_text(chapter_title)
    timeline = page.get_by_role("region", name="Timeline")
    for visit_type, outcome, discharge_type in rows(
        registry.database, "SELECT visit_type, outcome, discharge_type FROM encounter"
    ):
        expect(timeline).to_contain_text(labels.label("visit_type", visit_type).vi)  # type: ignore[union-attr]
        expect(timeline).to_contain_text(labels.label("outcome", outcome).vi)  # type: ignore[union-attr]
        expect(timeline).to_contain_text(labels.label("discharge_type", discharge_type).vi)  # type: ignore[union-attr]
    chain = page.get_by_role("region", name="Referral chain")
    for at, sent_to in rows(
        registry.database,
        "SELECT f.name, t.name FROM encounter e JOIN facility f ON f.code = e.facility_code"
        " JOIN facility t ON t.code = e.referred_to",
    ):
        expect(chain).to_contain_text(f"{at} hospital → sent to {sent_to}")
    expect(chain).to_contain_text("from Bệnh viện Đa khoa huyện Thuận Thành hospital → Bệnh viện Bạch Mai")
    labs = page.get_by_role("region", name="Lab results")
    expect(labs.locator("svg.spark")).to_have_count(1)
    [(count,)] = rows(
        registry.database, "SELECT count(*) FROM patient_access WHERE operation = 'web:doctorPatient'"
    )
    assert count == 1
