"""Free/busy per the rules: the availability of an event (calserver.dav.freebusy, on top of
Radicale's free-busy-query) and what each viewer's free/busy answer contains (the
storage's views), against a live server with the ``caldav`` library.

Alice's calendar ``work`` holds, on Monday 2026-11-23 (UTC):

| time  | event                                    | FBTYPE for the owner |
|-------|------------------------------------------|----------------------|
| 08:00 | daily series, 2 occurrences (23rd, 24th) | BUSY                 |
| 09:00 | plain event                              | BUSY                 |
| 10:00 | TRANSP:TRANSPARENT                       | (free)               |
| 11:00 | STATUS:TENTATIVE                         | BUSY-TENTATIVE       |
| 12:00 | X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE     | BUSY-TENTATIVE       |
| 13:00 | X-MICROSOFT-CDO-BUSYSTATUS:OOF           | BUSY-UNAVAILABLE     |
| 14:00 | X-MICROSOFT-CDO-BUSYSTATUS:FREE          | (free)               |
| 15:00 | CLASS:CONFIDENTIAL                       | BUSY                 |
| 16:00 | CLASS:PRIVATE                            | BUSY                 |

and all-day events: the 25th without TRANSP (free by default), the 26th with
TRANSP:OPAQUE (busy), the 27th with X-MICROSOFT-CDO-BUSYSTATUS:OOF (out of office).

Viewers: bob shares a group with alice and has no grant (free/busy only), carol has a
busy-only grant, dave a read grant, erin nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import UTC, datetime

import caldav
import pytest
import vobject
from radicale.app import report as radicale_report

from calserver.dav import freebusy
from tests.conftest import PASSWORD, LiveServer, event_ics
from tests.e2e_support import ENGINES, dav, module_server, send
from tests.test_radicale_compat import global_names

START = datetime(2026, 11, 23, tzinfo=UTC)
END = datetime(2026, 11, 28, tzinfo=UTC)

ALL_DAY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
    "DTSTART;VALUE=DATE:{day}\r\nDTEND;VALUE=DATE:{next_day}\r\nSUMMARY:All day\r\n"
    "{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
)

#: (uid, start hour, extra lines) of the timed events on the 23rd (one hour each).
TIMED = [
    ("plain", 9, ""),
    ("transparent", 10, "TRANSP:TRANSPARENT\r\n"),
    ("tentative", 11, "STATUS:TENTATIVE\r\n"),
    ("outlook-tentative", 12, "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\n"),
    ("out-of-office", 13, "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\n"),
    ("outlook-free", 14, "X-MICROSOFT-CDO-BUSYSTATUS:FREE\r\n"),
    ("confidential", 15, "CLASS:CONFIDENTIAL\r\n"),
    ("private", 16, "CLASS:PRIVATE\r\n"),
]
ALL_DAYS = [
    ("holiday", "20261125", "20261126", ""),
    ("conference", "20261126", "20261127", "TRANSP:OPAQUE\r\n"),
    ("vacation", "20261127", "20261128", "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\n"),
]

#: What every viewer sees of the public events.
PUBLIC = [
    ("BUSY", "20261123T080000Z", "20261123T083000Z"),
    ("BUSY", "20261123T090000Z", "20261123T100000Z"),
    ("BUSY-TENTATIVE", "20261123T110000Z", "20261123T130000Z"),
    ("BUSY-UNAVAILABLE", "20261123T130000Z", "20261123T140000Z"),
    ("BUSY", "20261124T080000Z", "20261124T083000Z"),
    ("BUSY", "20261126T000000Z", "20261127T000000Z"),
    ("BUSY-UNAVAILABLE", "20261127T000000Z", "20261128T000000Z"),
]
CONFIDENTIAL = ("BUSY", "20261123T150000Z", "20261123T160000Z")
CONFIDENTIAL_AND_PRIVATE = ("BUSY", "20261123T150000Z", "20261123T170000Z")


# --- the availability rules, without a server --------------------------------------------


def vevent(lines: str) -> object:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:x\r\n"
        f"DTSTAMP:20261101T000000Z\r\n{lines}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return vobject.readOne(text).vevent


TIMED_START = "DTSTART:20261123T090000Z\r\nDTEND:20261123T100000Z\r\n"
DATE_START = "DTSTART;VALUE=DATE:20261123\r\n"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (TIMED_START, "BUSY"),
        (TIMED_START + "TRANSP:OPAQUE\r\n", "BUSY"),
        (TIMED_START + "TRANSP:TRANSPARENT\r\n", None),
        (TIMED_START + "STATUS:TENTATIVE\r\n", "BUSY-TENTATIVE"),
        (TIMED_START + "STATUS:CANCELLED\r\n", "FREE"),
        (TIMED_START + "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\n", "BUSY-UNAVAILABLE"),
        (TIMED_START + "X-MICROSOFT-CDO-BUSYSTATUS:FREE\r\n", None),
        (TIMED_START + "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\n", "BUSY-TENTATIVE"),
        (TIMED_START + "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\nSTATUS:TENTATIVE\r\n", "BUSY"),
        (TIMED_START + "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\nTRANSP:TRANSPARENT\r\n", None),
        (TIMED_START + "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\nSTATUS:CANCELLED\r\n", "FREE"),
        (DATE_START, None),
        (DATE_START + "TRANSP:OPAQUE\r\n", "BUSY"),
        (DATE_START + "TRANSP:OPAQUE\r\nSTATUS:TENTATIVE\r\n", "BUSY-TENTATIVE"),
        (DATE_START + "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\n", "BUSY-UNAVAILABLE"),
        (DATE_START + "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\n", "BUSY"),
    ],
)
def test_availability_of_an_event(lines: str, expected: str | None) -> None:
    assert freebusy.fbtype(vevent(lines), radicale_report._fbtype_for_component) == expected


def test_radicale_free_busy_hook_is_still_there() -> None:
    """Radicale 3.9.0 asks ``_fbtype_for_component(component)`` by its module name from
    ``freebusy_periods``; calserver wraps that function. Fails when Radicale renames
    it, changes its signature, or stops calling it."""
    freebusy.install()
    freebusy.install()  # idempotent: one wrap
    wrapped = radicale_report._fbtype_for_component
    original = wrapped.__wrapped__  # type: ignore[attr-defined]
    assert getattr(wrapped, "_calserver_freebusy", False)
    assert not getattr(original, "_calserver_freebusy", False)
    assert original.__module__ == "radicale.app.report"
    assert list(inspect.signature(original).parameters) == ["component"]
    assert "_fbtype_for_component" in global_names(radicale_report.freebusy_periods.__code__)
    # and Radicale's own mapping is what calserver builds on
    assert original(vevent(DATE_START)) == "BUSY"
    assert original(vevent(TIMED_START + "STATUS:TENTATIVE\r\n")) == "BUSY-TENTATIVE"


# --- per viewer, against a live server ---------------------------------------------------


def cli(server: LiveServer, *args: str) -> None:
    result = server.cli(*args)
    assert result.returncode == 0, (args, result.stderr)


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    for live in module_server(request, tmp_path_factory):
        for name in ("carol", "dave", "erin"):
            live.add_user(name, PASSWORD)
        work = dav(live, "alice").principal().make_calendar(name="Work", cal_id="work")
        work.add_event(
            event_ics(
                "daily",
                "20261123T080000Z",
                "20261123T083000Z",
                extra="RRULE:FREQ=DAILY;COUNT=2\r\n",
            )
        )
        for uid, hour, extra in TIMED:
            start, end = f"20261123T{hour:02d}0000Z", f"20261123T{hour + 1:02d}0000Z"
            work.add_event(event_ics(uid, start, end, summary=f"Secret {uid}", extra=extra))
        for uid, day, next_day, extra in ALL_DAYS:
            work.add_event(ALL_DAY.format(uid=uid, day=day, next_day=next_day, extra=extra))
        cli(live, "group", "create", "staff", "--admin", "alice")
        cli(live, "group", "add-member", "staff", "bob")
        cli(live, "share", "alice/work", "--with", "carol", "--level", "busy")
        cli(live, "share", "alice/work", "--with", "dave", "--level", "read")
        yield live


def periods(calendar_text: str) -> list[tuple[str, str, str]]:
    """(FBTYPE, start, end) of every FREEBUSY period of a VFREEBUSY answer."""
    found = []
    for line in calendar_text.replace("\r\n ", "").splitlines():
        name, _, value = line.partition(":")
        if not name.upper().startswith("FREEBUSY"):
            continue
        params = dict(p.split("=", 1) for p in name.split(";")[1:])
        for period in value.split(","):
            start, _, end = period.partition("/")
            found.append((params.get("FBTYPE", "BUSY"), start, end))
    return sorted(found, key=lambda p: (p[1], p[0]))


def free_busy(server: LiveServer, user: str, path: str = "/alice/work/") -> list[tuple[str, ...]]:
    calendar = caldav.Calendar(client=dav(server, user), url=server.url + path)
    answer = calendar.freebusy_request(START, END)
    return periods(str(answer.data))


def expected(*extra: tuple[str, str, str]) -> list[tuple[str, ...]]:
    return sorted([*PUBLIC, *extra], key=lambda p: (p[1], p[0]))


@pytest.mark.live
def test_owner_sees_every_busy_block_with_its_availability(server: LiveServer) -> None:
    assert free_busy(server, "alice") == expected(CONFIDENTIAL_AND_PRIVATE)


@pytest.mark.live
def test_group_member_without_grant_sees_public_busy_time_only(server: LiveServer) -> None:
    # "f": free/busy only; the calendar itself stays closed
    assert free_busy(server, "bob") == expected()
    assert send(server, "GET", "/alice/work/plain.ics", user="bob").status in (403, 404)


@pytest.mark.live
def test_busy_only_viewer_never_sees_confidential_or_private(server: LiveServer) -> None:
    assert free_busy(server, "carol") == expected()
    assert free_busy(server, "carol", "/carol/alice~work/") == expected()


@pytest.mark.live
def test_reader_sees_confidential_as_busy_but_never_private(server: LiveServer) -> None:
    assert free_busy(server, "dave") == expected(CONFIDENTIAL)
    assert free_busy(server, "dave", "/dave/alice~work/") == expected(CONFIDENTIAL)


@pytest.mark.live
def test_stranger_gets_no_free_busy(server: LiveServer) -> None:
    body = (
        '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<C:time-range start="20261123T000000Z" end="20261128T000000Z"/></C:free-busy-query>'
    )
    headers = {"Content-Type": "application/xml; charset=utf-8", "Depth": "1"}
    reply = send(server, "REPORT", "/alice/work/", body, headers, user="erin")
    assert reply.status in (403, 404)
    assert "BUSY" not in reply.text


@pytest.mark.live
def test_free_busy_answer_carries_no_event_text(server: LiveServer) -> None:
    body = (
        '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<C:time-range start="20261123T000000Z" end="20261128T000000Z"/></C:free-busy-query>'
    )
    headers = {"Content-Type": "application/xml; charset=utf-8", "Depth": "1"}
    for user in ("bob", "carol", "dave"):
        reply = send(server, "REPORT", "/alice/work/", body, headers, user=user)
        assert reply.status == 200
        assert reply.headers["content-type"].startswith("text/calendar")
        for text in ("Secret", "outlook-free", "confidential", "private"):
            assert text not in reply.text
