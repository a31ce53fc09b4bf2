"""The stewards' workbench in a real headless Chromium (Playwright driving Debian's Chromium, as
tests/browser.py sets up; never skipped on CI), on the real app served by uvicorn: a steward signs
in, works the queue, merges, undoes and splits, and the database is checked after each step.

Screenshots of the queue, a comparison and an identity page are taken on the way; with
PROVREG_SCREENSHOTS set to a folder (docs/screenshots for the README's), they are kept there.
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
from tests.browser import screenshot_folder, served, watched_page
from tests.conftest import cloned_database
from tests.database import Database
from tests.factories import make_patient
from tests.registry.identity_helpers import bare, borderline_pair, load, masters, rows, source_id

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("workbench-browser")]


@dataclass(frozen=True)
class Workbench:
    base_url: str
    database: Database
    steward_token: str
    screenshots: Path


def _pair_with_two_phones(database: Database, extracts: Path) -> None:
    """A woman recorded at two facilities with the same name and birth date but different phones:
    a possible match whose comparison shows agreeing and disagreeing fields."""
    born, name = (1992, 7, 21), "Nguyễn Thị Hồng Nhung"
    known = make_patient("A-000401", full_name=name, born=born, sex=2, with_citizen_id=False, serial="000401")
    maybe = make_patient(
        "B-000401", facility_code="27002", full_name=name, born=born, sex=2, with_citizen_id=False
    )
    load(database, extracts, "27001", bare(known, "0912000401"))
    load(database, extracts, "27002", bare(maybe, "0988000999", insurance=False))


@pytest.fixture(scope="module")
def workbench(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workbench]:
    """The real app on a registry with possible matches to review, served by uvicorn in a thread."""
    with cloned_database(server_url, template_url) as url:
        database = Database(url)
        extracts = tmp_path_factory.mktemp("extracts")
        _pair_with_two_phones(database, extracts)
        borderline_pair(database, extracts, "Nguyễn Văn Hùng", (1978, 11, 2), "000402")
        borderline_pair(database, extracts, "Nguyễn Hữu Phước", (1990, 1, 5), "000403")
        with database.begin() as connection:
            token = create_token(connection, name="Ms Hoa", role=Role.STEWARD, created_by="test").secret
        screenshots = screenshot_folder(tmp_path_factory)
        with served(create_app(url, tmp_path_factory.mktemp("home"), ApiConfig())) as base_url:
            yield Workbench(base_url, database, token, screenshots)


@pytest.fixture
def page(browser: Browser, workbench: Workbench) -> Iterator[Page]:
    with watched_page(browser, height=800) as opened:
        yield opened


def _status(database: Database, local_id: str) -> str:
    ((status,),) = rows(
        database,
        "SELECT r.status FROM match_review r JOIN source_patient p ON p.id = r.source_patient_id WHERE p.local_id = %(l)s",
        l=local_id,
    )
    return str(status)


def sign_in(page: Page, workbench: Workbench) -> None:
    page.goto(f"{workbench.base_url}/steward/queue")
    expect(page).to_have_url(f"{workbench.base_url}/sign-in?next=%2Fsteward%2Fqueue")
    page.get_by_label("Token").fill(workbench.steward_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{workbench.base_url}/steward/queue")


def test_a_steward_signs_in_and_sees_the_queue_with_vietnamese_names(
    page: Page, workbench: Workbench
) -> None:
    sign_in(page, workbench)
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    queue = page.get_by_role("table")
    expect(queue).to_contain_text("Nguyễn Thị Hồng Nhung")
    expect(queue).to_contain_text("Nguyễn Văn Hùng")
    # The shipped font's faces, Vietnamese and Latin, were both needed by the page and loaded.
    page.evaluate("document.fonts.ready")
    faces = page.evaluate("[...document.fonts].map(f => [f.family, f.unicodeRange.slice(0, 11), f.status])")
    assert sorted(faces) == [
        ["Noto Sans Workbench", "U+0-FF, U+1", "loaded"],
        ["Noto Sans Workbench", "U+102-103, ", "loaded"],
    ]
    page.screenshot(path=workbench.screenshots / "queue.png", full_page=True)


def test_a_steward_works_the_queue_merges_undoes_and_splits(page: Page, workbench: Workbench) -> None:
    """The issue's walk-through, the database checked after each step."""
    database, base = workbench.database, workbench.base_url
    before = masters(database)
    sign_in(page, workbench)
    page.goto(f"{base}/steward/queue?order=oldest")  # the items in the order they were queued

    # Open the first item: the two records side by side, each field coloured by its evidence.
    page.get_by_role("link", name="#1", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Review item #1")
    comparison = page.get_by_role("table", name="The two records side by side")
    expect(comparison.get_by_role("row", name="Name")).to_have_attribute("data-agreement", "agree")
    expect(comparison).to_contain_text("Nguyễn Thị Hồng Nhung")
    expect(comparison.get_by_role("row", name="Phone")).to_have_attribute("data-agreement", "differ")
    page.screenshot(path=workbench.screenshots / "comparison.png", full_page=True)

    # Same person, by its keyboard shortcut: the record joins the candidate's identity.
    page.keyboard.press("s")
    expect(page.get_by_role("status")).to_contain_text("Item #1: same person (steward:Ms Hoa)")
    assert _status(database, "B-000401") == "same"
    assert masters(database)["B-000401"] == before["A-000401"]

    # Undo, by its shortcut: the record back where it was, the item open again.
    page.keyboard.press("u")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Review item #1")
    assert _status(database, "B-000401") == "open" and masters(database) == before

    # Different people on the next item, by its button; Skip moves on without deciding.
    page.get_by_role("link", name="Skip").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Review item #2")
    page.get_by_role("button", name="Different people").click()
    expect(page.get_by_role("status")).to_contain_text("Item #2: different people")
    assert _status(database, "B-000402") == "different" and masters(database) == before

    # Merge two identities from the identity page.
    survivor, merged = before["A-000403"], before["B-000403"]
    page.goto(f"{base}/steward/patients/{survivor}")
    page.get_by_label("Patient id to merge").fill(str(merged))
    page.get_by_label("Reason", exact=True).fill("same mother, same birth certificate")
    page.get_by_role("button", name=f"Merge into patient {survivor}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Patient {merged} merged into this one (1 record)")
    assert masters(database)["B-000403"] == survivor
    history = page.get_by_role("table", name="Identity history")
    expect(history).to_contain_text("same mother, same birth certificate")
    page.screenshot(path=workbench.screenshots / "identity.png", full_page=True)

    # Undo the merge from the history.
    ((merge_id,),) = rows(database, "SELECT id FROM identity_event WHERE kind = 'merge'")
    page.get_by_label(f"Reason to undo merge {merge_id}").fill("different mothers after all")
    page.get_by_role("button", name="Undo merge").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Merge undone: patient {merged} has its own records again"
    )
    assert masters(database) == before
    expect(page.get_by_role("table", name="Identity history")).to_contain_text("merge undone")

    # Split a record: move it into the other identity, then split it out: it returns to its own id.
    record = source_id(database, "B-000403")
    page.goto(f"{base}/steward/patients/{merged}")
    page.get_by_label(f"Move record {record} to patient").fill(str(survivor))
    page.get_by_label(f"Reason for record {record}").fill("one person")
    page.get_by_role("button", name="Split out / move").click()
    assert masters(database)["B-000403"] == survivor
    page.goto(f"{base}/steward/patients/{survivor}")
    page.get_by_label(f"Reason for record {record}").fill("not the same person")
    page.locator(f"form[action='/steward/records/{record}/relink']").get_by_role("button").click()
    expect(page.get_by_role("status")).to_contain_text(f"Record {record} is now in patient {merged}")
    assert masters(database) == before
    kinds = [k for (k,) in rows(database, "SELECT kind FROM identity_event ORDER BY id")]
    assert kinds == [
        "review_decision",
        "review_undo",
        "review_decision",
        "merge",
        "merge_undo",
        "relink",
        "split",
    ]
