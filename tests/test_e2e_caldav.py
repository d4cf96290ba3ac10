"""End to end: the ``caldav`` client (and raw HTTP where a client library would hide the
answer) against a live ``calserver serve`` on 127.0.0.1, one server per engine.

Covers discovery (RFC 6764, RFC 5397, RFC 4791 6), MKCALENDAR and PUT/GET/DELETE with
ETags (RFC 4791 5.3, RFC 9110 13.1), calendar-query time-range and expand over real
client data (RFC 4791 7.8, 9.6.5, 9.9), calendar-multiget (RFC 4791 7.9),
sync-collection (RFC 6578), PROPPATCH, MOVE, whole-collection GET, concurrent writers
and unicode names.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import caldav
import icalendar
import pytest
import recurring_ical_events
from caldav.elements import dav, ical
from caldav.lib.url import URL

from tests.conftest import PASSWORD, LiveServer, start_server
from tests.e2e_support import (
    ENGINES,
    NS,
    calendar_data,
    fixture_text,
    module_server,
    new_calendar,
    path_of,
    prop_text,
    propfind,
    report,
    responses,
    send,
    status_code,
    unique,
    url_path,
)

pytestmark = pytest.mark.live

UTC = dt.UTC


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from module_server(request, tmp_path_factory)


def event_text(
    uid: str, summary: str = "Event", start: str = "20260601T100000Z", end: str = "20260601T110000Z"
) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//e2e//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\n"
        f"DTEND:{end}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def put(
    server: LiveServer,
    path: str,
    text: str,
    headers: dict[str, str] | None = None,
    user: str = "alice",
) -> Any:
    return send(
        server,
        "PUT",
        path,
        text,
        {"Content-Type": "text/calendar; charset=utf-8", **(headers or {})},
        user=user,
    )


def make_calendar(server: LiveServer, user: str = "alice") -> str:
    """A new calendar made with MKCALENDAR by the caldav client; its path."""
    return path_of(new_calendar(server, user).url)


def collection_props(server: LiveServer, path: str) -> dict[str, str | None]:
    root = propfind(server, path, ["CS:getctag", "D:sync-token"])
    return {
        "ctag": prop_text(root, path, "CS:getctag"),
        "sync-token": prop_text(root, path, "D:sync-token"),
    }


def uid_of(text: str) -> str:
    calendar = icalendar.Calendar.from_ical(text)
    uids = {str(c["UID"]) for c in calendar.walk() if c.name in ("VEVENT", "VTODO", "VJOURNAL")}
    assert len(uids) == 1, text
    return uids.pop()


# --- discovery (RFC 6764 / RFC 5397 / RFC 4791 6) ---------------------------------------


@pytest.mark.parametrize("user", ["alice", None], ids=["authenticated", "anonymous"])
@pytest.mark.parametrize("method", ["GET", "PROPFIND"])
def test_rfc6764_well_known_caldav_redirects_to_the_root(
    server: LiveServer, method: str, user: str | None
) -> None:
    reply = send(server, method, "/.well-known/caldav", headers={"Depth": "0"}, user=user)
    assert reply.status == 301
    assert reply.headers["location"] in ("/", server.url + "/")


def test_client_discovers_principal_and_calendar_home_from_the_well_known_url(
    server: LiveServer,
) -> None:
    client = caldav.DAVClient(
        server.url + "/.well-known/caldav", username="alice", password=PASSWORD
    )
    principal = client.principal()
    assert path_of(principal.url) == "/alice/"
    assert path_of(principal.calendar_home_set.url) == "/alice/"


def test_propfind_reports_current_user_principal_and_calendar_home_set(
    server: LiveServer,
) -> None:
    root = propfind(server, "/", ["D:current-user-principal"])
    principal = responses(root)["/"].find(".//D:current-user-principal/D:href", NS)
    assert principal is not None and principal.text == "/alice/"
    root = propfind(server, "/alice/", ["C:calendar-home-set", "D:resourcetype"])
    home = responses(root)["/alice/"].find(".//C:calendar-home-set/D:href", NS)
    assert home is not None and home.text == "/alice/"
    assert responses(root)["/alice/"].find(".//D:resourcetype/D:principal", NS) is not None


def test_calendar_advertises_components_ctag_and_sync_token_that_change_on_write(
    server: LiveServer,
) -> None:
    calendar = new_calendar(server, components=["VEVENT", "VTODO"])
    path = path_of(calendar.url)
    root = propfind(server, path, ["C:supported-calendar-component-set", "D:resourcetype"])
    response = responses(root)[path]
    comps = {
        c.get("name") for c in response.findall(".//C:supported-calendar-component-set/C:comp", NS)
    }
    assert comps == {"VEVENT", "VTODO"}
    assert response.find(".//D:resourcetype/C:calendar", NS) is not None
    assert set(calendar.get_supported_components()) == {"VEVENT", "VTODO"}
    before = collection_props(server, path)
    assert before["ctag"] and before["sync-token"]
    assert put(server, path + "e.ics", event_text(unique("uid"))).status == 201
    after = collection_props(server, path)
    assert after["ctag"] and after["ctag"] != before["ctag"]
    assert after["sync-token"] and after["sync-token"] != before["sync-token"]


def test_calendar_colour_and_order_are_set_by_proppatch_and_read_back(
    server: LiveServer,
) -> None:
    calendar = new_calendar(server)
    path = path_of(calendar.url)
    calendar.set_properties([ical.CalendarColor("#FF8800FF"), ical.CalendarOrder("3")])
    root = propfind(server, path, ["ICAL:calendar-color", "ICAL:calendar-order"])
    assert prop_text(root, path, "ICAL:calendar-color") == "#FF8800FF"
    assert prop_text(root, path, "ICAL:calendar-order") == "3"
    # What a client listing the calendar home sees (Depth 1 on the home).
    root = propfind(server, "/alice/", ["ICAL:calendar-color", "D:displayname"], depth="1")
    assert prop_text(root, path, "ICAL:calendar-color") == "#FF8800FF"
    props = calendar.get_properties([ical.CalendarColor(), ical.CalendarOrder()])
    assert props[ical.CalendarColor.tag] == "#FF8800FF"
    assert props[ical.CalendarOrder.tag] == "3"
    # Changed again, and removed (RFC 4918 9.2 DAV:remove).
    calendar.set_properties([ical.CalendarColor("#00AA00")])
    root = propfind(server, path, ["ICAL:calendar-color", "ICAL:calendar-order"])
    assert prop_text(root, path, "ICAL:calendar-color") == "#00AA00"
    assert prop_text(root, path, "ICAL:calendar-order") == "3"
    body = (
        '<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
        'xmlns:I="http://apple.com/ns/ical/"><D:remove><D:prop><I:calendar-order/></D:prop>'
        "</D:remove></D:propertyupdate>"
    )
    assert send(server, "PROPPATCH", path, body, {"Content-Type": "application/xml"}).status == 207
    root = propfind(server, path, ["ICAL:calendar-color", "ICAL:calendar-order"])
    assert prop_text(root, path, "ICAL:calendar-color") == "#00AA00"
    assert prop_text(root, path, "ICAL:calendar-order") is None


def test_proppatch_displayname_is_stored_and_listed(server: LiveServer) -> None:
    calendar = new_calendar(server)
    path = path_of(calendar.url)
    calendar.set_properties([dav.DisplayName("Familie & Freunde, ü")])
    assert prop_text(propfind(server, path, ["D:displayname"]), path, "D:displayname") == (
        "Familie & Freunde, ü"
    )
    names = {
        path_of(c.url): c.get_display_name()
        for c in caldav.DAVClient(server.url + "/", username="alice", password=PASSWORD)
        .principal()
        .calendars()
    }
    assert names[path] == "Familie & Freunde, ü"


# --- MKCALENDAR, PUT / GET / DELETE with ETags (RFC 4791 5.3, RFC 9110 13.1) --------------


def test_mkcalendar_creates_a_calendar_and_refuses_to_replace_it(server: LiveServer) -> None:
    path = url_path("alice", unique())
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
        "<D:displayname>Arbeit</D:displayname>"
        '<C:supported-calendar-component-set><C:comp name="VEVENT"/>'
        "</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"
    )
    assert send(server, "MKCALENDAR", path, body, {"Content-Type": "application/xml"}).status == 201
    root = propfind(server, path, ["D:displayname", "D:resourcetype"])
    assert prop_text(root, path, "D:displayname") == "Arbeit"
    assert responses(root)[path].find(".//D:resourcetype/C:calendar", NS) is not None
    assert put(server, path + "keep.ics", event_text("keep-me")).status == 201
    # RFC 4791 5.3.1.2: DAV:resource-must-be-null; the existing calendar is untouched.
    again = send(server, "MKCALENDAR", path, body, {"Content-Type": "application/xml"})
    assert 400 <= again.status < 500
    assert send(server, "GET", path + "keep.ics").status == 200


def test_put_get_delete_follow_etag_preconditions(server: LiveServer) -> None:
    path = make_calendar(server) + "meeting.ics"
    # If-Match on a resource that does not exist (RFC 9110 13.1.1) -> 412, nothing made.
    assert put(server, path, event_text("etag-1", "First"), {"If-Match": '"x"'}).status == 412
    assert send(server, "GET", path).status == 404
    created = put(server, path, event_text("etag-1", "First"), {"If-None-Match": "*"})
    assert created.status == 201
    etag = created.headers["etag"]
    got = send(server, "GET", path)
    assert got.status == 200
    assert got.headers["etag"] == etag
    assert got.headers["content-type"].startswith("text/calendar")
    assert uid_of(got.text) == "etag-1"
    # If-None-Match: * on an existing resource (RFC 9110 13.1.2) -> 412, nothing changed.
    assert put(server, path, event_text("etag-1", "Clobber"), {"If-None-Match": "*"}).status == 412
    # If-Match with another ETag (RFC 9110 13.1.1) -> 412, nothing changed.
    wrong = put(server, path, event_text("etag-1", "Clobber"), {"If-Match": '"not-the-etag"'})
    assert wrong.status == 412
    unchanged = send(server, "GET", path)
    assert "SUMMARY:First" in unchanged.text and unchanged.headers["etag"] == etag
    # If-Match with the current ETag replaces it.
    updated = put(server, path, event_text("etag-1", "Second"), {"If-Match": etag})
    assert updated.status in (200, 201, 204)
    new_etag = updated.headers["etag"]
    assert new_etag != etag
    got = send(server, "GET", path)
    assert "SUMMARY:Second" in got.text and got.headers["etag"] == new_etag
    # DELETE with a stale ETag fails; with the current one it deletes.
    assert send(server, "DELETE", path, headers={"If-Match": etag}).status == 412
    assert send(server, "GET", path).status == 200
    assert send(server, "DELETE", path, headers={"If-Match": new_etag}).status in (200, 204)
    assert send(server, "GET", path).status == 404
    assert send(server, "DELETE", path).status == 404


def test_caldav_client_saves_loads_edits_and_deletes_an_event(server: LiveServer) -> None:
    calendar = new_calendar(server)
    event = calendar.add_event(event_text("client-1", "Dentist"))
    loaded = calendar.get_event_by_uid("client-1")
    assert str(loaded.icalendar_component["SUMMARY"]) == "Dentist"
    loaded.icalendar_component["SUMMARY"] = "Dentist (moved)"
    loaded.save()
    assert str(calendar.get_event_by_uid("client-1").icalendar_component["SUMMARY"]) == (
        "Dentist (moved)"
    )
    assert [str(e.icalendar_component["UID"]) for e in calendar.get_events()] == ["client-1"]
    event.delete()
    with pytest.raises(caldav.error.NotFoundError):
        calendar.get_event_by_uid("client-1")
    assert calendar.get_events() == []


# --- calendar-query: time-range over real client data (RFC 4791 7.8, 9.9) ----------------

#: Fixture files of the scenario calendar, one event (series) each.
SCENARIO_FILES = {
    "weekly": "thunderbird-weekly-berlin.ics",  # Tue 10:00 Berlin, COUNT=14, EXDATE, override
    "endless": "thunderbird-endless-weekly.ics",  # Mon 09:00 Berlin, endless, two EXDATEs
    "concert": "apple-newyork-concert.ics",  # 2026-03-05 18:00-19:30 New York
    "birthday": "apple-allday-birthday.ics",  # all-day, yearly since 1990-03-20
    "trip": "apple-allday-trip.ics",  # all-day 2026-02-14 .. 02-17 (exclusive)
    "floating": "thunderbird-floating.ics",  # 2026-03-10 12:00-13:00 floating
    "tokyo": "thunderbird-tokyo.ics",  # 2026-03-06 09:00-10:00 Tokyo
    "overnight": "thunderbird-overnight-berlin.ics",  # 2026-04-10 20:00 .. 04-13 08:00 Berlin
    "conference": "apple-allday-conference.ics",  # all-day 2026-05-01 .. 05-16 (exclusive)
}


@dataclass
class Scenario:
    path: str
    uids: dict[str, str]  # short name -> UID
    names: dict[str, str]  # UID -> short name
    calendars: dict[str, icalendar.Calendar]  # short name -> parsed fixture


def load_scenario(writer: LiveServer) -> Scenario:
    """A calendar holding the fixtures, PUT byte for byte as the clients sent them."""
    path = make_calendar(writer)
    uids: dict[str, str] = {}
    calendars: dict[str, icalendar.Calendar] = {}
    for name, filename in SCENARIO_FILES.items():
        text = fixture_text(filename)
        reply = put(writer, path + filename, text, {"If-None-Match": "*"})
        assert reply.status == 201, (filename, reply.status, reply.text)
        uids[name] = uid_of(text)
        calendars[name] = icalendar.Calendar.from_ical(text)
    return Scenario(path, uids, {v: k for k, v in uids.items()}, calendars)


@pytest.fixture(scope="module", params=["full-index", "thin-index"])
def scenario(request: pytest.FixtureRequest, server: LiveServer) -> Iterator[Scenario]:
    """The scenario calendar, read through ``server``. "thin-index": written by a second
    server process on the same database that indexes at most two instances per series
    and one day ahead, so that queries must also find what the time index leaves out."""
    if request.param == "full-index":
        yield load_scenario(server)
        return
    writer = start_server(
        server.database_url,
        server.data_folder / "thin-index",
        "--storage-index-horizon-days",
        "1",
        "--storage-index-max-instances",
        "2",
    )
    try:
        yield load_scenario(writer)
    finally:
        writer.stop()


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=UTC)


def caldav_time(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar_query(
    start: dt.datetime, end: dt.datetime, expand: bool = False, component: str = "VEVENT"
) -> str:
    span = f'start="{caldav_time(start)}" end="{caldav_time(end)}"'
    data = (
        f"<C:calendar-data><C:expand {span}/></C:calendar-data>"
        if expand
        else ("<C:calendar-data/>")
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:prop><D:getetag/>{data}</D:prop>"
        '<C:filter><C:comp-filter name="VCALENDAR">'
        f'<C:comp-filter name="{component}"><C:time-range {span}/></C:comp-filter>'
        "</C:comp-filter></C:filter></C:calendar-query>"
    )


def query(
    server: LiveServer, path: str, start: dt.datetime, end: dt.datetime, expand: bool = False
) -> dict[str, str]:
    """calendar-query; UID -> calendar-data of every resource found."""
    reply = report(server, path, calendar_query(start, end, expand))
    assert reply.status == 207, reply.text
    found: dict[str, str] = {}
    for href, response in responses(reply.xml()).items():
        assert status_code(response) == 200, href
        data = calendar_data(response)
        found[uid_of(data)] = data
    return found


#: (what it proves, window start, window end, short names expected) -- read off the
#: fixtures' own data; the comment says which instance makes (or does not make) the match.
TIME_RANGE_CASES = [
    ("overridden-instance-found-in-its-new-week", "2026-01-26", "2026-02-02", {"weekly"}),
    # The instance of 01-27 was moved to 01-28 14:00 Berlin: its old day holds nothing.
    ("moved-instance-not-found-on-its-old-day", "2026-01-27", "2026-01-28", set()),
    ("moved-instance-found-at-its-new-time", "2026-01-28T13:00", "2026-01-28T13:30", {"weekly"}),
    ("exdate-week-has-no-instance", "2026-01-19", "2026-01-26", set()),
    ("regular-instance-found", "2026-01-13T09:00", "2026-01-13T09:30", {"weekly"}),
    # 2026-03-31 is after the switch to CEST: 10:00 Berlin = 08:00Z, not 09:00Z.
    ("instance-after-dst-switch-at-utc-plus-2", "2026-03-31T08:30", "2026-03-31T08:45", {"weekly"}),
    ("instance-after-dst-switch-not-at-utc-plus-1", "2026-03-31T09:15", "2026-03-31T09:45", set()),
    ("counted-series-ends-after-last-instance", "2026-04-14", "2026-04-15", set()),
    ("endless-series-three-years-ahead", "2029-02-12", "2029-02-19", {"endless"}),
    # Monday 2029-02-05 09:00 Berlin is an EXDATE; the next Monday is outside the window.
    ("endless-series-exdate-week-three-years-ahead", "2029-02-04T23:00", "2029-02-11T23:00", set()),
    ("endless-series-ten-years-ahead", "2036-02-10T23:00", "2036-02-17T23:00", {"endless"}),
    ("endless-series-exdate-ten-years-ahead", "2036-02-03T23:00", "2036-02-10T23:00", set()),
    # 18:00 New York (EST) = 23:00Z; 09:00 Tokyo = 00:00Z the next day.
    ("two-time-zones-same-utc-hour", "2026-03-06T00:00", "2026-03-06T01:00", {"concert", "tokyo"}),
    ("new-york-local-time-is-not-utc", "2026-03-05T18:00", "2026-03-05T19:30", set()),
    ("tokyo-local-time-is-not-utc", "2026-03-06T09:00", "2026-03-06T10:00", set()),
    # RFC 4791 9.9: without a calendar time zone, floating times are taken as UTC.
    ("floating-time-as-utc", "2026-03-10T12:15", "2026-03-10T12:45", {"floating"}),
    ("window-ending-at-start-does-not-match", "2026-03-10T11:00", "2026-03-10T12:00", set()),
    ("all-day-third-day-matches", "2026-02-16T12:00", "2026-02-16T13:00", {"trip"}),
    ("all-day-dtend-is-exclusive", "2026-02-17T00:00", "2026-02-17T01:00", set()),
    ("all-day-not-before-its-start", "2026-02-13T23:00", "2026-02-14T00:00", set()),
    ("all-day-yearly-series-from-1990", "2026-03-20T10:00", "2026-03-20T11:00", {"birthday"}),
    ("all-day-yearly-series-in-2040", "2040-03-20T10:00", "2040-03-20T11:00", {"birthday"}),
    ("all-day-yearly-series-not-next-day", "2026-03-21T00:00", "2026-03-21T01:00", set()),
    # Started 04-10 20:00 Berlin, ends 04-13 08:00 CEST = 06:00Z.
    ("started-before-window-ends-inside", "2026-04-13T05:00", "2026-04-13T06:30", {"overnight"}),
    ("ended-exactly-at-window-start", "2026-04-13T06:00", "2026-04-13T07:00", set()),
    ("long-all-day-event-covers-window", "2026-05-10", "2026-05-11", {"conference"}),
    (
        "long-all-day-event-ends-inside-window",
        "2026-05-15T12:00",
        "2026-05-20",
        {"conference", "endless"},
    ),
]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [pytest.param(s, e, x, id=name) for name, s, e, x in TIME_RANGE_CASES],
)
def test_time_range_query_returns_exactly_the_events_with_an_instance_in_the_window(
    server: LiveServer, scenario: Scenario, start: str, end: str, expected: set[str]
) -> None:
    found = query(server, scenario.path, ts(start), ts(end))
    assert {scenario.names.get(uid, uid) for uid in found} == expected


def oracle(scenario: Scenario, start: dt.datetime, end: dt.datetime) -> set[str]:
    """Short names of the events that, by their own data, have an instance that overlaps
    [start, end) -- computed by recurring_ical_events, not by the server."""
    return {
        name
        for name, calendar in scenario.calendars.items()
        if recurring_ical_events.of(calendar).between(start, end)
    }


def test_time_range_queries_agree_with_the_event_data_week_by_week(
    server: LiveServer, scenario: Scenario
) -> None:
    windows = [(ts("2025-12-29") + dt.timedelta(weeks=n), dt.timedelta(weeks=1)) for n in range(24)]
    windows += [
        (ts(day), dt.timedelta(days=1))
        for day in (
            "2026-01-27",
            "2026-01-28",
            "2026-02-14",
            "2026-02-17",
            "2026-03-05",
            "2026-03-06",
            "2026-03-20",
            "2029-02-05",
            "2029-02-12",
            "2036-02-04",
            "2036-02-11",
            "2045-03-20",
        )
    ]
    mismatches = []
    for start, length in windows:
        expected = oracle(scenario, start, start + length)
        got = {scenario.names[uid] for uid in query(server, scenario.path, start, start + length)}
        if got != expected:
            mismatches.append((start.isoformat(), length, sorted(got), sorted(expected)))
    assert not mismatches


def test_time_range_returns_the_data_as_stored(server: LiveServer, scenario: Scenario) -> None:
    found = query(server, scenario.path, ts("2026-01-26"), ts("2026-02-02"))
    returned = icalendar.Calendar.from_ical(found[scenario.uids["weekly"]])
    events = [c for c in returned.walk("VEVENT")]
    # The whole resource: the master (with its RRULE and EXDATE) and the override.
    assert len(events) == 2
    master = next(e for e in events if "RECURRENCE-ID" not in e)
    assert "RRULE" in master and "EXDATE" in master
    assert [tz["TZID"] for tz in returned.walk("VTIMEZONE")] == ["Europe/Berlin"]


# --- expand (RFC 4791 9.6.5) --------------------------------------------------------------


def instances(data: str) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(data).walk("VEVENT"))


def test_expand_returns_only_the_instances_inside_the_window_with_recurrence_id(
    server: LiveServer, scenario: Scenario
) -> None:
    start, end = ts("2026-01-01"), ts("2026-02-10")
    found = query(server, scenario.path, start, end, expand=True)
    assert {scenario.names[uid] for uid in found} == {"weekly", "endless"}
    for data in found.values():
        for event in instances(data):
            assert "RRULE" not in event and "EXDATE" not in event
            assert "RECURRENCE-ID" in event
            first = event.decoded("DTSTART")
            last = event.decoded("DTEND")
            assert first < end and last > start, event.to_ical()
    weekly = {
        event.decoded("RECURRENCE-ID").astimezone(UTC): event
        for event in instances(found[scenario.uids["weekly"]])
    }
    # 01-20 is an EXDATE; 01-27 was moved to 01-28 14:00 Berlin (13:00Z).
    assert sorted(weekly) == [
        ts("2026-01-06T09:00"),
        ts("2026-01-13T09:00"),
        ts("2026-01-27T09:00"),
        ts("2026-02-03T09:00"),
    ]
    moved = weekly[ts("2026-01-27T09:00")]
    assert moved.decoded("DTSTART").astimezone(UTC) == ts("2026-01-28T13:00")
    assert str(moved["SUMMARY"]) == "Team meeting (moved to Wednesday)"
    assert weekly[ts("2026-01-13T09:00")].decoded("DTSTART").astimezone(UTC) == ts(
        "2026-01-13T09:00"
    )
    endless = sorted(
        e.decoded("RECURRENCE-ID").astimezone(UTC)
        for e in instances(found[scenario.uids["endless"]])
    )
    assert endless == [ts("2026-02-02T08:00"), ts("2026-02-09T08:00")]


def test_expand_of_an_endless_series_three_years_ahead_gives_one_instance(
    server: LiveServer, scenario: Scenario
) -> None:
    found = query(server, scenario.path, ts("2029-02-12"), ts("2029-02-19"), expand=True)
    assert list(found) == [scenario.uids["endless"]]
    (event,) = instances(found[scenario.uids["endless"]])
    assert event.decoded("RECURRENCE-ID").astimezone(UTC) == ts("2029-02-12T08:00")
    assert event.decoded("DTSTART").astimezone(UTC) == ts("2029-02-12T08:00")
    assert event.decoded("DTEND").astimezone(UTC) == ts("2029-02-12T08:30")


def test_expand_of_a_week_with_only_an_excluded_instance_finds_nothing(
    server: LiveServer, scenario: Scenario
) -> None:
    assert (
        query(server, scenario.path, ts("2029-02-04T23:00"), ts("2029-02-11T23:00"), expand=True)
        == {}
    )


def test_caldav_client_search_with_server_side_expand(
    server: LiveServer, scenario: Scenario
) -> None:
    client = caldav.DAVClient(server.url + "/", username="alice", password=PASSWORD)
    calendar = client.calendar(url=server.url + scenario.path)
    found = calendar.search(
        start=ts("2026-01-05"),
        end=ts("2026-01-19"),
        event=True,
        expand=True,
        server_expand=True,
        post_filter=False,
    )
    recurrence_ids = sorted(
        (
            str(e.icalendar_component["UID"]),
            e.icalendar_component.decoded("RECURRENCE-ID").astimezone(UTC),
        )
        for e in found
    )
    weekly = scenario.uids["weekly"]
    assert recurrence_ids == [(weekly, ts("2026-01-06T09:00")), (weekly, ts("2026-01-13T09:00"))]
    # Three years ahead, the endless series (and nothing else) is found by the client too.
    found = calendar.search(
        start=ts("2029-02-12"), end=ts("2029-02-19"), event=True, post_filter=False
    )
    assert [str(e.icalendar_component["UID"]) for e in found] == [scenario.uids["endless"]]


# --- calendar-multiget (RFC 4791 7.9) -----------------------------------------------------


def test_calendar_multiget_returns_the_requested_events_and_404_for_missing(
    server: LiveServer, scenario: Scenario
) -> None:
    wanted = [scenario.path + SCENARIO_FILES["concert"], scenario.path + SCENARIO_FILES["trip"]]
    missing = scenario.path + "does-not-exist.ics"
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
        + "".join(f"<D:href>{h}</D:href>" for h in [*wanted, missing])
        + "</C:calendar-multiget>"
    )
    reply = report(server, scenario.path, body)
    assert reply.status == 207
    found = responses(reply.xml())
    assert set(found) == {*wanted, missing}
    assert status_code(found[missing]) == 404
    for href, name in zip(wanted, ("concert", "trip"), strict=True):
        assert status_code(found[href]) == 200
        assert uid_of(calendar_data(found[href])) == scenario.uids[name]
        etag = found[href].findtext(".//D:getetag", namespaces=NS)
        assert etag == send(server, "GET", href).headers["etag"]
    # The caldav client's multiget reads the same data.
    client = caldav.DAVClient(server.url + "/", username="alice", password=PASSWORD)
    calendar = client.calendar(url=server.url + scenario.path)
    objects = calendar.multiget([URL.objectify(server.url + h) for h in wanted])
    assert sorted(str(o.icalendar_component["UID"]) for o in objects) == sorted(
        scenario.uids[n] for n in ("concert", "trip")
    )


# --- sync-collection (RFC 6578) -------------------------------------------------------------


def sync_body(token: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
        f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )


def sync(server: LiveServer, path: str, token: str = "") -> tuple[str, dict[str, Any]]:
    """(new token, href -> 404 or the ETag)."""
    reply = report(server, path, sync_body(token), depth="0")
    assert reply.status == 207, reply.text
    root = reply.xml()
    changes: dict[str, Any] = {}
    for href, response in responses(root).items():
        code = status_code(response)
        changes[href] = 404 if code == 404 else response.findtext(".//D:getetag", namespaces=NS)
    return root.findtext("D:sync-token", namespaces=NS) or "", changes


def test_rfc6578_incremental_sync_lists_exactly_the_changed_and_deleted_hrefs(
    server: LiveServer,
) -> None:
    path = make_calendar(server)
    etags = {}
    for name in ("a", "b", "c"):
        etags[name] = put(server, f"{path}{name}.ics", event_text(unique(name))).headers["etag"]
    token, everything = sync(server, path)
    assert everything == {f"{path}{n}.ics": etags[n] for n in ("a", "b", "c")}
    # create d, modify b, delete c
    etags["d"] = put(server, f"{path}d.ics", event_text(unique("d"))).headers["etag"]
    etags["b"] = put(
        server,
        f"{path}b.ics",
        send(server, "GET", f"{path}b.ics").text.replace("SUMMARY:Event", "SUMMARY:Changed"),
    ).headers["etag"]
    assert send(server, "DELETE", f"{path}c.ics").status in (200, 204)
    new_token, changes = sync(server, path, token)
    assert new_token != token
    assert changes == {f"{path}b.ics": etags["b"], f"{path}c.ics": 404, f"{path}d.ics": etags["d"]}
    # Nothing happened since: an empty report, the same token.
    again, nothing = sync(server, path, new_token)
    assert (again, nothing) == (new_token, {})
    # The caldav client's incremental sync sees the same.
    calendar = caldav.DAVClient(server.url + "/", username="alice", password=PASSWORD).calendar(
        url=server.url + path
    )
    put(server, f"{path}e.ics", event_text(unique("e")))
    objects = calendar.objects_by_sync_token(sync_token=new_token, load_objects=False)
    assert [path_of(o.url) for o in objects] == [f"{path}e.ics"]


@pytest.mark.parametrize(
    "token",
    ["garbage", "http://calserver.org/ns/sync/0000-1", "http://radicale.org/ns/sync/abc"],
)
def test_rfc6578_invalid_sync_token_is_403_valid_sync_token(server: LiveServer, token: str) -> None:
    path = make_calendar(server)
    reply = report(server, path, sync_body(token), depth="0")
    assert reply.status == 403
    assert reply.xml().find("D:valid-sync-token", NS) is not None


def test_rfc6578_token_from_the_future_or_of_a_recreated_calendar_is_rejected(
    server: LiveServer,
) -> None:
    path = make_calendar(server)
    put(server, path + "x.ics", event_text(unique("x")))
    token, _ = sync(server, path)
    prefix, _, revision = token.rpartition("-")
    future = report(server, path, sync_body(f"{prefix}-{int(revision) + 100}"), depth="0")
    assert future.status == 403 and future.xml().find("D:valid-sync-token", NS) is not None
    assert send(server, "DELETE", path).status in (200, 204)
    assert send(server, "MKCALENDAR", path).status == 201
    put(server, path + "y.ics", event_text(unique("y")))
    old = report(server, path, sync_body(token), depth="0")
    assert old.status == 403 and old.xml().find("D:valid-sync-token", NS) is not None
    _, everything = sync(server, path)
    assert set(everything) == {path + "y.ics"}


# --- MOVE and whole-collection GET -----------------------------------------------------------


def test_move_takes_an_event_from_one_calendar_to_another(server: LiveServer) -> None:
    source, target = make_calendar(server), make_calendar(server)
    uid = unique("move")
    put(server, source + "m.ics", event_text(uid, start="20260701T100000Z", end="20260701T110000Z"))
    source_token, _ = sync(server, source)
    target_token, _ = sync(server, target)
    before = collection_props(server, source), collection_props(server, target)
    moved = send(
        server, "MOVE", source + "m.ics", headers={"Destination": server.url + target + "moved.ics"}
    )
    assert moved.status in (201, 204)
    assert send(server, "GET", source + "m.ics").status == 404
    got = send(server, "GET", target + "moved.ics")
    assert got.status == 200 and uid_of(got.text) == uid
    after = collection_props(server, source), collection_props(server, target)
    for old, new in zip(before, after, strict=True):
        assert new["sync-token"] != old["sync-token"] and new["ctag"] != old["ctag"]
    assert sync(server, source, source_token)[1] == {source + "m.ics": 404}
    assert list(sync(server, target, target_token)[1]) == [target + "moved.ics"]
    # The time index moved with it.
    window = ts("2026-07-01T10:30"), ts("2026-07-01T10:45")
    assert list(query(server, target, *window)) == [uid]
    assert query(server, source, *window) == {}


def test_move_onto_an_existing_event_without_overwrite_is_refused(server: LiveServer) -> None:
    path = make_calendar(server)
    put(server, path + "one.ics", event_text("move-one"))
    put(server, path + "two.ics", event_text("move-two"))
    reply = send(
        server,
        "MOVE",
        path + "one.ics",
        headers={"Destination": server.url + path + "two.ics", "Overwrite": "F"},
    )
    assert reply.status == 412
    assert uid_of(send(server, "GET", path + "one.ics").text) == "move-one"
    assert uid_of(send(server, "GET", path + "two.ics").text) == "move-two"


def test_whole_calendar_get_returns_every_event_as_text_calendar(
    server: LiveServer, scenario: Scenario
) -> None:
    reply = send(server, "GET", scenario.path)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(reply.body)
    uids = {str(c["UID"]) for c in calendar.walk("VEVENT")}
    assert uids == set(scenario.uids.values())
    tzids = [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")]
    assert sorted(tzids) == ["America/New_York", "Asia/Tokyo", "Europe/Berlin"]
    overrides = [c for c in calendar.walk("VEVENT") if "RECURRENCE-ID" in c]
    assert [str(c["UID"]) for c in overrides] == [scenario.uids["weekly"]]


# --- concurrent writers -------------------------------------------------------------------


def put_at_once(server: LiveServer, path: str, texts: dict[str, str], etag: str) -> dict[str, Any]:
    """PUT each text from its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(texts))
    results: dict[str, Any] = {}

    def writer(name: str) -> None:
        barrier.wait()
        results[name] = put(server, path, texts[name], {"If-Match": etag})

    threads = [threading.Thread(target=writer, args=(name,)) for name in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(results) == set(texts)
    return results


def test_two_clients_put_with_the_same_if_match_exactly_one_wins(server: LiveServer) -> None:
    """RFC 9110 13.1.1: the second writer's If-Match no longer matches."""
    path = make_calendar(server) + "contested.ics"
    etag = put(server, path, event_text("contested", "round-0")).headers["etag"]
    for round_ in range(1, 9):
        texts = {n: event_text("contested", f"round-{round_}-{n}") for n in ("x", "y")}
        results = put_at_once(server, path, texts, etag)
        assert sorted(r.status for r in results.values()) in ([201, 412], [204, 412])
        winner = next(n for n, r in results.items() if r.status != 412)
        loser = next(n for n in texts if n != winner)
        stored = send(server, "GET", path)
        assert f"SUMMARY:round-{round_}-{winner}" in stored.text
        assert stored.headers["etag"] == results[winner].headers["etag"]
        # Nothing lost: the loser reads the new ETag and applies its change on top.
        retry = put(server, path, texts[loser], {"If-Match": stored.headers["etag"]})
        assert retry.status == 204
        stored = send(server, "GET", path)
        assert f"SUMMARY:round-{round_}-{loser}" in stored.text
        etag = stored.headers["etag"]
    _, everything = sync(server, path.rpartition("/")[0] + "/")
    assert list(everything) == [path]


def test_concurrent_new_events_in_one_calendar_are_all_kept(server: LiveServer) -> None:
    path = make_calendar(server)
    token, _ = sync(server, path)
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def writer(n: int) -> None:
        barrier.wait()
        for i in range(6):
            status = put(server, f"{path}w{n}-{i}.ics", event_text(f"w{n}-{i}")).status
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert statuses == [201] * 24
    _, changes = sync(server, path, token)
    assert set(changes) == {f"{path}w{n}-{i}.ics" for n in range(4) for i in range(6)}
    assert all(etag != 404 for etag in changes.values())


# --- unicode names ----------------------------------------------------------------------------


def test_unicode_user_and_calendar_names_work_end_to_end(server: LiveServer) -> None:
    server.add_user("zoë")
    client = caldav.DAVClient(server.url + "/", username="zoë", password=PASSWORD)
    principal = client.principal()
    assert path_of(principal.url) == "/zoë/"
    calendar = principal.make_calendar(name="Kalender ü 日本", cal_id="Kalender-ü日本")
    assert path_of(calendar.url) == "/zoë/Kalender-ü日本/"
    calendar.add_event(
        event_text("unicode-1", "Grüße aus Köln 日本語", "20260801T100000Z", "20260801T110000Z")
    )
    found = calendar.search(
        start=ts("2026-08-01"), end=ts("2026-08-02"), event=True, post_filter=False
    )
    assert [str(e.icalendar_component["SUMMARY"]) for e in found] == ["Grüße aus Köln 日本語"]
    names = {path_of(c.url): c.get_display_name() for c in principal.calendars()}
    assert names == {"/zoë/Kalender-ü日本/": "Kalender ü 日本"}
    cal_path = url_path("zoë", "Kalender-ü日本")
    reply = report(server, cal_path, sync_body(""), depth="0", user="zoë")
    assert reply.status == 207
    assert [h.rpartition("/")[2] for h in responses(reply.xml())] == [
        path_of(found[0].url).rpartition("/")[2]
    ]
    got = send(server, "GET", cal_path, user="zoë")
    assert got.status == 200 and "Grüße aus Köln 日本語" in got.text
    # Alice does not get into zoë's calendar.
    assert send(server, "GET", cal_path, user="alice").status in (403, 404)


# --- what the server stores -------------------------------------------------------------


def test_put_keeps_x_property_values_with_unescaped_commas(server: LiveServer) -> None:
    """RFC 5545 3.8.8.2: a non-standard property's value is kept as the client sent it."""
    path = make_calendar(server) + "booking.ics"
    assert put(server, path, fixture_text("generated-x-property-commas.ics")).status == 201
    (event,) = icalendar.Calendar.from_ical(send(server, "GET", path).body).walk("VEVENT")
    assert event["X-BOOKING-ATTENDEES"].to_ical() == b"alpha,beta,gamma"
    assert event["X-BOOKING-EQUIPMENT"].to_ical() == b"projector,whiteboard,video conference"


def test_put_keeps_escaped_text_and_parameters(server: LiveServer) -> None:
    path = make_calendar(server) + "planning.ics"
    text = fixture_text("thunderbird-export-roundtrip.ics")
    start = text.index("BEGIN:VEVENT")
    end = text.index("BEGIN:VEVENT", text.index("END:VEVENT", start))
    single = text[: text.index("BEGIN:VTIMEZONE", text.index("END:VTIMEZONE"))] + (
        text[start:end] + "END:VCALENDAR\r\n"
    )
    assert put(server, path, single).status == 201
    (event,) = icalendar.Calendar.from_ical(send(server, "GET", path).body).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Planning, budget; and review \\ Q1"
    assert event["X-CALSERVER-TEST-ESCAPED"].to_ical() == (
        b"comma\\, semicolon\\; backslash\\\\ newline\\n end"
    )
    assert event["ORGANIZER"].params["CN"] == "Müller, Hans"
    assert [str(c) for c in event["CATEGORIES"].cats] == ["Work", "Planning"]
