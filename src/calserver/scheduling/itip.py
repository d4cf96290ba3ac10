"""iTIP objects (RFC 5546) as the scheduling engine reads and writes them: the
components of a scheduling object resource, who organizes and who attends, what counts
as a significant change, and the REQUEST, CANCEL and REPLY messages built from an
organizer's copy. Pure functions over ``icalendar`` objects; no database.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import icalendar

from calserver.scheduling.calendar_address import email_of, mailto, same

#: The components a meeting is made of (RFC 6638 3.1: VEVENT and VTODO are scheduling
#: components; calserver schedules events).
SCHEDULED = ("VEVENT", "VTODO")

#: The parameters of RFC 6638 7.1-7.3, which stay in the organizer's copy.
SCHEDULE_PARAMS = ("SCHEDULE-AGENT", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND")

#: Properties whose change makes the organizer ask every attendee again (RFC 5546
#: 2.1.4: the organizer increments SEQUENCE when it changes the time, recurrence, place
#: or what the meeting is; the issue adds the description).
SIGNIFICANT = (
    "DTSTART",
    "DTEND",
    "DURATION",
    "DUE",
    "RRULE",
    "RDATE",
    "EXDATE",
    "SUMMARY",
    "LOCATION",
    "DESCRIPTION",
)

ANSWERS = ("ACCEPTED", "DECLINED", "TENTATIVE")

#: The per-meeting switch for e-mail to attendees with an account (and reply notices).
EMAIL_SWITCH = "X-CALSERVER-EMAIL"


def parse(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def serialize(calendar: icalendar.Calendar) -> str:
    return str(calendar.to_ical().decode("utf-8"))


def components(calendar: icalendar.Calendar) -> list[Any]:
    return [c for c in calendar.subcomponents if getattr(c, "name", "") in SCHEDULED]


def key(component: Any) -> str:
    """The instance a component stands for: "" for the master, else its RECURRENCE-ID
    in UTC (RFC 5545 3.8.4.4), so the same instance matches whatever its zone."""
    rid = component.get("RECURRENCE-ID")
    if rid is None:
        return ""
    value = rid.dt
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y%m%dT%H%M%S")
    return value.strftime("%Y%m%d")


def by_key(calendar: icalendar.Calendar) -> dict[str, Any]:
    return {key(c): c for c in components(calendar)}


def organizer(calendar: icalendar.Calendar) -> str:
    for component in components(calendar):
        value = component.get("ORGANIZER")
        if value:
            return str(value)
    return ""


def uid(calendar: icalendar.Calendar) -> str:
    for component in components(calendar):
        value = component.get("UID")
        if value:
            return str(value)
    return ""


def attendees(component: Any) -> list[Any]:
    value = component.get("ATTENDEE")
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def set_attendees(component: Any, values: Iterable[Any]) -> None:
    component.pop("ATTENDEE", None)
    for value in values:
        component.add("ATTENDEE", value)


def find(component: Any, address: str) -> Any | None:
    for attendee in attendees(component):
        if same(str(attendee), address):
            return attendee
    return None


def partstat(attendee: Any) -> str:
    return str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")).upper()


def scheduled(attendee: Any, organizer_address: str) -> bool:
    """Whether the server schedules this attendee (RFC 6638 7.1: SCHEDULE-AGENT other
    than SERVER leaves them to the client; the organizer is not invited by itself)."""
    agent = str(attendee.params.get("SCHEDULE-AGENT", "SERVER")).upper()
    if agent != "SERVER" or same(str(attendee), organizer_address):
        return False
    return str(attendee.params.get("CUTYPE", "INDIVIDUAL")).upper() != "GROUP"


def all_attendees(calendar: icalendar.Calendar, organizer_address: str) -> dict[str, Any]:
    """Every scheduled attendee of any component, by a normalised address."""
    found: dict[str, Any] = {}
    for component in components(calendar):
        for attendee in attendees(component):
            if scheduled(attendee, organizer_address):
                found.setdefault(normal(str(attendee)), attendee)
    return found


def normal(address: str) -> str:
    email = email_of(address)
    return mailto(email) if email else address.strip()


def sequence(calendar: icalendar.Calendar) -> int:
    values = [int(c.get("SEQUENCE", 0) or 0) for c in components(calendar)]
    return max(values, default=0)


def set_sequence(calendar: icalendar.Calendar, value: int) -> None:
    for component in components(calendar):
        component.pop("SEQUENCE", None)
        component.add("SEQUENCE", value)


def _value(component: Any, name: str) -> bytes:
    value = component.get(name)
    if value is None:
        return b""
    values = value if isinstance(value, list) else [value]
    return b"|".join(_canonical(v) for v in values)


def _canonical(value: Any) -> bytes:
    """A property value as it compares for a change: a time in a zone as its instant
    (10:00 in Paris and 10:00 in New York differ; the same instant written in two zones
    does not), any other value as its text with its TZID (a floating or unresolved
    time in another zone is another time)."""
    moment = getattr(value, "dt", None)
    if isinstance(moment, dt.datetime) and moment.tzinfo is not None:
        return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ").encode("ascii")
    if not hasattr(value, "to_ical"):
        return str(value).encode("utf-8")
    tzid = getattr(value, "params", {}).get("TZID")
    return value.to_ical() + (b";TZID=" + str(tzid).encode("utf-8") if tzid else b"")


def differs(old: Any, new: Any, names: Iterable[str] = SIGNIFICANT) -> list[str]:
    """The properties of ``names`` whose value differs between two components."""
    return [name for name in names if _value(old, name) != _value(new, name)]


def significant_change(old: icalendar.Calendar, new: icalendar.Calendar) -> bool:
    old_parts, new_parts = by_key(old), by_key(new)
    if set(old_parts) != set(new_parts):
        return True
    return any(differs(old_parts[k], new_parts[k]) for k in new_parts)


def email_off(calendar: icalendar.Calendar) -> bool:
    return any(switched_off(component) for component in components(calendar))


def switched_off(component: Any) -> bool:
    """Whether ``component`` turns e-mail off (``X-CALSERVER-EMAIL:OFF``)."""
    return str(component.get(EMAIL_SWITCH, "")).strip().upper() in ("OFF", "FALSE", "NO")


def strip_schedule_params(calendar: icalendar.Calendar) -> None:
    """What only the organizer's copy carries: RFC 6638 7.1 and 7.3, servers MUST NOT
    include SCHEDULE-AGENT or SCHEDULE-STATUS in scheduling messages; SCHEDULE-FORCE-SEND
    is a one-time request (7.2)."""
    for component in components(calendar):
        for attendee in attendees(component):
            for name in SCHEDULE_PARAMS:
                attendee.params.pop(name, None)
            attendee.params.pop("X-CALSERVER-COMMENT", None)  # a reason is the organizer's
        org = component.get("ORGANIZER")
        if org is not None:
            for name in SCHEDULE_PARAMS:
                org.params.pop(name, None)


def alarms(component: Any) -> list[Any]:
    return [c for c in component.subcomponents if c.name == "VALARM"]


def without_alarms(component: Any) -> None:
    component.subcomponents = [c for c in component.subcomponents if c.name != "VALARM"]


def timezones(calendar: icalendar.Calendar) -> list[Any]:
    return [c for c in calendar.subcomponents if getattr(c, "name", "") == "VTIMEZONE"]


def message(method: str, calendar: icalendar.Calendar, parts: Iterable[Any]) -> icalendar.Calendar:
    """A VCALENDAR with METHOD ``method`` holding ``parts`` and the time zones of
    ``calendar`` (RFC 5546 3.1: VTIMEZONE for every TZID used)."""
    result = icalendar.Calendar()
    result.add("PRODID", "-//calserver//scheduling//EN")
    result.add("VERSION", "2.0")
    result.add("METHOD", method)
    for zone in timezones(calendar):
        result.add_component(copy.deepcopy(zone))
    for part in parts:
        result.add_component(part)
    return result


def stamp(component: Any) -> None:
    component.pop("DTSTAMP", None)
    component.add("DTSTAMP", dt.datetime.now(dt.UTC).replace(microsecond=0))


def request(calendar: icalendar.Calendar) -> icalendar.Calendar:
    """RFC 5546 3.2.2: the organizer's whole object, as every attendee gets it."""
    parts = [copy.deepcopy(c) for c in components(calendar)]
    for part in parts:
        without_alarms(part)
        stamp(part)
    result = message("REQUEST", calendar, parts)
    strip_schedule_params(result)
    return result


