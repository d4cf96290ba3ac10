"""No input hangs the server (issue 12, item 5): every recurrence is bounded.

Against a live server on SQLite and PostgreSQL:

- a PUT of a series that every evaluation would walk without end (an overridden
  instance with a rule of its own, a rule that never occurs or whose COUNT takes
  millennia, BYSETPOS in hourly and daily rules), of ``FREQ=SECONDLY`` / ``MINUTELY``
  or BYxxx lists that amount to it, and of RDATE, EXDATE and override floods gets a
  400 that says why, stores nothing, and leaves the server serving everyone;
- such a series stored before these rules (written into the database here) is
  evaluated as its first instance only: time-range queries, ``expand``, free-busy,
  the outbox free/busy look-up and the feeds answer for the rest of its calendar;
- a PUT computes its time index before it takes the write lock: while one PUT of a
  large accepted object is being indexed, another user's PUT is stored.

Every request has a timeout; no test asserts a duration. On the code before these
rules the PUTs and queries below never answer (dateutil looks for an instance up to
the year 9999), or store what every later query walks.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import delete, func, select, update

from calserver import calendars, db
from calserver.db.models import instances, items
from calserver.errors import InvalidInput
from calserver.ical.timeindex import TIMESTAMP_MAX
from calserver.storage import Storage
from tests.conftest import PASSWORD, LiveServer, WSGIClient, run_cli
from tests.e2e_support import module_server_with

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
XML = {"Content-Type": "application/xml; charset=utf-8"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
#: Seconds a request may take before the server counts as hung.
TIMEOUT = 30


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from module_server_with(request, tmp_path_factory, ["alice", "bob", "carol"])


def call(
    server: LiveServer,
    method: str,
    path: str,
    body: str = "",
    headers: dict[str, str] | None = None,
    user: str = "alice",
) -> requests.Response:
    return requests.request(
        method,
        server.url + path,
        data=body.encode("utf-8"),
        headers=headers,
        auth=(user, PASSWORD),
        timeout=TIMEOUT,
    )


def new_calendar(server: LiveServer, user: str = "alice") -> str:
    path = f"/{user}/{uuid.uuid4().hex[:12]}/"
    assert call(server, "MKCALENDAR", path, user=user).status_code == 201
    return path


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def vevent(uid: str, start: str, extra: str = "", recurrence_id: str = "") -> str:
    rid = f"RECURRENCE-ID:{recurrence_id}\r\n" if recurrence_id else ""
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{rid}DTSTART:{start}\r\n"
        f"DURATION:PT1H\r\nSUMMARY:{uid}\r\n{extra}END:VEVENT\r\n"
    )


def calendar(*components: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//bounds//EN\r\n"
        + "".join(components)
        + "END:VCALENDAR\r\n"
    )


def event(uid: str, start: str = "20260105T100000Z", extra: str = "") -> str:
    return calendar(vevent(uid, start, extra))


def members(server: LiveServer, path: str) -> set[str]:
    body = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
    answer = call(server, "PROPFIND", path, body, {**XML, "Depth": "1"})
    assert answer.status_code == 207, answer.text
    root = ET.fromstring(answer.content)
    return {r.findtext(f"{DAV}href") or "" for r in root.iter(f"{DAV}response")} - {path}


def others_still_write(server: LiveServer, user: str = "bob") -> None:
    """Another user's PUT is stored: nobody holds the write lock."""
    cal = new_calendar(server, user)
    answer = call(server, "PUT", cal + "ok.ics", event("ok"), ICS, user=user)
    assert answer.status_code == 201, answer.text


def dates(name: str, count: int, step: dt.timedelta, period: bool = False) -> str:
    first = dt.datetime(2026, 1, 5, 10)
    values = ",".join(
        stamp(first + i * step) + ("/PT1H" if period else "") for i in range(1, count + 1)
    )
    value = ";VALUE=PERIOD" if period else ""
    return f"{name}{value}:{values}\r\n"


def overrides(uid: str, count: int) -> str:
    first = dt.datetime(2026, 1, 5, 10)
    return "".join(
        vevent(
            uid,
            stamp(first + dt.timedelta(days=i, hours=1)),
            "",
            stamp(first + dt.timedelta(days=i)),
        )
        for i in range(1, count + 1)
    )


DAILY = "RRULE:FREQ=DAILY\r\n"

