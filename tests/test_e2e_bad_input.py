"""End to end: bad input over HTTP to a live server gets a clear 4xx -- never a 500 --
and leaves nothing behind (STYLE.md 8).

Malformed iCalendar (RFC 5545, RFC 4791 4.1 and 5.3.2.1 preconditions), components a
calendar does not accept, malformed or entity-laden XML, bodies over the configured size,
hostile request paths, and MKCALENDAR / PROPPATCH requests that fail.
"""

from __future__ import annotations

import base64
import contextlib
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.conftest import PASSWORD, LiveServer, start_server
from tests.e2e_support import (
    ENGINES,
    NS,
    fixture_text,
    module_server,
    prop_text,
    propfind,
    report,
    responses,
    send,
    unique,
)

pytestmark = pytest.mark.live

XML = {"Content-Type": "application/xml; charset=utf-8"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from module_server(request, tmp_path_factory)


def mkcalendar(server: LiveServer, components: tuple[str, ...] = (), user: str = "alice") -> str:
    path = f"/{user}/{unique()}/"
    comps = "".join(f'<C:comp name="{c}"/>' for c in components)
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
        "<D:displayname>Bad input</D:displayname>"
        + (
            f"<C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set>"
            if comps
            else ""
        )
        + "</D:prop></D:set></C:mkcalendar>"
    )
    reply = send(server, "MKCALENDAR", path, body, XML, user=user)
    assert reply.status == 201, reply.text
    return path


def members(server: LiveServer, path: str) -> list[str]:
    """Hrefs below ``path`` (Depth 1), the collection itself left out."""
    return [h for h in responses(propfind(server, path, ["D:getetag"], depth="1")) if h != path]


def state(server: LiveServer, path: str) -> tuple[str | None, str | None, list[str]]:
    root = propfind(server, path, ["D:sync-token", "D:displayname"])
    return (
        prop_text(root, path, "D:sync-token"),
        prop_text(root, path, "D:displayname"),
        members(server, path),
    )


def assert_4xx(status: int) -> None:
    assert 400 <= status < 500, status


# --- malformed iCalendar ---------------------------------------------------------------------

VEVENT_HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"

BAD_ICALENDAR = {
    "broken-folded-line": fixture_text("bad-broken-lines.ics"),
    "no-uid": fixture_text("bad-no-uid.ics"),
    "two-uids-in-one-resource": fixture_text("bad-two-uids.ics"),
    "vevent-and-vtodo-mixed": fixture_text("bad-mixed-components.ics"),
    "not-icalendar": "Hello, this is not a calendar.\r\n",
    "empty-body": "",
    "vcard-in-a-calendar": "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Zoë\r\nEND:VCARD\r\n",
    "no-end-vcalendar": VEVENT_HEAD + "BEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260101T100000Z\r\nEND:VEVENT\r\n",
    "end-without-begin": VEVENT_HEAD + "END:VEVENT\r\nEND:VCALENDAR\r\n",
    "impossible-date": VEVENT_HEAD + "BEGIN:VEVENT\r\nUID:u2\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20261345T250000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    "unknown-rrule-frequency": VEVENT_HEAD + "BEGIN:VEVENT\r\nUID:u3\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\nRRULE:FREQ=SOMETIMES\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n",
}


@pytest.mark.parametrize("text", list(BAD_ICALENDAR.values()), ids=list(BAD_ICALENDAR))
def test_malformed_icalendar_is_refused_with_4xx_and_nothing_is_stored(
    server: LiveServer, text: str
) -> None:
    path = mkcalendar(server)
    before = state(server, path)
    reply = send(server, "PUT", path + "bad.ics", text, ICS)
    assert_4xx(reply.status)
    assert send(server, "GET", path + "bad.ics").status == 404
    assert state(server, path) == before


def test_calendar_object_without_any_component_is_refused(server: LiveServer) -> None:
    path = mkcalendar(server)
    text = (
        VEVENT_HEAD + "BEGIN:VTIMEZONE\r\nTZID:UTC\r\nBEGIN:STANDARD\r\n"
        "DTSTART:19700101T000000\r\nTZOFFSETFROM:+0000\r\nTZOFFSETTO:+0000\r\n"
        "END:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"
    )
    assert_4xx(send(server, "PUT", path + "bad.ics", text, ICS).status)
    assert members(server, path) == []


