"""Pages in a real headless Chromium (Playwright), on the real app served by uvicorn in a thread.

Debian's Chromium is used (PROVREG_CHROMIUM, else `chromium` on the PATH): Playwright's own browser
downloads are not reachable here. Without a Chromium the tests skip, except on CI, where .ci/run
installs one and a skip would hide a broken setup.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright
from starlette.types import ASGIApp

# The flags that work on the shared machines: no sandbox (root), no GPU, no traffic of Chromium's own.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str | None:
    return os.environ.get("PROVREG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium() -> Iterator[Browser]:
    executable = chromium_executable()
    if executable is None:
        reason = "no Chromium found: install Debian's `chromium` or set PROVREG_CHROMIUM to a Chromium binary"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (.ci/run installs it)")
        pytest.skip(reason)
    # Playwright gives every launch a fresh, temporary profile (user-data dir).
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for a module's tests (registered for every test by tests/conftest.py)."""
    with chromium() as launched:
        yield launched


def screenshot_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a browser test saves its screenshots: PROVREG_SCREENSHOTS (docs/screenshots, to
    regenerate the README's), else a temporary folder."""
    kept = os.environ.get("PROVREG_SCREENSHOTS")
    folder = Path(kept) if kept else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def served(app: ASGIApp) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free port of 127.0.0.1: its base URL."""
    listening = socket.create_server(("127.0.0.1", 0))  # bound here: no race for a free port
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listening.close()


@contextmanager
def watched_page(browser: Browser, width: int = 1280, height: int = 900) -> Iterator[Page]:
    """A page in a fresh context, failing the test if a script errs or the page's policy refuses
    anything while it is open."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    yield opened
    context.close()
    assert problems == []
