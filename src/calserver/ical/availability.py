"""Availability (RFC 7953): a person's working hours as VAVAILABILITY components, and the
busy time they mean for free/busy.

RFC 7953 §3.1: a VAVAILABILITY covers the time from its DTSTART to its DTEND (or
DTSTART + DURATION); without DTSTART it starts at the beginning of time, without an end
it never ends. Inside that range, the time not covered by one of its AVAILABLE
subcomponents (§3.1.1: DTSTART, DTEND or DURATION, and optionally RRULE / RDATE /
EXDATE, so weekly working hours are one recurring AVAILABLE) is busy with the
component's BUSYTYPE (§3.2: BUSY-UNAVAILABLE unless it says BUSY or BUSY-TENTATIVE).

§4 / §4.2: several VAVAILABILITY components combine by PRIORITY: 1 is the highest, 9
the lowest, 0 (or none) lower still; inside its range a component of higher priority
decides alone, overriding lower ones (a vacation of priority 1 marks its week
unavailable whatever the weekly hours say).

Pure: :func:`parse` checks a text (:class:`BadAvailability` says why not) and
:func:`busy_periods` gives the busy periods of a window in UTC. Recurrences are
expanded on the wall clock of the DTSTART's time zone (09:00 stays 09:00 across DST).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from dateutil import rrule

#: Longest VAVAILABILITY text stored for one user.
MAX_SIZE = 64 * 1024
#: Most AVAILABLE subcomponents in one text, and most occurrences expanded per window.
MAX_AVAILABLE = 200
MAX_OCCURRENCES = 20_000
BUSYTYPES = ("BUSY", "BUSY-UNAVAILABLE", "BUSY-TENTATIVE")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

Interval = tuple[dt.datetime, dt.datetime]
Period = tuple[dt.datetime, dt.datetime, str]

_MIN = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
_MAX = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)


class BadAvailability(ValueError):
    """The text is not availability calserver keeps; the message says why."""


@dataclass(frozen=True)
class Component:
    """One VAVAILABILITY: its range (None: unbounded), rank (lower sorts first: 1..9,
    then 0 as 10), BUSYTYPE and AVAILABLE subcomponents (icalendar objects)."""

    start: dt.datetime | None
    end: dt.datetime | None
    rank: int
    busytype: str
    available: tuple[Any, ...]


def _aware(value: Any, zone: dt.tzinfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), zone)
    raise BadAvailability(f"not a date or date-time: {value!r}")


def _end_of(component: Any, start: dt.datetime | None, zone: dt.tzinfo) -> dt.datetime | None:
    if component.get("DTEND") is not None:
        return _aware(component["DTEND"].dt, zone)
    if component.get("DURATION") is not None and start is not None:
        duration = component["DURATION"].dt
        if not isinstance(duration, dt.timedelta):
            raise BadAvailability("DURATION is not a duration")
        return start + duration
    return None


def parse(text: str, zone: dt.tzinfo = dt.UTC) -> list[Component]:
    """The VAVAILABILITY components of ``text``, checked: one VCALENDAR (§3) holding
    only VAVAILABILITY (and VTIMEZONE) components, each AVAILABLE with a DTSTART and an
    end after it, a known BUSYTYPE, a PRIORITY 0..9. Floating times are in ``zone``."""
    if len(text.encode("utf-8")) > MAX_SIZE:
        raise BadAvailability(f"availability may have at most {MAX_SIZE} bytes")
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise BadAvailability(f"not an iCalendar object: {exc}") from exc
    if len(calendars) != 1 or calendars[0].name != "VCALENDAR":
        raise BadAvailability("availability is one VCALENDAR object")
    found: list[Component] = []
    count = 0
    children: list[Any] = list(calendars[0].subcomponents)
    for child in children:
        if child.name == "VTIMEZONE":
            continue
        if child.name != "VAVAILABILITY":
            raise BadAvailability(f"a {child.name} is not availability (only VAVAILABILITY)")
        try:
            start = _aware(child["DTSTART"].dt, zone) if child.get("DTSTART") else None
            end = _end_of(child, start, zone)
            priority = int(child.get("PRIORITY", 0))
        except (KeyError, AttributeError, TypeError, ValueError, ZoneInfoNotFoundError) as exc:
            raise BadAvailability(f"bad DTSTART/DTEND/PRIORITY in a VAVAILABILITY: {exc}") from exc
        if start is not None and end is not None and end <= start:
            raise BadAvailability("a VAVAILABILITY ends before it starts")
        if not 0 <= priority <= 9:
            raise BadAvailability("PRIORITY is 0 to 9 (RFC 5545 3.8.1.9)")
        busytype = str(child.get("BUSYTYPE", "BUSY-UNAVAILABLE")).strip().upper()
        if busytype not in BUSYTYPES:
            raise BadAvailability(f"BUSYTYPE is one of {', '.join(BUSYTYPES)}")
        available = []
        subs: list[Any] = list(child.subcomponents)
        for sub in subs:
            if sub.name != "AVAILABLE":
                raise BadAvailability(f"a VAVAILABILITY holds AVAILABLE components, not {sub.name}")
            try:
                sub_start = _aware(sub["DTSTART"].dt, zone)
                sub_end = _end_of(sub, sub_start, zone)
                if sub.get("RRULE") is not None:
                    _rules(sub, sub_start)
            except (KeyError, AttributeError, TypeError, ValueError, ZoneInfoNotFoundError) as exc:
                raise BadAvailability(f"an AVAILABLE needs a DTSTART and DTEND: {exc}") from exc
            if sub_end is None or sub_end <= sub_start:
                raise BadAvailability("an AVAILABLE needs a DTEND (or DURATION) after its DTSTART")
            available.append(sub)
        count += len(available)
        if count > MAX_AVAILABLE:
            raise BadAvailability(f"at most {MAX_AVAILABLE} AVAILABLE components")
        found.append(Component(start, end, priority or 10, busytype, tuple(available)))
    if not found:
        raise BadAvailability("the VCALENDAR holds no VAVAILABILITY")
    return found


def _rules(sub: Any, start: dt.datetime) -> rrule.rruleset:
    rules = rrule.rruleset()
    raw = sub.get("RRULE")
    for value in raw if isinstance(raw, list) else [raw]:
        text = value.to_ical().decode()
        rules.rrule(
            rrule.rrulestr(text, dtstart=start, ignoretz=False, forceset=False, unfold=True)
        )  # type: ignore[arg-type]
    return rules


def _dates(prop: Any, zone: dt.tzinfo) -> list[dt.datetime]:
    found = []
    for value in prop if isinstance(prop, list) else [prop]:
        for one in value.dts:
            found.append(_aware(one.dt, zone))
    return found


def _occurrences(sub: Any, zone: dt.tzinfo, window: Interval) -> Iterable[Interval]:
    start = _aware(sub["DTSTART"].dt, zone)
    end = _end_of(sub, start, zone)
    assert end is not None
    length = end - start
    if sub.get("RRULE") is None and sub.get("RDATE") is None:
        yield start, end
        return
    rules = _rules(sub, start) if sub.get("RRULE") is not None else rrule.rruleset()
    rules.rdate(start)
    if sub.get("RDATE") is not None:
        for value in _dates(sub["RDATE"], zone):
            rules.rdate(value)
    if sub.get("EXDATE") is not None:
        for value in _dates(sub["EXDATE"], zone):
            rules.exdate(value)
    for count, begin in enumerate(rules.xafter(window[0] - length, inc=True)):
        if begin >= window[1]:
            return
        if count >= MAX_OCCURRENCES:
            raise BadAvailability("too many AVAILABLE occurrences in the window")
        yield begin, begin + length


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _minus(intervals: Sequence[Interval], taken: Sequence[Interval]) -> list[Interval]:
    """``intervals`` without ``taken`` (both sorted and disjoint)."""
    result: list[Interval] = []
    for start, end in intervals:
        current = start
        for t_start, t_end in taken:
            if t_end <= current or t_start >= end:
                continue
            if t_start > current:
                result.append((current, t_start))
            current = max(current, t_end)
            if current >= end:
                break
        if current < end:
            result.append((current, end))
    return result


def busy_periods(
    components: Sequence[Component] | str,
    start: dt.datetime,
    end: dt.datetime,
    zone: dt.tzinfo = dt.UTC,
) -> list[Period]:
    """The busy periods (UTC start, end, FBTYPE) that availability means between
    ``start`` and ``end`` (aware): RFC 7953 §4, sorted, merged per FBTYPE."""
    if isinstance(components, str):
        components = parse(components, zone)
    window = (start.astimezone(dt.UTC), end.astimezone(dt.UTC))
    covered: list[Interval] = []  # the ranges of higher-priority components
    periods: list[Period] = []
    for component in sorted(components, key=lambda c: c.rank):
        low = max(window[0], component.start.astimezone(dt.UTC) if component.start else _MIN)
        high = min(window[1], component.end.astimezone(dt.UTC) if component.end else _MAX)
        if high <= low:
            continue
        free = _union(
            (a.astimezone(dt.UTC), b.astimezone(dt.UTC))
            for sub in component.available
            for a, b in _occurrences(sub, zone, (low, high))
        )
        busy = _minus(_minus([(low, high)], free), covered)
        periods.extend((a, b, component.busytype) for a, b in busy)
        covered = _union([*covered, (low, high)])
    merged: list[Period] = []
    for fbtype in BUSYTYPES:
        merged.extend(
            (a, b, fbtype) for a, b in _union((a, b) for a, b, kind in periods if kind == fbtype)
        )
    return sorted(merged)


# --- weekly working hours: the JSON shape of the API and the web form ---------------


@dataclass(frozen=True)
class Hours:
    day: str  # MO ... SU
    start: dt.time
    end: dt.time


def parse_time(value: str) -> dt.time:
    try:
        parsed = dt.time.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise BadAvailability(f"invalid time {value!r} (HH:MM)") from exc
    return parsed.replace(second=0, microsecond=0)


def weekly_text(timezone: str, hours: Sequence[Hours], uid: str = "calserver-weekly") -> str:
    """A VCALENDAR with one VAVAILABILITY (unbounded) whose AVAILABLE components are the
    weekly ``hours`` in ``timezone``: outside them, BUSY-UNAVAILABLE."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadAvailability(f"unknown time zone {timezone!r} (use an IANA name)") from exc
    if len(hours) > 7 * 8:
        raise BadAvailability("too many working-hour ranges")
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//calserver//availability//EN")
    calendar.add("VERSION", "2.0")
    stamp = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    availability = icalendar.Availability()
    availability.add("UID", uid)
    availability.add("DTSTAMP", stamp)
    monday = dt.date(2000, 1, 3)  # a Monday
    for number, one in enumerate(hours):
        if one.day not in WEEKDAYS:
            raise BadAvailability(f"invalid day {one.day!r} (MO ... SU)")
        if one.end <= one.start:
            raise BadAvailability(f"on {one.day} the end {one.end:%H:%M} is not after the start")
        day = monday + dt.timedelta(days=WEEKDAYS.index(one.day))
        available = icalendar.Available()
        available.add("UID", f"{uid}-{number}")
        available.add("DTSTAMP", stamp)
        available.add("DTSTART", dt.datetime.combine(day, one.start, zone))
        available.add("DTEND", dt.datetime.combine(day, one.end, zone))
        available.add("RRULE", {"FREQ": "WEEKLY", "BYDAY": one.day})
        availability.add_component(available)
    calendar.add_component(availability)
    return calendar.to_ical().decode("utf-8")


