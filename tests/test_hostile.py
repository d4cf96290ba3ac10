"""Hostile input against a live server: each gets a clear 4xx (or a bounded answer),
stores nothing half-written and leaves the server serving everyone else.

- ``RRULE:FREQ=SECONDLY``: refused with 400 (``calserver.ical.icsfile.refusal``; series
  stored before that rule stay bounded: tests/test_bounds.py);
- a rule that can never occur (``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30``): dateutil
  would look for its first occurrence until the year 9999: refused with 400;
- XML nested thousands of levels deep: 400 (Radicale's handlers recurse);
- iCalendar components nested deeply: stored or refused, never a 500;
- gigantic content lines, lines with thousands of parameters: 400 (the parser's
  memory grows faster than the line); huge bodies and headers: 413 / 431 before they
  are read;
- slow clients trickling their request a byte per second hold no worker thread.

The requests have timeouts: a server that hangs fails the test; no test asserts a
duration. Server memory (VmHWM) is checked against a generous bound.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import delete, update

from calserver import db
from calserver.db.models import items
from tests.conftest import PASSWORD, LiveServer, run_cli, serve_with_users, start_server

pytestmark = pytest.mark.live

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
AUTH = ("alice", PASSWORD)
XML = {"Content-Type": "application/xml; charset=utf-8"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
#: Peak memory a server process may reach in these tests (it idles at ~100 MiB).
MEMORY_BOUND_KIB = 900 * 1024


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from serve_with_users(request, tmp_path_factory.mktemp("hostile"))


# --- helpers ---------------------------------------------------------------------------


def call(
    server: LiveServer,
    method: str,
    path: str,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> requests.Response:
    """One request as alice; a server that does not answer within ``timeout`` fails."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return requests.request(
        method, server.url + path, data=body, headers=headers, auth=AUTH, timeout=timeout
    )


def new_calendar(server: LiveServer) -> str:
    path = f"/alice/{uuid.uuid4().hex[:12]}/"
    assert call(server, "MKCALENDAR", path).status_code == 201
    return path


