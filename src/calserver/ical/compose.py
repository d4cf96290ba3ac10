"""Events as the web app's form knows them, written into iCalendar text (RFC 5545) and
read back: pure functions, no I/O.

Editing never rebuilds an event: the stored text is parsed with ``icalendar`` and only
the properties the form knows are changed, so X- properties, alarms (VALARM), attendee
parameters and everything else a client wrote stay as they were.

- **Occurrences** are named by their RECURRENCE-ID key (``scheduling.itip.key``: UTC
  ``YYYYMMDDTHHMMSSZ`` for a zoned start, ``YYYYMMDDTHHMMSS`` floating, ``YYYYMMDD`` for
  a date). Editing one occurrence adds (or changes) an override component with that
  RECURRENCE-ID in the same resource (RFC 5545 3.8.4.4); deleting one adds an EXDATE
  (3.8.5.1); "this and following" ends the series before the occurrence with UNTIL
  (3.3.10) and, for an edit, starts a new series (a new UID) there.
- **Availability** is written as three standard properties that clients and free/busy
  read (DESIGN.md's free/busy rules; RFC 5545 3.8.2.7 TRANSP, 3.8.1.11 STATUS, and
  Microsoft's ``X-MICROSOFT-CDO-BUSYSTATUS`` that Outlook, Exchange and many clients
  use):

  ============  ===================  ===============  =============================
  availability  TRANSP               STATUS           X-MICROSOFT-CDO-BUSYSTATUS
  ============  ===================  ===============  =============================
  busy          OPAQUE               (unchanged)      BUSY
  free          TRANSPARENT          (unchanged)      FREE
  tentative     OPAQUE               TENTATIVE        TENTATIVE
  out of office OPAQUE               (unchanged)      OOF
  ============  ===================  ===============  =============================

  Leaving "tentative" removes ``STATUS:TENTATIVE`` (another STATUS stays).
- **Visibility** is CLASS (3.8.1.3): PUBLIC, CONFIDENTIAL, PRIVATE.
- **Participants** become ATTENDEE lines with the user as ORGANIZER (RFC 5545 3.8.4.1,
  3.8.4.3); attendees kept from before keep their parameters (PARTSTAT, comments...).
  The e-mail switch is ``X-CALSERVER-EMAIL:OFF`` (``scheduling.itip.EMAIL_SWITCH``).
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

import calserver.scheduling.itip as itip

PRODID = "-//calserver//web//EN"
AVAILABILITY = ("busy", "free", "tentative", "oof")
VISIBILITY = ("PUBLIC", "CONFIDENTIAL", "PRIVATE")
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
BUSYSTATUS = "X-MICROSOFT-CDO-BUSYSTATUS"
_CDO = {"busy": "BUSY", "free": "FREE", "tentative": "TENTATIVE", "oof": "OOF"}
#: Properties of an occurrence the form sets (the rest of a component is kept).
_FORM_PROPERTIES = (
    "SUMMARY",
    "LOCATION",
    "DESCRIPTION",
    "CLASS",
    "TRANSP",
    BUSYSTATUS,
    "DTSTART",
    "DTEND",
    "DURATION",
)


class ComposeError(ValueError):
    """The stored text or the asked occurrence does not fit the change."""


@dataclass
class Recurrence:
    """RFC 5545 3.3.10, as the form offers it."""

    freq: str  # DAILY, WEEKLY, MONTHLY, YEARLY
    interval: int = 1
    days: tuple[str, ...] = ()  # BYDAY of a weekly rule
    until: dt.date | None = None  # the last day (inclusive)
    count: int | None = None


@dataclass
class Participant:
    address: str  # a calendar user address: mailto:..., /user/, /@group/
    name: str = ""
    group: bool = False


@dataclass
class EventFields:
    """What the event form holds."""

    summary: str
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date
    all_day: bool = False
    timezone: str = "UTC"
    recurrence: Recurrence | None = None
    availability: str = "busy"
    visibility: str = "PUBLIC"
    location: str = ""
    description: str = ""
    #: None: leave the attendees as they are (someone who is not the organizer).
    participants: list[Participant] | None = None
    #: The organizer's address, written when there are participants.
    organizer: str = ""
    organizer_name: str = ""
    email: bool = True
    #: What the form read but does not change (for showing the event).
    extra: dict[str, Any] = field(default_factory=dict)


# --- reading -------------------------------------------------------------------------


def parse(text: str) -> icalendar.Calendar:
    try:
        return icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise ComposeError(f"the event cannot be read: {exc}") from exc


def events(calendar: icalendar.Calendar) -> list[Any]:
    return [c for c in calendar.subcomponents if getattr(c, "name", "") == "VEVENT"]


def master(calendar: icalendar.Calendar) -> Any:
    """The component without RECURRENCE-ID (else the first VEVENT)."""
    found = events(calendar)
    if not found:
        raise ComposeError("the resource holds no event")
    return next((c for c in found if c.get("RECURRENCE-ID") is None), found[0])


def occurrence(calendar: icalendar.Calendar, rid: str) -> Any | None:
    """The override of the occurrence ``rid`` (see :func:`normal_rid`), if any."""
    wanted = normal_rid(rid)
    for component in events(calendar):
        if component.get("RECURRENCE-ID") is not None and itip.key(component) == wanted:
            return component
    return None


def normal_rid(rid: str) -> str:
    """``rid`` in the form of ``scheduling.itip.key`` (a UTC time with Z, a floating
    time, or a date); ComposeError when it is none of them."""
    value = rid.strip().upper().replace("-", "").replace(":", "")
    for pattern in ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S", "%Y%m%d"):
        try:
            dt.datetime.strptime(value, pattern)
        except ValueError:
            continue
        return value
    raise ComposeError(f"{rid!r} names no occurrence")


def canonical_rid(text: str, rid: str, zone: str = "UTC") -> str:
    """``rid`` in the form the series' own DTSTART gives (``scheduling.itip.key``): a
    UTC time for a zoned series; for a floating series a UTC time (as the calendar
    views name occurrences, calserver.ical.occurrences.utc_basic) is taken back to the
    viewer's ``zone``; for an all-day series the date. "" stays "". ComposeError when
    ``rid`` names no time at all."""
    if not rid:
        return ""
    wanted = normal_rid(rid)
    start = master(parse(text)).get("DTSTART")
    if start is None:
        return wanted
    value = start.dt
    if not isinstance(value, dt.datetime):
        return wanted[:8]
    if value.tzinfo is None and wanted.endswith("Z"):
        moment = dt.datetime.strptime(wanted, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        return moment.astimezone(ZoneInfo(zone)).strftime("%Y%m%dT%H%M%S")
    if value.tzinfo is not None and len(wanted) == 15:  # a local time of the series' zone
        local = dt.datetime.strptime(wanted, "%Y%m%dT%H%M%S").replace(tzinfo=value.tzinfo)
        return local.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if len(wanted) == 8:
        raise ComposeError(f"{rid!r} names a day, not an occurrence of this series")
    return wanted


def _end_of(component: Any) -> Any:
    start = component.get("DTSTART").dt
    if component.get("DTEND") is not None:
        return component.get("DTEND").dt
    if component.get("DURATION") is not None:
        return start + component.get("DURATION").dt
    return start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start


def availability_of(component: Any) -> str:
    cdo = str(component.get(BUSYSTATUS, "")).upper()
    if cdo == "OOF":
        return "oof"
    if str(component.get("STATUS", "")).upper() == "TENTATIVE" or cdo == "TENTATIVE":
        return "tentative"
    if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT" or cdo == "FREE":
        return "free"
    return "busy"


def recurrence_of(component: Any) -> Recurrence | None:
    rule = component.get("RRULE")
    if rule is None:
        return None
    freq = str((rule.get("FREQ") or [""])[0]).upper()
    until = (rule.get("UNTIL") or [None])[0]
    if isinstance(until, dt.datetime):
        until = until.date()
    count = (rule.get("COUNT") or [None])[0]
    return Recurrence(
        freq=freq,
        interval=int((rule.get("INTERVAL") or [1])[0]),
        days=tuple(str(d).upper()[-2:] for d in rule.get("BYDAY") or ()),
        until=until,
        count=int(count) if count is not None else None,
    )


def fields_of(text: str, rid: str = "", zone: str = "UTC") -> EventFields:
    """The form's fields of the event (its master, or the occurrence ``rid``), times in
    the event's own zone (``zone`` for UTC and floating times)."""
    calendar = parse(text)
    base = master(calendar)
    component = base
    if rid:
        component = occurrence(calendar, rid)
        if component is None:
            component = itip.instance_of(base, normal_rid(rid))
    start = component.get("DTSTART").dt
    end = _end_of(component)
    all_day = not isinstance(start, dt.datetime)
    tz = zone
    if isinstance(start, dt.datetime):
        tzinfo = start.tzinfo
        key = getattr(tzinfo, "key", None) or getattr(tzinfo, "zone", None)
        if tzinfo is None:
            start = start.replace(tzinfo=ZoneInfo(zone))
            end = end.replace(tzinfo=ZoneInfo(zone)) if isinstance(end, dt.datetime) else end
        elif key:
            tz = str(key)
        else:
            start = start.astimezone(ZoneInfo(zone))
            end = end.astimezone(ZoneInfo(zone)) if isinstance(end, dt.datetime) else end
    organizer = component.get("ORGANIZER")
    attendees = [
        Participant(
            str(a),
            str(a.params.get("CN", "")),
            str(a.params.get("CUTYPE", "")).upper() == "GROUP",
        )
        for a in itip.attendees(component)
        if organizer is None or itip.normal(str(a)) != itip.normal(str(organizer))
    ]
    return EventFields(
        summary=str(component.get("SUMMARY", "")),
        start=start,
        end=end,
        all_day=all_day,
        timezone=tz,
        recurrence=recurrence_of(base),
        availability=availability_of(component),
        visibility=str(component.get("CLASS", "PUBLIC")).upper(),
        location=str(component.get("LOCATION", "")),
        description=str(component.get("DESCRIPTION", "")),
        participants=attendees,
        organizer=str(organizer) if organizer is not None else "",
        email=not itip.switched_off(component),
    )


