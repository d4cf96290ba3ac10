"""End to end: sharing and visibility (issue 3, DESIGN.md "Rules in detail") with the
``caldav`` client -- and raw HTTP where a client library would hide the answer --
against a live ``calserver serve``, on SQLite and PostgreSQL.

The world: Alice shares one calendar with Bob at each level (busy, read, write); Alice
(admin), Bob and Carol are in the group ``team``, so Carol, without a grant, sees
Alice's free/busy only; the group has a calendar (members read, the admin writes);
Dave is in no group. Every calendar holds one event of each kind: public,
CONFIDENTIAL, PRIVATE, TRANSP:TRANSPARENT, STATUS:TENTATIVE,
X-MICROSOFT-CDO-BUSYSTATUS:OOF and a weekly series, each full of text that only a
reader may see. Viewers read through both routes: the alias in their own home
(``/bob/alice~cal/``) and the owner's URL (``/alice/cal/``).

Management goes through ``calserver`` commands (in this process, on the server's
database: a process of its own costs two seconds); the server sees every change at
its next request.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import caldav
import icalendar
import pytest
from caldav.elements import dav, ical
from caldav.lib.url import URL

from tests.conftest import PASSWORD, LiveServer
from tests.e2e_support import (
    ENGINES,
    NS,
    calendar_data,
    calserver,
    module_server_with,
    path_of,
    prop_text,
    propfind,
    report,
    responses,
    send,
    status_code,
    unique,
)

pytestmark = pytest.mark.live

UTC = dt.UTC
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
XML = {"Content-Type": "application/xml; charset=utf-8"}

#: uid -> (start hour on Monday 2026-06-01, UTC; what sets the event apart)
KINDS: dict[str, tuple[int, str]] = {
    "public": (8, ""),
    "confidential": (10, "CLASS:CONFIDENTIAL\r\n"),
    "private": (12, "CLASS:PRIVATE\r\n"),
    "transparent": (14, "TRANSP:TRANSPARENT\r\n"),
    "tentative": (16, "STATUS:TENTATIVE\r\n"),
    "oof": (18, "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\n"),
    "weekly": (6, "RRULE:FREQ=WEEKLY;COUNT=3\r\n"),
}
LEVELS = ["busy", "read", "write"]
ROUTES = ["alias", "owner-url"]

#: What each viewer sees of each event (DESIGN.md's table): "details" or "busy" (the
#: busy view); an event not listed is not there at all.
SEES: dict[str, dict[str, str]] = {
    "owner": dict.fromkeys(KINDS, "details"),
    "busy": {uid: "busy" for uid in KINDS if uid not in ("confidential", "private")},
    "read": {
        **{uid: "details" for uid in KINDS if uid not in ("confidential", "private")},
        "confidential": "busy",
    },
}
SEES["write"] = SEES["read"]
SEES["freebusy"] = SEES["busy"]  # what a free/busy answer considers

#: The properties a busy view of each event has: times, recurrence, availability.
BUSY_PROPS = {"UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"}
BUSY_EXTRA = {
    "transparent": {"TRANSP"},
    "tentative": {"STATUS"},
    "oof": {"X-MICROSOFT-CDO-BUSYSTATUS"},
    "weekly": {"RRULE"},
}
#: FBTYPE of each event in a free/busy answer (RFC 5545 3.2.9); transparent: none.
FBTYPE = {
    "public": "BUSY",
    "confidential": "BUSY",
    "private": "BUSY",
    "tentative": "BUSY-TENTATIVE",
    "oof": "BUSY-UNAVAILABLE",
    "weekly": "BUSY",
}

MONDAY = dt.datetime(2026, 6, 1, tzinfo=UTC)


def event_text(uid: str, summary: str | None = None) -> str:
    """The event ``uid`` of KINDS, with text in every property a busy view drops."""
    hour, extra = KINDS[uid]
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//sharing//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:20260601T{hour:02d}0000Z\r\nDTEND:20260601T{hour + 1:02d}0000Z\r\n"
        f"SUMMARY:{summary or 'Title ' + uid}\r\nDESCRIPTION:secret {uid}\r\n"
        f"LOCATION:secret room {uid}\r\nCATEGORIES:secret-category\r\n"
        "ORGANIZER;CN=Alice Secret:mailto:alice@example.org\r\n"
        # SCHEDULE-AGENT=CLIENT (RFC 6638 7.1): a meeting the server does not schedule,
        # so its text is stored as sent (these tests are about what viewers see)
        "ATTENDEE;CN=Bob Secret;PARTSTAT=ACCEPTED;SCHEDULE-AGENT=CLIENT:mailto:bob@example.org\r\n"
        f"X-SECRET-NOTE:secret x {uid}\r\n{extra}"
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nDESCRIPTION:secret alarm\r\n"
        "END:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def seen(text: str) -> dict[str, str]:
    """UID -> "details" or "busy" for each event of ``text`` (expanded instances count
    once); fails on anything that is neither the owner's event nor its exact busy view."""
    found: dict[str, str] = {}
    for component in icalendar.Calendar.from_ical(text).walk("VEVENT"):
        uid = str(component["UID"])
        original = icalendar.Calendar.from_ical(event_text(uid)).walk("VEVENT")[0]
        if str(component["SUMMARY"]) == "Busy":
            names = set(component) - ({"RECURRENCE-ID"} if "RECURRENCE-ID" in component else set())
            expected = BUSY_PROPS | BUSY_EXTRA.get(uid, set())
            if "RECURRENCE-ID" in component:  # an expanded instance has no RRULE
                expected = expected - {"RRULE"}
            assert names == expected, (uid, sorted(names))
            assert component.subcomponents == [], uid
            for name in expected - {"SUMMARY", "DTSTART", "DTEND", "RRULE"}:
                assert component[name].to_ical() == original[name].to_ical(), (uid, name)
            assert "secret" not in component.to_ical().decode().lower(), uid
            view = "busy"
        else:
            assert str(component["SUMMARY"]) == f"Title {uid}", uid
            assert str(component["DESCRIPTION"]) == f"secret {uid}", uid
            assert str(component["LOCATION"]) == f"secret room {uid}", uid
            assert [c.name for c in component.subcomponents] == ["VALARM"], uid
            view = "details"
        assert found.setdefault(uid, view) == view, uid
    return found


