"""Splitting an iCalendar file into one resource per UID (RFC 4791 4.1).

Pure text processing, so a file of 100,000 events is never held as one vobject tree:
each resource gets the components of one UID (the master and its overridden
instances) and the VTIMEZONE components they reference.
"""

from __future__ import annotations

import functools
import itertools
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

PRODID = "-//calserver//import//EN"
EXPORT_PRODID = "-//calserver//calserver//EN"
_ITEM_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")


class IcsError(ValueError):
    pass


#: What decides when an item happens (RFC 4791 9.9) or which item it is; the rest of
#: an event (texts, attendees, alarms, X- properties) never changes its time index.
TIME_PROPERTIES = frozenset(
    {
        "UID",
        "DTSTART",
        "DTEND",
        "DURATION",
        "DUE",
        "COMPLETED",
        "CREATED",
        "RRULE",
        "RDATE",
        "EXDATE",
        "RECURRENCE-ID",
        "STATUS",
        "TRANSP",
    }
)

#: RFC 5545 3.1 contentline: name *(";" param) ":" value
_CONTENT_LINE = re.compile(
    r'[A-Za-z0-9-]+(?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)*:'
)


@dataclass(frozen=True)
class Resource:
    """One calendar object resource: its full text (folded), and a skeleton holding only
    its time zones and time properties, which is much cheaper to parse."""

    uid: str
    text: str
    skeleton: str


def component_names(text: str) -> set[str]:
    """Names of the components directly inside the VCALENDAR, VTIMEZONE excepted."""
    names: set[str] = set()
    depth = 0
    for line in unfold(text):
        upper = line[:40].upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            if depth == 2 and upper != "BEGIN:VTIMEZONE":
                names.add(upper[6:].strip())
        elif upper.startswith("END:"):
            depth -= 1
    return names


def unfold(text: str) -> list[str]:
    """Logical lines of ``text`` (RFC 5545 3.1), in time linear in its length (a line
    folded a million times is joined once, not grown a million times)."""
    lines: list[str] = []
    parts: list[str] = []
    for line in re.split(r"\r\n|\n|\r", text):
        if line[:1] in (" ", "\t") and parts:
            parts.append(line[1:])
        elif line:
            if parts:
                lines.append("".join(parts))
            parts = [line]
    if parts:
        lines.append("".join(parts))
    return lines


# --- limits on what a client may send (calserver.front refuses it with 400) -------

#: Longest logical content line. vobject's parser needs about 100 times a line's length
#: in memory while it reads the line; RFC 5545 3.1 folds lines at 75 octets.
MAX_LINE_LENGTH = 1_000_000
#: Most parameters and parameter values (";" and "," before the value) on one line:
#: vobject's memory grows faster than linearly with them (real clients send < 10).
MAX_LINE_PARAMETERS = 100
#: The name and parameters of a content line: everything before the first ":" that is
#: not inside a quoted parameter value.
_LINE_HEAD = re.compile(r'[^":]*(?:"[^"]*"[^":]*)*')


def refusal(text: str) -> str | None:
    """Why ``text`` (a PUT body) is refused before it is parsed, or None: an over-long
    line, a line with too many parameters, a recurrence rule (RFC 5545 3.3.10) that can
    never occur, several RRULEs in one component, an EXRULE. Pure."""
    # DTSTART and rules of every open component (VEVENT, VTODO, a VTIMEZONE's STANDARD)
    stack: list[tuple[list[str], list[str]]] = []
    lines = unfold(text)
    # each line's name and head once, for the three passes below
    names = [_name(line) for line in lines]
    heads = []
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_LENGTH:
            return f"line {number} is longer than {MAX_LINE_LENGTH} characters"
        match = _LINE_HEAD.match(line)
        head = match.group() if match else ""
        heads.append(head)
        if head.count(";") + head.count(",") > MAX_LINE_PARAMETERS:
            return f"line {number} has more than {MAX_LINE_PARAMETERS} parameters"
        upper = line[:40].upper()
        if upper.startswith("BEGIN:"):
            stack.append(([], []))
        elif upper.startswith("END:"):
            if stack:
                dtstart, rules = stack.pop()
                if len(rules) > 1:
                    # RFC 5545 3.6.1: "SHOULD NOT occur more than once"; Radicale checks
                    # the first rule's end only and lists every occurrence of the set
                    return f"line {number}: more than one RRULE in a component"
                problem = _rules_refusal(dtstart[0] if dtstart else "", rules)
                if problem is not None:
                    return problem
        elif stack:
            name = names[number - 1]
            if name in ("DTSTART", "DUE"):
                stack[-1][0].insert(0 if name == "DTSTART" else len(stack[-1][0]), line)
            elif name == "RRULE":
                stack[-1][1].append(line.partition(":")[2].strip())
            elif name == "EXRULE":
                # RFC 5545 A.3 deprecates it; "RRULE:FREQ=DAILY" with "EXRULE:FREQ=DAILY"
                # has no occurrence, which dateutil looks for until the year 9999
                return f"line {number}: EXRULE is not supported (deprecated by RFC 5545)"
    return _recurrence_refusal(lines, names) or _times_refusal(lines, names, heads)