# --- writing -------------------------------------------------------------------------


def new_uid() -> str:
    return f"{uuid.uuid4()}@calserver"


def _set(component: Any, name: str, value: Any) -> None:
    component.pop(name, None)
    if value not in (None, ""):
        component.add(name, value)


def _rule(recurrence: Recurrence, start: dt.datetime | dt.date) -> dict[str, Any]:
    rule: dict[str, Any] = {"FREQ": recurrence.freq}
    if recurrence.interval > 1:
        rule["INTERVAL"] = recurrence.interval
    if recurrence.freq == "WEEKLY" and recurrence.days:
        rule["BYDAY"] = list(recurrence.days)
    if recurrence.count is not None:
        rule["COUNT"] = recurrence.count
    elif recurrence.until is not None:
        rule["UNTIL"] = _until(recurrence.until, start)
    return rule


def _until(day: dt.date, start: dt.datetime | dt.date) -> dt.datetime | dt.date:
    """UNTIL for "until ``day`` (inclusive)": a date for all-day events, else the end of
    that day in the start's zone, in UTC (RFC 5545 3.3.10: UTC when DTSTART is zoned)."""
    if not isinstance(start, dt.datetime):
        return day
    last = dt.datetime.combine(day, dt.time(23, 59, 59))
    if start.tzinfo is None:
        return last
    return last.replace(tzinfo=start.tzinfo).astimezone(dt.UTC)