def objects_seen(objects: list[Any]) -> dict[str, str]:
    """``seen`` over caldav objects; also checks each object's URL is its UID's href."""
    found: dict[str, str] = {}
    for obj in objects:
        views = seen(obj.data)
        assert len(views) == 1, obj.url
        ((uid, view),) = views.items()
        assert path_of(obj.url).rpartition("/")[2] == uid + ".ics"
        found[uid] = view
    return found


# --- the world -------------------------------------------------------------------------


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from module_server_with(
        request, tmp_path_factory, ["alice", "bob", "carol", "dave", "erin"]
    )


def fill(server: LiveServer, path: str, user: str = "alice") -> None:
    """PUT one event of each kind into the calendar at ``path`` (``/OWNER/CAL/``)."""
    for uid in KINDS:
        reply = send(server, "PUT", f"{path}{uid}.ics", event_text(uid), ICS, user=user)
        assert reply.status == 201, (path, uid, reply.status, reply.text)


def new_shared_calendar(server: LiveServer, level: str | None, grantee: str = "bob") -> str:
    """A new calendar of Alice's holding every kind of event, shared with ``grantee`` at
    ``level`` (None: not shared); its name."""
    name = unique("cal")
    calserver(server, "calendar", "create", f"alice/{name}", "--name", "Alice's work")
    fill(server, f"/alice/{name}/")
    if level is not None:
        calserver(server, "share", f"alice/{name}", "--with", grantee, "--level", level)
    return name


def route_path(route: str, calendar: str, viewer: str = "bob") -> str:
    """``calendar`` (``OWNER/CAL``) as ``viewer`` reaches it by ``route``."""
    if route == "alias":
        return f"/{viewer}/{calendar.replace('/', '~', 1)}/"
    return f"/{calendar}/"


@pytest.fixture(scope="module")
def world(server: LiveServer) -> dict[str, str]:
    """level -> Alice's calendar shared with Bob at that level; and the group's."""
    calserver(server, "group", "create", "team", "--admin", "alice")
    for member in ("bob", "carol"):
        calserver(server, "group", "add-member", "team", member)
    shared = {}
    for level in LEVELS:
        calserver(server, "calendar", "create", f"alice/{level}-cal")
        fill(server, f"/alice/{level}-cal/")
        calserver(server, "share", f"alice/{level}-cal", "--with", "bob", "--level", level)
        shared[level] = f"alice/{level}-cal"
    calserver(server, "calendar", "create", "@team/plans", "--name", "Team plans")
    fill(server, "/@team/plans/", user="alice")  # the group's admin writes
    shared["group"] = "@team/plans"
    return shared


def client(server: LiveServer, user: str = "bob") -> caldav.DAVClient:
    return caldav.DAVClient(server.url + "/", username=user, password=PASSWORD)


