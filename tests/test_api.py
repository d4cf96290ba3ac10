"""The management HTTP JSON API (``/.api/v1/``, calserver.api) against a live server, one
per engine: each route's success, the refusals issue 3 names (unknown grantee, someone
else's calendar, a non-admin managing a group, a level that does not exist), bad JSON,
unknown routes and methods, the body limit, and that a grant made here changes what Bob
sees over CalDAV.

Every reply of :func:`Client.call` is checked against the served OpenAPI document: its
status must be one the operation documents, and its body must fit the schema given for
that status.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from calserver import api, db
from calserver.accounts import users
from calserver.app import make_app
from tests.conftest import (
    PASSWORD,
    LiveServer,
    WSGIClient,
    make_configuration,
    run_cli,
    start_server,
)
from tests.e2e_support import (
    ENGINES,
    Reply,
    module_server,
    prop_text,
    propfind,
    responses,
    send,
    unique,
)

pytestmark = pytest.mark.live

JSON = {"Content-Type": "application/json"}
NOBODY = object()


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live server with users alice, bob and carol."""
    for live in module_server(request, tmp_path_factory):
        live.add_user("carol")
        yield live


@pytest.fixture(scope="module")
def document(server: LiveServer) -> dict[str, Any]:
    reply = send(server, "GET", api.ROOT + "/openapi.json", user=None)
    assert reply.status == 200, reply.text
    return dict(json.loads(reply.body))


@dataclass
class Client:
    server: LiveServer
    document: dict[str, Any]

    def call(
        self,
        method: str,
        template: str,
        body: Any = NOBODY,
        user: str | None = "alice",
        headers: dict[str, str] | None = None,
        **params: str,
    ) -> Reply:
        """``method`` on the route ``template`` (as the document spells it) with its
        ``params``; the reply must be documented for that operation."""
        path = api.ROOT + template.format(**{k: quote(v, safe="@~") for k, v in params.items()})
        data = b"" if body is NOBODY else json.dumps(body).encode()
        all_headers = {**(JSON if body is not NOBODY else {}), **(headers or {})}
        reply = send(self.server, method, path, data, all_headers, user=user)
        self.check(method, template, reply)
        return reply

    def check(self, method: str, template: str, reply: Reply) -> None:
        operation = self.document["paths"][template][method.lower()]
        documented = operation["responses"].get(str(reply.status))
        assert documented is not None, (method, template, reply.status, reply.text)
        if "$ref" in documented:
            documented = self.document["components"]["responses"][
                documented["$ref"].rpartition("/")[2]
            ]
        if "content" not in documented:
            assert reply.body == b"", reply.text
            return
        assert reply.headers["content-type"].startswith("application/json")
        schema = documented["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        errors = [e.message for e in validator.iter_errors(json.loads(reply.body))]
        assert not errors, (method, template, errors, reply.text)


@pytest.fixture
def client(server: LiveServer, document: dict[str, Any]) -> Client:
    return Client(server, document)


def payload(reply: Reply) -> Any:
    return json.loads(reply.body)


# --- setting the scene through CalDAV and the CLI ---------------------------------------


def new_calendar(server: LiveServer, owner: str = "alice") -> str:
    name = unique()
    assert send(server, "MKCALENDAR", f"/{owner}/{name}/", user=owner).status == 201
    return name


def put_event(server: LiveServer, owner: str, calendar: str, summary: str) -> str:
    uid = unique("ev")
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//api//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260601T100000Z\r\nDTEND:20260601T110000Z\r\n"
        f"SUMMARY:{summary}\r\nLOCATION:Room 7\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    reply = send(server, "PUT", f"/{owner}/{calendar}/{uid}.ics", body, headers, user=owner)
    assert reply.status == 201, reply.text
    return uid


def new_group(server: LiveServer, admin: str = "alice", members: tuple[str, ...] = ("bob",)) -> str:
    name = unique("team")
    result = server.cli("group", "create", name, "--admin", admin)
    assert result.returncode == 0, result.stderr
    for member in members:
        result = server.cli("group", "add-member", name, member)
        assert result.returncode == 0, result.stderr
    return name


def home_listing(server: LiveServer, user: str) -> set[str]:
    """The decoded hrefs of a Depth 1 PROPFIND on the user's home."""
    root = propfind(server, f"/{user}/", ["D:resourcetype"], depth="1", user=user)
    return set(responses(root))


# --- the document ----------------------------------------------------------------------


def test_openapi_document_is_served_anonymously_and_is_valid_openapi_3_1(
    document: dict[str, Any],
) -> None:
    validate_spec(document)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "/.api/v1"}]
    assert document["paths"] == api.OPENAPI["paths"]


