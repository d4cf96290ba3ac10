"""iMIP e-mail (RFC 6047) and answer links, as pure functions: the messages the engine
queues, the REPLY ``calserver imip-receive`` takes in, the signed tokens of
``/.invite/``; and the error answers of ``/.invite/`` and ``imip-receive`` that need no
meeting. (Meetings answered end to end: tests/test_scheduling*.py.)"""

from __future__ import annotations

import contextlib
import email
import io
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import pytest

from calserver import cli, keys
from calserver.scheduling import imip, links
from tests.conftest import WSGIClient

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
STORE_POLICY = policy.default.clone(cte_type="7bit")  # as calserver.mail.outbox stores


def meeting(method: str = "REQUEST", summary: str = "Réunion café", extra: str = "") -> Any:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n"
        f"METHOD:{method}\r\n"
        "BEGIN:VEVENT\r\nUID:meet-1@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART;TZID=Europe/Paris:20261121T090000\r\n"
        "DTEND;TZID=Europe/Paris:20261121T100000\r\n"
        f"SUMMARY:{summary}\r\nLOCATION:Salle 2\r\nSEQUENCE:1\r\n"
        "ORGANIZER;CN=Alice Able:mailto:alice@example.org\r\n"
        "ATTENDEE;CN=Zoë Outside;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:zoe@outside.example\r\n"
        f"{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return icalendar.Calendar.from_ical(text)


