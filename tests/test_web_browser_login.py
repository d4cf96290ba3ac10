"""Signing in with a real browser (Debian's Chromium under Playwright, issue 14)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.web_support import chromium, screenshot, signed_in, web_server

server = pytest.fixture(scope="module", params=["sqlite"])(web_server)
browser = pytest.fixture(scope="module")(chromium)


def test_a_browser_signs_in_from_the_servers_address_and_out(
    server: LiveServer, browser: Any
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/")
    assert page.url.endswith("/.web/login?next=%2F")
    screenshot(page, "login")
    page.fill("#username", "alice")
    page.fill("#password", "wrong")
    page.click("button[type=submit]")
    assert "Wrong user name or password." in page.inner_text("main")
    assert page.input_value("#username") == "alice"
    page.fill("#password", "not-the-password")
    context.close()
    page = signed_in(browser, server)
    assert "/.web/" in page.url and "login" not in page.url
    page.click("text=Sign out")
    page.wait_for_load_state()
    assert page.url.endswith("/.web/login")
