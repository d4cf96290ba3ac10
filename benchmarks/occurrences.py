"""Which events and instances fall into a time range, computed from the generator's values.

This is the third opinion beside the two servers: RFC 4791 §9.9 overlap (start < range end
and end > range start), all-day (floating) dates taken as UTC, as Radicale does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from benchmarks.model import Event, Moment, as_datetime


@dataclass(frozen=True)
class WindowContent:
    """What a time-range query over a window should return."""

    hrefs: frozenset[str]
    instances: int  # VEVENT instances after expansion


def _to_utc(value: Moment, tzid: str | None) -> datetime:
    zone = ZoneInfo(tzid) if tzid else UTC
    return as_datetime(value).replace(tzinfo=zone).astimezone(UTC)


def instances_between(event: Event, start: datetime, end: datetime) -> Iterator[datetime]:
    """UTC start of every instance of ``event`` overlapping [start, end)."""

    def overlaps(local_start: Moment) -> bool:
        begin = _to_utc(local_start, event.tzid)
        finish = _to_utc(local_start + event.duration, event.tzid)
        return begin < end and finish > start

    if event.rule is None:
        if overlaps(event.start):
            yield _to_utc(event.start, event.tzid)
        return
    margin = event.duration + timedelta(days=2)  # covers any UTC offset
    local_from = start.replace(tzinfo=None) - margin
    local_to = end.replace(tzinfo=None) + margin
    removed = {as_datetime(moment) for moment in event.exdates}
    removed |= {as_datetime(override.recurrence_id) for override in event.overrides}
    rule = event.rule.dateutil_rule(event.start)
    for moment in rule.between(local_from, local_to, inc=True):
        if moment not in removed and overlaps(
            moment if isinstance(event.start, datetime) else moment.date()
        ):
            yield _to_utc(moment, event.tzid)
    for override in event.overrides:
        if overlaps(override.start):
            yield _to_utc(override.start, event.tzid)


def window_content(events: Iterable[Event], start: datetime, end: datetime) -> WindowContent:
    """The hrefs and instance count a query over [start, end) should return."""
    hrefs: set[str] = set()
    instances = 0
    for event in events:
        found = sum(1 for _ in instances_between(event, start, end))
        if found:
            hrefs.add(event.href)
            instances += found
    return WindowContent(frozenset(hrefs), instances)
