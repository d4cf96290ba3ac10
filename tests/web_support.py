"""What the web app's browser tests share (issue 14): a live server with accounts, Debian's
Chromium driven by Playwright, signing in, and screenshots kept as test artefacts in
``tests/artifacts/screenshots/`` (or ``$CALSERVER_ARTIFACTS``) to look at.

A module of browser tests declares::

    server = pytest.fixture(scope="module", params=["sqlite"])(web_server)
    browser = pytest.fixture(scope="module")(chromium)

and signs in with :func:`signed_in`. Chromium is Debian's (``.ci/run`` installs it);
Playwright drives it, no browser download.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD, LiveServer
from tests.e2e_support import module_server_with

PEOPLE = ["alice", "bob", "carol", "dave"]
#: A laptop's and a phone's viewport.
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def artifacts() -> Path:
    folder = Path(os.environ.get("CALSERVER_ARTIFACTS", Path(__file__).parent / "artifacts"))
    target = folder / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    return target


def web_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live ``calserver serve`` with the accounts of :data:`PEOPLE` (password
    PASSWORD, address NAME@example.org)."""
    yield from module_server_with(request, tmp_path_factory, PEOPLE)


def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright; the test is skipped where it is missing."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


def signed_in(
    browser: Any,
    server: LiveServer,
    user: str = "alice",
    password: str = PASSWORD,
    viewport: dict[str, int] | None = None,
    timezone_id: str = "UTC",
) -> Any:
    """A new browser session (its own cookies) signed in as ``user``: the page after
    the sign-in form (the week view)."""
    context = browser.new_context(viewport=viewport or LAPTOP, timezone_id=timezone_id)
    page = context.new_page()
    page.goto(server.url + "/.web/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot kept as ``NAME.png`` among the test artefacts."""
    path = artifacts() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
