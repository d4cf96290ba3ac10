"""Implicit scheduling (RFC 6638 3.2) through raw CalDAV requests: the organizer's PUT
and DELETE, the attendees' copies and inboxes, the refusals, and the mail queue."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator

import icalendar
import pytest
from sqlalchemy import create_engine, select

from calserver.db.models import mail_outbox
from tests.conftest import LiveServer
from tests.e2e_support import ENGINES, module_server_with, send


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from module_server_with(request, tmp_path_factory, ["alice", "bob", "carol"])


def meeting(
    uid: str,
    *attendees: str,
    summary: str = "Planning",
    sequence: int = 0,
    extra: str = "",
    start: str = "20301201T100000Z",
) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//test//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"DTSTART:{start}",
        "DURATION:PT1H",
        f"SUMMARY:{summary}",
        f"SEQUENCE:{sequence}",
        "ORGANIZER;CN=Alice:mailto:alice@example.org",
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org",
    ]
    lines += [f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:{a}" for a in attendees]
    if extra:
        lines.append(extra)
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def ensure_calendar(server: LiveServer, user: str) -> None:
    send(server, "MKCALENDAR", f"/{user}/calendar/", user=user)


def get(server: LiveServer, path: str, user: str) -> icalendar.Calendar | None:
    reply = send(server, "GET", path, user=user)
    if reply.status == 404:
        return None
    assert reply.status == 200, (reply.status, reply.body)
    return icalendar.Calendar.from_ical(reply.body)


def partstats(calendar: icalendar.Calendar) -> dict[str, tuple[str, str]]:
    event = calendar.walk("VEVENT")[0]
    values = event.get("ATTENDEE")
    values = values if isinstance(values, list) else [values]
    return {
        str(v).lower(): (str(v.params.get("PARTSTAT")), str(v.params.get("SCHEDULE-STATUS", "")))
        for v in values
    }


def inbox(server: LiveServer, user: str) -> list[str]:
    reply = send(server, "PROPFIND", f"/{user}/inbox/", headers={"Depth": "1"}, user=user)
    assert reply.status == 207
    hrefs = [e.text or "" for e in reply.xml().iter("{DAV:}href")]
    return [h for h in hrefs if h.endswith(".ics")]


def mails(server: LiveServer) -> list[str]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return [
                row.message for row in conn.execute(select(mail_outbox).order_by(mail_outbox.c.id))
            ]
    finally:
        engine.dispose()


def test_invitation_reaches_account_and_external_attendee(server: LiveServer) -> None:
    for user in ("alice", "bob"):
        ensure_calendar(server, user)
    uid = str(uuid.uuid4())
    before = len(mails(server))
    reply = send(
        server,
        "PUT",
        f"/alice/calendar/{uid}.ics",
        meeting(uid, "mailto:bob@example.org", "mailto:dora@elsewhere.example"),
        headers={"Content-Type": "text/calendar"},
    )
    assert reply.status == 201, reply.body
    organizer = get(server, f"/alice/calendar/{uid}.ics", "alice")
    assert organizer is not None
    states = partstats(organizer)
    assert states["mailto:bob@example.org"] == ("NEEDS-ACTION", "1.2")
    assert states["mailto:dora@elsewhere.example"] == ("NEEDS-ACTION", "1.1")
    copy = get(server, f"/bob/calendar/{uid}.ics", "bob")
    assert copy is not None
    assert partstats(copy)["mailto:bob@example.org"][0] == "NEEDS-ACTION"
    assert any(href for href in inbox(server, "bob"))
    new_mail = mails(server)[before:]
    assert len(new_mail) == 2
    assert any("dora@elsewhere.example" in m and "/.invite/" in m for m in new_mail)


def test_attendee_answer_updates_organizer_and_forgery_is_refused(server: LiveServer) -> None:
    for user in ("alice", "bob", "carol"):
        ensure_calendar(server, user)
    uid = str(uuid.uuid4())
    send(
        server,
        "PUT",
        f"/alice/calendar/{uid}.ics",
        meeting(uid, "mailto:bob@example.org", "mailto:carol@example.org"),
    )
    copy = send(server, "GET", f"/bob/calendar/{uid}.ics", user="bob").text
    forged = copy.replace(
        "PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@example.org",
        "PARTSTAT=ACCEPTED:mailto:carol@example.org",
    )
    if forged == copy:  # parameters in another order
        forged = copy.replace("mailto:carol@example.org", "mailto:carol@example.org", 1)
    reply = send(
        server,
        "PUT",
        f"/bob/calendar/{uid}.ics",
        forged.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"),
        user="bob",
    )
    assert reply.status == 403, reply.body
    assert b"allowed-attendee-scheduling-object-change" in reply.body
    answered = icalendar.Calendar.from_ical(copy)
    event = answered.walk("VEVENT")[0]
    for attendee in event.get("ATTENDEE"):
        if str(attendee).lower() == "mailto:bob@example.org":
            attendee.params["PARTSTAT"] = "DECLINED"
    event.add("COMMENT", "I am away that week")
    reply = send(server, "PUT", f"/bob/calendar/{uid}.ics", answered.to_ical(), user="bob")
    assert reply.status in (201, 204), reply.body
    organizer = get(server, f"/alice/calendar/{uid}.ics", "alice")
    assert organizer is not None
    assert partstats(organizer)["mailto:bob@example.org"] == ("DECLINED", "2.0")
    assert partstats(organizer)["mailto:carol@example.org"][0] == "NEEDS-ACTION"
    carol = get(server, f"/carol/calendar/{uid}.ics", "carol")
    assert carol is not None and partstats(carol)["mailto:bob@example.org"][0] == "DECLINED"
    assert any("I am away that week" in m for m in mails(server))


def test_significant_change_resets_answers_and_delete_cancels(server: LiveServer) -> None:
    for user in ("alice", "bob"):
        ensure_calendar(server, user)
    uid = str(uuid.uuid4())
    send(server, "PUT", f"/alice/calendar/{uid}.ics", meeting(uid, "mailto:bob@example.org"))
    answered = send(server, "GET", f"/bob/calendar/{uid}.ics", user="bob").text.replace(
        "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"
    )
    assert send(server, "PUT", f"/bob/calendar/{uid}.ics", answered, user="bob").status in (
        201,
        204,
    )
    assert (
        partstats(get(server, f"/alice/calendar/{uid}.ics", "alice"))["mailto:bob@example.org"][0]
        == "ACCEPTED"
    )  # type: ignore[arg-type]
    # the organizer's client sends a stale PARTSTAT with a change of nothing significant
    same = meeting(uid, "mailto:bob@example.org", extra="CATEGORIES:work")
    assert send(server, "PUT", f"/alice/calendar/{uid}.ics", same).status == 204
    assert (
        partstats(get(server, f"/alice/calendar/{uid}.ics", "alice"))["mailto:bob@example.org"][0]
        == "ACCEPTED"
    )  # type: ignore[arg-type]
    moved = meeting(uid, "mailto:bob@example.org", start="20301202T100000Z")
    assert send(server, "PUT", f"/alice/calendar/{uid}.ics", moved).status == 204
    organizer = get(server, f"/alice/calendar/{uid}.ics", "alice")
    assert organizer is not None
    assert partstats(organizer)["mailto:bob@example.org"][0] == "NEEDS-ACTION"
    assert int(organizer.walk("VEVENT")[0]["SEQUENCE"]) == 1
    copy = get(server, f"/bob/calendar/{uid}.ics", "bob")
    assert copy is not None and int(copy.walk("VEVENT")[0]["SEQUENCE"]) == 1
    assert send(server, "DELETE", f"/alice/calendar/{uid}.ics").status in (200, 204)
    assert get(server, f"/bob/calendar/{uid}.ics", "bob") is None


def test_changing_the_organizer_is_refused_and_changes_nothing(server: LiveServer) -> None:
    ensure_calendar(server, "alice")
    uid = str(uuid.uuid4())
    send(server, "PUT", f"/alice/calendar/{uid}.ics", meeting(uid, "mailto:bob@example.org"))
    before = len(mails(server))
    hijacked = meeting(uid, "mailto:bob@example.org", summary="Other").replace(
        "ORGANIZER;CN=Alice:mailto:alice@example.org", "ORGANIZER:mailto:carol@example.org"
    )
    reply = send(server, "PUT", f"/alice/calendar/{uid}.ics", hijacked)
    assert reply.status == 403
    assert b"allowed-organizer-scheduling-object-change" in reply.body
    organizer = get(server, f"/alice/calendar/{uid}.ics", "alice")
    assert organizer is not None and str(organizer.walk("VEVENT")[0]["SUMMARY"]) == "Planning"
    assert len(mails(server)) == before


def test_one_occurrence_declined_reaches_the_organizer_as_an_override(server: LiveServer) -> None:
    for user in ("alice", "bob"):
        ensure_calendar(server, user)
    uid = str(uuid.uuid4())
    series = meeting(uid, "mailto:bob@example.org", extra="RRULE:FREQ=WEEKLY;COUNT=5")
    before = len(mails(server))
    assert send(server, "PUT", f"/alice/calendar/{uid}.ics", series).status == 201
    assert len(mails(server)) == before + 1  # one invitation for the whole series
    copy = get(server, f"/bob/calendar/{uid}.ics", "bob")
    assert copy is not None
    master = copy.walk("VEVENT")[0]
    override = icalendar.Event()
    for name in ("UID", "SUMMARY", "ORGANIZER", "SEQUENCE", "DTSTAMP"):
        override.add(name, master[name])
    override.add("RECURRENCE-ID", master["DTSTART"].dt + dt.timedelta(days=7))
    override.add("DTSTART", master["DTSTART"].dt + dt.timedelta(days=7))
    override.add("DURATION", dt.timedelta(hours=1))
    for attendee in master.get("ATTENDEE"):
        value = icalendar.vCalAddress(str(attendee))
        value.params.update(attendee.params)
        if str(attendee).lower() == "mailto:bob@example.org":
            value.params["PARTSTAT"] = "DECLINED"
        override.add("ATTENDEE", value)
    copy.add_component(override)
    reply = send(server, "PUT", f"/bob/calendar/{uid}.ics", copy.to_ical(), user="bob")
    assert reply.status in (201, 204), reply.body
    organizer = get(server, f"/alice/calendar/{uid}.ics", "alice")
    assert organizer is not None
    parts = {
        str(e.get("RECURRENCE-ID").to_ical().decode()) if e.get("RECURRENCE-ID") else "": e
        for e in organizer.walk("VEVENT")
    }
    assert len(parts) == 2
    [instance] = [e for k, e in parts.items() if k]
    assert instance["RECURRENCE-ID"].dt == dt.datetime(2030, 12, 8, 10, 0, tzinfo=dt.UTC)
    wanted = {str(a).lower(): str(a.params["PARTSTAT"]) for a in instance.get("ATTENDEE")}
    assert wanted["mailto:bob@example.org"] == "DECLINED"
    master_states = {str(a).lower(): str(a.params["PARTSTAT"]) for a in parts[""].get("ATTENDEE")}
    assert master_states["mailto:bob@example.org"] == "NEEDS-ACTION"


def test_a_group_attendee_becomes_every_member(server: LiveServer) -> None:
    from tests.e2e_support import calserver

    for user in ("alice", "bob", "carol"):
        ensure_calendar(server, user)
    group = "team" + uuid.uuid4().hex[:6]
    calserver(server, "group", "create", group)
    for user in ("alice", "bob", "carol"):
        calserver(server, "group", "add-member", group, user)
    uid = str(uuid.uuid4())
    body = meeting(uid, f"/@{group}/")
    reply = send(server, "PUT", f"/alice/calendar/{uid}.ics", body)
    assert reply.status == 201, reply.body
    organizer = get(server, f"/alice/calendar/{uid}.ics", "alice")
    assert organizer is not None
    attendees = organizer.walk("VEVENT")[0].get("ATTENDEE")
    members = {str(a).lower(): a.params for a in attendees if a.params.get("MEMBER")}
    assert set(members) == {"mailto:bob@example.org", "mailto:carol@example.org"}
    for params in members.values():
        assert params["MEMBER"] == f"/@{group}/" and params["SCHEDULE-STATUS"] == "1.2"
    for user in ("bob", "carol"):
        copy = get(server, f"/{user}/calendar/{uid}.ics", user)
        assert copy is not None, user


def test_schedule_reply_f_stores_the_answer_without_telling_the_organizer(
    server: LiveServer,
) -> None:
    for user in ("alice", "bob"):
        ensure_calendar(server, user)
    uid = str(uuid.uuid4())
    send(server, "PUT", f"/alice/calendar/{uid}.ics", meeting(uid, "mailto:bob@example.org"))
    answered = send(server, "GET", f"/bob/calendar/{uid}.ics", user="bob").text.replace(
        "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"
    )
    reply = send(
        server, "PUT", f"/bob/calendar/{uid}.ics", answered, {"Schedule-Reply": "F"}, user="bob"
    )
    assert reply.status == 204
    organizer = get(server, f"/alice/calendar/{uid}.ics", "alice")
    assert organizer is not None
    assert partstats(organizer)["mailto:bob@example.org"][0] == "NEEDS-ACTION"
    copy = get(server, f"/bob/calendar/{uid}.ics", "bob")
    assert copy is not None and partstats(copy)["mailto:bob@example.org"][0] == "ACCEPTED"


def test_a_rewritten_meeting_is_answered_without_etag(server: LiveServer) -> None:
    ensure_calendar(server, "alice")
    uid = str(uuid.uuid4())
    reply = send(server, "PUT", f"/alice/calendar/{uid}.ics", meeting(uid, "mailto:x@y.example"))
    assert reply.status == 201 and "etag" not in reply.headers
    plain = meeting(uid + "-plain").replace("ORGANIZER;CN=Alice:mailto:alice@example.org\r\n", "")
    plain = plain.replace("ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n", "")
    reply = send(server, "PUT", f"/alice/calendar/{uid}-plain.ics", plain)
    assert reply.status == 201 and "etag" in reply.headers


def test_too_many_attendees_are_refused_with_nothing_sent(server: LiveServer) -> None:
    ensure_calendar(server, "alice")
    uid = str(uuid.uuid4())
    before = len(mails(server))
    crowd = [f"mailto:guest{n}@crowd.example" for n in range(501)]
    reply = send(server, "PUT", f"/alice/calendar/{uid}.ics", meeting(uid, *crowd))
    assert reply.status == 403
    assert b"max-attendees-per-instance" in reply.body
    assert get(server, f"/alice/calendar/{uid}.ics", "alice") is None
    assert len(mails(server)) == before


def test_organizer_turns_email_off_for_one_meeting_through_the_api(server: LiveServer) -> None:
    for user in ("alice", "bob"):
        ensure_calendar(server, user)
    uid = str(uuid.uuid4())
    send(server, "PUT", f"/alice/calendar/{uid}.ics", meeting(uid, "mailto:bob@example.org"))
    json_headers = {"Content-Type": "application/json"}
    path = f"/.api/v1/me/meetings/{uid}"
    assert send(server, "PATCH", path, '{"email": "no"}', json_headers).status == 400
    assert send(server, "PATCH", path, '{"email": false}', json_headers, user="bob").status == 404
    assert send(server, "PATCH", path, '{"email": false}', json_headers).status == 204
    listed = json.loads(send(server, "GET", "/.api/v1/me/meetings").body)["meetings"]
    assert [m["email"] for m in listed if m["uid"] == uid] == [False]
    before = len(mails(server))
    answered = send(server, "GET", f"/bob/calendar/{uid}.ics", user="bob").text.replace(
        "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"
    )
    assert send(server, "PUT", f"/bob/calendar/{uid}.ics", answered, user="bob").status == 204
    organizer = get(server, f"/alice/calendar/{uid}.ics", "alice")
    assert organizer is not None
    assert partstats(organizer)["mailto:bob@example.org"] == ("ACCEPTED", "2.0")
    assert len(mails(server)) == before  # no "Accepted:" notice for this meeting
    assert send(server, "PATCH", path, '{"email": true}', json_headers).status == 204
    listed = json.loads(send(server, "GET", "/.api/v1/me/meetings").body)["meetings"]
    assert [m["email"] for m in listed if m["uid"] == uid] == [True]


def test_a_folded_organizer_line_is_still_the_organizer(server: LiveServer) -> None:
    for user in ("alice", "bob"):
        ensure_calendar(server, user)
    uid = str(uuid.uuid4())
    body = meeting(uid, "mailto:bob@example.org").replace(
        "ORGANIZER;CN=Alice:mailto:alice@example.org",
        "ORGANIZER;CN=Alice:mailto:ali\r\n ce@example.org",  # RFC 5545 3.1 folding
    )
    assert send(server, "PUT", f"/alice/calendar/{uid}.ics", body).status == 201
    copy = get(server, f"/bob/calendar/{uid}.ics", "bob")
    assert copy is not None and partstats(copy)["mailto:bob@example.org"][0] == "NEEDS-ACTION"
