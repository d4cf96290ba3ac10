"""End to end: scheduling as clients and people see it (issue 5): the caldav library's
own RFC 6638 flow (principal addresses, schedule inbox, ``accept_invite``), pending
invitations, the organizer's answers view, attendees named by any of their addresses,
personal changes an attendee may make, and a copy moved to another calendar; against a
live ``calserver serve`` on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import icalendar
import pytest

from tests.conftest import LiveServer
from tests.e2e_support import ENGINES, calserver, dav, path_of, responses, send, unique
from tests.scheduling_support import (
    answer,
    answers,
    attendee_values,
    attendees,
    copies,
    copy_of,
    copy_paths,
    email,
    get,
    inbox,
    master,
    meeting,
    methods,
    organize,
    organizer_copy,
    parse,
    partstat,
    put,
    server_fixture,
)

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from server_fixture(request, tmp_path_factory)


def test_invitation_is_pending_until_answered(server: LiveServer) -> None:
    """Pending invitations (``calserver invitations``) list the meeting until Bob
    answers; the inbox owner may delete an iTIP message."""
    uid = unique("pending")
    organize(server, meeting(uid, ["bob"], summary="Pending thing"))
    pending = json.loads(calserver(server, "invitations", "bob", "--json"))["invitations"]
    [entry] = [entry for entry in pending if entry["uid"] == uid]
    assert entry["summary"] == "Pending thing"
    assert entry["partstat"] == "NEEDS-ACTION"
    assert "alice@example.org" in entry["organizer"]

    answer(server, "bob", uid, "ACCEPTED")
    pending = json.loads(calserver(server, "invitations", "bob", "--json"))["invitations"]
    assert uid not in [entry["uid"] for entry in pending]

    # Only the server writes into an inbox; its owner may delete what arrived.
    forged = send(server, "PUT", "/bob/inbox/forged.ics", meeting(uid, ["bob"]), user="bob")
    assert forged.status == 403, (forged.status, forged.text)
    hrefs = _inbox_hrefs(server, "bob", uid)
    assert len(hrefs) == 1
    assert send(server, "DELETE", hrefs[0], user="bob").status in (200, 204)
    assert inbox(server, "bob", uid) == []


def _inbox_hrefs(server: LiveServer, user: str, uid: str) -> list[str]:
    reply = send(
        server,
        "REPORT",
        f"/{user}/inbox/",
        "<?xml version='1.0'?><C:calendar-query xmlns:D='DAV:' "
        "xmlns:C='urn:ietf:params:xml:ns:caldav'><D:prop><D:getetag/></D:prop>"
        "<C:filter><C:comp-filter name='VCALENDAR'><C:comp-filter name='VEVENT'>"
        f"<C:prop-filter name='UID'><C:text-match collation='i;octet'>{uid}</C:text-match>"
        "</C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>",
        {"Depth": "1", "Content-Type": "application/xml"},
        user=user,
    )
    assert reply.status == 207, (reply.status, reply.text)
    return list(responses(reply.xml()))


def test_attendee_client_finds_the_invitation_in_its_inbox_and_accepts_it(
    server: LiveServer,
) -> None:
    """RFC 6638 as the ``caldav`` library uses it: the principal's addresses and schedule
    inbox, the REQUEST there, ``accept_invite()``; the organizer's copy says ACCEPTED,
    and Bob still has exactly one copy."""
    uid = unique("client")
    organize(server, meeting(uid, ["bob"], summary="Client accept"))
    principal = dav(server, "bob").principal()
    addresses = principal.calendar_user_address_set()
    assert addresses[0].lower() == "mailto:bob@example.org", addresses
    assert path_of(principal.schedule_inbox().url) == "/bob/inbox/"
    assert "/bob/inbox/" not in [path_of(c.url) for c in principal.calendars()]
    invites = [i for i in principal.schedule_inbox().get_items() if uid in i.data]
    assert len(invites) == 1
    assert invites[0].is_invite_request()

    invites[0].accept_invite()

    assert answers(master(organizer_copy(server, uid)))["bob"] == ("ACCEPTED", "2.0")
    assert set(copies(server, uid)) == {"alice/work", "bob/calendar"}
    assert partstat(master(copy_of(server, "bob", uid)[1]), "bob") == "ACCEPTED"


def test_organizer_sees_every_answer_with_its_reason(server: LiveServer) -> None:
    """The organizer's answers view (``GET /.api/v1/me/meetings``), from her copy."""
    uid = unique("view")
    organize(server, meeting(uid, ["bob", "carol", "zoe"], summary="Answers view"))
    answer(server, "bob", uid, "DECLINED", comment="Clashes with the dentist")
    answer(server, "carol", uid, "ACCEPTED")

    reply = send(server, "GET", "/.api/v1/me/meetings", user="alice")
    assert reply.status == 200, (reply.status, reply.text)
    [found] = [m for m in json.loads(reply.text)["meetings"] if m["uid"] == uid]
    assert found["summary"] == "Answers view"
    seen = {
        a["address"].lower().removeprefix("mailto:"): (a["partstat"], a["schedule_status"])
        for a in found["attendees"]
    }
    assert seen[email("bob")] == ("DECLINED", "2.0")
    assert seen[email("carol")] == ("ACCEPTED", "2.0")
    assert seen[email("zoe")] == ("NEEDS-ACTION", "1.1")
    [bob] = [a for a in found["attendees"] if email("bob") in a["address"].lower()]
    assert bob["comment"] == "Clashes with the dentist"


