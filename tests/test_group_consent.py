"""Group membership by consent (issue 12, item 2), against a live server on every engine.

A group administrator who adds someone only invites them: until the invited user
accepts, the membership grants nothing and reveals nothing — no free/busy look-up by
co-members (free-busy-query, schedule-outbox POST), no "other calendar" busy view, no
group calendar in their home, no calendar granted to the group, no expansion of the
group as a meeting attendee, no administration. The user sees and answers invitations
through ``/.api/v1/me/groups`` and ``calserver group accept|decline``; anyone may leave;
the server administrator's ``calserver group add-member`` adds directly."""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update

from calserver import calendars, db
from calserver.accounts import users
from calserver.db import migrations
from calserver.db.models import meta
from calserver.scheduling import addresses
from calserver.sharing import manage, proxies
from calserver.storage import Storage
from tests.conftest import LiveServer, event_ics
from tests.e2e_support import (
    ENGINES,
    NS,
    calserver,
    module_server_with,
    password_hash,
    propfind,
    responses,
    send,
    unique,
)

API = "/.api/v1"
JSON = {"Content-Type": "application/json"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
XML = {"Content-Type": "application/xml; charset=utf-8", "Depth": "1"}
FREE_BUSY_QUERY = (
    '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
    '<C:time-range start="20270601T000000Z" end="20270602T000000Z"/></C:free-busy-query>'
)


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """alice administers every group of these tests; bob is a co-member."""
    yield from module_server_with(request, tmp_path_factory, ["alice", "bob"])


@pytest.fixture
def scene(server: LiveServer) -> dict[str, str]:
    """A fresh group (alice admin, bob member, added by the server administrator), a
    fresh user with a calendar holding one busy hour, and a group calendar."""
    group, victim = unique("team"), unique("vic")
    engine = db.get_engine(server.database_url)
    users.add_with_hash(engine, victim, password_hash(), f"{victim}@example.org")
    assert send(server, "MKCALENDAR", f"/{victim}/cal/", user=victim).status == 201
    body = event_ics("busy-" + victim, "20270601T100000Z", "20270601T110000Z", "Secret")
    assert send(server, "PUT", f"/{victim}/cal/busy.ics", body, ICS, user=victim).status == 201
    calserver(server, "group", "create", group, "--admin", "alice")
    calserver(server, "group", "add-member", group, "bob")
    made = api(server, "POST", f"/groups/{group}/calendars", {"name": "plan"})
    assert made.status == 201, made.text
    return {"group": group, "victim": victim}


def api(server: LiveServer, method: str, path: str, body: Any = None, user: str = "alice") -> Any:
    """A request to the JSON API as its own clients send it (a change is always
    application/json, even without a body: the API's guard against cross-site forms)."""
    data = b"" if body is None else json.dumps(body).encode()
    return send(server, method, API + path, data, JSON if method != "GET" else {}, user=user)


def invite(server: LiveServer, group: str, user: str, admin: bool = False) -> dict[str, Any]:
    reply = api(server, "PUT", f"/groups/{group}/members/{user}", {"admin": admin})
    assert reply.status == 200, reply.text
    return dict(json.loads(reply.body))


def my_groups(server: LiveServer, user: str) -> dict[str, dict[str, Any]]:
    reply = api(server, "GET", "/me/groups", user=user)
    assert reply.status == 200, reply.text
    return {entry["group"]: entry for entry in json.loads(reply.body)["groups"]}


def free_busy_query(server: LiveServer, viewer: str, owner: str) -> int:
    """The status of a free-busy-query (RFC 4791 7.10) on ``owner``'s calendar; 200 only
    with the busy hour in it."""
    reply = send(server, "REPORT", f"/{owner}/cal/", FREE_BUSY_QUERY, XML, user=viewer)
    if reply.status == 200:
        assert "20270601T100000Z/20270601T110000Z" in reply.text, reply.text
    return reply.status


def outbox_status(server: LiveServer, viewer: str, owner: str) -> str:
    """The request-status of ``owner``'s answer to a schedule-outbox free/busy request
    (RFC 6638 5.3); with "2.0" only when their busy hour is in it."""
    body = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//calserver tests//consent//EN",
            "METHOD:REQUEST",
            "BEGIN:VFREEBUSY",
            f"UID:{uuid.uuid4()}",
            "DTSTAMP:20270101T000000Z",
            "DTSTART:20270601T000000Z",
            "DTEND:20270602T000000Z",
            f"ORGANIZER:mailto:{viewer}@example.org",
            f"ATTENDEE:mailto:{owner}@example.org",
            "END:VFREEBUSY",
            "END:VCALENDAR",
            "",
        ]
    )
    reply = send(server, "POST", f"/{viewer}/outbox/", body, ICS, user=viewer)
    assert reply.status == 200, reply.text
    (response,) = ET.fromstring(reply.body).findall("C:response", NS)
    status = response.findtext("C:request-status", namespaces=NS) or ""
    data = response.findtext("C:calendar-data", namespaces=NS) or ""
    if status.startswith("2.0"):
        assert "20270601T100000Z/20270601T110000Z" in data.replace("\r\n ", ""), data
    else:
        assert "FREEBUSY" not in data
    return status