def weekly_hours(text: str) -> tuple[str, list[Hours]] | None:
    """(time zone, hours) when ``text`` is weekly hours as :func:`weekly_text` writes
    them (one unbounded VAVAILABILITY of weekly AVAILABLEs, one time zone), else None."""
    try:
        components = parse(text)
    except BadAvailability:
        return None
    if len(components) != 1 or components[0].start or components[0].end:
        return None
    zones: set[str] = set()
    hours: list[Hours] = []
    for sub in components[0].available:
        start, end = sub["DTSTART"].dt, sub["DTEND"].dt if sub.get("DTEND") else None
        rule = sub.get("RRULE")
        if end is None or rule is None or isinstance(rule, list):
            return None
        if not isinstance(start, dt.datetime):
            return None
        zone = getattr(start.tzinfo, "key", None)
        days = rule.get("BYDAY") or []
        if (
            zone is None
            or [str(f).upper() for f in rule.get("FREQ", [])] != ["WEEKLY"]
            or len(rule) != 2
            or start.date() != end.date()
            or sub.get("EXDATE")
        ):
            return None
        zones.add(zone)
        for day in days:
            hours.append(Hours(str(day).upper(), start.time(), end.time()))
    if len(zones) > 1:
        return None
    order = {day: n for n, day in enumerate(WEEKDAYS)}
    hours.sort(key=lambda h: (order.get(h.day, 9), h.start))
    return (zones.pop() if zones else "UTC"), hours
