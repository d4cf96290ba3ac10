"""What a viewer sees of an event: the busy view, and which items a view hides.

The busy view (DESIGN.md, "Rules in detail") keeps what a free/busy answer and a
calendar grid need -- times, recurrence rules and exceptions, TRANSP, STATUS and
``X-MICROSOFT-CDO-BUSYSTATUS`` -- shows "Busy" as the summary, and drops every other
text, attendee, organizer, alarm, attachment, category and X- property. It works on
the text, line by line (RFC 5545 3.1 unfolding), so it is deterministic (stable ETags)
and costs no parse; only the parameters that shape a time value survive, since any
parameter may carry text (``ATTENDEE;CN=...``), and only values of the shape of a
time, a rule or a token. UID and TZID are kept as they are: they are identifiers
(the event's and its time zone's), as the resource's href is.
"""

from __future__ import annotations

import hashlib
import re

from calserver.ical.icsfile import fold
from calserver.sharing.visibility import Level

PRODID = "-//calserver//busy view//EN"
BUSY_SUMMARY = "Busy"

#: RFC 5545 3.8.1.3; any other value (x-name, iana-token) counts as PRIVATE.
CLASSES = ("PUBLIC", "CONFIDENTIAL", "PRIVATE")
_CLASS_LINE = re.compile(r"^CLASS(?:;[^:\r\n]*)?:([^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_FOLD = re.compile(r"\r?\n[ \t]")

#: Properties of an event that the busy view keeps (RFC 5545 names).
_KEPT = frozenset(
    {
        "UID",
        "DTSTAMP",
        "DTSTART",
        "DTEND",
        "DURATION",
        "RRULE",
        "RDATE",
        "EXDATE",
        "RECURRENCE-ID",
        "TRANSP",
        "STATUS",
        "SEQUENCE",
        "X-MICROSOFT-CDO-BUSYSTATUS",
    }
)
#: Parameters that shape a kept value, with the values they may have (None: any, for
#: TZID, an identifier like UID); every other parameter, or value, is dropped.
_KEPT_PARAMS: dict[str, frozenset[str] | None] = {
    "TZID": None,
    "VALUE": frozenset({"DATE", "DATE-TIME", "PERIOD"}),
    "RANGE": frozenset({"THISANDFUTURE"}),
}
#: Components a busy view may contain; everything inside others is dropped.
_TIMEZONE_PARTS = frozenset({"VTIMEZONE", "STANDARD", "DAYLIGHT"})
_TIMEZONE_KEPT = frozenset({"TZID", "DTSTART", "TZOFFSETFROM", "TZOFFSETTO", "RRULE", "RDATE"})
#: Properties whose value is one of a few tokens: anything else is dropped, so that
#: no free text rides along in them.
_ENUMERATED = {
    "STATUS": frozenset({"TENTATIVE", "CONFIRMED", "CANCELLED"}),
    "TRANSP": frozenset({"OPAQUE", "TRANSPARENT"}),
    "X-MICROSOFT-CDO-BUSYSTATUS": frozenset(
        {"FREE", "TENTATIVE", "BUSY", "OOF", "WORKINGELSEWHERE"}
    ),
}
#: The shape of a kept time value (RFC 5545 3.3.4, 3.3.5, 3.3.6, 3.3.9, 3.3.14). A
#: value the parser accepted is not always this clean (vobject reads a DTSTART from its
#: first 16 characters, so "DTSTART:20260601T100000Z" folded onto a DESCRIPTION is
#: stored whole): anything else is dropped, so that no text rides along in a time.
_WHEN = r"\d{8}(?:T\d{6}Z?)?"
_DURATION = r"[+-]?P(?=[^,]*\d)(?:\d+W)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?"
_INSTANT = rf"{_WHEN}(?:/(?:{_WHEN}|{_DURATION}))?"  # a date, date-time or period
_SHAPES = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "DTSTAMP": r"\d{8}T\d{6}Z?",
        "DTSTART": _WHEN,
        "DTEND": _WHEN,
        "RECURRENCE-ID": _WHEN,
        "DURATION": _DURATION,
        "RDATE": rf"{_INSTANT}(?:,{_INSTANT})*",
        "EXDATE": rf"{_WHEN}(?:,{_WHEN})*",
        "SEQUENCE": r"\d{1,10}",
        "TZOFFSETFROM": r"[+-]\d{4}(?:\d{2})?",
        "TZOFFSETTO": r"[+-]\d{4}(?:\d{2})?",
    }.items()
}
#: RFC 5545 3.3.10 recur-rule-parts and the shape of their values; x-name parts are
#: dropped, and a rule with a part of another shape is dropped whole.
_WEEKDAY = "(?:MO|TU|WE|TH|FR|SA|SU)"
_NUMBERS = r"[+-]?\d{1,3}(?:,[+-]?\d{1,3})*"
_RULE_PARTS = {
    name: re.compile(pattern)
    for name, pattern in {
        "FREQ": "SECONDLY|MINUTELY|HOURLY|DAILY|WEEKLY|MONTHLY|YEARLY",
        "UNTIL": _WHEN,
        "COUNT": r"\d{1,10}",
        "INTERVAL": r"\d{1,10}",
        "BYSECOND": _NUMBERS,
        "BYMINUTE": _NUMBERS,
        "BYHOUR": _NUMBERS,
        "BYDAY": rf"(?:[+-]?\d{{1,2}})?{_WEEKDAY}(?:,(?:[+-]?\d{{1,2}})?{_WEEKDAY})*",
        "BYMONTHDAY": _NUMBERS,
        "BYYEARDAY": _NUMBERS,
        "BYWEEKNO": _NUMBERS,
        "BYMONTH": _NUMBERS,
        "BYSETPOS": _NUMBERS,
        "WKST": _WEEKDAY,
    }.items()
}