def test_no_handler_class_hides_another_ones_names() -> None:
    """The API is one class made of one handler class per feature: a name two of them
    define (a helper such as ``_id``) would silently take the first one's meaning in the
    other's routes (a subscription's DELETE once read a reminder's id)."""
    seen: dict[str, str] = {}
    clashes = []
    for base in api.Api.__mro__[1:]:
        if base.__module__.startswith("calserver.api.handlers."):
            for name in vars(base):
                if name.startswith("__"):
                    continue
                if name in seen:
                    clashes.append((name, seen[name], base.__name__))
                seen.setdefault(name, base.__name__)
    assert clashes == []


def test_the_document_lists_every_route_the_dispatcher_knows(client: Client) -> None:
    documented = {
        (method.upper(), template)
        for template, item in client.document["paths"].items()
        for method in api.METHODS
        if method in item
    }
    dispatched = {(route.method, route.template) for route in api.routes()}
    assert documented == dispatched
    handlers = {name[3:] for name in dir(api.Api) if name.startswith("op_")}
    assert handlers == {route.operation_id for route in api.routes()}
    # and over HTTP every documented operation reaches its handler
    samples = {"owner": "alice", "calendar": "nothing", "grantee": "bob"}
    samples.update({"group": "nogroup", "member": "bob", "uid": "no-meeting"})
    samples.update({"poll": "999999", "option": "1", "voter": "1", "reminder": "1"})
    samples["id"] = "1"  # a subscription's id (/subscriptions/{id})
    samples["sync"] = "0"  # a sync's id (/syncs/{sync})
    samples["tag"] = "notag"  # issue 17: /me/tags/{tag}
    for method, template in sorted(documented):
        names = [part[1:-1] for part in template.split("/") if part.startswith("{")]
        body: Any = NOBODY
        if method in ("PUT", "POST", "PATCH"):
            body = {"level": "read"} if "shares" in template else {}
        reply = client.call(method, template, body, **{n: samples[n] for n in names})
        assert reply.status != 405, (method, template)
        if reply.status == 404:
            assert "no such API route" not in payload(reply)["error"], (method, template)


# --- authentication ----------------------------------------------------------------------


def test_the_api_signs_in_like_caldav_and_refuses_others_with_401(client: Client) -> None:
    server = client.server
    anonymous = client.call("GET", "/me", user=None)
    assert anonymous.status == 401
    assert anonymous.headers["www-authenticate"].startswith('Basic realm="')
    mallory = unique("mallory")
    wrong = send(server, "GET", api.ROOT + "/me", user=mallory, password="guess")
    assert wrong.status == 401
    assert wrong.headers["www-authenticate"].startswith('Basic realm="')
    assert "error" in payload(wrong)
    wrong_password = send(server, "GET", api.ROOT + "/calendars", user="bob", password="nope")
    assert wrong_password.status == 401
    # the auth plugin's own fail2ban line: the same plugin instance as CalDAV's
    log = server.log_path.read_text(errors="replace")
    assert f"calserver: authentication failure for user={mallory} from=127.0.0.1" in log
    assert client.call("GET", "/me", user="bob").status == 200


# --- me and calendars ---------------------------------------------------------------------


def test_me_names_the_user_their_home_and_their_groups_with_role(client: Client) -> None:
    group = new_group(client.server)
    bob = payload(client.call("GET", "/me", user="bob"))
    assert bob["user"] == "bob"
    assert bob["href"] == "/bob/"
    assert {"name": group, "admin": False} in bob["groups"]
    alice = payload(client.call("GET", "/me"))
    assert {"name": group, "admin": True} in alice["groups"]
    carol = payload(client.call("GET", "/me", user="carol"))
    assert group not in [g["name"] for g in carol["groups"]]