def calendar_at(server: LiveServer, path: str, user: str = "bob") -> caldav.Calendar:
    return client(server, user).calendar(url=server.url + path)


def privileges(root: ET.Element, href: str) -> set[str]:
    """Local names of the current-user-privilege-set of ``href`` in a multistatus."""
    response = responses(root)[href]
    found = response.findall(".//D:current-user-privilege-set/D:privilege/*", NS)
    return {element.tag.rpartition("}")[2] for element in found}


def owner_href(root: ET.Element, href: str) -> str | None:
    return responses(root)[href].findtext(".//D:owner/D:href", namespaces=NS)


# --- discovery: the shared calendars are in Bob's home ----------------------------------


def test_bob_discovers_every_calendar_shared_with_him_in_his_home(
    server: LiveServer, world: dict[str, str]
) -> None:
    principal = client(server, "bob").principal()
    found = {path_of(c.url): c.get_display_name() for c in principal.calendars()}
    world_aliases = {p: n for p, n in found.items() if p.endswith(("-cal/", "~plans/"))}
    assert world_aliases == {
        "/bob/alice~busy-cal/": "busy-cal",
        "/bob/alice~read-cal/": "read-cal",
        "/bob/alice~write-cal/": "write-cal",
        "/bob/@team~plans/": "Team plans",
    }
    # Carol shares a group with Alice but has no grant: only the group's calendar.
    carol = {path_of(c.url) for c in client(server, "carol").principal().calendars()}
    assert {p for p in carol if "alice~" in p or "~plans" in p} == {"/carol/@team~plans/"}
    # Dave is in no group and has no grant.
    assert client(server, "dave").principal().calendars() == []


@pytest.mark.parametrize("level", LEVELS)
def test_shared_calendar_says_its_owner_and_the_viewers_privileges(
    server: LiveServer, world: dict[str, str], level: str
) -> None:
    """RFC 3744 5.1 DAV:owner and 5.4 current-user-privilege-set, on the alias (as listed
    in Bob's home) and on the owner's URL."""
    expected = {"read", "read-free-busy"}
    home = propfind(
        server,
        "/bob/",
        ["D:current-user-privilege-set", "D:owner", "D:resourcetype"],
        depth="1",
        user="bob",
    )
    direct = propfind(
        server, f"/{world[level]}/", ["D:current-user-privilege-set", "D:owner"], user="bob"
    )
    alias = route_path("alias", world[level])
    for root, href in ((home, alias), (direct, f"/{world[level]}/")):
        assert owner_href(root, href) == "/alice/"
        granted = privileges(root, href)
        if level == "write":
            assert {"read", "read-free-busy", "write", "write-content"} <= granted, granted
        else:
            assert granted == expected, (href, granted)
    assert responses(home)[alias].find(".//D:resourcetype/C:calendar", NS) is not None


def test_group_calendar_is_owned_by_the_group_members_read_admins_write(
    server: LiveServer, world: dict[str, str]
) -> None:
    for user, path in (
        ("bob", "/bob/@team~plans/"),
        ("bob", "/@team/plans/"),
        ("alice", "/alice/@team~plans/"),
        ("alice", "/@team/plans/"),
    ):
        root = propfind(server, path, ["D:current-user-privilege-set", "D:owner"], user=user)
        assert path_of(owner_href(root, path)) == "/@team/"
        granted = privileges(root, path)
        if user == "bob":
            assert granted == {"read", "read-free-busy"}, (path, granted)
        else:
            assert {"read", "write", "write-content"} <= granted, (path, granted)