#: name -> (resource, what the 400 says)
REFUSED = {
    "override-with-an-endless-rule": (
        calendar(
            vevent("o", "20260105T100000Z", DAILY),
            vevent("o", "20260106T110000Z", DAILY, "20260106T100000Z"),
        ),
        "RECURRENCE-ID",
    ),
    "override-with-dates": (
        calendar(
            vevent("o", "20260105T100000Z", DAILY),
            vevent("o", "20260106T110000Z", "RDATE:20260201T100000Z\r\n", "20260106T100000Z"),
        ),
        "RECURRENCE-ID",
    ),
    "bysetpos-beyond-the-month": (
        event("n", extra="RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6\r\n"),
        "no instance",
    ),
    "daily-bysetpos-with-count": (
        event("n", extra="RRULE:FREQ=DAILY;COUNT=3;BYSETPOS=2\r\n"),
        "BYSETPOS",
    ),
    "hourly-bysetpos": (event("n", extra="RRULE:FREQ=HOURLY;BYSETPOS=2\r\n"), "BYSETPOS"),
    "interval-that-misses-every-leap-day": (
        event("n", "20250105T100000Z", "RRULE:FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29\r\n"),
        "no instance",
    ),
    "weekly-interval-that-misses-its-day": (
        event("n", extra="RRULE:FREQ=DAILY;INTERVAL=7;BYDAY=TU\r\n"),
        "no instance",
    ),
    "count-over-millennia": (
        event("n", extra="RRULE:FREQ=DAILY;COUNT=1000;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO\r\n"),
        "COUNT",
    ),
    "secondly": (event("n", extra="RRULE:FREQ=SECONDLY\r\n"), "FREQ=SECONDLY"),
    "minutely": (event("n", extra="RRULE:FREQ=MINUTELY;INTERVAL=5;COUNT=100\r\n"), "FREQ=MINUTELY"),
    "byxxx-lists-amounting-to-minutely": (
        event(
            "n",
            extra="RRULE:FREQ=YEARLY;BYHOUR="
            + ",".join(map(str, range(24)))
            + ";BYMINUTE="
            + ",".join(map(str, range(60)))
            + "\r\n",
        ),
        "instances a day",
    ),
    "rdate-flood": (
        event("n", extra=dates("RDATE", 20_001, dt.timedelta(hours=1))),
        "RDATE",
    ),
    "rdate-period-flood": (
        event("n", extra=dates("RDATE", 20_001, dt.timedelta(hours=2), period=True)),
        "RDATE",
    ),
    "exdate-flood": (
        event("n", extra=DAILY + dates("EXDATE", 20_001, dt.timedelta(days=1))),
        "EXDATE",
    ),
    "override-flood": (
        calendar(vevent("o", "20260105T100000Z", DAILY), overrides("o", 1001)),
        "overridden",
    ),
}


@pytest.mark.live
@pytest.mark.timeout(180)
@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_unbounded_series_is_refused_at_put_and_locks_no_one_out(
    server: LiveServer, case: str
) -> None:
    text, reason = REFUSED[case]
    cal = new_calendar(server)
    answer = call(server, "PUT", cal + "series.ics", text, ICS)
    assert answer.status_code == 400, answer.text[:300]
    assert reason in answer.text
    # RFC 4791 5.3.2.1: the precondition, with the reason in words
    root = ET.fromstring(answer.content)
    assert root.tag == f"{DAV}error"
    assert root.find(f"{CALDAV}valid-calendar-object-resource") is not None
    assert members(server, cal) == set()
    others_still_write(server)


ACCEPTED = {
    "leap-day": "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29\r\n",
    "leap-monday-every-28-years": "RRULE:FREQ=DAILY;COUNT=3;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO\r\n",
    "last-weekday-of-the-month": "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1\r\n",
    "hourly": "RRULE:FREQ=HOURLY;INTERVAL=2\r\n",
    "every-quarter-hour-of-office-hours": "RRULE:FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;"
    "BYMINUTE=0,15,30,45\r\n",
    "thousand-dates": dates("RDATE", 1000, dt.timedelta(days=1)),
}


@pytest.mark.live
@pytest.mark.timeout(180)
def test_rare_and_dense_but_bounded_series_are_stored(server: LiveServer) -> None:
    cal = new_calendar(server)
    for uid, rule in ACCEPTED.items():
        answer = call(server, "PUT", f"{cal}{uid}.ics", event(uid, extra=rule), ICS)
        assert answer.status_code == 201, (uid, answer.text)
    assert len(members(server, cal)) == len(ACCEPTED)


# --- series stored before the rules: evaluated as their first instance -------------------

