"""End to end: meetings (issue 5, RFC 6638 implicit scheduling) made, changed, answered
and cancelled with the ``caldav`` client against a live ``calserver serve``, on SQLite and
PostgreSQL: the attendees' copies, the iTIP messages in the schedule inboxes, the
organizer's copy (PARTSTAT, SCHEDULE-STATUS) and the e-mails a real SMTP server receives
from ``calserver worker --once``.

The numbers in the test docstrings are those of the plan's "Engine behaviour" list
(``sched-spec.md``). Answers by link and by e-mail (``imip-receive``), and the SMTP
outage, are in ``test_scheduling_replies.py``; the caldav library's own scheduling
flow, pending invitations and the organizer's answers view in
``test_scheduling_clients.py``. Helpers and the shared world: ``scheduling_support.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import icalendar
import pytest

from tests.conftest import LiveServer
from tests.e2e_support import ENGINES, path_of, send, unique
from tests.scheduling_support import (
    ALLOWED_ATTENDEE,
    ALLOWED_ORGANIZER,
    BERLIN,
    ORGANIZER,
    about,
    answer,
    answers,
    attendee,
    attendee_values,
    attendees,
    copies,
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
    override,
    parse,
    partstat,
    precondition,
    put,
    queued,
    recipients,
    server_fixture,
    to,
)

pytestmark = pytest.mark.live

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from server_fixture(request, tmp_path_factory)


# --- 1. invitations ----------------------------------------------------------------------


def test_new_meeting_reaches_every_attendee_with_and_without_an_account(
    server: LiveServer,
) -> None:
    """1: copies in the default calendars with NEEDS-ACTION, REQUEST in the inboxes,
    SCHEDULE-STATUS 1.2 / 1.1 in the organizer's copy, one e-mail per attendee (links
    only for those without an account); the organizer and SCHEDULE-AGENT=CLIENT left
    alone."""
    uid = unique("kickoff")
    people = (
        attendee("bob")
        + attendee("carol")
        + attendee("zoe")
        + attendee("dave", params=";SCHEDULE-AGENT=CLIENT")
    )
    organize(
        server,
        meeting(
            uid,
            people,
            summary="Project kickoff",
            start="DTSTART;TZID=Europe/Berlin:20301104T100000",
            end="DTEND;TZID=Europe/Berlin:20301104T113000",
            timezone=BERLIN,
        ),
    )

    # Bob had no calendar: one was made for him; Carol's is her first one taking events.
    where = copies(server, uid)
    assert set(where) == {"alice/work", "bob/calendar", "carol/personal"}
    assert where["alice/work"] == f"{uid}.ics"
    for user in ("bob", "carol"):
        _, copy = copy_of(server, user, uid)
        event = master(copy)
        assert str(event["SUMMARY"]) == "Project kickoff"
        assert str(event["ORGANIZER"]).lower() == "mailto:alice@example.org"
        assert partstat(event, user) == "NEEDS-ACTION"
        assert all("SCHEDULE-STATUS" not in p for p in attendees(event).values()), user
        [request] = inbox(server, user, uid)
        assert str(request["METHOD"]) == "REQUEST"
        assert partstat(master(request), user) == "NEEDS-ACTION"
    assert inbox(server, "dave", uid) == []
    assert inbox(server, "alice", uid) == []

    event = master(organizer_copy(server, uid))
    assert answers(event) == {
        "alice": ("ACCEPTED", None),
        "bob": ("NEEDS-ACTION", "1.2"),
        "carol": ("NEEDS-ACTION", "1.2"),
        "zoe": ("NEEDS-ACTION", "1.1"),
        "dave": ("NEEDS-ACTION", None),
    }

    mails = about(deliver(server), uid)
    assert recipients(mails) == ["bob", "carol", "zoe"]
    for mail in mails:
        assert mail.subject.startswith("Invitation: Project kickoff ("), mail.subject
        assert mail.method_param == "REQUEST"
        assert str(mail.calendar["METHOD"]) == "REQUEST"
        assert str(master(mail.calendar)["SUMMARY"]) == "Project kickoff"
        assert mail.message["Reply-To"] is not None
        assert "alice@example.org" in str(mail.message["Reply-To"])
        text = mail.text
        for needle in ("Project kickoff", "Room 4", "Europe/Berlin", "10:00", "Alice Able"):
            assert needle in text, (needle, text)
    [zoe] = to(mails, "zoe")
    assert sorted(zoe.links()) == ["accepted", "declined", "tentative"]
    for link in zoe.links().values():
        assert link.startswith("/.invite/"), link
    [bob] = to(mails, "bob")
    assert bob.links() == {}


def test_copy_lands_in_the_first_calendar_that_takes_events(server: LiveServer) -> None:
    """1 (default calendar): Carol's task list sorts first but takes no events."""
    uid = unique("default")
    organize(server, meeting(uid, ["carol"]))
    assert "carol/a-tasks" not in copies(server, uid)
    assert "carol/personal" in copies(server, uid)