# --- what each level sees, through every way a client reads ------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("level", LEVELS)
def test_each_level_sees_exactly_the_table_through_every_read(
    server: LiveServer, world: dict[str, str], level: str, route: str
) -> None:
    path = route_path(route, world[level])
    expected = SEES[level]
    calendar = calendar_at(server, path)
    # calendar.events(): a calendar-query for every VEVENT
    assert objects_seen(calendar.events()) == expected
    # event_by_url, one by one; hidden events are not found
    for uid in KINDS:
        url = server.url + f"{path}{uid}.ics"
        if uid in expected:
            assert seen(calendar.event_by_url(url).data) == {uid: expected[uid]}
        else:
            with pytest.raises(caldav.error.NotFoundError):
                calendar.event_by_url(url)
    # calendar-multiget of every href: the hidden ones are 404
    urls = [URL.objectify(server.url + f"{path}{uid}.ics") for uid in KINDS]
    got = calendar.multiget(urls)
    assert objects_seen([o for o in got if o.data is not None]) == expected
    missing = {path_of(o.url).rpartition("/")[2] for o in got if o.data is None}
    assert missing == {f"{uid}.ics" for uid in KINDS if uid not in expected}
    # sync-collection from scratch: exactly the hrefs of the view
    synced = calendar.objects_by_sync_token(load_objects=False)
    assert sorted(path_of(o.url) for o in synced) == sorted(f"{path}{uid}.ics" for uid in expected)
    # GET of the whole calendar
    whole = send(server, "GET", path, user="bob")
    assert whole.status == 200
    assert seen(whole.text) == expected
    if level == "busy":
        assert "secret" not in whole.text.lower()
    # A busy view has an ETag of its own (ETags belong to a view), the same everywhere.
    owner_etag = send(server, "GET", f"/{world[level]}/public.ics").headers["etag"]
    viewer_etag = send(server, "GET", f"{path}public.ics", user="bob").headers["etag"]
    assert (viewer_etag == owner_etag) is (expected["public"] == "details")
    listed = propfind(server, path, ["D:getetag"], depth="1", user="bob")
    assert prop_text(listed, f"{path}public.ics", "D:getetag") == viewer_etag


def test_owner_sees_every_event_with_its_details(server: LiveServer, world: dict[str, str]) -> None:
    for level in LEVELS:
        calendar = calendar_at(server, f"/{world[level]}/", user="alice")
        assert objects_seen(calendar.events()) == SEES["owner"]
        whole = send(server, "GET", f"/{world[level]}/")
        assert seen(whole.text) == SEES["owner"]


def expanded(objects: list[Any]) -> dict[str, list[tuple[str, str]]]:
    """UID -> sorted (RECURRENCE-ID or DTSTART in UTC, SUMMARY) of expanded results."""
    found: dict[str, list[tuple[str, str]]] = {}
    for obj in objects:
        for component in icalendar.Calendar.from_ical(obj.data).walk("VEVENT"):
            when = component.decoded("RECURRENCE-ID", component.decoded("DTSTART"))
            found.setdefault(str(component["UID"]), []).append(
                (when.astimezone(UTC).strftime("%m-%d %H:%M"), str(component["SUMMARY"]))
            )
    return {uid: sorted(values) for uid, values in found.items()}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("level", LEVELS)
def test_each_level_time_range_search_and_expand_show_the_same_view(
    server: LiveServer, world: dict[str, str], level: str, route: str
) -> None:
    path = route_path(route, world[level])
    expected = SEES[level]
    calendar = calendar_at(server, path)

    def summary(uid: str) -> str:
        return "Busy" if expected[uid] == "busy" else f"Title {uid}"

    # One week, expanded by the server (RFC 4791 9.6.5): the series' first instance.
    week = calendar.search(
        start=MONDAY,
        end=MONDAY + dt.timedelta(days=7),
        event=True,
        expand=True,
        server_expand=True,
        post_filter=False,
    )
    want = {
        uid: [(f"06-01 {KINDS[uid][0]:02d}:00", summary(uid))]
        for uid in expected
        if uid != "weekly"
    }
    want["weekly"] = [("06-01 06:00", summary("weekly"))]
    assert expanded(week) == want
    for obj in week:
        if expected[str(obj.icalendar_component["UID"])] == "busy":
            assert "secret" not in obj.data.lower()
    # Three weeks with the legacy date_search (client-side expansion of what it gets).
    with pytest.deprecated_call():
        weeks = calendar.date_search(MONDAY, MONDAY + dt.timedelta(days=21), expand=True)
    assert expanded(weeks)["weekly"] == [
        (f"06-{day:02d} 06:00", summary("weekly")) for day in (1, 8, 15)
    ]
    assert set(expanded(weeks)) == set(expected)
    # A window with nothing of the viewer's in it: the private event's hour.
    private_hour = calendar.search(
        start=MONDAY + dt.timedelta(hours=12, minutes=15),
        end=MONDAY + dt.timedelta(hours=12, minutes=45),
        event=True,
        post_filter=False,
    )
    assert private_hour == []


def free_busy(server: LiveServer, path: str, user: str) -> Any:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<C:time-range start="20260601T000000Z" end="20260602T000000Z"/></C:free-busy-query>'
    )
    return report(server, path, body, user=user)


def periods(text: str) -> set[tuple[str, str]]:
    """(FBTYPE, period) of each FREEBUSY value of a VFREEBUSY answer."""
    found = set()
    for line in text.replace("\r\n ", "").splitlines():
        match = re.match(r"FREEBUSY(?:;FBTYPE=([A-Z-]+))?:(.*)", line)
        if match:
            for period in match.group(2).split(","):
                found.add((match.group(1) or "BUSY", period))
    return found


