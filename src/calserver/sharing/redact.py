"""What a viewer sees of an event: the busy view, and which items a view hides.

The busy view (DESIGN.md, "Rules in detail") keeps what a free/busy answer and a
calendar grid need -- times, recurrence rules and exceptions, TRANSP, STATUS and
``X-MICROSOFT-CDO-BUSYSTATUS`` -- shows "Busy" as the summary, and drops every other
text, attendee, organizer, alarm, attachment, category and X- property. It works on
the text, line by line (RFC 5545 3.1 unfolding), so it is deterministic (stable ETags)
and costs no parse; only the parameters that shape a time value survive, since any
parameter may carry text (``ATTENDEE;CN=...``).
"""

from __future__ import annotations

import hashlib
import re

from calserver.sharing.levels import Level

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
#: Parameters that shape a kept value; every other parameter is dropped.
_KEPT_PARAMS = frozenset({"TZID", "VALUE", "RANGE"})
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
#: RFC 5545 3.3.10 recur-rule-parts; x-name parts are dropped.
_RULE_PARTS = frozenset(
    {
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)


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
    kept = [p for p in params if p.split("=", 1)[0].upper() in _KEPT_PARAMS]
    return "".join(";" + p for p in kept)


def _kept_value(name: str, value: str) -> str | None:
    allowed = _ENUMERATED.get(name)
    if allowed is not None:
        value = value.strip().upper()
        return value if value in allowed else None
    if name == "RRULE":
        parts = [p for p in value.split(";") if p.split("=", 1)[0].upper() in _RULE_PARTS]
        return ";".join(parts) if parts else None
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
    return "".join(_fold(line) + "\r\n" for line in out)


def _fold(line: str) -> str:
    from calserver.icsfile import fold

    return fold(line)
