"""End to end: answers of attendees without an account (issue 5, behaviour 5 of the
plan) -- the answer links of the invitation e-mail followed over HTTP, and an iMIP
REPLY (RFC 6047) mailed back through ``calserver imip-receive`` -- with every refusal of
the issue's "Bad input" list, and an SMTP outage; against a live ``calserver serve`` on
SQLite and PostgreSQL, the e-mails received by a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import update

from calserver import db
from calserver.db.models import mail_outbox
from tests.conftest import LiveServer, free_port
from tests.e2e_support import ENGINES, send, unique
from tests.scheduling_support import (
    Mail,
    about,
    answers,
    copy_of,
    deliver,
    email,
    get,
    inbox,
    master,
    meeting,
    methods,
    organize,
    organizer_copy,
    override,
    partstat,
    put,
    queued,
    recipients,
    server_fixture,
    to,
    worker_run,
)

pytestmark = pytest.mark.live

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
EX_DATAERR = 65
EX_NOUSER = 67


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from server_fixture(request, tmp_path_factory)


def invite(server: LiveServer, people: list[str], summary: str = "Planning") -> tuple[str, Mail]:
    """A new meeting of Alice's with ``people`` (Zoe among them); its UID and the
    invitation e-mail Zoe received."""
    uid = unique("ext")
    organize(server, meeting(uid, people, summary=summary))
    [mail] = to(about(deliver(server), uid), "zoe")
    return uid, mail


def state(server: LiveServer, uid: str) -> tuple[Any, ...]:
    """What a refused answer must leave as it was: the organizer's copy (its exact
    text), the iTIP messages in Alice's inbox and the mail rows about the meeting."""
    return (
        get(server, "alice", f"/alice/work/{uid}.ics"),
        len(inbox(server, "alice", uid)),
        len(queued(server, uid)),
    )


def server_key(server: LiveServer) -> bytes:
    return bytes.fromhex((server.data_folder / "server.key").read_text().strip())


def token_of(link: str) -> str:
    return link.removeprefix("/.invite/").partition("?")[0]


def post_answer(server: LiveServer, link: str, answer: str, comment: str = "") -> Any:
    body = urlencode({"answer": answer, "comment": comment})
    return send(server, "POST", link.partition("?")[0], body, FORM, user=None)


# --- answer links -----------------------------------------------------------------------------


def test_answer_link_page_changes_nothing_and_its_form_declines_with_the_reason(
    server: LiveServer,
) -> None:
    """5 (link): GET shows the meeting and a form, and changes nothing (mail scanners
    prefetch links); POST answer=declined with a comment applies it: the organizer's
    copy, her inbox, the other attendees' copies and a "Declined" e-mail with the
    reason."""
    uid, mail = invite(server, ["bob", "zoe"], summary="Quarterly planning")
    links = mail.links()
    before = state(server, uid)

    page = send(server, "GET", links["declined"], user=None)
    assert page.status == 200, (page.status, page.text)
    assert page.headers["content-type"].startswith("text/html")
    assert "Quarterly planning" in page.text and "Room 4" in page.text
    assert "<form" in page.text and 'method="post"' in page.text.lower()
    checked = re.findall(r'<input[^>]*value="(\w+)"[^>]*\bchecked\b', page.text)
    assert checked == ["declined"], page.text
    assert "<script" not in page.text.lower()
    assert send(server, "GET", links["accepted"], user=None).status == 200
    assert state(server, uid) == before
    assert answers(master(organizer_copy(server, uid)))["zoe"] == ("NEEDS-ACTION", "1.1")

    sent = post_answer(server, links["declined"], "declined", "Travelling that week")
    assert sent.status == 200, (sent.status, sent.text)
    assert "alice" in sent.text.lower()

    event = master(organizer_copy(server, uid))
    assert answers(event)["zoe"] == ("DECLINED", "2.0")
    [reply] = inbox(server, "alice", uid)
    assert str(reply["METHOD"]) == "REPLY"
    assert partstat(master(reply), "zoe") == "DECLINED"
    assert partstat(master(copy_of(server, "bob", uid)[1]), "zoe") == "DECLINED"
    [notice] = about(deliver(server), uid)
    assert notice.to == ["alice@example.org"]
    assert notice.subject.startswith("Declined: Quarterly planning"), notice.subject
    assert "Travelling that week" in notice.text

    # Changing the answer later with another link of the same e-mail.
    assert post_answer(server, links["accepted"], "accepted").status == 200
    assert answers(master(organizer_copy(server, uid)))["zoe"] == ("ACCEPTED", "2.0")


