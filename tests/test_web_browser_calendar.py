"""The calendar views in a real browser (Debian's Chromium under Playwright, issue 14
section 3): sign in, see the week, go next / previous / today by link and by key, the
day and month views, a phone's width, and a busy-only viewer in a second session.
Screenshots: ``week``, ``day``, ``month``, ``week-phone``, ``week-busy``."""

from __future__ import annotations

import base64
import urllib.request
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import PASSWORD, LiveServer
from tests.e2e_support import calserver
from tests.web_support import PHONE, chromium, screenshot, signed_in, web_server

server = pytest.fixture(scope="module", params=["sqlite"])(web_server)
browser = pytest.fixture(scope="module")(chromium)


def _put(server: LiveServer, path: str, body: str, user: str = "alice") -> None:
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        server.url + path,
        body.encode(),
        {"Content-Type": "text/calendar; charset=utf-8", "Authorization": "Basic " + token},
        method="PUT",
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status in (201, 204)


def _event(uid: str, start: str, end: str, summary: str, extra: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
        f"{start}\r\n{end}\r\nSUMMARY:{summary}\r\n{extra}END:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )


def _at(day: date, hour: int, minute: int = 0) -> str:
    return f"{day:%Y%m%d}T{hour:02d}{minute:02d}00Z"


@pytest.fixture(scope="module")
def today(server: LiveServer) -> date:
    """alice's week: work and home calendars with a weekly series (one occurrence
    moved), seven overlapping events, an all-day trip; work shared busy-only with bob."""
    day = datetime.now(UTC).date()
    calserver(server, "calendar", "create", "alice/work", "--name", "Work", "--color", "#1F5FA8")
    calserver(server, "calendar", "create", "alice/home", "--name", "Home", "--color", "#2E7D32")
    calserver(server, "share", "alice/work", "--with", "bob", "--level", "busy")
    first = day - timedelta(days=7)
    moved = (
        "BEGIN:VEVENT\r\nUID:standup\r\nDTSTAMP:20261101T000000Z\r\n"
        f"RECURRENCE-ID:{_at(day, 9)}\r\nDTSTART:{_at(day, 10, 30)}\r\n"
        f"DTEND:{_at(day, 11)}\r\nSUMMARY:Standup (moved)\r\nEND:VEVENT\r\n"
    )
    series = _event(
        "standup",
        f"DTSTART:{_at(first, 9)}",
        f"DTEND:{_at(first, 9, 30)}",
        "Standup",
        "RRULE:FREQ=WEEKLY;COUNT=8\r\n",
    ).replace("END:VCALENDAR", moved + "END:VCALENDAR")
    _put(server, "/alice/work/standup.ics", series)
    for n in range(7):
        _put(
            server,
            f"/alice/work/review{n}.ics",
            _event(
                f"review{n}",
                f"DTSTART:{_at(day, 14)}",
                f"DTEND:{_at(day, 15 + n % 2)}",
                f"Review {n + 1}",
            ),
        )
    _put(
        server,
        "/alice/work/budget.ics",
        _event("budget", f"DTSTART:{_at(day, 16, 30)}", f"DTEND:{_at(day, 17, 30)}", "Budget"),
    )
    _put(
        server,
        "/alice/home/dinner.ics",
        _event("dinner", f"DTSTART:{_at(day, 19)}", f"DTEND:{_at(day, 21)}", "Dinner with Sam"),
    )
    trip = day + timedelta(days=1)
    _put(
        server,
        "/alice/home/trip.ics",
        _event(
            "trip",
            f"DTSTART;VALUE=DATE:{trip:%Y%m%d}",
            f"DTEND;VALUE=DATE:{trip + timedelta(days=2):%Y%m%d}",
            "Trip to Lyon",
        ),
    )
    return day


def _title(page: Any) -> str:
    return page.inner_text("h1")


def test_the_week_next_previous_today_and_the_month(
    server: LiveServer, browser: Any, today: date
) -> None:
    page = signed_in(browser, server)
    assert "/.web/calendar" in page.url
    grid = page.locator(".tg")
    assert grid.is_visible()
    today_column = page.locator(f'[aria-labelledby="d-{today.isoformat()}"]')
    assert today_column.locator("a.ev", has_text="Standup (moved)").count() == 1
    assert today_column.locator("a.ev", has_text="Review").count() == 5
    assert today_column.locator("a.more").inner_text().startswith("+2")
    assert page.locator('.tg-dayname a[aria-current="date"]').count() == 1
    # the per-user stylesheet gives the events their calendar's colour
    colour = today_column.locator("a.ev", has_text="Budget").evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert colour == "rgb(31, 95, 168)"
    # the grid opened at 08:00 (calendar.js)
    assert page.locator("#tg-body").evaluate("e => e.scrollTop") > 0
    screenshot(page, "week")
    week = _title(page)

    # by keyboard: the toolbar in order, then the days, then the events of the grid
    page.focus(".cal-toolbar a >> nth=0")
    order = [page.evaluate("document.activeElement.textContent.trim()")]
    for _ in range(6):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert [" ".join(text.split()) for text in order] == [
        "Today",
        "\u2039 Previous week",
        "Next week \u203a",
        "Day",
        "Week",
        "Month",
        "New event",
    ]
    for _ in range(7 * 26):  # past the hourly slots of the days before today
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('.tg-day a.ev')"):
            break
    focused = " ".join(page.evaluate("document.activeElement.textContent").split())
    assert focused == "10:30\u201311:00 Standup (moved), Work"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/.web/event?cal=alice%2Fwork&href=standup.ics&rid=" in page.url
    page.go_back()
    page.wait_for_load_state()

    page.click("text=Next")
    page.wait_for_load_state()
    assert _title(page) != week and "date=" in page.url
    page.click("text=Previous")
    page.wait_for_load_state()
    assert _title(page) == week
    page.keyboard.press("n")  # the same by key (calendar.js)
    page.wait_for_url("**date=*")
    assert _title(page) != week
    page.keyboard.press("t")
    page.wait_for_load_state()
    assert _title(page) == week

    page.click(".cal-views >> text=Day")
    page.wait_for_load_state()
    assert page.locator("#day-list").locator("a.lev").count() == 10
    screenshot(page, "day")
    page.click(".cal-views >> text=Month")
    page.wait_for_load_state()
    assert page.locator("table.month").is_visible()
    cell = page.locator('td:has(a.daynum[aria-current="date"])')
    assert cell.locator("a.mev").count() == 3 and "more" in cell.locator("a.more").inner_text()
    screenshot(page, "month")
    # hide Work: the choice holds on the next page
    page.get_by_role("checkbox", name="Work").uncheck()
    page.click("text=Show the ticked calendars")
    page.wait_for_load_state()
    page.click(".cal-views >> text=Week")
    page.wait_for_load_state()
    column = page.locator(f'[aria-labelledby="d-{today.isoformat()}"]')
    assert column.locator("a.ev", has_text="Review").count() == 0
    assert column.locator("a.ev", has_text="Dinner with Sam").count() == 1
    page.get_by_role("checkbox", name="Work").check()
    page.click("text=Show the ticked calendars")
    page.wait_for_load_state()
    page.context.close()


def test_a_phone_sees_the_week_as_a_list(server: LiveServer, browser: Any, today: date) -> None:
    page = signed_in(browser, server, viewport=PHONE)
    assert not page.locator(".tg").is_visible()
    listing = page.locator("#day-list")
    assert listing.is_visible()
    assert listing.locator("a.lev", has_text="Dinner with Sam").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing wider than the phone
    screenshot(page, "week-phone")
    page.click(".cal-views >> text=Month")
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "month-phone")
    page.context.close()


def test_a_busy_only_viewer_sees_busy_blocks(server: LiveServer, browser: Any, today: date) -> None:
    page = signed_in(browser, server, user="bob")
    column = page.locator(f'[aria-labelledby="d-{today.isoformat()}"]')
    assert column.locator("a.ev", has_text="Busy").count() >= 5
    text = page.inner_text("main")
    assert "Review" not in text and "Standup" not in text and "Dinner" not in text
    screenshot(page, "week-busy")
    page.context.close()