#: name -> the rule of a series a PUT refuses today, written into the database
STORED = {
    "never-occurring": "FREQ=DAILY;BYSETPOS=2",
    "hourly-never-occurring": "FREQ=HOURLY;BYSETPOS=2",
    "secondly": "FREQ=SECONDLY",
    "override-with-an-endless-rule": "",
}

WEEK = ("20270104T000000Z", "20270111T000000Z")
#: Whose calendars hold these series: their free/busy holds nothing else in WEEK.
USER = "carol"


def store_directly(server: LiveServer, cal: str, case: str) -> None:
    """Write the series of ``case`` into ``cal`` past the PUT checks (as data from
    before them would be): PUT a harmless stand-in, then change its text, and make
    every window after its start a candidate for evaluation (no indexed instances)."""
    placeholder = "RRULE:FREQ=DAILY;COUNT=2\r\n"
    if case == "override-with-an-endless-rule":
        text = calendar(
            vevent("legacy", "20260105T100000Z", placeholder),
            vevent("legacy", "20260106T110000Z", "", "20260106T100000Z"),
        )
    else:
        text = event("legacy", extra=placeholder)
    assert call(server, "PUT", cal + "legacy.ics", text, ICS, user=USER).status_code == 201
    if case == "override-with-an-endless-rule":
        stored = text.replace(placeholder, "").replace(
            "RECURRENCE-ID:20260106T100000Z\r\n", "RECURRENCE-ID:20260106T100000Z\r\n" + DAILY
        )
    else:
        stored = text.replace(placeholder, f"RRULE:{STORED[case]}\r\n")
    engine = db.get_engine(server.database_url)
    with engine.begin() as conn:
        item_id = conn.execute(  # the one just stored
            select(func.max(items.c.id)).where(items.c.uid == "legacy")
        ).scalar_one()
        conn.execute(delete(instances).where(instances.c.item_id == item_id))
        conn.execute(
            update(items)
            .where(items.c.id == item_id)
            .values(text=stored, end_ts=TIMESTAMP_MAX, indexed_until=items.c.start_ts + 1)
        )


def query(window: tuple[str, str], expand: bool = False) -> str:
    data = f'<C:expand start="{window[0]}" end="{window[1]}"/>' if expand else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:prop><D:getetag/><C:calendar-data>{data}</C:calendar-data></D:prop>"
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{window[0]}" end="{window[1]}"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


def free_busy(window: tuple[str, str]) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f'<C:time-range start="{window[0]}" end="{window[1]}"/></C:free-busy-query>'
    )


def outbox_free_busy(window: tuple[str, str]) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//bounds//EN\r\n"
        "METHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\nUID:fb\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{window[0]}\r\nDTEND:{window[1]}\r\n"
        "ORGANIZER:mailto:carol@example.org\r\nATTENDEE:mailto:carol@example.org\r\n"
        "END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )


def hrefs(answer: requests.Response) -> set[str]:
    assert answer.status_code == 207, (answer.status_code, answer.text[:300])
    root = ET.fromstring(answer.content)
    return {r.findtext(f"{DAV}href") or "" for r in root.iter(f"{DAV}response")}


@pytest.mark.live
@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", list(STORED), ids=list(STORED))
def test_stored_unbounded_series_breaks_nothing_else_in_its_calendar(
    server: LiveServer, case: str
) -> None:
    cal = new_calendar(server, USER)
    store_directly(server, cal, case)
    ordinary = "20270105T090000Z"
    assert (
        call(
            server, "PUT", cal + "meeting.ics", event("meeting", ordinary), ICS, user=USER
        ).status_code
        == 201
    )

    # calendar-query with a time-range, and with expand
    assert hrefs(call(server, "REPORT", cal, query(WEEK), {**XML, "Depth": "1"}, USER)) == {
        cal + "meeting.ics"
    }
    expanded = call(server, "REPORT", cal, query(WEEK, expand=True), {**XML, "Depth": "1"}, USER)
    assert hrefs(expanded) == {cal + "meeting.ics"}
    # the series is its first instance: in its first week, and only there
    first = ("20260105T000000Z", "20260112T000000Z")
    assert cal + "legacy.ics" in hrefs(
        call(server, "REPORT", cal, query(first, expand=True), {**XML, "Depth": "1"}, USER)
    )
    # free-busy over the calendar and through the outbox (RFC 6638 5)
    busy = call(server, "REPORT", cal, free_busy(WEEK), {**XML, "Depth": "1"}, USER)
    assert busy.status_code == 200, busy.text[:300]
    assert "20270105T090000Z" in busy.text
    looked_up = call(server, "POST", f"/{USER}/outbox/", outbox_free_busy(WEEK), ICS, USER)
    assert looked_up.status_code == 200, looked_up.text[:300]
    assert "20270105T090000Z" in looked_up.text
    # feeds: calendar.ics expanded around now, and the RSS feeds
    feed = call(
        server, "GET", f"/.feeds{cal}calendar.ics?utc=1&past_days=365&future_days=365", user=USER
    )
    assert feed.status_code == 200, feed.text[:300]
    assert "UID:meeting" in feed.text
    for kind in ("today", "30days"):
        rss = call(server, "GET", f"/.feeds{cal}{kind}.rss", user=USER)
        assert rss.status_code == 200, rss.text[:300]
    others_still_write(server, "alice")
    # calserver check names it
    report = run_cli(server.database_url, server.data_folder, "check")
    assert report.returncode == 1
    assert "'legacy.ics'" in report.stdout and "first instance only" in report.stdout


