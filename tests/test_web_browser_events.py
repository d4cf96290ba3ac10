"""Events and meetings with a real browser (Debian's Chromium under Playwright, issue 14
sections 4 and 5): create a weekly meeting through the form, change one occurrence,
see both on their pages, answer the invitation as the participant."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.web_support import PHONE, chromium, screenshot, signed_in, web_server

server = pytest.fixture(scope="module", params=["sqlite"])(web_server)
browser = pytest.fixture(scope="module")(chromium)


def test_a_weekly_meeting_with_an_exception_through_the_form(
    server: LiveServer, browser: Any
) -> None:
    for calendar in ("alice/work", "bob/personal"):
        made = server.cli("calendar", "create", calendar)
        assert made.returncode == 0, made.stderr
    page = signed_in(browser, server)
    page.goto(server.url + "/.web/event/new?cal=alice/work&start=2099-03-02T10:00")
    assert page.input_value("#end_date") == "2099-03-02"
    page.fill("#title", "Weekly sync")
    page.fill("#timezone", "UTC")
    page.fill("#location", "Room 4")
    page.select_option("#repeat", "WEEKLY")
    page.check("input[name=days][value=MO]")
    page.check("input[name=ends][value=count]")
    page.fill("#count", "6")
    page.fill("#participants", "bob")
    page.fill("#description", "Status, risks, next steps")
    screenshot(page, "event-form")
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    assert "The event was created." in page.inner_text("main")
    assert "Every week on Mon, 6 times" in page.inner_text("main")
    master = page.url.replace("&done=created", "")
    # the second Monday moves to the afternoon: an exception of the series
    page.goto(master.replace("/.web/event?", "/.web/event/edit?") + "&rid=20990309T100000Z")
    assert page.input_value("#start_date") == "2099-03-09"
    page.fill("#title", "Weekly sync (afternoon)")
    page.fill("#start_time", "14:00")
    page.fill("#end_time", "15:00")
    page.check("input[name=scope][value=occurrence]")
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    text = page.inner_text("main")
    assert "Weekly sync (afternoon)" in text and "14:00" in text and "one occurrence" in text
    page.goto(master)
    assert "Weekly sync" in page.inner_text("h1") and "(afternoon)" not in page.inner_text("h1")
    assert page.locator(".participant .pict-wait").count() == 1

    bob = signed_in(browser, server, "bob")
    bob.goto(server.url + "/.web/invitations")
    assert "Weekly sync" in bob.inner_text("main")
    screenshot(bob, "invitations")
    bob.fill("input[name=comment]", "Happy to join")
    bob.click("button[name=answer][value=accept]")
    bob.wait_for_load_state()
    assert "You accepted the invitation." in bob.inner_text("main")

    page.goto(master)
    participant = page.locator(".participant").first
    assert participant.locator(".pict-yes").count() == 1
    assert "Happy to join" in participant.inner_text()
    screenshot(page, "event")
    phone = signed_in(browser, server, viewport=PHONE)
    phone.goto(master)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(phone, "event-phone")


def test_the_suggested_weekly_day_follows_the_start_date_as_it_is_typed(
    server: LiveServer, browser: Any
) -> None:
    made = server.cli("calendar", "create", "alice/plans")
    assert made.returncode == 0, made.stderr
    page = signed_in(browser, server)
    # opened late on Monday 2 March 2099: the form suggests Tuesday 00:00
    page.goto(server.url + "/.web/event/new?cal=alice/plans&start=2099-03-03T00:00")
    page.select_option("#repeat", "WEEKLY")
    assert page.is_checked("input[name=days][value=TU]")
    page.fill("#start_date", "2099-03-02")
    assert page.is_checked("input[name=days][value=MO]")
    assert not page.is_checked("input[name=days][value=TU]")
    # once the person ticks a second day, the days are theirs
    page.check("input[name=days][value=WE]")
    page.fill("#start_date", "2099-03-09")
    assert page.is_checked("input[name=days][value=MO]")
    assert page.is_checked("input[name=days][value=WE]")
    page.fill("#title", "Standup")
    page.fill("#end_date", "2099-03-09")
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    assert "Every week on Mon, Wed" in page.inner_text("main")