@pytest.mark.parametrize("address", ["mailto:Bob@EXAMPLE.org", "/bob/"])
def test_attendee_named_by_any_of_their_addresses_is_scheduled(
    server: LiveServer, address: str
) -> None:
    """1: an address names a user by e-mail without case, or by principal URL."""
    uid = unique("address")
    line = f"ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:{address}\r\n"
    organize(server, meeting(uid, line))
    assert set(copies(server, uid)) == {"alice/work", "bob/calendar"}
    assert methods(inbox(server, "bob", uid)) == ["REQUEST"]
    [params] = [
        p for a, p in attendees(master(organizer_copy(server, uid))).items() if "bob" in a.lower()
    ]
    assert params.get("SCHEDULE-STATUS") == "1.2", params
    answer(server, "bob", uid, "ACCEPTED", any_address=True)
    [params] = [
        p for a, p in attendees(master(organizer_copy(server, uid))).items() if "bob" in a.lower()
    ]
    assert (params.get("PARTSTAT"), params.get("SCHEDULE-STATUS")) == ("ACCEPTED", "2.0")


def test_attendee_may_add_an_alarm_and_client_properties_with_the_answer(
    server: LiveServer,
) -> None:
    """4 / RFC 6638 3.2.2.1: an attendee's own alarm and client bookkeeping (as
    Thunderbird writes them) are allowed changes; they stay in the attendee's copy."""
    uid = unique("alarm")
    organize(server, meeting(uid, ["bob"]))
    event, _ = copy_of(server, "bob", uid)
    with event.edit_icalendar_instance() as cal:
        component = master(cal)
        for value in attendee_values(component):
            if str(value).lower() == "mailto:bob@example.org":
                value.params["PARTSTAT"] = "ACCEPTED"
        component["X-MOZ-LASTACK"] = "20261101T000000Z"
        component["TRANSP"] = "TRANSPARENT"
        alarm = icalendar.Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", "Bob's reminder")
        alarm.add("TRIGGER", dt.timedelta(minutes=-15))
        component.add_component(alarm)
    event.save(increase_seqno=False)

    assert answers(master(organizer_copy(server, uid)))["bob"] == ("ACCEPTED", "2.0")
    assert "Bob's reminder" not in organizer_copy(server, uid).to_ical().decode()
    mine = master(copy_of(server, "bob", uid)[1])
    assert [str(a["DESCRIPTION"]) for a in mine.walk("VALARM")] == ["Bob's reminder"]


def test_attendee_copy_moved_to_another_calendar_is_updated_where_it_is(
    server: LiveServer,
) -> None:
    """The attendee may move the copy (spec: Attendee copies); the organizer's next
    change updates it there, without a second copy in the default calendar."""
    uid = unique("moved-copy")
    other = unique("zz-other")  # sorts after "personal": not her default calendar
    calserver(server, "calendar", "create", f"carol/{other}", "--name", "Other")
    text = meeting(uid, ["carol"])
    organize(server, text)
    source = copy_paths(server, uid)["carol"]
    target = f"/carol/{other}/{uid}.ics"
    moved = send(
        server,
        "MOVE",
        source,
        headers={"Destination": server.url + target, "Overwrite": "F"},
        user="carol",
    )
    assert moved.status in (201, 204), (moved.status, moved.text)

    changed = text.replace("SUMMARY:Planning", "SUMMARY:Planning (moved)")
    assert put(server, "alice", f"/alice/work/{uid}.ics", changed).status in (201, 204)

    assert set(copies(server, uid)) == {"alice/work", f"carol/{other}"}
    status, copy = get(server, "carol", target)
    assert status == 200
    assert str(master(parse(copy))["SUMMARY"]) == "Planning (moved)"
    assert int(master(parse(copy))["SEQUENCE"]) == 1