def test_a_grant_made_over_the_api_changes_what_bob_sees_over_caldav(client: Client) -> None:
    server = client.server
    cal = new_calendar(server)
    uid = put_event(server, "alice", cal, "Secret merger talks")
    alias = f"/bob/alice~{cal}/"
    assert alias not in home_listing(server, "bob")
    shares = "/calendars/{owner}/{calendar}/shares/{grantee}"
    where = {"owner": "alice", "calendar": cal, "grantee": "bob"}

    granted = client.call("PUT", shares, {"level": "busy"}, **where)
    assert granted.status == 200
    assert payload(granted) == {"calendar": f"alice/{cal}", "grantee": "bob", "level": "busy"}
    assert alias in home_listing(server, "bob")
    event = send(server, "GET", f"{alias}{uid}.ics", user="bob")
    assert event.status == 200
    assert "SUMMARY:Busy" in event.text
    assert "Secret merger talks" not in event.text and "Room 7" not in event.text

    assert payload(client.call("PUT", shares, {"level": "read"}, **where))["level"] == "read"
    assert (
        "SUMMARY:Secret merger talks" in send(server, "GET", f"{alias}{uid}.ics", user="bob").text
    )
    listed = payload(client.call("GET", "/calendars/{owner}/{calendar}/shares", **where))
    assert listed == {"calendar": f"alice/{cal}", "shares": [{"grantee": "bob", "level": "read"}]}
    assert payload(client.call("GET", shares, **where))["level"] == "read"
    own = payload(client.call("GET", "/calendars"))["own"]
    assert {
        "calendar": f"alice/{cal}",
        "displayname": "",
        "color": "",
        "href": f"/alice/{cal}/",
        "shares": [{"grantee": "bob", "level": "read"}],
    } in own
    shared = payload(client.call("GET", "/calendars", user="bob"))["shared"]
    assert {
        "calendar": f"alice/{cal}",
        "alias": f"alice~{cal}",
        "level": "read",
        "added": False,
        "href": alias,
    } in shared

    assert client.call("DELETE", shares, **where).status == 204
    assert alias not in home_listing(server, "bob")
    assert send(server, "GET", f"{alias}{uid}.ics", user="bob").status in (403, 404)
    assert client.call("GET", shares, **where).status == 404
    assert client.call("DELETE", shares, **where).status == 404


def test_a_grant_to_a_group_reaches_its_members_only(client: Client) -> None:
    server = client.server
    group = new_group(server, members=("bob",))
    cal = new_calendar(server)
    reply = client.call(
        "PUT",
        "/calendars/{owner}/{calendar}/shares/{grantee}",
        {"level": "read"},
        owner="alice",
        calendar=cal,
        grantee="@" + group,
    )
    assert reply.status == 200
    assert payload(reply)["grantee"] == "@" + group
    assert f"/bob/alice~{cal}/" in home_listing(server, "bob")
    assert f"/carol/alice~{cal}/" not in home_listing(server, "carol")


# --- the refusals of issue 3 ----------------------------------------------------------------


def test_granting_to_an_unknown_user_or_group_is_404(client: Client) -> None:
    cal = new_calendar(client.server)
    shares = "/calendars/{owner}/{calendar}/shares/{grantee}"
    for grantee, name in (("nobody", "'nobody'"), ("@nogroup", "'nogroup'")):
        reply = client.call(
            "PUT", shares, {"level": "read"}, owner="alice", calendar=cal, grantee=grantee
        )
        assert reply.status == 404
        assert name in payload(reply)["error"]
    listed = client.call("GET", "/calendars/{owner}/{calendar}/shares", owner="alice", calendar=cal)
    assert payload(listed)["shares"] == []


def test_granting_someone_elses_calendar_is_403_and_changes_nothing(client: Client) -> None:
    server = client.server
    cal = new_calendar(server)
    shares = "/calendars/{owner}/{calendar}/shares/{grantee}"
    mine = {"owner": "alice", "calendar": cal}
    assert client.call("PUT", shares, {"level": "read"}, grantee="bob", **mine).status == 200
    refused = client.call("PUT", shares, {"level": "write"}, user="bob", grantee="carol", **mine)
    assert refused.status == 403
    assert "not theirs" in payload(refused)["error"]
    assert (
        client.call("PUT", shares, {"level": "write"}, user="bob", grantee="bob", **mine).status
        == 403
    )
    assert client.call("DELETE", shares, user="bob", grantee="bob", **mine).status == 403
    assert client.call("GET", shares, user="bob", grantee="bob", **mine).status == 403
    assert client.call("GET", shares[: -len("/{grantee}")], user="bob", **mine).status == 403
    # a calendar of someone else's that does not exist: the same answer, names stay secret
    ghost = {"owner": "alice", "calendar": unique()}
    assert (
        client.call("PUT", shares, {"level": "read"}, user="bob", grantee="carol", **ghost).status
        == 403
    )
    listed = payload(client.call("GET", shares[: -len("/{grantee}")], **mine))["shares"]
    assert listed == [{"grantee": "bob", "level": "read"}]
    assert f"/carol/alice~{cal}/" not in home_listing(server, "carol")


