"""When a reminder fires (RFC 5545 3.6.6, 3.8.6.3), as pure functions over the event's
text: no I/O, unit-tested without a server.

A reminder is an offset before the start of each occurrence of an event or a series,
or one absolute instant. Occurrences follow RRULE, RDATE, EXDATE and overridden
instances (``calserver.ical.occurrences``); a cancelled occurrence
(``STATUS:CANCELLED``, or the whole event cancelled) reminds nobody. All-day events
start at local midnight in the reminded person's time zone.

:func:`email_alarms` reads the ``ACTION:EMAIL`` VALARMs a client wrote (RFC 5545
3.6.6): triggers before the start (``TRIGGER:-PT15M``, ``RELATED=START``) become
offsets, absolute triggers (``VALUE=DATE-TIME``) instants; the others are not
honoured (after the start, or relative to the end).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from calserver.ical import occurrences as occ

#: The longest offset before the start (issue 16: 28 days).
MAX_OFFSET = 28 * 24 * 3600
#: Most reminders of one person on one event.
MAX_PER_EVENT = 10
#: Windows searched, one after the other, for the next occurrence.
_HORIZONS = (timedelta(days=40), timedelta(days=400), timedelta(days=3660))


@dataclass(frozen=True)
class Fire:
    """One occurrence and the instant its reminder fires."""

    occurrence: str  # RECURRENCE-ID in UTC basic form, "" for a single event
    start: datetime
    end: datetime
    all_day: bool
    fire_at: float
    summary: str
    location: str
    description: str


def _fire(found: occ.Occurrence, fire_at: float) -> Fire:
    return Fire(
        found.recurrence_id,
        found.start,
        found.end,
        found.all_day,
        fire_at,
        found.summary,
        found.location,
        found.description,
    )


def occurrences_from(
    text: str, low: float, tz: ZoneInfo, horizon: timedelta
) -> list[occ.Occurrence]:
    """Occurrences of the event in ``text`` starting at or after ``low`` and within
    ``horizon``, not cancelled, in order of start."""
    start = datetime.fromtimestamp(low, UTC)
    found = occ.occurrences([("", text)], start, start + horizon, tz, limit=500)
    return [o for o in found if o.start.timestamp() >= low and o.status.upper() != "CANCELLED"]


def next_fire(
    text: str,
    tz: ZoneInfo,
    *,
    offset: int | None,
    at: float | None,
    after_start: float | None,
    earliest: float,
) -> Fire | None:
    """The next reminder of the event in ``text``: for an offset, the first occurrence
    starting after ``after_start`` (None: any) whose reminder fires at or after
    ``earliest``; for an absolute instant ``at`` (at or after ``earliest``), the first
    occurrence starting after it. None when there is none."""
    if at is not None:
        if at < earliest or after_start is not None:
            return None
        for horizon in _HORIZONS:
            found = occurrences_from(text, at, tz, horizon)
            if found:
                return _fire(found[0], at)
        return None
    seconds = offset or 0
    low = earliest + seconds
    if after_start is not None:
        low = max(low, after_start + 1)
    for horizon in _HORIZONS:
        found = occurrences_from(text, low, tz, horizon)
        if found:
            first = found[0]
            return _fire(first, first.start.timestamp() - seconds)
    return None


def first_start(text: str, tz: ZoneInfo, after: float) -> float | None:
    """The start of the first occurrence at or after ``after`` (POSIX seconds)."""
    for horizon in _HORIZONS:
        found = occurrences_from(text, after, tz, horizon)
        if found:
            return found[0].start.timestamp()
    return None


def _trigger_seconds(trigger: Any) -> tuple[int | None, float | None]:
    value = trigger.dt
    if isinstance(value, timedelta):
        if str(trigger.params.get("RELATED", "START")).upper() != "START":
            return None, None
        seconds = -int(value.total_seconds())
        if seconds < 0 or seconds > MAX_OFFSET:
            return None, None
        return seconds, None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return None, value.timestamp()
    return None, None


def email_alarms(text: str) -> list[tuple[int | None, float | None]]:
    """(offset, instant) of each ``ACTION:EMAIL`` VALARM of the event's master (or only)
    VEVENT that calserver honours, without repeats, at most :data:`MAX_PER_EVENT`."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError:
        return []
    found: list[tuple[int | None, float | None]] = []
    for event in calendar.walk("VEVENT"):
        if "RECURRENCE-ID" in event:
            continue
        for alarm in event.walk("VALARM"):
            if str(alarm.get("ACTION", "")).upper() != "EMAIL" or "TRIGGER" not in alarm:
                continue
            try:
                when = _trigger_seconds(alarm["TRIGGER"])
            except (AttributeError, TypeError, ValueError):
                continue
            if when != (None, None) and when not in found:
                found.append(when)
    return found[:MAX_PER_EVENT]


def describe_offset(offset: int | None, at: float | None, tz: ZoneInfo) -> str:
    """``15 minutes before``, ``1 day before``, ``at the start``, or the instant."""
    if at is not None:
        return "at " + datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d %H:%M")
    seconds = offset or 0
    if seconds == 0:
        return "at the start"
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} before"
    return f"{seconds} seconds before"
