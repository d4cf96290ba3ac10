"""Cutting a time range out of one calendar object (issue 17, "delete between two dates"):
pure functions over iCalendar text, no I/O.

An occurrence is in the range [start, end) when its start is (RFC 5545 3.8.2.4 DTSTART;
all-day dates and floating times count as UTC). For one calendar object:

- a single event in the range, or a series all of whose occurrences are: deleted whole;
- a series crossing the range: its occurrences inside are excluded with ``EXDATE``
  (RFC 5545 3.8.5.1; an overridden occurrence inside -- a ``RECURRENCE-ID`` component,
  RFC 5545 3.8.4.4 -- is removed and its slot excluded), so the occurrences before and
  after stay exactly as they were. When more than :data:`MAX_EXDATES` occurrences fall
  inside, a series that starts in the range is restarted at its first occurrence after
  it (``DTSTART`` moved), and one that ends in the range is ended before it (``UNTIL``);
  one that crosses the whole range with that many occurrences in it is refused
  (:class:`CutRefused`: choose a shorter range).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import recurring_ical_events
from icalendar import Calendar

#: Most occurrences of one series excluded one by one.
MAX_EXDATES = 1000
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


class CutRefused(ValueError):
    """A series the range cannot be cut out of (the message says why)."""


@dataclass(frozen=True)
class Outcome:
    #: "keep" (nothing in the range), "delete" (the whole object) or "change"
    action: str
    #: the object's new text (for "change")
    text: str = ""
    #: occurrences removed
    occurrences: int = 0
    #: overridden occurrences removed
    overrides: int = 0
    #: how a series was cut: "exdate", "restarted", "ended"; "" otherwise
    how: str = ""
    recurring: bool = False
    summary: str = ""


def _ts(value: Any) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    raise TypeError(f"not a date or date-time: {value!r}")


def _start(component: Any) -> float:
    return _ts(component["DTSTART"].dt)


def _rid(component: Any) -> Any:
    rid = component.get("RECURRENCE-ID")
    return rid.dt if rid is not None else None


def _same(a: Any, b: Any) -> bool:
    try:
        return _ts(a) == _ts(b)
    except TypeError:
        return False


def cut(text: str, start: dt.datetime, end: dt.datetime) -> Outcome:
    """What cutting [start, end) (aware datetimes) out of the object ``text`` does."""
    calendar: Any = Calendar.from_ical(text)
    events = [c for c in calendar.walk("VEVENT")]
    if not events:
        return Outcome("keep")
    master = next((c for c in events if c.get("RECURRENCE-ID") is None), None)
    summary = str((master or events[0]).get("SUMMARY", ""))
    lo, hi = start.timestamp(), end.timestamp()
    recurring = master is not None and (
        master.get("RRULE") is not None or master.get("RDATE") is not None
    )
    query = recurring_ical_events.of(calendar)
    inside = [o for o in query.between(start, end) if lo <= _start(o) < hi]
    if not inside:
        return Outcome("keep", recurring=recurring, summary=summary)
    first = next(iter(query.after(_EARLIEST)), None)
    before = first is not None and _start(first) < lo
    later = next((o for o in itertools.islice(query.after(end), 1000) if _start(o) >= hi), None)
    overridden = [c for c in events if c.get("RECURRENCE-ID") is not None]
    if not before and later is None:
        return Outcome(
            "delete",
            occurrences=len(inside),
            overrides=len(overridden),
            how="deleted" if recurring else "",
            recurring=recurring,
            summary=summary,
        )
    if master is None or not recurring:  # overrides without their series: one by one
        gone = {id(c) for c in events if lo <= _start(c) < hi}
        for component in [c for c in events if id(c) in gone]:
            calendar.subcomponents.remove(component)
        return Outcome(
            "change", calendar.to_ical().decode(), len(gone), len(gone), "exdate", False, summary
        )
    slots = [_rid(o) if _rid(o) is not None else o["DTSTART"].dt for o in inside]
    removed = 0
    if len(inside) <= MAX_EXDATES:
        how = "exdate"
        for slot in slots:
            master.add("EXDATE", slot)
        for component in overridden:
            if any(_same(_rid(component), slot) for slot in slots):
                calendar.subcomponents.remove(component)
                removed += 1
    elif not before:
        how = "restarted"
        assert later is not None
        new_start = _rid(later) if _rid(later) is not None else later["DTSTART"].dt
        rule = master["RRULE"]
        if "COUNT" in rule:
            raise CutRefused(
                f"the series {summary!r} has {len(inside)} occurrences in the range and a"
                " COUNT: choose a shorter range"
            )
        old = master["DTSTART"].dt
        if master.get("DTEND") is not None:
            length = master["DTEND"].dt - old
            master["DTEND"].dt = new_start + length
        master["DTSTART"].dt = new_start
        for component in overridden:
            if _ts(_rid(component)) < _ts(new_start):
                calendar.subcomponents.remove(component)
                removed += 1
        _drop_rdates(master, lambda value: _ts(value) < _ts(new_start))
    elif later is None:
        how = "ended"
        last = None
        for occurrence in query.between(_EARLIEST, start):
            if _start(occurrence) < lo:
                last = occurrence
        assert last is not None
        until = _rid(last) if _rid(last) is not None else last["DTSTART"].dt
        if isinstance(until, dt.datetime) and until.tzinfo is not None:
            until = until.astimezone(dt.UTC)
        rule = master["RRULE"]
        rule.pop("COUNT", None)
        rule["UNTIL"] = [until]
        for component in overridden:
            if _ts(_rid(component)) > _ts(until):
                calendar.subcomponents.remove(component)
                removed += 1
        _drop_rdates(master, lambda value: _ts(value) > _ts(until))
    else:
        raise CutRefused(
            f"the series {summary!r} crosses the whole range with {len(inside)} occurrences"
            f" in it (at most {MAX_EXDATES}): choose a shorter range"
        )
    return Outcome("change", calendar.to_ical().decode(), len(inside), removed, how, True, summary)


def _drop_rdates(master: Any, drop: Any) -> None:
    rdates = master.get("RDATE")
    if rdates is None:
        return
    kept = []
    for prop in rdates if isinstance(rdates, list) else [rdates]:
        for value in prop.dts:
            if not drop(value.dt):
                kept.append(value.dt)
    master.pop("RDATE")
    for value in kept:
        master.add("RDATE", value)