@pytest.mark.parametrize("level", ["admin", "owner", "none", "freebusy", "", "read-write", 3, None])
def test_a_level_that_does_not_exist_is_400(client: Client, level: Any) -> None:
    cal = new_calendar(client.server)
    where = {"owner": "alice", "calendar": cal, "grantee": "bob"}
    reply = client.call(
        "PUT", "/calendars/{owner}/{calendar}/shares/{grantee}", {"level": level}, **where
    )
    assert reply.status == 400
    assert "level" in payload(reply)["error"]
    assert (
        client.call("GET", "/calendars/{owner}/{calendar}/shares/{grantee}", **where).status == 404
    )


def test_a_grant_body_of_the_wrong_shape_is_400(client: Client) -> None:
    cal = new_calendar(client.server)
    where = {"owner": "alice", "calendar": cal, "grantee": "bob"}
    template = "/calendars/{owner}/{calendar}/shares/{grantee}"
    for body, words in (
        ({}, "lacks the field 'level'"),
        ({"level": "read", "until": "tomorrow"}, "unknown field"),
        (["read"], "JSON object"),
        ("read", "JSON object"),
    ):
        reply = client.call("PUT", template, body, **where)
        assert reply.status == 400, body
        assert words in payload(reply)["error"]
    assert client.call("PUT", template, user="alice", **where).status == 400  # no body at all
    assert client.call("GET", template, **where).status == 404


def test_a_non_admin_cannot_manage_the_group_and_nothing_changes(client: Client) -> None:
    server = client.server
    group = new_group(server, members=("bob",))
    created = client.call("POST", "/groups/{group}/calendars", {"name": "plan"}, group=group)
    assert created.status == 201
    g = {"group": group}
    plan = {"owner": "@" + group, "calendar": "plan"}
    refusals = [
        client.call(
            "PUT",
            "/groups/{group}/members/{member}",
            {"admin": True},
            user="bob",
            member="carol",
            **g,
        ),
        client.call(
            "PUT",
            "/groups/{group}/members/{member}",
            {"admin": True},
            user="bob",
            member="bob",
            **g,
        ),
        client.call("DELETE", "/groups/{group}/members/{member}", user="bob", member="alice", **g),
        client.call("POST", "/groups/{group}/calendars", {"name": "mine"}, user="bob", **g),
        client.call(
            "DELETE", "/groups/{group}/calendars/{calendar}", user="bob", calendar="plan", **g
        ),
        client.call(
            "PUT",
            "/calendars/{owner}/{calendar}/shares/{grantee}",
            {"level": "read"},
            user="bob",
            grantee="carol",
            **plan,
        ),
        client.call("GET", "/calendars/{owner}/{calendar}/shares", user="bob", **plan),
    ]
    for reply in refusals:
        assert reply.status == 403, reply.text
        assert "not an administrator" in payload(reply)["error"]
    outsider = client.call("GET", "/groups/{group}", user="carol", **g)
    assert outsider.status == 403
    assert "not a member" in payload(outsider)["error"]
    seen = payload(client.call("GET", "/groups/{group}", user="bob", **g))
    assert seen["members"] == [{"name": "alice", "admin": True}, {"name": "bob", "admin": False}]
    assert [c["calendar"] for c in seen["calendars"]] == [f"@{group}/plan"]
    assert seen["admin"] is False
    assert f"/carol/@{group}~plan/" not in home_listing(server, "carol")


