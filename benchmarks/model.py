"""The events of the benchmark data set, as plain values.

Times are the wall-clock values written to the file: a naive ``datetime`` in the event's
``tzid`` (``None`` = UTC), or a ``date`` for all-day events (floating).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from dateutil import rrule as du

from benchmarks.textgen import Person

Moment = datetime | date
"""A naive wall-clock date-time, or a date for all-day events."""


@dataclass(frozen=True)
class Rule:
    """The RRULE of a series: FREQ, INTERVAL, BYDAY and at most one of COUNT or UNTIL."""

    freq: str  # "DAILY" or "WEEKLY"
    interval: int = 1
    byday: tuple[str, ...] = ()
    count: int | None = None
    until: Moment | None = None  # wall-clock value of the last occurrence

    @property
    def endless(self) -> bool:
        return self.count is None and self.until is None

    def dateutil_rule(self, start: Moment) -> du.rrule:
        """The same rule for dateutil, on naive wall-clock times."""
        freq = du.DAILY if self.freq == "DAILY" else du.WEEKLY
        byweekday = [getattr(du, day) for day in self.byday] or None
        until = as_datetime(self.until) if self.until is not None else None
        return du.rrule(
            freq,
            dtstart=as_datetime(start),
            interval=self.interval,
            byweekday=byweekday,
            count=self.count,
            until=until,
        )


@dataclass(frozen=True)
class Override:
    """An overridden instance (a VEVENT with RECURRENCE-ID in the same resource)."""

    recurrence_id: Moment
    start: Moment
    summary: str
    description: str


@dataclass(frozen=True)
class Attendee:
    person: Person
    role: str
    partstat: str


@dataclass(frozen=True)
class Event:
    """One calendar resource: a single event or a series with its overrides."""

    uid: str
    start: Moment
    duration: timedelta
    tzid: str | None
    summary: str
    description: str
    location: str
    organizer: Person
    attendees: tuple[Attendee, ...]
    categories: tuple[str, ...]
    status: str
    transparent: bool
    alarm: bool
    created: datetime  # UTC
    rule: Rule | None = None
    exdates: tuple[Moment, ...] = ()
    overrides: tuple[Override, ...] = field(default=())

    @property
    def href(self) -> str:
        return f"{self.uid}.ics"

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)


def as_datetime(value: Moment) -> datetime:
    """A date as midnight; a date-time unchanged."""
    return value if isinstance(value, datetime) else datetime.combine(value, time())


def same_kind(template: Moment, value: datetime) -> Moment:
    """``value`` as a date when ``template`` is a date."""
    return value if isinstance(template, datetime) else value.date()
