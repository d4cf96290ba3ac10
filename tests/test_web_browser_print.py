"""Print views (issue 17 section 4) in Chromium: the week, month and day print pages and
a single event's, without navigation, with full titles, times and locations, and the
print media applied; a screenshot of each is kept among the test artefacts."""

from __future__ import annotations

import base64
import urllib.request
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import PASSWORD, LiveServer
from tests.e2e_support import calserver
from tests.web_support import chromium, screenshot, signed_in, web_server

server = pytest.fixture(scope="module", params=["sqlite"])(web_server)
browser = pytest.fixture(scope="module")(chromium)

LONG = "Quarterly planning with the whole regional sales team and the new partners from Ghent"


def _put(server: LiveServer, path: str, body: str) -> None:
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        server.url + path,
        body.encode(),
        {"Content-Type": "text/calendar; charset=utf-8", "Authorization": "Basic " + token},
        method="PUT",
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status in (201, 204)


@pytest.fixture(scope="module")
def today(server: LiveServer) -> date:
    day = datetime.now(UTC).date()
    calserver(server, "calendar", "create", "alice/print", "--name", "Work")
    for uid, hour, summary, place in (
        ("p1", 9, LONG, "Room Ledeberg, 3rd floor"),
        ("p2", 13, "Dentist", "Korenmarkt 12"),
    ):
        _put(
            server,
            f"/alice/print/{uid}.ics",
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{day:%Y%m%d}T{hour:02d}0000Z\r\n"
            f"DTEND:{day:%Y%m%d}T{hour + 1:02d}0000Z\r\nSUMMARY:{summary}\r\n"
            f"LOCATION:{place.replace(',', chr(92) + ',')}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        )
    return day


def test_print_week_month_day_and_event(server: LiveServer, browser: Any, today: date) -> None:
    page = signed_in(browser, server)
    page.click("text=Print")
    page.wait_for_load_state()
    assert "/.web/print?" in page.url and "view=week" in page.url
    page.emulate_media(media="print")
    # no navigation, no search box; the whole title, its time and its place
    assert page.locator("nav").count() == 0 and page.locator("#top-q").count() == 0
    assert not page.locator(".screen-only").is_visible()
    assert page.locator(".print-title", has_text=LONG).is_visible()
    row = page.locator("tr", has_text="Dentist")
    assert "13:00" in row.inner_text() and "Korenmarkt 12" in row.inner_text()
    shot = screenshot(page, "print-week")
    assert shot.stat().st_size > 5000
    for view in ("month", "day"):
        page.goto(server.url + f"/.web/print?view={view}&date={today.isoformat()}")
        assert page.locator(".print-title", has_text=LONG).is_visible()
        screenshot(page, f"print-{view}")
    page.goto(server.url + "/.web/print?view=day&date=" + (today + timedelta(days=400)).isoformat())
    assert page.locator(".print-empty").is_visible()
    page.goto(server.url + "/.web/event?cal=alice/print&href=p1.ics")
    page.emulate_media(media="screen")
    page.click(".event-actions >> text=Print")
    page.wait_for_load_state()
    page.emulate_media(media="print")
    assert page.locator("h1", has_text=LONG).is_visible()
    assert page.locator(".print-facts", has_text="Room Ledeberg, 3rd floor").is_visible()
    screenshot(page, "print-event")
    page.context.close()
