"""calendarserver-sharing as Apple Calendar speaks it (calserver.dav.cssharing over
calserver.sharing.invites), against a live server on SQLite and PostgreSQL, with the
bodies Apple Calendar sends: the owner's CS:share POST, CS:invite on the calendar, the
sharee's notification collection (listing and GET), the sharee's CS:invite-reply
(accept, decline), unsharing; then what the sharee sees in their home and may do at
their level, and what nobody else may do.

The world: alice owns the calendars (one per test); bob, carol and dave are invited;
eve is nobody's sharee.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer
from tests.e2e_support import ENGINES, NS, calserver, module_server_with, send

pytestmark = pytest.mark.live

PEOPLE = ["alice", "bob", "carol", "dave", "eve"]
XML = {"Content-Type": "text/xml; charset=utf-8"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
CS = "http://calendarserver.org/ns/"


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from module_server_with(request, tmp_path_factory, PEOPLE)


# --- what Apple Calendar sends ----------------------------------------------------------


def share_body(*entries: tuple[str, str | None]) -> str:
    """Apple Calendar's CS:share: (href, "read-write" | "read") sets, (href, None)
    removes."""
    parts = []
    for href, access in entries:
        if access is None:
            parts.append(f'<B:remove><A:href xmlns:A="DAV:">{href}</A:href></B:remove>')
        else:
            parts.append(
                f'<B:set><A:href xmlns:A="DAV:">{href}</A:href>'
                f"<B:summary>Work</B:summary><B:{access}/></B:set>"
            )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<B:share xmlns:B="{CS}">' + "".join(parts) + "</B:share>"
    )


def reply_body(me: str, hosturl: str, uid: str, accept: bool = True) -> str:
    """Apple Calendar's CS:invite-reply, as it posts it to the sharee's home."""
    answer = "invite-accepted" if accept else "invite-declined"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<B:invite-reply xmlns:B="{CS}">'
        f'<A:href xmlns:A="DAV:">mailto:{me}@example.org</A:href>'
        f"<B:{answer}/>"
        f'<B:hosturl><A:href xmlns:A="DAV:">{hosturl}</A:href></B:hosturl>'
        f"<B:in-reply-to>{uid}</B:in-reply-to>"
        "<B:summary>Work</B:summary>"
        "</B:invite-reply>"
    )


#: Apple Calendar's PROPFIND of a calendar home (Depth 1), cut to what matters here.
HOME_PROPFIND = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<A:propfind xmlns:A="DAV:" xmlns:B="http://calendarserver.org/ns/" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:D="http://apple.com/ns/ical/">'
    "<A:prop><B:allowed-sharing-modes/><A:current-user-privilege-set/>"
    "<A:displayname/><B:getctag/><B:invite/><A:resourcetype/>"
    "<C:supported-calendar-component-set/><D:calendar-color/></A:prop></A:propfind>"
)

#: Apple Calendar's PROPFIND of a principal (Depth 0), cut to what matters here.
PRINCIPAL_PROPFIND = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<A:propfind xmlns:A="DAV:" xmlns:B="http://calendarserver.org/ns/" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav">'
    "<A:prop><C:calendar-home-set/><B:notification-URL/><A:displayname/>"
    "<C:calendar-user-address-set/></A:prop></A:propfind>"
)

#: Apple Calendar's PROPFIND of the notification collection (Depth 1).
NOTIFICATIONS_PROPFIND = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<A:propfind xmlns:A="DAV:" xmlns:B="http://calendarserver.org/ns/">'
    "<A:prop><A:getetag/><B:notificationtype/><A:resourcetype/></A:prop></A:propfind>"
)


# --- helpers ---------------------------------------------------------------------------


def new_calendar(server: LiveServer) -> str:
    name = "work-" + uuid.uuid4().hex[:8]
    reply = send(server, "MKCALENDAR", f"/alice/{name}/", user="alice")
    assert reply.status == 201, reply.body
    return name


def share(server: LiveServer, name: str, *entries: tuple[str, str | None], user: str = "alice"):
    return send(server, "POST", f"/alice/{name}/", share_body(*entries), XML, user=user)


def propfind(server: LiveServer, path: str, body: str, depth: str, user: str) -> ET.Element:
    reply = send(server, "PROPFIND", path, body, {**XML, "Depth": depth}, user=user)
    assert reply.status == 207, (reply.status, reply.body)
    return ET.fromstring(reply.body)


def prop(root: ET.Element, href: str, name: str) -> ET.Element | None:
    """The property ``name`` (``CS:invite``) of ``href`` in a 200 propstat."""
    for response in root.findall("D:response", NS):
        if response.findtext("D:href", namespaces=NS) != href:
            continue
        for propstat in response.findall("D:propstat", NS):
            if " 200 " not in propstat.findtext("D:status", "", NS):
                continue
            found = propstat.find(f"D:prop/{name}", NS)
            if found is not None:
                return found
    return None


def invite_of(server: LiveServer, name: str) -> dict[str, tuple[str, str]]:
    """CS:invite of alice's calendar: {href: (status, access)}."""
    root = propfind(
        server,
        f"/alice/{name}/",
        f'<propfind xmlns="DAV:" xmlns:B="{CS}"><prop><B:invite/></prop></propfind>',
        "0",
        "alice",
    )
    invite = prop(root, f"/alice/{name}/", "CS:invite")
    assert invite is not None
    organizer = invite.find("CS:organizer", NS)
    assert organizer is not None
    assert organizer.findtext("D:href", namespaces=NS) == "mailto:alice@example.org"
    found = {}
    for user in invite.findall("CS:user", NS):
        status = next(c.tag.split("}")[1] for c in user if c.tag.startswith(f"{{{CS}}}invite-"))
        access = user.find("CS:access", NS)
        assert access is not None
        found[user.findtext("D:href", namespaces=NS) or ""] = (status, access[0].tag.split("}")[1])
    return found