def test_invalid_utf8_in_icalendar_is_refused_with_4xx(server: LiveServer) -> None:
    path = mkcalendar(server)
    body = (
        (
            VEVENT_HEAD + "BEGIN:VEVENT\r\nUID:utf8\r\nDTSTAMP:20260101T000000Z\r\n"
            "DTSTART:20260101T100000Z\r\nSUMMARY:"
        ).encode()
        + b"\xff\xfe\xc3("
        + (b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    )
    reply = send(server, "PUT", path + "bad.ics", body, ICS)
    # Either refused, or decoded with a fallback charset as Radicale does -- never a 500.
    assert reply.status < 500
    if reply.status >= 400:
        assert members(server, path) == []


def test_too_many_recurrences_are_refused(server: LiveServer) -> None:
    """``[server] max_vevent_rrule_occurrence`` (10000 by default) bounds a series."""
    path = mkcalendar(server)
    text = (
        VEVENT_HEAD + "BEGIN:VEVENT\r\nUID:minutely\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260101T000000Z\r\nDTEND:20260101T000100Z\r\n"
        "RRULE:FREQ=MINUTELY;COUNT=100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert_4xx(send(server, "PUT", path + "bad.ics", text, ICS).status)
    assert members(server, path) == []


def test_uid_in_use_by_another_resource_is_refused_with_no_uid_conflict(
    server: LiveServer,
) -> None:
    """RFC 4791 5.3.2.1 CALDAV:no-uid-conflict."""
    path = mkcalendar(server)
    text = fixture_text("thunderbird-tokyo.ics")
    assert send(server, "PUT", path + "one.ics", text, ICS).status == 201
    reply = send(server, "PUT", path + "two.ics", text, ICS)
    assert reply.status in (403, 409)
    assert members(server, path) == [path + "one.ics"]


def test_component_the_calendar_does_not_accept_is_refused_with_403(
    server: LiveServer,
) -> None:
    """RFC 4791 5.3.2.1: CALDAV:supported-calendar-component, for a calendar made with
    ``supported-calendar-component-set`` VTODO only."""
    path = mkcalendar(server, ("VTODO",))
    root = propfind(server, path, ["C:supported-calendar-component-set"])
    comps = [
        c.get("name")
        for c in responses(root)[path].findall(".//C:supported-calendar-component-set/C:comp", NS)
    ]
    assert comps == ["VTODO"]
    assert (
        send(server, "PUT", path + "task.ics", fixture_text("thunderbird-task.ics"), ICS).status
        == 201
    )
    reply = send(server, "PUT", path + "event.ics", fixture_text("thunderbird-tokyo.ics"), ICS)
    assert reply.status == 403
    assert reply.xml().find("C:supported-calendar-component", NS) is not None
    assert members(server, path) == [path + "task.ics"]


# --- malformed XML ---------------------------------------------------------------------------

PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
    "<D:displayname/></D:prop></D:propfind>"
)
ENTITY_BODIES = {
    "internal-entity": (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">]>'
        '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&a;</D:displayname></D:prop>'
        "</D:propfind>"
    ),
    "billion-laughs": (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;">]><D:propfind xmlns:D="DAV:"><D:prop>'
        "<D:displayname>&c;</D:displayname></D:prop></D:propfind>"
    ),
    "external-entity": (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&x;</D:displayname></D:prop>'
        "</D:propfind>"
    ),
    "doctype-only": (
        '<?xml version="1.0"?><!DOCTYPE propfind SYSTEM "http://127.0.0.1:9/dtd">'
        + PROPFIND_BODY.split("?>", 1)[1]
    ),
}
INVALID_XML = {
    "unclosed-element": '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>',
    "not-xml": "displayname please",
    "undeclared-prefix": "<D:propfind><D:prop><D:displayname/></D:prop></D:propfind>",
    "invalid-utf8": b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:">'
    b"<D:prop><D:\xff\xfe/></D:prop></D:propfind>",
}


@pytest.mark.parametrize("method", ["PROPFIND", "REPORT", "PROPPATCH", "MKCALENDAR"])
@pytest.mark.parametrize(
    "body",
    list(INVALID_XML.values()) + list(ENTITY_BODIES.values()),
    ids=list(INVALID_XML) + list(ENTITY_BODIES),
)
def test_invalid_xml_or_xml_with_entities_is_400_and_changes_nothing(
    server: LiveServer, method: str, body: str | bytes
) -> None:
    path = mkcalendar(server)
    before = state(server, path)
    target = path if method != "MKCALENDAR" else f"/alice/{unique()}/"
    reply = send(server, method, target, body, {**XML, "Depth": "0"})
    assert reply.status == 400, (reply.status, reply.text)
    assert "root:" not in reply.text  # /etc/passwd never comes back
    assert state(server, path) == before
    if method == "MKCALENDAR":
        assert send(server, "PROPFIND", target, PROPFIND_BODY, {**XML, "Depth": "0"}).status == 404


# --- request size (``[server] max_content_length``) -----------------------------------------


@pytest.fixture(scope="module")
def small_server(server: LiveServer) -> Iterator[LiveServer]:
    """A second server process on the same database, with a 10,000-byte body limit."""
    other = start_server(
        server.database_url, server.data_folder / "small", "--server-max-content-length", "10000"
    )
    try:
        yield other
    finally:
        other.stop()


def big_event(uid: str, size: int) -> str:
    filler = "x" * 60
    lines = "".join(f"X-FILLER-{n}:{filler}\r\n" for n in range(size // 75))
    return (
        VEVENT_HEAD + f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:20260101T100000Z\r\n{lines}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def test_body_over_max_content_length_is_413_and_not_stored(
    server: LiveServer, small_server: LiveServer
) -> None:
    path = mkcalendar(server)
    small = big_event("small", 5000)
    assert len(small.encode()) < 10000
    assert send(small_server, "PUT", path + "small.ics", small, ICS).status == 201
    big = big_event("big", 20000)
    assert len(big.encode()) > 10000
    assert send(small_server, "PUT", path + "big.ics", big, ICS).status == 413
    big_report = PROPFIND_BODY + " " * 20000
    assert send(small_server, "PROPFIND", path, big_report, {**XML, "Depth": "0"}).status == 413
    assert members(server, path) == [path + "small.ics"]


def test_chunked_body_over_max_content_length_is_413(
    server: LiveServer, small_server: LiveServer
) -> None:
    """No Content-Length: the server must still stop at the limit."""
    path = mkcalendar(server)
    body = big_event("chunked", 20000).encode()
    parts = urlsplit(small_server.url)
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    head = (
        f"PUT {path}chunked.ics HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Basic {token}\r\nContent-Type: text/calendar\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    chunks = (
        b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 4096]), body[i : i + 4096])
            for i in range(0, len(body), 4096)
        )
        + b"0\r\n\r\n"
    )
    answer = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        # The server answers and closes as soon as the limit is passed: what is still
        # being sent may then fail, and the close may reset the connection.
        with contextlib.suppress(OSError):
            sock.sendall(head + chunks)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 "), answer
    status = int(answer.split(b" ", 2)[1])
    assert status == 413
    assert members(server, path) == []


