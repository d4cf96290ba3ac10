"""The row of a plain event computed without vobject: the import's fast path.

An import of 100,000 events spent most of its time in vobject: reading each event's
skeleton, turning every VTIMEZONE into a dateutil ``tzical`` and comparing it with the
zones already known, then walking the event's instances twice (Radicale's enclosing
time range, then the time index). Most events of a calendar are single events: one
VEVENT with a DTSTART, a DTEND or a DURATION, no recurrence. For those,
:func:`plain_event_row` reads the few properties the row needs with strict patterns and
computes what Radicale's ``visit_time_ranges`` would (RFC 4791 9.9, the same Python
date arithmetic), with IANA time zones from ``zoneinfo``; a VTIMEZONE is used through
``zoneinfo`` only where its own rules give the same UTC offsets as the IANA zone of its
name over the years the event may fall in (checked once per distinct VTIMEZONE text).

Anything else (a series, an override, a task, a non-IANA or differing VTIMEZONE, a DST
gap or overlap, a value the patterns do not know, anything Radicale would sanitise or
refuse) gives None: the caller takes the general path, so the rows are those of that
path, field for field.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import vobject
from radicale.item import filter as radicale_filter
from radicale.item import get_etag

from calserver.ical import icsfile, vobjectzones

#: Events are computed here only within these years: the VTIMEZONE check covers them.
FIRST_YEAR = 1971
LAST_YEAR = 2037

_DATE = re.compile(r"\d{8}\Z")
_DATE_TIME = re.compile(r"\d{8}T\d{6}Z?\Z")
_DURATION = re.compile(r"\+?P(?:(\d+)W|(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?)\Z")
_PLAIN_TEXT = re.compile(r"[^\\;,\"]*\Z")
#: Properties of a plain event's skeleton (``icsfile.TIME_PROPERTIES``) and what they
#: may carry; any other one (RRULE, RDATE, EXDATE, RECURRENCE-ID, DUE, COMPLETED) sends
#: the event to the general path.
_PLAIN = frozenset({"UID", "DTSTART", "DTEND", "DURATION", "CREATED", "STATUS", "TRANSP"})
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_UTC = vobject.icalendar.utc  # what vobject gives a "Z" time, and Radicale a floating one


def plain_event_row(
    text: str, skeleton: str, horizon: int, max_instances: int
) -> tuple[dict[str, Any], list[tuple[int, int]]] | None:
    """The row fields (``calserver.storage.rows.prepare_row``'s) and instance spans of
    an event given by its full ``text`` and its ``skeleton`` (``icsfile.Resource``), or
    None when it is not a plain event that this module computes exactly."""
    lines = skeleton.split("\r\n")
    if lines[:3] != ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:" + icsfile.PRODID]:
        return None
    zones: dict[str, Zone] = {}
    index = 3
    while lines[index] == "BEGIN:VTIMEZONE":
        closing = lines.index("END:VTIMEZONE", index)
        found = _zone("\r\n".join(lines[index : closing + 1]))
        if found is None:
            return None
        zones[found[0]] = found[1]
        index = closing + 1
    if lines[index] != "BEGIN:VEVENT" or lines[-3:] != ["END:VEVENT", "END:VCALENDAR", ""]:
        return None
    props: dict[str, str] = {}
    for line in lines[index + 1 : -3]:
        name, sep, _ = line.partition(":")
        head = name.partition(";")[0].upper()
        if not sep or head not in _PLAIN or head in props:
            return None  # a sub-component, a second property, a recurrence, ...
        props[head] = line
    if "UID" not in props or "DTSTART" not in props or ("DTEND" in props and "DURATION" in props):
        return None
    uid = props["UID"][4:] if props["UID"][:4].upper() == "UID:" else ""
    if not uid or uid != uid.strip() or not _PLAIN_TEXT.match(uid):
        return None
    for name in ("STATUS", "TRANSP"):
        if name in props and not re.match(name + r":[A-Za-z-]*\Z", props[name], re.I):
            return None
    if "CREATED" in props and _value(props["CREATED"], {}, date_time_only=True) is None:
        return None
    start = _value(props["DTSTART"], zones)
    if start is None:
        return None
    end = _value(props["DTEND"], zones) if "DTEND" in props else None
    if "DTEND" in props and (end is None or not _same_kind(start, end)):
        return None  # vobject and the general path judge mixed values
    duration = _duration(props["DURATION"]) if "DURATION" in props else None
    if "DURATION" in props and duration is None:
        return None
    if icsfile.CONTROL_CHARACTERS.search(text):
        return None
    # radicale.item.filter.visit_time_ranges, VEVENT without recurrence
    is_datetime = isinstance(start, datetime)
    begin = radicale_filter.date_to_datetime(start)
    if end is not None:
        original = (end - start).total_seconds()
        finish = begin + timedelta(seconds=original)
    elif duration is not None:
        finish = begin + duration if duration.total_seconds() > 0 else begin + _SECOND
    elif is_datetime:
        finish = begin + _SECOND
    else:
        finish = begin + _DAY
    start_ts = math.floor(begin.timestamp())
    spans: list[tuple[int, int]] = []
    indexed_until = None
    clamped = max(radicale_filter.TIMESTAMP_MIN, min(radicale_filter.TIMESTAMP_MAX, start_ts))
    if clamped >= horizon or max_instances <= 0:
        indexed_until = min(clamped, horizon)
    else:
        end_ts = math.ceil(finish.timestamp())
        end_ts = max(radicale_filter.TIMESTAMP_MIN, min(radicale_filter.TIMESTAMP_MAX, end_ts))
        spans.append((clamped, end_ts))
    row = {
        "uid": uid,
        "etag": get_etag(text),
        "name": "VCALENDAR",
        "component": "VEVENT",
        "start_ts": start_ts,
        "end_ts": math.ceil(finish.timestamp()),
        "indexed_until": indexed_until,
        "text": text,
    }
    return row, spans


def _same_kind(start: date, end: date) -> bool:
    if isinstance(start, datetime) != isinstance(end, datetime):
        return False
    if isinstance(start, datetime) and isinstance(end, datetime):
        return (start.tzinfo is None) == (end.tzinfo is None)
    return True


def _value(line: str, zones: dict[str, Zone], date_time_only: bool = False) -> date | None:
    """A DATE or DATE-TIME value as vobject reads it, None for anything unusual."""
    head, _, value = line.partition(":")
    params = head.split(";")[1:]
    zone: Zone | None = None
    kind = "DATE-TIME"
    for param in params:
        key, _, val = param.partition("=")
        key = key.upper()
        if key == "TZID" and val in zones and zone is None:
            zone = zones[val]
        elif key == "VALUE" and val.upper() in ("DATE", "DATE-TIME") and kind == "DATE-TIME":
            kind = val.upper()
        else:
            return None
    try:
        if kind == "DATE":
            if date_time_only or zone is not None or not _DATE.match(value):
                return None
            day = date(int(value[:4]), int(value[4:6]), int(value[6:8]))
            return day if FIRST_YEAR <= day.year <= LAST_YEAR else None
        if not _DATE_TIME.match(value):
            return None
        moment = datetime(
            int(value[:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
        )
    except ValueError:
        return None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None
    if value.endswith("Z"):
        return None if zone is not None else moment.replace(tzinfo=_UTC)
    if zone is None:
        return moment  # floating
    if moment.year not in zone.years:
        return None  # the VTIMEZONE's rules are not the IANA zone's that year
    local = moment.replace(tzinfo=zone.iana)
    # in a DST gap or overlap, dateutil's tzical and zoneinfo may read the time apart
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        return None
    if local.astimezone(UTC).astimezone(zone.iana).replace(tzinfo=None) != moment:
        return None
    return local


def _duration(line: str) -> timedelta | None:
    head, _, value = line.partition(":")
    if head.upper() != "DURATION":
        return None
    match = _DURATION.match(value)
    if match is None or value.rstrip("+P").endswith("T") or value in ("P", "+P"):
        return None
    weeks, days, hours, minutes, seconds = (int(part) if part else 0 for part in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


@functools.lru_cache(maxsize=256)
def _zone(block: str) -> tuple[str, Zone] | None:
    """The TZID of a VTIMEZONE (its text), its IANA zone and the years in which the
    VTIMEZONE's own rules give the IANA zone's UTC offsets at every instant, else None
    (not an IANA name, or not readable)."""
    tzids = [line[5:] for line in block.split("\r\n") if line[:5].upper() == "TZID:"]
    if len(tzids) != 1 or not icsfile.is_iana_zone(tzids[0]) or tzids[0].startswith("/"):
        return None
    tzid = tzids[0]
    try:
        calendar = vobject.readOne("BEGIN:VCALENDAR\r\n" + block + "\r\nEND:VCALENDAR\r\n")
        ical = calendar.vtimezone.gettzinfo()
        iana = ZoneInfo(tzid)
        if ical is None:
            return None
        years = _agreeing_years(ical, iana)
    except Exception:  # vobject and dateutil raise many kinds on bad data
        return None
    return tzid, Zone(iana, years)


class Zone(NamedTuple):
    """An IANA zone, and the years in which a VTIMEZONE of its name agrees with it."""

    iana: ZoneInfo
    years: frozenset[int]


def _agreeing_years(ical: Any, iana: ZoneInfo) -> frozenset[int]:
    """The years from :data:`FIRST_YEAR` to :data:`LAST_YEAR` (with a day of margin on
    either side) in which two zones give the same UTC offset at every instant: compared
    just before, at and after every transition of either, and at each day's start
    (both are constant between their transitions)."""
    low = datetime(FIRST_YEAR - 1, 1, 1, tzinfo=UTC)
    high = datetime(LAST_YEAR + 2, 1, 1, tzinfo=UTC)
    points: set[datetime] = set()
    for comp in getattr(ical, "_comps", ()):
        for wall in comp.rrule.between(low.replace(tzinfo=None), high.replace(tzinfo=None), True):
            points.add((wall - comp.tzoffsetfrom).replace(tzinfo=UTC))
    step = timedelta(hours=6)
    moment = low
    offset = moment.astimezone(iana).utcoffset()
    while moment < high:
        following = moment + step
        after = following.astimezone(iana).utcoffset()
        if after != offset:
            lo, hi = moment, following  # the change lies in (lo, hi]
            while hi - lo > _SECOND:
                mid = (lo + (hi - lo) / 2).replace(microsecond=0)
                if mid.astimezone(iana).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            points.add(hi)
            offset = after
        moment = following
    # both zones are constant between consecutive points: a probe at, just before and
    # just after each point sees every difference; a difference marks the years of
    # the whole span up to the next point
    ordered = sorted({low, high, *(p for p in points if low <= p <= high)})
    bad: set[int] = set()
    for point, following in itertools.pairwise(ordered):
        for instant in (point - _SECOND, point, point + _SECOND):
            if instant.astimezone(iana).utcoffset() != instant.astimezone(ical).utcoffset():
                bad.update(range((instant - _DAY).year, (following + _DAY).year + 1))
    return frozenset(set(range(FIRST_YEAR, LAST_YEAR + 1)) - bad)


#: A DATE-TIME value anywhere in a line (its year is the first four digits).
_DATE_TIME_VALUE = re.compile(r"[:,;=](\d{4})\d{4}T\d{6}")


def iana_skeleton(skeleton: str) -> tuple[str, dict[str, Zone]] | None:
    """A skeleton (``icsfile.Resource.skeleton``) without its VTIMEZONEs, and the IANA
    zone of each, where every one of them agrees with the IANA zone of its name in
    every year its zoned DATE-TIME values and its UNTILs name (the instances a walk
    produces are checked by :func:`instant_check`); None where one does not."""
    lines = skeleton.split("\r\n")
    kept: list[str] = []
    zones: dict[str, Zone] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        if line == "BEGIN:VTIMEZONE":
            try:
                end = lines.index("END:VTIMEZONE", index)
            except ValueError:
                return None
            found = _zone("\r\n".join(lines[index : end + 1]))
            if found is None or found[0] in zones:
                return None
            zones[found[0]] = found[1]
            index = end + 1
            continue
        kept.append(line)
        index += 1
    if not zones:
        return skeleton, zones
    years = functools.reduce(frozenset.intersection, (zone.years for zone in zones.values()))
    for line in kept:
        upper = line[:200].upper()
        if "TZID=" not in upper and not upper.startswith("RRULE"):
            continue  # a UTC or floating time: no zone reads it
        for year in _DATE_TIME_VALUE.findall(line):
            if int(year) not in years:
                return None
    return "\r\n".join(kept), zones


def instant_check(zones: dict[str, Zone]) -> Callable[[datetime], None]:
    """A check of each start and end a walk over a series read with these zones
    produces: ValueError for one in a year where a zone's VTIMEZONE and its IANA rules
    differ, or in a DST gap or overlap (where dateutil's ``tzical`` and ``zoneinfo``
    may read a local time apart)."""
    years = {zone.iana.key: zone.years for zone in zones.values()}

    def check(moment: datetime) -> None:
        zone = moment.tzinfo
        if not isinstance(zone, ZoneInfo):
            return
        if moment.year not in years.get(zone.key, ()):
            raise ValueError("outside the years checked")
        if moment.utcoffset() != moment.replace(fold=1).utcoffset():
            raise ValueError("in a DST overlap")
        wall = moment.replace(tzinfo=None)
        if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
            raise ValueError("in a DST gap")

    return check


def iana_registry(zones: dict[str, Zone]) -> contextlib.AbstractContextManager[None]:
    """vobject's TZID registry holding these zones while a skeleton without its
    VTIMEZONEs is read (vobject looks a TZID parameter up there)."""
    return vobjectzones.scope({tzid: zone.iana for tzid, zone in zones.items()})