def notifications(server: LiveServer, user: str) -> dict[str, str]:
    """{href: notificationtype} of ``user``'s notification collection."""
    root = propfind(server, f"/{user}/.notifications/", NOTIFICATIONS_PROPFIND, "1", user)
    found = {}
    for response in root.findall("D:response", NS):
        href = response.findtext("D:href", namespaces=NS) or ""
        kind = prop(root, href, "CS:notificationtype")
        if kind is not None:
            found[href] = kind[0].tag.split("}")[1]
    return found


def invitation(server: LiveServer, user: str, hosturl: str) -> ET.Element:
    """The CS:invite-notification of ``user`` about ``hosturl``, read by GET."""
    for href, kind in notifications(server, user).items():
        if kind != "invite-notification":
            continue
        reply = send(server, "GET", href, user=user)
        assert reply.status == 200, reply.body
        assert reply.headers["content-type"].startswith("application/xml")
        body = ET.fromstring(reply.body).find("CS:invite-notification", NS)
        assert body is not None
        if body.findtext("CS:hosturl/D:href", namespaces=NS) == hosturl:
            return body
    raise AssertionError(f"{user} has no invitation to {hosturl}")


def event(uid: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//cs-sharing//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20270101T000000Z\r\n"
        "DTSTART:20270601T100000Z\r\nDTEND:20270601T110000Z\r\n"
        f"SUMMARY:Meeting {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def home_listing(server: LiveServer, user: str) -> set[str]:
    root = propfind(server, f"/{user}/", HOME_PROPFIND, "1", user)
    return {r.findtext("D:href", namespaces=NS) or "" for r in root.findall("D:response", NS)}


# --- the tests -------------------------------------------------------------------------


def test_dav_header_announces_calendarserver_sharing(server: LiveServer) -> None:
    reply = send(server, "OPTIONS", "/alice/", user="alice")
    assert "calendarserver-sharing" in reply.headers["dav"]


def test_owner_shares_and_sees_sharees_in_cs_invite(server: LiveServer) -> None:
    name = new_calendar(server)
    reply = share(server, name, ("mailto:bob@example.org", "read-write"), ("/carol/", "read"))
    assert reply.status == 200, reply.body
    assert invite_of(server, name) == {
        "mailto:bob@example.org": ("invite-noresponse", "read-write"),
        "mailto:carol@example.org": ("invite-noresponse", "read"),
    }
    # Apple's Depth 1 PROPFIND of the home: the calendar may be shared, and is
    root = propfind(server, "/alice/", HOME_PROPFIND, "1", "alice")
    modes = prop(root, f"/alice/{name}/", "CS:allowed-sharing-modes")
    assert modes is not None and modes.find("CS:can-be-shared", NS) is not None
    invite = prop(root, f"/alice/{name}/", "CS:invite")
    assert invite is not None and len(invite.findall("CS:user", NS)) == 2


def test_sharee_finds_the_invitation_in_their_notification_collection(
    server: LiveServer,
) -> None:
    name = new_calendar(server)
    assert share(server, name, ("mailto:bob@example.org", "read-write")).status == 200
    root = propfind(server, "/bob/", PRINCIPAL_PROPFIND, "0", "bob")
    url = prop(root, "/bob/", "CS:notification-URL")
    assert url is not None and url.findtext("D:href", namespaces=NS) == "/bob/.notifications/"
    collection = propfind(server, "/bob/.notifications/", NOTIFICATIONS_PROPFIND, "0", "bob")
    kind = prop(collection, "/bob/.notifications/", "D:resourcetype")
    assert kind is not None and kind.find("CS:notification", NS) is not None
    body = invitation(server, "bob", f"/alice/{name}/")
    assert body.find("CS:invite-noresponse", NS) is not None
    assert body.find("CS:access/CS:read-write", NS) is not None
    assert body.findtext("CS:organizer/D:href", namespaces=NS) == "mailto:alice@example.org"
    assert body.findtext("D:href", namespaces=NS) == "mailto:bob@example.org"
    assert body.findtext("CS:summary", namespaces=NS) == "Work"
    assert body.findtext("CS:uid", namespaces=NS)


def test_accepting_sharee_reads_and_writes_through_their_home(server: LiveServer) -> None:
    name = new_calendar(server)
    assert send(server, "PUT", f"/alice/{name}/a.ics", event("a"), ICS).status == 201
    assert share(server, name, ("mailto:bob@example.org", "read-write")).status == 200
    uid = invitation(server, "bob", f"/alice/{name}/").findtext("CS:uid", namespaces=NS)
    reply = send(
        server, "POST", "/bob/", reply_body("bob", f"/alice/{name}/", uid or ""), XML, "bob"
    )
    assert reply.status == 200, reply.body
    shared_as = ET.fromstring(reply.body)
    assert shared_as.tag == f"{{{CS}}}shared-as"
    alias = f"/bob/alice~{name}/"
    assert shared_as.findtext("D:href", namespaces=NS) == alias
    # the calendar is in bob's home, as a grant made by `calserver share` puts it
    assert alias in home_listing(server, "bob")
    assert send(server, "GET", alias + "a.ics", user="bob").status == 200
    assert send(server, "PUT", alias + "b.ics", event("b"), ICS, user="bob").status == 201
    assert send(server, "GET", f"/alice/{name}/b.ics", user="alice").status == 200
    # the owner sees the answer: in CS:invite and as an invite-reply notification
    assert invite_of(server, name) == {"mailto:bob@example.org": ("invite-accepted", "read-write")}
    replies = [h for h, k in notifications(server, "alice").items() if k == "invite-reply"]
    answers = [ET.fromstring(send(server, "GET", h, user="alice").body) for h in replies]
    mine = [
        a.find("CS:invite-reply", NS)
        for a in answers
        if a.findtext("CS:invite-reply/CS:hosturl/D:href", namespaces=NS) == f"/alice/{name}/"
    ]
    assert len(mine) == 1 and mine[0] is not None
    assert mine[0].find("CS:invite-accepted", NS) is not None
    assert mine[0].findtext("CS:in-reply-to", namespaces=NS) == uid
    assert mine[0].findtext("D:href", namespaces=NS) == "mailto:bob@example.org"


def test_read_sharee_reads_but_cannot_write(server: LiveServer) -> None:
    name = new_calendar(server)
    assert send(server, "PUT", f"/alice/{name}/a.ics", event("a"), ICS).status == 201
    assert share(server, name, ("mailto:carol@example.org", "read")).status == 200
    uid = invitation(server, "carol", f"/alice/{name}/").findtext("CS:uid", namespaces=NS)
    body = reply_body("carol", f"/alice/{name}/", uid or "")
    assert send(server, "POST", "/carol/", body, XML, user="carol").status == 200
    alias = f"/carol/alice~{name}/"
    assert alias in home_listing(server, "carol")
    assert send(server, "GET", alias + "a.ics", user="carol").status == 200
    assert send(server, "PUT", alias + "c.ics", event("c"), ICS, user="carol").status == 403
    assert send(server, "GET", f"/alice/{name}/c.ics", user="alice").status == 404


def test_declining_takes_the_calendar_out_of_the_sharees_home(server: LiveServer) -> None:
    name = new_calendar(server)
    assert send(server, "PUT", f"/alice/{name}/a.ics", event("a"), ICS).status == 201
    assert share(server, name, ("mailto:dave@example.org", "read")).status == 200
    alias = f"/dave/alice~{name}/"
    assert alias in home_listing(server, "dave")  # shared at once, before the answer
    uid = invitation(server, "dave", f"/alice/{name}/").findtext("CS:uid", namespaces=NS)
    body = reply_body("dave", f"/alice/{name}/", uid or "", accept=False)
    assert send(server, "POST", "/dave/", body, XML, user="dave").status == 204
    assert alias not in home_listing(server, "dave")
    assert send(server, "GET", f"/alice/{name}/a.ics", user="dave").status in (403, 404)
    assert invite_of(server, name) == {"mailto:dave@example.org": ("invite-declined", "read")}
    # a declined invitation is not accepted afterwards: the owner shares again
    again = reply_body("dave", f"/alice/{name}/", uid or "")
    assert send(server, "POST", "/dave/", again, XML, user="dave").status == 409
    assert share(server, name, ("mailto:dave@example.org", "read")).status == 200
    assert invite_of(server, name) == {"mailto:dave@example.org": ("invite-noresponse", "read")}


def test_unsharing_takes_the_calendar_back(server: LiveServer) -> None:
    name = new_calendar(server)
    assert share(server, name, ("mailto:bob@example.org", "read-write")).status == 200
    alias = f"/bob/alice~{name}/"
    assert alias in home_listing(server, "bob")
    assert share(server, name, ("mailto:bob@example.org", None)).status == 200
    assert alias not in home_listing(server, "bob")
    assert invite_of(server, name) == {}
    # the invitation went with it
    hosts = []
    for href, kind in notifications(server, "bob").items():
        document = ET.fromstring(send(server, "GET", href, user="bob").body)
        hosts.append(document.findtext(f"CS:{kind}/CS:hosturl/D:href", namespaces=NS))
    assert f"/alice/{name}/" not in hosts


def test_sharee_cannot_share_again(server: LiveServer) -> None:
    name = new_calendar(server)
    assert share(server, name, ("mailto:bob@example.org", "read-write")).status == 200
    body = share_body(("mailto:eve@example.org", "read"))
    reply = send(server, "POST", f"/bob/alice~{name}/", body, XML, user="bob")
    assert reply.status == 403
    assert b"cannot be shared again" in reply.body
    reply = send(server, "POST", f"/alice/{name}/", body, XML, user="bob")
    assert reply.status == 403
    assert "mailto:eve@example.org" not in invite_of(server, name)
    assert f"/eve/alice~{name}/" not in home_listing(server, "eve")


def test_outsider_cannot_share_or_see_the_sharees(server: LiveServer) -> None:
    name = new_calendar(server)
    reply = share(server, name, ("mailto:eve@example.org", "read-write"), user="eve")
    assert reply.status == 403
    assert f"/eve/alice~{name}/" not in home_listing(server, "eve")
    assert invite_of(server, name) == {}
    # nor reply for someone else, nor read their notifications
    body = reply_body("bob", f"/alice/{name}/", "x")
    assert send(server, "POST", "/bob/", body, XML, user="eve").status == 403
    reply = send(
        server,
        "PROPFIND",
        "/bob/.notifications/",
        NOTIFICATIONS_PROPFIND,
        {**XML, "Depth": "1"},
        user="eve",
    )
    assert reply.status == 403
    # an invitation nobody sent cannot be accepted
    assert (
        send(server, "POST", "/eve/", reply_body("eve", f"/alice/{name}/", "x"), XML, "eve").status
        == 404
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<B:share xmlns:B='http://calendarserver.org/ns/'><B:set>", b"well-formed"),
        (share_body(("mailto:bob@example.org", "write")), b"CS:read-write"),
        (share_body(("mailto:nobody@example.org", "read")), b"no user"),
        (share_body(("/@team/", "read")), b"names no user"),
        (share_body(("mailto:alice@example.org", "read")), b"owns"),
        (f'<B:share xmlns:B="{CS}"/>', b"no CS:set"),
        (
            f'<B:share xmlns:B="{CS}"><B:set><B:read/></B:set></B:share>',
            b"exactly one DAV:href",
        ),
        (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            f'<B:share xmlns:B="{CS}"><B:set><A:href xmlns:A="DAV:">&e;</A:href>'
            "<B:read/></B:set></B:share>",
            b"well-formed",
        ),
    ],
)
def test_hostile_share_bodies_get_a_clear_400(server: LiveServer, body: str, reason: bytes) -> None:
    name = new_calendar(server)
    reply = send(server, "POST", f"/alice/{name}/", body, XML, user="alice")
    assert reply.status == 400, reply.body
    assert reason in reply.body
    assert invite_of(server, name) == {}


