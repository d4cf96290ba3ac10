"""The web app's management pages (issue 14 items 6-9): calendars, sharing, groups,
feeds and public links, settings and password, import and export, administration, and
``calserver user admin``. In process over the WSGI client, on SQLite and PostgreSQL;
the pages call the services the JSON API calls, with the signed-in user as the actor."""

from __future__ import annotations

import html
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select

from calserver import calendars, cli, db
from calserver.accounts import sessions, settings, users
from calserver.db.models import mail_outbox
from calserver.scheduling import invitations
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import PASSWORD, Response, WSGIClient, event_ics
from tests.test_web_core import cookie_value, csrf_of, get, session_of, sign_in

FORM = "application/x-www-form-urlencoded"

pytestmark = pytest.mark.storage


# --- helpers ---------------------------------------------------------------------------


def engine_of(client: WSGIClient) -> Any:
    return db.engine_for(client.configuration)


def storage_of(client: WSGIClient) -> Storage:
    return Storage(client.configuration)


def post(
    client: WSGIClient, path: str, session: str, fields: dict[str, str], csrf: bool = True
) -> Response:
    data = dict(fields)
    if csrf:
        data["csrf"] = csrf_of(client, session)
    return client.request(
        "POST",
        path,
        urlencode(data),
        {"Content-Type": FORM, "Cookie": f"calserver_session={session}"},
        user=None,
    )


