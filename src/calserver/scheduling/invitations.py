"""What a user has to answer, and what their meetings' attendees answered.

Read from the stored items, per the data model of meetings (RFC 6638 3.2: the
attendee's copy holds their own PARTSTAT, the organizer's copy every attendee's
PARTSTAT and SCHEDULE-STATUS, 3.2.9):

- a pending invitation of user U is a VEVENT in one of U's own calendars (not the
  schedule inbox) whose ORGANIZER is not U and where U's ATTENDEE (any of U's
  addresses) has PARTSTAT NEEDS-ACTION (RFC 5545 3.2.12: also when it has none) in
  the master or in any overridden instance, and which has not ended;
- a meeting U organizes is a VEVENT in one of U's own calendars whose ORGANIZER is U
  and which has attendees, and which has not ended.

:func:`pending_in` and :func:`meeting_in` are pure (one stored text each); the
database is read by :func:`pending` and :func:`meetings` (the CLI, the HTTP API).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import icalendar
from sqlalchemy import Engine, select

from calserver.accounts import directory
from calserver.db.models import collections, items
from calserver.scheduling import addresses, itip
from calserver.scheduling.copies import RESERVED

NEEDS_ACTION = "NEEDS-ACTION"
#: Where the organizer copy may keep an attendee's reason (the REPLY's COMMENT).
COMMENT_PARAMS = ("X-CALSERVER-COMMENT", "X-RESPONSE-COMMENT")


@dataclass(frozen=True)
class Invitation:
    uid: str
    summary: str
    start: str  # ISO 8601, as the event gives it (a date for all-day events)
    end: str
    organizer: str  # calendar user address
    calendar: str  # USER/CAL
    href: str  # the item's path: /USER/CAL/NAME.ics
    partstat: str
    #: Sort key: UTC timestamp of the first instance waiting for an answer.
    when: float = field(default=0.0, compare=False, repr=False)

    def as_json(self) -> dict[str, str]:
        return {
            "uid": self.uid,
            "summary": self.summary,
            "start": self.start,
            "end": self.end,
            "organizer": self.organizer,
            "calendar": self.calendar,
            "href": self.href,
            "partstat": self.partstat,
        }


@dataclass(frozen=True)
class Attendee:
    address: str
    name: str
    partstat: str
    schedule_status: str
    comment: str

    def as_json(self) -> dict[str, str]:
        return {
            "address": self.address,
            "name": self.name,
            "partstat": self.partstat,
            "schedule_status": self.schedule_status,
            "comment": self.comment,
        }


@dataclass(frozen=True)
class Meeting:
    uid: str
    summary: str
    start: str
    end: str
    calendar: str
    href: str
    attendees: list[Attendee]
    when: float = field(default=0.0, compare=False, repr=False)
    #: Whether e-mail goes to attendees with an account (``X-CALSERVER-EMAIL``).
    email: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "summary": self.summary,
            "start": self.start,
            "end": self.end,
            "calendar": self.calendar,
            "href": self.href,
            "attendees": [attendee.as_json() for attendee in self.attendees],
            "email": self.email,
        }


# --- one stored item -------------------------------------------------------------------


def _events(text: str) -> list[Any]:
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, KeyError, IndexError, TypeError):
        return []
    return [c for c in calendar.walk("VEVENT")]


def _param(address: Any, name: str) -> str:
    params = getattr(address, "params", {})
    value = params.get(name, "")
    return str(value[0] if isinstance(value, list) and value else value)


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else ""


def _times(component: Any) -> tuple[str, str, float]:
    """(start, end, UTC timestamp of the start) of a VEVENT (RFC 5545 3.6.1: no DTEND
    and no DURATION is a day for a date, an instant for a date-time)."""
    start_prop = component.get("DTSTART")
    start = getattr(start_prop, "dt", None)
    if not isinstance(start, dt.date):
        return "", "", 0.0
    end: Any = getattr(component.get("DTEND"), "dt", None)
    if not isinstance(end, dt.date):
        duration = getattr(component.get("DURATION"), "dt", None)
        if isinstance(duration, dt.timedelta):
            end = start + duration
        elif isinstance(start, dt.datetime):
            end = start
        else:
            end = start + dt.timedelta(days=1)
    if isinstance(start, dt.datetime):
        moment = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
    else:
        moment = dt.datetime.combine(start, dt.time(), dt.UTC)
    return _iso(start), _iso(end), moment.timestamp()


def _summary(events: list[Any]) -> str:
    for event in events:
        if event.get("RECURRENCE-ID") is None and event.get("SUMMARY") is not None:
            return str(event.get("SUMMARY"))
    return str(events[0].get("SUMMARY", "")) if events else ""


def pending_in(text: str, me: addresses.Me, calendar: str, href: str) -> Invitation | None:
    """The invitation waiting for ``me``'s answer in one stored item, if any."""
    events = _events(text)
    for event in events:  # the master first: it comes first in what clients store
        organizer = event.get("ORGANIZER")
        if organizer is None or me(organizer):
            continue
        for attendee in itip.attendees(event):
            if not me(attendee):
                continue
            partstat = (_param(attendee, "PARTSTAT") or NEEDS_ACTION).upper()
            if partstat != NEEDS_ACTION:
                continue
            start, end, when = _times(event)
            return Invitation(
                uid=str(event.get("UID", "")),
                summary=_summary(events),
                start=start,
                end=end,
                organizer=str(organizer),
                calendar=calendar,
                href=href,
                partstat=partstat,
                when=when,
            )
    return None