def expected_periods(view: str) -> set[tuple[str, str]]:
    return {
        (FBTYPE[uid], f"20260601T{KINDS[uid][0]:02d}0000Z/20260601T{KINDS[uid][0] + 1:02d}0000Z")
        for uid in SEES[view]
        if uid in FBTYPE
    }


@pytest.mark.parametrize(
    ("user", "level", "route", "view"),
    [
        *[("bob", level, route, level) for level in LEVELS for route in ROUTES],
        ("alice", "busy", "owner-url", "owner"),
        # Carol shares a group with Alice, without a grant: free/busy only.
        ("carol", "read", "owner-url", "freebusy"),
    ],
)
def test_free_busy_query_follows_the_level(
    server: LiveServer, world: dict[str, str], user: str, level: str, route: str, view: str
) -> None:
    """RFC 4791 7.10: confidential blocks time for readers and writers only, private for
    the owner only; transparent blocks nothing; tentative and out of office are typed."""
    reply = free_busy(server, route_path(route, world[level], user), user)
    assert reply.status == 200, reply.text
    assert "BEGIN:VFREEBUSY" in reply.text
    assert periods(reply.text) == expected_periods(view)
    assert "secret" not in reply.text.lower()


def test_group_member_without_a_grant_gets_free_busy_only(
    server: LiveServer, world: dict[str, str]
) -> None:
    path = f"/{world['read']}/"
    assert send(server, "GET", path + "public.ics", user="carol").status == 403
    assert send(server, "GET", path, user="carol").status == 403
    query = (
        '<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>'
        '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>'
    )
    assert report(server, path, query, user="carol").status == 403
    with pytest.raises(caldav.error.DAVError):
        calendar_at(server, path, user="carol").events()
    # Listing Alice's home tells Carol she may read free/busy there, nothing more.
    root = propfind(server, "/alice/", ["D:current-user-privilege-set"], depth="1", user="carol")
    assert privileges(root, path) == {"read-free-busy"}
    # The calendar is not in Carol's home, not even by its alias name.
    assert send(server, "PROPFIND", "/carol/alice~read-cal/", user="carol").status == 404
    # Dave shares no group with Alice: not even free/busy.
    assert free_busy(server, path, "dave").status == 403
    assert send(server, "GET", path + "public.ics", user="dave").status == 403


# --- writing ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_writer_edits_public_events_but_not_confidential_or_private_ones(
    server: LiveServer, world: dict[str, str], route: str
) -> None:
    name = new_shared_calendar(server, "write")
    own = f"/alice/{name}/"
    path = route_path(route, f"alice/{name}")
    calendar = calendar_at(server, path)
    # A public event: Bob changes it with the caldav client; Alice sees the change.
    event = calendar.event_by_url(server.url + path + "public.ics")
    event.icalendar_component["SUMMARY"] = "Moved by Bob"
    event.save()
    assert "SUMMARY:Moved by Bob" in send(server, "GET", own + "public.ics").text
    # A new event, and deleting one.
    calendar.save_event(event_text("tentative").replace("UID:tentative", "UID:bobs-new"))
    assert "UID:bobs-new" in send(server, "GET", own + "bobs-new.ics").text
    assert send(server, "DELETE", path + "oof.ics", user="bob").status in (200, 204)
    assert send(server, "GET", own + "oof.ics").status == 404
    # Confidential (Bob sees a busy block) and private (Bob sees nothing): 403.
    before = {uid: send(server, "GET", f"{own}{uid}.ics") for uid in ("confidential", "private")}
    changed = event_text("confidential", summary="Overwritten by Bob")
    assert send(server, "PUT", path + "confidential.ics", changed, ICS, user="bob").status == 403
    assert send(server, "DELETE", path + "confidential.ics", user="bob").status == 403
    busy_block = calendar.event_by_url(server.url + path + "confidential.ics")
    busy_block.icalendar_component["SUMMARY"] = "Overwritten by Bob"
    with pytest.raises(caldav.error.AuthorizationError):
        busy_block.save()
    # Private: Bob's PUT is answered as a UID in use (409 CALDAV:no-uid-conflict, RFC
    # 4791 5.3.2.1), never with a 403 that a free name would not get (issue 12).
    for body in (
        event_text("private", summary="Overwritten by Bob"),
        event_text("public", summary="Overwritten by Bob").replace("UID:public", "UID:other"),
    ):
        reply = send(server, "PUT", path + "private.ics", body, ICS, user="bob")
        assert reply.status == 409 and b"no-uid-conflict" in reply.body, reply.text
    # DELETE of an event Bob cannot see: there is nothing at that href for him.
    assert send(server, "DELETE", path + "private.ics", user="bob").status == 404
    move = send(
        server,
        "MOVE",
        path + "confidential.ics",
        headers={"Destination": server.url + path + "elsewhere.ics"},
        user="bob",
    )
    assert move.status == 403
    for uid, reply in before.items():
        after = send(server, "GET", f"{own}{uid}.ics")
        assert (after.status, after.headers["etag"], after.text) == (
            200,
            reply.headers["etag"],
            reply.text,
        )