def test_a_group_admin_manages_members_calendars_and_their_grants(client: Client) -> None:
    server = client.server
    group = new_group(server, members=("bob",))
    g = {"group": "@" + group}  # both spellings name the group
    created = client.call(
        "POST",
        "/groups/{group}/calendars",
        {"name": "rota", "displayname": "Rota", "color": "#336699"},
        **g,
    )
    assert created.status == 201
    assert payload(created) == {
        "calendar": f"@{group}/rota",
        "displayname": "Rota",
        "color": "#336699",
        "href": f"/%40{group}/rota/",
    }
    assert created.headers["location"] == f"/%40{group}/rota/"
    alias = f"/bob/@{group}~rota/"
    assert alias in home_listing(server, "bob")  # every member reads it
    again = client.call("POST", "/groups/{group}/calendars", {"name": "rota"}, **g)
    assert again.status == 409
    for body in ({"name": "a/b"}, {"name": "x", "color": "red"}, {"displayname": "no name"}):
        assert client.call("POST", "/groups/{group}/calendars", body, **g).status == 400, body

    member = "/groups/{group}/members/{member}"
    made = client.call("PUT", member, {"admin": True}, member="carol", **g)
    assert made.status == 200
    # an invitation: carol is a co-admin only once she accepts (issue 12, item 2)
    assert {"name": "carol", "admin": True} in payload(made)["invited"]
    assert {"name": "carol", "admin": True} not in payload(made)["members"]
    made = client.call("POST", "/me/groups/{group}/accept", user="carol", headers=JSON, **g)
    assert made.status == 200
    made = client.call("GET", "/groups/{group}", **g)
    assert {"name": "carol", "admin": True} in payload(made)["members"]
    # carol, now a co-admin, grants the group calendar to bob at write
    rota = {"owner": "@" + group, "calendar": "rota"}
    share = "/calendars/{owner}/{calendar}/shares/{grantee}"
    assert (
        client.call("PUT", share, {"level": "write"}, user="carol", grantee="bob", **rota).status
        == 200
    )
    shared = payload(client.call("GET", "/calendars", user="bob"))["shared"]
    assert {"calendar": f"@{group}/rota", "level": "write"}.items() <= next(
        entry for entry in shared if entry["calendar"] == f"@{group}/rota"
    ).items()
    listed = client.call("GET", share[: -len("/{grantee}")], user="carol", **rota)
    assert payload(listed)["shares"] == [{"grantee": "bob", "level": "write"}]
    demoted = client.call("PUT", member, member="carol", **g)  # no body: a plain member
    assert {"name": "carol", "admin": False} in payload(demoted)["members"]
    assert client.call("DELETE", member, member="carol", **g).status == 204
    assert client.call("DELETE", member, member="carol", **g).status == 404
    assert client.call("PUT", member, {"admin": False}, member="nobody", **g).status == 404

    gone = client.call("DELETE", "/groups/{group}/calendars/{calendar}", calendar="rota", **g)
    assert gone.status == 204
    assert alias not in home_listing(server, "bob")
    assert (
        client.call("DELETE", "/groups/{group}/calendars/{calendar}", calendar="rota", **g).status
        == 404
    )
    assert client.call("GET", "/groups/{group}", group="nogroup").status == 404


def test_groups_lists_mine_and_a_member_may_leave(client: Client) -> None:
    group = new_group(client.server, members=("bob", "carol"))
    mine = payload(client.call("GET", "/groups", user="bob"))["groups"]
    entry = next(g for g in mine if g["name"] == group)
    assert entry["admin"] is False
    assert [m["name"] for m in entry["members"]] == ["alice", "bob", "carol"]
    left = client.call(
        "DELETE", "/groups/{group}/members/{member}", user="carol", group=group, member="carol"
    )
    assert left.status == 204
    assert group not in [
        g["name"] for g in payload(client.call("GET", "/groups", user="carol"))["groups"]
    ]
    assert client.call("GET", "/groups/{group}", user="carol", group=group).status == 403


# --- other calendars and own settings ---------------------------------------------------------


def test_other_calendars_are_added_listed_and_removed(client: Client) -> None:
    server = client.server
    new_group(server, members=("bob",))  # alice and bob share a group; carol does not
    cal = new_calendar(server)
    other = "/other-calendars/{owner}/{calendar}"
    where = {"owner": "alice", "calendar": cal}
    alias = f"/bob/alice~{cal}/"
    assert alias not in home_listing(server, "bob")

    added = client.call("PUT", other, user="bob", **where)
    assert added.status == 200
    entry = {
        "calendar": f"alice/{cal}",
        "alias": f"alice~{cal}",
        "level": "busy",
        "added": True,
        "href": alias,
    }
    assert payload(added) == entry
    assert entry in payload(client.call("GET", "/other-calendars", user="bob"))["other_calendars"]
    assert alias in home_listing(server, "bob")

    assert client.call("DELETE", other, user="bob", **where).status == 204
    assert alias not in home_listing(server, "bob")
    assert (
        entry not in payload(client.call("GET", "/other-calendars", user="bob"))["other_calendars"]
    )
    assert client.call("DELETE", other, user="bob", **where).status == 404
    # a stranger's calendar stays secret; one's own is not an "other" calendar
    assert client.call("PUT", other, user="carol", **where).status == 404
    assert client.call("PUT", other, user="alice", **where).status == 400


