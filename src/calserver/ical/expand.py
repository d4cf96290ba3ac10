"""CALDAV:expand (RFC 4791 9.6.5) from the time index and the stored text, without
parsing a series with vobject or walking its recurrence rule.

The time index (``calserver.ical.timeindex``) lists every instance of a stored event
as a UTC span. An instance that no override replaces is the master component with
its DTSTART and DTEND moved to that span and a RECURRENCE-ID equal to its start; an
overridden one is its override component. Both are written with their times in UTC
(RFC 4791 9.6.5: "the DTSTART, DTEND, DURATION and RECURRENCE-ID properties of the
recurrence instances MUST be converted to UTC"), without VTIMEZONE and without the
recurrence properties (RRULE, RDATE, EXDATE, EXRULE). An instance is returned when it
overlaps the expand window, and the query's time-range when there is one (RFC 4791
9.9: an instance that starts at the window's end is outside it).

Only text whose times this module reads exactly is expanded: UTC times, dates, and
local times whose TZID is an IANA zone (``zoneinfo``) that gives the same instants the
index holds. Anything else raises :class:`Unexpandable`, and the caller lets
Radicale's handler answer the whole request. Pure functions, no I/O.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

_UTC = datetime.UTC
_RECURRENCE_PROPS = frozenset({"RRULE", "RDATE", "EXDATE", "EXRULE"})
_TIME_PROPS = frozenset({"DTSTART", "DTEND", "RECURRENCE-ID"})
_DURATION = re.compile(r"^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_TIME_TEXT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")
_NAME = re.compile(r"[A-Za-z0-9-]+")
#: The properties whose values expansion reads or rewrites; the others are copied.
_READ = _TIME_PROPS | _RECURRENCE_PROPS | {"DURATION"}


class Unexpandable(Exception):
    """An item whose expansion this module does not compute exactly."""


@dataclass
class _Line:
    """One content line: its physical lines as stored, its name, params and value."""

    raw: str
    name: str
    params: dict[str, str]
    value: str


@dataclass
class _Event:
    lines: list[_Line | str]  # a str: a line inside a sub-component (VALARM), kept as is
    props: dict[str, _Line]

    @property
    def recurring(self) -> bool:
        return any(name in self.props for name in ("RRULE", "RDATE"))


def _split_params(head: str) -> tuple[str, dict[str, str]]:
    name, *rest = head.split(";") if '"' not in head else _param_parts(head)
    params: dict[str, str] = {}
    for part in rest:
        key, _, value = part.partition("=")
        params[key.upper()] = value.strip('"')
    return name.upper(), params


def _param_parts(head: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in head:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _content_lines(text: str) -> list[tuple[str, str]]:
    """(physical lines joined by CRLF, unfolded line) of each content line."""
    lines: list[tuple[str, str]] = []
    for physical in text.replace("\r\n", "\n").split("\n"):
        if not physical:
            continue
        if physical[0] in " \t" and lines:
            raw, unfolded = lines[-1]
            lines[-1] = (raw + "\r\n" + physical, unfolded + physical[1:])
        else:
            lines.append((physical, physical))
    return lines


def _parse_line(raw: str, unfolded: str) -> _Line:
    quoted = False
    for position, char in enumerate(unfolded):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            name, params = _split_params(unfolded[:position])
            return _Line(raw, name, params, unfolded[position + 1 :])
    raise Unexpandable("a content line without a value")


@dataclass
class Parsed:
    """A stored calendar object split for expansion."""

    calendar: list[str]  # the VCALENDAR's own lines (BEGIN, properties)
    master: _Event | None
    overrides: list[_Event]


def parse(text: str) -> Parsed:
    """The VCALENDAR's properties and its VEVENTs (VTIMEZONE dropped)."""
    calendar: list[str] = []
    events: list[_Event] = []
    depth = 0
    event: _Event | None = None
    skipping = False
    for raw, unfolded in _content_lines(text):
        upper = unfolded.upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            kind = upper[6:].strip()
            if depth == 1:
                if kind != "VCALENDAR":
                    raise Unexpandable("not a VCALENDAR")
                calendar.append(raw)
            elif depth == 2:
                if kind == "VEVENT":
                    event = _Event([raw], {})
                elif kind == "VTIMEZONE":
                    skipping = True
                else:
                    raise Unexpandable(f"a {kind} beside the events")
            elif event is not None:
                event.lines.append(raw)
            continue
        if upper.startswith("END:"):
            if depth == 2 and event is not None:
                event.lines.append(raw)
                events.append(event)
                event = None
            elif depth == 2:
                skipping = False
            elif event is not None:
                event.lines.append(raw)
            depth -= 1
            continue
        if skipping:
            continue
        if depth == 1:
            calendar.append(raw)
        elif depth == 2 and event is not None:
            name = _NAME.match(unfolded)
            if name is None or name.group().upper() not in _READ:
                event.lines.append(raw)  # copied as stored
                continue
            line = _parse_line(raw, unfolded)
            if line.name in event.props and line.name in _TIME_PROPS | {"DURATION"}:
                raise Unexpandable(f"{line.name} twice")
            event.props.setdefault(line.name, line)
            event.lines.append(line)
        elif event is not None:
            event.lines.append(raw)
    masters = [e for e in events if "RECURRENCE-ID" not in e.props]
    overrides = [e for e in events if "RECURRENCE-ID" in e.props]
    if len(masters) > 1 or (not masters and len(overrides) != 1):
        raise Unexpandable("not one master component")
    if any(o.recurring for o in overrides):
        raise Unexpandable("an override with a rule of its own")
    return Parsed(calendar, masters[0] if masters else None, overrides)


