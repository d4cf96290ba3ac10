"""iCalendar text of the benchmark events: one resource per event, or one file for import."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.ical import (
    CRLF,
    content_line,
    escape_text,
    format_date,
    format_local,
    format_utc,
)
from benchmarks.model import Event, Moment, Rule
from benchmarks.vtimezones import VTIMEZONES

_HEADER = (
    "BEGIN:VCALENDAR"
    + CRLF
    + "VERSION:2.0"
    + CRLF
    + "PRODID:-//calserver//benchmark data set//EN"
    + CRLF
    + "CALSCALE:GREGORIAN"
    + CRLF
)
_FOOTER = "END:VCALENDAR" + CRLF
_ALARM = (
    CRLF.join(
        ("BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Reminder", "TRIGGER:-PT15M", "END:VALARM")
    )
    + CRLF
)


def _moment(name: str, value: Moment, tzid: str | None) -> str:
    if not isinstance(value, datetime):
        return content_line(name, format_date(value), "VALUE=DATE")
    if tzid is None:
        return content_line(name, format_utc(value))
    return content_line(name, format_local(value), f"TZID={tzid}")


def _rrule(rule: Rule, tzid: str | None) -> str:
    parts = [f"FREQ={rule.freq}"]
    if rule.interval != 1:
        parts.append(f"INTERVAL={rule.interval}")
    if rule.byday:
        parts.append("BYDAY=" + ",".join(rule.byday))
    if rule.count is not None:
        parts.append(f"COUNT={rule.count}")
    if rule.until is not None:
        until = rule.until
        if not isinstance(until, datetime):
            parts.append(f"UNTIL={format_date(until)}")
        else:  # RFC 5545 §3.3.10: UNTIL is UTC when DTSTART has a TZID
            zone = ZoneInfo(tzid) if tzid else UTC
            parts.append(f"UNTIL={format_utc(until.replace(tzinfo=zone).astimezone(UTC))}")
    return content_line("RRULE", ";".join(parts))


def _people(event: Event) -> str:
    lines = [
        content_line("ORGANIZER", f"mailto:{event.organizer.email}", f'CN="{event.organizer.name}"')
    ]
    for attendee in event.attendees:
        params = (
            f'CN="{attendee.person.name}";ROLE={attendee.role};'
            f"PARTSTAT={attendee.partstat};RSVP=TRUE"
        )
        lines.append(content_line("ATTENDEE", f"mailto:{attendee.person.email}", params))
    return "".join(lines)


def render_vevents(event: Event, sequence: int = 0) -> str:
    """The VEVENT components of one event: the master, then its overridden instances."""
    stamp = format_utc(event.created)
    common = (
        content_line("UID", event.uid)
        + content_line("DTSTAMP", stamp)
        + content_line("CREATED", stamp)
        + content_line("LAST-MODIFIED", stamp)
    )
    extra = (
        content_line("LOCATION", escape_text(event.location))
        + _people(event)
        + content_line("STATUS", event.status)
        + content_line("TRANSP", "TRANSPARENT" if event.transparent else "OPAQUE")
    )
    out = [
        "BEGIN:VEVENT" + CRLF,
        common,
        content_line("SEQUENCE", str(sequence)),
        content_line("SUMMARY", escape_text(event.summary)),
        _moment("DTSTART", event.start, event.tzid),
        _moment("DTEND", event.start + event.duration, event.tzid),
    ]
    if event.rule is not None:
        out.append(_rrule(event.rule, event.tzid))
    out.extend(_moment("EXDATE", exdate, event.tzid) for exdate in event.exdates)
    out.append(content_line("DESCRIPTION", escape_text(event.description)))
    out.append(content_line("CATEGORIES", ",".join(event.categories)))
    out.append(extra)
    if event.alarm:
        out.append(_ALARM)
    out.append("END:VEVENT" + CRLF)
    for override in event.overrides:
        out += [
            "BEGIN:VEVENT" + CRLF,
            common,
            content_line("SEQUENCE", str(sequence + 1)),
            _moment("RECURRENCE-ID", override.recurrence_id, event.tzid),
            content_line("SUMMARY", escape_text(override.summary)),
            _moment("DTSTART", override.start, event.tzid),
            _moment("DTEND", override.start + event.duration, event.tzid),
            content_line("DESCRIPTION", escape_text(override.description)),
            extra,
            "END:VEVENT" + CRLF,
        ]
    return "".join(out)


def render_resource(event: Event, sequence: int = 0) -> str:
    """One calendar object resource (RFC 4791 §4.1): VCALENDAR, its VTIMEZONE, the VEVENTs."""
    timezone = VTIMEZONES[event.tzid] if event.tzid else ""
    return _HEADER + timezone + render_vevents(event, sequence) + _FOOTER


def write_calendar_file(events: Iterable[Event], path: Path) -> int:
    """Write every event into one VCALENDAR (for ``calserver import``); return the bytes."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(_HEADER)
        out.writelines(VTIMEZONES.values())
        out.writelines(render_vevents(event) for event in events)
        out.write(_FOOTER)
    return path.stat().st_size


def write_event_files(events: Iterable[Event], directory: Path) -> int:
    """Write one ``<href>`` file per event into ``directory``; return how many."""
    count = 0
    for event in events:
        (directory / event.href).write_text(render_resource(event), encoding="utf-8", newline="")
        count += 1
    return count
