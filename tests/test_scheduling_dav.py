"""CalDAV scheduling as a client sees it (RFC 6638; calserver.dav.scheduling and
.invitations) against a live server, on SQLite and PostgreSQL: the DAV header, the
principal's scheduling properties, the inbox and outbox, the outbox free/busy POST
with the visibility rules of sharing, the ``caldav`` library's scheduling calls, and
the pending invitations / meetings views (CLI and HTTP API).

The world: bob's calendar ``work`` holds one event of each kind on 2027-06-01 (public,
confidential, private, transparent, tentative, out of office). Who asks for bob's busy
time: bob himself (owner), carol (in the group ``team`` with bob: free/busy only), erin
(``work`` shared with her at read), dave (nothing to do with bob). alice is the
organizer of the meetings and invitations; frank holds the invitations.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import caldav
import icalendar
import pytest

from tests.conftest import PASSWORD, LiveServer
from tests.e2e_support import ENGINES, NS, calserver, module_server_with, send

pytestmark = pytest.mark.live

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
XML = {"Content-Type": "application/xml; charset=utf-8"}
PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank"]

#: uid -> (start hour on 2027-06-01 UTC, what sets the event apart)
KINDS: dict[str, tuple[int, str]] = {
    "public": (8, ""),
    "confidential": (10, "CLASS:CONFIDENTIAL\r\n"),
    "private": (12, "CLASS:PRIVATE\r\n"),
    "transparent": (14, "TRANSP:TRANSPARENT\r\n"),
    "tentative": (16, "STATUS:TENTATIVE\r\n"),
    "oof": (18, "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\n"),
}
#: What each asker sees of bob's day: start hour -> FBTYPE (DESIGN.md, "Rules").
FREEBUSY_VIEW = {8: "BUSY", 16: "BUSY-TENTATIVE", 18: "BUSY-UNAVAILABLE"}
READER_VIEW = {**FREEBUSY_VIEW, 10: "BUSY"}
OWNER_VIEW = {**READER_VIEW, 12: "BUSY"}

DAY_START = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)
DAY_END = dt.datetime(2027, 6, 2, tzinfo=dt.UTC)

C = "urn:ietf:params:xml:ns:caldav"


def event(uid: str, hour: int, extra: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//scheduling//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20270101T000000Z\r\n"
        f"DTSTART:20270601T{hour:02d}0000Z\r\nDTEND:20270601T{hour + 1:02d}0000Z\r\n"
        f"SUMMARY:Secret {uid}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def mkcalendar(server: LiveServer, user: str, name: str) -> None:
    reply = send(server, "MKCALENDAR", f"/{user}/{name}/", user=user)
    assert reply.status == 201, reply.body


def put(server: LiveServer, user: str, path: str, text: str) -> None:
    reply = send(server, "PUT", path, text, ICS, user=user)
    assert reply.status in (201, 204), (reply.status, reply.body)


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    for live in module_server_with(request, tmp_path_factory, PEOPLE):
        mkcalendar(live, "bob", "work")
        for uid, (hour, extra) in KINDS.items():
            put(live, "bob", f"/bob/work/{uid}.ics", event(uid, hour, extra))
        calserver(live, "group", "create", "team")
        calserver(live, "group", "add-member", "team", "bob")
        calserver(live, "group", "add-member", "team", "carol")
        calserver(live, "share", "bob/work", "--with", "erin", "--level", "read")
        yield live


def propfind(
    server: LiveServer, path: str, props: list[str], depth: str = "0", user: str = "alice"
) -> ET.Element:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<D:propfind xmlns:D="DAV:" xmlns:C="{C}"><D:prop>'
        + "".join(f"<{p}/>" for p in props)
        + "</D:prop></D:propfind>"
    )
    reply = send(server, "PROPFIND", path, body, {**XML, "Depth": depth}, user=user)
    assert reply.status == 207, reply.body
    return ET.fromstring(reply.body)


def ok_prop(root: ET.Element, href: str, prop: str) -> ET.Element | None:
    for response in root.findall("D:response", NS):
        if response.findtext("D:href", namespaces=NS) != href:
            continue
        for propstat in response.findall("D:propstat", NS):
            element = propstat.find(f"D:prop/{prop}", NS)
            if element is not None and " 200 " in (propstat.findtext("D:status", "", NS)):
                return element
    return None


def hrefs(element: ET.Element | None) -> list[str]:
    assert element is not None
    return [href.text or "" for href in element.findall("D:href", NS)]


# --- DAV header, principal properties ------------------------------------------------


def test_rfc6638_options_announces_calendar_auto_schedule(server: LiveServer) -> None:
    reply = send(server, "OPTIONS", "/alice/")
    dav = [token.strip() for token in reply.headers["dav"].split(",")]
    assert "calendar-auto-schedule" in dav
    assert "calendar-access" in dav and "calendar-proxy" in dav  # delegation's kept
    answer = send(
        server, "PROPFIND", "/alice/", "", {**XML, "Depth": "0"}, user="alice"
    )  # every 207 of a home says so too
    assert "calendar-auto-schedule" in answer.headers.get("dav", "")


def test_rfc6638_principal_scheduling_properties(server: LiveServer) -> None:
    root = propfind(
        server,
        "/alice/",
        [
            "C:calendar-user-address-set",
            "C:schedule-inbox-URL",
            "C:schedule-outbox-URL",
            "C:calendar-user-type",
            "C:schedule-default-calendar-URL",
        ],
    )
    assert hrefs(ok_prop(root, "/alice/", "C:calendar-user-address-set")) == [
        "mailto:alice@example.org",
        "/alice/",
    ]
    assert hrefs(ok_prop(root, "/alice/", "C:schedule-inbox-URL")) == ["/alice/inbox/"]
    assert hrefs(ok_prop(root, "/alice/", "C:schedule-outbox-URL")) == ["/alice/outbox/"]
    user_type = ok_prop(root, "/alice/", "C:calendar-user-type")
    assert user_type is not None and user_type.text == "INDIVIDUAL"
    # dave has no calendar of his own: no default calendar to name
    root = propfind(server, "/dave/", ["C:schedule-default-calendar-URL"], user="dave")
    assert ok_prop(root, "/dave/", "C:schedule-default-calendar-URL") is None


def test_rfc6638_default_calendar_url_on_principal_and_inbox(server: LiveServer) -> None:
    root = propfind(server, "/bob/", ["C:schedule-default-calendar-URL"], user="bob")
    assert hrefs(ok_prop(root, "/bob/", "C:schedule-default-calendar-URL")) == ["/bob/work/"]
    root = propfind(server, "/bob/inbox/", ["C:schedule-default-calendar-URL"], user="bob")
    assert hrefs(ok_prop(root, "/bob/inbox/", "C:schedule-default-calendar-URL")) == ["/bob/work/"]
    # another user sees bob's addresses, not where his meetings land
    root = propfind(
        server,
        "/bob/",
        ["C:calendar-user-address-set", "C:schedule-default-calendar-URL"],
        user="alice",
    )
    assert hrefs(ok_prop(root, "/bob/", "C:calendar-user-address-set"))[0] == (
        "mailto:bob@example.org"
    )
    assert ok_prop(root, "/bob/", "C:schedule-default-calendar-URL") is None


def test_scheduling_properties_are_protected(server: LiveServer) -> None:
    body = (
        f'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="{C}"><D:set>'
        "<D:prop><C:calendar-user-address-set><D:href>mailto:x@evil.example</D:href>"
        "</C:calendar-user-address-set></D:prop></D:set></D:propertyupdate>"
    )
    reply = send(server, "PROPPATCH", "/alice/", body, XML)
    assert reply.status == 403


def test_caldav_library_finds_inbox_outbox_and_addresses(server: LiveServer) -> None:
    client = caldav.DAVClient(server.url + "/", username="alice", password=PASSWORD)
    principal = client.principal()
    assert principal.calendar_user_address_set() == ["mailto:alice@example.org", "/alice/"]
    inbox = principal.schedule_inbox()
    outbox = principal.schedule_outbox()
    assert str(inbox.url).endswith("/alice/inbox/")
    assert str(outbox.url).endswith("/alice/outbox/")
    assert list(inbox.get_items()) == []
    # the mailboxes are not calendars
    assert all(not str(c.url).endswith(("/inbox/", "/outbox/")) for c in principal.get_calendars())


def test_home_depth1_shows_inbox_and_outbox_not_as_calendars(server: LiveServer) -> None:
    root = propfind(server, "/bob/", ["D:resourcetype", "D:displayname"], "1", user="bob")
    inbox = ok_prop(root, "/bob/inbox/", "D:resourcetype")
    outbox = ok_prop(root, "/bob/outbox/", "D:resourcetype")
    assert inbox is not None and outbox is not None
    assert sorted(child.tag for child in inbox) == ["{DAV:}collection", f"{{{C}}}schedule-inbox"]
    assert sorted(child.tag for child in outbox) == [
        "{DAV:}collection",
        f"{{{C}}}schedule-outbox",
    ]
    work = ok_prop(root, "/bob/work/", "D:resourcetype")
    assert work is not None and work.find("C:calendar", NS) is not None


def test_inbox_depth0_and_fast_path_answer_schedule_inbox(server: LiveServer) -> None:
    for depth in ("0", "1"):  # Depth 1 + getetag/resourcetype only: the fast path
        root = propfind(server, "/bob/inbox/", ["D:resourcetype", "D:getetag"], depth, "bob")
        found = ok_prop(root, "/bob/inbox/", "D:resourcetype")
        assert found is not None
        assert found.find("C:schedule-inbox", NS) is not None
        assert found.find("C:calendar", NS) is None
    root = propfind(server, "/bob/outbox/", ["D:resourcetype"], "0", "bob")
    found = ok_prop(root, "/bob/outbox/", "D:resourcetype")
    assert found is not None and found.find("C:schedule-outbox", NS) is not None


def test_inbox_and_outbox_names_are_reserved(server: LiveServer) -> None:
    assert send(server, "MKCALENDAR", "/alice/inbox/").status == 403
    assert send(server, "MKCALENDAR", "/alice/outbox/").status == 403
    assert send(server, "MKCOL", "/alice/inbox/").status == 403


def test_put_into_inbox_or_outbox_is_forbidden(server: LiveServer) -> None:
    propfind(server, "/alice/", ["C:schedule-inbox-URL"])  # the mailboxes exist now
    text = event("forged-" + uuid.uuid4().hex, 9)
    assert send(server, "PUT", "/alice/inbox/forged.ics", text, ICS).status == 403
    assert send(server, "PUT", "/alice/outbox/forged.ics", text, ICS).status == 403


def test_check_stays_clean_with_mailboxes(server: LiveServer) -> None:
    propfind(server, "/carol/", ["C:schedule-inbox-URL"], user="carol")
    assert calserver(server, "check").strip() == "no problems found"


# --- POST to the outbox: free/busy (RFC 6638 5) ----------------------------------------


def freebusy_request(
    organizer: str,
    attendees: list[str],
    start: str = "20270601T000000Z",
    end: str = "20270602T000000Z",
) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//calserver tests//fb//EN",
        "METHOD:REQUEST",
        "BEGIN:VFREEBUSY",
        f"UID:{uuid.uuid4()}",
        "DTSTAMP:20270101T000000Z",
        f"DTSTART:{start}",
        f"DTEND:{end}",
        f"ORGANIZER:{organizer}",
        *[f"ATTENDEE:{a}" for a in attendees],
        "END:VFREEBUSY",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def post(server: LiveServer, user: str, body: str, path: str | None = None) -> ET.Element:
    reply = send(server, "POST", path or f"/{user}/outbox/", body, ICS, user=user)
    assert reply.status == 200, (reply.status, reply.body)
    root = ET.fromstring(reply.body)
    assert root.tag == f"{{{C}}}schedule-response"
    return root


def answers(root: ET.Element) -> dict[str, tuple[str, dict[int, str]]]:
    """recipient -> (request-status, {start hour: FBTYPE})."""
    found = {}
    for response in root.findall("C:response", NS):
        recipient = response.findtext("C:recipient/D:href", namespaces=NS) or ""
        status = response.findtext("C:request-status", namespaces=NS) or ""
        data = response.findtext("C:calendar-data", namespaces=NS) or ""
        busy: dict[int, str] = {}
        if data:
            calendar = icalendar.Calendar.from_ical(data)
            assert str(calendar["METHOD"]) == "REPLY"
            (component,) = calendar.walk("VFREEBUSY")
            assert str(component["ATTENDEE"]) == recipient
            lines = component.get("FREEBUSY", [])
            for line in lines if isinstance(lines, list) else [lines]:
                fbtype = line.params.get("FBTYPE", "BUSY")
                for start, end in line.dt if isinstance(line.dt, list) else [line.dt]:
                    assert end - start == dt.timedelta(hours=1)
                    busy[start.hour] = fbtype
        found[recipient] = (status, busy)
    return found


@pytest.mark.parametrize(
    ("asker", "expected"),
    [("bob", OWNER_VIEW), ("carol", FREEBUSY_VIEW), ("erin", READER_VIEW)],
)
def test_rfc6638_outbox_freebusy_follows_visibility(
    server: LiveServer, asker: str, expected: dict[int, str]
) -> None:
    root = post(
        server, asker, freebusy_request(f"mailto:{asker}@example.org", ["mailto:bob@example.org"])
    )
    status, busy = answers(root)["mailto:bob@example.org"]
    assert status.startswith("2.0")
    assert busy == expected


def test_outbox_freebusy_without_any_right_says_no_authority(server: LiveServer) -> None:
    root = post(server, "dave", freebusy_request("mailto:dave@example.org", ["/bob/"]))
    status, busy = answers(root)["/bob/"]
    assert status.startswith("3.8") and busy == {}


def test_outbox_freebusy_unknown_attendee_is_invalid(server: LiveServer) -> None:
    root = post(
        server,
        "carol",
        freebusy_request(
            "mailto:carol@example.org",
            ["mailto:nobody@example.org", "mailto:bob@example.org"],
        ),
    )
    found = answers(root)
    assert found["mailto:nobody@example.org"][0].startswith("3.7")
    assert found["mailto:bob@example.org"][0].startswith("2.0")


def test_outbox_group_membership_gives_busy_time(server: LiveServer) -> None:
    # dave joins the team: he sees bob's busy slots; leaving takes it back
    calserver(server, "group", "add-member", "team", "dave")
    try:
        root = post(server, "dave", freebusy_request("mailto:dave@example.org", ["/bob/"]))
        assert answers(root)["/bob/"] == ("2.0;Success", FREEBUSY_VIEW)
    finally:
        calserver(server, "group", "remove-member", "team", "dave")
    root = post(server, "dave", freebusy_request("mailto:dave@example.org", ["/bob/"]))
    assert answers(root)["/bob/"][0].startswith("3.8")


@pytest.mark.parametrize(
    "body",
    [
        "not a calendar at all",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
        freebusy_request("mailto:alice@example.org", []),
        freebusy_request("mailto:alice@example.org", ["/bob/"]).replace("METHOD:REQUEST", ""),
        freebusy_request("mailto:alice@example.org", ["/bob/"]).replace(
            "DTEND:20270602T000000Z\r\n", ""
        ),
        freebusy_request("mailto:alice@example.org", ["/bob/"], end="20270501T000000Z"),
        freebusy_request("mailto:alice@example.org", ["/bob/"], end="20400101T000000Z"),
        event("meeting", 9).replace("BEGIN:VCALENDAR\r\n", "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\n"),
        "BEGIN:VCALENDAR\r\nBEGIN:VFREEBUSY\r\nDTSTART:nonsense\r\n",
    ],
)
def test_outbox_refuses_a_malformed_request_with_400(server: LiveServer, body: str) -> None:
    reply = send(server, "POST", "/alice/outbox/", body, ICS, user="alice")
    assert reply.status == 400, (reply.status, reply.body)
    assert b"error" in reply.body


def test_outbox_refuses_wrong_media_type(server: LiveServer) -> None:
    body = freebusy_request("mailto:alice@example.org", ["/bob/"])
    reply = send(server, "POST", "/alice/outbox/", body, XML, user="alice")
    assert reply.status == 415


def test_outbox_post_to_someone_elses_outbox_is_forbidden(server: LiveServer) -> None:
    body = freebusy_request("mailto:bob@example.org", ["/bob/"])
    assert send(server, "POST", "/bob/outbox/", body, ICS, user="alice").status == 403
    assert send(server, "POST", "/bob/outbox/", body, ICS, user=None).status == 401


def test_outbox_organizer_must_be_the_poster(server: LiveServer) -> None:
    body = freebusy_request("mailto:bob@example.org", ["/bob/"])
    reply = send(server, "POST", "/carol/outbox/", body, ICS, user="carol")
    assert reply.status == 403
    assert b"organizer-allowed" in reply.body


def test_post_to_the_inbox_is_not_allowed(server: LiveServer) -> None:
    body = freebusy_request("mailto:alice@example.org", ["/bob/"])
    assert send(server, "POST", "/alice/inbox/", body, ICS, user="alice").status == 405


def test_caldav_library_freebusy_request(server: LiveServer) -> None:
    client = caldav.DAVClient(server.url + "/", username="carol", password=PASSWORD)
    principal = client.principal()
    result = principal.freebusy_request(DAY_START, DAY_END, ["mailto:bob@example.org"])
    assert result["errors"] == {}
    reply = result["mailto:bob@example.org"]
    (component,) = reply.icalendar_instance.walk("VFREEBUSY")
    lines = component.get("FREEBUSY", [])
    starts = {
        start.hour: line.params["FBTYPE"]
        for line in (lines if isinstance(lines, list) else [lines])
        for start, _end in (line.dt if isinstance(line.dt, list) else [line.dt])
    }
    assert starts == FREEBUSY_VIEW


# --- invitations and meetings -----------------------------------------------------------


def invitation(uid: str, start: str, end: str, partstat: str, summary: str) -> str:
    """An event alice organizes with frank invited, as frank's copy. SCHEDULE-AGENT=CLIENT
    (RFC 6638 7.1): the server's scheduling leaves it alone, so the test sees exactly
    what it stored."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//inv//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\n"
        "ORGANIZER;CN=Alice:mailto:alice@example.org\r\n"
        f"ATTENDEE;CN=Frank;PARTSTAT={partstat};SCHEDULE-AGENT=CLIENT:"
        "mailto:frank@example.org\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.fixture(scope="module")