@functools.lru_cache(maxsize=256)
def _zone(tzid: str) -> ZoneInfo:
    try:
        return ZoneInfo(tzid)
    except (ValueError, OSError, KeyError) as exc:
        raise Unexpandable(f"TZID {tzid!r} is not an IANA zone") from exc


def _time(line: _Line) -> datetime.datetime | datetime.date:
    """A DTSTART, DTEND or RECURRENCE-ID value: a date, or an aware datetime."""
    value = line.value.strip()
    kind = line.params.get("VALUE", "").upper()
    match = _TIME_TEXT.match(value)
    if match is None or (kind == "DATE") != (len(value) == 8):
        raise Unexpandable(f"a {line.name} value this module does not read")
    year, month, day, hour, minute, second, _ = match.groups()
    try:
        parsed = datetime.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError as exc:
        raise Unexpandable(f"{line.name} {value!r}") from exc
    if len(value) == 8:
        return parsed.date()
    if value.endswith("Z"):
        return parsed.replace(tzinfo=_UTC)
    tzid = line.params.get("TZID")
    if not tzid:
        raise Unexpandable("a floating time")  # RFC 5545 3.3.5: local to each viewer
    zone = _zone(tzid)
    local = parsed.replace(tzinfo=zone)
    if local.replace(fold=1).utcoffset() != local.utcoffset():
        raise Unexpandable("a local time in a DST change")
    back = local.astimezone(_UTC).astimezone(zone).replace(tzinfo=None)
    if back != parsed:
        raise Unexpandable("a local time that does not exist")
    return local


def _timestamp(value: datetime.datetime | datetime.date) -> int:
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day, tzinfo=_UTC)
    return int(value.timestamp())


def _duration(text: str) -> datetime.timedelta:
    match = _DURATION.match(text.strip().upper())
    if match is None:
        raise Unexpandable(f"DURATION {text!r}")
    sign, weeks, days, hours, minutes, seconds = match.groups()
    delta = datetime.timedelta(
        weeks=int(weeks or 0),
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=int(seconds or 0),
    )
    return -delta if sign == "-" else delta


def _span(event: _Event) -> tuple[int, int]:
    """The UTC span of one non-recurring component (RFC 4791 9.9's table for VEVENT)."""
    if "DTSTART" not in event.props:
        raise Unexpandable("no DTSTART")
    start = _time(event.props["DTSTART"])
    if "DTEND" in event.props:
        end = _time(event.props["DTEND"])
        if isinstance(start, datetime.datetime) != isinstance(end, datetime.datetime):
            raise Unexpandable("DTEND of another type")
        return _timestamp(start), _timestamp(end)
    if "DURATION" in event.props:
        delta = _duration(event.props["DURATION"].value)
        if not isinstance(start, datetime.datetime):
            raise Unexpandable("a DURATION on a date")
        return _timestamp(start), _timestamp(start) + int(delta.total_seconds())
    if isinstance(start, datetime.datetime):
        return _timestamp(start), _timestamp(start)
    return _timestamp(start), _timestamp(start) + 86400