def post_file(
    client: WSGIClient, path: str, session: str, fields: dict[str, str], name: str, data: bytes
) -> Response:
    boundary = "----calserver" + uuid.uuid4().hex
    parts = [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
        ).encode()
        for key, value in {**fields, "csrf": csrf_of(client, session)}.items()
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/calendar\r\n\r\n"
    )
    parts.append(head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return client.request(
        "POST",
        path,
        body,
        {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Cookie": f"calserver_session={session}",
        },
        user=None,
    )


def put_event(client: WSGIClient, path: str, uid: str, summary: str, user: str = "alice") -> None:
    answer = client.request(
        "PUT",
        f"/{path}/{uid}.ics",
        event_ics(uid, summary=summary),
        {"Content-Type": "text/calendar"},
        user=user,
    )
    assert answer.status == 201, answer.text


def text_of(answer: Response) -> str:
    return html.unescape(answer.text)


def done_of(answer: Response) -> str:
    assert answer.status == 303, answer.text
    return answer.headers["location"]


@pytest.fixture
def work(client: WSGIClient) -> str:
    """alice's calendar "Work" with the event "Dentist"."""
    calendars.create(storage_of(client), "alice/work", "Work", "#336699")
    put_event(client, "alice/work", "dentist", "Dentist")
    return "alice/work"


# --- every page ------------------------------------------------------------------------


PAGES = [
    "/.web/calendars",
    "/.web/calendar/sharing?cal=alice/work",
    "/.web/calendars/delete?cal=alice/work",
    "/.web/groups",
    "/.web/feeds",
    "/.web/feeds/reset",
    "/.web/settings",
    "/.web/admin",
]


def test_every_page_answers_signed_in_and_sends_to_the_sign_in_without(
    client: WSGIClient, work: str
) -> None:
    sessions.set_admin(engine_of(client), "alice", True)
    session = session_of(client)
    for path in PAGES:
        answer = get(client, path, session)
        assert answer.status == 200, (path, answer.text)
        assert "<h1>" in answer.text and "style=" not in answer.text, path
        assert "<script>" not in answer.text, path
        anonymous = get(client, path)
        assert anonymous.status == 303, path
        assert anonymous.headers["location"].startswith("/.web/login?next=")


def test_a_missing_csrf_token_is_refused_on_every_kind_of_form(
    client: WSGIClient, work: str
) -> None:
    engine = engine_of(client)
    sessions.set_admin(engine, "alice", True)
    session = session_of(client)
    samples = [
        ("/.web/calendars/create", {"name": "Forged"}),
        ("/.web/calendar/sharing", {"cal": work, "grantee": "bob", "level": "write"}),
        ("/.web/calendars/delete", {"cal": work, "confirm": "yes"}),
        ("/.web/feeds/publish", {"cal": work, "level": "details"}),
        ("/.web/feeds/reset", {"confirm": "yes"}),
        ("/.web/settings", {"timezone": "Asia/Tokyo"}),
        ("/.web/settings/password", {"current_password": PASSWORD, "new_password": "x" * 9}),
        ("/.web/admin/users/add", {"name": "mallory", "password": "x" * 9}),
        ("/.web/groups/create", {"name": "forged"}),
    ]
    for path, fields in samples:
        answer = post(client, path, session, fields, csrf=False)
        assert answer.status == 403, path
        wrong = post(client, path, session, {**fields, "csrf": "wrong"}, csrf=False)
        assert wrong.status == 403, path
    assert manage.grants_of(engine, work) == []
    assert users.get(engine, "mallory") is None
    assert settings.get(engine, client.configuration, "alice").own_timezone == ""
    assert [c.path for c in calendars.list_calendars(storage_of(client), "alice")] == [work]


# --- calendars -------------------------------------------------------------------------


def test_create_rename_and_recolour_a_calendar(client: WSGIClient) -> None:
    session = session_of(client)
    bad = post(client, "/.web/calendars/create", session, {"name": "", "color": "blue"})
    assert bad.status == 400
    assert "Give the calendar a name." in bad.text and "Choose a colour" in bad.text
    assert 'aria-invalid="true"' in bad.text
    made = post(
        client, "/.web/calendars/create", session, {"name": "Team plans", "color": "#aa3300"}
    )
    assert done_of(made) == "/.web/calendars?done=created"
    again = post(client, "/.web/calendars/create", session, {"name": "Team plans"})
    assert again.status == 303
    found = {c.path: c for c in calendars.list_calendars(storage_of(client), "alice")}
    assert set(found) == {"alice/team-plans", "alice/team-plans-2"}
    assert found["alice/team-plans"].color == "#aa3300"
    page = get(client, "/.web/calendars?done=created", session)
    assert "The calendar was created." in page.text and "Team plans" in page.text
    assert (
        "<script"
        not in get(client, "/.web/calendars?done=<script>", session).text.split("</head>")[1]
    )
    renamed = post(
        client,
        "/.web/calendars/properties",
        session,
        {"cal": "alice/team-plans", "name": "Board", "color": "#112233"},
    )
    assert done_of(renamed) == "/.web/calendars?done=renamed"
    info = {c.path: c for c in calendars.list_calendars(storage_of(client), "alice")}
    assert info["alice/team-plans"].name == "Board"
    assert info["alice/team-plans"].color.startswith("#112233")
    kept = post(
        client,
        "/.web/calendars/properties",
        session,
        {"cal": "alice/team-plans", "name": "Board 2", "color": "red"},
    )
    assert kept.status == 400 and 'value="Board 2"' in kept.text


def test_a_shared_calendar_gets_the_viewers_own_name_and_colour(
    client: WSGIClient, work: str
) -> None:
    manage.share(engine_of(client), work, "bob", "read")
    bob = session_of(client, "bob")
    page = get(client, "/.web/calendars", bob)
    assert "alice/work" in page.text and "Read" in page.text
    answer = post(
        client,
        "/.web/calendars/properties",
        bob,
        {"cal": work, "name": "Alice at work", "color": "#00aa00"},
    )
    assert answer.status == 303
    assert "Alice at work" in get(client, "/.web/calendars", bob).text
    owner = {c.path: c for c in calendars.list_calendars(storage_of(client), "alice")}
    assert owner[work].name == "Work"  # the owner's name is unchanged
    # bob may not rename a calendar that he cannot see
    calendars.create(storage_of(client), "alice/private", "Private")
    hidden = post(
        client,
        "/.web/calendars/properties",
        bob,
        {"cal": "alice/private", "name": "Mine", "color": "#000000"},
    )
    assert hidden.status == 404


def test_delete_a_calendar_after_a_confirmation_that_says_what_is_lost(
    client: WSGIClient, work: str
) -> None:
    manage.share(engine_of(client), work, "bob", "read")
    session = session_of(client)
    confirm = get(client, "/.web/calendars/delete?cal=alice/work", session)
    assert confirm.status == 200
    text = text_of(confirm)
    assert "its 1 event" in text and "bob" in text and "cannot be undone" in text
    unconfirmed = post(client, "/.web/calendars/delete", session, {"cal": work})
    assert unconfirmed.status == 400 and "Tick the box" in unconfirmed.text
    assert storage_of(client).load_collection(work) is not None
    bob = session_of(client, "bob")
    assert (
        post(client, "/.web/calendars/delete", bob, {"cal": work, "confirm": "yes"}).status == 404
    )
    assert get(client, "/.web/calendars/delete?cal=alice/work", bob).status == 404
    deleted = post(client, "/.web/calendars/delete", session, {"cal": work, "confirm": "yes"})
    assert done_of(deleted) == "/.web/calendars?done=deleted"
    assert storage_of(client).load_collection(work) is None


def test_import_a_file_with_a_bad_event_shows_what_was_added_and_refused(
    client: WSGIClient, work: str
) -> None:
    session = session_of(client)
    good = event_ics("imported-1", summary="Imported one")
    bad = event_ics("broken-2", start="20261124T100000Z", end="not-a-date")
    text = (
        good.replace("END:VCALENDAR\r\n", "")
        + bad.split("VERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n", 1)[1]
    )
    answer = post_file(
        client, "/.web/calendars/import", session, {"cal": work}, "mine.ics", text.encode()
    )
    assert answer.status == 200, answer.text
    summary = text_of(answer)
    assert "Import of mine.ics into alice/work" in summary
    assert "1 event added, 0 replaced, 1 refused." in summary
    assert "broken-2" in summary
    stored = calendars.export(storage_of(client), work)
    assert "Imported one" in stored and "broken-2" not in stored
    empty = post_file(client, "/.web/calendars/import", session, {"cal": work}, "x.ics", b"")
    assert empty.status == 400 and "Choose an .ics file" in empty.text
    garbage = post_file(client, "/.web/calendars/import", session, {"cal": work}, "x.ics", b"hello")
    assert garbage.status == 400 and "Nothing was imported" in garbage.text
    bob = session_of(client, "bob")
    foreign = post_file(
        client, "/.web/calendars/import", bob, {"cal": work}, "x.ics", good.encode()
    )
    assert foreign.status == 400 and "Choose one of your calendars." in foreign.text


def test_export_downloads_the_calendar(client: WSGIClient, work: str) -> None:
    session = session_of(client)
    answer = get(client, "/.web/calendars/export?cal=alice/work", session)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    assert answer.headers["content-disposition"] == 'attachment; filename="alice-work.ics"'
    assert answer.text.startswith("BEGIN:VCALENDAR") and "SUMMARY:Dentist" in answer.text
    bob = session_of(client, "bob")
    assert get(client, "/.web/calendars/export?cal=alice/work", bob).status == 404


# --- sharing ---------------------------------------------------------------------------


def bob_sees(client: WSGIClient) -> tuple[int, str]:
    answer = client.request("GET", "/bob/alice~work/dentist.ics", user="bob")
    return answer.status, answer.text


def test_share_busy_read_write_change_and_revoke_and_bobs_view_follows(
    client: WSGIClient, work: str
) -> None:
    session = session_of(client)
    assert bob_sees(client)[0] == 404
    shared = post(
        client, "/.web/calendar/sharing", session, {"cal": work, "grantee": "bob", "level": "busy"}
    )
    assert done_of(shared) == "/.web/calendar/sharing?done=shared&cal=alice%2Fwork"
    status, text = bob_sees(client)
    assert status == 200 and "SUMMARY:Busy" in text and "Dentist" not in text
    page = get(client, "/.web/calendar/sharing?cal=alice/work&done=shared", session)
    assert "The calendar is shared." in page.text
    assert re.search(r'<option value="busy" selected>', page.text)
    bob_page = get(client, "/.web/calendars", session_of(client, "bob"))
    assert "alice/work" in bob_page.text and "Busy only" in bob_page.text
    changed = post(
        client,
        "/.web/calendar/sharing",
        session,
        {"cal": work, "grantee": "bob", "level": "read", "action": "share"},
    )
    assert done_of(changed).startswith("/.web/calendar/sharing?done=changed")
    status, text = bob_sees(client)
    assert status == 200 and "SUMMARY:Dentist" in text
    put = client.request(
        "PUT",
        "/bob/alice~work/bob.ics",
        event_ics("bob", summary="By bob"),
        {"Content-Type": "text/calendar"},
        user="bob",
    )
    assert put.status == 403
    post(
        client, "/.web/calendar/sharing", session, {"cal": work, "grantee": "bob", "level": "write"}
    )
    assert manage.grants_of(engine_of(client), work)[0].level == "write"
    put_event(client, "bob/alice~work", "bob", "By bob", user="bob")
    revoked = post(
        client,
        "/.web/calendar/sharing",
        session,
        {"cal": work, "grantee": "bob", "action": "revoke"},
    )
    assert done_of(revoked).startswith("/.web/calendar/sharing?done=revoked")
    assert bob_sees(client)[0] == 404
    assert manage.grants_of(engine_of(client), work) == []


def test_sharing_with_nobody_or_at_no_level_shows_the_form_again(
    client: WSGIClient, work: str
) -> None:
    session = session_of(client)
    unknown = post(
        client,
        "/.web/calendar/sharing",
        session,
        {"cal": work, "grantee": "nobody", "level": "read"},
    )
    assert unknown.status == 400
    assert "There is no user or group 'nobody'." in text_of(unknown)
    assert 'value="nobody"' in unknown.text
    level = post(
        client, "/.web/calendar/sharing", session, {"cal": work, "grantee": "bob", "level": "all"}
    )
    assert level.status == 400 and "Choose busy only, read, or read and write." in level.text
    myself = post(
        client,
        "/.web/calendar/sharing",
        session,
        {"cal": work, "grantee": "alice", "level": "read"},
    )
    assert myself.status == 400
    assert manage.grants_of(engine_of(client), work) == []


def test_a_non_owner_can_neither_open_nor_post_the_sharing_page(
    client: WSGIClient, work: str
) -> None:
    engine = engine_of(client)
    manage.share(engine, work, "bob", "write")  # even a writer does not manage the grants
    bob = session_of(client, "bob")
    assert get(client, "/.web/calendar/sharing?cal=alice/work", bob).status == 404
    assert get(client, "/.web/calendar/sharing?cal=bob/alice~work", bob).status == 404
    assert get(client, "/.web/calendar/sharing?cal=../etc", bob).status == 404
    forged = post(
        client, "/.web/calendar/sharing", bob, {"cal": work, "grantee": "bob", "level": "write"}
    )
    assert forged.status == 404
    revoke = post(
        client, "/.web/calendar/sharing", bob, {"cal": work, "grantee": "bob", "action": "revoke"}
    )
    assert revoke.status == 404
    assert [(g.grantee, g.level) for g in manage.grants_of(engine, work)] == [("bob", "write")]


def test_other_calendars_of_a_group_member_are_added_and_removed(
    client: WSGIClient, work: str
) -> None:
    engine = engine_of(client)
    bob = session_of(client, "bob")
    stranger = post(client, "/.web/calendars/other", bob, {"calendar": work, "action": "add"})
    assert stranger.status == 404 and 'value="alice/work"' in stranger.text
    manage.create_group(engine, "team", "alice")
    manage.add_member(engine, "team", "bob")
    added = post(client, "/.web/calendars/other", bob, {"calendar": work, "action": "add"})
    assert done_of(added) == "/.web/calendars?done=added"
    status, text = bob_sees(client)
    assert status == 200 and "SUMMARY:Busy" in text
    page = get(client, "/.web/calendars", bob)
    assert "added by you" in page.text
    removed = post(client, "/.web/calendars/other", bob, {"calendar": work, "action": "remove"})
    assert done_of(removed) == "/.web/calendars?done=removed"
    assert bob_sees(client)[0] == 404


# --- groups ----------------------------------------------------------------------------


def test_groups_invite_accept_make_co_admin_and_leave(client: WSGIClient) -> None:
    engine = engine_of(client)
    sessions.set_admin(engine, "alice", True)
    alice, bob = session_of(client), session_of(client, "bob")
    assert post(client, "/.web/groups/create", bob, {"name": "bobs"}).status == 403
    assert "Create a group" not in get(client, "/.web/groups", bob).text
    made = post(client, "/.web/groups/create", alice, {"name": "team"})
    assert done_of(made) == "/.web/group?done=group-created&name=team"
    taken = post(client, "/.web/groups/create", alice, {"name": "team"})
    assert taken.status == 409 and "exists already" in taken.text
    invited = post(client, "/.web/group/members", alice, {"group": "team", "user": "bob"})
    assert done_of(invited) == "/.web/group?done=invited&name=team"
    assert [m.name for m in manage.get_group(engine, "team").members] == ["alice"]
    assert get(client, "/.web/group?name=team", bob).status == 404  # not in it yet
    page = get(client, "/.web/groups", bob)
    assert "Invitations" in page.text and "@team" in page.text
    accepted = post(client, "/.web/groups/answer", bob, {"group": "team", "action": "accept"})
    assert done_of(accepted) == "/.web/groups?done=accepted"
    assert [m.name for m in manage.get_group(engine, "team").members] == ["alice", "bob"]
    member_view = get(client, "/.web/group?name=team", bob)
    assert member_view.status == 200 and "Invite someone" not in member_view.text
    assert (
        post(
            client,
            "/.web/group/members",
            bob,
            {"group": "team", "user": "alice", "action": "remove"},
        ).status
        == 403
    )
    co = post(
        client,
        "/.web/group/members",
        alice,
        {"group": "team", "user": "bob", "action": "role", "admin": "yes"},
    )
    assert done_of(co) == "/.web/group?done=role&name=team"
    assert {m.name: m.admin for m in manage.get_group(engine, "team").members}["bob"]
    assert "Invite someone" in get(client, "/.web/group?name=team", bob).text
    left = post(client, "/.web/groups/answer", bob, {"group": "team", "action": "leave"})
    assert done_of(left) == "/.web/groups?done=left"
    assert [m.name for m in manage.get_group(engine, "team").members] == ["alice"]
    # an invitation declined is gone
    post(client, "/.web/group/members", alice, {"group": "team", "user": "bob"})
    declined = post(client, "/.web/groups/answer", bob, {"group": "team", "action": "decline"})
    assert done_of(declined) == "/.web/groups?done=declined"
    assert manage.get_group(engine, "team").invited == []
    nobody = post(client, "/.web/group/members", alice, {"group": "team", "user": "nobody"})
    assert nobody.status == 400 and "There is no user" in text_of(nobody)


def test_group_calendars_are_made_and_shared_by_the_groups_admins(client: WSGIClient) -> None:
    engine = engine_of(client)
    manage.create_group(engine, "team", "alice")
    manage.add_member(engine, "team", "bob")
    alice, bob = session_of(client), session_of(client, "bob")
    refused = post(client, "/.web/group/calendars", bob, {"group": "team", "name": "Bobs"})
    assert refused.status == 403
    made = post(
        client,
        "/.web/group/calendars",
        alice,
        {"group": "team", "name": "Rota", "color": "#224466"},
    )
    assert done_of(made) == "/.web/group?done=created&name=team"
    assert manage.get_group(engine, "team").calendars == ["@team/rota"]
    page = get(client, "/.web/group?name=team", alice)
    assert "Rota" in page.text and "/.web/calendar/sharing?cal=%40team%2Frota" in page.text
    users.add(engine, "carol", PASSWORD)
    shared = post(
        client,
        "/.web/calendar/sharing",
        alice,
        {"cal": "@team/rota", "grantee": "carol", "level": "read"},
    )
    assert shared.status == 303
    assert get(client, "/.web/calendar/sharing?cal=@team/rota", bob).status == 403
    assert get(client, "/.web/calendars/delete?cal=@team/rota", bob).status == 403
    confirm = get(client, "/.web/calendars/delete?cal=@team/rota", alice)
    assert confirm.status == 200 and "carol" in confirm.text
    gone = post(client, "/.web/calendars/delete", alice, {"cal": "@team/rota", "confirm": "yes"})
    assert done_of(gone) == "/.web/group?done=deleted&name=team"
    assert manage.get_group(engine, "team").calendars == []


# --- feeds -----------------------------------------------------------------------------


def urls_on(page: Response) -> dict[str, str]:
    return {
        key: html.unescape(url)
        for key, url in re.findall(
            r'<input id="[up]-\d+-(\w+)" value="([^"]+)" readonly>', page.text
        )
    }


def test_publish_and_the_public_link_answers_reset_and_unpublish(
    client: WSGIClient, work: str
) -> None:
    today = datetime.now(UTC).strftime("%Y%m%d")
    answer = client.request(
        "PUT",
        "/alice/work/today.ics",
        event_ics("today", f"{today}T120000Z", f"{today}T130000Z", "Dentist today"),
        {"Content-Type": "text/calendar"},
    )
    assert answer.status == 201
    session = session_of(client)
    page = get(client, "/.web/feeds", session)
    assert "public_html" not in urls_on(page)
    assert (
        post(client, "/.web/feeds/publish", session, {"cal": work, "level": "busy"}).status == 303
    )
    links = urls_on(get(client, "/.web/feeds", session))
    assert links["caldav"] == "http://127.0.0.1:5232/alice/work/"
    public = urlsplit(links["public_html"]).path
    answer = client.request("GET", public, user=None)
    assert answer.status == 200 and "Busy" in answer.text and "Dentist" not in answer.text
    ics = client.request("GET", urlsplit(links["public_ics"]).path, user=None)
    assert ics.status == 200 and "BEGIN:VCALENDAR" in ics.text
    assert "&lt;iframe src=&#34;" in get(client, "/.web/feeds", session).text
    post(client, "/.web/feeds/publish", session, {"cal": work, "level": "details"})
    assert "Dentist" in client.request("GET", public, user=None).text
    reset = post(client, "/.web/feeds/publish", session, {"cal": work, "action": "reset"})
    assert done_of(reset) == "/.web/feeds?done=public-reset"
    assert client.request("GET", public, user=None).status == 404
    fresh = urlsplit(urls_on(get(client, "/.web/feeds", session))["public_html"]).path
    assert fresh != public and client.request("GET", fresh, user=None).status == 200
    off = post(client, "/.web/feeds/publish", session, {"cal": work, "level": "off"})
    assert done_of(off) == "/.web/feeds?done=unpublished"
    assert client.request("GET", fresh, user=None).status == 404
    bob = session_of(client, "bob")
    manage.share(engine_of(client), work, "bob", "write")
    assert post(client, "/.web/feeds/publish", bob, {"cal": work, "level": "details"}).status == 403


def test_reset_all_feed_links_after_a_confirmation_ends_the_old_secret_urls(
    client: WSGIClient, work: str
) -> None:
    session = session_of(client)
    links = urls_on(get(client, "/.web/feeds", session))
    assert set(links) >= {"ics", "rss_today", "rss_week", "rss_month", "rss_30days", "secret_ics"}
    secret = urlsplit(links["secret_ics"]).path
    first = client.request("GET", secret, user=None)
    assert first.status == 200 and "SUMMARY:Dentist" in first.text
    rss = client.request("GET", urlsplit(links["secret_rss_week"]).path, user=None)
    assert rss.status == 200
    confirm = get(client, "/.web/feeds/reset", session)
    assert "stops working" in confirm.text and "feed readers" in confirm.text
    unconfirmed = post(client, "/.web/feeds/reset", session, {})
    assert unconfirmed.status == 400
    assert client.request("GET", secret, user=None).status == 200
    reset = post(client, "/.web/feeds/reset", session, {"confirm": "yes"})
    assert done_of(reset) == "/.web/feeds?done=feeds-reset"
    assert client.request("GET", secret, user=None).status == 404
    new = urlsplit(urls_on(get(client, "/.web/feeds", session))["secret_ics"]).path
    assert new != secret and client.request("GET", new, user=None).status == 200


# --- settings --------------------------------------------------------------------------


def test_settings_are_saved_and_bad_values_keep_the_input(client: WSGIClient) -> None:
    engine = engine_of(client)
    session = session_of(client)
    fields = {
        "timezone": "Asia/Tokyo",
        "default_duration": "45",
        "week_start": "6",
        "email_notifications": "on",
    }
    saved = post(client, "/.web/settings", session, fields)
    assert done_of(saved) == "/.web/settings?done=settings"
    chosen = settings.get(engine, client.configuration, "alice")
    assert (chosen.timezone, chosen.default_duration, chosen.week_start) == ("Asia/Tokyo", 45, 6)
    assert chosen.email_notifications
    page = get(client, "/.web/settings?done=settings", session)
    assert '<option value="Asia/Tokyo" selected>' in page.text
    assert "Your settings were saved." in page.text
    zone = post(client, "/.web/settings", session, {**fields, "timezone": "Mars/Olympus"})
    assert zone.status == 400
    assert "Unknown time zone 'Mars/Olympus'" in text_of(zone)
    assert '<option value="Mars/Olympus" selected>' in zone.text
    assert 'aria-describedby="timezone-hint timezone-error"' in zone.text
    negative = post(client, "/.web/settings", session, {**fields, "default_duration": "-5"})
    assert negative.status == 400
    assert "Invalid duration '-5'" in text_of(negative) and 'value="-5"' in negative.text
    too_long = post(client, "/.web/settings", session, {**fields, "default_duration": "20000"})
    assert too_long.status == 400 and "1 minute to 7 days" in too_long.text
    assert settings.get(engine, client.configuration, "alice").default_duration == 45
    off = post(client, "/.web/settings", session, {**fields, "email_notifications": ""})
    assert off.status == 303
    assert not settings.get(engine, client.configuration, "alice").email_notifications


def meeting_mail_to(client: WSGIClient, address: str, uid: str) -> int:
    text = event_ics(
        uid,
        "20270115T100000Z",
        "20270115T110000Z",
        summary="Planning",
        extra=(
            "ORGANIZER:mailto:alice@example.org\r\n"
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"
            "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org\r\n"
        ),
    )
    answer = client.request(
        "PUT", f"/alice/work/{uid}.ics", text, {"Content-Type": "text/calendar"}, user="alice"
    )
    assert answer.status == 201, answer.text
    with engine_of(client).connect() as conn:
        rows = conn.execute(select(mail_outbox.c.recipients, mail_outbox.c.message)).all()
    return sum(1 for row in rows if address in row.recipients and uid in row.message)


def test_the_email_switch_keeps_meeting_mail_away(client: WSGIClient, work: str) -> None:
    assert meeting_mail_to(client, "bob@example.org", "first-meeting") == 1
    bob = session_of(client, "bob")
    answer = post(
        client, "/.web/settings", bob, {"timezone": "", "default_duration": "", "week_start": "0"}
    )
    assert answer.status == 303
    assert meeting_mail_to(client, "bob@example.org", "second-meeting") == 0
    pending = {entry.uid for entry in invitations.pending(engine_of(client), "bob")}
    assert {"first-meeting", "second-meeting"} <= pending  # the calendar still has it


def test_a_password_change_needs_the_current_one_and_ends_the_other_sessions(
    client: WSGIClient,
) -> None:
    engine = engine_of(client)
    here, elsewhere = session_of(client), session_of(client)
    new = "a much longer secret"
    wrong = post(
        client,
        "/.web/settings/password",
        here,
        {"current_password": "guess", "new_password": new, "repeat_password": new},
    )
    assert wrong.status == 403 and "That is not your current password." in wrong.text
    short = post(
        client,
        "/.web/settings/password",
        here,
        {"current_password": PASSWORD, "new_password": "short", "repeat_password": "short"},
    )
    assert short.status == 400 and "at least 8 characters" in short.text
    differ = post(
        client,
        "/.web/settings/password",
        here,
        {"current_password": PASSWORD, "new_password": new, "repeat_password": new + "x"},
    )
    assert differ.status == 400 and "The two new passwords differ." in differ.text
    assert sign_in(client, "alice", PASSWORD).status == 303  # nothing changed yet
    changed = post(
        client,
        "/.web/settings/password",
        here,
        {"current_password": PASSWORD, "new_password": new, "repeat_password": new},
    )
    assert done_of(changed) == "/.web/settings?done=password"
    cookie = changed.headers["set-cookie"]
    assert cookie.startswith("calserver_session=") and "HttpOnly" in cookie
    renewed = cookie.split("=", 1)[1].split(";", 1)[0]
    assert get(client, "/.web/settings", renewed).status == 200
    for old in (here, elsewhere):
        assert get(client, "/.web/settings", old).status == 303
    assert sessions.find(engine, renewed) is not None
    assert sign_in(client, "alice", PASSWORD).status == 403
    assert sign_in(client, "alice", new).status == 303
    assert client.request("PROPFIND", "/alice/", headers={"Depth": "0"}, password=new).status == 207


# --- administration -------------------------------------------------------------------


def test_administration_is_for_server_administrators_only(client: WSGIClient) -> None:
    bob = session_of(client, "bob")
    assert get(client, "/.web/admin", bob).status == 403
    assert "Administration" not in get(client, "/.web/settings", bob).text
    for path, fields in (
        ("/.web/admin/users/add", {"name": "mallory", "password": "x" * 9}),
        ("/.web/admin/users/state", {"name": "alice", "action": "disable"}),
        ("/.web/admin/users/delete", {"name": "alice", "confirm": "yes"}),
        ("/.web/admin/groups/create", {"name": "bobs"}),
    ):
        assert post(client, path, bob, fields).status == 403, path
    assert get(client, "/.web/admin/users/delete?name=alice", bob).status == 403
    engine = engine_of(client)
    assert users.get(engine, "mallory") is None and not users.get(engine, "alice").disabled


def test_an_administrator_adds_disables_enables_and_deletes_users_and_groups(
    client: WSGIClient,
) -> None:
    engine = engine_of(client)
    sessions.set_admin(engine, "alice", True)
    admin = session_of(client)
    page = get(client, "/.web/admin", admin)
    assert page.status == 200 and "bob@example.org" in page.text
    bad = post(
        client,
        "/.web/admin/users/add",
        admin,
        {"name": ".hidden", "email": "x", "password": "short"},
    )
    assert bad.status == 400 and "Invalid user name" in text_of(bad) and "at least 8" in bad.text
    assert 'value=".hidden"' in bad.text
    taken = post(
        client,
        "/.web/admin/users/add",
        admin,
        {"name": "carol", "email": "bob@example.org", "password": "carols secret"},
    )
    assert taken.status == 409 and "belongs to another user" in taken.text
    added = post(
        client,
        "/.web/admin/users/add",
        admin,
        {"name": "carol", "email": "carol@example.org", "password": "carols secret"},
    )
    assert done_of(added) == "/.web/admin?done=user-added"
    signed = sign_in(client, "carol", "carols secret")
    assert signed.status == 303
    carol_session = cookie_value(signed.headers["set-cookie"])
    disabled = post(
        client, "/.web/admin/users/state", admin, {"name": "carol", "action": "disable"}
    )
    assert done_of(disabled) == "/.web/admin?done=user-disabled"
    assert get(client, "/.web/calendars", carol_session).status == 303  # signed out
    assert sign_in(client, "carol", "carols secret").status == 403
    post(client, "/.web/admin/users/state", admin, {"name": "carol", "action": "enable"})
    assert sign_in(client, "carol", "carols secret").status == 303
    myself = post(client, "/.web/admin/users/state", admin, {"name": "alice", "action": "disable"})
    assert myself.status == 409 and not users.get(engine, "alice").disabled
    calendars.create(storage_of(client), "carol/home")
    confirm = get(client, "/.web/admin/users/delete?name=carol", admin)
    assert confirm.status == 200 and "cannot be undone" in confirm.text
    assert post(client, "/.web/admin/users/delete", admin, {"name": "carol"}).status == 400
    assert users.get(engine, "carol") is not None
    deleted = post(client, "/.web/admin/users/delete", admin, {"name": "carol", "confirm": "yes"})
    assert done_of(deleted) == "/.web/admin?done=user-deleted"
    assert users.get(engine, "carol") is None
    assert storage_of(client).load_collection("carol/home") is None
    group = post(client, "/.web/admin/groups/create", admin, {"name": "@board", "admin": "bob"})
    assert done_of(group) == "/.web/admin?done=group-created"
    assert [(m.name, m.admin) for m in manage.get_group(engine, "board").members] == [("bob", True)]
    nobody = post(client, "/.web/admin/groups/create", admin, {"name": "other", "admin": "nobody"})
    assert nobody.status == 404 and "No user 'nobody'." in text_of(nobody)
    gone = post(client, "/.web/admin/groups/delete", admin, {"name": "board"})
    assert done_of(gone) == "/.web/admin?done=group-deleted"
    assert [g.name for g in manage.list_groups(engine)] == []


def test_calserver_user_admin_names_and_unnames_a_server_administrator(
    client: WSGIClient, tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.setenv("CALSERVER_CONFIG", os.devnull)
    url = client.configuration.get("storage", "database_url")
    base = ["--storage-database-url", url, "--storage-data-folder", str(tmp_path)]
    session = session_of(client, "bob")
    assert get(client, "/.web/admin", session).status == 403
    assert cli.main([*base, "user", "admin", "bob"]) == cli.EXIT_OK
    assert "bob is a server administrator" in capsys.readouterr().out
    assert get(client, "/.web/admin", session).status == 200  # at once, same session
    assert cli.main([*base, "user", "admin", "bob", "--off"]) == cli.EXIT_OK
    assert "bob is no longer a server administrator" in capsys.readouterr().out
    assert get(client, "/.web/admin", session).status == 403
    assert cli.main([*base, "user", "admin", "nobody"]) == cli.EXIT_ERROR
