"""Sharing in-process: the management rules (who may grant what, to whom, at which
level), the schema migration that brings CLASS to stored items, and the storage's
views (what each level contains, ETags, ctags and sync tokens per view)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select, text, update

from calserver import calendars, db
from calserver.accounts import users
from calserver.app import make_app
from calserver.db.models import items, meta
from calserver.errors import Conflict, Forbidden, InvalidInput, NotFound
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import PASSWORD, WSGIClient, event_ics

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
XML = {"Content-Type": "application/xml; charset=utf-8"}


@pytest.fixture
def world(configuration: Any, engine: Any) -> WSGIClient:
    """alice, bob, carol; @staff = alice (admin) + bob; alice/work holds one event of
    each class."""
    for name in ("alice", "bob", "carol"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    client = WSGIClient(make_app(configuration), configuration, default_user="alice")
    calendars.create(Storage(configuration), "alice/work")
    manage.create_group(engine, "staff", admin="alice")
    manage.add_member(engine, "staff", "bob")
    for uid, klass in (("pub", ""), ("conf", "CONFIDENTIAL"), ("priv", "PRIVATE")):
        extra = (
            f"CLASS:{klass}\r\nDESCRIPTION:secret {uid}\r\n"
            if klass
            else (f"DESCRIPTION:secret {uid}\r\n")
        )
        body = event_ics(uid, summary=f"Title {uid}", extra=extra)
        assert client.request("PUT", f"/alice/work/{uid}.ics", body, ICS).status == 201
    return client


# --- management rules -----------------------------------------------------------------


def test_share_refuses_unknown_grantees_levels_and_strangers(world: WSGIClient, engine: Any):
    with pytest.raises(NotFound, match="no user 'nobody'"):
        manage.share(engine, "alice/work", "nobody", "read")
    with pytest.raises(NotFound, match="no group 'nogroup'"):
        manage.share(engine, "alice/work", "@nogroup", "read")
    with pytest.raises(InvalidInput, match="unknown level"):
        manage.share(engine, "alice/work", "bob", "admin")
    with pytest.raises(NotFound, match="no calendar"):
        manage.share(engine, "alice/nothing", "bob", "read")
    with pytest.raises(Forbidden, match="not theirs"):
        manage.share(engine, "alice/work", "carol", "write", actor="bob")
    with pytest.raises(InvalidInput, match="owns"):
        manage.share(engine, "alice/work", "alice", "read")
    assert manage.grants_of(engine, "alice/work") == []


def test_group_admin_rules(world: WSGIClient, engine: Any) -> None:
    with pytest.raises(Forbidden, match="not an administrator"):
        manage.add_member(engine, "staff", "carol", actor="bob")
    with pytest.raises(Conflict):
        manage.create_group(engine, "@staff")
    group = manage.add_member(engine, "@staff", "carol", actor="alice")
    # a group admin only invites: carol is in once she accepts (issue 12, item 2)
    assert [m.name for m in group.members] == ["alice", "bob"]
    assert [(m.name, m.admin) for m in group.invited] == [("carol", False)]
    manage.accept(engine, "staff", "carol")
    group = manage.get_group(engine, "staff")
    assert [(m.name, m.admin) for m in group.members] == [
        ("alice", True),
        ("bob", False),
        ("carol", False),
    ]
    # a member may leave on their own; a non-admin may not remove someone else
    with pytest.raises(Forbidden):
        manage.remove_member(engine, "staff", "carol", actor="bob")
    manage.remove_member(engine, "staff", "carol", actor="carol")
    assert [g.name for g in manage.list_groups(engine, "carol")] == []


def test_level_changes_in_place_and_unshare(world: WSGIClient, engine: Any) -> None:
    manage.share(engine, "alice/work", "bob", "busy")
    manage.share(engine, "alice/work", "bob", "write")
    manage.share(engine, "alice/work", "@staff", "read")
    assert [(g.grantee, g.level) for g in manage.grants_of(engine, "alice/work")] == [
        ("@staff", "read"),
        ("bob", "write"),
    ]
    manage.unshare(engine, "alice/work", "bob")
    with pytest.raises(NotFound):
        manage.unshare(engine, "alice/work", "bob")
    assert [(g.grantee, g.level) for g in manage.grants_of(engine, "alice/work")] == [
        ("@staff", "read")
    ]


# --- views ------------------------------------------------------------------------------


def _hrefs(response_text: str) -> set[str]:
    return set(re.findall(r"<href>([^<]+\.ics)</href>", response_text))


def propfind_items(client: WSGIClient, path: str, user: str) -> dict[str, str]:
    body = '<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'
    reply = client.request("PROPFIND", path, body, {**XML, "Depth": "1"}, user=user)
    assert reply.status == 207, reply.text
    found = re.findall(r"<href>([^<]+\.ics)</href>.*?<getetag>([^<]+)</getetag>", reply.text)
    return {href.rsplit("/", 1)[1]: etag.replace("&quot;", '"') for href, etag in found}


@pytest.mark.parametrize("route", ["/bob/alice~work/", "/alice/work/"])
def test_each_level_contains_what_the_table_says(world: WSGIClient, engine: Any, route: str):
    # a group member without a grant: free/busy only, no items
    assert world.request("GET", route + "pub.ics", user="bob").status in (403, 404)

    manage.share(engine, "alice/work", "bob", "busy")
    assert set(propfind_items(world, route, "bob")) == {"pub.ics"}
    busy = world.request("GET", route + "pub.ics", user="bob")
    assert busy.status == 200
    assert "SUMMARY:Busy" in busy.text and "secret" not in busy.text and "Title" not in busy.text
    assert world.request("GET", route + "conf.ics", user="bob").status == 404

    manage.share(engine, "alice/work", "bob", "read")
    listed = propfind_items(world, route, "bob")
    assert set(listed) == {"pub.ics", "conf.ics"}
    public = world.request("GET", route + "pub.ics", user="bob")
    assert "Title pub" in public.text and "secret pub" in public.text
    conf = world.request("GET", route + "conf.ics", user="bob")
    assert "SUMMARY:Busy" in conf.text and "secret" not in conf.text
    # the listing's ETags are the ETags of what GET serves
    assert listed["conf.ics"] == conf.headers["etag"]
    assert listed["pub.ics"] == public.headers["etag"]
    assert world.request("GET", route + "priv.ics", user="bob").status == 404
    # the owner sees everything, unredacted
    assert set(propfind_items(world, "/alice/work/", "alice")) == {
        "pub.ics",
        "conf.ics",
        "priv.ics",
    }


def test_writer_may_change_public_events_only(world: WSGIClient, engine: Any) -> None:
    manage.share(engine, "alice/work", "bob", "write")
    changed = event_ics("pub", summary="Changed by bob")
    assert world.request("PUT", "/bob/alice~work/pub.ics", changed, ICS, user="bob").status == 204
    for uid in ("conf", "priv"):
        reply = world.request(
            "PUT", f"/alice/work/{uid}.ics", event_ics(uid, summary="x"), ICS, user="bob"
        )
        # a private event is not there for bob: refused as a write or as a UID conflict
        assert reply.status in ((403,) if uid == "conf" else (403, 409)), (uid, reply.text)
        assert world.request("DELETE", f"/bob/alice~work/{uid}.ics", user="bob").status in (
            403,
            404,
        )
    assert world.request("DELETE", "/alice/work/", user="bob").status == 403
    # a writer may add a private event; from then on only alice sees it
    mine = event_ics("bobs-private", summary="Bob's secret", extra="CLASS:PRIVATE\r\n")
    added = world.request("PUT", "/alice/work/bp.ics", mine, ICS, user="bob")
    assert added.status == 201 and added.headers.get("etag")
    assert world.request("GET", "/alice/work/bp.ics", user="bob").status == 404
    assert "Bob's secret" in world.request("GET", "/alice/work/bp.ics").text
    with db.engine_for(world.configuration).connect() as conn:
        texts = dict(conn.execute(select(items.c.href, items.c.text)).all())
    assert "Changed by bob" in texts["pub.ics"]
    assert "Title conf" in texts["conf.ics"] and "Title priv" in texts["priv.ics"]


def test_readers_cannot_write_and_own_settings_stay_theirs(world: WSGIClient, engine: Any):
    manage.share(engine, "alice/work", "bob", "read")
    put = world.request("PUT", "/alice/work/new.ics", event_ics("new"), ICS, user="bob")
    assert put.status == 403
    assert world.request("DELETE", "/alice/work/pub.ics", user="bob").status == 403
    proppatch = (
        '<propertyupdate xmlns="DAV:" xmlns:I="http://apple.com/ns/ical/"><set><prop>'
        "<I:calendar-color>#FF0000FF</I:calendar-color><displayname>Alice at work</displayname>"
        "</prop></set></propertyupdate>"
    )
    assert world.request("PROPPATCH", "/alice/work/", proppatch, XML, user="bob").status == 403
    own = world.request("PROPPATCH", "/bob/alice~work/", proppatch, XML, user="bob")
    assert own.status == 207 and "200 OK" in own.text, own.text
    body = (
        '<propfind xmlns="DAV:" xmlns:I="http://apple.com/ns/ical/"><prop>'
        "<displayname/><I:calendar-color/></prop></propfind>"
    )
    bobs = world.request("PROPFIND", "/bob/alice~work/", body, {**XML, "Depth": "0"}, user="bob")
    alices = world.request("PROPFIND", "/alice/work/", body, {**XML, "Depth": "0"})
    assert "Alice at work" in bobs.text and "#FF0000FF" in bobs.text
    assert "Alice at work" not in alices.text and "#FF0000FF" not in alices.text


def _sync(client: WSGIClient, path: str, user: str, token: str = "") -> Any:
    body = (
        '<sync-collection xmlns="DAV:"><sync-token>%s</sync-token><sync-level>1</sync-level>'
        "<prop><getetag/></prop></sync-collection>" % token
    )
    return client.request("REPORT", path, body, XML, user=user)


def test_level_change_invalidates_tokens_and_ctag(world: WSGIClient, engine: Any) -> None:
    manage.share(engine, "alice/work", "bob", "busy")
    first = _sync(world, "/bob/alice~work/", "bob")
    token = re.search(r"<sync-token>([^<]+)</sync-token>", first.text).group(1)  # type: ignore[union-attr]
    assert _sync(world, "/bob/alice~work/", "bob", token).status == 207
    manage.share(engine, "alice/work", "bob", "read")
    stale = _sync(world, "/bob/alice~work/", "bob", token)
    assert stale.status == 403 and "valid-sync-token" in stale.text
    # the owner's own token is not valid in a view, nor a view's for the owner
    own = _sync(world, "/alice/work/", "alice")
    own_token = re.search(r"<sync-token>([^<]+)</sync-token>", own.text).group(1)  # type: ignore[union-attr]
    assert _sync(world, "/alice/work/", "bob", own_token).status == 403


def test_group_calendars_members_read_admins_write(world: WSGIClient, configuration: Any):
    storage = Storage(configuration)
    calendars.create(storage, "@staff/meetings")
    with pytest.raises(NotFound):
        calendars.create(storage, "@nogroup/x")
    body = event_ics("meet", summary="Staff meeting")
    assert world.request("PUT", "/alice/@staff~meetings/meet.ics", body, ICS).status == 201
    assert world.request("GET", "/bob/@staff~meetings/meet.ics", user="bob").status == 200
    refused = world.request("PUT", "/@staff/meetings/b.ics", event_ics("b"), ICS, user="bob")
    assert refused.status == 403
    assert world.request("GET", "/@staff/meetings/meet.ics", user="carol").status in (403, 404)


# --- the migration ---------------------------------------------------------------------


def test_upgrade_from_version_2_computes_each_items_class(world: WSGIClient, engine: Any):
    with engine.begin() as conn:
        for table in ("calendar_views", "grants", "group_members", "groups"):
            conn.execute(text(f"DROP TABLE {table}"))
        # the covering index of listings (a later migration, _v23_ready_hrefs) holds the
        # column on SQLite: a version-2 database had neither
        conn.execute(text("DROP INDEX IF EXISTS ix_items_listing"))
        conn.execute(text("ALTER TABLE items DROP COLUMN klass"))
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="2"))
    assert db.upgrade(engine) == (2, db.LATEST)
    with engine.connect() as conn:
        classes = dict(conn.execute(select(items.c.href, items.c.klass)).all())
    assert classes == {"pub.ics": "PUBLIC", "conf.ics": "CONFIDENTIAL", "priv.ics": "PRIVATE"}
    manage.create_group(engine, "again")  # the new tables are there