def cancel(calendar: icalendar.Calendar, next_sequence: int) -> icalendar.Calendar:
    """RFC 5546 3.2.5: the whole meeting cancelled (the master, or every component of a
    meeting that has only overrides), with STATUS:CANCELLED and a higher SEQUENCE."""
    parts = []
    for component in components(calendar):
        if key(component) and "" in by_key(calendar):
            continue
        part = copy.deepcopy(component)
        without_alarms(part)
        part.pop("STATUS", None)
        part.add("STATUS", "CANCELLED")
        stamp(part)
        parts.append(part)
    result = message("CANCEL", calendar, parts)
    set_sequence(result, next_sequence)
    strip_schedule_params(result)
    return result


_REPLY_KEEP = ("UID", "RECURRENCE-ID", "DTSTART", "DTEND", "DURATION", "SUMMARY", "SEQUENCE")


def reply(
    calendar: icalendar.Calendar,
    attendee_address: str,
    answers: dict[str, str],
    comment: str = "",
) -> icalendar.Calendar:
    """RFC 5546 3.2.3: ``attendee_address``'s answers (by component key) to the meeting
    ``calendar``, one component per answered instance, naming only that attendee."""
    parts_by_key = by_key(calendar)
    master = parts_by_key.get("")
    parts = []
    for answer_key, answer in answers.items():
        source = parts_by_key.get(answer_key)
        base = source if source is not None else master
        if base is None:
            continue
        if source is None and answer_key:  # an occurrence the organizer has no override for
            base = instance_of(base, answer_key)
        part = type(base)()
        for name in _REPLY_KEEP:
            if base.get(name) is not None:
                part.add(name, copy.deepcopy(base.get(name)))
        organizer_value = copy.deepcopy(base.get("ORGANIZER"))
        if organizer_value is not None:
            for name in SCHEDULE_PARAMS:
                organizer_value.params.pop(name, None)
            part.add("ORGANIZER", organizer_value)
        existing = find(base, attendee_address)
        who = (
            copy.deepcopy(existing)
            if existing is not None
            else icalendar.vCalAddress(attendee_address)
        )
        for name in ("RSVP", *SCHEDULE_PARAMS):
            who.params.pop(name, None)
        who.params["PARTSTAT"] = answer
        part.add("ATTENDEE", who)
        if comment:
            part.add("COMMENT", comment)
        stamp(part)
        parts.append(part)
    return message("REPLY", calendar, parts)


