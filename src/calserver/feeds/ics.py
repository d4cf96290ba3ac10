"""A calendar as one subscribable ``calendar.ics``, and one event as a downloadable
``.ics`` (issue 4, items 3 and 6).

The feed is one VCALENDAR (RFC 5545 3.4) built item by item, so that a large calendar
is streamed: :func:`calserver.ical.icsfile.join_calendar` sends each VTIMEZONE once. It
carries its name and description (``X-WR-CALNAME``, ``X-WR-CALDESC``, read by Apple,
Google and Outlook) and a refresh interval of one hour (RFC 7986 5.7, with Outlook's
``X-PUBLISHED-TTL``). Alarms never leave the server. The caller has already chosen the
items (window, visibility) and redacted busy views: this module only shapes them.
Pure functions over texts: no I/O.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from calserver.ical import icsfile
from calserver.ical.icsfile import EXPORT_PRODID, IcsError, fold, join_calendar, unfold
from calserver.ical.occurrences import ITEM_ERRORS, expand_events, is_recurring

logger = logging.getLogger(__name__)

#: RFC 7986 5.7, and Outlook's older name for it.
REFRESH = "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\nX-PUBLISHED-TTL:PT1H\r\n"
_ITEMS = ("VEVENT", "VTODO", "VJOURNAL")
#: Properties holding one DATE-TIME, converted to UTC when asked (RFC 5545 3.3.5 form 2).
_SINGLE_TIMES = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID")
#: Properties holding a list of DATE-TIMEs or PERIODs (RFC 5545 3.8.5.1, 3.8.5.2).
_LIST_TIMES = ("EXDATE", "RDATE")
_NAME = re.compile(r"[A-Za-z0-9-]+[;:]")
#: Most occurrences one series contributes to an expanded feed.
EXPAND_LIMIT = 5000


def calendar_ics(
    items: Iterable[str],
    *,
    name: str = "",
    description: str = "",
    window: tuple[datetime, datetime] | None = None,
    expand: bool = False,
    utc: bool = False,
    tz: ZoneInfo | None = None,
    limit: int = EXPAND_LIMIT,
) -> Iterator[str]:
    """Chunks of one VCALENDAR holding the stored ``items`` (texts), CRLF and folded.

    - VALARM components are always removed;
    - ``expand``: each occurrence overlapping ``window`` becomes its own component with
      a RECURRENCE-ID and no RRULE, RDATE or EXDATE (the shape RFC 4791 9.6.5 gives
      CalDAV's expand); a non-recurring event stays as it is (no RECURRENCE-ID); at
      most ``limit`` occurrences per series. Needs ``window``;
    - ``utc``: DTSTART, DTEND, DUE, RECURRENCE-ID, EXDATE, RDATE (and a rule's UNTIL)
      of timed components in UTC (RFC 5545 3.3.5 form 2), VTIMEZONE components dropped;
      DATE values are untouched; floating times are taken in ``tz`` (and stay floating
      without one);
    - otherwise each VTIMEZONE once.

    ``tz`` also places floating times and all-day dates in the window when expanding
    (UTC without it). An item that cannot be parsed is skipped (logged at debug).
    """
    if expand and window is None:
        raise ValueError("expanding recurrences needs a window")
    zone = tz or ZoneInfo("UTC")
    shaped = (_shape(text, window, expand, utc, zone, limit) for text in items)
    chunks = join_calendar((text for text in shaped if text is not None), name, description)
    # join_calendar's first chunk is BEGIN:VCALENDAR, VERSION and PRODID; calendar
    # properties must come before the first component (RFC 5545 3.6).
    yield next(chunks)
    yield REFRESH
    yield from chunks


def _shape(
    text: str,
    window: tuple[datetime, datetime] | None,
    expand: bool,
    utc: bool,
    tz: ZoneInfo,
    limit: int,
) -> str | None:
    """One item as a VCALENDAR text ready for ``join_calendar``, or None if malformed."""
    if not expand and not utc:
        return _without_alarms(text)
    try:
        refused = icsfile.evaluation_refusal(text) if expand else None
        if refused is not None:
            raise ValueError(f"its series is not evaluated: {refused}")
        calendar = icalendar.Calendar.from_ical(text)
        components = _expanded(calendar, window, tz, limit) if expand else _items(calendar)
        if utc:
            components = [_in_utc(c, tz) for c in components if c.name != "VTIMEZONE"]
        body = "".join(_without_alarm_components(c).to_ical().decode() for c in components)
    except ITEM_ERRORS as exc:
        logger.debug("feeds: skipping an item of the feed: %s: %s", type(exc).__name__, exc)
        return None
    return "BEGIN:VCALENDAR\r\n" + body + "END:VCALENDAR\r\n"


def _without_alarms(text: str) -> str | None:
    """The item's text, unfolded and refolded (RFC 5545 3.1), without its VALARM
    components, or None unless it is one balanced VCALENDAR of content lines.

    Text-level, for the default feed: no parse, so a large calendar costs little.
    """
    lines = unfold(text)
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR":
        return None
    kept: list[str] = []
    stack: list[str] = []
    for line in lines:
        if not _NAME.match(line):
            return None
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            stack.append(upper[6:].strip())
        in_alarm = "VALARM" in stack
        if upper.startswith("END:"):
            if not stack or stack.pop() != upper[4:].strip():
                return None
        elif not stack:
            return None  # a line after END:VCALENDAR
        if not in_alarm:
            kept.append(fold(line) + "\r\n")
    if stack:
        return None
    return "".join(kept)


def _items(calendar: Any) -> list[Any]:
    return [c for c in calendar.subcomponents if c.name in (*_ITEMS, "VTIMEZONE")]


def _expanded(
    calendar: Any, window: tuple[datetime, datetime] | None, tz: ZoneInfo, limit: int
) -> list[Any]:
    """The components of one item with its series expanded in ``window``."""
    assert window is not None
    start, end = window
    recurring = is_recurring(calendar)
    found = expand_events(calendar, start, end, tz, limit=limit)
    others = ("VTODO", "VJOURNAL")
    if any(c.name in others for c in calendar.subcomponents):
        # Tasks and journal entries are placed by recurring_ical_events alone.
        query = recurring_ical_events.of(calendar, components=others)
        found.extend(query.between(start, end))
        recurring = recurring or any(
            "RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c
            for c in calendar.subcomponents
            if c.name in others
        )
    if not recurring:
        for component in found:
            component.pop("RECURRENCE-ID", None)
    if not found:
        return []
    zones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    return zones + found


def _without_alarm_components(component: Any) -> Any:
    """``component`` without VALARM sub-components (a new list: expanded occurrences
    are shallow copies that share their master's)."""
    component.subcomponents = [c for c in component.subcomponents if c.name != "VALARM"]
    return component


def _to_utc(value: Any, tz: tzinfo) -> Any:
    """A DATE-TIME (or a PERIOD's bounds) in UTC; DATEs, durations and floating times
    without a zone unchanged."""
    if isinstance(value, tuple):
        return tuple(_to_utc(v, tz) for v in value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        return value.astimezone(UTC)
    return value


def _in_utc(component: Any, tz: tzinfo) -> Any:
    """``component`` with its times in UTC (RFC 5545 3.3.5 form 2), TZID dropped."""
    for name in (*_SINGLE_TIMES, *_LIST_TIMES):
        if name not in component:
            continue
        values = component.pop(name)
        for prop in values if isinstance(values, list) else [values]:
            params = {k: v for k, v in prop.params.items() if k.upper() != "TZID"}
            if name in _LIST_TIMES:
                new: Any = [_to_utc(v.dt, tz) for v in prop.dts]
            else:
                new = _to_utc(prop.dt, tz)
            component.add(name, new, parameters=params)
    rule = component.get("RRULE")
    if rule is not None and not isinstance(rule, list) and "UNTIL" in rule:
        start = component.get("DTSTART")
        if start is not None and isinstance(start.dt, datetime):
            rule = icalendar.vRecur(rule)  # a copy: never change a shared master
            rule["UNTIL"] = [
                _to_utc(v, tz) if isinstance(v, datetime) else v for v in rule["UNTIL"]
            ]
            component["RRULE"] = rule
    return component


def _address(value: object) -> str:
    """A calendar user address compared case-insensitively, "mailto:" optional."""
    text = str(value).strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    return text.lower()


def event_download(text: str, downloader_addresses: Iterable[str]) -> str:
    """One stored item as a standalone ``.ics`` to import into a mail client (issue 4,
    item 6), with ``METHOD:PUBLISH`` (RFC 5546 3.2.1).

    Each ATTENDEE once (by address, case-insensitive; the first kept); the ORGANIZER
    omitted when it is one of ``downloader_addresses`` (Outlook refuses to import an
    event whose organizer is the user importing it), never added when absent; VALARM
    components removed. Raises :class:`calserver.ical.icsfile.IcsError` if ``text`` is not
    iCalendar.
    """
    mine = {_address(a) for a in downloader_addresses}
    try:
        source = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise IcsError(f"not an iCalendar object: {exc}") from exc
    out = icalendar.Calendar()
    out.add("PRODID", EXPORT_PRODID)
    out.add("VERSION", "2.0")
    out.add("METHOD", "PUBLISH")
    for component in _items(source):
        if component.name != "VTIMEZONE":
            _without_alarm_components(component)
            _dedupe_attendees(component)
            organizer = component.get("ORGANIZER")
            if isinstance(organizer, icalendar.vCalAddress) and _address(organizer) in mine:
                del component["ORGANIZER"]
        out.add_component(component)
    return out.to_ical().decode()


def _dedupe_attendees(component: Any) -> None:
    attendees = component.pop("ATTENDEE", None)
    if attendees is None:
        return
    seen: set[str] = set()
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        address = _address(attendee)
        if address not in seen:
            seen.add(address)
            component.add("ATTENDEE", attendee)
