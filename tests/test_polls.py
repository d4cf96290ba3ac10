"""Meeting polls (issue 19) against a live server, a real SMTP server (aiosmtpd) and the
caldav library: Alice proposes dates to Bob and Carol (accounts) and Zoe and Yan (no
account); each follows their link over HTTP (GET changes nothing, POST votes), Bob
also votes signed in; Alice reminds (one left out), edits the options (mails) and the
title (no mail), chooses a date, and the meeting is in Bob's and Carol's calendars
while Zoe and Yan get the invitation with answer links that work. Then closing and
deleting, the bad input of the issue, the CLI and the VPOLL export."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from calserver import db
from calserver.db.models import mail_outbox, poll_votes
from tests.conftest import LiveServer
from tests.e2e_support import ENGINES, calserver, responses, send
from tests.scheduling_support import (
    Mail,
    about,
    copy_of,
    deliver,
    email,
    master,
    parse,
    partstat,
    server_fixture,
    to,
)

API = "/.api/v1"
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
VOTERS = ["bob", "carol", "zoe", "yan"]
pytestmark = pytest.mark.live
LINK = re.compile(r"https?://[^\s<>\"]+(/\.poll/[A-Za-z0-9_.\-]+)")


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from server_fixture(request, tmp_path_factory)


def api(server: LiveServer, method: str, path: str, body: Any = None, user: str = "alice") -> Any:
    data = json.dumps(body) if body is not None else ("{}" if method == "POST" else "")
    reply = send(server, method, API + path, data, JSON if data else {}, user=user)
    return reply.status, (json.loads(reply.body) if reply.body else None)


def new_poll(server: LiveServer, **extra: Any) -> dict[str, Any]:
    body = {
        "title": "Kick-off",
        "description": "Which day suits you?",
        "location": "Room 4",
        "duration": 90,
        "timezone": "Europe/Berlin",
        "options": ["2030-11-04T10:00", "2030-11-05T14:30", "2030-11-06"],
        "voters": [{"email": email(p), "name": p.title()} for p in VOTERS],
        **extra,
    }
    status, poll = api(server, "POST", "/polls", body)
    assert status == 201, poll
    return poll  # type: ignore[no-any-return]


def unsent(server: LiveServer) -> int:
    engine = db.get_engine(server.database_url)
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(mail_outbox).where(mail_outbox.c.sent.is_(None))
            ).scalar_one()
        )


def vote_rows(server: LiveServer) -> int:
    with db.get_engine(server.database_url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(poll_votes)).scalar_one())


def poll_links(mails: list[Mail]) -> dict[str, str]:
    """person -> the path of their poll link (from the mails they got)."""
    by_email = {email(p): p for p in VOTERS}
    found = {}
    for mail in mails:
        match = LINK.search(mail.text)
        if match:
            for address in mail.to:
                found[by_email[address.lower()]] = match.group(1)
    return found


def vote_by_link(
    server: LiveServer,
    path: str,
    answers: dict[int, str],
    headers: dict[str, str] | None = None,
    token: str | None = None,
) -> Any:
    form = {"token": path.rpartition("/")[2] if token is None else token}
    form.update({f"o{option}": answer for option, answer in answers.items()})
    return send(server, "POST", path, urlencode(form), {**FORM, **(headers or {})}, user=None)


def test_poll_with_accounts_and_outside_voters_ends_in_a_meeting_in_every_calendar(
    server: LiveServer,
) -> None:
    poll = new_poll(server)
    pid = poll["id"]
    options = [o["id"] for o in poll["options"]]
    assert [o["all_day"] for o in poll["options"]] == [False, False, True]
    users = {v["email"]: v.get("user") for v in poll["voters"]}
    assert users[email("bob")] == "bob" and users[email("zoe")] is None

    # everyone got their link; the typed outside addresses joined Alice's address book
    mails = deliver(server)
    links = poll_links([m for m in mails if m.subject == "Poll: Kick-off"])
    assert sorted(links) == sorted(VOTERS)
    cards = [
        send(server, "GET", href, user="alice").text
        for href in responses(
            send(server, "PROPFIND", "/alice/contacts/", "", {"Depth": "1"}, user="alice").xml()
        )
        if href.endswith(".vcf")
    ]
    assert any(email("zoe") in card for card in cards)
    assert any(email("yan") in card for card in cards)
    assert not any(email("bob") in card for card in cards)  # a group member already

    # GET changes nothing
    for person in VOTERS:
        page = send(server, "GET", links[person], user=None)
        assert page.status == 200, page.text
        assert "Kick-off" in page.text and "no-store" in page.headers["cache-control"]
    assert vote_rows(server) == 0

    # Bob and Carol see the poll in their list
    status, mine = api(server, "GET", "/me/polls", user="bob")
    assert status == 200 and [p["id"] for p in mine["invited"]] == [pid]
    status, seen = api(server, "GET", f"/polls/{pid}", user="carol")
    assert status == 200 and "voters" not in seen and seen["me"]["email"] == email("carol")
    assert api(server, "GET", f"/polls/{pid}", user="dave")[0] == 404

    # a reminder to those who have not answered, Yan left out; a second one is too soon
    yan = next(v["id"] for v in poll["voters"] if v["email"] == email("yan"))
    status, reminded = api(server, "POST", f"/polls/{pid}/reminders", {"leave_out": [yan]})
    assert status == 200, reminded
    assert sorted(v["email"] for v in reminded["reminded"]) == sorted(
        email(p) for p in ("bob", "carol", "zoe")
    )
    mails = deliver(server)
    assert sorted(m.to[0].lower() for m in mails) == sorted(
        email(p) for p in ("bob", "carol", "zoe")
    )
    assert all(m.subject == "Reminder: Kick-off" for m in mails)
    status, error = api(server, "POST", f"/polls/{pid}/reminders", {})
    assert status == 429, error

    # votes over the links; the token must be in the form and the form from this site
    forged = vote_by_link(server, links["zoe"], {options[0]: "yes"}, token="")
    assert forged.status == 403
    foreign = vote_by_link(
        server, links["zoe"], {options[0]: "yes"}, {"Origin": "https://evil.example"}
    )
    assert foreign.status == 403
    assert vote_by_link(server, links["zoe"], {options[0]: "bogus"}).status == 400
    assert vote_rows(server) == 0
    answers = {
        "zoe": {options[0]: "yes", options[1]: "no", options[2]: "maybe"},
        "yan": {options[0]: "yes", options[1]: "yes", options[2]: "no"},
        "carol": {options[0]: "maybe", options[1]: "yes", options[2]: "no"},
    }
    for person, chosen in answers.items():
        reply = vote_by_link(server, links[person], chosen)
        assert reply.status == 303, reply.text
        assert reply.headers["location"].endswith(links[person] + "?saved=1")
    status, seen = api(
        server,
        "POST",
        f"/polls/{pid}/votes",
        {"answers": {str(options[0]): "yes", str(options[1]): "no", str(options[2]): "yes"}},
        user="bob",
    )
    assert status == 200, seen
    # Zoe changes her mind
    assert vote_by_link(server, links["zoe"], {options[1]: "yes"}).status == 303
    page = send(server, "GET", links["zoe"] + "?saved=1", user=None)
    assert "Your answers are saved" in page.text
    assert re.search(rf'name="o{options[1]}" value="yes" checked', page.text)

    status, table = api(server, "GET", f"/polls/{pid}")
    assert status == 200
    by_email = {v["email"]: v for v in table["voters"]}
    assert by_email[email("zoe")]["votes"] == {
        str(options[0]): "yes",
        str(options[1]): "yes",
        str(options[2]): "maybe",
    }
    assert all(v["answered"] for v in table["voters"])
    assert table["options"][0]["totals"] == {"yes": 3, "maybe": 1, "no": 0}
    assert all(v["link"].endswith(links[p]) for p, v in ((p, by_email[email(p)]) for p in VOTERS))
    # everyone answered: the owner's notice (notify=all)
    mails = deliver(server)
    assert [m.subject for m in mails] == ["Everyone answered: Kick-off"]
    assert mails[0].to == [email("alice")]

    # the title alone: nobody is e-mailed
    status, changed = api(server, "PATCH", f"/polls/{pid}", {"title": "Kick-off meeting"})
    assert status == 200 and changed["title"] == "Kick-off meeting"
    assert unsent(server) == 0
    # options added and removed: every voter is told, the removed option's votes go
    status, changed = api(
        server, "POST", f"/polls/{pid}/options", {"options": ["2030-11-07T09:00"]}
    )
    assert status == 200, changed
    assert len(changed["options"]) == 4
    mails = deliver(server)
    assert sorted(m.to[0].lower() for m in mails) == sorted(email(p) for p in VOTERS)
    assert all("Thu 07 Nov 2030, 09:00" in m.text for m in mails)
    before = vote_rows(server)
    status, changed = api(server, "DELETE", f"/polls/{pid}/options/{options[2]}")
    assert status == 200 and len(changed["options"]) == 3
    assert vote_rows(server) == before - 4
    mails = deliver(server)
    assert len(mails) == 4 and all("no longer proposed" in m.text for m in mails)

    # the date: any option; a meeting in Alice's calendar, every voter invited
    status, decided = api(server, "POST", f"/polls/{pid}/decide", {"option": options[1]})
    assert status == 200, decided
    assert decided["status"] == "decided" and decided["decided"]["id"] == options[1]
    uid = decided["meeting_uid"]
    assert decided["meeting"].startswith("/alice/work/")
    meeting = master(parse(send(server, "GET", decided["meeting"], user="alice").body))
    assert str(meeting["SUMMARY"]) == "Kick-off meeting"
    assert meeting["DTSTART"].dt.isoformat() == "2030-11-05T14:30:00+01:00"
    assert (meeting["DTEND"].dt - meeting["DTSTART"].dt).total_seconds() == 90 * 60
    for person in ("bob", "carol"):
        _event, copy = copy_of(server, person, uid)
        assert str(master(copy)["SUMMARY"]) == "Kick-off meeting"
    mails = deliver(server)
    for person in VOTERS:
        told = [m for m in to(mails, person) if m.subject == "Date chosen: Kick-off meeting"]
        assert len(told) == 1 and "Tue 05 Nov 2030, 14:30" in told[0].text
    for person in ("zoe", "yan"):
        invitation = about(to(mails, person), uid)
        assert len(invitation) == 1 and invitation[0].method_param == "REQUEST"
        answer_links = invitation[0].links()
        assert sorted(answer_links) == ["accepted", "declined", "tentative"]
        page = send(server, "GET", answer_links["accepted"], user=None)
        assert page.status == 200
        path = urlsplit(answer_links["accepted"]).path
        reply = send(server, "POST", path, "answer=accepted", FORM, user=None)
        assert reply.status == 200, reply.text
    meeting = master(parse(send(server, "GET", decided["meeting"], user="alice").body))
    assert partstat(meeting, "zoe") == "ACCEPTED" and partstat(meeting, "yan") == "ACCEPTED"

    # decided: read-only, no vote, edit or second choice
    reply = vote_by_link(server, links["yan"], {options[0]: "no"})
    assert reply.status == 409 and "The date is chosen" in reply.text
    assert 'type="radio"' not in reply.text
    page = send(server, "GET", links["yan"], user=None)
    assert page.status == 200 and "Chosen date" in page.text and "<form" not in page.text
    assert api(server, "POST", f"/polls/{pid}/decide", {"option": options[0]})[0] == 409
    assert api(server, "PATCH", f"/polls/{pid}", {"title": "x"})[0] == 409
    assert (
        api(
            server, "POST", f"/polls/{pid}/votes", {"answers": {str(options[0]): "no"}}, user="bob"
        )[0]
        == 409
    )

    # the VPOLL export
    text = calserver(server, "poll", "export", str(pid))
    assert "BEGIN:VPOLL" in text and "STATUS:CONFIRMED" in text
    assert f"POLL-WINNER:{options[1]}" in text and text.count("BEGIN:VOTE\r\n") == 8


def test_closed_poll_is_read_only_and_a_deleted_one_is_gone(server: LiveServer) -> None:
    poll = new_poll(server, voters=[{"email": email("zoe")}, {"email": email("bob")}])
    pid, option = poll["id"], poll["options"][0]["id"]
    links = poll_links(deliver(server))
    assert vote_by_link(server, links["zoe"], {option: "yes"}).status == 303
    status, closed = api(server, "POST", f"/polls/{pid}/close", {})
    assert status == 200 and closed["status"] == "closed"
    mails = deliver(server)
    assert sorted(m.subject for m in mails) == ["Poll closed: Kick-off"] * 2
    reply = vote_by_link(server, links["zoe"], {option: "no"})
    assert reply.status == 409 and "closed" in reply.text
    page = send(server, "GET", links["zoe"], user=None)
    assert page.status == 200 and "Your answer: Yes" in page.text and "<form" not in page.text
    assert api(server, "POST", f"/polls/{pid}/decide", {"option": option})[0] == 409
    assert api(server, "POST", f"/polls/{pid}/options", {"options": ["2031-01-01"]})[0] == 409

    assert api(server, "DELETE", f"/polls/{pid}?tell=true")[0] == 204
    assert send(server, "GET", links["zoe"], user=None).status == 404
    assert vote_by_link(server, links["zoe"], {option: "yes"}).status == 404
    assert api(server, "GET", f"/polls/{pid}")[0] == 404
    mails = deliver(server)
    assert sorted(m.subject for m in mails) == ["Poll deleted: Kick-off"] * 2
    # a link with one character changed is not this server's
    token = links["zoe"].rpartition("/")[2]
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert send(server, "GET", f"/.poll/{forged}", user=None).status == 403


def test_removed_voter_is_told_and_their_link_ends(server: LiveServer) -> None:
    poll = new_poll(server, voters=[{"email": email("zoe")}, {"email": email("yan")}])
    pid = poll["id"]
    links = poll_links(deliver(server))
    zoe = next(v["id"] for v in poll["voters"] if v["email"] == email("zoe"))
    status, changed = api(server, "DELETE", f"/polls/{pid}/voters/{zoe}")
    assert status == 200 and [v["email"] for v in changed["voters"]] == [email("yan")]
    mails = deliver(server)
    assert [(m.to[0], m.subject) for m in mails] == [
        (email("zoe"), "Removed from the poll: Kick-off")
    ]
    assert send(server, "GET", links["zoe"], user=None).status == 404
    status, changed = api(
        server, "POST", f"/polls/{pid}/voters", {"voters": [{"email": email("carol")}]}
    )
    assert status == 200 and len(changed["voters"]) == 2
    mails = deliver(server)
    assert [(m.to[0], m.subject) for m in mails] == [(email("carol"), "Poll: Kick-off")]
    assert api(server, "DELETE", f"/polls/{pid}")[0] == 204


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"options": []}, "at least one option"),
        (
            {
                "options": [
                    f"2030-12-{d:02d}T{h:02d}:00" for d in range(1, 27) for h in range(8, 12)
                ]
                + ["2031-01-01"]
            },
            "at most 100",
        ),
        ({"options": ["2030-11-04T10:00", "2030-11-04T10:00"]}, "given twice"),
        ({"options": ["2001-01-01T10:00"]}, "in the past"),
        ({"options": ["next tuesday"]}, "not a date"),
        ({"voters": [{"name": "Nobody"}]}, "no e-mail address"),
        ({"voters": [{"email": "not-an-address"}]}, "not an e-mail address"),
        ({"owner": "@team"}, "group cannot own a poll"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_bad_polls_are_refused_with_the_reason(
    server: LiveServer, change: dict[str, Any], reason: str
) -> None:
    body = {
        "title": "Bad",
        "duration": 30,
        "timezone": "UTC",
        "options": ["2030-11-04T10:00"],
        "voters": [{"email": email("zoe")}],
        **change,
    }
    status, error = api(server, "POST", "/polls", body)
    assert status == 400 and reason in error["error"], error
    assert unsent(server) == 0


def test_cli_creates_lists_and_shows_a_poll_with_each_link(server: LiveServer) -> None:
    out = calserver(
        server,
        "poll",
        "create",
        "alice",
        "--title",
        "From the shell",
        "--duration",
        "45",
        "--option",
        "2030-12-01T09:00",
        "--option",
        "2030-12-02T09:00",
        "--voter",
        email("bob"),
        "--voter",
        email("zoe"),
        "--timezone",
        "UTC",
    )
    pid = int(re.search(r"poll (\d+) created", out).group(1))  # type: ignore[union-attr]
    listed = json.loads(calserver(server, "polls", "alice", "--json"))
    assert pid in [p["id"] for p in listed["owned"]]
    invited = json.loads(calserver(server, "polls", "bob", "--json"))
    assert pid in [p["id"] for p in invited["invited"]]
    shown = json.loads(calserver(server, "poll", "show", str(pid), "--json"))
    assert [v["email"] for v in shown["voters"]] == [email("bob"), email("zoe")]
    for voter in shown["voters"]:
        path = urlsplit(voter["link"]).path
        assert send(server, "GET", path, user=None).status == 200
    text = calserver(server, "poll", "show", str(pid))
    assert "From the shell" in text and "/.poll/" in text
    deliver(server)
    assert api(server, "DELETE", f"/polls/{pid}")[0] == 204


def test_a_group_of_the_owner_invites_its_members(server: LiveServer) -> None:
    poll = new_poll(server, voters=[{"group": "team"}, {"email": email("zoe")}])
    voters = {v["email"]: v.get("user") for v in poll["voters"]}
    assert voters == {
        email("bob"): "bob",
        email("carol"): "carol",
        email("erin"): "erin",
        email("zoe"): None,
    }
    status, error = api(
        server, "POST", "/polls", {**BAD, "voters": [{"group": "team"}]}, user="dave"
    )
    assert status == 400 and "not a member" in error["error"]
    deliver(server)
    assert api(server, "DELETE", f"/polls/{poll['id']}")[0] == 204


BAD = {"title": "Bad", "duration": 30, "timezone": "UTC", "options": ["2030-11-04T10:00"]}