def meeting_in(text: str, me: addresses.Me, calendar: str, href: str) -> Meeting | None:
    """The meeting ``me`` organizes in one stored item (its organizer copy), with each
    attendee's answer as the master holds it, if it is one."""
    events = _events(text)
    masters = [e for e in events if e.get("RECURRENCE-ID") is None] or events
    for event in masters:
        organizer = event.get("ORGANIZER")
        if organizer is None or not me(organizer):
            continue
        attendees = [
            Attendee(
                address=str(attendee),
                name=_param(attendee, "CN"),
                partstat=(_param(attendee, "PARTSTAT") or NEEDS_ACTION).upper(),
                schedule_status=_param(attendee, "SCHEDULE-STATUS"),
                comment=next((c for p in COMMENT_PARAMS if (c := _param(attendee, p))), ""),
            )
            for attendee in itip.attendees(event)
            if not me(attendee)
        ]
        if not attendees:
            continue
        start, end, when = _times(event)
        return Meeting(
            uid=str(event.get("UID", "")),
            summary=_summary(events),
            start=start,
            end=end,
            calendar=calendar,
            href=href,
            attendees=attendees,
            when=when,
            email=not any(itip.switched_off(e) for e in events),
        )
    return None


# --- the database --------------------------------------------------------------------


def _candidates(
    engine: Engine, user: str, now: float
) -> Iterator[tuple[addresses.Me, str, str, str]]:
    """(me, text, calendar, href) of every event in ``user``'s own calendars that names
    an organizer and has not ended."""
    with engine.connect() as conn, conn.begin():
        email = directory.email_of(conn, user)
        if email is None:
            return
        me = addresses.Me(user, email)
        mailboxes = [f"{user}/{name}" for name in RESERVED]
        rows = conn.execute(
            select(collections.c.path, items.c.href, items.c.text)
            .join(items, items.c.collection_id == collections.c.id)
            .where(
                collections.c.parent == user,
                collections.c.tag == "VCALENDAR",
                collections.c.path.not_in(mailboxes),
                items.c.component == "VEVENT",
                items.c.end_ts > int(now),
                items.c.text.icontains("ORGANIZER"),
            )
            .order_by(items.c.start_ts, items.c.id)
        ).all()
    for row in rows:
        yield me, row.text, row.path, f"/{row.path}/{row.href}"


def pending(engine: Engine, user: str, now: float | None = None) -> list[Invitation]:
    """``user``'s invitations waiting for an answer, soonest first."""
    moment = time.time() if now is None else now
    found = [
        invitation
        for me, text, calendar, href in _candidates(engine, user, moment)
        if (invitation := pending_in(text, me, calendar, href)) is not None
    ]
    return sorted(found, key=lambda invitation: (invitation.when, invitation.href))


def meetings(engine: Engine, user: str, now: float | None = None) -> list[Meeting]:
    """The meetings ``user`` organizes that have not ended, soonest first, with their
    attendees' answers."""
    moment = time.time() if now is None else now
    found = [
        meeting
        for me, text, calendar, href in _candidates(engine, user, moment)
        if (meeting := meeting_in(text, me, calendar, href)) is not None
    ]
    return sorted(found, key=lambda meeting: (meeting.when, meeting.href))