@pytest.mark.parametrize("route", ROUTES)
def test_group_calendar_members_read_and_admins_and_co_admins_write(
    server: LiveServer, world: dict[str, str], route: str
) -> None:
    group = unique("grp")
    calserver(server, "group", "create", group, "--admin", "alice")
    calserver(server, "group", "add-member", group, "carol", "--admin")  # a co-admin
    calserver(server, "group", "add-member", group, "bob")
    calserver(server, "calendar", "create", f"@{group}/board")
    calendar = f"@{group}/board"
    carol, alice, bob = (route_path(route, calendar, user) for user in ("carol", "alice", "bob"))
    fill(server, carol, user="carol")  # the co-admin writes every kind of event
    # Members read; admins see what a writer sees: the same table.
    assert objects_seen(calendar_at(server, bob, "bob").events()) == SEES["read"]
    assert objects_seen(calendar_at(server, alice, "alice").events()) == SEES["write"]
    # A member may not write.
    assert send(server, "PUT", bob + "new.ics", event_text("oof"), ICS, user="bob").status == 403
    assert send(server, "DELETE", bob + "public.ics", user="bob").status == 403
    # The admin edits a public event; a confidential or private one is refused.
    edited = event_text("public", summary="Edited by the admin")
    assert send(server, "PUT", alice + "public.ics", edited, ICS, user="alice").status == 204
    got = send(server, "GET", bob + "public.ics", user="bob")
    assert "SUMMARY:Edited by the admin\r\nDESCRIPTION:secret public\r\n" in got.text
    # (the private one, hidden from her, answers as a UID in use: issue 12)
    for uid, status in (("confidential", 403), ("private", 409)):
        body = event_text(uid, summary="Edited by the admin")
        assert send(server, "PUT", f"{alice}{uid}.ics", body, ICS, user="alice").status == status
    # Nobody sees the private event through CalDAV, the admins included.
    assert send(server, "GET", carol + "private.ics", user="carol").status == 404


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("level", ["busy", "read"])
def test_busy_and_read_viewers_cannot_change_anything(
    server: LiveServer, world: dict[str, str], level: str, route: str
) -> None:
    name = new_shared_calendar(server, level)
    own = f"/alice/{name}/"
    path = route_path(route, f"alice/{name}")
    bobs = f"/bob/{unique('own')}/"
    assert send(server, "MKCALENDAR", bobs, user="bob").status == 201
    mine = send(server, "PUT", bobs + "mine.ics", event_text("public"), ICS, user="bob")
    assert mine.status == 201
    props = ["D:displayname", "CS:getctag", "D:sync-token", "ICAL:calendar-color"]
    before = (send(server, "GET", own).text, propfind(server, own, props))
    attempts = {
        "PUT over": send(server, "PUT", path + "public.ics", event_text("public", "X"), ICS, "bob"),
        "PUT new": send(server, "PUT", path + "new.ics", event_text("public"), ICS, "bob"),
        "DELETE": send(server, "DELETE", path + "public.ics", user="bob"),
        "MOVE out": send(
            server,
            "MOVE",
            path + "public.ics",
            headers={"Destination": server.url + bobs + "taken.ics"},
            user="bob",
        ),
        "MOVE in": send(
            server,
            "MOVE",
            bobs + "mine.ics",
            headers={"Destination": server.url + path + "mine.ics"},
            user="bob",
        ),
        "DELETE calendar": send(server, "DELETE", path, user="bob"),
    }
    if route == "owner-url":  # on the alias, the properties are Bob's own (next test)
        proppatch = (
            '<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:">'
            "<D:set><D:prop><D:displayname>Bob was here</D:displayname></D:prop></D:set>"
            "</D:propertyupdate>"
        )
        attempts["PROPPATCH"] = send(server, "PROPPATCH", path, proppatch, XML, user="bob")
    assert {what: reply.status for what, reply in attempts.items()} == dict.fromkeys(attempts, 403)
    with pytest.raises(caldav.error.AuthorizationError):
        calendar_at(server, path).save_event(event_text("oof").replace("UID:oof", "UID:x"))
    after = (send(server, "GET", own).text, propfind(server, own, props))
    assert after[0] == before[0]
    assert ET.tostring(after[1]) == ET.tostring(before[1])
    assert send(server, "GET", bobs + "mine.ics", user="bob").status == 200