def invited(server: LiveServer) -> str:
    """frank's calendar with one pending future invitation, one past one and one
    answered; the uid of the pending one."""
    mkcalendar(server, "frank", "cal")
    pending = "inv-pending-" + uuid.uuid4().hex[:8]
    put(
        server,
        "frank",
        f"/frank/cal/{pending}.ics",
        invitation(pending, "20270301T100000Z", "20270301T110000Z", "NEEDS-ACTION", "Plan"),
    )
    put(
        server,
        "frank",
        "/frank/cal/past.ics",
        invitation("inv-past", "20200301T100000Z", "20200301T110000Z", "NEEDS-ACTION", "Old"),
    )
    put(
        server,
        "frank",
        "/frank/cal/answered.ics",
        invitation("inv-answered", "20270302T100000Z", "20270302T110000Z", "ACCEPTED", "Yes"),
    )
    return pending


def test_cli_invitations_lists_the_pending_future_one(server: LiveServer, invited: str) -> None:
    listed = json.loads(calserver(server, "invitations", "frank", "--json"))["invitations"]
    assert [entry["uid"] for entry in listed] == [invited]
    (entry,) = listed
    assert entry["summary"] == "Plan"
    assert entry["organizer"] == "mailto:alice@example.org"
    assert entry["calendar"] == "frank/cal"
    assert entry["href"] == f"/frank/cal/{invited}.ics"
    assert entry["partstat"] == "NEEDS-ACTION"
    assert entry["start"].startswith("2027-03-01T10:00:00")
    text = calserver(server, "invitations", "frank")
    assert "Plan" in text and "alice@example.org" in text


