"""iMIP (RFC 6047): iTIP messages (RFC 5546) as e-mail, both ways.

Out: :func:`build_message` turns a :class:`Notice` (an invitation, an update, a
cancellation, or an answer reported to the organizer) into an e-mail that a person can
read and a calendar client can act on. In: :func:`find_itip` and :func:`check_reply`
take the iTIP REPLY out of a message an attendee's client sent back
(``calserver imip-receive``). Also :func:`describe`, the readable text of a meeting that
the e-mails and the answer page share.

Pure functions: no I/O (the engine queues the message, the CLI applies the reply).
"""

from __future__ import annotations

import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import getaddresses
from typing import Any

import icalendar

from calserver.ical.occurrences import DASH, clock, day_label
from calserver.mail.outbox import MailError
from calserver.scheduling import itip
from calserver.scheduling.addresses import email_of

#: How the message is built: 7-bit encodings chosen for every part (quoted-printable or
#: base64 for non-ASCII text, RFC 2047 encoded words in headers), as the outbox stores it.
POLICY = email.policy.default.clone(cte_type="7bit")
#: Subject prefixes of an answer reported to the organizer, by PARTSTAT.
ANSWER_WORDS = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Tentative"}
#: Labels of the answer links, in the order they are shown.
LINK_LABELS = (("ACCEPTED", "Accept"), ("TENTATIVE", "Maybe"), ("DECLINED", "Decline"))
#: At most this many attendees are named in the readable text.
MAX_NAMED_ATTENDEES = 30
NO_TITLE = "(no title)"


class Unusable(ValueError):
    """A received message that is not a usable iTIP REPLY (EX_DATAERR)."""


@dataclass
class Notice:
    """One e-mail the engine sends (see :func:`build_message`)."""

    #: "REQUEST" | "CANCEL" | "REPLY" (REPLY: an answer reported to the organizer).
    method: str
    #: The iTIP object to attach, METHOD already set.
    calendar: icalendar.Calendar
    #: E-mail address (no ``mailto:``) and CN of whom it goes to.
    recipient: str
    recipient_name: str
    #: The organizer's e-mail address ("" when they have none) and CN.
    organizer: str
    organizer_name: str
    #: REQUEST to someone without an account: {"ACCEPTED": url, "TENTATIVE": url,
    #: "DECLINED": url}.
    links: dict[str, str] = field(default_factory=dict)
    #: REPLY notice: who answered (address and CN), their answer and reason.
    attendee: str = ""
    attendee_name: str = ""
    partstat: str = ""
    comment: str = ""
    #: REQUEST: an update of a meeting sent before.
    changed: bool = False


@dataclass(frozen=True)
class Description:
    """A meeting as people read it (the first scheduled component: the master)."""

    summary: str
    #: Date and time in the meeting's own time zone, the zone named.
    when: str
    #: The start date as in a subject: ``Sat 21 Nov 2026`` ("" without DTSTART).
    day: str
    where: str
    description: str
    organizer: str
    #: "every week", "every 2 days, 10 times" ... ("" for a single meeting).
    repeats: str
    status: str
    #: (name or address, PARTSTAT) of each attendee.
    attendees: tuple[tuple[str, str], ...]


# --- reading a meeting ------------------------------------------------------------------


def components(calendar: icalendar.Calendar) -> list[Any]:
    """The scheduled components of ``calendar`` (``itip.components``), master first."""
    return sorted(itip.components(calendar), key=lambda c: "RECURRENCE-ID" in c)


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return "" if value is None else str(value).strip()


def _zone_name(prop: Any) -> str:
    """The name of the time zone of a DATE-TIME property ("" for floating time)."""
    value = prop.dt
    if not isinstance(value, datetime) or value.tzinfo is None:
        return ""
    tzid = prop.params.get("TZID")
    if tzid:
        return str(tzid)
    key = getattr(value.tzinfo, "key", None)
    if key:
        return str(key)
    if value.utcoffset() == timedelta(0):
        return "UTC"
    return str(value.tzname() or "")


def _end(component: Any) -> date | None:
    start = component["DTSTART"].dt
    if "DTEND" in component:
        return component["DTEND"].dt  # type: ignore[no-any-return]
    if "DUE" in component:
        return component["DUE"].dt  # type: ignore[no-any-return]
    if "DURATION" in component:
        return start + component["DURATION"].dt  # type: ignore[no-any-return]
    return None


