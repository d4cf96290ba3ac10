"""The time index of an item: the UTC spans of its instances (RFC 4791 section 9.9).

Pure functions over vobject components. The spans are produced by the very visitor
Radicale uses to evaluate CALDAV:time-range filters (``visit_time_ranges``), so an
index lookup and Radicale's own filter agree on which items a time-range matches.
A recurring series is indexed up to a horizon; the item records how far it is
indexed, and a query that reaches beyond that treats it as a candidate to be checked.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import vobject
from dateutil import rrule
from radicale.item import filter as radicale_filter
from radicale.log import logger

from calserver.ical import icsfile

TIMESTAMP_MIN = radicale_filter.TIMESTAMP_MIN
TIMESTAMP_MAX = radicale_filter.TIMESTAMP_MAX

#: Instances up to this long are found by a range scan bounded below by
#: ``window_start - SHORT_SPAN``; longer ones are kept apart (they are few).
SHORT_SPAN = 8 * 24 * 3600


@dataclass(frozen=True)
class TimeIndex:
    """Instance spans ``(start, end)`` in UTC seconds, and ``indexed_until``: ``None``
    when every instance is listed, else the timestamp from which instances may be
    missing (a series beyond the horizon, or too many instances)."""

    spans: tuple[tuple[int, int], ...]
    indexed_until: int | None


def _ts_floor(value: datetime) -> int:
    return max(TIMESTAMP_MIN, min(TIMESTAMP_MAX, math.floor(value.timestamp())))


def _ts_ceil(value: datetime) -> int:
    return max(TIMESTAMP_MIN, min(TIMESTAMP_MAX, math.ceil(value.timestamp())))


class _Stop(Exception):
    pass


def index_item(
    vobject_item: vobject.base.Component, component_name: str, horizon: int, max_instances: int
) -> TimeIndex:
    """Enumerate the instances of ``component_name`` in ``vobject_item`` whose start lies
    before ``horizon`` (overridden instances are always listed), at most
    ``max_instances`` of them. ``ValueError`` when its times cannot be evaluated."""
    if not component_name:
        return TimeIndex((), None)
    cap_recurrences(vobject_item, max(SCAN_LIMIT, max_instances))
    spans: list[tuple[int, int]] = []
    indexed_until: int | None = None

    def range_fn(start: datetime, end: datetime, is_recurrence: bool) -> bool:
        nonlocal indexed_until
        start_ts = _ts_floor(start)
        if not is_recurrence and (start_ts >= horizon or len(spans) >= max_instances):
            # The main component's instances come in order and after the overrides.
            indexed_until = min(start_ts, horizon)
            return True
        spans.append((start_ts, _ts_ceil(end)))
        return False

    def infinity_fn(_start: datetime) -> bool:
        return False  # enumerate the endless series up to the horizon

    try:
        radicale_filter.visit_time_ranges(vobject_item, component_name, range_fn, infinity_fn)
    except (ValueError, AttributeError, TypeError, OverflowError) as exc:
        # Radicale's own time-range filter fails on it the same way: stored, the item
        # would turn every time-range query and free-busy look-up over its calendar
        # into a 500 (DTSTART a DATE, DTEND a DATE-TIME, in an endless series whose
        # end Radicale's own checks never reach).
        raise ValueError(f"the times of this {component_name} cannot be evaluated: {exc}") from exc
    return TimeIndex(tuple(spans), indexed_until)


def mixed_times(vobject_item: vobject.base.Component) -> str | None:
    """Why the times of a component do not go together, or None: DTEND (RFC 5545
    3.8.2.2), DUE (3.8.2.3) and RECURRENCE-ID (3.8.4.4) take DTSTART's value type, and
    are local times exactly when DTSTART is. Radicale's expand subtracts one from the
    other and fails with a TypeError (a 500) on every REPORT that reaches them."""
    for component in vobject_item.getChildren():
        contents = getattr(component, "contents", {})
        starts = contents.get("dtstart")
        if not starts:
            continue
        start = starts[0].value
        for name in ("dtend", "due", "recurrence-id"):
            for line in contents.get(name, ()):
                other = line.value
                if isinstance(start, datetime) != isinstance(other, datetime):
                    return f"{name.upper()} is not of the value type of DTSTART"
                if isinstance(start, datetime) and (start.tzinfo is None) != (other.tzinfo is None):
                    return f"{name.upper()} is a local time and DTSTART is not, or the reverse"
    return None


# --- bounded evaluation of stored series ---------------------------------------------
#
# Radicale evaluates time-range filters, expand and free-busy by walking a series from
# its DTSTART (dateutil yields instance after instance). ``RRULE:FREQ=SECONDLY`` has
# 31 million instances a year: a query one year after its start would walk them all.
# A stored series is therefore evaluated up to a fixed number of instances and ends
# there for every query ("capped"); the time index lists fewer still, so the
# instances between the two are found by that bounded walk.


#: A stored series is evaluated up to this many instances (a daily series for 273 years,
#: an hourly one for 11); beyond, it has no instances for any query.
SCAN_LIMIT = 100_000
#: Longest time one evaluation of one series may take; beyond, the series ends there
#: (logged). The rules a PUT must pass (``icsfile.refusal``) keep every series far
#: below it; this bounds what was stored before them.
EVALUATION_SECONDS = 2.0


class CappedRecurrence(rrule.rrulebase):
    """The first ``limit`` instances of a dateutil recurrence set, found within
    :data:`EVALUATION_SECONDS` (iteration and ``between``, which is all Radicale asks
    of one)."""

    def __init__(self, inner: rrule.rrulebase, limit: int) -> None:
        super().__init__(cache=False)
        self._inner = inner
        self._limit = limit

    def _iter(self) -> Iterator[datetime]:
        deadline = time.monotonic() + EVALUATION_SECONDS
        for number, instance in enumerate(itertools.islice(iter(self._inner), self._limit)):
            if number % 256 == 255 and time.monotonic() > deadline:
                logger.warning(
                    "a series took over %s s to evaluate: ended after %d instances",
                    EVALUATION_SECONDS,
                    number + 1,
                )
                return
            yield instance

    def between(
        self, after: datetime, before: datetime, inc: bool = False, count: int = 1
    ) -> list[datetime]:
        """As dateutil's; Radicale's expand passes UTC bounds, which a floating series
        (local times, RFC 5545 3.3.5) cannot be compared with: they are taken as UTC
        local times there, as Radicale's time-range filter takes floating times."""
        first = next(iter(self), None)
        if first is not None and first.tzinfo is None:
            after, before = _floating(after), _floating(before)
        return list(super().between(after, before, inc, count))


