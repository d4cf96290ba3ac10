"""The time range of a stored VFREEBUSY component (RFC 4791 9.9). Pure.

Radicale 3.9 visits the time ranges of VEVENT, VTODO and VJOURNAL components and of
date properties; asked for a VFREEBUSY it reads the component as a property and
fails, so a calendar could not hold a VFREEBUSY object at all, though RFC 4791 4.1
lets a calendar object resource be one (and ``supported-calendar-component-set`` may
name it). RFC 4791 9.9: a VFREEBUSY overlaps a time range by its DTSTART and DTEND
when it has both, else by its FREEBUSY periods; with neither it has no time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

NAME = "VFREEBUSY"


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    return None


def ranges(component: Any) -> Iterator[tuple[datetime, datetime]]:
    """The time ranges of one VFREEBUSY component (vobject), RFC 4791 9.9."""
    start = _aware(getattr(getattr(component, "dtstart", None), "value", None))
    end = _aware(getattr(getattr(component, "dtend", None), "value", None))
    if start is not None and end is not None:
        yield start, max(end, start)
        return
    for line in component.contents.get("freebusy", []):
        values = line.value if isinstance(line.value, list) else [line.value]
        for period in values:
            if not isinstance(period, tuple) or len(period) != 2:
                continue
            begin = _aware(period[0])
            if begin is None:
                continue
            finish = begin + period[1] if isinstance(period[1], timedelta) else _aware(period[1])
            if finish is not None:
                yield begin, max(finish, begin)


def visit(vobject_item: Any, range_fn: Callable[[datetime, datetime, bool], bool]) -> None:
    """Radicale's ``visit_time_ranges`` for ``VFREEBUSY``: ``range_fn`` for each range
    of each VFREEBUSY of ``vobject_item`` until it returns True."""
    for component in vobject_item.contents.get(NAME.lower(), []):
        for start, end in ranges(component):
            if range_fn(start, end, False):
                return