# --- hostile paths ---------------------------------------------------------------------------

HOSTILE_PATHS = {
    "dot-dot-into-another-user": "/alice/../bob/",
    "dot-dot-into-another-users-calendar": "/alice/{cal}/../../bob/{bobcal}/",
    "dot-dot-to-the-file-system": "/../../../../etc/passwd",
    "encoded-dot-dot": "/alice/%2e%2e/bob/",
    "encoded-dot-dot-upper": "/alice/%2E%2E/%2E%2E/etc/passwd",
    "encoded-slash-in-a-name": "/alice/{cal}%2Fevil.ics",
    "encoded-slash-into-another-user": "/alice%2F..%2Fbob/",
    "nul-byte": "/alice/{cal}/x%00.ics",
    "raw-nul-in-name": "/alice/{cal}%00/",
    "over-long-name": "/alice/" + "a" * 5000 + "/",
    "over-long-path": "/alice/" + "/".join(["abcdefgh"] * 600) + "/",
    "invalid-utf8-percent-encoded": "/alice/%c3%28%ff/",
    "control-characters": "/alice/%01%02%1b/",
}
#: Odd, but only names: they may be refused or stored, but only in alice's own home.
ODD_PATHS = {
    "encoded-backslash": "/alice/..%5C..%5Cbob/",
    "invalid-percent-encoding": "/alice/%zz%/",
    "dot-segment-inside-own-home": "/alice/{cal}/../{cal}/inside.ics",
}


@pytest.fixture(scope="module")
def bob_calendar(server: LiveServer) -> str:
    path = mkcalendar(server, user="bob")
    text = fixture_text("apple-newyork-concert.ics")
    assert send(server, "PUT", path + "secret.ics", text, ICS, user="bob").status == 201
    return path


