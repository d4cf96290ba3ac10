"""End to end: scheduling touches only the meeting itself (issue 12, item 1), against a
live ``calserver serve`` on SQLite and PostgreSQL.

- A delivery (invitation, update, cancel, attendee removal, group expansion) to an
  attendee who holds an item with the meeting's UID that is not their copy of that
  organizer's meeting leaves that item byte for byte as it was (its stored text and
  ETag, and what a GET answers), and the organizer's copy says SCHEDULE-STATUS 5.3
  (RFC 6638 3.2.9) for that attendee; nothing about the meeting reaches their inbox.
- Answers by CalDAV, by answer link and by iMIP REPLY reach the organizer's copy only,
  never an item someone else wrote with the meeting's UID in a group calendar or in
  one of the organizer's calendars they may write ("shadow copy").
- Only a member may expand a group attendee.

The world is that of ``scheduling_support.py``; Erin is made a co-administrator of
``team`` (she writes ``@team/plans``) and Dave may write ``alice/shared``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from calserver import db
from calserver.db.models import collections, items
from tests.conftest import LiveServer
from tests.e2e_support import ENGINES, calserver, send, unique
from tests.scheduling_support import (
    about,
    answer,
    answers,
    attendees,
    copy_of,
    copy_paths,
    deliver,
    get,
    inbox,
    master,
    meeting,
    methods,
    organize,
    organizer_copy,
    precondition,
    put,
    queued,
    schedule_status,
    server_fixture,
    to,
)
from tests.test_scheduling_replies import imip_receive, post_answer, reply_mail

pytestmark = pytest.mark.live

REFUSED = "5.3"


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    for live in server_fixture(request, tmp_path_factory):
        calserver(live, "group", "add-member", "team", "erin", "--admin")
        calserver(live, "calendar", "create", "alice/shared", "--name", "Shared")
        calserver(live, "share", "alice/shared", "--with", "dave", "--level", "write")
        calserver(live, "calendar", "create", "dave/calendar", "--name", "Dave")
        yield live


def own_event(server: LiveServer, user: str, calendar: str, uid: str, name: str = "own.ics") -> str:
    """``user``'s own private event with ``uid`` (no organizer: nobody's meeting); its
    path."""
    path = f"/{calendar}/{uid}-{name}"
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//own//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20301110T090000Z\r\nDTEND:20301110T093000Z\r\n"
        f"SUMMARY:{user}'s own appointment\r\nCLASS:PRIVATE\r\n"
        "DESCRIPTION:Nobody else's business\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    reply = put(server, user, path, text)
    assert reply.status == 201, (reply.status, reply.text)
    return path


def stored(server: LiveServer, uid: str, owner: str) -> dict[str, tuple[str, str]]:
    """Every item with ``uid`` in ``owner``'s home outside the inbox, from the database:
    path -> (stored text, ETag)."""
    engine = db.get_engine(server.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(collections.c.path, items.c.href, items.c.text, items.c.etag)
            .join(collections, collections.c.id == items.c.collection_id)
            .where(items.c.uid == uid, collections.c.parent == owner)
        ).all()
    return {
        f"/{row.path}/{row.href}": (row.text, row.etag)
        for row in rows
        if not row.path.endswith("/inbox")
    }


def fetched(server: LiveServer, user: str, path: str) -> tuple[int, str, str]:
    """What a GET of ``path`` by ``user`` answers: status, body, ETag."""
    reply = send(server, "GET", path, user=user)
    return reply.status, reply.text, reply.headers.get("etag", "")


def untouched(server: LiveServer, user: str, uid: str, path: str) -> Any:
    """A snapshot of ``user``'s data with ``uid`` to compare after the delivery."""
    return stored(server, uid, user), fetched(server, user, path)


def mails_to(server: LiveServer, uid: str, person: str) -> list[Any]:
    return to([mail for _row, mail in queued(server, uid)], person)


# --- deliveries to an attendee holding the UID -------------------------------------------


def test_invitation_never_overwrites_the_attendees_own_event_with_the_uid(
    server: LiveServer,
) -> None:
    """Alice invites Carol and Dave with the UID of Carol's private event: Carol's
    event stays as it was, Alice's copy says 5.3 for Carol, Carol gets no REQUEST and
    no e-mail; Dave gets his copy (1.2)."""
    uid = unique("collide-invite")
    path = own_event(server, "carol", "carol/personal", uid)
    before = untouched(server, "carol", uid, path)

    organize(server, meeting(uid, ["carol", "dave"]))

    assert untouched(server, "carol", uid, path) == before
    event = master(organizer_copy(server, uid))
    assert schedule_status(event, "carol") == REFUSED
    assert schedule_status(event, "dave") == "1.2"
    assert inbox(server, "carol", uid) == []
    assert mails_to(server, uid, "carol") == []
    assert set(copy_paths(server, uid)) == {"alice", "carol", "dave"}
    assert stored(server, uid, "dave")