def test_meeting_with_email_off_sends_no_email_to_accounts_but_always_to_outsiders(
    server: LiveServer,
) -> None:
    """1 + 4 with X-CALSERVER-EMAIL:OFF: Bob gets his copy and inbox item, no e-mail;
    Zoe (no account) is e-mailed; Bob's answer reaches Alice's inbox but no e-mail."""
    uid = unique("quiet")
    organize(server, meeting(uid, ["bob", "zoe"], extra="X-CALSERVER-EMAIL:OFF\r\n"))
    assert "bob/calendar" in copies(server, uid)
    assert methods(inbox(server, "bob", uid)) == ["REQUEST"]
    assert recipients(about(deliver(server), uid)) == ["zoe"]

    answer(server, "bob", uid, "ACCEPTED")
    assert partstat(master(organizer_copy(server, uid)), "bob") == "ACCEPTED"
    assert methods(inbox(server, "alice", uid)) == ["REPLY"]
    assert about(deliver(server), uid) == []

    # 3 with e-mail off: the CANCEL reaches Bob's inbox, the e-mail only Zoe.
    assert send(server, "DELETE", f"/alice/work/{uid}.ics", user="alice").status in (200, 204)
    assert copies(server, uid) == {}
    assert methods(inbox(server, "bob", uid)) == ["CANCEL"]
    mails = about(deliver(server), uid)
    assert recipients(mails) == ["zoe"]
    assert mails[0].method_param == "CANCEL"


# --- 4. answers of attendees with an account ------------------------------------------------


def test_attendee_accepts_in_their_copy_and_the_organizer_learns_it_with_the_reason(
    server: LiveServer,
) -> None:
    """4: PARTSTAT + SCHEDULE-STATUS 2.0 in the organizer's copy, REPLY in her inbox,
    an "Accepted" e-mail with the reason, and the other attendee sees it."""
    uid = unique("accept")
    organize(server, meeting(uid, ["bob", "carol"], summary="Budget review"))
    deliver(server)  # the invitations

    answer(server, "bob", uid, "ACCEPTED", comment="Happy to join")

    event = master(organizer_copy(server, uid))
    assert answers(event)["bob"] == ("ACCEPTED", "2.0")
    assert answers(event)["carol"] == ("NEEDS-ACTION", "1.2")
    [reply] = inbox(server, "alice", uid)
    assert str(reply["METHOD"]) == "REPLY"
    assert partstat(master(reply), "bob") == "ACCEPTED"
    assert partstat(master(copy_of(server, "bob", uid)[1]), "bob") == "ACCEPTED"
    assert partstat(master(copy_of(server, "carol", uid)[1]), "bob") == "ACCEPTED"

    [notice] = about(deliver(server), uid)
    assert notice.to == ["alice@example.org"]
    assert notice.subject.startswith("Accepted: Budget review"), notice.subject
    assert "Bob Builder" in notice.subject or "bob@example.org" in notice.subject
    assert "Happy to join" in notice.text


