"""Availability (RFC 7953) end to end in process, on SQLite and PostgreSQL: working hours
set through the JSON API, the web page and CalDAV (``CALDAV:calendar-availability`` on the
schedule inbox, §7.2.4), and the BUSY-UNAVAILABLE time they mean in a free-busy-query
(RFC 4791 §7.10) and an outbox free/busy POST (RFC 6638 §5), next to the plain BUSY of
events.

Alice works Monday to Friday 09:00-17:00 Europe/Berlin (UTC+1 in November); her
calendar ``work`` holds an event on Monday 2026-11-23 10:00-11:00 UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import icalendar
import pytest

from calserver.accounts import availability
from tests.conftest import WSGIClient, event_ics
from tests.test_web_core import FORM, csrf_of, get, session_of

C = "urn:ietf:params:xml:ns:caldav"
NS = {"D": "DAV:", "C": C}
JSON = {"Content-Type": "application/json"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
XML = {"Content-Type": "application/xml; charset=utf-8"}
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR"]
OFFICE = {
    "timezone": "Europe/Berlin",
    "weekly": [{"day": d, "start": "09:00", "end": "17:00"} for d in WEEKDAYS],
}


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def setup(client: WSGIClient) -> WSGIClient:
    assert client.request("MKCALENDAR", "/alice/work/").status == 201
    put = client.request("PUT", "/alice/work/e.ics", event_ics("e"), ICS)
    assert put.status == 201
    share = client.request(
        "PUT", "/.api/v1/calendars/alice/work/shares/bob", json.dumps({"level": "busy"}), JSON
    )
    assert share.status in (200, 201), share.text
    return client


def set_office(client: WSGIClient) -> dict[str, Any]:
    answer = client.request("PUT", "/.api/v1/me/availability", json.dumps(OFFICE), JSON)
    assert answer.status == 200, answer.text
    return dict(json.loads(answer.body))


def periods_of(component: Any) -> set[tuple[dt.datetime, dt.datetime, str]]:
    found = set()
    lines = component.get("FREEBUSY", [])
    for line in lines if isinstance(lines, list) else [lines]:
        fbtype = line.params.get("FBTYPE", "BUSY")
        for start, end in line.dt if isinstance(line.dt, list) else [line.dt]:
            found.add((start.astimezone(dt.UTC), end.astimezone(dt.UTC), fbtype))
    return found


def free_busy_query(
    client: WSGIClient, user: str = "alice", path: str = "/alice/work/"
) -> set[Any]:
    body = (
        f'<C:free-busy-query xmlns:C="{C}">'
        '<C:time-range start="20261123T000000Z" end="20261124T000000Z"/></C:free-busy-query>'
    )
    reply = client.request("REPORT", path, body, {**XML, "Depth": "1"}, user=user)
    assert reply.status == 200, reply.text
    (component,) = icalendar.Calendar.from_ical(reply.text).walk("VFREEBUSY")
    return periods_of(component)


MONDAY = {
    (_utc(2026, 11, 23), _utc(2026, 11, 23, 8), "BUSY-UNAVAILABLE"),
    (_utc(2026, 11, 23, 10), _utc(2026, 11, 23, 11), "BUSY"),
    (_utc(2026, 11, 23, 16), _utc(2026, 11, 24), "BUSY-UNAVAILABLE"),
}


@pytest.mark.storage
def test_api_sets_working_hours_and_free_busy_query_shows_them(setup: WSGIClient) -> None:
    client = setup
    assert free_busy_query(client) == {MONDAY_EVENT}
    answer = set_office(client)
    assert answer["timezone"] == "Europe/Berlin" and answer["weekly"] == OFFICE["weekly"]
    assert "BEGIN:VAVAILABILITY" in answer["ics"]
    got = json.loads(client.request("GET", "/.api/v1/me/availability").body)
    assert got == answer
    assert free_busy_query(client) == MONDAY
    assert free_busy_query(client, user="bob") == MONDAY  # a busy-level viewer too
    # through the alias in bob's home: alice's availability, not bob's
    free = client.request(
        "PUT", "/.api/v1/me/availability", json.dumps({"ics": ALWAYS_FREE}), JSON, user="bob"
    )
    assert free.status == 200, free.text
    assert free_busy_query(client, user="bob", path="/bob/alice~work/") == MONDAY
    assert client.request("DELETE", "/.api/v1/me/availability").status == 204
    assert free_busy_query(client) == {MONDAY_EVENT}
    got = json.loads(client.request("GET", "/.api/v1/me/availability").body)
    assert got == {"ics": None, "timezone": None, "weekly": None}


ALWAYS_FREE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VAVAILABILITY\r\n"
    "UID:a\r\nBEGIN:AVAILABLE\r\nUID:b\r\nDTSTART:20000101T000000Z\r\n"
    "DTEND:21000101T000000Z\r\nEND:AVAILABLE\r\nEND:VAVAILABILITY\r\nEND:VCALENDAR\r\n"
)
MONDAY_EVENT = (_utc(2026, 11, 23, 10), _utc(2026, 11, 23, 11), "BUSY")


def outbox_post(client: WSGIClient, poster: str, attendee: str) -> tuple[str, set[Any]]:
    body = "\r\n".join(
        [
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "METHOD:REQUEST",
            "BEGIN:VFREEBUSY", f"UID:{uuid.uuid4()}", "DTSTAMP:20261101T000000Z",
            "DTSTART:20261123T000000Z", "DTEND:20261124T000000Z",
            f"ORGANIZER:mailto:{poster}@example.org", f"ATTENDEE:mailto:{attendee}@example.org",
            "END:VFREEBUSY", "END:VCALENDAR", "",
        ]
    )  # fmt: skip
    reply = client.request("POST", f"/{poster}/outbox/", body, ICS, user=poster)
    assert reply.status == 200, reply.text
    response = ET.fromstring(reply.body).find("C:response", NS)
    assert response is not None
    status = response.findtext("C:request-status", namespaces=NS) or ""
    data = response.findtext("C:calendar-data", namespaces=NS) or ""
    if not data:
        return status, set()
    (component,) = icalendar.Calendar.from_ical(data).walk("VFREEBUSY")
    return status, periods_of(component)


@pytest.mark.storage
def test_outbox_post_shows_the_recipients_availability(setup: WSGIClient) -> None:
    client = setup
    assert outbox_post(client, "bob", "alice") == ("2.0;Success", {MONDAY_EVENT})
    set_office(client)
    status, periods = outbox_post(client, "bob", "alice")
    assert status.startswith("2.0") and periods == MONDAY
    # bob set nothing: only alice's own view of bob (no calendars) and no availability
    status, periods = outbox_post(client, "alice", "alice")
    assert periods == MONDAY


def propfind_availability(client: WSGIClient, path: str, user: str) -> tuple[int, str]:
    body = (
        f'<D:propfind xmlns:D="DAV:" xmlns:C="{C}">'
        "<D:prop><C:calendar-availability/></D:prop></D:propfind>"
    )
    reply = client.request("PROPFIND", path, body, {**XML, "Depth": "0"}, user=user)
    if reply.status != 207:
        return reply.status, ""
    root = ET.fromstring(reply.body)
    for propstat in root.iter("{DAV:}propstat"):
        status = propstat.findtext("D:status", namespaces=NS) or ""
        element = propstat.find("D:prop/C:calendar-availability", NS)
        if element is not None:
            return int(status.split()[1]), element.text or ""
    raise AssertionError(reply.text)


def proppatch(client: WSGIClient, user: str, inner: str, path: str = "/alice/inbox/") -> Any:
    body = f'<D:propertyupdate xmlns:D="DAV:" xmlns:C="{C}">{inner}</D:propertyupdate>'
    return client.request("PROPPATCH", path, body, XML, user=user)


def set_value(text: str, other: str = "") -> str:
    value = text.replace("&", "&amp;").replace("<", "&lt;")
    return (
        f"<D:set><D:prop><C:calendar-availability>{value}</C:calendar-availability>"
        f"{other}</D:prop></D:set>"
    )


REMOVE = "<D:remove><D:prop><C:calendar-availability/></D:prop></D:remove>"


@pytest.mark.storage
def test_caldav_calendar_availability_on_the_inbox(setup: WSGIClient) -> None:
    client = setup
    assert propfind_availability(client, "/alice/inbox/", "alice") == (404, "")
    text = availability.weekly("Europe/Berlin", [(d, "09:00", "17:00") for d in WEEKDAYS])
    inner = set_value(text)
    reply = proppatch(client, "alice", inner)
    assert reply.status == 207 and "200 OK" in reply.text, reply.text
    status, value = propfind_availability(client, "/alice/inbox/", "alice")
    assert status == 200 and "BEGIN:VAVAILABILITY" in value
    assert free_busy_query(client) == MONDAY
    # the API shows what CalDAV set
    got = json.loads(client.request("GET", "/.api/v1/me/availability").body)
    assert got["weekly"] == OFFICE["weekly"]
    # removing it
    reply = proppatch(client, "alice", REMOVE)
    assert reply.status == 207 and "200 OK" in reply.text
    assert propfind_availability(client, "/alice/inbox/", "alice") == (404, "")
    assert free_busy_query(client) == {MONDAY_EVENT}


@pytest.mark.storage
def test_only_the_owner_sets_calendar_availability(setup: WSGIClient) -> None:
    client = setup
    set_office(client)
    text = availability.weekly("UTC", [("SA", "00:00", "01:00")])
    inner = set_value(text)
    assert proppatch(client, "bob", inner).status == 403
    assert proppatch(client, "bob", REMOVE).status == 403
    assert availability.get(client_engine(client), "alice") == set_office(client)["ics"]
    status, value = propfind_availability(client, "/alice/inbox/", "bob")
    assert status in (403, 404) and "VAVAILABILITY" not in value


@pytest.mark.storage
def test_caldav_bad_availability_is_refused_with_valid_calendar_data(setup: WSGIClient) -> None:
    client = setup
    inner = set_value("BEGIN:VCALENDAR\nEND:VCALENDAR")
    reply = proppatch(client, "alice", inner)
    assert reply.status == 207
    assert "403 Forbidden" in reply.text and "valid-calendar-data" in reply.text
    assert "no VAVAILABILITY" in reply.text
    assert availability.get(client_engine(client), "alice") is None
    # mixed with another property: nothing is done (RFC 4918 9.2)
    text = availability.weekly("UTC", [("MO", "09:00", "10:00")])
    inner = set_value(text, "<D:displayname>x</D:displayname>")
    reply = proppatch(client, "alice", inner)
    assert reply.status == 207 and "424" in reply.text and "409" in reply.text
    assert availability.get(client_engine(client), "alice") is None


def client_engine(client: WSGIClient) -> Any:
    from calserver import db

    return db.engine_for(client.configuration)


@pytest.mark.storage
@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"timezone": "Mars/Base", "weekly": []}, "time zone"),
        ({"weekly": [{"day": "MO", "start": "17:00", "end": "09:00"}]}, "not after"),
        ({"weekly": [{"day": "XX", "start": "09:00", "end": "17:00"}]}, "one of"),
        ({"weekly": [{"day": "MO", "start": "9", "end": "17:00"}]}, "not valid"),
        ({"ics": "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"}, "no VAVAILABILITY"),
        ({"ics": "hello"}, "iCalendar"),
        ({"ics": "x", "weekly": []}, "not both"),
        ({"timezone": "UTC"}, "weekly"),
        ({"weekly": "MO"}, "array"),
    ],
)
def test_api_bad_availability_is_400_with_a_message(
    client: WSGIClient, body: dict[str, Any], why: str
) -> None:
    answer = client.request("PUT", "/.api/v1/me/availability", json.dumps(body), JSON)
    assert answer.status == 400, answer.text
    assert why in json.loads(answer.body)["error"]
    assert availability.get(client_engine(client), "alice") is None


def web_post(client: WSGIClient, session: str, fields: dict[str, str]) -> Any:
    fields = {"csrf": csrf_of(client, session), **fields}
    headers = {"Content-Type": FORM, "Cookie": f"calserver_session={session}"}
    return client.request(
        "POST", "/.web/settings/availability", urlencode(fields), headers, user=None
    )


@pytest.mark.storage
def test_web_page_sets_working_hours(setup: WSGIClient) -> None:
    client = setup
    session = session_of(client, "alice")
    page = get(client, "/.web/settings/availability", session)
    assert page.status == 200
    assert '<label for="day-MO">Monday</label>' in page.text
    assert 'name="from-SU"' in page.text and 'name="timezone"' in page.text
    fields = {"timezone": "Europe/Berlin", "action": "save"}
    for day in WEEKDAYS:
        fields |= {f"day-{day}": "1", f"from-{day}": "09:00", f"to-{day}": "17:00"}
    answer = web_post(client, session, fields)
    assert answer.status == 303
    assert answer.headers["location"].endswith("/.web/settings/availability?done=saved")
    assert free_busy_query(client) == MONDAY
    page = get(client, "/.web/settings/availability?done=saved", session)
    assert "Your working hours are saved." in page.text
    assert 'id="day-SA" name="day-SA" value="1">' in page.text  # unticked
    # bad input: 400, the message next to the field, the input kept, nothing changed
    before = availability.get(client_engine(client), "alice")
    bad = fields | {"to-TU": "08:00", "timezone": "Europe/Berlin"}
    answer = web_post(client, session, bad)
    assert answer.status == 400
    assert "Tuesday: the end must be after the start" in answer.text
    assert 'aria-describedby="error-TU"' in answer.text and 'value="08:00"' in answer.text
    answer = web_post(client, session, fields | {"timezone": "Nowhere/City"})
    assert answer.status == 400 and "unknown time zone" in answer.text
    assert availability.get(client_engine(client), "alice") == before
    # without the CSRF token: refused
    headers = {"Content-Type": FORM, "Cookie": f"calserver_session={session}"}
    answer = client.request(
        "POST", "/.web/settings/availability", urlencode(fields), headers, user=None
    )
    assert answer.status == 403
    # removing them
    answer = web_post(client, session, {"action": "clear"})
    assert answer.status == 303 and answer.headers["location"].endswith("done=cleared")
    assert free_busy_query(client) == {MONDAY_EVENT}


@pytest.mark.storage
def test_web_page_needs_a_session(client: WSGIClient) -> None:
    answer = client.request("GET", "/.web/settings/availability", user=None)
    assert answer.status in (302, 303) and "/.web/login" in answer.headers["location"]