def _times(component: Any, fields: EventFields) -> None:
    component.pop("DURATION", None)
    if fields.all_day:
        start = fields.start if not isinstance(fields.start, dt.datetime) else fields.start.date()
        end = fields.end if not isinstance(fields.end, dt.datetime) else fields.end.date()
        _set(component, "DTSTART", start)
        _set(component, "DTEND", end)
        return
    _set(component, "DTSTART", fields.start)
    _set(component, "DTEND", fields.end)


def _availability(component: Any, availability: str) -> None:
    if availability not in AVAILABILITY:
        raise ComposeError(f"unknown availability {availability!r}")
    _set(component, "TRANSP", "TRANSPARENT" if availability == "free" else "OPAQUE")
    _set(component, BUSYSTATUS, _CDO[availability])
    status = str(component.get("STATUS", "")).upper()
    if availability == "tentative":
        _set(component, "STATUS", "TENTATIVE")
    elif status == "TENTATIVE":
        component.pop("STATUS", None)


def _participants(component: Any, fields: EventFields) -> None:
    if fields.participants is None:
        return
    old = {itip.normal(str(a)): a for a in itip.attendees(component)}
    organizer = component.get("ORGANIZER")
    org_address = str(organizer) if organizer is not None else fields.organizer
    wanted: list[Any] = []
    seen: set[str] = set()
    for person in fields.participants:
        normal = itip.normal(person.address)
        if normal in seen or (org_address and normal == itip.normal(org_address)):
            continue
        seen.add(normal)
        kept = old.get(normal)
        if kept is not None:
            wanted.append(kept)
            continue
        attendee = icalendar.vCalAddress(person.address)
        if person.name:
            attendee.params["CN"] = person.name
        attendee.params["CUTYPE"] = "GROUP" if person.group else "INDIVIDUAL"
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["PARTSTAT"] = "NEEDS-ACTION"
        attendee.params["RSVP"] = "TRUE"
        wanted.append(attendee)
    # group members the server added (MEMBER names a group still invited) stay
    groups = {itip.normal(str(a)) for a in wanted if str(a.params.get("CUTYPE", "")) == "GROUP"}
    for normal, attendee in old.items():
        member = str(attendee.params.get("MEMBER", ""))
        if normal not in seen and member and itip.normal(member) in groups:
            wanted.append(attendee)
            seen.add(normal)
    if wanted:
        me = icalendar.vCalAddress(org_address)
        kept_me = old.get(itip.normal(org_address))
        if kept_me is None:
            me.params["CN"] = fields.organizer_name or org_address
            me.params["ROLE"] = "CHAIR"
            me.params["PARTSTAT"] = "ACCEPTED"
            me.params["CUTYPE"] = "INDIVIDUAL"
        itip.set_attendees(component, [kept_me if kept_me is not None else me, *wanted])
        if organizer is None:
            org = icalendar.vCalAddress(org_address)
            if fields.organizer_name:
                org.params["CN"] = fields.organizer_name
            component.add("ORGANIZER", org)
        component.pop(itip.EMAIL_SWITCH, None)
        if not fields.email:
            component.add(itip.EMAIL_SWITCH, "OFF")
    else:
        itip.set_attendees(component, [])
        component.pop("ORGANIZER", None)
        component.pop(itip.EMAIL_SWITCH, None)


