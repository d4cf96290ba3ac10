"""Meeting polls (issue 19) in process: the web app's wizard, the owner's actions and a
signed-in voter's answers over the WSGI client; the service's rules that the live test
does not reach (batched notices, owner refusals); the voter links, the VPOLL export and
option parsing as pure functions."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest
from sqlalchemy import select

from calserver import db
from calserver.db.models import mail_outbox, users
from calserver.errors import CalserverError
from calserver.polls import links, service, vpoll
from calserver.polls.model import Option, Poll, Voter
from calserver.storage import Storage
from tests.conftest import WSGIClient
from tests.test_web_core import get, session_of
from tests.test_web_events import post

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).timestamp()


def body(message: str) -> str:
    parsed = email.message_from_string(message, policy=email.policy.default)
    return str(parsed.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def wizard(client: WSGIClient, session: str, **changes: Any) -> Any:
    fields = {
        "title": "Retro",
        "duration": "30",
        "timezone": "UTC",
        "timed": ["2030-11-04T10:00", "2030-11-05T10:00", ""],
        "day": ["2030-11-08", ""],
        "typed": "Zoe Outside <zoe@outside.example>\nbob@example.org",
        "notify": "all",
        **changes,
    }
    return post(client, session, "/.web/poll/new", fields)


@pytest.mark.storage
def test_wizard_owner_page_and_signed_in_voter(client: WSGIClient) -> None:
    alice, bob = session_of(client), session_of(client, "bob")
    refused = wizard(client, alice, timed=["2030-11-04T10:00", "2030-11-04T10:00"])
    assert refused.status == 400 and "given twice" in refused.text
    assert 'value="Retro"' in refused.text  # the input is kept
    created = wizard(client, alice)
    assert created.status == 303, created.text
    poll_id = parse_qs(urlsplit(created.headers["location"]).query)["id"][0]
    owner_page = get(client, f"/.web/poll?id={poll_id}", alice)
    assert owner_page.status == 200 and "Choose the date" in owner_page.text
    assert owner_page.text.count("/.poll/") == 2
    # Bob votes signed in; his page shows no one else's answers or links
    bob_page = get(client, f"/.web/poll?id={poll_id}", bob)
    assert bob_page.status == 200 and "/.poll/" not in bob_page.text
    options = re.findall(r'name="o(\d+)" value="yes"', bob_page.text)
    assert len(options) == 3
    voted = post(client, bob, "/.web/poll/vote", {"id": poll_id, f"o{options[0]}": "maybe"})
    assert voted.status == 303 and "done=voted" in voted.headers["location"]
    bob_page = get(client, f"/.web/poll?id={poll_id}", bob)
    assert f'name="o{options[0]}" value="maybe" checked' in bob_page.text
    assert poll_id in get(client, "/.web/polls", bob).text
    # only the owner acts on the poll; the owner does not vote
    assert post(client, bob, "/.web/poll/close", {"id": poll_id}).status == 404
    assert (
        post(client, alice, "/.web/poll/vote", {"id": poll_id, f"o{options[0]}": "yes"}).status
        == 400
    )
    # reminders: everyone who has not answered, then 429 within a day
    assert post(client, alice, "/.web/poll/remind", {"id": poll_id, "voter": []}).status == 400
    zoe_id = re.search(r'name="voter" value="(\d+)" checked> Zoe', owner_page.text)
    assert zoe_id is not None
    reminded = post(client, alice, "/.web/poll/remind", {"id": poll_id, "voter": [zoe_id.group(1)]})
    assert reminded.status == 303, reminded.text
    again = post(client, alice, "/.web/poll/remind", {"id": poll_id, "voter": [zoe_id.group(1)]})
    assert again.status == 429 and "24 hours" in again.text
    # the VPOLL download
    exported = get(client, f"/.web/poll/export?id={poll_id}", alice)
    assert exported.status == 200 and "BEGIN:VPOLL" in exported.text
    assert get(client, f"/.web/poll/export?id={poll_id}", bob).status == 404
    # the all-day date chosen: the meeting is an all-day event in Alice's calendar
    day = re.search(r'name="option" value="(\d+)" required> Fri 08 Nov', owner_page.text)
    assert day is not None
    decided = post(client, alice, "/.web/poll/decide", {"id": poll_id, "option": day.group(1)})
    assert decided.status == 303, decided.text
    page = get(client, f"/.web/poll?id={poll_id}", alice)
    assert "Chosen date" in page.text and "Choose the date" not in page.text
    href = re.search(r'/\.web/event\?cal=([^&"]+)&amp;href=([^&"]+)"', page.text)
    assert href is not None
    text = client.request("GET", f"/alice/calendar/{href.group(2)}", user="alice").text
    event = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    assert event["DTSTART"].dt == dt.date(2030, 11, 8)
    assert post(client, alice, "/.web/poll/close", {"id": poll_id}).status == 409


@pytest.mark.storage
def test_notices_of_each_vote_are_batched_and_everyone_answered_is_told_once(
    client: WSGIClient,
) -> None:
    storage = Storage(client.configuration)
    poll = service.create(
        storage,
        "alice",
        title="Batch",
        duration=30,
        timezone="UTC",
        options=["2030-01-01T10:00"],
        voters=[
            service.VoterInput("zoe@outside.example"),
            service.VoterInput("yan@outside.example"),
        ],
        notify="each",
        now=NOW,
    )
    zoe, yan = poll.voters
    option = poll.options[0].id

    def notices() -> list[Any]:
        with storage.engine.connect() as conn:
            return list(
                conn.execute(
                    select(mail_outbox).where(mail_outbox.c.recipients == "alice@example.org")
                )
            )

    service.vote(storage, poll.id, zoe.id, {option: "yes"}, now=NOW + 1)
    service.vote(storage, poll.id, yan.id, {option: "no"}, now=NOW + 2)
    found = notices()
    assert len(found) == 1  # the second vote rewrote the waiting notice
    assert found[0].not_before == NOW + 1 + service.NOTICE_BATCH
    assert "2 of 2 voters answered" in body(found[0].message)
    # notify=all: one notice when the last voter answers, none for a change after
    service.update_poll(storage, "alice", poll.id, notify="all", now=NOW + 3)
    with db.write_transaction(storage.engine) as conn:
        conn.execute(mail_outbox.delete())
    service.vote(storage, poll.id, yan.id, {option: "maybe"}, now=NOW + 4)
    assert ["Everyone answered" in n.message for n in notices()] == [True]
    service.vote(storage, poll.id, zoe.id, {option: "maybe"}, now=NOW + 5)
    assert len(notices()) == 1


@pytest.mark.storage
def test_owner_rules(client: WSGIClient) -> None:
    storage = Storage(client.configuration)
    base = {"title": "T", "duration": 30, "timezone": "UTC", "options": ["2030-01-01"]}
    with pytest.raises(CalserverError, match="owner is not one of its voters"):
        service.create(storage, "alice", voters=[service.VoterInput("ALICE@example.org")], **base)
    with pytest.raises(CalserverError, match="group cannot own"):
        service.create(storage, "@team", voters=[service.VoterInput("z@x.example")], **base)
    with pytest.raises(CalserverError, match="not a member of a group"):
        service.create(storage, "alice", voters=[service.VoterInput(group="nope")], **base)
    poll = service.create(storage, "alice", voters=[service.VoterInput("BOB@Example.org")], **base)
    assert poll.voters[0].user == "bob"  # the address of an account, whatever its case
    owned, invited = service.polls_of(storage.engine, "bob")
    assert owned == [] and [p.id for p in invited] == [poll.id]
    with pytest.raises(CalserverError) as refused:
        service.remove_voter(storage, "alice", poll.id, poll.voters[0].id)
    assert refused.value.status == 400  # the last voter stays
    # a voter with an account who turned e-mail off gets none; the poll is in their list
    with db.write_transaction(storage.engine) as conn:
        conn.execute(mail_outbox.delete())
        conn.execute(users.update().where(users.c.name == "bob").values(email_notifications=False))
    service.create(
        storage,
        "alice",
        voters=[service.VoterInput("bob@example.org"), service.VoterInput("zoe@outside.example")],
        **base,
    )
    with storage.engine.connect() as conn:
        queued = [row.recipients for row in conn.execute(select(mail_outbox))]
    assert queued == ["zoe@outside.example"]


def test_links_are_signed_and_name_one_voter() -> None:
    key = b"k" * 32
    token = links.make(key, "p" * 32, "v" * 32)
    assert links.read(key, token) == links.Claim("p" * 32, "v" * 32)
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token + "x", "x.y", ""):
        with pytest.raises(links.Invalid):
            links.read(key, bad)
    with pytest.raises(links.Invalid):
        links.read(b"o" * 32, token)


def test_option_parsing() -> None:
    assert service.parse_option("2030-11-04", "Europe/Berlin", NOW) == ("2030-11-04", True)
    assert service.parse_option("2030-11-04T10:00", "Europe/Berlin", NOW) == (
        "2030-11-04T10:00",
        False,
    )
    assert service.parse_option("2030-11-04T09:00Z", "Europe/Berlin", NOW) == (
        "2030-11-04T10:00",
        False,
    )
    for bad in ("2026-12-06", "2026-12-07T11:00:00+00:00", "tomorrow", "2030-02-30"):
        with pytest.raises(CalserverError):
            service.parse_option(bad, "UTC", NOW)


def test_vpoll_export_is_icalendar_with_votes_and_winner() -> None:
    poll = Poll(
        7,
        "k" * 32,
        "alice",
        "Plan; review, now",
        "",
        "Room 4",
        45,
        "Europe/Berlin",
        "decided",
        2,
        "",
        "all",
        NOW,
        NOW,
        options=[Option(1, "2030-11-04T10:00", False), Option(2, "2030-11-08", True)],
        voters=[Voter(3, "zoe@outside.example", "Zoe", "", "v", NOW, None, {1: "yes", 2: "maybe"})],
    )
    text = vpoll.export(poll, "alice@example.org", dt.datetime.fromtimestamp(NOW, dt.UTC))
    assert text.endswith("END:VCALENDAR\r\n")
    calendar = icalendar.Calendar.from_ical(text)
    found = calendar.walk("VPOLL")[0]
    assert str(found["SUMMARY"]) == "Plan; review, now"
    assert str(found["POLL-WINNER"]) == "2" and str(found["STATUS"]) == "CONFIRMED"
    assert "DTSTART:20301104T090000Z" in text and "DTSTART;VALUE=DATE:20301108" in text
    assert "POLL-ITEM-ID:1\r\nRESPONSE:100" in text and "POLL-ITEM-ID:2\r\nRESPONSE:50" in text