def test_api_invitations_lists_the_pending_future_one(server: LiveServer, invited: str) -> None:
    reply = send(server, "GET", "/.api/v1/me/invitations", user="frank")
    assert reply.status == 200, reply.body
    listed = json.loads(reply.body)["invitations"]
    assert [entry["uid"] for entry in listed] == [invited]
    assert listed[0]["href"] == f"/frank/cal/{invited}.ics"
    # alice is the organizer: nothing waits for her
    reply = send(server, "GET", "/.api/v1/me/invitations", user="alice")
    assert json.loads(reply.body) == {"invitations": []}
    assert send(server, "GET", "/.api/v1/me/invitations", user=None).status == 401


def test_api_meetings_lists_what_alice_organizes_with_answers(server: LiveServer) -> None:
    mkcalendar(server, "alice", "meet")
    uid = "meeting-" + uuid.uuid4().hex[:8]
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//meet//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20270401T090000Z\r\nDTEND:20270401T100000Z\r\nSUMMARY:Review\r\n"
        "ORGANIZER;CN=Alice:mailto:alice@example.org\r\n"
        "ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED;SCHEDULE-AGENT=CLIENT:mailto:alice@example.org\r\n"
        "ATTENDEE;CN=Zed;PARTSTAT=DECLINED;SCHEDULE-AGENT=CLIENT;SCHEDULE-STATUS=2.0:"
        "mailto:zed@elsewhere.example\r\n"
        "ATTENDEE;CN=Yan;PARTSTAT=NEEDS-ACTION;SCHEDULE-AGENT=CLIENT:"
        "mailto:yan@elsewhere.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    put(server, "alice", f"/alice/meet/{uid}.ics", text)
    reply = send(server, "GET", "/.api/v1/me/meetings", user="alice")
    assert reply.status == 200, reply.body
    (meeting,) = json.loads(reply.body)["meetings"]
    assert meeting["uid"] == uid and meeting["summary"] == "Review"
    assert meeting["href"] == f"/alice/meet/{uid}.ics"
    assert meeting["attendees"] == [
        {
            "address": "mailto:zed@elsewhere.example",
            "name": "Zed",
            "partstat": "DECLINED",
            "schedule_status": "2.0",
            "comment": "",
        },
        {
            "address": "mailto:yan@elsewhere.example",
            "name": "Yan",
            "partstat": "NEEDS-ACTION",
            "schedule_status": "",
            "comment": "",
        },
    ]
    # an attendee's view has no meetings of theirs
    reply = send(server, "GET", "/.api/v1/me/meetings", user="frank")
    assert json.loads(reply.body) == {"meetings": []}