def test_a_bad_entry_applies_none_of_the_share(server: LiveServer) -> None:
    name = new_calendar(server)
    reply = share(server, name, ("mailto:bob@example.org", "read"), ("mailto:x@nowhere", "read"))
    assert reply.status == 400
    assert invite_of(server, name) == {}
    # refused by the store after bob's entry was written: taken back with it
    reply = share(server, name, ("mailto:bob@example.org", "read"), ("/alice/", "read"))
    assert reply.status == 400, reply.body
    assert invite_of(server, name) == {}
    assert f"/bob/alice~{name}/" not in home_listing(server, "bob")


def test_resourcetype_marks_shared_calendars_for_owner_and_sharee(server: LiveServer) -> None:
    shared, alone = new_calendar(server), new_calendar(server)
    assert share(server, shared, ("mailto:bob@example.org", "read")).status == 200

    def kinds(user: str, href: str) -> set[str]:
        root = propfind(server, f"/{user}/", HOME_PROPFIND, "1", user)
        found = prop(root, href, "D:resourcetype")
        assert found is not None, href
        return {child.tag for child in found}

    owner_mark, sharee_mark = f"{{{CS}}}shared-owner", f"{{{CS}}}shared"
    assert owner_mark in kinds("alice", f"/alice/{shared}/")
    assert owner_mark not in kinds("alice", f"/alice/{alone}/")
    bob_sees = kinds("bob", f"/bob/alice~{shared}/")
    assert sharee_mark in bob_sees and "{urn:ietf:params:xml:ns:caldav}calendar" in bob_sees
    assert owner_mark not in bob_sees


def test_grants_of_the_cli_appear_as_accepted_and_busy_ones_not_at_all(
    server: LiveServer,
) -> None:
    name = new_calendar(server)
    calserver(server, "share", f"alice/{name}", "--with", "bob", "--level", "read")
    calserver(server, "share", f"alice/{name}", "--with", "carol", "--level", "busy")
    assert invite_of(server, name) == {"mailto:bob@example.org": ("invite-accepted", "read")}


def test_dismissed_notification_is_gone_and_the_share_stays(server: LiveServer) -> None:
    name = new_calendar(server)
    assert share(server, name, ("mailto:carol@example.org", "read")).status == 200
    before = notifications(server, "carol")
    href = next(
        h
        for h in before
        if ET.fromstring(send(server, "GET", h, user="carol").body).findtext(
            "CS:invite-notification/CS:hosturl/D:href", namespaces=NS
        )
        == f"/alice/{name}/"
    )
    assert send(server, "DELETE", href, user="bob").status == 403
    assert send(server, "DELETE", href, user="carol").status == 204
    assert href not in notifications(server, "carol")
    assert send(server, "GET", href, user="carol").status == 404
    assert f"/carol/alice~{name}/" in home_listing(server, "carol")