def test_non_ascii_and_markup_reach_the_mail_and_the_page_intact(server: LiveServer) -> None:
    """The e-mail carries a non-ASCII summary and name whole (7-bit on the wire); the
    answer page shows markup of the summary as text."""
    uid = unique("utf8")
    summary = "Café ☕ <b>Zürich</b> & co"
    people = (
        "ATTENDEE;CN=Zoë Outside;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:zoe@outside.example\r\n"
    )
    organize(server, meeting(uid, people, summary=summary))
    [row] = [row for row, mail in queued(server, uid)]
    assert row.message.isascii()
    [mail] = to(about(deliver(server), uid), "zoe")
    assert summary in mail.subject, mail.subject
    assert summary in mail.text
    assert str(master(mail.calendar)["SUMMARY"]) == summary
    assert "Zoë" in str(mail.message["To"])

    page = send(server, "GET", mail.links()["accepted"], user=None)
    assert page.status == 200, (page.status, page.text)
    assert "Café ☕ &lt;b&gt;Zürich&lt;/b&gt; &amp; co" in page.text
    assert "<b>Zürich" not in page.text


def test_expired_link_is_gone_and_changes_nothing(server: LiveServer) -> None:
    """Bad input (expired link): 410 for GET and POST, nothing changed."""
    from calserver.scheduling import links

    uid, mail = invite(server, ["zoe"])
    key = server_key(server)
    claim = links.read(key, token_of(mail.links()["accepted"]), time.time())
    assert (claim.organizer, claim.uid, claim.sequence) == ("alice", uid, 0)
    expired = links.make(
        key,
        organizer=claim.organizer,
        uid=claim.uid,
        attendee=claim.attendee,
        sequence=claim.sequence,
        expires=int(time.time()) - 60,
    )
    before = state(server, uid)

    page = send(server, "GET", f"/.invite/{expired}?answer=accepted", user=None)
    assert page.status == 410, (page.status, page.text)
    assert "expired" in page.text.lower()
    posted = post_answer(server, f"/.invite/{expired}", "accepted")
    assert posted.status == 410, (posted.status, posted.text)
    assert state(server, uid) == before
    assert answers(master(organizer_copy(server, uid)))["zoe"] == ("NEEDS-ACTION", "1.1")