def home(server: LiveServer, user: str) -> set[str]:
    root = propfind(server, f"/{user}/", ["D:resourcetype"], depth="1", user=user)
    return set(responses(root))


def group_meeting_attendees(server: LiveServer, group: str) -> set[str]:
    """alice invites the group ``/@GROUP/`` to a meeting: the e-mail addresses of the
    members it became."""
    uid = str(uuid.uuid4())
    body = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//calserver tests//consent//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20260101T000000Z",
            "DTSTART:20301201T100000Z",
            "DURATION:PT1H",
            "SUMMARY:Planning",
            "ORGANIZER;CN=Alice:mailto:alice@example.org",
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org",
            f"ATTENDEE;CUTYPE=GROUP:/@{group}/",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    send(server, "MKCALENDAR", "/alice/meetings/")
    reply = send(server, "PUT", f"/alice/meetings/{uid}.ics", body, ICS)
    assert reply.status == 201, reply.text
    stored = send(server, "GET", f"/alice/meetings/{uid}.ics").text.replace("\r\n ", "")
    return {
        line.lower().rpartition("mailto:")[2]
        for line in stored.splitlines()
        if line.startswith("ATTENDEE") and "MEMBER=" in line
    }


def assert_sees_nothing_of(server: LiveServer, group: str, victim: str) -> None:
    """Neither the group's admin nor a co-member learns anything of ``victim``, and
    ``victim`` gets nothing of the group."""
    for viewer in ("alice", "bob"):
        assert free_busy_query(server, viewer, victim) == 403, viewer
        assert outbox_status(server, viewer, victim).startswith("3.8"), viewer
        other = api(server, "PUT", f"/other-calendars/{victim}/cal", user=viewer)
        assert other.status == 404, (viewer, other.text)
        assert send(server, "PROPFIND", f"/{viewer}/{victim}~cal/", user=viewer).status == 404
    listing = home(server, victim)
    assert f"/{victim}/@{group}~plan/" not in listing
    assert f"/{victim}/bob~{group}/" not in listing
    assert send(server, "PROPFIND", f"/@{group}/plan/", user=victim).status in (403, 404)
    assert f"{victim}@example.org" not in group_meeting_attendees(server, group)


def assert_member(server: LiveServer, group: str, victim: str) -> None:
    for viewer in ("alice", "bob"):
        assert free_busy_query(server, viewer, victim) == 200, viewer
        assert outbox_status(server, viewer, victim).startswith("2.0"), viewer
    added = api(server, "PUT", f"/other-calendars/{victim}/cal", user="alice")
    assert added.status == 200, added.text
    assert json.loads(added.body)["level"] == "busy"
    api(server, "DELETE", f"/other-calendars/{victim}/cal", user="alice")
    listing = home(server, victim)
    assert f"/{victim}/@{group}~plan/" in listing
    assert f"/{victim}/bob~{group}/" in listing
    assert f"{victim}@example.org" in group_meeting_attendees(server, group)


def share_with_group(server: LiveServer, group: str) -> None:
    """bob grants a calendar of his to the whole group."""
    assert send(server, "MKCALENDAR", f"/bob/{group}/", user="bob").status == 201
    calserver(server, "share", f"bob/{group}", "--with", "@" + group, "--level", "read")


# --- a group admin's invitation ----------------------------------------------------------


@pytest.mark.live
def test_a_group_admins_add_is_a_pending_invitation_that_reveals_nothing(
    server: LiveServer, scene: dict[str, str]
) -> None:
    group, victim = scene["group"], scene["victim"]
    share_with_group(server, group)
    answer = invite(server, group, victim)
    assert_sees_nothing_of(server, group, victim)
    assert victim not in [m["name"] for m in answer["members"]]
    assert {"name": victim, "admin": False} in answer["invited"]
    assert my_groups(server, victim)[group] == {
        "group": group,
        "admin": False,
        "state": "pending",
        "invited_by": "alice",
    }
    # not in the group yet: its member list stays closed to them
    assert api(server, "GET", f"/groups/{group}", user=victim).status == 403
    assert group not in [
        g["name"] for g in json.loads(api(server, "GET", "/me", user=victim).body)["groups"]
    ]