def test_attendee_changes_the_answer_later_and_declines_keeping_the_meeting(
    server: LiveServer,
) -> None:
    """4 (decline and keep; changing the answer later): the copy stays, DECLINED."""
    uid = unique("keep")
    organize(server, meeting(uid, ["bob"], summary="Offsite"))
    answer(server, "bob", uid, "TENTATIVE")
    assert answers(master(organizer_copy(server, uid)))["bob"] == ("TENTATIVE", "2.0")
    deliver(server)

    answer(server, "bob", uid, "DECLINED", comment="On holiday")

    assert "bob/calendar" in copies(server, uid)
    assert partstat(master(copy_of(server, "bob", uid)[1]), "bob") == "DECLINED"
    assert answers(master(organizer_copy(server, uid)))["bob"] == ("DECLINED", "2.0")
    # The newer REPLY of an attendee replaces the older one in the inbox.
    [reply] = inbox(server, "alice", uid)
    assert str(reply["METHOD"]) == "REPLY"
    assert partstat(master(reply), "bob") == "DECLINED"
    [notice] = about(deliver(server), uid)
    assert notice.subject.startswith("Declined: Offsite"), notice.subject
    assert "On holiday" in notice.text


def test_attendee_deleting_the_copy_declines_and_removes_it(server: LiveServer) -> None:
    """4 (decline and remove): DELETE of the copy = REPLY DECLINED."""
    uid = unique("remove")
    organize(server, meeting(uid, ["bob", "carol"]))
    event, _ = copy_of(server, "bob", uid)
    event.delete()

    assert "bob/calendar" not in copies(server, uid)
    assert answers(master(organizer_copy(server, uid)))["bob"] == ("DECLINED", "2.0")
    [reply] = inbox(server, "alice", uid)
    assert str(reply["METHOD"]) == "REPLY"
    assert partstat(master(reply), "bob") == "DECLINED"
    assert partstat(master(copy_of(server, "carol", uid)[1]), "bob") == "DECLINED"
    notices = to(about(deliver(server), uid), "alice")
    assert [n.subject.split(":")[0] for n in notices] == ["Declined"]


def test_recurring_meeting_one_notice_for_the_series_and_answers_per_occurrence(
    server: LiveServer,
) -> None:
    """4 (recurring): one copy, one inbox item, one e-mail per series; Bob accepts the
    series and declines the second occurrence with an override."""
    uid = unique("weekly")
    organize(
        server, meeting(uid, ["bob"], summary="Standup", extra="RRULE:FREQ=WEEKLY;COUNT=4\r\n")
    )
    assert set(copies(server, uid)) == {"alice/work", "bob/calendar"}
    assert methods(inbox(server, "bob", uid)) == ["REQUEST"]
    assert recipients(about(deliver(server), uid)) == ["bob"]

    event, _ = copy_of(server, "bob", uid)
    with event.edit_icalendar_instance() as cal:
        series = master(cal)
        for value in attendee_values(series):
            if str(value).lower() == "mailto:bob@example.org":
                value.params["PARTSTAT"] = "ACCEPTED"
        second = parse(
            meeting(
                uid,
                attendee("bob", "DECLINED"),
                summary="Standup",
                start="DTSTART:20301111T100000Z",
                end="DTEND:20301111T110000Z",
                extra="RECURRENCE-ID:20301111T100000Z\r\n",
            )
        ).walk("VEVENT")[0]
        cal.add_component(second)
    event.save(increase_seqno=False, only_this_recurrence=False)

    stored = organizer_copy(server, uid)
    assert partstat(master(stored), "bob") == "ACCEPTED"
    instance = override(stored, "20301111T100000Z")
    assert instance is not None, stored.to_ical()
    assert partstat(instance, "bob") == "DECLINED"
    assert override(stored, "20301118T100000Z") is None


