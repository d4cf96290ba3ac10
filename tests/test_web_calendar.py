"""The web app's calendar views (issue 14 section 3) over the in-process WSGI client, on
SQLite and PostgreSQL: week, day and month in the user's time zone and first day of the
week; what each level sees (DESIGN.md's visibility table, as the storage's views serve
it); show/hide and "only this calendar"; "+N more"; a week reads only the week; bad
parameters; the per-user colour stylesheet."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import update

from calserver import agenda, calendars, eventcolours
from calserver.accounts import settings, users
from calserver.app import make_app
from calserver.db.models import items
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import PASSWORD, WSGIClient, event_ics
from tests.test_web_core import get, session_of

ICS = {"Content-Type": "text/calendar; charset=utf-8"}


@pytest.fixture
def world(configuration: Any, engine: Any) -> WSGIClient:
    """alice (New York, weeks from Sunday) with alice/work and alice/home; bob and carol
    (UTC, weeks from Monday)."""
    for name in ("alice", "bob", "carol"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    settings.update_settings(
        engine, configuration, "alice", timezone="America/New_York", week_start="sunday"
    )
    storage = Storage(configuration)
    calendars.create(storage, "alice/work", "Work", "#1F5FA8")
    calendars.create(storage, "alice/home", "Home", "#FFD600")
    return WSGIClient(make_app(configuration), configuration, default_user="alice")


def put(client: WSGIClient, path: str, body: str, user: str = "alice") -> None:
    answer = client.request("PUT", path, body, ICS, user=user)
    assert answer.status in (201, 204), answer.text


def column(html: str, day: str) -> str:
    """The time-grid column of ``day`` (YYYY-MM-DD)."""
    found = re.search(rf'aria-labelledby="d-{day}">(.*?)</div>', html, re.S)
    assert found is not None, f"no column for {day}"
    return found.group(1)


def all_day_cell(html: str, label: str) -> str:
    found = re.search(rf'aria-label="All day, {label}">(.*?)</ul>', html, re.S)
    assert found is not None
    return found.group(1)


def event_links(fragment: str) -> list[str]:
    """The accessible text of each event link (tags dropped, spaces joined)."""
    links = re.findall(r'<a class="(?:ev|mev|lev) [^"]*" href="[^"]*">(.*?)</a>', fragment, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", link).split()) for link in links]


def page(client: WSGIClient, session: str, query: str, **headers: str) -> Any:
    answer = get(client, "/.web/calendar?" + query, session, **headers)
    assert answer.status == 200, answer.text
    return answer


def test_the_week_is_the_users_week_in_their_time_zone(world: WSGIClient) -> None:
    # 03:30 UTC on Monday 23 November is 22:30 on Sunday 22 November in New York
    put(
        world,
        "/alice/work/late.ics",
        event_ics("late", "20261123T033000Z", "20261123T043000Z", "Late call"),
    )
    put(
        world,
        "/alice/home/trip.ics",
        event_ics("trip", "20261124", "20261126", "Trip")
        .replace("DTSTART:", "DTSTART;VALUE=DATE:")
        .replace("DTEND:", "DTEND;VALUE=DATE:"),
    )
    session = session_of(world)
    html = page(world, session, "view=week&date=2026-11-25").text
    assert '<h1 id="cal-title">22\u201328 November 2026</h1>' in html
    assert "Times in America/New_York." in html
    days = re.findall(r'aria-labelledby="d-(\d{4}-\d\d-\d\d)"', html)
    assert days == [f"2026-11-{d}" for d in range(22, 29)]  # Sunday first
    assert event_links(column(html, "2026-11-22")) == ["22:30\u201323:30 Late call , Work"]
    assert event_links(column(html, "2026-11-23")) == []
    assert event_links(all_day_cell(html, "Tue 24 Nov 2026")) == ["All day Trip , Home"]
    assert event_links(all_day_cell(html, "Wed 25 Nov 2026")) == ["All day Trip , Home"]
    assert event_links(all_day_cell(html, "Thu 26 Nov 2026")) == []
    # placed by classes: 22:30 is the 91st quarter hour, one hour is four
    assert re.search(r'class="ev cal-\w+ r-91 s-4 l1-0"', column(html, "2026-11-22"))
    assert ' style="' not in html and "<style" not in html
    assert world.request("GET", "/.web/calendar", user=None).status == 303


def test_day_and_month_views(world: WSGIClient) -> None:
    put(
        world, "/alice/work/a.ics", event_ics("a", "20261125T150000Z", "20261125T160000Z", "Review")
    )
    session = session_of(world)
    day = page(world, session, "view=day&date=2026-11-25").text
    assert "Wednesday 25 November 2026" in day
    assert event_links(column(day, "2026-11-25")) == ["10:00\u201311:00 Review , Work"]
    assert "Every event of the day" in day
    month = page(world, session, "view=month&date=2026-11-25").text
    assert '<h1 id="cal-title">November 2026</h1>' in month
    # a grid of whole weeks from Sunday: 1 November 2026 is a Sunday, 5 December a Saturday
    cells = re.findall(r'class="daynum" href="[^"]*date=(\d{4}-\d\d-\d\d)', month)
    assert cells[0] == "2026-11-01" and cells[-1] == "2026-12-05" and len(cells) == 35
    assert "10:00 Review" in " ".join(event_links(month))
    assert 'aria-label="Wed 25 Nov 2026"' in month


def test_today_previous_and_next(world: WSGIClient) -> None:
    session = session_of(world)
    html = page(world, session, "view=week&date=2026-11-25").text
    assert 'href="/.web/calendar?view=week&amp;date=2026-11-18" rel="prev"' in html
    assert 'href="/.web/calendar?view=week&amp;date=2026-12-02" rel="next"' in html
    month = page(world, session, "view=month&date=2026-03-31").text
    assert 'date=2026-02-01" rel="prev"' in month and 'date=2026-04-01" rel="next"' in month
    today = page(world, session, "").text  # the default: this week, today marked
    assert today.count('aria-current="date"') >= 1
    assert 'data-key="t"' in today


def test_a_weekly_series_with_an_exception(world: WSGIClient) -> None:
    series = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
        "BEGIN:VEVENT\r\nUID:standup\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:20261102T150000Z\r\nDTEND:20261102T153000Z\r\nSUMMARY:Standup\r\n"
        "RRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE:20261116T150000Z\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:standup\r\nDTSTAMP:20261101T000000Z\r\n"
        "RECURRENCE-ID:20261123T150000Z\r\n"
        "DTSTART:20261124T190000Z\r\nDTEND:20261124T193000Z\r\nSUMMARY:Standup (moved)\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    put(world, "/alice/work/standup.ics", series)
    session = session_of(world)
    html = page(world, session, "view=week&date=2026-11-23").text
    assert event_links(column(html, "2026-11-23")) == []  # moved away
    assert event_links(column(html, "2026-11-24")) == ["14:00\u201314:30 Standup (moved) , Work"]
    rid = quote("20261123T150000Z")
    assert f"/.web/event?cal=alice%2Fwork&amp;href=standup.ics&amp;rid={rid}" in html
    assert event_links(column(page(world, session, "date=2026-11-16").text, "2026-11-16")) == []
    later = page(world, session, "date=2026-11-30").text
    assert event_links(column(later, "2026-11-30")) == ["10:00\u201310:30 Standup , Work"]


def test_a_busy_only_share_shows_busy_and_nothing_else(world: WSGIClient, engine: Any) -> None:
    put(
        world,
        "/alice/work/secret.ics",
        event_ics(
            "secret",
            "20261124T140000Z",
            "20261124T150000Z",
            "Salary talk",
            "DESCRIPTION:about money\r\nLOCATION:Room 7\r\n",
        ),
    )
    manage.share(engine, "alice/work", "bob", "busy", actor="alice")
    html = page(world, session_of(world, "bob"), "view=week&date=2026-11-24").text
    assert event_links(column(html, "2026-11-24")) == ["14:00\u201315:00 Busy , Work"]
    assert "Salary" not in html and "money" not in html and "Room 7" not in html
    assert "Shared with me" in html and "(busy only)" in html
    # the month and the phone's list say no more
    month = page(world, session_of(world, "bob"), "view=month&date=2026-11-24").text
    assert "Salary" not in month and "14:00 Busy , Work" in event_links(month)


def test_private_events_are_hidden_and_confidential_ones_busy_for_a_reader(
    world: WSGIClient, engine: Any
) -> None:
    for uid, klass, hour in (("pub", "", 9), ("conf", "CONFIDENTIAL", 11), ("priv", "PRIVATE", 13)):
        extra = f"CLASS:{klass}\r\n" if klass else ""
        put(
            world,
            f"/alice/work/{uid}.ics",
            event_ics(
                uid, f"20261124T{hour:02d}0000Z", f"20261124T{hour:02d}3000Z", f"Title {uid}", extra
            ),
        )
    manage.share(engine, "alice/work", "bob", "read", actor="alice")
    bob = page(world, session_of(world, "bob"), "view=day&date=2026-11-24").text
    assert event_links(column(bob, "2026-11-24")) == [
        "09:00\u201309:30 Title pub , Work",
        "11:00\u201311:30 Busy , Work",
    ]
    assert "Title priv" not in bob
    assert "Title conf" not in bob
    # a writer sees the same (confidential: a busy block it may not change)
    manage.share(engine, "alice/work", "bob", "write", actor="alice")
    writer = page(world, session_of(world, "bob"), "view=day&date=2026-11-24").text
    assert event_links(column(writer, "2026-11-24")) == [
        "09:00\u201309:30 Title pub , Work",
        "11:00\u201311:30 Busy , Work",
    ]
    alice = page(world, session_of(world), "view=day&date=2026-11-24").text
    assert [link.split(" ", 1)[1] for link in event_links(column(alice, "2026-11-24"))] == [
        "Title pub , Work",
        "Title conf , Work",
        "Title priv , Work",
    ]
    # carol sees nothing of alice's
    carol = page(world, session_of(world, "carol"), "view=day&date=2026-11-24").text
    assert "Title" not in carol and "Busy" not in carol


def test_group_calendars_are_layered_with_the_others(world: WSGIClient, engine: Any) -> None:
    manage.create_group(engine, "staff", admin="alice")
    manage.add_member(engine, "staff", "bob")
    manage.accept(engine, "staff", "bob")
    calendars.create(Storage(world.configuration), "@staff/board", "Board")
    put(
        world,
        "/@staff/board/m.ics",
        event_ics("m", "20261124T090000Z", "20261124T100000Z", "Board meeting"),
    )
    html = page(world, session_of(world, "bob"), "view=day&date=2026-11-24").text
    assert "Group calendars" in html and event_links(column(html, "2026-11-24")) == [
        "09:00\u201310:00 Board meeting , Board"
    ]


def test_show_hide_is_kept_and_only_this_calendar(world: WSGIClient) -> None:
    put(
        world,
        "/alice/work/w.ics",
        event_ics("w", "20261124T150000Z", "20261124T160000Z", "Work thing"),
    )
    put(
        world,
        "/alice/home/h.ics",
        event_ics("h", "20261124T170000Z", "20261124T180000Z", "Home thing"),
    )
    session = session_of(world)
    both = page(world, session, "view=day&date=2026-11-24").text
    assert "Work thing" in both and "Home thing" in both
    assert 'name="cal" value="alice/work" id="cal-' in both and " checked" in both
    # the form: only Home ticked
    chosen = page(world, session, "view=day&date=2026-11-24&shown=1&cal=alice%2Fhome")
    assert "Home thing" in chosen.text and "Work thing" not in chosen.text
    line = chosen.headers["set-cookie"]
    assert line.startswith("calserver_hidden=" + agenda.calendar_key("alice/work"))
    assert "HttpOnly" in line and "Max-Age=31536000" in line
    kept = line.split(";", 1)[0]
    again = page(
        world, "", "view=day&date=2026-11-24", Cookie=f"calserver_session={session}; {kept}"
    )
    assert "Home thing" in again.text and "Work thing" not in again.text
    # only this calendar, whatever is kept; links keep it
    only = page(world, session, "view=day&date=2026-11-24&only=alice%2Fwork").text
    assert "Work thing" in only and "Home thing" not in only
    assert "only=alice%2Fwork" in re.search(
        r'rel="next"[^>]*>|href="[^"]*" rel="next"', only
    ).group(0)
    assert "Show all calendars" in only
    assert get(world, "/.web/calendar?only=bob%2Fwork", session).status == 404
    # ticking everything deletes the cookie
    every = page(world, session, "shown=1&cal=alice%2Fhome&cal=alice%2Fwork")
    assert "Max-Age=0" in every.headers["set-cookie"]


def test_at_most_five_events_side_by_side_then_more(world: WSGIClient) -> None:
    for n in range(7):
        put(
            world,
            f"/alice/work/o{n}.ics",
            event_ics(f"o{n}", "20261124T150000Z", f"20261124T1{6 + n % 2}0000Z", f"Overlap {n}"),
        )
    put(
        world,
        "/alice/work/alone.ics",
        event_ics("alone", "20261124T200000Z", "20261124T210000Z", "Alone"),
    )
    html = page(world, session_of(world), "view=week&date=2026-11-24").text
    day = column(html, "2026-11-24")
    assert len(event_links(day)) == 6  # five of the seven, and the one after
    assert re.search(
        r'<a class="more r-41 s-\d+ l6-5" href="[^"]*view=day&amp;date=2026-11-24#day-list">'
        r'\+2<span class="more-word"> more</span>',
        day,
    )
    assert len(re.findall(r'class="ev [^"]* l6-[0-4]"', day)) == 5
    assert re.search(r'class="ev [^"]* r-61 s-4 l1-0"', day)  # 15:00 New York, alone
    # the day view lists all seven below its grid
    whole = page(world, session_of(world), "view=day&date=2026-11-24").text
    listing = whole.split('id="day-list"', 1)[1]
    assert len(event_links(listing)) == 8


def test_a_week_reads_only_the_week(
    world: WSGIClient, engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    put(
        world,
        "/alice/work/near.ics",
        event_ics("near", "20261124T150000Z", "20261124T160000Z", "Near"),
    )
    put(
        world,
        "/alice/work/far.ics",
        event_ics("far", "20300610T150000Z", "20300610T160000Z", "Far away"),
    )
    # the far item's text no longer parses: had a page read it, its expansion would log
    with engine.begin() as conn:
        conn.execute(
            update(items).where(items.c.href == "far.ics").values(text="BEGIN:VCALENDAR\r\nbroken")
        )
    session = session_of(world)
    caplog.set_level(logging.DEBUG, logger="calserver.ical.occurrences")
    caplog.clear()  # only what the pages log (the PUTs above may be logged too)

    def parsed() -> bool:
        return any(
            "far.ics" in record.getMessage()
            for record in caplog.records
            if record.name == "calserver.ical.occurrences"
        )

    html = page(world, session, "view=week&date=2026-11-24").text
    assert "Near" in html and "Far away" not in html
    assert not parsed()
    page(world, session, "view=month&date=2030-06-10")  # the test can fail: this reads it
    assert parsed()


@pytest.mark.parametrize(
    "query",
    [
        "date=2026-13-01",
        "date=tomorrow",
        "date=20261124",
        "date=0001-01-01",
        "view=year",
        "view=week&date=2026-02-30",
        "date=9999-12-31",
    ],
)
def test_bad_parameters_are_400(world: WSGIClient, query: str) -> None:
    answer = get(world, "/.web/calendar?" + query, session_of(world))
    assert answer.status == 400, answer.text
    assert "date must" in answer.text or "view must" in answer.text


def test_the_colour_stylesheet(world: WSGIClient, engine: Any) -> None:
    put(
        world,
        "/alice/work/c.ics",
        event_ics("c", "20261124T150000Z", "20261124T160000Z", "Coloured"),
    )
    eventcolours.set_colour(engine, "alice", "alice/work", "c", "#00AA55")
    session = session_of(world)
    sheet = get(world, "/.web/colours.css", session)
    assert sheet.status == 200
    assert sheet.headers["content-type"] == "text/css; charset=utf-8"
    assert sheet.headers["cache-control"] == "private, no-cache"
    work, home = agenda.calendar_key("alice/work"), agenda.calendar_key("alice/home")
    assert f".cal-{work} {{ --cal: #1f5fa8; --cal-ink: #fff; }}" in sheet.text
    assert f".cal-{home} {{ --cal: #ffd600; --cal-ink: #000; }}" in sheet.text
    assert ".ec-00aa55 { --cal: #00aa55;" in sheet.text
    assert sheet.text.index(".ec-00aa55") > sheet.text.index(f".cal-{home}")
    unchanged = get(world, "/.web/colours.css", session, **{"If-None-Match": sheet.headers["etag"]})
    assert unchanged.status == 304 and unchanged.body == b""
    # the event wears its colour for alice, not for bob who reads the calendar
    html = page(world, session, "view=day&date=2026-11-24").text
    assert f'class="ev cal-{work} ec-00aa55 ' in html
    manage.share(engine, "alice/work", "bob", "read", actor="alice")
    bob_sheet = get(world, "/.web/colours.css", session_of(world, "bob")).text
    assert "ec-00aa55" not in bob_sheet and f".cal-{work}" in bob_sheet
    bob = page(world, session_of(world, "bob"), "view=day&date=2026-11-24").text
    assert "ec-00aa55" not in bob and "Coloured" in bob
    # pages stay uncached
    assert page(world, session, "").headers["cache-control"] == "no-store"
    assert get(world, "/.web/colours.css").status == 303


def test_an_other_calendar_is_layered_as_a_busy_view(world: WSGIClient, engine: Any) -> None:
    put(
        world,
        "/alice/work/o.ics",
        event_ics("o", "20261124T090000Z", "20261124T100000Z", "Offsite"),
    )
    manage.create_group(engine, "staff", admin="alice")
    manage.add_member(engine, "staff", "bob")
    manage.accept(engine, "staff", "bob")
    manage.add_other_calendar(engine, "bob", "alice/work")
    seen = agenda.calendars(Storage(world.configuration), "bob")
    assert [(c.path, c.target, c.kind, c.level.label) for c in seen] == [
        ("bob/alice~work", "alice/work", "other", "busy")
    ]
    html = page(world, session_of(world, "bob"), "view=day&date=2026-11-24").text
    assert "Other calendars" in html and "(busy only)" in html
    assert event_links(column(html, "2026-11-24")) == ["09:00\u201310:00 Busy , Work"]
    assert "Offsite" not in html


def test_the_pages_fit_together_notices_colours_and_the_current_section(
    world: WSGIClient,
) -> None:
    """Between the pages (issue 14): the calendar shows the notice of a deleted event
    (and no text from the URL); the management pages give each calendar the class of
    /.web/colours.css the calendar page gives it; the main navigation marks the section
    of pages that are not in it (an event's form: Calendar; a sharing page: Calendars)."""
    session = session_of(world)
    html = page(world, session, "done=deleted").text
    assert '<p class="notice" role="status">The event was deleted.</p>' in html
    assert 'class="notice"' not in page(world, session, "done=%3Cb%3Eowned%3C%2Fb%3E").text
    swatch = f"swatch cal-{agenda.calendar_key('alice/work')}"
    for path in ("/.web/calendars", "/.web/feeds", "/.web/calendar"):
        shown = get(world, path, session)
        assert shown.status == 200 and swatch in shown.text, path
        assert 'href="/.web/colours.css"' in shown.text, path

    def current(path: str) -> str:
        text = get(world, path, session).text
        nav = text.partition('<nav aria-label="Main">')[2].partition("</nav>")[0]
        found = re.findall(r'<a href="/\.web(/[a-z]*)" aria-current="page"', nav)
        assert len(found) == 1, (path, found)
        return found[0]

    assert current("/.web/event/new") == "/calendar"
    assert current("/.web/calendar/sharing?cal=alice/work") == "/calendars"
    assert current("/.web/settings") == "/settings"