@pytest.mark.parametrize("method", ["GET", "PROPFIND", "PUT", "DELETE", "MKCALENDAR"])
@pytest.mark.parametrize("raw", list(HOSTILE_PATHS.values()), ids=list(HOSTILE_PATHS))
def test_hostile_paths_get_4xx_never_500_and_never_reach_another_user(
    server: LiveServer, bob_calendar: str, method: str, raw: str
) -> None:
    cal = mkcalendar(server).strip("/").split("/")[1]
    path = raw.format(cal=cal, bobcal=bob_calendar.strip("/").split("/")[1])
    body = {"PUT": fixture_text("thunderbird-floating.ics"), "PROPFIND": PROPFIND_BODY}.get(
        method, ""
    )
    headers = {**(ICS if method == "PUT" else XML), "Depth": "1"}
    reply = send(server, method, path, body, headers)
    if method == "PROPFIND" and reply.status == 207:
        # Bob's principal is readable by any signed-in user (delegation, "on the
        # network"), but it lists only what alice may see of it: nothing.
        assert bob_calendar not in reply.text
    else:
        assert_4xx(reply.status)
    assert "Concert" not in reply.text and "root:" not in reply.text
    # Bob's calendar is untouched and alice's calendar holds nothing new.
    assert send(server, "GET", bob_calendar + "secret.ics", user="bob").status == 200
    assert members(server, f"/alice/{cal}/") == []


@pytest.mark.parametrize("method", ["GET", "PROPFIND", "PUT", "DELETE", "MKCALENDAR"])
@pytest.mark.parametrize("raw", list(ODD_PATHS.values()), ids=list(ODD_PATHS))
def test_odd_paths_never_500_and_stay_in_the_users_home(
    server: LiveServer, bob_calendar: str, method: str, raw: str
) -> None:
    cal = mkcalendar(server).strip("/").split("/")[1]
    path = raw.format(cal=cal)
    body = {"PUT": fixture_text("thunderbird-floating.ics"), "PROPFIND": PROPFIND_BODY}.get(
        method, ""
    )
    headers = {**(ICS if method == "PUT" else XML), "Depth": "1"}
    reply = send(server, method, path, body, headers)
    assert reply.status < 500
    assert "Concert" not in reply.text
    bob_home = propfind(server, "/bob/", ["D:resourcetype"], depth="1", user="bob")
    # beside the calendar: the schedule inbox and outbox (RFC 6638 2.1, 2.2) and the
    # default address book (RFC 6352)
    assert sorted(responses(bob_home)) == sorted(
        ["/bob/", bob_calendar, "/bob/contacts/", "/bob/inbox/", "/bob/outbox/"]
    )
    assert send(server, "GET", bob_calendar + "secret.ics", user="bob").status == 200


HOSTILE_DESTINATIONS = {
    "another-users-calendar": "/bob/{bobcal}/stolen.ics",
    "dot-dot-into-another-user": "/alice/../bob/{bobcal}/stolen.ics",
    "encoded-dot-dot": "/alice/%2e%2e/bob/{bobcal}/stolen.ics",
    "nul-byte": "/alice/{cal}/x%00.ics",
    "over-long-name": "/alice/{cal}/" + "n" * 2000 + ".ics",
    "the-principal": "/alice/moved.ics",
    "a-missing-calendar": "/alice/no-such-calendar/moved.ics",
}


@pytest.mark.parametrize(
    "destination", list(HOSTILE_DESTINATIONS.values()), ids=list(HOSTILE_DESTINATIONS)
)
def test_move_to_a_hostile_destination_is_4xx_and_moves_nothing(
    server: LiveServer, bob_calendar: str, destination: str
) -> None:
    path = mkcalendar(server)
    assert (
        send(server, "PUT", path + "x.ics", fixture_text("thunderbird-floating.ics"), ICS).status
        == 201
    )
    before = state(server, path)
    target = destination.format(
        cal=path.strip("/").split("/")[1], bobcal=bob_calendar.strip("/").split("/")[1]
    )
    reply = send(server, "MOVE", path + "x.ics", headers={"Destination": server.url + target})
    assert_4xx(reply.status)
    assert state(server, path) == before
    bob = propfind(server, bob_calendar, ["D:getetag"], depth="1", user="bob")
    assert sorted(responses(bob)) == [bob_calendar, bob_calendar + "secret.ics"]


# --- failed MKCALENDAR / PROPPATCH leave nothing behind --------------------------------------