def _apply(component: Any, fields: EventFields, *, recurrence: bool) -> None:
    if fields.visibility not in VISIBILITY:
        raise ComposeError(f"unknown visibility {fields.visibility!r}")
    _set(component, "SUMMARY", fields.summary)
    _set(component, "LOCATION", fields.location)
    _set(component, "DESCRIPTION", fields.description)
    _set(component, "CLASS", fields.visibility)
    _availability(component, fields.availability)
    _times(component, fields)
    if recurrence:
        component.pop("RRULE", None)
        if fields.recurrence is not None:
            component.add("RRULE", _rule(fields.recurrence, component.get("DTSTART").dt))
        else:
            for name in ("RDATE", "EXDATE"):
                component.pop(name, None)
    _participants(component, fields)


def _touch(component: Any, now: dt.datetime) -> None:
    _set(component, "DTSTAMP", now.astimezone(dt.UTC))
    _set(component, "LAST-MODIFIED", now.astimezone(dt.UTC))


def _calendar() -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    return calendar


def new_event(fields: EventFields, now: dt.datetime, uid: str = "") -> str:
    """A new VCALENDAR with one VEVENT (UID, DTSTAMP, CREATED, the form's fields)."""
    calendar = _calendar()
    event = icalendar.Event()
    event.add("UID", uid or new_uid())
    _touch(event, now)
    event.add("CREATED", now.astimezone(dt.UTC))
    _apply(event, fields, recurrence=True)
    calendar.add_component(event)
    return _text(calendar)