@pytest.mark.parametrize("change", ["summary", "other-attendee", "organizer", "dtstart"])
def test_attendee_may_change_only_their_own_answer_and_a_refusal_changes_nothing(
    server: LiveServer, change: str
) -> None:
    """4 + 7 + Bad input (an attendee forging an answer for someone else): 403
    allowed-attendee-scheduling-object-change; no copy, inbox item or e-mail changes."""
    uid = unique("forge")
    organize(server, meeting(uid, ["bob", "carol"], summary="Retro"))
    event, copy = copy_of(server, "bob", uid)
    before = {user: get(server, user, path) for user, path in copy_paths(server, uid).items()}
    mails_before = len(queued(server, uid))
    inboxes_before = {u: len(inbox(server, u, uid)) for u in ("alice", "bob", "carol")}

    component = master(copy)
    if change == "summary":
        component["SUMMARY"] = "Retro (moved to the pub)"
    elif change == "dtstart":  # the whole meeting a day later (an end before its start is a 400)
        for name, hour in (("DTSTART", 10), ("DTEND", 11)):
            component.pop(name)
            component.add(name, dt.datetime(2030, 11, 5, hour, tzinfo=dt.UTC))
    elif change == "organizer":
        component["ORGANIZER"] = icalendar.vCalAddress("mailto:bob@example.org")
    else:  # Bob accepts for Carol
        for value in attendee_values(component):
            if str(value).lower() == "mailto:carol@example.org":
                value.params["PARTSTAT"] = "ACCEPTED"
    reply = put(server, "bob", _path(event), copy)

    assert reply.status == 403, (reply.status, reply.text)
    assert precondition(reply.text) == ALLOWED_ATTENDEE, reply.text
    after = {user: get(server, user, path) for user, path in copy_paths(server, uid).items()}
    assert after == before
    assert answers(master(organizer_copy(server, uid)))["carol"] == ("NEEDS-ACTION", "1.2")
    assert len(queued(server, uid)) == mails_before
    assert {u: len(inbox(server, u, uid)) for u in ("alice", "bob", "carol")} == inboxes_before


def _path(event: object) -> str:
    return path_of(event.url)  # type: ignore[attr-defined]


# --- 2. the organizer changes the meeting -----------------------------------------------------


def test_significant_change_bumps_sequence_resets_answers_and_sends_updates(
    server: LiveServer,
) -> None:
    """2 (significant): SEQUENCE = old + 1, every answer back to NEEDS-ACTION in the
    organizer's copy and the copies, REQUEST to everyone, "Updated invitation" e-mails."""
    uid = unique("moved")
    text = meeting(uid, ["bob", "carol", "zoe"], summary="Design review")
    organize(server, text)
    answer(server, "bob", uid, "ACCEPTED")
    answer(server, "carol", uid, "TENTATIVE")
    deliver(server)

    # Alice's client sends the new time with the answers it had seen (none).
    moved = text.replace("20301104T100000Z", "20301104T140000Z").replace(
        "20301104T110000Z", "20301104T150000Z"
    )
    reply = put(server, "alice", f"/alice/work/{uid}.ics", moved)
    assert reply.status in (201, 204), (reply.status, reply.text)

    event = master(organizer_copy(server, uid))
    assert int(event["SEQUENCE"]) == 1
    assert answers(event) == {
        "alice": ("ACCEPTED", None),
        "bob": ("NEEDS-ACTION", "1.2"),
        "carol": ("NEEDS-ACTION", "1.2"),
        "zoe": ("NEEDS-ACTION", "1.1"),
    }
    for user in ("bob", "carol"):
        copy = master(copy_of(server, user, uid)[1])
        assert copy["DTSTART"].dt.hour == 14
        assert int(copy["SEQUENCE"]) == 1
        assert {p: partstat(copy, p) for p in ("bob", "carol")} == {
            "bob": "NEEDS-ACTION",
            "carol": "NEEDS-ACTION",
        }
        # The newer REQUEST replaces the older one in the inbox.
        [request] = inbox(server, user, uid)
        assert str(request["METHOD"]) == "REQUEST"
        assert int(master(request)["SEQUENCE"]) == 1
        assert partstat(master(request), user) == "NEEDS-ACTION"

    mails = about(deliver(server), uid)
    assert recipients(mails) == ["bob", "carol", "zoe"]
    for mail in mails:
        assert mail.subject.startswith("Updated invitation: Design review"), mail.subject
        assert mail.method_param == "REQUEST"
        assert int(master(mail.calendar)["SEQUENCE"]) == 1


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("LOCATION", "LOCATION:Room 4", "LOCATION:Room 5"),
        ("DESCRIPTION", "DESCRIPTION:Agenda for Planning", "DESCRIPTION:New agenda"),
        ("DTEND", "DTEND:20301104T110000Z", "DTEND:20301104T120000Z"),
        ("RRULE", "SUMMARY:Planning", "SUMMARY:Planning\r\nRRULE:FREQ=DAILY;COUNT=2"),
    ],
)
def test_each_significant_property_resets_the_answers(
    server: LiveServer, name: str, old: str, new: str
) -> None:
    """2 (significant): LOCATION, DESCRIPTION, DTEND, RRULE each count."""
    uid = unique(name.lower())
    text = meeting(uid, ["bob"])
    organize(server, text)
    answer(server, "bob", uid, "ACCEPTED")
    assert old in text
    reply = put(server, "alice", f"/alice/work/{uid}.ics", text.replace(old, new))
    assert reply.status in (201, 204), (reply.status, reply.text)
    event = master(organizer_copy(server, uid))
    assert int(event["SEQUENCE"]) == 1
    assert answers(event)["bob"] == ("NEEDS-ACTION", "1.2")
    assert partstat(master(copy_of(server, "bob", uid)[1]), "bob") == "NEEDS-ACTION"


