"""Occurrences of a calendar's events in a time window, and the feeds' windows.

The RSS feeds and the public pages (issue 4) show each occurrence of an event as one
entry: recurrence rules, dates and exceptions expanded (RFC 5545 3.8.5, by
``recurring_ical_events``), overridden instances in their moved place, in the viewer's
time zone. Pure functions over stored item texts and aware datetimes: no I/O.

Windows (DESIGN.md): "today" is the whole current day, "this week" the calendar week
containing today (from the viewer's first day of the week), "this month" the calendar
month containing today, "next 30 days" from now -- all in the viewer's time zone.
Day boundaries are computed as local dates first, each midnight localised with
``zoneinfo`` and then converted to UTC, so a 23 or 25 hour day (a daylight-saving
change) is a day; the windows are returned in UTC so that comparing and subtracting
them never falls into Python's same-``tzinfo`` wall-clock arithmetic.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time as time_module
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from calserver.ical import icsfile

logger = logging.getLogger(__name__)

FEED_KINDS = ("today", "week", "month", "30days")
PERIODS = ("week", "month")

#: How far beyond the window the expansion looks, so that floating times and all-day
#: dates (placed in the viewer's zone only afterwards) are never cut off by the
#: library's own comparison; the exact overlap test is done here, in UTC.
_MARGIN = timedelta(days=2)

#: What a malformed item can raise while parsed or expanded (icalendar's and
#: recurring_ical_events' InvalidCalendar are ValueErrors; bad values surface as the
#: others when a property has an unexpected type).
ITEM_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)

#: Longest time the expansion of one item may take (its series ends there, logged);
#: the rules a PUT must pass keep every series far below it.
EVALUATION_SECONDS = 2.0

DASH = "\u2013"  # EN DASH, between the ends of a range
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: English month names (feeds, public pages, the web app).
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a VEVENT, placed in the viewer's time zone.

    ``recurrence_id`` is "" for a non-recurring event; else the occurrence's original
    start (RFC 5545 3.8.4.4) in UTC basic form (``20261121T090000Z``), or a date
    (``20261121``) for an all-day series, so that it names the occurrence even when an
    override moved it.
    """

    href: str
    uid: str
    recurrence_id: str
    start: datetime
    end: datetime
    all_day: bool
    summary: str
    location: str
    description: str
    status: str

    @property
    def guid_key(self) -> str:
        """``uid/recurrence-id``: the same for this occurrence on every request."""
        return self.uid + "/" + (self.recurrence_id or "")


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant ``day`` starts in ``tz``, in UTC.

    Where a daylight-saving gap swallows midnight, ``fold=0`` takes the offset before
    the change, which is the instant of the change: the first moment of the day.
    """
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def days_window(first_day: date, last_day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The window [start of ``first_day``, start of the day after ``last_day``) in UTC."""
    return local_midnight(first_day, tz), local_midnight(last_day + timedelta(days=1), tz)


def _check_week_start(week_start: int) -> None:
    if not 0 <= week_start <= 6:
        raise ValueError(f"week_start must be 0 (Monday) to 6 (Sunday), not {week_start!r}")


def period_bounds(period: str, anchor: date, week_start: int = 0) -> tuple[date, date]:
    """First and last day (both included) of the week or month containing ``anchor``;
    weeks start on ``week_start`` (0 = Monday .. 6 = Sunday)."""
    _check_week_start(week_start)
    if period == "week":
        first = anchor - timedelta(days=(anchor.weekday() - week_start) % 7)
        return first, first + timedelta(days=6)
    if period == "month":
        first = anchor.replace(day=1)
        following = (first + timedelta(days=31)).replace(day=1)
        return first, following - timedelta(days=1)
    raise ValueError(f"unknown period {period!r} (expected one of {PERIODS})")


