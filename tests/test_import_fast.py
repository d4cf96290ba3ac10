"""The import's fast paths (``calserver.ical.fastrow``, ``calendars._one_walk_row``)
give the rows of the general path (vobject, dateutil ``tzical``, two walks), row for
row, on a varied file: the benchmark's events (series with overrides and EXDATEs,
all-day, three zones), floating and UTC times, a zone that is not IANA's, a VTIMEZONE
whose rules differ from the IANA zone of its name, DST gaps and overlaps, years the
client's VTIMEZONE does not cover, tasks, endless series, and items that are refused
(with the same words) or repaired (Radicale's quirks) today."""

from __future__ import annotations

from typing import Any

import pytest
import vobject
from benchmarks.dataset import generate
from benchmarks.render import render_vevents
from benchmarks.vtimezones import VTIMEZONES
from sqlalchemy import select

from calserver import calendars
from calserver.db.models import instances, items
from calserver.errors import InvalidInput
from calserver.ical import fastrow, icsfile
from calserver.storage import Storage
from tests.conftest import WSGIClient

HORIZON = 2_000_000_000  # fixed: the index of an endless series depends on it
SETTINGS = calendars.IndexSettings(
    HORIZON, 1000, 10000, 0, frozenset({"VEVENT", "VTODO", "VJOURNAL"})
)

BRUSSELS = VTIMEZONES["Europe/Brussels"]
NEW_YORK = VTIMEZONES["America/New_York"]
#: A zone Windows clients send (not an IANA name): read from its own rules.
WINDOWS = (
    "BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\n"
    "DTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
    "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
    "DTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
    "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)
#: An IANA name whose VTIMEZONE says something else: its own rules count.
FAKE_TOKYO = (
    "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0300\r\n"
    "TZOFFSETTO:+0300\r\nTZNAME:XST\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
)


def _event(uid: str, *lines: str, component: str = "VEVENT") -> str:
    body = "".join(line + "\r\n" for line in lines)
    head = f"BEGIN:{component}\r\nUID:{uid}\r\nDTSTAMP:20250101T000000Z\r\n"
    return f"{head}{body}END:{component}\r\n"


VARIED = [
    _event("utc", "DTSTART:20250310T100000Z", "DTEND:20250310T110000Z", "SUMMARY:utc"),
    _event("floating", "DTSTART:20250310T100000", "DTEND:20250310T120000"),
    _event("floating-alone", "DTSTART:20250311T090000"),
    _event("all-day", "DTSTART;VALUE=DATE:20250312", "DTEND;VALUE=DATE:20250314"),
    _event("all-day-alone", "DTSTART;VALUE=DATE:20250315"),
    _event("date-no-value", "DTSTART:20250316", "DTEND:20250317"),
    _event("week", "DTSTART;TZID=Europe/Brussels:20250310T090000", "DURATION:P1W"),
    _event("zero", "DTSTART;TZID=Europe/Brussels:20250310T090000", "DURATION:PT0S"),
    _event("day-hours", "DTSTART;TZID=America/New_York:20250310T090000", "DURATION:P1DT2H"),
    _event(
        "quirk",  # Lightning: DTEND with DURATION:PT0S (Radicale drops the DURATION)
        "DTSTART;TZID=Europe/Brussels:20250310T090000",
        "DTEND;TZID=Europe/Brussels:20250310T100000",
        "DURATION:PT0S",
    ),
    _event(
        "across-zones",
        "DTSTART;TZID=Europe/Brussels:20250310T090000",
        "DTEND;TZID=America/New_York:20250310T090000",
    ),
    _event(
        "across-dst",
        "DTSTART;TZID=Europe/Brussels:20250329T220000",
        "DTEND;TZID=Europe/Brussels:20250330T100000",
    ),
    _event("gap", "DTSTART;TZID=Europe/Brussels:20250330T023000", "DURATION:PT1H"),
    _event("overlap", "DTSTART;TZID=Europe/Brussels:20251026T023000", "DURATION:PT1H"),
    _event(
        "old-new-york",  # before the VTIMEZONE's rules (2007): its own rules count
        "DTSTART;TZID=America/New_York:19990401T120000",
        "DTEND;TZID=America/New_York:19990401T130000",
    ),
    _event("far", "DTSTART;TZID=Europe/Brussels:20500101T120000", "DURATION:PT1H"),
    _event(
        "windows",
        "DTSTART;TZID=W. Europe Standard Time:20250310T090000",
        "DTEND;TZID=W. Europe Standard Time:20250310T100000",
    ),
    _event(
        "fake-tokyo",
        "DTSTART;TZID=Asia/Tokyo:20250310T090000",
        "DTEND;TZID=Asia/Tokyo:20250310T100000",
    ),
    _event(
        "weekly",
        "DTSTART;TZID=Europe/Brussels:20250303T090000",
        "DTEND;TZID=Europe/Brussels:20250303T100000",
        "RRULE:FREQ=WEEKLY;COUNT=20",
        "EXDATE;TZID=Europe/Brussels:20250317T090000",
    )
    + _event(
        "weekly",
        "RECURRENCE-ID;TZID=Europe/Brussels:20250324T090000",
        "DTSTART;TZID=Europe/Brussels:20250324T140000",
        "DTEND;TZID=Europe/Brussels:20250324T150000",
    ),
    _event(
        "exdate-as-date",  # Evolution: EXDATE a DATE (Radicale converts it)
        "DTSTART;TZID=America/New_York:20250303T090000",
        "DURATION:PT30M",
        "RRULE:FREQ=DAILY;UNTIL=20250320T000000Z",
        "EXDATE;VALUE=DATE:20250305",
    ),
    _event("endless", "DTSTART;TZID=Europe/Brussels:20250303T090000", "RRULE:FREQ=WEEKLY"),
    _event("endless-all-day", "DTSTART;VALUE=DATE:20200101", "RRULE:FREQ=YEARLY"),
    _event(
        "series-into-the-gap",
        "DTSTART;TZID=Europe/Brussels:20250323T023000",
        "DURATION:PT1H",
        "RRULE:FREQ=WEEKLY;COUNT=3",
    ),
    _event("task", "DUE:20250312T170000Z", "DTSTART:20250310T090000Z", component="VTODO"),
    _event("task-alone", "SUMMARY:someday", component="VTODO"),
    _event("journal", "DTSTART;VALUE=DATE:20250310", component="VJOURNAL"),
    _event(
        "created",
        "CREATED:20250101T000000Z",
        "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT",
        "DTSTART:20250310T100000Z",
        "DTEND:20250310T110000Z",
    ),
    _event("uid\\,escaped", "DTSTART:20250310T100000Z", "DTEND:20250310T110000Z", "CLASS:PRIVATE"),
    _event(
        "alarm",
        "DTSTART;TZID=Asia/Tokyo:20250310T090000",
        "DTEND;TZID=Asia/Tokyo:20250310T100000",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "TRIGGER:-PT15M",
        "END:VALARM",
    ),
]

#: Refused today (and so with the fast paths), each with its own words.
REFUSED = [
    _event("backwards", "DTSTART:20250310T100000Z", "DTEND:20250310T090000Z"),
    _event("unknown-zone", "DTSTART;TZID=Mars/Olympus:20250310T100000"),
    _event("bad-date", "DTSTART:20251340T100000Z", "DTEND:20251341T100000Z"),
    _event("bad-created", "CREATED:yesterday", "DTSTART:20250310T100000Z"),
    _event("no-start", "DTEND:20250310T100000Z"),
    _event("mixed", "DTSTART;VALUE=DATE:20250310", "DTEND:20250311T100000Z"),
    _event("mixed-local", "DTSTART:20250310T100000", "DTEND:20250310T110000Z"),
    _event("bad-duration", "DTSTART:20250310T100000Z", "DURATION:soon"),
    _event("too-many", "DTSTART:20250310T100000Z", "RRULE:FREQ=DAILY;COUNT=20000"),
    _event("control", "DTSTART:20250310T100000Z", "SUMMARY:bell\x07"),
]


def _file(components: list[str], zones: list[str]) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n"
        + "".join(zones)
        + "".join(components)
        + "END:VCALENDAR\r\n"
    )