@pytest.mark.live
def test_after_accepting_the_member_sees_and_is_seen(
    server: LiveServer, scene: dict[str, str]
) -> None:
    group, victim = scene["group"], scene["victim"]
    share_with_group(server, group)
    invite(server, group, victim)
    accepted = api(server, "POST", f"/me/groups/{group}/accept", user=victim)
    assert accepted.status == 200, accepted.text
    assert json.loads(accepted.body)["state"] == "accepted"
    assert my_groups(server, victim)[group]["state"] == "accepted"
    assert_member(server, group, victim)
    again = api(server, "POST", f"/me/groups/{group}/accept", user=victim)
    assert again.status == 200  # accepting twice changes nothing
    seen = json.loads(api(server, "GET", f"/groups/{group}").body)
    assert {"name": victim, "admin": False} in seen["members"]
    assert seen["invited"] == []


@pytest.mark.live
def test_declining_removes_the_invitation(server: LiveServer, scene: dict[str, str]) -> None:
    group, victim = scene["group"], scene["victim"]
    invite(server, group, victim)
    declined = api(server, "POST", f"/me/groups/{group}/decline", user=victim)
    assert declined.status == 204, declined.text
    assert group not in my_groups(server, victim)
    assert json.loads(api(server, "GET", f"/groups/{group}").body)["invited"] == []
    assert_sees_nothing_of(server, group, victim)
    assert api(server, "POST", f"/me/groups/{group}/decline", user=victim).status == 404
    # the admin may withdraw an invitation too
    invite(server, group, victim)
    assert api(server, "DELETE", f"/groups/{group}/members/{victim}").status == 204
    assert group not in my_groups(server, victim)
    assert api(server, "POST", f"/me/groups/{group}/accept", user=victim).status == 404
    # a member declines nothing: they leave
    assert api(server, "POST", f"/me/groups/{group}/decline", user="bob").status == 409
    assert api(server, "POST", "/me/groups/nogroup/accept", user=victim).status == 404


@pytest.mark.live
def test_an_invitation_as_admin_administers_nothing_until_accepted(
    server: LiveServer, scene: dict[str, str]
) -> None:
    group, victim = scene["group"], scene["victim"]
    invite(server, group, victim, admin=True)
    body = {"name": "mine"}
    assert api(server, "POST", f"/groups/{group}/calendars", body, user=victim).status == 403
    put = event_ics("x-" + victim)
    assert send(server, "PUT", f"/@{group}/plan/x.ics", put, ICS, user=victim).status in (403, 404)
    member = api(server, "PUT", f"/groups/{group}/members/bob", {"admin": True}, user=victim)
    assert member.status == 403
    assert api(server, "POST", f"/me/groups/{group}/accept", user=victim).status == 200
    assert api(server, "POST", f"/groups/{group}/calendars", body, user=victim).status == 201
    assert send(server, "PUT", f"/@{group}/plan/x.ics", put, ICS, user=victim).status == 201


@pytest.mark.live
def test_anyone_may_leave_the_last_admin_too(server: LiveServer, scene: dict[str, str]) -> None:
    group, victim = scene["group"], scene["victim"]
    invite(server, group, victim)
    assert api(server, "POST", f"/me/groups/{group}/accept", user=victim).status == 200
    assert free_busy_query(server, "bob", victim) == 200
    assert api(server, "DELETE", f"/me/groups/{group}", user=victim).status == 204
    assert group not in my_groups(server, victim)
    assert free_busy_query(server, "bob", victim) == 403
    assert api(server, "DELETE", f"/me/groups/{group}", user=victim).status == 404
    # a pending invitation can be dropped the same way
    invite(server, group, victim)
    assert api(server, "DELETE", f"/me/groups/{group}", user=victim).status == 204
    assert group not in my_groups(server, victim)
    # the last administrator leaves: the group and its members stay, admin-less
    assert api(server, "DELETE", f"/me/groups/{group}").status == 204
    seen = json.loads(api(server, "GET", f"/groups/{group}", user="bob").body)
    assert seen["members"] == [{"name": "bob", "admin": False}]
    assert api(server, "PUT", f"/groups/{group}/members/{victim}", {}).status == 403
    calserver(server, "group", "add-member", group, "alice", "--admin")  # the server admin


# --- the server administrator's command line --------------------------------------------


@pytest.mark.live
def test_the_server_administrators_add_member_is_direct(
    server: LiveServer, scene: dict[str, str]
) -> None:
    group, victim = scene["group"], scene["victim"]
    share_with_group(server, group)
    calserver(server, "group", "add-member", group, victim)
    assert my_groups(server, victim)[group] == {
        "group": group,
        "admin": False,
        "state": "accepted",
        "invited_by": None,
    }
    assert_member(server, group, victim)