def _floating(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


_CAPPED_CLASSES: dict[tuple[type[Any], int], type[Any]] = {}


def _capped_class(base: type[Any], limit: int) -> type[Any]:
    """A subclass of vobject's ``base`` component whose recurrence set is capped."""
    capped = _CAPPED_CLASSES.get((base, limit))
    if capped is None:

        def getrruleset(self: Any, addRDate: bool = False) -> object:
            if self.contents.get("recurrence-id"):
                return None  # one instance, not a series
            if not _evaluable(self):
                return _first_instance(self)
            rruleset = base.getrruleset(self, addRDate)
            return None if rruleset is None else CappedRecurrence(rruleset, limit)

        capped = type(
            f"Capped{base.__name__}",
            (base,),
            {
                "getrruleset": getrruleset,
                # vobject's property binds the base class's function
                "rruleset": property(getrruleset, base.setrruleset),
                "_calserver_capped": True,
            },
        )
        _CAPPED_CLASSES[(base, limit)] = capped
    return capped


def _evaluable(component: Any) -> bool:
    """Whether the recurrence rule of a stored component is evaluated: not one a PUT
    refuses today (``icsfile.series_refusal``: stored before that rule existed, or
    inserted directly), whose series is its first instance only (logged). The rule of
    an overridden instance is never evaluated: RECURRENCE-ID names one instance (RFC
    5545 3.8.4.4); a rule of its own would be a second series beside the master's."""
    contents = component.contents
    rules = tuple(str(line.value) for line in contents.get("rrule", ()))
    starts = contents.get("dtstart")
    if not rules or not starts:
        return True
    start = starts[0].value
    text = start.strftime("%Y%m%dT%H%M%S" if isinstance(start, datetime) else "%Y%m%d")
    problem = icsfile.series_refusal(text, rules)
    if problem is not None:
        _log_once(problem)
        return False
    return True


def _first_instance(component: Any) -> rrule.rruleset | None:
    """The recurrence set of a component's first instance alone (its DTSTART, as
    vobject gives it: a DATE as a naive datetime)."""
    starts = component.contents.get("dtstart")
    if not starts:
        return None
    start = starts[0].value
    if not isinstance(start, datetime):
        start = datetime(start.year, start.month, start.day)
    single = rrule.rruleset()
    single.rdate(start)
    return single


@functools.lru_cache(maxsize=1024)
def _log_once(problem: str) -> None:
    logger.warning("stored series evaluated as its first instance only: %s", problem)


def cap_recurrences(vobject_item: vobject.base.Component, limit: int) -> None:
    """Cap the recurrence sets of the components of ``vobject_item`` at ``limit``
    instances each (in place). vobject maps lower-case attribute writes to iCalendar
    properties, hence ``object.__setattr__``."""
    for component in vobject_item.getChildren():
        if isinstance(component, vobject.icalendar.RecurringComponent):
            base = type(component)
            if getattr(base, "_calserver_capped", False):
                continue
            object.__setattr__(component, "__class__", _capped_class(base, limit))


def beyond_cap(
    first_start: int, indexed_until: int, indexed: int, window_start: int, limit: int
) -> bool:
    """Whether a window starting at ``window_start`` lies, by the density of the
    ``indexed`` instances listed between ``first_start`` and ``indexed_until``, well
    beyond the ``limit``-th instance of a series: there it has no instance (capped),
    and walking the series to find that out would be wasted (pure)."""
    if indexed < 2 or indexed_until <= first_start or window_start <= first_start:
        return False
    per_second = indexed / (indexed_until - first_start)
    return (window_start - first_start) * per_second > 2 * limit


def index_and_range(
    vobject_item: vobject.base.Component,
    component_name: str,
    horizon: int,
    max_instances: int,
    check: Callable[[datetime], None] | None = None,
) -> tuple[TimeIndex, tuple[int, int]]:
    """:func:`index_item` and Radicale's enclosing time range (``find_time_range``,
    the ``time_range`` of its items) from one walk over the instances instead of two.

    The walk goes on past the index's horizon as far as ``find_time_range``'s would (to
    the end of a finite series; to the first instance of an endless one, whose range
    ends at the end of time), and stops where both are complete. ``check`` sees every
    start and end the walk produces (it may raise to refuse the walk)."""
    if not component_name:
        return TimeIndex((), None), (TIMESTAMP_MIN, TIMESTAMP_MAX)
    cap_recurrences(vobject_item, max(SCAN_LIMIT, max_instances))
    spans: list[tuple[int, int]] = []
    indexed_until: int | None = None
    indexed = False  # the index has all it takes
    endless = False  # the range is complete (ends at the end of time)
    low: datetime | None = None
    high: datetime | None = None

    def range_fn(start: datetime, end: datetime, is_recurrence: bool) -> bool:
        nonlocal indexed_until, indexed, low, high
        if check is not None:
            check(start)
            check(end)
        if not endless:  # radicale.item.find_time_range
            if low is None or start < low:
                low = start
            if high is None or high < end:
                high = end
        if not indexed:  # index_item
            start_ts = _ts_floor(start)
            if not is_recurrence and (start_ts >= horizon or len(spans) >= max_instances):
                indexed_until = min(start_ts, horizon)
                indexed = True
            else:
                spans.append((start_ts, _ts_ceil(end)))
        return indexed and endless

    def infinity_fn(start: datetime) -> bool:
        nonlocal low, high, endless
        if check is not None:
            check(start)
        if low is None or start < low:
            low = start
        high = radicale_filter.DATETIME_MAX
        endless = True
        return False  # the index goes on to the horizon

    try:
        radicale_filter.visit_time_ranges(vobject_item, component_name, range_fn, infinity_fn)
    except (ValueError, AttributeError, TypeError, OverflowError) as exc:
        raise ValueError(f"the times of this {component_name} cannot be evaluated: {exc}") from exc
    if low is None:
        low = radicale_filter.DATETIME_MIN
    if high is None:
        high = radicale_filter.DATETIME_MAX
    return TimeIndex(tuple(spans), indexed_until), (
        math.floor(low.timestamp()),
        math.ceil(high.timestamp()),
    )