def _rules_refusal(dtstart: str, rules: list[str]) -> str | None:
    """Why a component with DTSTART ``dtstart`` and these RRULE values is refused: a
    rule whose days can never occur (``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30``).
    dateutil looks for the next occurrence of such a rule period after period up to the
    year 9999, a minute of CPU wherever it is evaluated (Radicale's checks, the time
    index, every query). Found through a yearly rule over the same days (a superset of
    the rule's days), which dateutil walks quickly; rules empty for other reasons
    (INTERVAL, BYSETPOS), too dense or too sparse are :func:`_frequency_refusal`'s and
    :func:`_first_instance_refusal`'s."""

    if not rules:
        return None
    dtstart = dtstart.rpartition(":")[2].strip()
    try:  # a DATE or a DATE-TIME; the time zone does not change which days occur
        if len(dtstart) >= 15 and dtstart[8] in "Tt":
            start = datetime.strptime(dtstart[:15], "%Y%m%dT%H%M%S")
        else:
            start = datetime.strptime(dtstart[:8], "%Y%m%d")
    except ValueError:
        return None  # not a date: Radicale refuses the component
    for value in rules:
        parts = dict(
            part.split("=", 1) for part in value.upper().replace("\\", "").split(";") if "=" in part
        )
        if not any(name in parts for name in ("BYMONTHDAY", "BYYEARDAY", "BYWEEKNO")):
            continue  # months and weekdays alone always occur
        days = [f"{name}={parts[name]}" for name in _DAY_PARTS if name in parts]
        if "BYDAY" in parts:  # "2MO" (an ordinal) without its ordinal: more days
            days.append(
                "BYDAY=" + ",".join(d.lstrip("+-0123456789") for d in parts["BYDAY"].split(","))
            )
        try:
            probe = rrule.rrulestr(";".join(["FREQ=YEARLY", *days]), dtstart=start)
            empty = next(iter(probe), None) is None
        except (ValueError, TypeError, OverflowError, KeyError):
            continue  # Radicale judges what dateutil cannot read
        if empty:
            return Unbounded(f"recurrence rule {value[:80]!r} can never occur")
    for value in rules:
        problem = _frequency_refusal(value) or _first_instance_refusal(value, start)
        if problem is not None:
            return problem
    return None


_DAY_PARTS = ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO")

# --- bounded recurrences (RFC 4791 5.3.2.1: CALDAV:valid-calendar-object-resource) ------
#
# Whatever evaluates a series (Radicale's checks, the time index, every query, free/busy,
# expand, feeds) walks it period by period with dateutil; the rules below keep that walk
# short for every stored series. calserver.ical.timeindex bounds what was stored
# before these rules (instances, periods and time).

#: Most instances a rule may give on one day (four an hour): beyond, a series is a
#: clock rather than an event, and a day of it is more than a query may expand.
MAX_INSTANCES_PER_DAY = 96
#: A rule without UNTIL must give an instance (all of its COUNT instances) within this
#: many years of DTSTART: one that gives none is one dateutil would look for, period
#: after period, up to the year 9999 (``BYSETPOS`` beyond the period's instances, an
#: ``INTERVAL`` that never meets its days). With UNTIL, Radicale bounds the periods
#: (``[storage] max_vevent_rrule_occurrence``).
PROBE_YEARS = 100
#: Most RDATE / EXDATE values and overridden instances in one resource.
MAX_RECURRENCE_DATES = 10_000
MAX_OVERRIDES = 1000


