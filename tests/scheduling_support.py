"""Helpers of the scheduling end-to-end tests (``tests/test_scheduling*.py``, issue 5):
meetings as the organizer's client writes them, the organizer's and the attendees'
copies, the schedule inboxes, the queued e-mails and the ones a real SMTP server
(aiosmtpd) receives from ``calserver worker --once``.

The world of every module: Alice organizes from ``alice/work``; Bob has no calendar
(his copies land in ``bob/calendar``, made for him); Carol has ``carol/personal`` and a
task list ``carol/a-tasks`` that sorts first but takes no events; Dave and Erin have no
calendar; Alice (admin), Bob, Carol and Erin are the group ``team``, which has the
calendar ``@team/plans``. Zoe and Yan have no account (``@outside.example``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import unquote, urlsplit

import caldav
import icalendar
import pytest
from sqlalchemy import select

from calserver import db
from calserver.db.models import collections, items, mail_outbox
from tests.conftest import LiveServer
from tests.e2e_support import (
    calserver,
    dav,
    module_server_with,
    new_calendar,
    responses,
    send,
)
from tests.test_mail import smtp_server

PEOPLE = ["alice", "bob", "carol", "dave", "erin"]
NAMES = {
    "alice": "Alice Able",
    "bob": "Bob Builder",
    "carol": "Carol Cook",
    "dave": "Dave Diver",
    "erin": "Erin Eagle",
    "zoe": "Zoe Outside",
    "yan": "Yan Outside",
}
OUTSIDE = {"zoe", "yan"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
#: Where each account's copies arrive (its default calendar, RFC 6638 9.2).
DEFAULT = {
    "alice": "alice/work",
    "bob": "bob/calendar",
    "carol": "carol/personal",
    "dave": "dave/calendar",
    "erin": "erin/calendar",
}
ALLOWED_ATTENDEE = "allowed-attendee-scheduling-object-change"
ALLOWED_ORGANIZER = "allowed-organizer-scheduling-object-change"


def email(person: str) -> str:
    domain = "outside.example" if person in OUTSIDE else "example.org"
    return f"{person}@{domain}"


def server_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Body of each module's ``server`` fixture: a live server and the world above."""
    for server in module_server_with(request, tmp_path_factory, PEOPLE):
        calserver(server, "calendar", "create", "alice/work", "--name", "Work")
        calserver(server, "calendar", "create", "carol/personal", "--name", "Personal")
        new_calendar(server, "carol", "a-tasks", components=["VTODO"])
        calserver(server, "group", "create", "team", "--admin", "alice")
        for member in ("bob", "carol", "erin"):
            calserver(server, "group", "add-member", "team", member)
        calserver(server, "calendar", "create", "@team/plans", "--name", "Team plans")
        yield server


# --- meetings as a client writes them ---------------------------------------------------


def attendee(person: str, partstat: str = "NEEDS-ACTION", params: str = "") -> str:
    return (
        f"ATTENDEE;CN={NAMES[person]};ROLE=REQ-PARTICIPANT;PARTSTAT={partstat};"
        f"RSVP=TRUE{params}:mailto:{email(person)}\r\n"
    )


ORGANIZER = f"ORGANIZER;CN={NAMES['alice']}:mailto:alice@example.org\r\n"
CHAIR = "ATTENDEE;CN=Alice Able;ROLE=CHAIR;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"

BERLIN = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
    "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
    "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
)


def meeting(
    uid: str,
    people: list[str] | str,
    *,
    summary: str = "Planning",
    start: str = "DTSTART:20301104T100000Z",
    end: str = "DTEND:20301104T110000Z",
    extra: str = "",
    organizer: str = ORGANIZER,
    chair: bool = True,
    timezone: str = "",
    overrides: str = "",
) -> str:
    """A meeting organized by Alice. ``people``: names (each an ATTENDEE NEEDS-ACTION)
    or ATTENDEE lines as they are; ``overrides``: more VEVENTs, as they are."""
    lines = people if isinstance(people, str) else "".join(attendee(p) for p in people)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//scheduling//EN\r\n"
        f"{timezone}BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"{start}\r\n{end}\r\nSUMMARY:{summary}\r\nLOCATION:Room 4\r\n"
        f"DESCRIPTION:Agenda for {summary}\r\n{organizer}"
        f"{CHAIR if chair else ''}{lines}{extra}END:VEVENT\r\n{overrides}END:VCALENDAR\r\n"
    )


def organize(server: LiveServer, text: str, calendar: str = "alice/work") -> caldav.Event:
    """Alice's client saves the meeting (PUT of a new resource)."""
    cal = dav(server, "alice").calendar(url=f"{server.url}/{calendar}/")
    return cal.save_event(text)