def when(component: Any) -> str:
    """``Sat 21 Nov 2026, 09:00-10:00 (Europe/Paris)`` (an en dash): the time in the zone the
    organizer gave it (RFC 5545 3.2.19 TZID), named; all-day meetings as dates."""
    if "DTSTART" not in component:
        return ""
    start = component["DTSTART"].dt
    end = _end(component)
    if not isinstance(start, datetime):
        if isinstance(end, date) and not isinstance(end, datetime) and end > start + timedelta(1):
            last = end - timedelta(days=1)  # RFC 5545 3.6.1: DTEND of a DATE is exclusive
            return f"{day_label(start)} {DASH} {day_label(last)} (all day)"
        return f"{day_label(start)} (all day)"
    zone = _zone_name(component["DTSTART"])
    suffix = f" ({zone})" if zone else ""
    first = f"{day_label(start.date())}, {clock(start)}"
    if not isinstance(end, datetime) or end <= start:
        return first + suffix
    if end.tzinfo is not None and start.tzinfo is not None:
        end = end.astimezone(start.tzinfo)
    if end.date() == start.date():
        return f"{first}{DASH}{clock(end)}{suffix}"
    return f"{first} {DASH} {day_label(end.date())}, {clock(end)}{suffix}"


_FREQ_UNITS = {
    "SECONDLY": "second",
    "MINUTELY": "minute",
    "HOURLY": "hour",
    "DAILY": "day",
    "WEEKLY": "week",
    "MONTHLY": "month",
    "YEARLY": "year",
}


def repeats(component: Any) -> str:
    """The RRULE (RFC 5545 3.3.10) in a few words: ``every 2 weeks, until Sat 21 Nov
    2026``; "" for a single meeting."""
    rule = component.get("RRULE")
    if rule is None:
        return ""
    if isinstance(rule, list):
        rule = rule[0]
    unit = _FREQ_UNITS.get(str((rule.get("FREQ") or [""])[0]).upper(), "")
    if not unit:
        return "yes"
    try:
        interval = int((rule.get("INTERVAL") or [1])[0])
    except (TypeError, ValueError):
        interval = 1
    words = f"every {interval} {unit}s" if interval > 1 else f"every {unit}"
    if rule.get("COUNT"):
        words += f", {rule['COUNT'][0]} times"
    elif rule.get("UNTIL"):
        until = rule["UNTIL"][0]
        words += f", until {day_label(until if not isinstance(until, datetime) else until.date())}"
    return words


def person(prop: Any) -> str:
    """``Name <address>`` of an ORGANIZER or ATTENDEE (the address alone without CN)."""
    address = email_of(str(prop)) or str(prop)
    name = str(prop.params.get("CN", "")).strip() if hasattr(prop, "params") else ""
    return f"{name} <{address}>" if name else address


