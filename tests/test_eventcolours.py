"""Per-user event colours (issue 14 section 4): a colour on an event is its setter's
only, kept beside the event (never in it), for any calendar the user sees."""

from __future__ import annotations

from typing import Any

import pytest

from calserver import calendars, eventcolours
from calserver.accounts import users
from calserver.app import make_app
from calserver.db import migrations
from calserver.errors import InvalidInput, NotFound
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import PASSWORD, WSGIClient, event_ics

ICS = {"Content-Type": "text/calendar; charset=utf-8"}


@pytest.fixture
def shared(configuration: Any, engine: Any) -> WSGIClient:
    """alice/work with a meeting-like event, read-shared with bob; carol sees nothing."""
    for name in ("alice", "bob", "carol"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    client = WSGIClient(make_app(configuration), configuration, default_user="alice")
    calendars.create(Storage(configuration), "alice/work")
    body = event_ics("meet", summary="Planning")
    assert client.request("PUT", "/alice/work/meet.ics", body, ICS).status == 201
    manage.share(engine, "alice/work", "bob", "read", actor="alice")
    return client


def test_a_colour_is_seen_only_by_the_user_who_set_it(shared: WSGIClient, engine: Any) -> None:
    eventcolours.set_colour(engine, "alice", "alice/work", "meet", "#AA3300")
    eventcolours.set_colour(engine, "bob", "bob/alice~work", "meet", "#0055ff")
    assert eventcolours.colour_of(engine, "alice", "alice/work", "meet") == "#aa3300"
    # bob's alias and the calendar's own path are the same calendar
    assert eventcolours.colour_of(engine, "bob", "alice/work", "meet") == "#0055ff"
    alice = eventcolours.colours_for(engine, "alice")
    assert list(alice.values()) == ["#aa3300"]
    assert eventcolours.palette(engine, "bob") == ["#0055ff"]
    # the event itself is unchanged: no COLOR travels to anyone
    text = shared.request("GET", "/alice/work/meet.ics").text
    assert "COLOR" not in text and "aa3300" not in text.lower()


def test_taking_a_colour_away_and_changing_it(shared: WSGIClient, engine: Any) -> None:
    eventcolours.set_colour(engine, "alice", "alice/work", "meet", "#112233")
    eventcolours.set_colour(engine, "alice", "alice/work", "meet", "#445566")
    assert eventcolours.colour_of(engine, "alice", "alice/work", "meet") == "#445566"
    eventcolours.set_colour(engine, "alice", "alice/work", "meet", "")
    assert eventcolours.colour_of(engine, "alice", "alice/work", "meet") == ""
    assert eventcolours.colours_for(engine, "alice") == {}


def test_a_calendar_the_user_cannot_see_is_not_found(shared: WSGIClient, engine: Any) -> None:
    with pytest.raises(NotFound):
        eventcolours.set_colour(engine, "carol", "alice/work", "meet", "#112233")
    with pytest.raises(NotFound):
        eventcolours.set_colour(engine, "alice", "alice/nothing", "meet", "#112233")
    with pytest.raises(InvalidInput):
        eventcolours.set_colour(engine, "alice", "alice/work", "meet", "red")
    with pytest.raises(InvalidInput):
        eventcolours.set_colour(engine, "alice", "alice/work", "", "#112233")
    assert eventcolours.colours_for(engine, "carol") == {}


def test_colour_class_names() -> None:
    assert eventcolours.colour_class("#1A2B3C") == "ec-1a2b3c"
    assert eventcolours.parse_colour(" ") == ""


def test_the_migration_can_run_again(engine: Any) -> None:
    with engine.begin() as conn:
        migrations._v15_event_colours(conn)
        migrations._v15_event_colours(conn)