@pytest.mark.live
def test_cli_lists_accepts_and_declines_invitations(
    server: LiveServer, scene: dict[str, str]
) -> None:
    group, victim = scene["group"], scene["victim"]
    invite(server, group, victim)
    listed = calserver(server, "group", "list", victim)
    assert f"@{group}\t" in listed and f"{victim} (pending)" in listed
    assert free_busy_query(server, "alice", victim) == 403
    assert f"{victim} is a member of @{group}" in calserver(
        server, "group", "accept", group, victim
    )
    assert free_busy_query(server, "alice", victim) == 200
    assert f"{victim} (pending)" not in calserver(server, "group", "list", victim)

    other = unique("team")
    calserver(server, "group", "create", other, "--admin", "alice")
    invite(server, other, victim)
    calserver(server, "group", "decline", other, victim)
    assert other not in my_groups(server, victim)


# --- the rule in the services, on every engine ------------------------------------------


def test_pending_members_make_no_proxy_and_no_meeting_attendee(
    configuration: Any, engine: Any
) -> None:
    """The services ask the one helper: a group grant makes no proxy of a pending
    member, and a group attendee does not become them."""
    for name in ("alice", "bob", "carol"):
        users.add_with_hash(engine, name, password_hash(), f"{name}@example.org")
    calendars.create(Storage(configuration), "carol/cal")
    manage.create_group(engine, "team", admin="alice")
    manage.add_member(engine, "team", "carol")  # the server administrator: direct
    manage.add_member(engine, "team", "bob", actor="alice")  # a group admin: pending
    manage.share(engine, "carol/cal", "@team", "write")
    with engine.connect() as conn:
        found = addresses.group_members_of(conn, "/@team/")
        assert found is not None and [p.name for p in found[1]] == ["alice", "carol"]
        assert proxies.proxies_of(conn, "carol").write == ["alice"]
        assert proxies.proxy_for(conn, "bob").write == []
    manage.accept(engine, "team", "bob")
    with engine.connect() as conn:
        found = addresses.group_members_of(conn, "/@team/")
        assert found is not None and [p.name for p in found[1]] == ["alice", "bob", "carol"]
        assert proxies.proxies_of(conn, "carol").write == ["alice", "bob"]
        assert proxies.proxy_for(conn, "bob").write == ["carol"]
    # an invitation outlives the account of the admin who sent it
    manage.create_group(engine, "club", admin="alice")
    manage.add_member(engine, "club", "carol", actor="alice")
    users.remove(engine, "alice")
    assert manage.Membership("club", False, "pending", None) in manage.memberships(engine, "carol")


def test_existing_memberships_stay_in_force_after_the_upgrade(engine: Any) -> None:
    """A database from before consent: its members are accepted members afterwards,
    and the upgrade runs twice without harm."""
    for name in ("alice", "bob"):
        users.add_with_hash(engine, name, password_hash(), f"{name}@example.org")
    manage.create_group(engine, "team", admin="alice")
    manage.add_member(engine, "team", "bob")
    before = migrations.MIGRATIONS.index(migrations._v7_group_consent)
    with engine.begin() as conn:  # the table as it was before
        rows = conn.execute(text("SELECT group_id, user_id, admin FROM group_members")).all()
        conn.execute(text("DROP TABLE group_members"))
        conn.execute(
            text(
                "CREATE TABLE group_members (group_id INTEGER NOT NULL REFERENCES groups (id) "
                "ON DELETE CASCADE, user_id INTEGER NOT NULL REFERENCES users (id) "
                "ON DELETE CASCADE, admin BOOLEAN NOT NULL, PRIMARY KEY (group_id, user_id))"
            )
        )
        for row in rows:
            conn.execute(
                text("INSERT INTO group_members VALUES (:g, :u, :a)"),
                {"g": row.group_id, "u": row.user_id, "a": row.admin},
            )
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(before)))
    assert db.upgrade(engine) == (before, db.LATEST)
    assert db.upgrade(engine) == (db.LATEST, db.LATEST)
    assert [(m.name, m.admin) for m in manage.get_group(engine, "team").members] == [
        ("alice", True),
        ("bob", False),
    ]
    assert [(m.group, m.state) for m in manage.memberships(engine, "bob")] == [("team", "accepted")]


def test_only_the_membership_module_reads_group_members() -> None:
    """Every access decision reads memberships through calserver.sharing.membership
    (accepted ones only); only it, the schema and the management writes name the table."""
    source = Path(db.__file__).parent.parent  # the calserver package under test
    allowed = {
        source / "db" / "models.py",
        source / "db" / "migrations.py",
        source / "sharing" / "membership.py",
        source / "sharing" / "manage.py",
    }
    offenders = [
        str(path.relative_to(source))
        for path in sorted(source.rglob("*.py"))
        if path not in allowed and re.search(r"\bgroup_members\b", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