def decline_by_deleting_then_reuse_the_uid(server: LiveServer, uid: str) -> str:
    """Carol deletes her copy of Alice's meeting ``uid`` (declines), then stores an
    event of her own with that UID in another resource; its path."""
    [copy_path] = [p for p in stored(server, uid, "carol")]
    reply = send(server, "DELETE", copy_path, user="carol")
    assert reply.status in (200, 204), (reply.status, reply.text)
    assert answers(master(organizer_copy(server, uid)))["carol"][0] == "DECLINED"
    return own_event(server, "carol", "carol/personal", uid, "later.ics")


@pytest.mark.parametrize("change", ["significant", "minor"])
def test_update_never_overwrites_an_event_that_took_the_uid_of_a_deleted_copy(
    server: LiveServer, change: str
) -> None:
    """Carol declined by deleting her copy and stored her own event with the meeting's
    UID; Alice's next update (a new time, which asks everyone again, or a category,
    which does not) leaves Carol's event as it was and says 5.3 for her."""
    uid = unique("collide-update")
    organize(server, meeting(uid, ["carol", "dave"]))
    path = decline_by_deleting_then_reuse_the_uid(server, uid)
    before = untouched(server, "carol", uid, path)
    requests = len(inbox(server, "carol", uid))

    if change == "significant":
        text = meeting(
            uid, ["carol", "dave"], start="DTSTART:20301104T120000Z", end="DTEND:20301104T130000Z"
        )
    else:
        text = meeting(uid, ["carol", "dave"], extra="CATEGORIES:Planning\r\n")
    reply = put(server, "alice", f"/alice/work/{uid}.ics", text)
    assert reply.status in (201, 204), (reply.status, reply.text)

    assert untouched(server, "carol", uid, path) == before
    assert schedule_status(master(organizer_copy(server, uid)), "carol") == REFUSED
    assert len(inbox(server, "carol", uid)) == requests
    assert stored(server, uid, "dave")


def test_cancel_never_deletes_an_event_that_took_the_uid_of_a_deleted_copy(
    server: LiveServer,
) -> None:
    """Alice deletes the meeting: Dave's copy goes, with a CANCEL; Carol's own event
    with the meeting's UID stays, and no CANCEL reaches her inbox (her client would
    delete her event)."""
    uid = unique("collide-cancel")
    organize(server, meeting(uid, ["carol", "dave"]))
    path = decline_by_deleting_then_reuse_the_uid(server, uid)
    before = untouched(server, "carol", uid, path)

    reply = send(server, "DELETE", f"/alice/work/{uid}.ics", user="alice")
    assert reply.status in (200, 204), (reply.status, reply.text)

    assert untouched(server, "carol", uid, path) == before
    assert stored(server, uid, "dave") == {}
    assert "CANCEL" in methods(inbox(server, "dave", uid))
    assert "CANCEL" not in methods(inbox(server, "carol", uid))


def test_removing_an_attendee_never_deletes_their_own_event_with_the_uid(
    server: LiveServer,
) -> None:
    """Alice removes Carol from the meeting: Carol's own event with its UID stays."""
    uid = unique("collide-remove")
    organize(server, meeting(uid, ["carol", "dave"]))
    path = decline_by_deleting_then_reuse_the_uid(server, uid)
    before = untouched(server, "carol", uid, path)

    reply = put(server, "alice", f"/alice/work/{uid}.ics", meeting(uid, ["dave"]))
    assert reply.status in (201, 204), (reply.status, reply.text)

    assert untouched(server, "carol", uid, path) == before
    assert stored(server, uid, "dave")


def test_removing_an_attendee_whose_delivery_was_refused_leaves_their_event(
    server: LiveServer,
) -> None:
    """Carol's delivery was refused (her event had the UID first); Alice then removes
    her: her event stays."""
    uid = unique("collide-remove-refused")
    path = own_event(server, "carol", "carol/personal", uid)
    before = untouched(server, "carol", uid, path)
    organize(server, meeting(uid, ["carol", "dave"]))

    reply = put(server, "alice", f"/alice/work/{uid}.ics", meeting(uid, ["dave"]))
    assert reply.status in (201, 204), (reply.status, reply.text)

    assert untouched(server, "carol", uid, path) == before


def test_group_expansion_never_overwrites_a_members_own_event_with_the_uid(
    server: LiveServer,
) -> None:
    """Alice invites the group ``team``: Bob and Erin get copies; Carol, whose own event
    has the meeting's UID, keeps it as it was, and is 5.3."""
    uid = unique("collide-group")
    path = own_event(server, "carol", "carol/personal", uid)
    before = untouched(server, "carol", uid, path)

    organize(server, meeting(uid, "ATTENDEE;CUTYPE=GROUP:/@team/\r\n"))

    assert untouched(server, "carol", uid, path) == before
    event = master(organizer_copy(server, uid))
    assert schedule_status(event, "carol") == REFUSED
    assert schedule_status(event, "bob") == "1.2"
    assert schedule_status(event, "erin") == "1.2"
    assert set(copy_paths(server, uid)) == {"alice", "bob", "carol", "erin"}