def feed_window(
    kind: str, now: datetime, tz: ZoneInfo, week_start: int = 0
) -> tuple[datetime, datetime]:
    """The [start, end) window in UTC of the feed ``kind`` (one of :data:`FEED_KINDS`)
    for a viewer in ``tz`` at the instant ``now`` (aware).

    "30days" runs from ``now`` to the same local wall-clock time 30 days later.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    _check_week_start(week_start)
    local_now = now.astimezone(tz)
    today = local_now.date()
    if kind == "today":
        return days_window(today, today, tz)
    if kind in PERIODS:
        return days_window(*period_bounds(kind, today, week_start), tz)
    if kind == "30days":
        later = (local_now.replace(tzinfo=None) + timedelta(days=30)).replace(tzinfo=tz)
        return now.astimezone(UTC), later.astimezone(UTC)
    raise ValueError(f"unknown feed {kind!r} (expected one of {FEED_KINDS})")


def occurrences(
    items: Iterable[tuple[str, str]],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    *,
    limit: int = 5000,
) -> list[Occurrence]:
    """The occurrences of the VEVENTs in ``items`` ((href, text) of stored items) that
    overlap [``start``, ``end``), sorted by (start, summary), at most ``limit``.

    Recurrence (RRULE, RDATE, EXDATE) and overridden instances (RECURRENCE-ID) are
    expanded (RFC 5545 3.8.5, 3.8.4.4). Floating times are taken in ``tz``, all-day
    events are whole local days in ``tz``. An event without DTEND lasts its DURATION,
    else one day (a DATE start) or no time (a DATE-TIME start) (RFC 5545 3.6.1); a
    zero-length event is in the window when it starts in it (RFC 4791 9.9). Items
    without VEVENT (VTODO, VJOURNAL) give nothing; a malformed item is skipped.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the window must be aware datetimes")
    low, high = start.astimezone(UTC), end.astimezone(UTC)
    found = itertools.chain.from_iterable(
        _item_occurrences(href, text, low, high, tz, limit) for href, text in items
    )
    return heapq.nsmallest(limit, found, key=_sort_key)


def _sort_key(occurrence: Occurrence) -> tuple[datetime, str, str, str]:
    return (
        occurrence.start.astimezone(UTC),
        occurrence.summary,
        occurrence.uid,
        occurrence.recurrence_id,
    )


def _item_occurrences(
    href: str, text: str, low: datetime, high: datetime, tz: ZoneInfo, limit: int
) -> list[Occurrence]:
    """The occurrences of one item in [low, high); [] (logged) if it is malformed."""
    try:
        refused = icsfile.evaluation_refusal(text)
        if refused is not None:
            raise ValueError(f"its series is not evaluated: {refused}")
        calendar = icalendar.Calendar.from_ical(text)
        recurring = is_recurring(calendar)
        return [
            _occurrence(href, component, recurring, tz)
            for component in expand_events(calendar, low, high, tz, limit=limit)
        ]
    except ITEM_ERRORS as exc:
        logger.debug("feeds: skipping item %r: %s: %s", href, type(exc).__name__, exc)
        return []


def is_recurring(calendar: Any) -> bool:
    """Whether the (one UID's) events of ``calendar`` are a series: a rule, dates, or an
    overridden instance (RFC 5545 3.8.5, 3.8.4.4)."""
    return any(
        "RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c
        for c in calendar.subcomponents
        if c.name == "VEVENT"
    )


def expand_events(
    calendar: Any, start: datetime, end: datetime, tz: ZoneInfo, *, limit: int
) -> list[Any]:
    """The VEVENT occurrences of ``calendar`` (an icalendar Calendar) overlapping
    [``start``, ``end``), in order of start, at most ``limit``: copies made by
    recurring_ical_events, each with its DTSTART, DTEND and RECURRENCE-ID (also on a
    non-recurring event) and without RRULE, RDATE and EXDATE (RFC 5545 3.8.5; the
    shape RFC 4791 9.6.5 gives CalDAV's expand). Raises one of :data:`ITEM_ERRORS`
    if the calendar is malformed."""
    low, high = start.astimezone(UTC), end.astimezone(UTC)
    if not any(c.name == "VEVENT" for c in calendar.subcomponents):
        return []
    found: list[Any] = []
    query = recurring_ical_events.of(calendar, components=["VEVENT"])
    deadline = time_module.monotonic() + EVALUATION_SECONDS
    for component in query.after(low - _MARGIN):
        if time_module.monotonic() > deadline:
            # calserver.ical.timeindex bounds Radicale's evaluations alike
            logger.warning("feeds: a series took over %s s to expand: ended", EVALUATION_SECONDS)
            break
        first, last, _ = event_span(component, tz)
        if first >= high + _MARGIN:
            break  # ``after`` yields in order of start
        if _overlaps(first, last, low, high):
            found.append(component)
            if len(found) >= limit:
                break
    return found


