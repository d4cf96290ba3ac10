"""Meetings in the web app (issue 14 section 5) over the in-process WSGI client: invite
users, groups and outside addresses from the event form; the invitee's pending list and
answers (accept with a reason, maybe, decline, decline but keep); the organizer's view of
the answers with pictograms; reminder; removing a participant; cancelling."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import icalendar
import pytest

from calserver import calendars, eventcolours
from calserver.mail import outbox
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import WSGIClient
from tests.test_web_core import get, session_of
from tests.test_web_events import event_form, events_of, post, stored

pytestmark = pytest.mark.storage

#: Invitations wait for an answer only while the meeting has not ended.
FUTURE = "2099-03-02"


@pytest.fixture
def web(client: WSGIClient) -> WSGIClient:
    storage = Storage(client.configuration)
    calendars.create(storage, "alice/work", "Work")
    calendars.create(storage, "bob/personal", "Personal")
    return client


def meeting(client: WSGIClient, session: str, participants: str, **changes: Any) -> tuple[str, str]:
    changes.setdefault("start_date", FUTURE)
    changes.setdefault("end_date", changes["start_date"])
    answer = post(
        client,
        session,
        "/.web/event/new",
        {**event_form(title="Design review", participants=participants, **changes), "email": "1"},
    )
    assert answer.status == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return query["cal"][0], query["href"][0]


def pending_links(client: WSGIClient, session: str) -> list[tuple[str, str]]:
    page = get(client, "/.web/invitations", session)
    assert page.status == 200
    found = re.findall(r'/\.web/event\?cal=([^&"]+)&amp;href=([^&"]+)"', page.text)
    return [(unquote(cal), unquote(href)) for cal, href in found]


def answer(
    client: WSGIClient, session: str, cal: str, href: str, choice: str, comment: str = ""
) -> Any:
    return post(
        client,
        session,
        "/.web/invitations/answer",
        {"cal": cal, "href": href, "answer": choice, "comment": comment},
    )


def participant_line(page: str, name: str) -> str:
    found = re.search(
        rf'<li class="participant answer-[a-z-]+">(?:(?!</li>).)*{name}(?:(?!</li>).)*</li>',
        page,
        re.S,
    )
    assert found is not None, page
    return found.group(0)


def test_an_invited_user_answers_and_the_organizer_sees_it(web: WSGIClient) -> None:
    alice, bob = session_of(web), session_of(web, "bob")
    cal, href = meeting(web, alice, "bob")
    event = events_of(stored(web, cal, href))[0]
    assert str(event["ORGANIZER"]) == "mailto:alice@example.org"
    assert any(str(a) == "mailto:bob@example.org" for a in event["ATTENDEE"])
    page = get(web, f"/.web/event?cal={cal}&href={href}", alice)
    line = participant_line(page.text, "bob")
    assert 'class="pict pict-wait"' in line and "has not answered" in line
    assert "Not everyone has answered yet." in page.text
    links = pending_links(web, bob)
    assert len(links) == 1
    bob_cal, bob_href = links[0]
    invitations = get(web, "/.web/invitations", bob)
    assert "Design review" in invitations.text and "alice@example.org" in invitations.text
    done = answer(web, bob, bob_cal, bob_href, "accept", "See you there")
    assert done.status == 303, done.text
    assert pending_links(web, bob) == []
    page = get(web, f"/.web/event?cal={cal}&href={href}", alice)
    line = participant_line(page.text, "bob")
    assert 'class="pict pict-yes"' in line and "accepted" in line and "See you there" in line
    assert "Everyone accepted." in page.text
    mine = get(web, f"/.web/event?cal={bob_cal}&href={bob_href}", bob)
    assert "You answered: accepted." in mine.text and "/.web/event/edit?" not in mine.text


def test_decline_but_keep_and_decline_with_removal(web: WSGIClient) -> None:
    alice, bob = session_of(web), session_of(web, "bob")
    cal, href = meeting(web, alice, "bob")
    bob_cal, bob_href = pending_links(web, bob)[0]
    assert answer(web, bob, bob_cal, bob_href, "decline-keep", "Travelling").status == 303
    copy = events_of(stored_as(web, "bob", bob_cal, bob_href))[0]
    assert (
        copy["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
        if not isinstance(copy["ATTENDEE"], list)
        else any(a.params.get("PARTSTAT") == "DECLINED" for a in copy["ATTENDEE"])
    )
    page = get(web, f"/.web/event?cal={cal}&href={href}", alice)
    line = participant_line(page.text, "bob")
    assert "<del>bob</del>" in line and "pict-no" in line and "Travelling" in line
    assert "Someone declined." in page.text
    # a second meeting declined outright: the copy goes, the reason reaches the organizer
    cal2, href2 = meeting(web, alice, "bob", start_date="2099-03-03")
    bob_cal2, bob_href2 = pending_links(web, bob)[0]
    assert answer(web, bob, bob_cal2, bob_href2, "decline", "Ill").status == 303
    assert web.request("GET", f"/{bob_cal2}/{bob_href2}", user="bob").status == 404
    line = participant_line(get(web, f"/.web/event?cal={cal2}&href={href2}", alice).text, "bob")
    assert "<del>bob</del>" in line and "Ill" in line


def stored_as(client: WSGIClient, user: str, cal: str, href: str) -> icalendar.Calendar:
    found = client.request("GET", f"/{cal}/{href}", user=user)
    assert found.status == 200, found.text
    return icalendar.Calendar.from_ical(found.text)


def test_only_the_invitee_may_answer(web: WSGIClient) -> None:
    alice = session_of(web)
    cal, href = meeting(web, alice, "bob")
    refused = answer(web, alice, cal, href, "accept")
    assert refused.status == 400 and "You are not invited" in refused.text
    assert answer(web, session_of(web, "bob"), cal, href, "accept").status == 404


def test_a_reminder_goes_to_those_who_have_not_answered_once_a_day(web: WSGIClient) -> None:
    alice, bob = session_of(web), session_of(web, "bob")
    engine = Storage(web.configuration).engine
    cal, href = meeting(web, alice, "bob\ncarol@elsewhere.example")
    before = [m for m in outbox.unsent(engine) if "carol@elsewhere.example" in m.recipients]
    bob_cal, bob_href = pending_links(web, bob)[0]
    answer(web, bob, bob_cal, bob_href, "accept")
    reminded = post(web, alice, "/.web/event/remind", {"cal": cal, "href": href})
    assert reminded.status == 303, reminded.text
    assert "done=reminded" in reminded.headers["location"]
    after = [m for m in outbox.unsent(engine) if "carol@elsewhere.example" in m.recipients]
    assert len(after) == len(before) + 1
    assert "X-CALSERVER-REMINDED" in web.request("GET", f"/{cal}/{href}", user="alice").text
    again = post(web, alice, "/.web/event/remind", {"cal": cal, "href": href})
    assert again.status == 409 and "less than 24 hours ago" in again.text
    assert post(web, bob, "/.web/event/remind", {"cal": bob_cal, "href": bob_href}).status == 403


def test_the_organizer_removes_a_participant(web: WSGIClient) -> None:
    alice, bob = session_of(web), session_of(web, "bob")
    cal, href = meeting(web, alice, "bob\ncarol@elsewhere.example")
    assert len(pending_links(web, bob)) == 1
    removed = post(
        web,
        alice,
        "/.web/event/participant/remove",
        {"cal": cal, "href": href, "address": "mailto:bob@example.org"},
    )
    assert removed.status == 303, removed.text
    assert pending_links(web, bob) == []
    text = web.request("GET", f"/{cal}/{href}", user="alice").text
    assert "bob@example.org" not in text and "carol@elsewhere.example" in text
    missing = post(
        web,
        alice,
        "/.web/event/participant/remove",
        {"cal": cal, "href": href, "address": "mailto:x@y.example"},
    )
    assert missing.status == 400


def test_cancelling_the_meeting_takes_it_from_the_invitees(web: WSGIClient) -> None:
    alice, bob = session_of(web), session_of(web, "bob")
    cal, href = meeting(web, alice, "bob")
    bob_cal, bob_href = pending_links(web, bob)[0]
    page = get(web, f"/.web/event?cal={cal}&href={href}", alice)
    assert "Cancel the meeting" in page.text
    cancelled = post(
        web, alice, "/.web/event/delete", {"cal": cal, "href": href, "scope": "series"}
    )
    assert cancelled.status == 303, cancelled.text
    assert web.request("GET", f"/{cal}/{href}", user="alice").status == 404
    assert pending_links(web, bob) == []
    left = web.request("GET", f"/{bob_cal}/{bob_href}", user="bob")
    assert left.status == 404 or "STATUS:CANCELLED" in left.text


def test_groups_and_the_email_switch(web: WSGIClient) -> None:
    engine = Storage(web.configuration).engine
    manage.create_group(engine, "team", admin="alice")
    manage.add_member(engine, "team", "bob", actor="alice")
    manage.accept(engine, "team", "bob")
    alice, bob = session_of(web), session_of(web, "bob")
    answer_ = post(
        web,
        alice,
        "/.web/event/new",
        event_form(
            title="Team sync", participants="group:team", start_date=FUTURE, end_date=FUTURE
        ),
    )
    assert answer_.status == 303, answer_.text
    query = parse_qs(urlsplit(answer_.headers["location"]).query)
    text = web.request("GET", f"/{query['cal'][0]}/{query['href'][0]}", user="alice").text
    assert "/@team/" in text and "X-CALSERVER-EMAIL:OFF" in text
    assert len(pending_links(web, bob)) == 1
    page = get(web, f"/.web/event?cal={query['cal'][0]}&href={query['href'][0]}", alice)
    assert "E-mail invitations are off" in page.text
    form = get(web, f"/.web/event/edit?cal={query['cal'][0]}&href={query['href'][0]}", alice)
    assert "group:team" in form.text


def test_a_colour_on_a_meeting_is_only_the_setters(web: WSGIClient) -> None:
    engine = Storage(web.configuration).engine
    alice, bob = session_of(web), session_of(web, "bob")
    cal, href = meeting(web, alice, "bob", colour="#AA3300")
    text = web.request("GET", f"/{cal}/{href}", user="alice").text
    assert "COLOR" not in text and "aa3300" not in text.lower()
    uid = str(events_of(stored(web, cal, href))[0]["UID"])
    assert eventcolours.colour_of(engine, "alice", cal, uid) == "#aa3300"
    bob_cal, bob_href = pending_links(web, bob)[0]
    assert eventcolours.colour_of(engine, "bob", bob_cal, uid) == ""
    assert "COLOR" not in web.request("GET", f"/{bob_cal}/{bob_href}", user="bob").text
    form = get(web, f"/.web/event/edit?cal={cal}&href={href}", alice)
    assert 'value="#aa3300"' in form.text