@pytest.mark.parametrize("how", ["other-attendee", "other-key", "truncated"])
def test_tampered_link_is_refused_and_changes_nothing(server: LiveServer, how: str) -> None:
    """Bad input (tampered link): someone rewrites the token to answer for another
    attendee, signs one with a key of their own, or cuts it: 403, nothing changed."""
    import base64
    import json

    from calserver.scheduling import links

    uid, mail = invite(server, ["zoe", "yan"])
    token = token_of(mail.links()["accepted"])
    payload, _, signature = token.partition(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if how == "other-attendee":  # Zoe's link, made to answer for Yan
        fields[2] = fields[2].replace("zoe@", "yan@")
        assert "yan@" in fields[2]
        raw = json.dumps(fields, separators=(",", ":")).encode()
        forged = base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + signature
    elif how == "other-key":
        organizer, uid_, attendee, sequence, expires = fields
        forged = links.make(
            b"k" * 32,
            organizer=organizer,
            uid=uid_,
            attendee=attendee,
            sequence=sequence,
            expires=expires,
        )
    else:
        forged = token[:-3]
    before = state(server, uid)

    page = send(server, "GET", f"/.invite/{forged}?answer=accepted", user=None)
    assert page.status == 403, (page.status, page.text)
    posted = post_answer(server, f"/.invite/{forged}", "accepted")
    assert posted.status == 403, (posted.status, posted.text)
    assert "not valid" in posted.text
    assert state(server, uid) == before
    assert answers(master(organizer_copy(server, uid))) == {
        "alice": ("ACCEPTED", None),
        "zoe": ("NEEDS-ACTION", "1.1"),
        "yan": ("NEEDS-ACTION", "1.1"),
    }


def test_link_sent_before_a_significant_change_is_refused_with_409(server: LiveServer) -> None:
    """5 (older SEQUENCE than the meeting): the link of the first invitation, after the
    time moved, gets 409 "use the newest one"; the new e-mail's link works."""
    uid, old = invite(server, ["zoe"])
    text = get(server, "alice", f"/alice/work/{uid}.ics")[1]
    moved = text.replace("20301104T100000Z", "20301105T100000Z").replace(
        "20301104T110000Z", "20301105T110000Z"
    )
    assert put(server, "alice", f"/alice/work/{uid}.ics", moved).status in (201, 204)
    [new] = to(about(deliver(server), uid), "zoe")
    assert new.subject.startswith("Updated invitation:"), new.subject
    before = state(server, uid)

    stale = post_answer(server, old.links()["accepted"], "accepted")
    assert stale.status == 409, (stale.status, stale.text)
    assert "newest" in stale.text
    assert state(server, uid) == before

    fresh = post_answer(server, new.links()["tentative"], "tentative")
    assert fresh.status == 200, (fresh.status, fresh.text)
    assert answers(master(organizer_copy(server, uid)))["zoe"] == ("TENTATIVE", "2.0")


def test_link_of_a_cancelled_meeting_is_not_found(server: LiveServer) -> None:
    uid, mail = invite(server, ["zoe"])
    assert send(server, "DELETE", f"/alice/work/{uid}.ics", user="alice").status in (200, 204)
    [cancel] = to(about(deliver(server), uid), "zoe")
    assert cancel.subject.startswith("Cancelled:"), cancel.subject

    assert send(server, "GET", mail.links()["accepted"], user=None).status == 404
    assert post_answer(server, mail.links()["accepted"], "accepted").status == 404
    assert inbox(server, "alice", uid) == []


# --- iMIP replies through imip-receive ------------------------------------------------------------


def reply_mail(
    invitation: Mail | None,
    person: str,
    answer: str,
    *,
    sender: str | None = None,
    comment: str = "",
    sequence: int | None = None,
    uid: str | None = None,
    method: str = "REPLY",
    attachment_only: bool = False,
    recurrence_id: str = "",
) -> str:
    """The e-mail ``person``'s calendar client sends back to the invitation: an iMIP
    REPLY (RFC 6047 2.4) with their ATTENDEE and PARTSTAT, To the Reply-To."""
    if invitation is not None:
        event = master(invitation.calendar)
        uid = uid or str(event["UID"])
        seq = int(event.get("SEQUENCE", 0)) if sequence is None else sequence
        start = event["DTSTART"].to_ical().decode()
        summary = str(event["SUMMARY"])
        reply_to = str(invitation.message["Reply-To"] or "alice@example.org")
    else:
        seq, start, summary = sequence or 0, "20301104T100000Z", "Unknown"
        reply_to = "alice@example.org"
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Outside Mail 1.0//EN\r\n"
        f"METHOD:{method}\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{seq}\r\n"
        f"DTSTAMP:20261001T120000Z\r\nDTSTART:{recurrence_id or start}\r\n"
        + (f"RECURRENCE-ID:{recurrence_id}\r\n" if recurrence_id else "")
        + f"SUMMARY:{summary}\r\n"
        "ORGANIZER;CN=Alice Able:mailto:alice@example.org\r\n"
        f"ATTENDEE;CN=Someone;PARTSTAT={answer}:mailto:{email(person)}\r\n"
        + (f"COMMENT:{comment}\r\n" if comment else "")
        + "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    msg = EmailMessage()
    msg["From"] = sender or f"Someone <{email(person)}>"
    msg["To"] = reply_to
    msg["Subject"] = f"{answer.title()}: {summary}"
    if invitation is not None and invitation.message["Message-ID"]:
        msg["In-Reply-To"] = str(invitation.message["Message-ID"])
    msg.set_content(f"{person} has answered {answer.lower()}.\n")
    if attachment_only:  # as some webmail clients answer: an .ics file attached
        msg.add_attachment(
            ics.encode(), maintype="application", subtype="octet-stream", filename="reply.ics"
        )
    else:
        msg.add_alternative(ics, subtype="calendar", params={"method": method})
    return msg.as_bytes(policy=policy.default).decode("ascii")


def imip_receive(server: LiveServer, message: str) -> Any:
    """``calserver imip-receive`` as an MTA pipe runs it: a process, the message on
    stdin."""
    result = server.cli("imip-receive", stdin=message)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_reply_mailed_back_through_imip_receive_is_applied(server: LiveServer) -> None:
    """5 (e-mail): Zoe's client answers TENTATIVE with a reason: organizer's copy, her
    inbox, Bob's copy, and a "Tentative" e-mail to Alice with the reason."""
    uid, mail = invite(server, ["bob", "zoe"], summary="Roadmap")
    message = reply_mail(mail, "zoe", "TENTATIVE", comment="Might be late")

    result = imip_receive(server, message)

    assert result.returncode == 0, (result.returncode, result.stderr)
    assert len(result.stdout.strip().splitlines()) == 1, result.stdout
    assert answers(master(organizer_copy(server, uid)))["zoe"] == ("TENTATIVE", "2.0")
    assert methods(inbox(server, "alice", uid)) == ["REPLY"]
    assert partstat(master(copy_of(server, "bob", uid)[1]), "zoe") == "TENTATIVE"
    [notice] = about(deliver(server), uid)
    assert notice.to == ["alice@example.org"]
    assert notice.subject.startswith("Tentative: Roadmap"), notice.subject
    assert "Might be late" in notice.text


def test_reply_for_one_occurrence_of_a_series_answers_that_occurrence(
    server: LiveServer,
) -> None:
    """5 + 4 (recurring): one invitation for the series; Zoe's REPLY with a
    RECURRENCE-ID declines the second meeting only."""
    uid = unique("series")
    weekly = "RRULE:FREQ=WEEKLY;COUNT=3\r\n"
    organize(server, meeting(uid, ["zoe"], summary="Weekly sync", extra=weekly))
    [mail] = to(about(deliver(server), uid), "zoe")
    text = reply_mail(mail, "zoe", "DECLINED", recurrence_id="20301111T100000Z")
    result = imip_receive(server, text)
    assert result.returncode == 0, (result.returncode, result.stderr)
    stored = organizer_copy(server, uid)
    assert partstat(master(stored), "zoe") == "NEEDS-ACTION"
    instance = override(stored, "20301111T100000Z")
    assert instance is not None, stored.to_ical()
    assert partstat(instance, "zoe") == "DECLINED"


def test_reply_as_an_ics_attachment_only_is_applied(server: LiveServer) -> None:
    """imip-receive finds the REPLY in an ``.ics`` attachment as well."""
    uid, mail = invite(server, ["zoe"])
    result = imip_receive(server, reply_mail(mail, "zoe", "DECLINED", attachment_only=True))
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert answers(master(organizer_copy(server, uid)))["zoe"] == ("DECLINED", "2.0")


def test_message_without_a_calendar_is_refused_without_a_traceback(server: LiveServer) -> None:
    msg = EmailMessage()
    msg["From"] = "Zoe <zoe@outside.example>"
    msg["To"] = "alice@example.org"
    msg["Subject"] = "Re: Invitation"
    msg.set_content("Sounds good, see you there!\n")
    result = imip_receive(server, msg.as_string())
    assert result.returncode == EX_DATAERR, (result.returncode, result.stdout, result.stderr)
    assert "calendar" in result.stderr.lower() or "ics" in result.stderr.lower()


@pytest.mark.parametrize("sender", ["Mallory <mallory@outside.example>", "Bob <bob@example.org>"])
def test_reply_whose_sender_is_not_the_attendee_is_refused(server: LiveServer, sender: str) -> None:
    """Bad input (forged answer for someone else, by e-mail): From is not Zoe -> 65,
    nothing changed."""
    uid, mail = invite(server, ["bob", "zoe"])
    before = state(server, uid)

    result = imip_receive(server, reply_mail(mail, "zoe", "ACCEPTED", sender=sender))

    assert result.returncode == EX_DATAERR, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.strip(), "a clear message on stderr"
    assert state(server, uid) == before
    assert answers(master(organizer_copy(server, uid)))["zoe"] == ("NEEDS-ACTION", "1.1")


def test_reply_for_an_unknown_meeting_is_refused_as_no_such_user(server: LiveServer) -> None:
    """Bad input (REPLY for an unknown meeting): exit 67, nothing stored or queued."""
    uid = unique("nowhere")
    result = imip_receive(server, reply_mail(None, "zoe", "ACCEPTED", uid=uid))
    assert result.returncode == EX_NOUSER, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.strip()
    assert inbox(server, "alice", uid) == []
    assert queued(server, uid) == []


def test_reply_from_someone_not_invited_is_refused(server: LiveServer) -> None:
    """5 (attendee not in the meeting): Yan answers Zoe's meeting from his own address."""
    uid, mail = invite(server, ["zoe"])
    before = state(server, uid)
    result = imip_receive(server, reply_mail(mail, "yan", "ACCEPTED"))
    assert result.returncode == EX_DATAERR, (result.returncode, result.stdout, result.stderr)
    assert state(server, uid) == before
    assert "yan" not in answers(master(organizer_copy(server, uid)))


def test_reply_to_an_older_sequence_is_refused(server: LiveServer) -> None:
    """Bad input (REPLY with an old SEQUENCE): Zoe answers the first invitation after
    the time moved -> 65, her answer stays NEEDS-ACTION; the answer to the update
    works."""
    uid, first = invite(server, ["zoe"])
    text = get(server, "alice", f"/alice/work/{uid}.ics")[1]
    moved = text.replace("SUMMARY:Planning", "SUMMARY:Planning (new room)")
    assert put(server, "alice", f"/alice/work/{uid}.ics", moved).status in (201, 204)
    [update_] = to(about(deliver(server), uid), "zoe")
    assert int(master(update_.calendar)["SEQUENCE"]) == 1
    before = state(server, uid)

    old = imip_receive(server, reply_mail(first, "zoe", "ACCEPTED"))
    assert old.returncode == EX_DATAERR, (old.returncode, old.stdout, old.stderr)
    assert state(server, uid) == before
    assert answers(master(organizer_copy(server, uid)))["zoe"] == ("NEEDS-ACTION", "1.1")

    new = imip_receive(server, reply_mail(update_, "zoe", "ACCEPTED"))
    assert new.returncode == 0, (new.returncode, new.stderr)
    assert answers(master(organizer_copy(server, uid)))["zoe"] == ("ACCEPTED", "2.0")


def test_imip_receive_takes_only_replies(server: LiveServer) -> None:
    """A REQUEST from outside to a local user is not accepted: 65 "only REPLY"."""
    uid = unique("outside-request")
    message = reply_mail(None, "zoe", "ACCEPTED", uid=uid, method="REQUEST")
    result = imip_receive(server, message)
    assert result.returncode == EX_DATAERR, (result.returncode, result.stdout, result.stderr)
    assert "only REPLY" in result.stderr
    assert queued(server, uid) == [] and inbox(server, "alice", uid) == []


# --- an SMTP outage ----------------------------------------------------------------------


def test_smtp_outage_keeps_invitations_queued_and_a_later_run_delivers_each_once(
    server: LiveServer,
) -> None:
    """Bad input (an SMTP outage loses no e-mail): the worker run with the SMTP server
    down sends nothing and keeps every invitation; once it is back, each is delivered
    exactly once."""
    uid = unique("outage")
    organize(server, meeting(uid, ["bob", "zoe"], summary="Outage drill"))
    rows = queued(server, uid)
    assert recipients([mail for _, mail in rows]) == ["bob", "zoe"]

    out = worker_run(server, free_port())  # nothing listens there
    assert "failed 1 (will be retried)" in out, out
    rows = queued(server, uid)
    assert recipients([mail for _, mail in rows]) == ["bob", "zoe"]
    assert all(row.sent is None and row.failed is None for row, _ in rows), rows

    engine = db.get_engine(server.database_url)
    with engine.begin() as conn:  # as if the back-off had passed
        conn.execute(update(mail_outbox).values(not_before=0.0))
    mails = about(deliver(server), uid)
    assert recipients(mails) == ["bob", "zoe"]
    assert all(m.subject.startswith("Invitation: Outage drill") for m in mails)
    with engine.begin() as conn:
        conn.execute(update(mail_outbox).values(not_before=0.0))
    assert about(deliver(server), uid) == []
    assert all(row.sent is not None for row, _ in queued(server, uid))