class Unbounded(str):
    """A reason to refuse a series that evaluations could not walk in bounded time.
    calserver stores only calendar object resources it can evaluate: a PUT of another
    fails RFC 4791 5.3.2.1's precondition (CALDAV:valid-calendar-object-resource)."""

    precondition = "C:valid-calendar-object-resource"


def _frequency_refusal(value: str) -> str | None:
    """``FREQ=SECONDLY`` and ``MINUTELY``, BYSETPOS in hourly and daily rules, and
    rules whose BYHOUR, BYMINUTE and BYSECOND lists give more than
    :data:`MAX_INSTANCES_PER_DAY` instances a day."""
    parts = dict(
        part.split("=", 1) for part in value.upper().replace("\\", "").split(";") if "=" in part
    )
    freq = parts.get("FREQ", "")
    if freq in ("SECONDLY", "MINUTELY"):
        return Unbounded(f"recurrence rule {value[:80]!r}: FREQ={freq} is not supported")
    if freq in ("HOURLY", "DAILY") and "BYSETPOS" in parts:
        # dateutil tries every hour (day) of 8,000 years for a position it lacks
        return Unbounded(
            f"recurrence rule {value[:80]!r}: BYSETPOS with FREQ={freq} is not supported"
        )
    sizes = [len(parts[name].split(",")) if name in parts else 1 for name in _TIME_PARTS]
    if freq == "HOURLY" and "BYHOUR" not in parts:
        try:
            sizes[0] = -(-24 // max(1, int(parts.get("INTERVAL", "1"))))
        except ValueError:
            return None  # Radicale judges what dateutil cannot read
    if sizes[0] * sizes[1] * sizes[2] > MAX_INSTANCES_PER_DAY:
        return Unbounded(
            f"recurrence rule {value[:80]!r} gives more than {MAX_INSTANCES_PER_DAY} "
            "instances a day"
        )
    return None


_TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")


@functools.lru_cache(maxsize=4096)
def series_refusal(dtstart: str, rules: tuple[str, ...]) -> str | None:
    """Why a stored series (DTSTART's value, its RRULE values) is one that a PUT would
    refuse today, or None; memoised, for every evaluation of a stored item
    (``calserver.ical.timeindex``, the feeds)."""
    if len(rules) > 1:
        return "more than one RRULE in a component"
    return _rules_refusal(dtstart, list(rules))


@functools.lru_cache(maxsize=4096)
def _first_instance_refusal(value: str, start: datetime) -> str | None:
    """A rule without UNTIL whose first instance (all COUNT of them, with COUNT) does
    not come within :data:`PROBE_YEARS` years or more.

    dateutil checks ``until`` only against instances it finds, so no ``until`` bounds
    its search for a rule that finds none; its search ends in the year 9999. The
    Gregorian calendar repeats every 400 years to the weekday (146,097 days), so the
    series started 400·k years later is the same series 400·k years later, and it is
    probed from the latest such start at least :data:`PROBE_YEARS` before 9999: at
    most 500 years of periods (memoised: stored series are checked again at query time,
    ``calserver.ical.timeindex``)."""

    try:
        rule = rrule.rrulestr(value, dtstart=start, ignoretz=True)
        if not isinstance(rule, rrule.rrule):
            return None
        shift = 400 * max(0, (datetime.max.year - PROBE_YEARS - start.year) // 400)
        changes: dict[str, Any] = {"dtstart": start.replace(year=start.year + shift)}
        until, count = rule._until, rule._count
        if until is not None:
            changes["until"] = until.replace(year=min(datetime.max.year, until.year + shift))
        wanted = count or 1
        found = sum(1 for _ in itertools.islice(rule.replace(**changes), wanted))
    except (ValueError, TypeError, OverflowError, KeyError, IndexError):
        return None  # Radicale judges what dateutil cannot read
    if found < wanted and until is None:
        if found == 0:
            return Unbounded(
                f"recurrence rule {value[:80]!r} has no instance in {PROBE_YEARS} years"
            )
        # every evaluation of the whole series would walk to the year 9999
        return Unbounded(
            f"recurrence rule {value[:80]!r}: its COUNT instances take over {PROBE_YEARS} years"
        )
    return None


_RECURRENCE_LINE = re.compile(r"^(?:RRULE|RDATE|RECURRENCE-ID)[;:]", re.IGNORECASE | re.MULTILINE)


def evaluation_refusal(text: str) -> str | None:
    """Why the series of a stored item (``text``) is not evaluated: its recurrence is
    one a PUT refuses today (the rules of :func:`refusal` about recurrence only), or
    None; cheap for an item without recurrence."""
    if _RECURRENCE_LINE.search(text) is None:
        return None
    stack: list[tuple[list[str], list[str]]] = []  # (DTSTART, RRULE values) per component
    for line in unfold(text):
        upper = line[:40].upper()
        if upper.startswith("BEGIN:"):
            stack.append(([], []))
        elif upper.startswith("END:"):
            if stack:
                dtstart, rules = stack.pop()
                if rules:
                    start = dtstart[0].rpartition(":")[2] if dtstart else ""
                    problem = series_refusal(start, tuple(rules))
                    if problem is not None:
                        return problem
        elif stack:
            name = _name(line)
            if name == "DTSTART":
                stack[-1][0].append(line)
            elif name == "RRULE":
                stack[-1][1].append(line.partition(":")[2].strip())
    return recurrence_refusal(text)


def recurrence_refusal(text: str) -> str | None:
    """Why the recurrences of ``text`` are refused (:func:`_recurrence_refusal`)."""
    return _recurrence_refusal(unfold(text))


def _recurrence_refusal(lines: list[str], names: list[str] | None = None) -> str | None:
    """Why the recurrences of unfolded ``lines`` are refused: an overridden instance
    (RECURRENCE-ID, RFC 5545 3.8.4.4: one instance) carrying RRULE or RDATE, a series
    of its own that every evaluation would walk beside the master's (Radicale means to
    refuse it: "Overwritten recurrence with RRULESET"); more than
    :data:`MAX_RECURRENCE_DATES` RDATE or EXDATE values in a component, or more than
    :data:`MAX_OVERRIDES` overridden instances in a resource. Pure."""
    depth = overrides = 0
    override = recurs = False
    dates = {"RDATE": 0, "EXDATE": 0}
    if names is None:
        names = [_name(line) for line in lines]
    for line, name in zip(lines, names, strict=True):
        upper = line[:40].upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            if depth == 2:
                override = recurs = False
                dates = {"RDATE": 0, "EXDATE": 0}
            continue
        if upper.startswith("END:"):
            if depth == 2 and override and recurs:
                return Unbounded(
                    "an overridden instance (RECURRENCE-ID) cannot carry RRULE or RDATE"
                )
            depth -= 1
            continue
        if depth != 2:
            continue
        if name == "RECURRENCE-ID":
            override = True
            overrides += 1
            if overrides > MAX_OVERRIDES:
                return Unbounded(f"more than {MAX_OVERRIDES} overridden instances (RECURRENCE-ID)")
        elif name in ("RRULE", "RDATE"):
            recurs = True
        if name in dates:
            dates[name] += line.partition(":")[2].count(",") + 1
            if dates[name] > MAX_RECURRENCE_DATES:
                return Unbounded(f"more than {MAX_RECURRENCE_DATES} {name} values in a component")
    return None


# --- times: an end before its start, a time zone nobody defines -----------------------


def resource_refusal(text: str, max_bytes: int = 0) -> str | None:
    """Why one calendar object resource is refused, wherever it comes from: the body of
    a PUT, an event of ``calserver import``, an item file of ``calserver
    migrate-from-radicale``. Larger than ``max_bytes`` (``[server] max_content_length``,
    0 = no limit) or anything :func:`refusal` finds. Pure."""
    # a character is at most 4 bytes in UTF-8: encode only a text that may be too large
    if max_bytes and len(text) * 4 > max_bytes and len(text.encode("utf-8")) > max_bytes:
        return f"larger than {max_bytes} bytes ([server] max_content_length)"
    return refusal(text)


def _times_refusal(
    lines: list[str], names: list[str] | None = None, heads: list[str] | None = None
) -> str | None:
    """Why the times of unfolded ``lines`` are refused, or None.

    - A TZID parameter naming neither a VTIMEZONE of the object nor a time zone of the
      IANA database (RFC 5545 3.2.19: "An individual "VTIMEZONE" calendar component MUST
      be specified for each unique "TZID" parameter value"). An IANA name without its
      VTIMEZONE is accepted and read from the IANA database (vobject does so), as most
      servers and clients do; any other name would be read as floating time, hours off.
    - A VEVENT whose DTEND is earlier than its DTSTART, or with a negative DURATION
      (RFC 5545 3.8.2.2: DTEND's "value MUST be later in time than the value of the
      "DTSTART" property"), a VTODO whose DUE is earlier than its DTSTART (3.8.2.3, the
      same words) or with a negative DURATION. An end equal to the start (a zero-length
      event, which clients do send) is accepted.
    """
    if names is None:
        names = [_name(line) for line in lines]
    if heads is None:
        heads = [match.group() if (match := _LINE_HEAD.match(line)) else "" for line in lines]
    defined = {
        line.partition(":")[2].strip()
        for line, name in zip(lines, names, strict=True)
        if name == "TZID" and ":" in line  # the TZID property of a VTIMEZONE
    }
    components: list[tuple[str, dict[str, str]]] = []  # open components, their times
    for number, line in enumerate(lines, 1):
        upper = line[:40].upper()
        if upper.startswith("BEGIN:"):
            components.append((upper[6:].strip(), {}))
            continue
        if upper.startswith("END:"):
            component, times = components.pop() if components else ("", {})
            if component in ("VEVENT", "VTODO"):
                problem = _end_refusal(component, times)
                if problem is not None:
                    return f"line {number}: {problem}"
            continue
        head = heads[number - 1]
        tzid = _parameter(head, "TZID") if _TZID.search(head) else None
        if tzid is not None and tzid not in defined and not is_iana_zone(tzid):
            return (
                f"line {number}: unknown time zone {tzid!r} (no VTIMEZONE in the data "
                "and not an IANA time zone name, RFC 5545 3.2.19)"
            )
        name = names[number - 1]
        if components and name in ("DTSTART", "DTEND", "DUE", "DURATION"):
            components[-1][1][name] = line
    return None


def _end_refusal(component: str, times: dict[str, str]) -> str | None:
    duration = times.get("DURATION", "").partition(":")[2].strip()
    if duration.startswith("-") and re.search("[1-9]", duration):
        return f"{component} has a negative DURATION {duration!r} (RFC 5545 3.8.2.5)"
    end_name = "DTEND" if component == "VEVENT" else "DUE"
    if "DTSTART" not in times or end_name not in times:
        return None
    start, end = _instant(times["DTSTART"]), _instant(times[end_name])
    if start is None or end is None or start[0] != end[0]:
        return None  # not comparable here: Radicale and the time index judge it
    if end[1] < start[1]:
        value = times[end_name].partition(":")[2].strip()
        begin = times["DTSTART"].partition(":")[2].strip()
        rfc = "3.8.2.2" if end_name == "DTEND" else "3.8.2.3"
        return (
            f"{component} ends before it starts ({end_name} {value} is earlier than "
            f"DTSTART {begin}; RFC 5545 {rfc}: it MUST be later)"
        )
    return None


def _instant(line: str) -> tuple[str, datetime] | None:
    """The time of a DTSTART/DTEND/DUE line with what it is relative to: "UTC" for UTC
    and IANA zones (converted), the TZID of a zone defined by a VTIMEZONE, "" for
    floating times and dates; two times compare only relative to the same thing. None
    when the value is not a date."""

    head = _LINE_HEAD.match(line)
    params = head.group() if head else ""
    value = line[len(params) + 1 :].strip().upper()
    tzid = _parameter(params, "TZID")
    try:
        if len(value) == 8:
            return "", datetime.strptime(value, "%Y%m%d")
        moment = datetime.strptime(value[:15], "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    if value.endswith("Z"):
        return "UTC", moment
    if tzid is not None and is_iana_zone(tzid):
        local = moment.replace(tzinfo=ZoneInfo(tzid.lstrip("/")))
        return "UTC", local.astimezone(UTC).replace(tzinfo=None)
    return tzid or "", moment


def _parameter(head: str, name: str) -> str | None:
    """The value of parameter ``name`` in a content line's name and parameters."""
    for part in re.findall(r';([A-Za-z0-9-]+)=("[^"]*"|[^";:]*)', head):
        if part[0].upper() == name:
            return part[1].strip('"')
    return None


def is_iana_zone(name: str) -> bool:
    """Whether ``name`` is a time zone of the IANA database (RFC 5545 3.2.19 allows a
    leading "/" for globally unique names)."""
    return name.lstrip("/") in _iana_zones()


@functools.cache
def _iana_zones() -> frozenset[str]:

    return frozenset(zoneinfo.available_timezones())


def with_default_duration(text: str, minutes: int) -> str:
    """``text`` with ``DURATION:PT<minutes>M`` added to every VEVENT that has a
    DATE-TIME DTSTART and neither DTEND nor DURATION (for imports: RFC 5545 3.6.1 gives
    such an event no length at all, which is rarely what the file meant). All-day
    events (a DATE DTSTART) last their day and are left alone. ``text`` comes back
    unchanged when nothing is added."""
    lines = unfold(text)
    out: list[str] = []
    stack: list[str] = []
    timed = ended = False
    added = False
    for line in lines:
        upper = line[:40].upper()
        name = _name(line)
        if upper.startswith("BEGIN:"):
            stack.append(upper[6:].strip())
            if stack[-1] == "VEVENT":
                timed = ended = False
        elif upper.startswith("END:"):
            if stack and stack[-1] == "VEVENT" and timed and not ended:
                out.append(f"DURATION:PT{minutes}M")
                added = True
            if stack:
                stack.pop()
        elif stack and stack[-1] == "VEVENT":
            if name == "DTSTART":
                params, _, value = line.partition(":")
                timed = "VALUE=DATE;" not in params.upper() + ";" and len(value.strip()) > 8
            elif name in ("DTEND", "DURATION"):
                ended = True
        out.append(line)
    if not added:
        return text
    return "".join(fold(line) + "\r\n" for line in out)


def _name(line: str) -> str:
    end = _NAME_END.search(line)
    return (line[: end.start()] if end else line).upper()


_NAME_END = re.compile(r"[;:]")
#: Whether a content line's head may carry a TZID parameter (:func:`_parameter`).
_TZID = re.compile("tzid", re.IGNORECASE)


def split(text: str) -> Iterator[Resource]:
    lines = unfold(text)
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR":
        raise IcsError("not an iCalendar file (no BEGIN:VCALENDAR)")
    timezones: dict[str, list[str]] = {}
    groups: dict[str, list[list[str]]] = {}
    stack: list[str] = []
    block: list[str] = []
    for number, line in enumerate(lines, 1):
        upper = line.upper()
        if not _CONTENT_LINE.match(line):
            raise IcsError(f"line {number}: not an iCalendar content line: {line[:60]!r}")
        if upper.startswith("BEGIN:"):
            stack.append(upper[6:])
            if len(stack) == 2:
                block = []
        if len(stack) >= 2:
            block.append(line)
        if upper.startswith("END:"):
            if not stack or stack[-1] != upper[4:]:
                raise IcsError(f"line {number}: {line!r} does not close {stack[-1:]}")
            name = stack.pop()
            if len(stack) == 1:
                _file_block(name, block, timezones, groups, number)
    if stack:
        raise IcsError("unterminated component " + "/".join(stack))
    for uid, blocks in groups.items():
        body = [line for b in blocks for line in b]
        body_text = "\n".join(body)
        used = [
            tz
            for tzid, tz in timezones.items()
            if f"TZID={tzid}:" in body_text
            or f"TZID={tzid};" in body_text
            or f'TZID="{tzid}"' in body_text
        ]
        head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:" + PRODID]
        zones = [line for tz in used for line in tz]
        full = [*head, *zones, *body, "END:VCALENDAR"]
        skeleton = [*head, *zones, *_time_lines(body), "END:VCALENDAR"]
        yield Resource(
            uid,
            "".join(fold(line) + "\r\n" for line in full),
            "\r\n".join(skeleton) + "\r\n",
        )


def _time_lines(body: list[str]) -> Iterator[str]:
    """The component lines that matter for time, without sub-components (alarms)."""
    depth = 0
    for line in body:
        upper = line[:6].upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            if depth == 1:
                yield line
        elif upper.startswith("END:"):
            if depth == 1:
                yield line
            depth -= 1
        elif depth == 1 and _name(line) in TIME_PROPERTIES:
            yield line


def _file_block(
    name: str,
    block: list[str],
    timezones: dict[str, list[str]],
    groups: dict[str, list[list[str]]],
    number: int,
) -> None:
    if name == "VTIMEZONE":
        tzid = next((ln.split(":", 1)[1] for ln in block if _name(ln) == "TZID"), None)
        if tzid:
            timezones.setdefault(tzid, list(block))
        return
    if name not in _ITEM_COMPONENTS:
        return
    depth = 0
    uid = None
    for ln in block:
        upper = ln.upper()
        if upper.startswith("BEGIN:"):
            depth += 1
        elif upper.startswith("END:"):
            depth -= 1
        elif depth == 1 and _name(ln) == "UID":
            uid = ln.split(":", 1)[1] if ":" in ln else ""
    if not uid:
        raise IcsError(f"{name} ending at line {number} has no UID")
    groups.setdefault(uid, []).append(list(block))


def escape_text(value: str) -> str:
    """RFC 5545 3.3.11 TEXT escaping."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """RFC 5545 3.1: lines of at most 75 octets, continued with CRLF and a space."""
    encoded = line.encode("utf-8")
    if len(encoded) <= 75:
        return line
    parts = []
    start = 0
    limit = 75
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1  # never split a UTF-8 sequence
        parts.append(encoded[start:end].decode("utf-8"))
        start = end
        limit = 74  # the leading space of continuation lines counts
    return "\r\n ".join(parts)


def join_calendar(texts: Iterable[str], name: str = "", description: str = "") -> Iterator[str]:
    """One VCALENDAR from the stored items, each VTIMEZONE once (by TZID), chunk by chunk
    so that a large calendar can be streamed."""
    yield "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:" + EXPORT_PRODID + "\r\n"
    if name:
        yield fold("X-WR-CALNAME:" + escape_text(name)) + "\r\n"
    if description:
        yield fold("X-WR-CALDESC:" + escape_text(description)) + "\r\n"
    seen_tzids: set[str] = set()
    for text in texts:
        parts = _ready_components(text, seen_tzids)
        yield "".join(parts if parts is not None else _components(text, seen_tzids))
    yield "END:VCALENDAR\r\n"


_CALENDAR_END = "END:VCALENDAR\r\n"


@dataclass(frozen=True)
class _Marks:
    """The delimiters :func:`_ready_components` looks for, as text or as bytes."""

    calendar_begin: Any
    calendar_end: Any
    crlf: Any
    empty_line: Any
    begin: Any
    end: Any
    line_begin: Any
    line_end: Any
    timezone: Any
    #: A BEGIN or END line not in capitals (the walk line by line takes any case).
    other_case: re.Pattern[Any]


_OTHER_CASE = r"\r\n(?!BEGIN:|END:)(?:[Bb][Ee][Gg][Ii][Nn]|[Ee][Nn][Dd]):"
_TEXT_MARKS = _Marks(
    "BEGIN:VCALENDAR\r\n",
    _CALENDAR_END,
    "\r\n",
    "\r\n\r\n",
    "BEGIN:",
    "\r\nEND:",
    "\r\nBEGIN:",
    "\r\nEND:",
    "BEGIN:VTIMEZONE\r\n",
    re.compile(_OTHER_CASE),
)
_BYTE_MARKS = _Marks(
    b"BEGIN:VCALENDAR\r\n",
    _CALENDAR_END.encode("ascii"),
    b"\r\n",
    b"\r\n\r\n",
    b"BEGIN:",
    b"\r\nEND:",
    b"\r\nBEGIN:",
    b"\r\nEND:",
    b"BEGIN:VTIMEZONE\r\n",
    re.compile(_OTHER_CASE.encode("ascii")),
)


def join_calendar_utf8(
    texts: Iterable[bytes], name: str = "", description: str = ""
) -> Iterator[bytes]:
    """:func:`join_calendar` over the items' UTF-8 texts, in UTF-8: the same bytes as
    its chunks encoded, cut out of the stored bytes without decoding them (a whole
    calendar streamed at the speed of its reading)."""
    head = "".join(join_calendar((), name, description)).removesuffix(_CALENDAR_END)
    yield head.encode("utf-8")
    seen_tzids: set[str] = set()
    for data in texts:
        parts = _ready_components(data, seen_tzids)
        if parts is not None:
            yield b"".join(parts)
        else:
            yield "".join(_components(data.decode("utf-8"), seen_tzids)).encode("utf-8")
    yield _BYTE_MARKS.calendar_end


def _ready_components(text: Any, seen_tzids: set[str]) -> list[Any] | None:
    """What :func:`_components` gives for ``text`` (str, or UTF-8 bytes: then its
    parts in UTF-8), cut out whole with no walk line by line, when the text has the
    shape a stored item has: one VCALENDAR in CRLF lines, its own properties first,
    then its components, each closed by the END of its own name with as many BEGIN as
    END lines inside, every BEGIN and END in capitals, no empty line. None otherwise
    (then the walk line by line answers); ``seen_tzids`` changes only on success."""
    marks = _BYTE_MARKS if isinstance(text, bytes) else _TEXT_MARKS
    if (
        not text.startswith(marks.calendar_begin)
        or not text.endswith(marks.calendar_end)
        or marks.empty_line in text
        or marks.other_case.search(text) is not None
    ):
        return None
    stop = len(text) - len(marks.calendar_end)
    start = text.find(marks.line_begin, len(marks.calendar_begin) - 2) + 2
    if start == 1:  # no component at all
        return [] if text.count(marks.line_end) == 1 else None
    parts: list[Any] = []
    tzids: list[str] = []
    while start < stop:
        if not text.startswith(marks.begin, start):
            return None  # a property of the VCALENDAR after a component
        name_end = text.find(marks.crlf, start)
        closing = marks.end + text[start + 6 : name_end] + marks.crlf
        end = text.find(closing, name_end)
        if end < 0:
            return None
        end += len(closing)
        if text.count(marks.line_begin, start, end) + 1 != text.count(marks.line_end, start, end):
            return None  # the names and the walk's depth disagree
        block = text[start:end]
        if text.startswith(marks.timezone, start):
            tzid = _walked_tzid(block if isinstance(block, str) else block.decode("utf-8"))
            if tzid is None or (tzid not in seen_tzids and tzid not in tzids):
                parts.append(block)
            if tzid is not None:
                tzids.append(tzid)
        else:
            parts.append(block)
        start = end
    if start != stop:
        return None
    seen_tzids.update(tzids)
    return parts


@functools.lru_cache(maxsize=256)
def _walked_tzid(block: str) -> str | None:
    """The TZID :func:`_components` finds in a VTIMEZONE (its last ``TZID`` line at
    the VTIMEZONE's own depth, the value up to the line's end)."""
    tzid = None
    depth = 0
    for line in block.split("\r\n"):
        upper = line[:16].upper()
        if upper.startswith("BEGIN:"):
            depth += 1
        elif depth == 1 and upper.startswith("TZID"):
            tzid = line.split(":", 1)[-1]
        if upper.startswith("END:"):
            depth -= 1
    return tzid


def _components(text: str, seen_tzids: set[str]) -> Iterator[str]:
    """The lines inside the VCALENDAR of one stored item, minus VTIMEZONEs already sent."""
    depth = 0
    timezone: list[str] | None = None
    tzid = None
    for line in text.split("\r\n"):
        if not line:
            continue
        upper = line[:16].upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            if depth == 2 and upper == "BEGIN:VTIMEZONE":
                timezone, tzid = [], None
        if depth >= 2:
            if timezone is not None:
                timezone.append(line + "\r\n")
                if depth == 2 and upper.startswith("TZID"):
                    tzid = line.split(":", 1)[-1]
            else:
                yield line + "\r\n"
        if upper.startswith("END:"):
            if depth == 2 and timezone is not None:
                if tzid is None or tzid not in seen_tzids:
                    yield "".join(timezone)
                if tzid is not None:
                    seen_tzids.add(tzid)
                timezone = None
            depth -= 1


#: Characters no iCalendar data may hold (line breaks separate its lines).
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def needs_sanitising(vobject_item: Any) -> bool:
    """True where Radicale's sanitising rewrites the data (client quirks: DTEND with a
    zero DURATION, EXDATE/RDATE of another value type than DTSTART)."""
    for component in vobject_item.getChildren():
        contents = getattr(component, "contents", {})
        if ("dtend" in contents and "duration" in contents) or (
            "exdate" in contents or "rdate" in contents
        ):
            return True
    return False