# --- the pure pieces, without a server ------------------------------------------------


def test_merge_joins_overlaps_per_fbtype_and_drops_free() -> None:
    from calserver.dav.scheduling import merge

    hour = dt.timedelta(hours=1)
    periods = [
        (DAY_START, DAY_START + hour, "BUSY"),
        (DAY_START + hour / 2, DAY_START + 2 * hour, "BUSY"),
        (DAY_START + 3 * hour, DAY_START + 4 * hour, "BUSY-TENTATIVE"),
        (DAY_START + 5 * hour, DAY_START + 6 * hour, "FREE"),
    ]
    assert merge(periods) == [
        (DAY_START, DAY_START + 2 * hour, "BUSY"),
        (DAY_START + 3 * hour, DAY_START + 4 * hour, "BUSY-TENTATIVE"),
    ]


def test_parse_request_reads_a_floating_window_as_utc() -> None:
    from calserver.dav.scheduling import parse_request

    body = freebusy_request(
        "mailto:alice@example.org", ["/bob/", "/bob/"], "20270601T000000", "20270602"
    )
    request = parse_request(body.encode())
    assert request.attendees == ["/bob/"]
    assert (request.start, request.end) == (DAY_START, DAY_END)


def test_pending_in_finds_an_override_waiting_for_an_answer() -> None:
    from calserver.scheduling.addresses import Me
    from calserver.scheduling.invitations import meeting_in, pending_in

    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
        "BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20270301T100000Z\r\nDTEND:20270301T110000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\n"
        "SUMMARY:Standup\r\nORGANIZER:mailto:alice@example.org\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED:/frank/\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\n"
        "RECURRENCE-ID:20270302T100000Z\r\nDTSTART:20270302T120000Z\r\n"
        "DTEND:20270302T130000Z\r\nSUMMARY:Standup (moved)\r\n"
        "ORGANIZER:mailto:alice@example.org\r\nATTENDEE:mailto:FRANK@example.org\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    found = pending_in(text, Me("frank", "frank@example.org"), "frank/cal", "/frank/cal/s.ics")
    assert found is not None
    assert (found.summary, found.partstat) == ("Standup", "NEEDS-ACTION")
    assert found.start.startswith("2027-03-02T12:00:00")
    assert pending_in(text, Me("alice", "alice@example.org"), "a/c", "/a/c/s.ics") is None
    meeting = meeting_in(text, Me("alice", "alice@example.org"), "a/c", "/a/c/s.ics")
    assert meeting is not None
    assert [(a.address, a.partstat) for a in meeting.attendees] == [("/frank/", "ACCEPTED")]