def event(uid: str, start: str = "20260105T100000Z", extra: str = "", body: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//hostile//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\n"
        f"DURATION:PT1S\r\nSUMMARY:{uid}\r\n{extra}{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def query(start: str, end: str, expand: tuple[str, str] | None = None, alarm: bool = False) -> str:
    data = f'<C:expand start="{expand[0]}" end="{expand[1]}"/>' if expand else ""
    time_range = f'<C:time-range start="{start}" end="{end}"/>'
    inner = f'<C:comp-filter name="VALARM">{time_range}</C:comp-filter>' if alarm else time_range
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:prop><D:getetag/><C:calendar-data>{data}</C:calendar-data></D:prop>"
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f"{inner}</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


def free_busy(start: str, end: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f'<C:time-range start="{start}" end="{end}"/></C:free-busy-query>'
    )


def report(server: LiveServer, path: str, body: str) -> requests.Response:
    return call(server, "REPORT", path, body, {**XML, "Depth": "1"})


def hrefs(response: requests.Response) -> set[str]:
    assert response.status_code == 207, (response.status_code, response.text[:300])
    root = ET.fromstring(response.content)
    return {r.findtext(f"{DAV}href") or "" for r in root.iter(f"{DAV}response")}


def members(server: LiveServer, path: str) -> set[str]:
    body = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
    answer = call(server, "PROPFIND", path, body, {**XML, "Depth": "1"})
    return hrefs(answer) - {path}


def peak_memory_kib(server: LiveServer) -> int:
    with open(f"/proc/{server.process.pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def still_serving(server: LiveServer) -> None:
    """Another user's ordinary request is answered."""
    body = '<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>'
    answer = requests.request(
        "PROPFIND",
        server.url + "/bob/",
        data=body,
        headers={**XML, "Depth": "0"},
        auth=("bob", PASSWORD),
        timeout=30,
    )
    assert answer.status_code == 207


# --- recurrences ---------------------------------------------------------------------------


def test_secondly_series_is_refused(server: LiveServer) -> None:
    """``FREQ=SECONDLY`` has 31 million instances a year: refused at PUT (a stored one
    is evaluated as its first instance: tests/test_bounds.py)."""
    cal = new_calendar(server)
    alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"
    secondly = event("secondly", "20260101T000000Z", "RRULE:FREQ=SECONDLY\r\n", alarm)
    answer = call(server, "PUT", cal + "secondly.ics", secondly, ICS)
    assert answer.status_code == 400, answer.text
    assert "FREQ=SECONDLY" in answer.text
    assert members(server, cal) == set()
    still_serving(server)
    assert peak_memory_kib(server) < MEMORY_BOUND_KIB


NEVER_OCCURRING = {
    "daily-february-30": "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30\r\n",
    "secondly-april-31": "RRULE:FREQ=SECONDLY;BYMONTH=4;BYMONTHDAY=31\r\n",
    "weekly-until-november-31": "RRULE:FREQ=WEEKLY;UNTIL=20270101T000000Z;BYMONTH=11;"
    "BYMONTHDAY=-31\r\n",
    # an exclusion rule that excludes every occurrence (found by tests/test_fuzz.py)
    "exrule-excluding-everything": "RRULE:FREQ=SECONDLY\r\nEXRULE:FREQ=SECONDLY\r\n",
}


@pytest.mark.parametrize("rule", list(NEVER_OCCURRING.values()), ids=list(NEVER_OCCURRING))
def test_rule_that_can_never_occur_is_refused_at_once(server: LiveServer, rule: str) -> None:
    """dateutil would look for the first occurrence until the year 9999: minutes of CPU
    in Radicale's checks (before any storage sees it) and again at every query."""
    cal = new_calendar(server)
    answer = call(server, "PUT", cal + "never.ics", event("never", extra=rule), ICS, timeout=30)
    assert answer.status_code == 400, answer.text
    assert "can never occur" in answer.text or "EXRULE" in answer.text
    assert members(server, cal) == set()
    # the same rule in a time zone definition (evaluated for every conversion)
    zone = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n"
        "BEGIN:VTIMEZONE\r\nTZID:Nowhere\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
        f"{rule}TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
        "BEGIN:VEVENT\r\nUID:zoned\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART;TZID=Nowhere:20260105T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert call(server, "PUT", cal + "zoned.ics", zone, ICS, timeout=30).status_code == 400
    assert members(server, cal) == set()
    still_serving(server)


def test_times_that_do_not_go_together_are_repaired_and_break_no_query(
    server: LiveServer,
) -> None:
    """DTSTART a DATE and DTEND a DATE-TIME (RFC 5545 3.8.2.2 forbids it) in an endless
    series: Radicale's own checks stop at the first occurrence and accept it, its
    time-range filter then fails on it with a TypeError, so stored as sent it made every
    free-busy look-up and time-range query over the calendar a 500; a floating DTSTART
    with a UTC DTEND did the same to every expand (both found by tests/test_fuzz.py).
    Real clients send such events, so they are stored with DTEND turned into DTSTART's
    type (issue 20, calserver.dav.putrepair), and every query over them answers."""
    cal = new_calendar(server)
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\nBEGIN:VEVENT\r\n"
        "UID:mixed\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260105\r\n"
        "DTEND:20260105T120000Z\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    answer = call(server, "PUT", cal + "mixed.ics", text, ICS)
    assert answer.status_code == 201, answer.text
    stored = call(server, "GET", cal + "mixed.ics", "", {}).text
    assert "DTEND;VALUE=DATE:" in stored and "DTEND:20260105T120000Z" not in stored
    # a floating DTSTART and a UTC DTEND: Radicale's expand subtracted them (TypeError)
    floating = text.replace("DTSTART;VALUE=DATE:20260105", "DTSTART:20260105T100000")
    floating = floating.replace("UID:mixed", "UID:floating")
    assert call(server, "PUT", cal + "floating.ics", floating, ICS).status_code == 201
    stored = call(server, "GET", cal + "floating.ics", "", {}).text
    assert "DTEND:20260105T120000Z" not in stored
    assert call(server, "PUT", cal + "ok.ics", event("ok"), ICS).status_code == 201
    for start, end in (("20260101T000000Z", ""), ("", "20270101T000000Z")):
        attributes = (f'start="{start}" ' if start else "") + (f'end="{end}"' if end else "")
        body = free_busy("", "").replace('start="" end=""', attributes)
        # an endless daily series in an open window: 200, or Radicale's 400 once
        # [reporting] max_freebusy_occurrence is reached; never a 500
        assert report(server, cal, body).status_code in (200, 400)
    year = ("20260101T000000Z", "20270101T000000Z")
    assert report(server, cal, free_busy(*year)).status_code == 200
    everything = {cal + name for name in ("ok.ics", "mixed.ics", "floating.ics")}
    assert hrefs(report(server, cal, query(*year))) == everything
    week = ("20260105T000000Z", "20260112T000000Z")
    expanded = hrefs(report(server, cal, query(*week, expand=week)))
    assert {cal + "mixed.ics", cal + "floating.ics"} <= expanded


def test_control_characters_are_refused_so_every_report_stays_well_formed_xml(
    server: LiveServer,
) -> None:
    """RFC 5545 3.3.11 allows no control character but HTAB in text; XML 1.0 cannot
    carry them: one such event made every calendar-query over its calendar unreadable
    (found by tests/test_fuzz.py)."""
    cal = new_calendar(server)
    for char in ("\x1b", "\x01", "\x0c"):
        answer = call(
            server, "PUT", cal + "ctl.ics", event("ctl", extra=f"DESCRIPTION:a{char}b\r\n"), ICS
        )
        assert answer.status_code == 400, (repr(char), answer.text)
    tab = event("tab", extra="DESCRIPTION:a\tb\r\n")
    assert call(server, "PUT", cal + "tab.ics", tab, ICS).status_code == 201
    answer = report(server, cal, query("20260101T000000Z", "20270101T000000Z"))
    assert hrefs(answer) == {cal + "tab.ics"}  # parses
    # data stored before they were refused: calserver check points at it
    engine = db.get_engine(server.database_url)
    with engine.begin() as conn:
        conn.execute(
            update(items)
            .where(items.c.uid == "tab")
            .values(text=items.c.text + "X-LEGACY:a\x1bb\r\n")
        )
    report_ = run_cli(server.database_url, server.data_folder, "check")
    assert report_.returncode == 1
    assert "'tab.ics'" in report_.stdout and "control character" in report_.stdout
    with engine.begin() as conn:
        conn.execute(delete(items).where(items.c.uid == "tab"))


def test_a_second_rrule_is_refused(server: LiveServer) -> None:
    """Radicale checks the end of the first RRULE only, then lists every occurrence of
    the whole set: ``COUNT=3`` and an endless second rule filled memory without end
    (found by tests/test_fuzz.py). RFC 5545 3.6.1: RRULE SHOULD NOT occur twice."""
    cal = new_calendar(server)
    rules = "RRULE:FREQ=DAILY;COUNT=3\r\nRRULE:FREQ=SECONDLY\r\n"
    answer = call(server, "PUT", cal + "two.ics", event("two", extra=rules), ICS, timeout=30)
    assert answer.status_code == 400, answer.text
    assert "more than one RRULE" in answer.text
    assert members(server, cal) == set()
    still_serving(server)
    assert peak_memory_kib(server) < MEMORY_BOUND_KIB


def test_floating_series_can_be_expanded(server: LiveServer) -> None:
    """A series in floating time (no time zone, RFC 5545 3.3.5) against the UTC window
    of an expand: Radicale compared them and failed with a 500 (found by
    tests/test_fuzz.py); floating times count as UTC, as in Radicale's filter."""
    cal = new_calendar(server)
    text = event("floating", "20260105T100000", "RRULE:FREQ=HOURLY;INTERVAL=5;COUNT=4\r\n")
    assert call(server, "PUT", cal + "floating.ics", text, ICS).status_code == 201
    window = ("20260105T000000Z", "20260106T000000Z")
    answer = report(server, cal, query(*window, expand=window))
    assert hrefs(answer) == {cal + "floating.ics"}
    data = "".join(
        e.text or "" for e in ET.fromstring(answer.content).iter(f"{CALDAV}calendar-data")
    )
    assert data.count("RECURRENCE-ID") == 3  # 10:00, 15:00, 20:00; 01:00 is the next day


def test_rare_but_possible_rules_are_stored(server: LiveServer) -> None:
    cal = new_calendar(server)
    for uid, rule in (
        ("leap-day", "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29\r\n"),
        ("friday-13", "RRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13\r\n"),
        ("week-53", "RRULE:FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO\r\n"),
    ):
        answer = call(server, "PUT", f"{cal}{uid}.ics", event(uid, extra=rule), ICS)
        assert answer.status_code == 201, (uid, answer.text)
    assert len(members(server, cal)) == 3


# --- nesting ----------------------------------------------------------------------------------


def nested_xml(method: str, depth: int) -> str:
    inner = "<D:x>" * depth + "</D:x>" * depth
    if method == "REPORT":
        filters = '<C:comp-filter name="VCALENDAR">' * depth + "</C:comp-filter>" * depth
        return (
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:prop><D:getetag/></D:prop><C:filter>{filters}</C:filter></C:calendar-query>"
        )
    if method == "PROPPATCH":
        return (
            '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
            f"<D:displayname>{inner}</D:displayname></D:prop></D:set></D:propertyupdate>"
        )
    if method == "MKCALENDAR":
        return (
            '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set>'
            f"<D:prop>{inner}</D:prop></D:set></C:mkcalendar>"
        )
    return f'<D:propfind xmlns:D="DAV:"><D:prop>{inner}</D:prop></D:propfind>'


@pytest.mark.parametrize("depth", [1000, 100_000])
@pytest.mark.parametrize("method", ["PROPFIND", "REPORT", "PROPPATCH", "MKCALENDAR"])
def test_deeply_nested_xml_is_400_and_changes_nothing(
    server: LiveServer, method: str, depth: int
) -> None:
    cal = new_calendar(server)
    target = cal if method != "MKCALENDAR" else f"/alice/{uuid.uuid4().hex[:12]}/"
    answer = call(server, method, target, nested_xml(method, depth), {**XML, "Depth": "1"})
    assert answer.status_code == 400, (answer.status_code, answer.text[:200])
    assert "nested" in answer.text
    if method == "MKCALENDAR":
        assert call(server, "GET", target).status_code == 404
    still_serving(server)


def test_moderately_nested_xml_still_gets_an_answer(server: LiveServer) -> None:
    cal = new_calendar(server)
    for method in ("PROPFIND", "REPORT", "PROPPATCH"):
        answer = call(server, method, cal, nested_xml(method, 40), {**XML, "Depth": "1"})
        assert answer.status_code < 500, (method, answer.status_code, answer.text[:200])


@pytest.mark.parametrize("depth", [10, 100, 300, 600, 1000, 20_000])
def test_deeply_nested_icalendar_is_stored_or_refused_never_500(
    server: LiveServer, depth: int
) -> None:
    cal = new_calendar(server)
    nest = "BEGIN:X-NEST\r\n" * depth + "END:X-NEST\r\n" * depth
    answer = call(server, "PUT", cal + "deep.ics", event("deep", body=nest), ICS)
    assert answer.status_code < 500, answer.text[:300]
    if answer.status_code >= 400:
        assert members(server, cal) == set()
    else:
        assert call(server, "GET", cal + "deep.ics").status_code == 200
        assert hrefs(report(server, cal, query("20260105T000000Z", "20260106T000000Z"))) == {
            cal + "deep.ics"
        }
        assert members(server, cal) == {cal + "deep.ics"}
    still_serving(server)


# --- size -----------------------------------------------------------------------------------


def folded(name: str, value: str) -> str:
    text = name + value
    return "\r\n ".join(text[i : i + 74] for i in range(0, len(text), 74)) + "\r\n"


def test_gigantic_lines_and_parameter_floods_are_refused(server: LiveServer) -> None:
    cal = new_calendar(server)
    cases = {
        "two-megabyte-line": event("huge-line", body=folded("DESCRIPTION:", "a" * 2_000_000)),
        "unfolded-two-megabyte-line": event("raw-line", body="X-BLOB:" + "b" * 2_000_000 + "\r\n"),
        "parameter-flood": event("params", body="X-A" + ";P=v" * 200_000 + ":x\r\n"),
        "parameter-value-flood": event("values", body="X-A;P=" + ",v" * 200_000 + ":x\r\n"),
        "a-hundred-and-one-parameters": event("p101", body="X-A" + ";P=v" * 101 + ":x\r\n"),
    }
    for name, body in cases.items():
        answer = call(server, "PUT", f"{cal}{name}.ics", body, ICS)
        assert answer.status_code == 400, (name, answer.status_code, answer.text[:200])
    assert members(server, cal) == set()
    # what real clients send passes: a long description, a few parameters
    fine = event(
        "fine",
        body=folded("DESCRIPTION:", "lorem ipsum " * 20_000)
        + 'ATTENDEE;CN="Doe, Jane";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:'
        "mailto:jane@example.org\r\n",
    )
    assert call(server, "PUT", cal + "fine.ics", fine, ICS).status_code == 201
    assert "lorem ipsum" in call(server, "GET", cal + "fine.ics").text
    still_serving(server)
    assert peak_memory_kib(server) < MEMORY_BOUND_KIB


def raw_exchange(server: LiveServer, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` (and ``body``) on a socket; everything the server answers."""
    parts = urlsplit(server.url)
    answer = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        with contextlib.suppress(OSError):  # the server may answer and close early
            sock.sendall(head + body)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


def basic() -> str:
    return base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def test_huge_body_is_413_before_it_is_sent(server: LiveServer) -> None:
    """[server] max_content_length (100 MB by default): refused from the header alone."""
    cal = new_calendar(server)
    head = (
        f"PUT {cal}huge.ics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic()}\r\n"
        "Content-Type: text/calendar\r\nContent-Length: 200000000\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = raw_exchange(server, head, b"BEGIN:VCALENDAR\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert members(server, cal) == set()
    still_serving(server)


def test_huge_header_is_refused(server: LiveServer) -> None:
    head = (
        f"PROPFIND /alice/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic()}\r\n"
        f"X-Padding: {'p' * 1_000_000}\r\nDepth: 0\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = raw_exchange(server, head)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    assert 400 <= status < 500 or answer == b"", answer[:200]
    still_serving(server)


# --- slow clients ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_thread_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One process, two worker threads ([server] max_connections = 2), SQLite."""
    folder = tmp_path_factory.mktemp("slow")
    server = start_server(
        "sqlite:///" + str(folder / "slow.sqlite"),
        folder / "data",
        "--server-max-connections",
        "2",
    )
    try:
        for name in ("alice", "bob"):
            server.add_user(name)
        yield server
    finally:
        server.stop()


def test_clients_trickling_a_byte_per_second_block_no_one(two_thread_server: LiveServer) -> None:
    """Five clients send their PUT body a byte per second and two send their headers
    that slowly, on a server with two worker threads: everyone else is served while
    they trickle (waitress buffers a request before a thread sees it)."""
    server = two_thread_server
    cal = new_calendar(server)
    parts = urlsplit(server.url)
    done = threading.Event()
    answers: dict[str, bytes] = {}
    finished_sending: list[str] = []

    def trickle(name: str, request: bytes, slow_part: int) -> None:
        with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
            sock.sendall(request[:slow_part])
            position = slow_part
            while not done.is_set() and position < len(request):
                sock.sendall(request[position : position + 1])  # a byte per second
                position += 1
                done.wait(1)
            sock.sendall(request[position:])
            finished_sending.append(name)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            answers[name] = answer

    threads = []
    for n in range(5):
        body = event(f"slow-{n}").encode()
        head = (
            f"PUT {cal}slow-{n}.ics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic()}\r\n"
            f"Content-Type: text/calendar\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        threads.append(threading.Thread(target=trickle, args=(f"body-{n}", head + body, len(head))))
    for n in range(2):
        head = (
            f"PROPFIND /alice/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic()}\r\n"
            "Depth: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ).encode()
        threads.append(threading.Thread(target=trickle, args=(f"head-{n}", head, 10)))
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)  # every slow client has started trickling
        for n in range(12):
            answer = call(server, "PUT", f"{cal}quick-{n}.ics", event(f"quick-{n}"), ICS, 30)
            assert answer.status_code == 201
            still_serving(server)
        # served while every slow client was still sending
        assert finished_sending == []
    finally:
        done.set()
        for thread in threads:
            thread.join(60)
    assert sorted(answers) == sorted([f"body-{n}" for n in range(5)] + ["head-0", "head-1"])
    for name, answer in answers.items():
        expected = b"HTTP/1.1 201" if name.startswith("body") else b"HTTP/1.1 207"
        assert answer.startswith(expected), (name, answer[:200])
    assert len(members(server, cal)) == 17