def put(server: LiveServer, user: str, path: str, text: str | icalendar.Calendar) -> Any:
    """A raw PUT (to read the exact status and error body)."""
    body = text if isinstance(text, str) else text.to_ical().decode()
    return send(server, "PUT", path, body, ICS, user=user)


# --- reading calendars ------------------------------------------------------------------


def parse(text: str | bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def master(cal: icalendar.Calendar) -> Any:
    found = [c for c in cal.walk("VEVENT") if "RECURRENCE-ID" not in c]
    assert len(found) == 1, cal.to_ical()
    return found[0]


def override(cal: icalendar.Calendar, recurrence_id: str) -> Any | None:
    """The VEVENT overriding the instance ``recurrence_id`` (``20301104T100000Z``)."""
    for component in cal.walk("VEVENT"):
        if "RECURRENCE-ID" in component:
            value = component["RECURRENCE-ID"].dt
            if value.strftime("%Y%m%dT%H%M%SZ") == recurrence_id:
                return component
    return None


def attendees(component: Any) -> dict[str, dict[str, str]]:
    """Address (the e-mail, or the URI when not ``mailto:``) -> its parameters."""
    values = component.get("ATTENDEE", [])
    if not isinstance(values, list):
        values = [values]
    found: dict[str, dict[str, str]] = {}
    for value in values:
        text = str(value)
        key = text[7:].lower() if text.lower().startswith("mailto:") else text
        params = {}
        for name, param in value.params.items():
            if isinstance(param, list):
                param = ",".join(str(p) for p in param)
            params[name.upper()] = str(param).strip('"')
        found[key] = params
    return found


def partstat(component: Any, person: str) -> str:
    return attendees(component)[email(person)].get("PARTSTAT", "NEEDS-ACTION")


def schedule_status(component: Any, person: str) -> str | None:
    return attendees(component)[email(person)].get("SCHEDULE-STATUS")


def answers(component: Any) -> dict[str, tuple[str, str | None]]:
    """person -> (PARTSTAT, SCHEDULE-STATUS) for every attendee with a known name."""
    by_email = {email(p): p for p in NAMES}
    return {
        by_email[address]: (params.get("PARTSTAT", "NEEDS-ACTION"), params.get("SCHEDULE-STATUS"))
        for address, params in attendees(component).items()
        if address in by_email
    }


def get(server: LiveServer, user: str, path: str) -> tuple[int, str]:
    reply = send(server, "GET", path, user=user)
    return reply.status, reply.text


def organizer_copy(server: LiveServer, uid: str, calendar: str = "alice/work") -> Any:
    status, text = get(server, "alice", f"/{calendar}/{uid}.ics")
    assert status == 200, (status, text)
    return parse(text)


def copies(server: LiveServer, uid: str) -> dict[str, str]:
    """Every item with UID ``uid`` outside inboxes: collection path -> href (from the
    database: also finds copies where no test looks)."""
    engine = db.get_engine(server.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(collections.c.path, items.c.href)
            .join(collections, collections.c.id == items.c.collection_id)
            .where(items.c.uid == uid)
        ).all()
    return {row.path: row.href for row in rows if not row.path.endswith("/inbox")}


def copy_of(server: LiveServer, user: str, uid: str) -> tuple[caldav.Event, icalendar.Calendar]:
    """``user``'s copy in their default calendar, read over CalDAV."""
    cal = dav(server, user).calendar(url=f"{server.url}/{DEFAULT[user]}/")
    event = cal.get_event_by_uid(uid)
    return event, parse(event.data)


def inbox(server: LiveServer, user: str, uid: str | None = None) -> list[icalendar.Calendar]:
    """The iTIP messages in ``user``'s schedule inbox (about ``uid``), read over HTTP."""
    reply = send(
        server,
        "PROPFIND",
        f"/{user}/inbox/",
        "<?xml version='1.0'?><D:propfind xmlns:D='DAV:'><D:prop><D:getetag/></D:prop>"
        "</D:propfind>",
        {"Depth": "1", "Content-Type": "application/xml"},
        user=user,
    )
    if reply.status == 404:
        return []
    assert reply.status == 207, (reply.status, reply.text)
    found = []
    for href in responses(reply.xml()):
        if href.rstrip("/") == f"/{user}/inbox":
            continue
        status, text = get(server, user, href)
        assert status == 200, (href, status, text)
        cal = parse(text)
        if uid is None or any(str(c.get("UID")) == uid for c in cal.walk("VEVENT")):
            found.append(cal)
    return found


def methods(messages: list[icalendar.Calendar]) -> list[str]:
    return sorted(str(m.get("METHOD")) for m in messages)


def precondition(body: str) -> str:
    """The local name of the DAV:error's precondition element, or ""."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return ""
    for child in root:
        return child.tag.rpartition("}")[2]
    return ""


# --- attendees' clients ------------------------------------------------------------------


def attendee_values(component: Any) -> list[Any]:
    values = component.get("ATTENDEE", [])
    return values if isinstance(values, list) else [values]


def answer(
    server: LiveServer,
    user: str,
    uid: str,
    value: str,
    comment: str = "",
    *,
    any_address: bool = False,
) -> None:
    """``user``'s client answers: their own PARTSTAT in their copy (every component),
    with a COMMENT as the reason; saved with caldav as a client does (SEQUENCE kept).
    ``any_address``: whatever address names ``user`` (else their ``mailto:``)."""
    event, _ = copy_of(server, user, uid)
    with event.edit_icalendar_instance() as cal:
        for component in cal.walk("VEVENT"):
            for address in attendee_values(component):
                text = str(address).lower()
                if text == f"mailto:{email(user)}" or (any_address and user in text):
                    address.params["PARTSTAT"] = value
            if comment:
                component["COMMENT"] = comment
    event.save(increase_seqno=False)


def copy_paths(server: LiveServer, uid: str) -> dict[str, str]:
    """owner -> path of every copy of ``uid``."""
    return {path.partition("/")[0]: f"/{path}/{href}" for path, href in copies(server, uid).items()}


# --- e-mail ------------------------------------------------------------------------------


@dataclass
class Mail:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def calendar_part(self) -> EmailMessage | None:
        for part in self.message.walk():
            if part.get_content_type() == "text/calendar":
                return part  # type: ignore[return-value]
        return None

    @property
    def method_param(self) -> str:
        part = self.calendar_part()
        return str(part.get_param("method", "")).upper() if part is not None else ""

    @property
    def calendar(self) -> icalendar.Calendar:
        part = self.calendar_part()
        assert part is not None, self.message
        return parse(part.get_content())

    @property
    def uids(self) -> set[str]:
        part = self.calendar_part()
        if part is None:
            return set()
        return {str(c["UID"]) for c in self.calendar.walk("VEVENT")}

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None, self.message
        return str(body.get_content())  # type: ignore[attr-defined]

    def links(self) -> dict[str, str]:
        """answer -> the answer link's path and query (``/.invite/TOKEN?answer=...``)."""
        found = {}
        for url in re.findall(r"https?://[^\s<>\"]+/\.invite/[^\s<>\"]+", self.text):
            parts = urlsplit(url)
            answer = parts.query.partition("answer=")[2].partition("&")[0]
            found[answer] = parts.path + "?" + parts.query
        return found


def parse_mail(data: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    return parsed


def deliver(server: LiveServer, *options: str) -> list[Mail]:
    """``calserver worker --once`` against a real SMTP server: what it received."""
    with smtp_server() as (captured, port):
        out = worker_run(server, port, *options)
    assert "sent " in out, out
    return [Mail(r.rcpt_tos, r.message) for r in captured.received]


def worker_run(server: LiveServer, port: int, *options: str) -> str:
    smtp = ("--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--smtp-timeout", "20")
    return calserver(server, *smtp, *options, "worker", "--once")


def about(mails: list[Mail], uid: str) -> list[Mail]:
    return [m for m in mails if uid in m.uids]


def to(mails: list[Mail], person: str) -> list[Mail]:
    return [m for m in mails if email(person) in [t.lower() for t in m.to]]


def recipients(mails: list[Mail]) -> list[str]:
    """Sorted names of every recipient (one entry per message and recipient)."""
    by_email = {email(p): p for p in NAMES}
    return sorted(by_email.get(t.lower(), t) for m in mails for t in m.to)


def queued(server: LiveServer, uid: str) -> list[tuple[Any, Mail]]:
    """Rows of the mail outbox about ``uid`` (sent or not), with their message."""
    engine = db.get_engine(server.database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(mail_outbox).order_by(mail_outbox.c.id)).all()
    found = []
    for row in rows:
        mail = Mail(row.recipients.split("\n"), parse_mail(row.message.encode("ascii")))
        if uid in mail.uids:
            found.append((row, mail))
    return found


def path_query(url: str) -> str:
    parts = urlsplit(url)
    return unquote(parts.path) + ("?" + parts.query if parts.query else "")