@pytest.mark.parametrize(
    "target",
    ["/alice/{missing}/cal/", "/alice/{cal}/sub/", "/bob/{missing}/", "/alice/{cal}/x.ics/"],
    ids=["parent-missing", "inside-a-calendar", "in-another-users-home", "below-an-item"],
)
def test_failed_mkcalendar_leaves_nothing_behind(server: LiveServer, target: str) -> None:
    cal_path = mkcalendar(server)
    assert (
        send(
            server, "PUT", cal_path + "x.ics", fixture_text("thunderbird-floating.ics"), ICS
        ).status
        == 201
    )
    before = state(server, cal_path)
    missing = unique("missing")
    path = target.format(cal=cal_path.strip("/").split("/")[1], missing=missing)
    reply = send(server, "MKCALENDAR", path, "", XML)
    assert_4xx(reply.status)
    for user in ("alice", "bob"):
        home = propfind(server, f"/{user}/", ["D:resourcetype"], depth="1", user=user)
        assert not [h for h in responses(home) if missing in h]
    assert state(server, cal_path) == before
    if "x.ics" in path:  # the item is still an item
        item = send(server, "GET", cal_path + "x.ics")
        assert item.status == 200 and "BEGIN:VCALENDAR" in item.text
    else:
        assert send(server, "PROPFIND", path, PROPFIND_BODY, {**XML, "Depth": "0"}).status in (
            403,
            404,
        )


def test_mkcalendar_with_an_over_long_name_is_refused_and_leaves_nothing(
    server: LiveServer,
) -> None:
    name = "k" * 2000
    reply = send(server, "MKCALENDAR", f"/alice/{name}/", "", XML)
    assert_4xx(reply.status)
    home = propfind(server, "/alice/", ["D:resourcetype"], depth="1")
    assert not [h for h in responses(home) if name in h]


def test_put_with_an_over_long_name_or_uid_is_refused_with_4xx(server: LiveServer) -> None:
    path = mkcalendar(server)
    text = fixture_text("thunderbird-floating.ics")
    assert_4xx(send(server, "PUT", path + "e" * 2000 + ".ics", text, ICS).status)
    long_uid = text.replace("UID:4b8d2c61-9e3a-47f5-b1d0-6a2e8c4f7b93", "UID:" + "u" * 3000)
    assert_4xx(send(server, "PUT", path + "long-uid.ics", long_uid, ICS).status)
    assert members(server, path) == []


PROPPATCH_DTD = (
    '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY n "Evil">]><D:propertyupdate xmlns:D="DAV:">'
    "<D:set><D:prop><D:displayname>&n;</D:displayname></D:prop></D:set></D:propertyupdate>"
)


def proppatch_displayname(name: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:"><D:set>'
        f"<D:prop><D:displayname>{name}</D:displayname></D:prop></D:set></D:propertyupdate>"
    )


def test_failed_proppatch_changes_nothing(server: LiveServer, bob_calendar: str) -> None:
    path = mkcalendar(server)
    assert (
        send(server, "PUT", path + "x.ics", fixture_text("thunderbird-floating.ics"), ICS).status
        == 201
    )
    before = state(server, path)
    # An entity declaration, a missing collection, an item, another user's calendar.
    assert send(server, "PROPPATCH", path, PROPPATCH_DTD, XML).status == 400
    missing = f"/alice/{unique('missing')}/"
    assert send(server, "PROPPATCH", missing, proppatch_displayname("Ghost"), XML).status == 404
    assert send(server, "PROPFIND", missing, PROPFIND_BODY, {**XML, "Depth": "0"}).status == 404
    # DAV:displayname of an item is not a dead property a client may set: 207 with the
    # property's 403 (RFC 4918 9.2; calserver.dav.itemprops keeps dead properties only)
    item = send(server, "PROPPATCH", path + "x.ics", proppatch_displayname("Item"), XML)
    assert item.status == 207 and b"403" in item.body, item.body
    bob_before = state_as(server, bob_calendar, "bob")
    other = send(server, "PROPPATCH", bob_calendar, proppatch_displayname("Mine now"), XML)
    assert other.status in (403, 404)
    assert state_as(server, bob_calendar, "bob") == bob_before
    assert state(server, path) == before


def state_as(server: LiveServer, path: str, user: str) -> tuple[str | None, str | None]:
    root = propfind(server, path, ["D:sync-token", "D:displayname"], user=user)
    return prop_text(root, path, "D:sync-token"), prop_text(root, path, "D:displayname")


def test_report_with_an_invalid_time_range_is_400(server: LiveServer) -> None:
    path = mkcalendar(server)
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
        '<C:comp-filter name="VEVENT"><C:time-range start="not-a-date" end="20260101T000000Z"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )
    assert_4xx(report(server, path, body).status)
