"""Tags (issue 17 section 2): a person's own labels with colours; written into CATEGORIES
on their own calendars (not on meetings); kept aside on others' calendars and never
shown to anyone else on any route (CalDAV, feeds, API, web, search); filter search by
tag; bad input (409 for a name that exists). Search, tags and the web pages over the
API and the web app, in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest

from calserver import calendars, search, tags
from calserver.accounts import users
from calserver.app import make_app
from calserver.db import migrations
from calserver.errors import Conflict, InvalidInput, NotFound
from calserver.feeds.links import calendar_urls
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import PASSWORD, WSGIClient, event_ics
from tests.test_web_core import FORM, csrf_of, get, session_of

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
JSON = {"Content-Type": "application/json"}
SECRET_TAG = "Zanzibarproject"


@pytest.fixture
def world(configuration: Any, engine: Any) -> WSGIClient:
    """alice/work (one event "plan", one meeting "meet") read-shared with bob and carol."""
    for name in ("alice", "bob", "carol"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    client = WSGIClient(make_app(configuration), configuration, default_user="alice")
    calendars.create(Storage(configuration), "alice/work")
    body = event_ics("plan", summary="Planning day")
    assert client.request("PUT", "/alice/work/plan.ics", body, ICS).status == 201
    manage.share(engine, "alice/work", "bob", "read", actor="alice")
    manage.share(engine, "alice/work", "carol", "read", actor="alice")
    return client


def test_a_tag_on_someone_elses_event_is_its_persons_alone(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    storage = Storage(configuration)
    tags.create_tag(engine, "bob", SECRET_TAG, "#AA0000")
    tags.tag_event(storage, "bob", "bob/alice~work", "plan.ics", SECRET_TAG)
    # bob finds it by his tag, and sees it on the result
    (hit,) = search.search(engine, "bob", SECRET_TAG.lower())
    assert hit.uid == "plan" and hit.tags == [{"name": SECRET_TAG, "colour": "#aa0000"}]
    assert {h.uid for h in search.search(engine, "bob", "", tag=SECRET_TAG)} == {"plan"}
    # nobody else sees it, on any route
    for viewer in ("alice", "carol"):
        assert search.search(engine, viewer, SECRET_TAG) == []
        assert tags.list_tags(engine, viewer) == []
    lowered = SECRET_TAG.lower()
    for user, path in (
        ("alice", "/alice/work/plan.ics"),
        ("carol", "/carol/alice~work/plan.ics"),
        ("bob", "/bob/alice~work/plan.ics"),  # the event itself carries no tag at all
        ("alice", "/alice/work/"),
    ):
        answer = world.request("GET", path, user=user)
        assert answer.status == 200 and lowered not in answer.text.lower()
    report = world.request("PROPFIND", "/carol/alice~work/", headers={"Depth": "1"}, user="carol")
    assert lowered not in report.text.lower()
    for user, seen_as in (("alice", "alice/work"), ("carol", "carol/alice~work")):
        for url in calendar_urls(storage, configuration, seen_as, "http://x").values():
            if "/.secret/" in url or "/.feeds/" in url:
                path = url.split("http://x", 1)[1]
                answer = world.request("GET", path, user=user)
                assert lowered not in answer.text.lower(), url
    for user in ("alice", "carol"):
        api = world.request("GET", f"/.api/v1/search?q={lowered}", user=user)
        assert api.status == 200 and json.loads(api.text)["results"] == []
        assert json.loads(world.request("GET", "/.api/v1/me/tags", user=user).text) == {"tags": []}
        session = session_of(world, user)
        for page in ("/.web/calendar?date=2026-11-23", "/.web/tags"):
            shown = get(world, page, session)
            assert shown.status == 200 and lowered not in shown.text.lower(), page
        assert "0 results" in get(world, f"/.web/search?q={lowered}", session).text
        cal = "alice/work" if user == "alice" else "carol/alice~work"
        shown = get(world, f"/.web/event?cal={cal}&href=plan.ics", session)
        assert shown.status == 200 and lowered not in shown.text.lower()
    # bob's own event page shows it
    session = session_of(world, "bob")
    shown = get(world, "/.web/event?cal=bob/alice~work&href=plan.ics", session)
    assert SECRET_TAG in shown.text and "tagc-aa0000" in shown.text


def test_a_tag_on_an_own_event_is_written_to_categories(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    storage = Storage(configuration)
    tags.create_tag(engine, "alice", "Client A")
    tags.tag_event(storage, "alice", "alice/work", "plan.ics", "client a")
    text = world.request("GET", "/alice/work/plan.ics").text
    assert "CATEGORIES:Client A" in text
    assert {h.uid for h in search.search(engine, "alice", '"client a"')} == {"plan"}
    tags.untag_event(storage, "alice", "alice/work", "plan.ics", "Client A")
    assert "CATEGORIES" not in world.request("GET", "/alice/work/plan.ics").text
    tags.tag_event(storage, "alice", "alice/work", "plan.ics", "Client A")
    assert tags.list_tags(engine, "alice")[0].count == 1
    assert tags.delete_tag(storage, "alice", "Client A") == 1
    assert "CATEGORIES" not in world.request("GET", "/alice/work/plan.ics").text
    assert tags.list_tags(engine, "alice") == []


def test_a_meeting_keeps_the_tag_beside_it(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    meeting = event_ics(
        "meet",
        summary="Budget",
        extra="ORGANIZER:mailto:alice@example.org\r\nATTENDEE:mailto:bob@example.org\r\n",
    )
    assert world.request("PUT", "/alice/work/meet.ics", meeting, ICS).status == 201
    tags.create_tag(engine, "alice", "Private label")
    tags.tag_event(Storage(configuration), "alice", "alice/work", "meet.ics", "Private label")
    assert "Private label" not in world.request("GET", "/alice/work/meet.ics").text
    assert {h.uid for h in search.search(engine, "alice", "label")} == {"meet"}


def test_tag_rules_and_bad_input(world: WSGIClient, engine: Any, configuration: Any) -> None:
    storage = Storage(configuration)
    tags.create_tag(engine, "alice", "Work", "#112233")
    with pytest.raises(Conflict):
        tags.create_tag(engine, "alice", "work")
    tags.create_tag(engine, "bob", "Work")  # one person's names are theirs alone
    with pytest.raises(InvalidInput):
        tags.create_tag(engine, "alice", "  ")
    with pytest.raises(InvalidInput):
        tags.create_tag(engine, "alice", "a,b")
    with pytest.raises(InvalidInput):
        tags.create_tag(engine, "alice", "Colourful", "red")
    assert tags.set_tag_colour(engine, "alice", "WORK", "#445566").colour == "#445566"
    with pytest.raises(NotFound):
        tags.set_tag_colour(engine, "alice", "nope", "#445566")
    with pytest.raises(NotFound):  # carol cannot see bob's calendar
        calendars.create(storage, "bob/own")
        tags.create_tag(engine, "carol", "x")
        tags.tag_event(storage, "carol", "bob/own", "plan.ics", "x")
    # over the API: 201, 409, 400 (no rename), 204
    made = world.request(
        "POST", "/.api/v1/me/tags", json.dumps({"name": "Api", "colour": "#00ff00"}), JSON
    )
    assert made.status == 201 and json.loads(made.text)["colour"] == "#00ff00"
    again = world.request("POST", "/.api/v1/me/tags", json.dumps({"name": "API"}), JSON)
    assert again.status == 409
    renamed = world.request(
        "PATCH", "/.api/v1/me/tags/Api", json.dumps({"colour": "#000000", "name": "B"}), JSON
    )
    assert renamed.status == 400
    tagged = world.request(
        "POST",
        "/.api/v1/me/tags/Api/events",
        json.dumps({"calendar": "alice/work", "href": "plan.ics"}),
        JSON,
    )
    assert tagged.status == 204
    found = json.loads(world.request("GET", "/.api/v1/search?q=&tag=Api").text)["results"]
    assert [r["uid"] for r in found] == ["plan"]
    gone = world.request("DELETE", "/.api/v1/me/tags/Api/events?calendar=alice/work&href=plan.ics")
    assert gone.status == 204
    assert world.request("DELETE", "/.api/v1/me/tags/Api").status == 204
    assert world.request("DELETE", "/.api/v1/me/tags/Api").status == 404


def test_search_api_answers_and_refuses(world: WSGIClient) -> None:
    answer = world.request("GET", "/.api/v1/search?q=planning&scope=private")
    assert answer.status == 200
    (result,) = json.loads(answer.text)["results"]
    assert result["calendar"] == "alice/work" and result["url"].endswith("/alice/work/plan.ics")
    assert "/.web/event?" in result["web_url"]
    for query, why in (("q=", "empty"), ("q=pla*", "4"), ("q=%22plan", "quote"), ("q=-", "-")):
        refused = world.request("GET", f"/.api/v1/search?{query}")
        assert refused.status == 400 and why in json.loads(refused.text)["error"], query
    assert world.request("GET", "/.api/v1/search?q=x&scope=bad").status == 400
    assert world.request("GET", "/.api/v1/search?q=x&from=tomorrow").status == 400
    assert world.request("GET", "/.api/v1/search?q=x&from=2026-02-01&to=2026-01-01").status == 400
    assert world.request("GET", "/.api/v1/search?q=x&tag=none").status == 404


def test_web_search_keeps_the_last_search_and_tags_page(world: WSGIClient, engine: Any) -> None:
    session = session_of(world, "alice")
    shown = get(world, "/.web/search?q=planning", session)
    assert shown.status == 200 and "Planning day" in shown.text
    kept = shown.headers["set-cookie"]
    assert kept.startswith("calserver_last_search=planning")
    later = get(
        world,
        "/.web/calendars",
        "",
        Cookie=f"calserver_session={session}; calserver_last_search=planning",
    )
    assert re.search(r'id="top-q"[^>]*value="planning"', later.text)
    bad = get(world, "/.web/search?q=pla*", session)
    assert bad.status == 400 and "4 letters" in bad.text
    token = csrf_of(world, session)
    cookie = {"Cookie": f"calserver_session={session}", "Content-Type": FORM}
    made = world.request(
        "POST",
        "/.web/tags/create",
        urlencode({"csrf": token, "name": "Home", "colour": "#123456"}),
        cookie,
        user=None,
    )
    assert made.status == 303
    twice = world.request(
        "POST",
        "/.web/tags/create",
        urlencode({"csrf": token, "name": "home", "colour": "#123456"}),
        cookie,
        user=None,
    )
    assert twice.status == 409 and "already" in twice.text
    page = get(world, "/.web/tags", session)
    assert "Home" in page.text and "tagc-123456" in page.text
    css = get(world, "/.web/tags.css", session)
    assert ".tagc-123456{background:#123456" in css.text
    added = world.request(
        "POST",
        "/.web/event/tag",
        urlencode({"csrf": token, "cal": "alice/work", "href": "plan.ics", "tag": "Home"}),
        cookie,
        user=None,
    )
    assert added.status == 303
    event = get(world, "/.web/event?cal=alice/work&href=plan.ics", session)
    assert "tagc-123456" in event.text
    assert "CATEGORIES:Home" in world.request("GET", "/alice/work/plan.ics").text


def test_the_migration_can_run_again(engine: Any) -> None:
    with engine.begin() as conn:
        migrations._v22_search_and_tags(conn)


def test_web_delete_between_previews_and_asks_for_confirmation(world: WSGIClient) -> None:
    session = session_of(world, "alice")
    assert "Delete between dates" in get(world, "/.web/calendars", session).text
    base = "/.web/calendars/delete-between?cal=alice/work"
    preview = get(world, base + "&from=2026-11-01&to=2026-12-01", session)
    assert preview.status == 200 and "1 single event" in preview.text
    assert "cannot be undone" in preview.text
    assert world.request("GET", "/alice/work/plan.ics").status == 200  # a preview keeps it
    bad = get(world, base + "&from=2026-12-01&to=2026-11-01", session)
    assert bad.status == 400 and "before" in bad.text
    token = csrf_of(world, session)
    headers = {"Cookie": f"calserver_session={session}", "Content-Type": FORM}
    form = {"csrf": token, "cal": "alice/work", "from": "2026-11-01", "to": "2026-12-01"}
    unconfirmed = world.request(
        "POST", "/.web/calendars/delete-between", urlencode(form), headers, user=None
    )
    assert unconfirmed.status == 400 and "cannot be undone" in unconfirmed.text
    assert world.request("GET", "/alice/work/plan.ics").status == 200
    done = world.request(
        "POST",
        "/.web/calendars/delete-between",
        urlencode({**form, "confirm": "yes"}),
        headers,
        user=None,
    )
    assert done.status == 303
    assert world.request("GET", "/alice/work/plan.ics").status == 404
    # a reader may not
    reader = session_of(world, "bob")
    refused = get(world, "/.web/calendars/delete-between?cal=alice/work", reader)
    assert refused.status == 403


def test_the_calendar_and_print_views_filter_by_tag(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    other = event_ics(
        "other", summary="Untagged lunch", start="20261123T120000Z", end="20261123T130000Z"
    )
    assert world.request("PUT", "/alice/work/other.ics", other, ICS).status == 201
    tags.create_tag(engine, "alice", "Focus")
    tags.tag_event(Storage(configuration), "alice", "alice/work", "plan.ics", "Focus")
    session = session_of(world, "alice")
    for page in ("/.web/calendar?date=2026-11-23", "/.web/print?date=2026-11-23"):
        everything = get(world, page, session).text
        assert "Planning day" in everything and "Untagged lunch" in everything
        only = get(world, page + "&tag=focus", session)
        assert "Planning day" in only.text and "Untagged lunch" not in only.text
        assert get(world, page + "&tag=nope", session).status == 404
