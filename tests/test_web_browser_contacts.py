"""The contacts page in a real browser (Debian's Chromium under Playwright, issue 21
item 5): create an address book, add a contact through the form, find it with the
search, and read it back over CardDAV as a client would. Screenshot ``contacts``."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import PASSWORD, LiveServer
from tests.web_support import chromium, screenshot, signed_in, web_server

server = pytest.fixture(scope="module", params=["sqlite"])(web_server)
browser = pytest.fixture(scope="module")(chromium)


def test_add_a_contact_through_the_form_and_find_it_with_the_search(
    server: LiveServer, browser: Any
) -> None:
    page = signed_in(browser, server)
    page.click("nav >> text=Contacts")
    page.wait_for_load_state()
    page.fill("#book-name", "Friends")
    page.click("text=Create address book")
    page.wait_for_load_state()
    assert "The address book was created." in page.inner_text("main")
    page.click("text=Add a contact")
    page.wait_for_load_state()
    page.fill("#name", "Ingrid Fjell")
    page.fill("#given", "Ingrid")
    page.fill("#family", "Fjell")
    page.fill("#emails", "ingrid@example.org\ningrid@work.example")
    page.fill("#phones", "+47 900 11 222")
    page.fill("#org", "Fjord & Co")
    page.click("button:has-text('Add contact')")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "The contact was added." in main and "Ingrid Fjell" in main
    page.fill("#q", "fjord")
    page.click("button:has-text('Show')")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "Contacts matching “fjord”" in main
    assert "Ingrid Fjell" in main and "ingrid@work.example" in main and "+47 900 11 222" in main
    screenshot(page, "contacts")

    found = requests.get(f"{server.url}/alice/friends/", auth=("alice", PASSWORD), timeout=30)
    assert found.status_code == 200
    assert "FN:Ingrid Fjell" in found.text and "ORG:Fjord & Co" in found.text
