"""Meeting polls in a real browser (Debian's Chromium under Playwright, issue 19): Alice
creates a poll with the wizard, sees the owner's table with each voter's link, and
Zoe, who has no account, answers on a phone-sized screen through her link, then
changes an answer. Screenshots ``poll-owner`` and ``poll-vote-phone``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.web_support import PHONE, chromium, screenshot, signed_in, web_server

server = pytest.fixture(scope="module", params=["sqlite"])(web_server)
browser = pytest.fixture(scope="module")(chromium)


def test_wizard_owner_table_and_voting_on_a_phone_without_an_account(
    server: LiveServer, browser: Any
) -> None:
    page = signed_in(browser, server)
    page.click("nav >> text=Polls")
    page.wait_for_load_state()
    page.click("text=New poll")
    page.wait_for_load_state()
    page.fill("#poll-title", "Team lunch")
    page.fill("#poll-location", "Canteen")
    page.fill("#poll-duration", "60")
    page.fill("#poll-timezone", "Europe/Oslo")
    page.fill("#timed-0", "2030-11-04T12:00")
    page.fill("#timed-1", "2030-11-05T12:30")
    page.fill("#day-0", "2030-11-08")
    page.fill("#poll-typed", "Zoe Outside <zoe@outside.example>\nbob@example.org")
    page.click("button:has-text('Create the poll')")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "The poll is created" in main, main
    assert "Mon 04 Nov 2030, 12:00-13:00 (Europe/Oslo)" in main
    assert "Fri 08 Nov 2030 (all day)" in main
    link = page.get_attribute("input[aria-label='Link of zoe@outside.example']", "value")
    assert link and "/.poll/" in link

    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        voter = phone.new_page()
        voter.goto(link)
        assert voter.inner_text("h1") == "Team lunch"
        voter.check("fieldset:has-text('Mon 04 Nov') >> input[value=yes]")
        voter.check("fieldset:has-text('Tue 05 Nov') >> input[value=maybe]")
        voter.check("fieldset:has-text('Fri 08 Nov') >> input[value=no]")
        voter.click("button:has-text('Save my answers')")
        voter.wait_for_load_state()
        assert "Your answers are saved" in voter.inner_text("main")
        assert voter.is_checked("fieldset:has-text('Mon 04 Nov') >> input[value=yes]")
        # nothing wider than the phone: no sideways scrolling
        width = voter.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        # a second thought
        voter.check("fieldset:has-text('Tue 05 Nov') >> input[value=yes]")
        voter.click("button:has-text('Save my answers')")
        voter.wait_for_load_state()
        assert voter.is_checked("fieldset:has-text('Tue 05 Nov') >> input[value=yes]")
        screenshot(voter, "poll-vote-phone")
    finally:
        phone.close()

    page.reload()
    row = page.inner_text("tr:has-text('Zoe Outside')")
    assert row.split("\t")[1:] == ["Yes", "Yes", "No"], row
    screenshot(page, "poll-owner")