def _varied_file(refused: bool = False) -> str:
    benchmark = "".join(render_vevents(event) for event in generate(300, 7))
    zones = [BRUSSELS, NEW_YORK, VTIMEZONES["Asia/Tokyo"], WINDOWS]
    return _file([*VARIED, benchmark, *(REFUSED if refused else [])], zones)


def _general_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastrow, "plain_event_row", lambda *args: None)
    monkeypatch.setattr(calendars, "_one_walk_row", lambda *args: None)


def _rows(resources: list[icsfile.Resource]) -> tuple[list[Any], list[str]]:
    rows, problems = calendars._rows_of((SETTINGS, "alice/cal", 1, resources))
    for row, _ in rows:
        del row["modified"]
    return rows, problems


def test_fast_rows_are_the_general_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = list(icsfile.split(_varied_file(refused=True)))
    fast, fast_problems = _rows(resources)
    taken = sum(
        fastrow.plain_event_row(r.text, r.skeleton, HORIZON, 1000) is not None for r in resources
    )
    with monkeypatch.context() as patch:
        _general_only(patch)
        general, general_problems = _rows(resources)
    assert fast_problems == general_problems
    assert len(general_problems) == len(REFUSED)
    assert [row for row, _ in fast] == [row for row, _ in general]
    assert [spans for _, spans in fast] == [spans for _, spans in general]
    assert taken > len(resources) // 2  # the fast path did the bulk of the work