def rid_value(answer_key: str, master: Any) -> Any:
    """The RECURRENCE-ID value of the instance ``answer_key`` (see :func:`key`), typed
    like the master's DTSTART."""
    start = master.get("DTSTART").dt
    if len(answer_key) == 8:
        return dt.datetime.strptime(answer_key, "%Y%m%d").date()
    if answer_key.endswith("Z"):
        moment = dt.datetime.strptime(answer_key, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        if isinstance(start, dt.datetime) and start.tzinfo is not None:
            return moment.astimezone(start.tzinfo)
        return moment
    return dt.datetime.strptime(answer_key, "%Y%m%dT%H%M%S")


def instance_of(master: Any, answer_key: str) -> Any:
    """An override component for one instance of ``master``: the master's properties
    without recurrence, moved to that instance (RFC 5545 3.8.4.4)."""
    part = copy.deepcopy(master)
    for name in ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"):
        part.pop(name, None)
    rid = rid_value(answer_key, master)
    start = master.get("DTSTART").dt
    part.add("RECURRENCE-ID", rid)
    if isinstance(rid, type(start)):
        shift = rid - start
        end = master.get("DTEND")
        part.pop("DTSTART", None)
        part.add("DTSTART", rid)
        if end is not None:
            part.pop("DTEND", None)
            part.add("DTEND", end.dt + shift)
    return part


def answers_of(calendar: icalendar.Calendar, address: str) -> dict[str, str]:
    """``address``'s PARTSTAT in each component it attends, by component key."""
    found = {}
    for component in components(calendar):
        attendee = find(component, address)
        if attendee is not None:
            found[key(component)] = partstat(attendee)
    return found


def iter_answers(calendar: icalendar.Calendar) -> Iterator[tuple[str, Any, Any]]:
    """(component key, component, attendee) for every attendee of every component."""
    for component in components(calendar):
        for attendee in attendees(component):
            yield key(component), component, attendee


def text(component: Any, name: str) -> str:
    value = component.get(name)
    return str(value) if value is not None else ""