@pytest.mark.parametrize("level", LEVELS)
def test_viewer_sets_colour_and_name_of_their_alias_and_the_owner_keeps_hers(
    server: LiveServer, world: dict[str, str], level: str
) -> None:
    name = new_shared_calendar(server, level)
    calserver(server, "share", f"alice/{name}", "--with", "dave", "--level", "read")
    own = f"/alice/{name}/"
    props = ["D:displayname", "ICAL:calendar-color", "CS:getctag", "D:sync-token"]
    owner_before = propfind(server, own, props)
    alias = route_path("alias", f"alice/{name}")
    calendar_at(server, alias).set_properties(
        [dav.DisplayName("Alice (from Bob)"), ical.CalendarColor("#00AA00FF")]
    )
    mine = propfind(server, alias, props, user="bob")
    assert prop_text(mine, alias, "D:displayname") == "Alice (from Bob)"
    assert prop_text(mine, alias, "ICAL:calendar-color") == "#00AA00FF"
    listed = {
        path_of(c.url): c.get_display_name() for c in client(server, "bob").principal().calendars()
    }
    assert listed[alias] == "Alice (from Bob)"
    # Alice's calendar is unchanged: names, colour, ctag, sync token.
    assert ET.tostring(propfind(server, own, props)) == ET.tostring(owner_before)
    assert prop_text(owner_before, own, "D:displayname") == "Alice's work"
    # Another viewer sees Alice's name, not Bob's.
    dave_alias = route_path("alias", f"alice/{name}", "dave")
    theirs = propfind(server, dave_alias, props, user="dave")
    assert prop_text(theirs, dave_alias, "D:displayname") == "Alice's work"
    assert prop_text(theirs, dave_alias, "ICAL:calendar-color") is None


# --- a grant changes -------------------------------------------------------------------


def sync_report(server: LiveServer, path: str, token: str, user: str = "bob") -> Any:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/><C:calendar-data/></D:prop></D:sync-collection>"
    )
    return report(server, path, body, depth="0", user=user)


def ctag(server: LiveServer, path: str, user: str = "bob") -> str | None:
    return prop_text(propfind(server, path, ["CS:getctag"], user=user), path, "CS:getctag")


def test_level_change_forces_a_fresh_sync_and_changes_the_ctag(
    server: LiveServer, world: dict[str, str]
) -> None:
    """RFC 6578 3.2: a token of another view is not valid (403 DAV:valid-sync-token), so
    the client syncs afresh instead of keeping the busy view it had; on both routes."""
    name = new_shared_calendar(server, "busy")
    paths = [route_path(route, f"alice/{name}") for route in ROUTES]
    calendars = [calendar_at(server, path) for path in paths]
    first = [calendar.objects_by_sync_token(load_objects=True) for calendar in calendars]
    for synced in first:
        assert objects_seen(list(synced)) == SEES["busy"]
    busy_ctags = [ctag(server, path) for path in paths]
    # The administrator runs the same command again with another level.
    changed = calserver(server, "share", f"alice/{name}", "--with", "bob", "--level", "read")
    assert changed.strip() == f"alice/{name} shared with bob at level read"
    for path, calendar, synced, busy_ctag in zip(paths, calendars, first, busy_ctags, strict=True):
        stale = sync_report(server, path, synced.sync_token)
        assert stale.status == 403
        assert stale.xml().tag == "{DAV:}error"
        assert stale.xml().find("D:valid-sync-token", NS) is not None
        with pytest.raises(caldav.error.DAVError) as refused:
            calendar.objects_by_sync_token(sync_token=synced.sync_token, disable_fallback=True)
        assert "{DAV:}valid-sync-token" in refused.value.preconditions
        assert ctag(server, path) not in (busy_ctag, None)
        # The caldav client falls back to a full sync and gets the reader's view.
        again = calendar.objects_by_sync_token(sync_token=synced.sync_token, load_objects=True)
        assert objects_seen(list(again)) == SEES["read"]
        fresh = sync_report(server, path, "")
        assert fresh.status == 207
        views: dict[str, str] = {}
        for response in responses(fresh.xml()).values():
            views.update(seen(calendar_data(response)))
        assert views == SEES["read"]