def test_own_settings_of_a_shared_calendar_are_the_viewers_alone(client: Client) -> None:
    server = client.server
    cal = unique()
    result = server.cli(
        "calendar", "create", f"alice/{cal}", "--name", "Work", "--color", "#112233"
    )
    assert result.returncode == 0, result.stderr
    where = {"owner": "alice", "calendar": cal}
    share = "/calendars/{owner}/{calendar}/shares/{grantee}"
    assert client.call("PUT", share, {"level": "read"}, grantee="bob", **where).status == 200
    settings = "/calendars/{owner}/{calendar}/settings"
    mine = {"displayname": "Alice at work", "color": "#ff8800", "order": 2}
    reply = client.call("PATCH", settings, mine, user="bob", **where)
    assert reply.status == 200
    assert payload(reply) == {"calendar": f"alice/{cal}", "settings": mine}

    props = ["D:displayname", "ICAL:calendar-color", "ICAL:calendar-order"]
    alias = f"/bob/alice~{cal}/"
    bobs = propfind(server, alias, props, user="bob")
    assert prop_text(bobs, alias, "D:displayname") == "Alice at work"
    assert prop_text(bobs, alias, "ICAL:calendar-color") == "#ff8800"
    assert prop_text(bobs, alias, "ICAL:calendar-order") == "2"
    own = f"/alice/{cal}/"
    alices = propfind(server, own, props)
    assert prop_text(alices, own, "D:displayname") == "Work"
    assert prop_text(alices, own, "ICAL:calendar-color") == "#112233"

    for body in ({}, {"color": "orange"}, {"displayname": 5}, {"order": "2"}, {"title": "x"}):
        assert client.call("PATCH", settings, body, user="bob", **where).status == 400, body
    assert client.call("PATCH", settings, {"order": 1}, **where).status == 400  # alice's own
    assert client.call("PATCH", settings, {"order": 1}, user="carol", **where).status == 404
    bobs = propfind(server, alias, props, user="bob")
    assert prop_text(bobs, alias, "D:displayname") == "Alice at work"


# --- request hygiene ----------------------------------------------------------------------------