def reply(attendee: str = "zoe@outside.example", partstat: str = "ACCEPTED") -> Any:
    return icalendar.Calendar.from_ical(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//client//EN\r\nMETHOD:REPLY\r\n"
        "BEGIN:VEVENT\r\nUID:meet-1@example.org\r\nDTSTAMP:20260102T000000Z\r\n"
        "DTSTART;TZID=Europe/Paris:20261121T090000\r\nSEQUENCE:1\r\n"
        "ORGANIZER:mailto:alice@example.org\r\n"
        f"ATTENDEE;PARTSTAT={partstat}:mailto:{attendee}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def notice(method: str = "REQUEST", **extra: Any) -> imip.Notice:
    fields: dict[str, Any] = {
        "method": method,
        "calendar": meeting("REPLY" if method == "REPLY" else method),
        "recipient": "zoe@outside.example",
        "recipient_name": "Zoë Outside",
        "organizer": "alice@example.org",
        "organizer_name": "Alice Able",
    }
    fields.update(extra)
    return imip.Notice(**fields)


def wire(message: EmailMessage) -> bytes:
    """The message as the outbox stores and sends it."""
    text = message.as_string(policy=STORE_POLICY)
    assert text.isascii()
    return text.encode("ascii")


def parse(message: EmailMessage) -> EmailMessage:
    return email.message_from_bytes(wire(message), policy=policy.default)  # type: ignore[return-value]


def part(message: EmailMessage, content_type: str) -> EmailMessage:
    found = [p for p in message.walk() if p.get_content_type() == content_type]
    assert len(found) == 1, [p.get_content_type() for p in message.walk()]
    return found[0]  # type: ignore[return-value]


# --- build_message ----------------------------------------------------------------------


def test_invitation_is_ascii_on_the_wire_and_reads_back_unicode():
    sent = parse(imip.build_message(notice()))
    assert sent["Subject"] == "Invitation: Réunion café (Sat 21 Nov 2026)"
    assert sent["To"].addresses[0].display_name == "Zoë Outside"
    assert sent["To"].addresses[0].addr_spec == "zoe@outside.example"
    assert "From" not in sent  # the worker sets [smtp] sender
    assert sent["MIME-Version"] == "1.0"
    assert sent.get_content_type() == "multipart/mixed"


def test_invitation_reply_to_is_the_organizer():
    sent = parse(imip.build_message(notice()))
    assert sent["Reply-To"].addresses[0].addr_spec == "alice@example.org"
    assert sent["Reply-To"].addresses[0].display_name == "Alice Able"


def test_rfc6047_text_calendar_part_has_the_method_of_the_object():
    for method in ("REQUEST", "CANCEL"):
        sent = parse(imip.build_message(notice(method)))
        calendar_part = part(sent, "text/calendar")
        assert calendar_part.get_param("method") == method
        assert calendar_part.get_content_charset() == "utf-8"
        itip = icalendar.Calendar.from_ical(calendar_part.get_content())
        assert str(itip["METHOD"]) == method
        assert str(itip.walk("VEVENT")[0]["SUMMARY"]) == "Réunion café"
        assert str(itip.walk("VEVENT")[0]["UID"]) == "meet-1@example.org"


def test_calendar_is_in_an_alternative_and_attached_as_invite_ics():
    sent = parse(imip.build_message(notice()))
    alternative = part(sent, "multipart/alternative")
    kinds = [p.get_content_type() for p in alternative.iter_parts()]
    assert kinds == ["text/plain", "text/calendar"]
    attachment = part(sent, "application/ics")
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_disposition() == "attachment"
    attached = icalendar.Calendar.from_ical(attachment.get_content())
    assert str(attached["METHOD"]) == "REQUEST"


def test_readable_text_names_time_zone_place_organizer():
    sent = parse(imip.build_message(notice()))
    text = part(sent, "text/plain").get_content()
    assert "Alice Able invites you to a meeting" in text
    assert "Réunion café" in text
    assert "Sat 21 Nov 2026, 09:00\u201310:00 (Europe/Paris)" in text
    assert "Salle 2" in text
    assert "Alice Able <alice@example.org>" in text
    assert "Answer with your calendar application" in text


def test_readable_text_lists_the_answer_links():
    urls = links.answer_urls("https://cal.example.org/dav", "TOKEN.SIG")
    sent = parse(imip.build_message(notice(links=urls)))
    text = part(sent, "text/plain").get_content()
    for answer in ("accepted", "tentative", "declined"):
        assert f"https://cal.example.org/dav/.invite/TOKEN.SIG?answer={answer}" in text
    assert text.index("Accept:") < text.index("Maybe:") < text.index("Decline:")


def test_updated_invitation_subject_and_text():
    sent = parse(imip.build_message(notice(changed=True)))
    assert sent["Subject"] == "Updated invitation: Réunion café (Sat 21 Nov 2026)"
    assert "Alice Able updated the meeting" in part(sent, "text/plain").get_content()


def test_cancellation_subject_and_text():
    sent = parse(imip.build_message(notice("CANCEL")))
    assert sent["Subject"] == "Cancelled: Réunion café (Sat 21 Nov 2026)"
    assert "Alice Able cancelled the meeting" in part(sent, "text/plain").get_content()


@pytest.mark.parametrize(
    ("partstat", "word"),
    [("ACCEPTED", "Accepted"), ("DECLINED", "Declined"), ("TENTATIVE", "Tentative")],
)
def test_answer_notice_to_the_organizer(partstat: str, word: str):
    sent = parse(
        imip.build_message(
            notice(
                "REPLY",
                recipient="alice@example.org",
                recipient_name="Alice Able",
                attendee="mailto:zoe@outside.example",
                attendee_name="Zoë Outside",
                partstat=partstat,
                comment="Je serai en retard",
            )
        )
    )
    assert sent["Subject"] == f"{word}: Réunion café (Zoë Outside)"
    assert sent["Reply-To"].addresses[0].addr_spec == "zoe@outside.example"
    assert part(sent, "text/calendar").get_param("method") == "REPLY"
    text = part(sent, "text/plain").get_content()
    assert f"Zoë Outside <zoe@outside.example> answered your invitation: {word.lower()}" in text
    assert "Reason: Je serai en retard" in text


def test_when_of_all_day_utc_and_floating_meetings():
    def when(dtstart: str, dtend: str) -> str:
        cal = icalendar.Calendar.from_ical(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n"
            f"{dtstart}\r\n{dtend}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        return imip.when(cal.walk("VEVENT")[0])

    assert when("DTSTART;VALUE=DATE:20261121", "DTEND;VALUE=DATE:20261122") == (
        "Sat 21 Nov 2026 (all day)"
    )
    assert when("DTSTART;VALUE=DATE:20261121", "DTEND;VALUE=DATE:20261123") == (
        "Sat 21 Nov 2026 \u2013 Sun 22 Nov 2026 (all day)"
    )
    assert when("DTSTART:20261121T080000Z", "DTEND:20261121T090000Z") == (
        "Sat 21 Nov 2026, 08:00\u201309:00 (UTC)"
    )
    assert when("DTSTART:20261121T080000", "DURATION:PT30M") == "Sat 21 Nov 2026, 08:00\u201308:30"
    assert when(
        "DTSTART;TZID=America/New_York:20261121T230000",
        "DTEND;TZID=America/New_York:20261122T010000",
    ) == ("Sat 21 Nov 2026, 23:00 \u2013 Sun 22 Nov 2026, 01:00 (America/New_York)")


def test_repeating_meeting_says_how():
    cal = meeting(extra="RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=6\r\n")
    assert imip.describe(cal).repeats == "every 2 weeks, 6 times"
    text = part(parse(imip.build_message(notice(calendar=cal))), "text/plain").get_content()
    assert "Repeats:   every 2 weeks, 6 times" in text


def test_meeting_without_summary_or_start_still_makes_a_message():
    cal = icalendar.Calendar.from_ical(
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:bare\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    sent = parse(imip.build_message(notice(calendar=cal)))
    assert sent["Subject"] == "Invitation: (no title)"


def test_html_like_and_header_breaking_summaries_stay_text():
    cal = meeting(summary="a\\nBcc: x@evil.example <b>")
    sent = parse(imip.build_message(notice(calendar=cal)))
    assert "Bcc" not in sent
    assert "\n" not in str(sent["Subject"])


def test_recipient_that_is_no_address_is_a_mail_error():
    from calserver.mail.outbox import MailError

    for bad in (
        "zoe",
        "zoe@outside.example\r\nBcc: x@evil.example",
        "a b@c.example",
        "zoë@x.example",
    ):
        with pytest.raises(MailError):
            imip.build_message(notice(recipient=bad))


# --- receiving --------------------------------------------------------------------------


def mail(calendar: Any, sender: str = "Zoë <zoe@outside.example>", *, as_file: bool = False):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "alice@example.org"
    message["Subject"] = "Accepted: Réunion café"
    message.set_content("Zoë has accepted.")
    ics = calendar.to_ical().decode("utf-8")
    if as_file:
        message.add_attachment(
            ics.encode(), maintype="application", subtype="octet-stream", filename="reply.ics"
        )
    else:
        message.add_alternative(ics, subtype="calendar", params={"method": "REPLY"})
    return email.message_from_bytes(message.as_bytes(), policy=policy.default)


def test_reply_is_found_in_text_calendar_part_and_checked_against_from():
    received = mail(reply())
    assert imip.sender(received) == "zoe@outside.example"
    found = imip.find_itip(received)
    assert str(found["METHOD"]) == "REPLY"
    assert imip.check_reply(found, "zoe@outside.example") == "mailto:zoe@outside.example"


def test_reply_is_found_in_an_ics_attachment():
    assert str(imip.find_itip(mail(reply(), as_file=True))["METHOD"]) == "REPLY"


def test_reply_from_someone_else_is_refused():
    received = mail(reply(), sender="mallory@evil.example")
    with pytest.raises(imip.Unusable, match="not the answering attendee"):
        imip.check_reply(imip.find_itip(received), imip.sender(received))


def test_only_reply_is_accepted():
    with pytest.raises(imip.Unusable, match="only REPLY"):
        imip.check_reply(meeting(), "zoe@outside.example")


def test_message_without_calendar_is_unusable():
    message = EmailMessage()
    message["From"] = "zoe@outside.example"
    message.set_content("I'll come!")
    with pytest.raises(imip.Unusable, match="no iCalendar part"):
        imip.find_itip(message)


def test_message_with_two_from_addresses_is_unusable():
    received = mail(reply(), sender="zoe@outside.example, alice@example.org")
    with pytest.raises(imip.Unusable, match="exactly one From"):
        imip.sender(received)


# --- answer links -----------------------------------------------------------------------


def token(key: bytes = KEY, expires: int | None = None) -> str:
    return links.make(
        key,
        organizer="alice",
        uid="meet-1@example.org",
        attendee="mailto:zoë@outside.example",
        sequence=3,
        expires=int(time.time()) + 3600 if expires is None else expires,
    )


def test_link_round_trip():
    made = token(expires=2_000_000_000)
    assert all(c.isascii() and (c.isalnum() or c in "-_.") for c in made)
    assert "=" not in made
    claim = links.read(KEY, made, now=1_900_000_000)
    assert claim == links.Claim(
        "alice", "meet-1@example.org", "mailto:zoë@outside.example", 3, 2_000_000_000
    )


def test_tampered_link_is_invalid():
    made = token()
    payload, _, mac = made.partition(".")
    changed = links.make(
        KEY,
        organizer="alice",
        uid="meet-1@example.org",
        attendee="mailto:mallory@evil.example",
        sequence=3,
        expires=2_000_000_000,
    ).partition(".")[0]
    for bad in (
        changed + "." + mac,  # another payload under the old signature
        payload + "." + mac[:-2] + ("AA" if not mac.endswith("AA") else "BB"),
        payload[:-1] + "." + mac,
        made + ".x",
        "",
        "no-dot",
        "a.b",
        "%%%.###",
        "x" * 5000,
    ):
        with pytest.raises(links.Invalid):
            links.read(KEY, bad, now=time.time())


def test_expired_link_is_expired():
    with pytest.raises(links.Expired):
        links.read(KEY, token(expires=1_000), now=1_000)


def test_link_from_another_key_is_invalid():
    with pytest.raises(links.Invalid):
        links.read(OTHER_KEY, token(), now=time.time())


def test_feed_tokens_cannot_pass_for_links():
    """Domain separation: an HMAC of the same payload without the link's domain fails."""
    import base64
    import hashlib
    import hmac

    payload = token().partition(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    plain = hmac.new(KEY, raw, hashlib.sha256).digest()
    forged = payload + "." + base64.urlsafe_b64encode(plain).rstrip(b"=").decode()
    with pytest.raises(links.Invalid):
        links.read(KEY, forged, now=time.time())


def test_link_expiry_rules():
    sent = 1_000_000.0
    assert links.expiry(sent + 86400, sent) == sent + 86400 + 7 * 86400
    assert links.expiry(None, sent) == sent + 400 * 86400
    assert links.expiry(sent + 1000 * 86400, sent) == sent + 400 * 86400


# --- /.invite/ answers that need no meeting ---------------------------------------------


def test_invite_errors_are_clear_4xx(client: WSGIClient):
    key = keys.server_key(client.configuration)
    good = token(key)
    assert client.request("GET", "/.invite/", user=None).status == 404
    assert client.request("GET", "/.invite/" + good + "/more", user=None).status == 404
    forged = client.request("GET", "/.invite/" + token(OTHER_KEY), user=None)
    assert forged.status == 403
    assert "not valid" in forged.text
    assert forged.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in forged.headers["content-security-policy"]
    expired = client.request("GET", "/.invite/" + token(key, expires=1000), user=None)
    assert expired.status == 410
    assert client.request("DELETE", "/.invite/" + good, user=None).status == 405
    assert client.request("GET", f"/.invite/{good}?answer=maybe", user=None).status == 400
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    bad = client.request("POST", "/.invite/" + good, "answer=perhaps", form, user=None)
    assert bad.status == 400
    assert "accepted, tentative or declined" in bad.text
    not_form = client.request("POST", "/.invite/" + good, "{}", {"Content-Type": "x/y"}, user=None)
    assert not_form.status == 415
    binary = client.request("POST", "/.invite/" + good, b"answer=\xff", form, user=None)
    assert binary.status == 400
    long = client.request(
        "POST", "/.invite/" + good, "answer=accepted&comment=" + "x" * 2000, form, user=None
    )
    assert long.status == 400


# --- calserver imip-receive refusals ----------------------------------------------------


def receive(configuration: Any, tmp_path: Path, message: Any) -> tuple[int, str, str]:
    path = tmp_path / "message.eml"
    path.write_bytes(message.as_bytes())
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(
            [
                "--storage-database-url",
                configuration.get("storage", "database_url"),
                "--storage-data-folder",
                configuration.get("storage", "data_folder"),
                "imip-receive",
                str(path),
            ]
        )
    return code, out.getvalue(), err.getvalue()


def test_imip_receive_refusals_use_sysexits(configuration: Any, engine: Any, tmp_path: Path):
    code, _, err = receive(configuration, tmp_path, mail(meeting()))
    assert (code, "only REPLY" in err) == (65, True)
    code, _, err = receive(configuration, tmp_path, mail(reply(), sender="mallory@evil.example"))
    assert (code, "not the answering attendee" in err) == (65, True)
    code, _, err = receive(configuration, tmp_path, mail(reply()))  # no such meeting here
    assert code == 67, err
    assert "Traceback" not in err