def test_only_a_member_may_expand_a_group_attendee(server: LiveServer) -> None:
    """Dave, who is not in ``team``, invites ``/@team/``: nobody of the group gets
    anything, and his copy says 3.8 (no privilege) for the group."""
    uid = unique("outsider")
    text = meeting(
        uid,
        "ATTENDEE;CUTYPE=GROUP:/@team/\r\n",
        organizer="ORGANIZER;CN=Dave Diver:mailto:dave@example.org\r\n",
        chair=False,
    )
    reply = put(server, "dave", f"/dave/calendar/{uid}.ics", text)
    assert reply.status == 201, (reply.status, reply.text)

    assert set(copy_paths(server, uid)) == {"dave"}
    for person in ("alice", "bob", "carol", "erin"):
        assert inbox(server, person, uid) == []
    status, body = get(server, "dave", f"/dave/calendar/{uid}.ics")
    assert status == 200, body
    from tests.scheduling_support import parse

    group = attendees(master(parse(body)))["/@team/"]
    assert group.get("SCHEDULE-STATUS") == "3.8", group
    assert len(attendees(master(parse(body)))) == 1


# --- answers reach the organizer's copy only ---------------------------------------------


SHADOW_SUMMARY = "Hijacked"


def shadow(uid: str, with_attendees: bool) -> str:
    """An item with the UID and ORGANIZER of Alice's meeting, written by someone else."""
    people = ["bob", "zoe"] if with_attendees else []
    return meeting(uid, people, summary=SHADOW_SUMMARY, chair=with_attendees).replace(
        "LOCATION:Room 4", "LOCATION:Somewhere else"
    )


SHADOWS = {
    # Erin, co-administrator of team, writes the group calendar @team/plans (sorted
    # before alice/...): she is not mentioned, so nothing is scheduled for her write
    "group": ("erin", "@team/plans", True),
    # Dave may write alice/shared: a copy there with attendees would be a second
    # organizer's copy (refused, see below); one without attendees is stored
    "shared": ("dave", "alice/shared", False),
}


def store_shadow(server: LiveServer, where: str, uid: str) -> tuple[str, Any]:
    writer, calendar, with_attendees = SHADOWS[where]
    path = f"/{calendar}/{uid}.ics"
    reply = put(server, writer, path, shadow(uid, with_attendees))
    assert reply.status == 201, (reply.status, reply.text)
    return path, fetched(server, writer, path)


@pytest.mark.parametrize("how", ["caldav", "link", "imip"])
@pytest.mark.parametrize("where", sorted(SHADOWS))
def test_answers_never_take_a_shadow_copy_for_the_organizers(
    server: LiveServer, where: str, how: str
) -> None:
    """Someone else stores an item with the UID and ORGANIZER of Alice's meeting in a
    group calendar or in a calendar of Alice's they may write; Bob answers by CalDAV,
    Zoe by her answer link (whose page shows Alice's meeting) or by an iMIP REPLY: the
    answer lands in Alice's copy, the shadow stays as it was, and Bob's copy still
    shows Alice's meeting."""
    uid = unique(f"shadow-{where}-{how}")
    organize(server, meeting(uid, ["bob", "zoe"]))
    [mail] = to(about(deliver(server), uid), "zoe")
    path, before = store_shadow(server, where, uid)
    writer = SHADOWS[where][0]

    if how == "caldav":
        answer(server, "bob", uid, "ACCEPTED")
        expected = ("bob", "ACCEPTED")
    elif how == "link":
        links = mail.links()
        page = send(server, "GET", links["accepted"], user=None)
        assert page.status == 200, (page.status, page.text)
        assert "Room 4" in page.text and "Planning" in page.text
        assert SHADOW_SUMMARY not in page.text and "Somewhere else" not in page.text
        sent = post_answer(server, links["accepted"], "accepted")
        assert sent.status == 200, (sent.status, sent.text)
        assert SHADOW_SUMMARY not in sent.text
        expected = ("zoe", "ACCEPTED")
    else:
        result = imip_receive(server, reply_mail(mail, "zoe", "TENTATIVE"))
        assert result.returncode == 0, (result.returncode, result.stderr)
        expected = ("zoe", "TENTATIVE")

    person, partstat = expected
    assert answers(master(organizer_copy(server, uid)))[person] == (partstat, "2.0")
    assert fetched(server, writer, path) == before
    bobs = master(copy_of(server, "bob", uid)[1])
    assert str(bobs["SUMMARY"]) == "Planning"
    assert str(bobs["LOCATION"]) == "Room 4"