def describe(calendar: icalendar.Calendar) -> Description:
    """The readable parts of ``calendar``'s meeting (its master component)."""
    found = components(calendar)
    if not found:
        return Description(NO_TITLE, "", "", "", "", "", "", "", ())
    master = found[0]
    try:
        start = master["DTSTART"].dt if "DTSTART" in master else None
        day = day_label(start.date() if isinstance(start, datetime) else start) if start else ""
        time_text = when(master)
    except (TypeError, ValueError, AttributeError, OverflowError):
        day, time_text = "", ""
    organizer = master.get("ORGANIZER")
    attendees = tuple(
        (
            str(a.params.get("CN", "")).strip() or email_of(str(a)) or str(a),
            str(a.params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
        )
        for a in itip.attendees(master)
    )
    return Description(
        summary=_text(master, "SUMMARY") or NO_TITLE,
        when=time_text,
        day=day,
        where=_text(master, "LOCATION"),
        description=_text(master, "DESCRIPTION"),
        organizer=person(organizer) if organizer is not None else "",
        repeats=repeats(master),
        status=_text(master, "STATUS").upper(),
        attendees=attendees,
    )


def partstat_of(calendar: icalendar.Calendar, attendee: str) -> str | None:
    """``attendee``'s PARTSTAT in the master component (else in the first instance
    they are invited to); None when not invited at all."""
    for component in components(calendar):
        found = itip.find(component, attendee)
        if found is not None:
            return itip.partstat(found)
    return None


def sequence_of(calendar: icalendar.Calendar) -> int:
    """The SEQUENCE of the master component (RFC 5545 3.8.7.4; 0 when absent)."""
    found = components(calendar)
    try:
        return int(found[0].get("SEQUENCE", 0)) if found else 0
    except (TypeError, ValueError):
        return 0


# --- building a message -----------------------------------------------------------------


def one_line(text: str) -> str:
    """``text`` for a header: every run of white space (line breaks too) one space."""
    return " ".join(text.split())


def _valid_address(addr: str) -> bool:
    local, at, domain = addr.rpartition("@")
    return bool(
        at
        and local
        and domain
        and addr.isascii()
        and addr.isprintable()
        and not any(c.isspace() or c in '<>(),;:"[]\\' for c in addr)
    )


def _address(name: str, addr: str) -> Address:
    local, _, domain = addr.rpartition("@")
    return Address(display_name=one_line(name), username=local, domain=domain)


def subject(notice: Notice, meeting: Description) -> str:
    """The Subject: ``Invitation: SUMMARY (DATE)``, ``Updated invitation: ...``,
    ``Cancelled: ...``; an answer: ``Accepted: SUMMARY (ATTENDEE)``."""
    dated = f"{meeting.summary} ({meeting.day})" if meeting.day else meeting.summary
    if notice.method == "REQUEST":
        return ("Updated invitation: " if notice.changed else "Invitation: ") + dated
    if notice.method == "CANCEL":
        return "Cancelled: " + dated
    who = notice.attendee_name or email_of(notice.attendee) or notice.attendee
    word = ANSWER_WORDS.get(notice.partstat.upper(), "Answered")
    return f"{word}: {meeting.summary} ({who})"


def readable_text(notice: Notice, meeting: Description) -> str:
    """The text/plain part (RFC 6047 4.2: for people and clients without iCalendar)."""
    organizer = notice.organizer_name or notice.organizer or meeting.organizer or "The organizer"
    lines: list[str] = []
    if notice.method == "REQUEST":
        verb = "updated the meeting" if notice.changed else "invites you to a meeting"
        lines.append(f"{organizer} {verb}:")
    elif notice.method == "CANCEL":
        lines.append(f"{organizer} cancelled the meeting:")
    else:
        who = person_text(notice.attendee_name, notice.attendee)
        word = ANSWER_WORDS.get(notice.partstat.upper(), notice.partstat.lower() or "answered")
        lines.append(f"{who} answered your invitation: {word.lower()}.")
        if notice.comment:
            lines.append(f"Reason: {notice.comment}")
    lines += ["", meeting.summary, ""]
    for label, value in (
        ("When", meeting.when),
        ("Repeats", meeting.repeats),
        ("Where", meeting.where),
        ("Organizer", person_text(notice.organizer_name, notice.organizer) or meeting.organizer),
    ):
        if value:
            lines.append(f"{label + ':':<11}{value}")
    if notice.method != "REPLY" and meeting.attendees:
        named = [name for name, _ in meeting.attendees[:MAX_NAMED_ATTENDEES]]
        more = len(meeting.attendees) - len(named)
        tail = f" and {more} more" if more else ""
        lines.append(f"{'Attendees:':<11}" + ", ".join(named) + tail)
    if meeting.description:
        lines += ["", meeting.description]
    if notice.method == "REQUEST":
        lines.append("")
        if notice.links:
            lines.append("Answer with one of these links:")
            for key, label in LINK_LABELS:
                if key in notice.links:
                    lines.append(f"  {label + ':':<9}{notice.links[key]}")
            lines.append("or with your calendar application (the invitation is attached).")
        else:
            lines.append("Answer with your calendar application (the invitation is attached).")
    return "\n".join(lines) + "\n"


def person_text(name: str, address: str) -> str:
    addr = email_of(address) or address
    if name and addr:
        return f"{name} <{addr}>"
    return name or addr


def build_message(notice: Notice) -> EmailMessage:
    """The iMIP message of ``notice`` (RFC 6047), without From (the mail worker sets
    ``[smtp] sender``); :class:`MailError` when the recipient is not an e-mail address.

    ``multipart/mixed``: a ``multipart/alternative`` of the readable text and the iTIP
    object as ``text/calendar; method=...; charset=utf-8`` (RFC 6047 2.4: the method
    parameter MUST equal the object's METHOD; 4.2: the alternative for low-fidelity
    clients), then the same object attached as ``invite.ics`` (application/ics), as
    common clients send it. ``Reply-To`` (RFC 5322 3.6.2) is the organizer for an
    invitation, so an attendee's client sends its REPLY there (RFC 6047 2.3: iMIP
    addresses are the ``mailto:`` of ORGANIZER and ATTENDEE), and the attendee for an
    answer. Every part is 7-bit: quoted-printable or base64 (RFC 6047 2.5), headers in
    RFC 2047 encoded words.
    """
    calendar = notice.calendar
    method = str(calendar.get("METHOD") or notice.method).upper()
    meeting = describe(calendar)
    recipient = notice.recipient.strip()
    if not _valid_address(recipient):
        raise MailError(f"not an email address: {recipient!r}")
    message = EmailMessage(policy=POLICY)
    message["To"] = _address(notice.recipient_name, recipient)
    reply_to = email_of(notice.attendee) if notice.method == "REPLY" else notice.organizer.strip()
    if _valid_address(reply_to):
        name = notice.attendee_name if notice.method == "REPLY" else notice.organizer_name
        message["Reply-To"] = _address(name, reply_to)
    message["Subject"] = one_line(subject(notice, meeting))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834 5: no vacation replies
    ics = calendar.to_ical().decode("utf-8")
    message.set_content(readable_text(notice, meeting))
    message.add_alternative(ics, subtype="calendar", params={"method": method})
    message.add_attachment(  # the alternative moves into a multipart/mixed
        ics.encode("utf-8"), maintype="application", subtype="ics", filename="invite.ics"
    )
    return message


# --- receiving a message ----------------------------------------------------------------


def sender(message: Message) -> str:
    """The one From address of ``message``, lower-cased (RFC 5322 3.6.2)."""
    found = [addr for _, addr in getaddresses([str(v) for v in message.get_all("From", [])])]
    found = [addr for addr in found if addr]
    if len(found) != 1 or "@" not in found[0]:
        raise Unusable("the message needs exactly one From address")
    return found[0].strip().lower()


def _calendar_parts(message: Message) -> Iterator[bytes]:
    for part in message.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        filename = (part.get_filename() or "").lower()
        if kind in ("text/calendar", "application/ics") or filename.endswith(".ics"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                yield payload


def find_itip(message: Message) -> icalendar.Calendar:
    """The iTIP object of a received message: the first text/calendar part, else an
    ``.ics`` attachment, that parses and has a METHOD (RFC 6047 2.4)."""
    seen = False
    for payload in _calendar_parts(message):
        seen = True
        try:
            calendar = icalendar.Calendar.from_ical(payload.decode("utf-8"))
        except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
            continue
        if isinstance(calendar, icalendar.Calendar) and calendar.get("METHOD"):
            return calendar
    if not seen:
        raise Unusable("the message has no iCalendar part (text/calendar or .ics)")
    raise Unusable("the message has no valid iTIP object (iCalendar with a METHOD)")


def check_reply(calendar: icalendar.Calendar, from_address: str) -> str:
    """The answering attendee's address, when ``calendar`` is a REPLY (RFC 5546 3.2.3:
    one ATTENDEE per component, the one who answers) sent by that attendee
    (RFC 6047 2.2.1 / 3: the sender must be who the REPLY says answers; anything else
    could forge someone's answer). Raises :class:`Unusable` otherwise."""
    method = str(calendar.get("METHOD", "")).upper()
    if method != "REPLY":
        raise Unusable(f"only REPLY is accepted, not METHOD:{method or '(none)'}")
    found = components(calendar)
    if not found:
        raise Unusable("the REPLY has no VEVENT or VTODO")
    answering = ""
    for component in found:
        attendees = itip.attendees(component)
        if len(attendees) != 1:
            raise Unusable("a REPLY names exactly one ATTENDEE per component")
        address = str(attendees[0])
        if answering and email_of(address) != email_of(answering):
            raise Unusable("the REPLY's components name different attendees")
        answering = address
        if not _text(component, "UID"):
            raise Unusable("the REPLY has no UID")
    if email_of(answering) != from_address.strip().lower():
        raise Unusable(
            f"the sender {from_address} is not the answering attendee "
            f"{email_of(answering) or answering}"
        )
    return answering


__all__ = [
    "Description",
    "Notice",
    "Unusable",
    "build_message",
    "check_reply",
    "describe",
    "find_itip",
    "sender",
]