def _text(calendar: icalendar.Calendar) -> str:
    return str(calendar.to_ical().decode("utf-8"))


def edit(text: str, fields: EventFields, now: dt.datetime, rid: str = "") -> str:
    """``text`` with the form's ``fields`` written into the whole series (``rid`` "")
    or into the override of one occurrence (made when there is none). Overrides of a
    series whose times change keep their own times."""
    calendar = parse(text)
    base = master(calendar)
    if not rid:
        _apply(base, fields, recurrence=True)
        _touch(base, now)
        if fields.participants is not None:
            for component in events(calendar):
                if component is not base:
                    _participants(component, fields)
        return _text(calendar)
    if base.get("RRULE") is None and base.get("RDATE") is None:
        raise ComposeError("the event does not repeat")
    component = occurrence(calendar, rid)
    if component is None:
        component = itip.instance_of(base, normal_rid(rid))
        calendar.add_component(component)
    _apply(component, fields, recurrence=False)
    _touch(component, now)
    return _text(calendar)


def _instant(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return (
            value.astimezone(dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        )
    return dt.datetime.combine(value, dt.time(), dt.UTC)


def _rid_moment(base: Any, rid: str) -> dt.datetime | dt.date:
    return itip.rid_value(normal_rid(rid), base)  # type: ignore[no-any-return]


def exclude(text: str, rid: str, now: dt.datetime) -> str:
    """``text`` without the occurrence ``rid``: an EXDATE on the series (RFC 5545
    3.8.5.1) and its override, if any, removed."""
    calendar = parse(text)
    base = master(calendar)
    if base.get("RRULE") is None and base.get("RDATE") is None:
        raise ComposeError("the event does not repeat")
    moment = _rid_moment(base, rid)
    wanted = normal_rid(rid)
    calendar.subcomponents = [
        c
        for c in calendar.subcomponents
        if not (
            getattr(c, "name", "") == "VEVENT"
            and c.get("RECURRENCE-ID") is not None
            and itip.key(c) == wanted
        )
    ]
    base.add("EXDATE", moment)
    _touch(base, now)
    return _text(calendar)


def is_first(text: str, rid: str) -> bool:
    """Whether ``rid`` is the series' first occurrence (its DTSTART)."""
    base = master(parse(text))
    return _instant(_rid_moment(base, rid)) <= _instant(base.get("DTSTART").dt)


def end_before(text: str, rid: str, now: dt.datetime) -> str:
    """The series of ``text`` ended just before the occurrence ``rid`` (UNTIL, RFC 5545
    3.3.10; a COUNT becomes an UNTIL), without the overrides and exceptions from there
    on. ComposeError when ``rid`` is the first occurrence (delete the whole instead)."""
    calendar = parse(text)
    base = master(calendar)
    rule = base.get("RRULE")
    if rule is None:
        raise ComposeError("the event does not repeat")
    if is_first(text, rid):
        raise ComposeError("this is the first occurrence: the whole series would go")
    moment = _rid_moment(base, rid)
    cut = _instant(moment)
    start = base.get("DTSTART").dt
    if isinstance(start, dt.datetime):
        until: dt.datetime | dt.date = moment - dt.timedelta(seconds=1)
        if isinstance(until, dt.datetime) and until.tzinfo is not None:
            until = until.astimezone(dt.UTC)
    else:
        until = moment - dt.timedelta(days=1)
    new_rule = {k: v for k, v in rule.items() if k not in ("UNTIL", "COUNT")}
    new_rule["UNTIL"] = until
    base.pop("RRULE", None)
    base.add("RRULE", new_rule)
    kept = []
    for component in calendar.subcomponents:
        rid_property = component.get("RECURRENCE-ID")
        if rid_property is not None and _instant(rid_property.dt) >= cut:
            continue
        kept.append(component)
    calendar.subcomponents = kept
    exdates = base.get("EXDATE")
    if exdates is not None:
        lists = exdates if isinstance(exdates, list) else [exdates]
        remaining = [d.dt for entry in lists for d in entry.dts if _instant(d.dt) < cut]
        base.pop("EXDATE", None)
        for value in remaining:
            base.add("EXDATE", value)
    _touch(base, now)
    return _text(calendar)


def split(
    text: str, rid: str, fields: EventFields, now: dt.datetime, uid: str = ""
) -> tuple[str, str]:
    """The "this and following" change (RFC 5545 3.8.4.4 RANGE=THISANDFUTURE is not widely
    supported, so as clients do it): the old series ends before ``rid``, a new series
    (a copy of the master with a new UID: X- properties and alarms kept) starts there
    with the form's ``fields``. Returns (old series, new series)."""
    old = end_before(text, rid, now)
    base = copy.deepcopy(master(parse(text)))
    for name in ("EXDATE", "RDATE", "RECURRENCE-ID", "SEQUENCE", "UID", "CREATED"):
        base.pop(name, None)
    base.add("UID", uid or new_uid())
    base.add("CREATED", now.astimezone(dt.UTC))
    _apply(base, fields, recurrence=True)
    _touch(base, now)
    calendar = _calendar()
    for zone in parse(text).walk("VTIMEZONE"):
        calendar.add_component(zone)
    calendar.add_component(base)
    return old, _text(calendar)


def duplicate(text: str, now: dt.datetime, uid: str = "") -> str:
    """A copy of the whole resource under a new UID, without the meeting (ORGANIZER,
    ATTENDEE and scheduling switches): a copy is the user's own event, never a second
    invitation to the same people."""
    calendar = parse(text)
    fresh = uid or new_uid()
    for component in events(calendar):
        for name in ("UID", "ORGANIZER", "ATTENDEE", "SEQUENCE", itip.EMAIL_SWITCH, "CREATED"):
            component.pop(name, None)
        component.add("UID", fresh)
        component.add("CREATED", now.astimezone(dt.UTC))
        _touch(component, now)
    return _text(calendar)


def without_participant(text: str, address: str, now: dt.datetime) -> str:
    """``text`` without the ATTENDEE ``address`` in any component (the organizer
    removes someone; scheduling takes their copy away)."""
    calendar = parse(text)
    wanted = itip.normal(address)
    found = False
    for component in events(calendar):
        before = itip.attendees(component)
        after = [a for a in before if itip.normal(str(a)) != wanted]
        if len(after) != len(before):
            found = True
            itip.set_attendees(component, after)
            _touch(component, now)
    if not found:
        raise ComposeError(f"{address} is not a participant")
    return _text(calendar)


def answered(text: str, address: str, partstat: str, comment: str, now: dt.datetime) -> str:
    """An attendee's copy with their answer (PARTSTAT, RFC 5545 3.2.12) in every
    component they attend and their reason as COMMENT (RFC 5546 3.2.3), for their PUT
    (RFC 6638 3.2.2.x: the server sends the REPLY)."""
    calendar = parse(text)
    found = False
    for component in events(calendar):
        attendee = itip.find(component, address)
        if attendee is None:
            continue
        found = True
        attendee.params["PARTSTAT"] = partstat
        attendee.params.pop("RSVP", None)
        _set(component, "COMMENT", " ".join(comment.split()) if comment else "")
        _set(component, "DTSTAMP", now.astimezone(dt.UTC))
    if not found:
        raise ComposeError(f"{address} is not invited")
    return _text(calendar)