def test_a_second_organizers_copy_of_a_meeting_is_refused(server: LiveServer) -> None:
    """Dave, who may write alice/shared, stores there an item with the UID of Alice's
    meeting and attendees: it would be a second organizer's copy (Alice's, by the
    calendar's owner) and send his text to every attendee. Refused with 403
    unique-scheduling-object-resource (RFC 6638 3.2.4.1); nothing is stored or sent,
    Bob's copy is Alice's meeting still."""
    uid = unique("second-copy")
    organize(server, meeting(uid, ["bob", "zoe"]))
    deliver(server)
    bob_before = untouched(server, "bob", uid, copy_paths(server, uid)["bob"])
    bob_inbox = len(inbox(server, "bob", uid))

    reply = put(server, "dave", f"/alice/shared/{uid}.ics", shadow(uid, True))

    assert reply.status == 403, (reply.status, reply.text)
    assert precondition(reply.text) == "unique-scheduling-object-resource"
    assert set(copy_paths(server, uid)) == {"alice", "bob"}
    assert untouched(server, "bob", uid, copy_paths(server, uid)["bob"]) == bob_before
    assert len(inbox(server, "bob", uid)) == bob_inbox
    assert [m for _r, m in queued(server, uid) if _r.sent is None] == []


def test_an_attendees_copy_keeps_its_provenance_when_they_answer(server: LiveServer) -> None:
    """Bob answers by editing his copy (a client PUT); Alice's next update still
    reaches his copy (it is still the copy scheduling wrote), not refused."""
    uid = unique("keeps")
    organize(server, meeting(uid, ["bob"]))
    answer(server, "bob", uid, "ACCEPTED")
    reply = put(server, "alice", f"/alice/work/{uid}.ics", meeting(uid, ["bob"], summary="Moved"))
    assert reply.status in (201, 204), (reply.status, reply.text)
    assert schedule_status(master(organizer_copy(server, uid)), "bob") == "1.2"
    assert str(master(copy_of(server, "bob", uid)[1])["SUMMARY"]) == "Moved"


def test_a_client_cannot_forge_a_copy_to_receive_updates(server: LiveServer) -> None:
    """Carol stores, before being invited, an event with the meeting's UID and Alice as
    ORGANIZER (as if it were her copy): it is hers, not a copy; Alice's invitation is
    refused for her (5.3) and her event is unchanged."""
    uid = unique("forged")
    path = f"/carol/personal/{uid}.ics"
    reply = put(server, "carol", path, meeting(uid, ["carol"], summary="Forged"))
    assert reply.status == 201, (reply.status, reply.text)
    before = untouched(server, "carol", uid, path)

    organize(server, meeting(uid, ["carol", "dave"]))

    assert untouched(server, "carol", uid, path) == before
    assert schedule_status(master(organizer_copy(server, uid)), "carol") == REFUSED


def test_email_switch_of_the_api_changes_the_organizers_copy_only(server: LiveServer) -> None:
    """``PATCH /.api/v1/me/meetings/UID`` (e-mail on/off) finds Alice's copy by its
    provenance, not an item with the UID in a group calendar."""
    uid = unique("switch")
    organize(server, meeting(uid, ["bob", "zoe"]))
    path, before = store_shadow(server, "group", uid)
    reply = send(
        server,
        "PATCH",
        f"/.api/v1/me/meetings/{uid}",
        '{"email": false}',
        {"Content-Type": "application/json"},
        user="alice",
    )
    assert reply.status in (200, 204), (reply.status, reply.text)
    assert fetched(server, "erin", path) == before
    assert "X-CALSERVER-EMAIL:OFF" in get(server, "alice", f"/alice/work/{uid}.ics")[1]


def test_deleting_a_shadow_copy_does_not_cancel_the_meeting(server: LiveServer) -> None:
    """Alice deletes the item Erin wrote in ``@team/plans`` with the UID and ORGANIZER
    of Alice's meeting: that item alone goes; the meeting is not cancelled (Bob keeps
    his copy, gets no CANCEL; Alice's copy stays)."""
    uid = unique("shadow-delete")
    organize(server, meeting(uid, ["bob", "zoe"]))
    path, _before = store_shadow(server, "group", uid)
    bob_path = copy_paths(server, uid)["bob"]
    bob_before = untouched(server, "bob", uid, bob_path)

    reply = send(server, "DELETE", path, user="alice")
    assert reply.status in (200, 204), (reply.status, reply.text)

    assert untouched(server, "bob", uid, bob_path) == bob_before
    assert "CANCEL" not in methods(inbox(server, "bob", uid))
    assert get(server, "alice", f"/alice/work/{uid}.ics")[0] == 200