def test_unshare_removes_the_alias_and_closes_the_owner_url(
    server: LiveServer, world: dict[str, str]
) -> None:
    name = new_shared_calendar(server, "read")
    alias = route_path("alias", f"alice/{name}")
    own = f"/alice/{name}/"
    listed = {path_of(c.url) for c in client(server, "bob").principal().calendars()}
    assert alias in listed
    assert calserver(server, "unshare", f"alice/{name}", "--with", "bob").strip() == (
        f"alice/{name} no longer shared with bob"
    )
    listed = {path_of(c.url) for c in client(server, "bob").principal().calendars()}
    assert alias not in listed
    # The alias is gone: not found, as any calendar Bob does not have.
    for method in ("GET", "PROPFIND"):
        assert send(server, method, alias, headers={"Depth": "0"}, user="bob").status == 404
    assert send(server, "GET", alias + "public.ics", user="bob").status == 404
    with pytest.raises(caldav.error.NotFoundError):
        calendar_at(server, alias).events()
    # The owner's URL: Bob is still in a group with Alice, so free/busy only.
    assert send(server, "GET", own + "public.ics", user="bob").status == 403
    assert send(server, "GET", own, user="bob").status == 403
    assert sync_report(server, own, "").status == 403
    reply = free_busy(server, own, "bob")
    assert reply.status == 200
    assert periods(reply.text) == expected_periods("freebusy")


def test_member_who_leaves_a_group_loses_its_grant_and_its_calendars(
    server: LiveServer, world: dict[str, str]
) -> None:
    group = unique("club")
    calserver(server, "group", "create", group, "--admin", "alice")
    calserver(server, "group", "add-member", group, "erin")
    name = new_shared_calendar(server, "read", grantee="@" + group)
    calserver(server, "calendar", "create", f"@{group}/notes")
    fill(server, f"/@{group}/notes/")
    granted = f"/erin/alice~{name}/"
    notes = f"/erin/@{group}~notes/"
    listed = {path_of(c.url) for c in client(server, "erin").principal().calendars()}
    assert listed == {granted, notes}
    assert objects_seen(calendar_at(server, granted, "erin").events()) == SEES["read"]
    assert objects_seen(calendar_at(server, notes, "erin").events()) == SEES["read"]
    calserver(server, "group", "remove-member", group, "erin")
    assert client(server, "erin").principal().calendars() == []
    for path in (granted, notes):
        assert send(server, "GET", path, user="erin").status == 404
    for path in (f"/alice/{name}/", f"/@{group}/notes/"):
        assert send(server, "GET", path + "public.ics", user="erin").status == 403
        assert send(server, "GET", path, user="erin").status == 403
    # Erin shares no group with Alice any more: no free/busy either.
    assert free_busy(server, f"/alice/{name}/", "erin").status == 403


# --- filters run on the view ----------------------------------------------------------------


def text_match(server: LiveServer, path: str, prop: str, text: str) -> list[str]:
    """Names of the resources a calendar-query text-match (RFC 4791 9.7.5) finds."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter>'
        '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:prop-filter name="{prop}"><C:text-match>{text}</C:text-match></C:prop-filter>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )
    reply = report(server, path, body, user="bob")
    assert reply.status == 207, reply.text
    found = responses(reply.xml())
    assert all(status_code(r) == 200 for r in found.values())
    return sorted(href.rpartition("/")[2].removesuffix(".ics") for href in found)


@pytest.mark.parametrize("route", ROUTES)
def test_text_match_never_finds_hidden_text(
    server: LiveServer, world: dict[str, str], route: str
) -> None:
    busy = route_path(route, world["busy"])
    for prop, word in (
        ("DESCRIPTION", "secret"),
        ("SUMMARY", "Title"),
        ("LOCATION", "room"),
        ("ATTENDEE", "bob@example.org"),
        ("CATEGORIES", "secret"),
        ("X-SECRET-NOTE", "secret"),
    ):
        assert text_match(server, busy, prop, word) == [], prop
    assert text_match(server, busy, "SUMMARY", "Busy") == sorted(SEES["busy"])
    # A reader: details of public events, a busy block of the confidential one.
    read = route_path(route, world["read"])
    details = sorted(uid for uid, view in SEES["read"].items() if view == "details")
    assert text_match(server, read, "DESCRIPTION", "secret") == details
    assert text_match(server, read, "SUMMARY", "Busy") == ["confidential"]
    # The caldav client's own text search (sent to the server, not filtered locally).
    found = calendar_at(server, busy).search(
        event=True, summary="Title", post_filter=False, split_expanded=False
    )
    assert found == []