def test_minor_change_keeps_answers_updates_copies_silently_and_invites_newcomers(
    server: LiveServer,
) -> None:
    """2 (not significant): the stored answers win over the client's stale ones, the
    copies follow without notice, a new attendee is invited as in 1."""
    uid = unique("minor")
    text = meeting(uid, ["bob"], summary="Lunch")
    organize(server, text)
    answer(server, "bob", uid, "ACCEPTED")
    deliver(server)
    bob_inbox = len(inbox(server, "bob", uid))

    # Stale: Bob still NEEDS-ACTION in the client's copy; a category and Carol added.
    changed = text.replace("LOCATION:Room 4\r\n", "LOCATION:Room 4\r\nCATEGORIES:food\r\n")
    changed = changed.replace("END:VEVENT", attendee("carol") + "END:VEVENT")
    reply = put(server, "alice", f"/alice/work/{uid}.ics", changed)
    assert reply.status in (201, 204), (reply.status, reply.text)

    event = master(organizer_copy(server, uid))
    assert int(event.get("SEQUENCE", 0)) == 0
    assert answers(event)["bob"][0] == "ACCEPTED"
    assert answers(event)["carol"] == ("NEEDS-ACTION", "1.2")
    bob_copy = master(copy_of(server, "bob", uid)[1])
    assert "food" in bob_copy.to_ical().decode()
    assert partstat(bob_copy, "bob") == "ACCEPTED"
    assert len(inbox(server, "bob", uid)) == bob_inbox
    assert methods(inbox(server, "carol", uid)) == ["REQUEST"]
    assert "carol/personal" in copies(server, uid)
    mails = about(deliver(server), uid)
    assert recipients(mails) == ["carol"]
    assert mails[0].subject.startswith("Invitation: Lunch"), mails[0].subject


def test_removed_attendees_lose_the_meeting_without_any_notice(server: LiveServer) -> None:
    """2 (attendee removed): Carol's copy goes, no CANCEL, no e-mail; nor for Zoe."""
    uid = unique("dropped")
    text = meeting(uid, ["bob", "carol", "zoe"])
    organize(server, text)
    [zoe] = to(about(deliver(server), uid), "zoe")
    assert "carol/personal" in copies(server, uid)

    fewer = text.replace(attendee("carol"), "").replace(attendee("zoe"), "")
    reply = put(server, "alice", f"/alice/work/{uid}.ics", fewer)
    assert reply.status in (201, 204), (reply.status, reply.text)

    assert set(copies(server, uid)) == {"alice/work", "bob/calendar"}
    assert methods(inbox(server, "carol", uid)) == ["REQUEST"]
    assert set(answers(master(organizer_copy(server, uid)))) == {"alice", "bob"}
    assert recipients(about(deliver(server), uid)) == []
    # Zoe's link no longer answers anything.
    link = zoe.links()["accepted"].partition("?")[0]
    posted = send(server, "POST", link, "answer=accepted", FORM, user=None)
    assert posted.status == 404, (posted.status, posted.text)
    assert set(answers(master(organizer_copy(server, uid)))) == {"alice", "bob"}