def test_bad_json_and_wrong_media_types_are_refused(client: Client) -> None:
    server = client.server
    cal = new_calendar(server)
    path = f"{api.ROOT}/calendars/alice/{cal}/shares/bob"
    template = "/calendars/{owner}/{calendar}/shares/{grantee}"
    for body in (b'{"level": ', b"\xff\xfe{}", b"{'level': 'read'}"):
        reply = send(server, "PUT", path, body, JSON)
        client.check("PUT", template, reply)
        assert reply.status == 400
        assert "JSON" in payload(reply)["error"]
    form = send(
        server, "PUT", path, "level=read", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    client.check("PUT", template, form)
    assert form.status == 415
    plain = send(server, "PUT", path, '{"level": "read"}', {"Content-Type": "text/plain"})
    assert plain.status == 415
    assert send(server, "GET", path).status == 404  # nothing was granted


def test_unknown_routes_are_404_and_wrong_methods_405_with_allow(client: Client) -> None:
    server = client.server
    for path in (
        "/.api/v1/nothing",
        "/.api/v2/me",
        "/.api/v1/calendars/alice",
        "/.api/v1/me/",
        "/.api",
    ):
        reply = send(server, "GET", path)
        assert reply.status == 404, path
        assert "no such API route" in payload(reply)["error"]
    assert send(server, "GET", "/.api/v1/nothing", user=None).status == 404
    posted = send(server, "POST", "/.api/v1/me", "{}", JSON)
    assert posted.status == 405
    assert posted.headers["allow"] == "GET, HEAD"
    assert "error" in payload(posted)
    patched = send(server, "PATCH", "/.api/v1/calendars/alice/x/shares/bob", "{}", JSON)
    assert patched.status == 405
    assert patched.headers["allow"] == "DELETE, GET, HEAD, PUT"
    head = send(server, "HEAD", "/.api/v1/me")
    assert head.status == 200 and head.body == b""


def test_a_body_above_max_content_length_is_413(tmp_path: Path) -> None:
    """waitress refuses the body itself ([server] max_content_length is its
    max_request_body_size); the API answers a body under the limit."""
    folder = tmp_path / "small"
    url = "sqlite:///" + str(tmp_path / "small.sqlite")
    server = start_server(url, folder, "--server-max-content-length", "256")
    try:
        result = run_cli(
            url, folder, "user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n"
        )
        assert result.returncode == 0, result.stderr
        assert send(server, "MKCALENDAR", "/alice/work/").status == 201
        path = f"{api.ROOT}/calendars/alice/work/shares/alice"
        body = json.dumps({"level": "read", "padding": "x" * 300})
        assert send(server, "PUT", path, body, JSON).status == 413
        small = send(server, "PUT", path, '{"level": "x"}', JSON)
        assert small.status == 400  # under the limit: the API answers it
        assert "level" in payload(small)["error"]
    finally:
        server.stop()


def test_front_refuses_a_body_above_max_content_length_in_json(
    database_url: str, tmp_path: Path
) -> None:
    """Behind a server that does not check the length itself (gunicorn), Front does, and
    answers an API request in JSON."""
    configuration = make_configuration(database_url, tmp_path, server={"max_content_length": "256"})
    application = make_app(configuration)  # creates the schema
    users.add(db.engine_for(configuration), "alice", PASSWORD)
    wsgi = WSGIClient(application, configuration, default_user="alice")
    body = json.dumps({"level": "read", "padding": "x" * 300})
    reply = wsgi.request("PUT", f"{api.ROOT}/calendars/alice/work/shares/bob", body, JSON)
    assert reply.status == 413
    assert reply.headers["content-type"].startswith("application/json")
    assert json.loads(reply.body) == {"error": "request body too large"}
    caldav = wsgi.request("PUT", "/alice/work/x.ics", body)
    assert caldav.status == 413
    assert caldav.headers["content-type"].startswith("text/plain")


def test_urls_carry_the_script_name_prefix_of_a_proxy(client: Client) -> None:
    server = client.server
    prefix = {"X-Script-Name": "/dav"}
    me = payload(client.call("GET", "/me", headers=prefix))
    assert me["href"] == "/dav/alice/"
    spec = payload(send(server, "GET", api.ROOT + "/openapi.json", user=None, headers=prefix))
    assert spec["servers"] == [{"url": "/dav/.api/v1"}]
    cal = new_calendar(server)
    client.call(
        "PUT",
        "/calendars/{owner}/{calendar}/shares/{grantee}",
        {"level": "busy"},
        owner="alice",
        calendar=cal,
        grantee="bob",
    )
    shared = payload(client.call("GET", "/calendars", user="bob", headers=prefix))["shared"]
    hrefs = {unquote(entry["href"]) for entry in shared}
    assert f"/dav/bob/alice~{cal}/" in hrefs
    group = new_group(server)
    created = client.call(
        "POST", "/groups/{group}/calendars", {"name": "p"}, headers=prefix, group=group
    )
    assert created.headers["location"] == f"/dav/%40{group}/p/"
    bad = send(server, "GET", api.ROOT + "/me", headers={"X-Script-Name": "dav"})
    assert bad.status == 400


# --- cross-site request forgery ----------------------------------------------------------

#: What a page of another site can make a browser send without a CORS preflight.
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain")
#: A body each state-changing operation would act on, were it JSON.
FORGED_BODIES: dict[str, Any] = {
    "put_share": {"level": "write"},
    "patch_settings": {"displayname": "Forged"},
    "put_publication": {"level": "details", "reset": True},
    "patch_my_settings": {"timezone": "Pacific/Kiritimati"},
    "patch_meeting": {"email": False},
    "put_member": {"admin": True},
    "create_group_calendar": {"name": "forged"},
}


def snapshot(server: LiveServer, cal: str, group: str, bobcal: str) -> dict[str, Any]:
    """Everything the forged requests would change, as alice and bob read it."""
    reads = {
        ("alice", f"/calendars/alice/{cal}/shares"),
        ("alice", f"/calendars/alice/{cal}/publication"),
        ("alice", f"/calendars/alice/{cal}/urls"),
        ("alice", "/me/settings"),
        ("alice", "/other-calendars"),
        ("alice", f"/groups/{group}"),
        ("alice", "/groups"),
        ("bob", "/calendars"),
        ("bob", f"/calendars/bob/{bobcal}/shares"),
        ("bob", f"/calendars/bob/alice~{cal}/urls"),
    }
    found = {}
    for user, path in sorted(reads):
        reply = send(server, "GET", api.ROOT + path, user=user)
        assert reply.status == 200, (path, reply.text)
        found[user, path] = payload(reply)
    return found


def test_no_cross_site_request_changes_anything_through_the_api(client: Client) -> None:
    """A browser with alice's cached Basic credentials, driven by a page of another
    site, can send a form POST (or a body-less POST) to any URL: every state-changing
    operation refuses it (415, or 405 for a route without POST), and also any request
    the browser marks as cross-site (403), whatever its Content-Type. Nothing
    changes: not the grants, the publication, the settings, the secret feed URLs, the
    other calendars or the group."""
    server = client.server
    cal = new_calendar(server)
    bobcal, bobcal2 = new_calendar(server, "bob"), new_calendar(server, "bob")
    group = new_group(server, members=("bob",))
    shares = "/calendars/{owner}/{calendar}/shares/{grantee}"
    where = {"owner": "alice", "calendar": cal}
    assert client.call("PUT", shares, {"level": "read"}, grantee="bob", **where).status == 200
    publication = "/calendars/{owner}/{calendar}/publication"
    assert client.call("PUT", publication, {"level": "busy"}, **where).status == 200
    other = "/other-calendars/{owner}/{calendar}"
    assert client.call("PUT", other, owner="bob", calendar=bobcal2).status == 200
    made = client.call("POST", "/groups/{group}/calendars", {"name": "plan"}, group=group)
    assert made.status == 201
    before = snapshot(server, cal, group, bobcal)

    params = {
        "owner": "alice",
        "calendar": cal,
        "grantee": "bob",
        "group": group,
        "member": "bob",
        "uid": "no-meeting",
        "reminder": "1",
        "id": "1",  # a subscription's id
        "tag": "notag",
    }
    # what each operation would change: a new grant, member, calendar; an existing one
    special = {
        "put_share": {"grantee": "carol"},
        "put_member": {"member": "carol"},
        "put_other_calendar": {"owner": "bob", "calendar": bobcal},
        "delete_other_calendar": {"owner": "bob", "calendar": bobcal2},
        "delete_group_calendar": {"calendar": "plan"},
        "patch_settings": {"owner": "bob", "calendar": bobcal},
    }
    refused: list[tuple[str, str, str, int]] = []
    for route in api.routes():
        if route.method in ("GET", "HEAD"):
            continue
        # a feature's own ids (a poll, a reminder, ...) need not exist: the cross-site
        # refusal comes before any lookup, and the snapshot shows nothing changed
        names = {field for _, field, _, _ in string.Formatter().parse(route.template) if field}
        values = {**dict.fromkeys(names, "1"), **params, **special.get(route.operation_id, {})}
        path = api.ROOT + route.template.format(
            **{k: quote(v, safe="@~") for k, v in values.items()}
        )
        forged = json.dumps(FORGED_BODIES.get(route.operation_id, {}))
        attempts: list[tuple[str, bytes | str, dict[str, str]]] = []
        for media in FORM_TYPES:
            for body in (forged, "", "level=write&name=forged"):
                attempts.append(("POST", body, {"Content-Type": media}))
                attempts.append((route.method, body, {"Content-Type": media}))
        attempts.append(("POST", "", {}))  # fetch(..., {method: "POST", mode: "no-cors"})
        json_type = {"Content-Type": "application/json"}
        for site in ("cross-site", "same-site"):
            attempts.append((route.method, forged, {**json_type, "Sec-Fetch-Site": site}))
        for method, body, headers in attempts:
            reply = send(server, method, path, body, headers)
            if method == route.method:
                assert reply.status in (403, 415), (route.operation_id, headers, reply.text)
            else:
                assert reply.status in (403, 405, 415), (route.operation_id, headers, reply.text)
            assert "error" in payload(reply)
            refused.append(
                (route.operation_id, method, headers.get("Content-Type", ""), reply.status)
            )
    assert {entry[0] for entry in refused} == {
        route.operation_id for route in api.routes() if route.method not in ("GET", "HEAD")
    }
    assert snapshot(server, cal, group, bobcal) == before
    # the same requests from the API's own clients still work
    reset = send(
        server, "POST", api.ROOT + "/me/reset-feeds", "", {"Content-Type": "application/json"}
    )
    assert reset.status == 204
    same_origin = {"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"}
    body = json.dumps({"level": "busy"})
    regrant = send(
        server, "PUT", api.ROOT + f"/calendars/alice/{cal}/shares/bob", body, same_origin
    )
    assert regrant.status == 200, regrant.text
    after = snapshot(server, cal, group, bobcal)
    assert (
        after[("alice", f"/calendars/alice/{cal}/urls")]
        != before[("alice", f"/calendars/alice/{cal}/urls")]
    )
    assert send(server, "DELETE", api.ROOT + f"/calendars/alice/{cal}/shares/bob").status == 204