def item_class(text: str) -> str:
    """The item's effective CLASS: the most restrictive of its components'."""
    rank = 0
    for match in _CLASS_LINE.finditer(_FOLD.sub("", text)):
        value = match.group(1).strip().upper()
        rank = max(rank, CLASSES.index(value) if value in CLASSES else 2)
    return CLASSES[rank]


def hidden_classes(level: Level) -> tuple[str, ...]:
    """The classes of the items a view at ``level`` does not contain at all."""
    if level >= Level.OWNER:
        return ()
    if level >= Level.READ:
        return ("PRIVATE",)
    return ("CONFIDENTIAL", "PRIVATE")


def shown_from(klass: str, component: str) -> Level:
    """The lowest level whose view contains an item of this CLASS and component
    (DESIGN.md's table): a busy view holds public events only (a busy task means
    nothing); readers and writers also see confidential events (as busy blocks) and
    public tasks and journal entries; private items, and confidential tasks and
    journal entries, only the owner. ``CollectionBase._visible`` is the same rule
    in SQL."""
    if klass == "PUBLIC":
        return Level.FREEBUSY if component == "VEVENT" else Level.READ
    if klass == "CONFIDENTIAL" and component == "VEVENT":
        return Level.READ
    return Level.OWNER


def shows_busy(level: Level, klass: str) -> bool:
    """Whether a visible item is served as its busy view at ``level``."""
    if level >= Level.OWNER:
        return False
    return level < Level.READ or klass != "PUBLIC"


def view_etag(etag: str) -> str:
    """The ETag of an item's busy view (the same at every level): derived from the
    stored ETag, so it changes whenever the item does, without redacting the item."""
    digest = hashlib.sha256(("busy-view\x00" + etag).encode())
    return '"%s"' % digest.hexdigest()[:40]


def _split(line: str) -> tuple[str, list[str], str]:
    """(NAME, params, value) of an unfolded content line; quoted parameter values may
    contain ':' and ';' (RFC 5545 3.1)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in ";:":
            parts.append("".join(current))
            current = []
            if char == ":":
                return parts[0].upper(), parts[1:], line[index + 1 :]
            continue
        current.append(char)
    return line.upper(), [], ""


def _kept_params(params: list[str]) -> str:
    kept = []
    for param in params:
        name, _, value = param.partition("=")
        name = name.strip().upper()
        if name not in _KEPT_PARAMS:
            continue
        allowed = _KEPT_PARAMS[name]
        if allowed is None:
            kept.append(f"{name}={value}")
        elif value.strip().upper() in allowed:
            kept.append(f"{name}={value.strip().upper()}")
    return "".join(";" + p for p in kept)


def _kept_value(name: str, value: str) -> str | None:
    allowed = _ENUMERATED.get(name)
    if allowed is not None:
        value = value.strip().upper()
        return value if value in allowed else None
    if name == "RRULE":
        parts = []
        for part in value.split(";"):
            key, _, part_value = part.strip().upper().partition("=")
            shape = _RULE_PARTS.get(key)
            if shape is None:
                continue
            if not shape.fullmatch(part_value):
                return None
            parts.append(f"{key}={part_value}")
        return ";".join(parts) if parts else None
    shape = _SHAPES.get(name)
    if shape is not None:
        value = value.strip()
        return value if shape.fullmatch(value) else None
    return value


def busy_view(text: str) -> str:
    """The busy view of one stored calendar object resource."""
    lines = _FOLD.sub("", text).replace("\r\n", "\n").split("\n")
    out: list[str] = []
    stack: list[str] = []
    dropping = 0  # depth inside a dropped component
    for line in lines:
        if not line:
            continue
        name, params, value = _split(line)
        if name in ("BEGIN", "END"):
            component = value.strip().upper()
            if name == "BEGIN":
                stack.append(component)
                if dropping or component not in ("VCALENDAR", "VEVENT", *_TIMEZONE_PARTS):
                    dropping += 1
                    continue
                out.append("BEGIN:" + component)
                if component == "VCALENDAR":
                    out.append("VERSION:2.0")
                    out.append("PRODID:" + PRODID)
                elif component == "VEVENT":
                    out.append("SUMMARY:" + BUSY_SUMMARY)
            else:
                if stack:
                    stack.pop()
                if dropping:
                    dropping -= 1
                    continue
                out.append("END:" + component)
            continue
        if dropping or not stack:
            continue
        where = stack[-1]
        if (where == "VEVENT" and name in _KEPT) or (
            where in _TIMEZONE_PARTS and name in _TIMEZONE_KEPT
        ):
            kept = _kept_value(name, value)
            if kept is not None:
                out.append(name + _kept_params(params) + ":" + kept)
        elif where == "VCALENDAR" and name == "CALSCALE" and value.upper() == "GREGORIAN":
            out.append("CALSCALE:GREGORIAN")
    return "".join(fold(line) + "\r\n" for line in out)