def _overlaps(start: datetime, end: datetime, low: datetime, high: datetime) -> bool:
    """RFC 4791 9.9: overlap of [start, end), or a zero-length event starting inside."""
    if end <= start:
        return low <= start < high
    return start < high and end > low


def _aware(value: datetime, tz: tzinfo) -> datetime:
    """A DATE-TIME in UTC; a floating one (RFC 5545 3.3.5 form 1) taken in ``tz``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def event_span(component: Any, tz: ZoneInfo) -> tuple[datetime, datetime, bool]:
    """Start and end in UTC of a VEVENT (or one occurrence of it), and whether it is
    all-day. Floating times are taken in ``tz``; a DATE is the whole local day in
    ``tz``. Without DTEND: DURATION, else one day for a DATE and nothing for a
    DATE-TIME (RFC 5545 3.6.1). Raises one of :data:`ITEM_ERRORS` if the times are
    unusable (no DTSTART, a DATE end to a DATE-TIME start)."""
    first = component["DTSTART"].dt
    if "DTEND" in component:
        last = component["DTEND"].dt
    elif "DURATION" in component:
        last = first + component["DURATION"].dt
    elif isinstance(first, datetime):
        last = first
    else:
        last = first + timedelta(days=1)
    if not isinstance(first, datetime):
        last_date = last.date() if isinstance(last, datetime) else last
        start = local_midnight(first, tz)
        return start, max(local_midnight(last_date, tz), start), True
    if not isinstance(last, datetime):
        raise TypeError("DTEND is a DATE but DTSTART a DATE-TIME")
    return _aware(first, tz), _aware(last, tz), False


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def utc_basic(value: date, tz: tzinfo) -> str:
    """A RECURRENCE-ID as UTC basic form ``20261121T090000Z``, a DATE as ``20261121``;
    a floating time taken in ``tz``."""
    if isinstance(value, datetime):
        return _aware(value, tz).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def _occurrence(href: str, component: Any, recurring: bool, tz: ZoneInfo) -> Occurrence:
    """One expanded occurrence (a VEVENT copy from recurring_ical_events) as an
    :class:`Occurrence`."""
    start, end, all_day = event_span(component, tz)
    recurrence_id = utc_basic(component["RECURRENCE-ID"].dt, tz) if recurring else ""
    return Occurrence(
        href=href,
        uid=_text(component, "UID"),
        recurrence_id=recurrence_id,
        start=start.astimezone(tz),
        end=end.astimezone(tz),
        all_day=all_day,
        summary=_text(component, "SUMMARY"),
        location=_text(component, "LOCATION"),
        description=_text(component, "DESCRIPTION"),
        status=_text(component, "STATUS").upper(),
    )


# -- Texts shared by the RSS feeds and the HTML pages (English, locale-independent) --


def day_label(day: date) -> str:
    """``Sat 21 Nov 2026``."""
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def clock(moment: datetime) -> str:
    """``09:00``."""
    return moment.strftime("%H:%M")


def last_day(occurrence: Occurrence, tz: ZoneInfo) -> date:
    """The last local day ``occurrence`` covers (an all-day DTEND is exclusive)."""
    start, end = occurrence.start.astimezone(tz), occurrence.end.astimezone(tz)
    if end <= start:
        return start.date()
    return (end - timedelta(microseconds=1)).date()


def when(occurrence: Occurrence, tz: ZoneInfo) -> str:
    """The local date and time range of ``occurrence`` in ``tz``, with en dashes:
    ``Sat 21 Nov 2026, 09:00-10:00``, ``Sat 21 Nov 2026 - Sun 22 Nov 2026 (all day)``."""
    start, end = occurrence.start.astimezone(tz), occurrence.end.astimezone(tz)
    first = day_label(start.date())
    if occurrence.all_day:
        final = last_day(occurrence, tz)
        if final == start.date():
            return f"{first} (all day)"
        return f"{first} {DASH} {day_label(final)} (all day)"
    if end <= start:
        return f"{first}, {clock(start)}"
    if end.date() == start.date():
        return f"{first}, {clock(start)}{DASH}{clock(end)}"
    return f"{first}, {clock(start)} {DASH} {day_label(end.date())}, {clock(end)}"


def iter_days(first: date, final: date) -> Iterator[date]:
    """Each day from ``first`` to ``final``, both included."""
    day = first
    while day <= final:
        yield day
        day += timedelta(days=1)