def test_a_fake_iana_zone_is_left_to_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asia/Tokyo at +0300 by its VTIMEZONE: not read as the IANA zone (the general
    path reads it with its own VTIMEZONE, ``vobjectzones.scope``)."""
    (resource,) = icsfile.split(_file([VARIED[17]], [FAKE_TOKYO]))
    assert fastrow.plain_event_row(resource.text, resource.skeleton, HORIZON, 1000) is None
    assert calendars._one_walk_row(SETTINGS, "alice/cal", resource) is None
    fast = _rows([resource])
    with monkeypatch.context() as patch:
        _general_only(patch)
        assert _rows([resource]) == fast


def test_gaps_overlaps_and_uncovered_years_take_the_general_path() -> None:
    for uid in ("gap", "overlap", "old-new-york", "far", "windows", "quirk", "task"):
        (event,) = [e for e in VARIED if f"UID:{uid}\r\n" in e]
        (resource,) = icsfile.split(_file([event], [BRUSSELS, NEW_YORK, WINDOWS]))
        assert fastrow.plain_event_row(resource.text, resource.skeleton, HORIZON, 1000) is None


def test_agreeing_years_of_the_benchmark_zones() -> None:
    brussels = fastrow._zone(BRUSSELS.rstrip("\r\n"))
    new_york = fastrow._zone(NEW_YORK.rstrip("\r\n"))
    assert brussels is not None and new_york is not None
    assert set(range(1997, 2038)) <= brussels[1].years
    # the client's VTIMEZONE holds the rules of 2007 on: earlier years are its own
    assert set(range(2008, 2038)) <= new_york[1].years
    assert not {1990, 2000, 2006} & new_york[1].years
    assert fastrow._zone(WINDOWS.rstrip("\r\n")) is None  # not an IANA name


def _stored(engine: Any, collection_path: str) -> list[Any]:
    from calserver.db.models import collections

    with engine.connect() as conn:
        collection_id = conn.execute(
            select(collections.c.id).where(collections.c.path == collection_path)
        ).scalar_one()
        rows = conn.execute(
            select(items).where(items.c.collection_id == collection_id).order_by(items.c.href)
        ).all()
        spans = conn.execute(
            select(items.c.href, instances.c.start_ts, instances.c.end_ts, instances.c.long)
            .join(items, items.c.id == instances.c.item_id)
            .where(instances.c.collection_id == collection_id)
            .order_by(items.c.href, instances.c.start_ts, instances.c.end_ts)
        ).all()
    skip = {"id", "collection_id", "modified"}
    return [
        {key: value for key, value in row._mapping.items() if key not in skip} for row in rows
    ] + [tuple(span) for span in spans]


@pytest.mark.live  # the import's worker processes
def test_import_file_stores_the_same_rows_both_ways(
    client: WSGIClient, configuration: Any, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through ``calendars.import_file`` into the database, split over worker
    processes as a large import is; the refused items are named alike."""
    monkeypatch.setattr(calendars, "PARALLEL_THRESHOLD", 50)
    monkeypatch.setattr(calendars, "PARALLEL_CHUNK", 40)
    monkeypatch.setattr(Storage, "index_horizon", lambda self: HORIZON)
    storage = Storage(configuration)
    for name in ("fast", "general"):
        assert client.request("MKCALENDAR", f"/alice/{name}/").status == 201
    text = _varied_file()
    fast = calendars.import_file(storage, "alice/fast", text)
    with monkeypatch.context() as patch:
        _general_only(patch)
        general = calendars.import_file(storage, "alice/general", text)
        with pytest.raises(InvalidInput) as refused_general:
            calendars.import_file(storage, "alice/general", _varied_file(refused=True))
    with pytest.raises(InvalidInput) as refused_fast:
        calendars.import_file(storage, "alice/fast", _varied_file(refused=True))
    assert fast == general
    assert _stored(engine, "alice/fast") == _stored(engine, "alice/general")
    assert str(refused_fast.value) == str(refused_general.value)


def test_a_zone_another_file_defined_first_does_not_change_the_rows() -> None:
    """vobject keeps one TZID registry per process where the first VTIMEZONE of a name
    wins: a file (anyone's) that defines "W. Europe Standard Time" at +05:00 must not
    move the next file's events in that zone (not IANA's: the general path reads them)."""
    bogus = WINDOWS.replace("+0100", "+0500").replace("+0200", "+0600")
    event = (
        "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20200101T000000Z\r\n"
        "DTSTART;TZID=W. Europe Standard Time:20250310T100000\r\n"
        "DTEND;TZID=W. Europe Standard Time:20250310T110000\r\n{extra}END:VEVENT\r\n"
    )
    single = event.format(uid="single", extra="")
    series = event.format(uid="series", extra="RRULE:FREQ=DAILY;COUNT=3\r\n")
    expected = 1741597200  # 2025-03-10 10:00 at +01:00 is 09:00 UTC
    poison = vobject.readOne(_file([event.format(uid="p", extra="")], [bogus]))
    assert poison.vevent.dtstart.value.utcoffset().total_seconds() == 5 * 3600
    rows, problems = _rows(list(icsfile.split(_file([single, series], [WINDOWS]))))
    assert problems == []
    assert [row["start_ts"] for row, _ in rows] == [expected, expected]