def _utc_text(timestamp: int, date: bool) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, _UTC)
    return moment.strftime("%Y%m%d") if date else moment.strftime("%Y%m%dT%H%M%SZ")


def _time_line(name: str, timestamp: int, date: bool) -> str:
    return (
        f"{name};VALUE=DATE:{_utc_text(timestamp, True)}"
        if date
        else (f"{name}:{_utc_text(timestamp, False)}")
    )


def _instance(event: _Event, start: int, end: int, recurrence: int | None, date: bool) -> list[str]:
    """The component's lines with its times replaced by this instance's, in UTC."""
    out: list[str] = []
    for line in event.lines:
        if isinstance(line, str):
            out.append(line)
        elif line.name in _RECURRENCE_PROPS or line.name == "RECURRENCE-ID":
            continue
        elif line.name == "DTSTART":
            out.append(_time_line("DTSTART", start, date))
            if recurrence is not None:
                out.append(_time_line("RECURRENCE-ID", recurrence, date))
        elif line.name == "DTEND":
            out.append(_time_line("DTEND", end, date))
        else:
            out.append(line.raw)
    return out


def _overlaps(start: int, end: int, window: tuple[int, int]) -> bool:
    """RFC 4791 9.9 for VEVENT: a zero-length instance overlaps when it starts inside
    the window (its start included, its end excluded)."""
    low, high = window
    if end > start:
        return start < high and end > low
    return low <= start < high


def expand(
    text: str,
    spans: Iterable[tuple[int, int]],
    window: tuple[int, int],
    time_range: tuple[int, int] | None = None,
) -> tuple[str, int]:
    """The expanded calendar object and its number of instances (0: none in the
    windows, and the text is empty). ``spans`` are the index's instance spans of the
    item that overlap the expand ``window`` (each one listed, as the index lists them);
    an instance is returned when it overlaps ``window`` and the query's
    ``time_range``, if any."""
    parsed = parse(text)
    windows = [window] if time_range is None else [window, time_range]
    remaining = sorted(spans)
    master = parsed.master
    date = False
    if master is not None:
        first = master.props.get("DTSTART")
        if first is None:
            raise Unexpandable("no DTSTART")
        date = not isinstance(_time(first), datetime.datetime)
    chosen: list[tuple[int, int, list[str]]] = []
    overridden: set[int] = set()
    for override in parsed.overrides:
        rid_value = _time(override.props["RECURRENCE-ID"])
        if isinstance(rid_value, datetime.datetime) == date:
            raise Unexpandable("RECURRENCE-ID of another type than DTSTART")
        rid = _timestamp(rid_value)
        overridden.add(rid)
        start, end = _span(override)
        in_windows = all(_overlaps(start, end, w) for w in windows)
        if (start, end) in remaining:
            remaining.remove((start, end))
        elif _overlaps(start, end, window):
            raise Unexpandable("an override the index does not list")
        if in_windows:
            override_date = not isinstance(_time(override.props["DTSTART"]), datetime.datetime)
            lines = _instance(override, start, end, rid, override_date)
            chosen.append((rid, start, lines))
    if master is not None:
        recurring = master.recurring or bool(parsed.overrides)
        if not master.recurring and len(remaining) > 1:
            raise Unexpandable("more spans than instances")
        for start, end in remaining:
            if recurring and start in overridden:
                # the override replaces this instance (RFC 5545 3.8.4.4); the index
                # also lists it where the RECURRENCE-ID is a DATE (Radicale's walk
                # compares a date with the recurrence set's datetimes)
                continue
            if all(_overlaps(start, end, w) for w in windows):
                recurrence = start if recurring else None
                chosen.append((start, start, _instance(master, start, end, recurrence, date)))
    elif remaining:
        raise Unexpandable("spans without a component")
    if not chosen:
        return "", 0
    chosen.sort(key=lambda found: (found[0], found[1]))
    lines = list(parsed.calendar)
    for _, _, instance_lines in chosen:
        lines.extend(instance_lines)
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n", len(chosen)