def test_organizer_cannot_change_the_organizer_and_nothing_changes(server: LiveServer) -> None:
    """2 + 7 + Bad input (a PUT that changes the ORGANIZER): 403
    allowed-organizer-scheduling-object-change; the newcomer in the same PUT gets no
    copy, no inbox item, no mail row."""
    uid = unique("takeover")
    text = meeting(uid, ["bob"])
    organize(server, text)
    before = get(server, "alice", f"/alice/work/{uid}.ics")
    mails_before = len(queued(server, uid))

    hijack = text.replace(ORGANIZER, "ORGANIZER;CN=Bob:mailto:bob@example.org\r\n")
    hijack = hijack.replace("END:VEVENT", attendee("erin") + "END:VEVENT")
    reply = put(server, "alice", f"/alice/work/{uid}.ics", hijack)

    assert reply.status == 403, (reply.status, reply.text)
    assert precondition(reply.text) == ALLOWED_ORGANIZER, reply.text
    assert get(server, "alice", f"/alice/work/{uid}.ics") == before
    assert set(copies(server, uid)) == {"alice/work", "bob/calendar"}
    assert inbox(server, "erin", uid) == []
    assert methods(inbox(server, "bob", uid)) == ["REQUEST"]
    assert len(queued(server, uid)) == mails_before


# --- 3. cancellation ------------------------------------------------------------------------------


def test_organizer_deleting_the_meeting_cancels_it_everywhere(server: LiveServer) -> None:
    """3: copies gone, CANCEL in the inboxes, "Cancelled" e-mails to everyone."""
    uid = unique("cancel")
    event = organize(server, meeting(uid, ["bob", "carol", "zoe"], summary="Town hall"))
    deliver(server)

    event.delete()

    assert copies(server, uid) == {}
    for user in ("bob", "carol"):
        # The CANCEL replaces the REQUEST in the inbox.
        [cancel] = inbox(server, user, uid)
        assert str(cancel["METHOD"]) == "CANCEL"
        assert str(master(cancel)["UID"]) == uid
    mails = about(deliver(server), uid)
    assert recipients(mails) == ["bob", "carol", "zoe"]
    for mail in mails:
        assert mail.subject.startswith("Cancelled: Town hall"), mail.subject
        assert mail.method_param == "CANCEL"
        assert str(mail.calendar["METHOD"]) == "CANCEL"


# --- 6. group meetings -------------------------------------------------------------------------


def test_group_attendee_is_expanded_to_every_member(server: LiveServer) -> None:
    """6: ATTENDEE;CUTYPE=GROUP:/@team/ in the group's calendar becomes one ATTENDEE per
    member (MEMBER="/@team/", NEEDS-ACTION), each invited as in 1."""
    uid = unique("team")
    group = "ATTENDEE;CUTYPE=GROUP;CN=Team;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:/@team/\r\n"
    organize(server, meeting(uid, group, summary="Team day"), calendar="@team/plans")

    event = master(organizer_copy(server, uid, calendar="@team/plans"))
    members = {
        address: params
        for address, params in attendees(event).items()
        if address.endswith("@example.org") and address != "alice@example.org"
    }
    assert sorted(members) == ["bob@example.org", "carol@example.org", "erin@example.org"]
    for params in members.values():
        assert params.get("MEMBER") == "/@team/", params
        assert params.get("PARTSTAT") == "NEEDS-ACTION"
        assert params.get("SCHEDULE-STATUS") == "1.2"
    where = copies(server, uid)
    for user in ("bob", "carol", "erin"):
        assert where.get(f"{user}/calendar" if user != "carol" else "carol/personal"), where
        assert methods(inbox(server, user, uid)) == ["REQUEST"]
    assert "dave/calendar" not in where
    assert recipients(about(deliver(server), uid)) == ["bob", "carol", "erin"]

    # A member's answer reaches the copy in the group's calendar.
    answer(server, "erin", uid, "ACCEPTED", comment="Count me in")
    event = master(organizer_copy(server, uid, calendar="@team/plans"))
    assert answers(event)["erin"] == ("ACCEPTED", "2.0")
    assert answers(event)["bob"] == ("NEEDS-ACTION", "1.2")
    assert partstat(master(copy_of(server, "bob", uid)[1]), "erin") == "ACCEPTED"
    [reply] = inbox(server, "alice", uid)
    assert partstat(master(reply), "erin") == "ACCEPTED"
    [notice] = about(deliver(server), uid)
    assert notice.to == ["alice@example.org"] and "Count me in" in notice.text