# --- no computing under the write lock ------------------------------------------------------


#: A rule whose instances are 28 years apart (a leap day that is a Monday), from the year
#: 100: accepted (its first instance is near), and its time index walks every day of
#: two thousand years up to the index horizon, about a second of dateutil per series.
SLOW_TO_INDEX = "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO\r\n"


@pytest.mark.live
@pytest.mark.timeout(300)
def test_a_put_that_takes_long_to_index_does_not_hold_the_write_lock(server: LiveServer) -> None:
    """Alice PUTs a whole calendar of series that take long to index; once her request
    is being worked on, bob PUTs an event. Indexing before the write lock is taken, the
    server stores bob's event while alice's calendar is still being indexed: bob's
    answer comes first. Indexing under the lock, bob waits for all of alice's work.
    SQLite only: it has one writer at a time; PostgreSQL writers of two calendars take
    two advisory locks and never wait for each other."""
    if not server.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL writers of different calendars do not share a lock")
    heavy = calendar(
        *(vevent(f"slow{n}", f"0100010{n % 8 + 1}T100000Z", SLOW_TO_INDEX) for n in range(10))
    )
    alice_cal = f"/alice/{uuid.uuid4().hex[:12]}/"
    bob_cal = new_calendar(server, "bob")
    finished: list[str] = []
    answers: dict[str, int] = {}

    def alice() -> None:
        answer = requests.put(
            server.url + alice_cal, data=heavy, headers=ICS, auth=("alice", PASSWORD), timeout=240
        )
        answers["alice"] = answer.status_code
        finished.append("alice")

    thread = threading.Thread(target=alice)
    thread.start()
    time.sleep(1)  # alice's request is in the server (parsed in well under a second)
    answer = call(server, "PUT", bob_cal + "quick.ics", event("quick"), ICS, user="bob")
    assert answer.status_code == 201, answer.text
    finished.append("bob")
    thread.join(240)
    assert answers.get("alice") == 201
    assert finished == ["bob", "alice"]
    assert len(members(server, alice_cal)) == 10


# --- the deadline of one evaluation ----------------------------------------------------------


def test_an_evaluation_past_its_deadline_ends_the_series(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the rules let through, walking one series stops at its deadline (here
    one already past): the series ends there instead of holding the request."""
    from dateutil import rrule

    from calserver.ical import timeindex

    series = rrule.rruleset()
    series.rrule(rrule.rrule(rrule.HOURLY, dtstart=dt.datetime(2026, 1, 5, 10)))
    assert len(list(timeindex.CappedRecurrence(series, 5000))) == 5000
    monkeypatch.setattr(timeindex, "EVALUATION_SECONDS", -1.0)
    assert len(list(timeindex.CappedRecurrence(series, 5000))) < 5000


# --- import ------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_an_override_with_an_endless_rule_of_its_own_does_not_hang_an_import(
    client: WSGIClient, configuration: Any, engine: Any
) -> None:
    """``calserver import`` indexed the override's own series up to the year 9999
    (three million instance rows); it is one instance, or the event is refused."""
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    storage = Storage(configuration)
    text = calendar(
        vevent("override", "20260105T100000Z", DAILY),
        vevent("override", "20260106T110000Z", DAILY, "20260106T100000Z"),
    )
    try:
        calendars.import_file(storage, "alice/cal", text)
    except InvalidInput:
        return  # refused: the rules of a PUT
    with engine.connect() as conn:
        indexed = conn.execute(
            select(func.count())
            .select_from(instances)
            .join(items, items.c.id == instances.c.item_id)
            .where(items.c.uid == "override")
        ).scalar_one()
    assert 0 < indexed <= storage.index_max_instances + 1
