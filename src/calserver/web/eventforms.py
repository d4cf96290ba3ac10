"""What the event pages share: reading one event as the viewer may see it, the event
form (its fields, their checks, the user's input kept), and writing through in-process
CalDAV (calserver.web.dav) with the answer turned into a form error.

The form's field names: ``title``, ``calendar``, ``allday``, ``start_date``,
``start_time``, ``end_date``, ``end_time`` (the end date of an all-day event is its last
day), ``timezone``, ``repeat`` (none, DAILY, WEEKLY, MONTHLY, YEARLY), ``interval``,
``days`` (MO..SU, repeated; ``days_for`` is the weekday they were shown for, so a
suggested day follows a changed start date), ``ends`` (never, until, count), ``until``, ``count``,
``availability`` (busy, free, tentative, oof), ``visibility`` (PUBLIC, CONFIDENTIAL,
PRIVATE), ``colour``, ``location``, ``description``, ``participants``, ``email``,
``reminder`` (a new event's e-mail or SMS reminder: ``email-15``, ``sms-60``, "" none;
calserver.web.pages.reminders).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calserver import calendars, errors
from calserver.accounts import settings as user_settings
from calserver.errors import CalserverError
from calserver.ical import compose
from calserver.ical.compose import EventFields, Recurrence
from calserver.scheduling import participants as people
from calserver.sharing import manage, redact
from calserver.sharing.visibility import Level
from calserver.web import dav
from calserver.web.http import WebRequest

MAX_TITLE = 255
MAX_LOCATION = 255
MAX_DESCRIPTION = 10_000
MAX_INTERVAL = 999
MAX_COUNT = 1000
REPEATS = ("none", *compose.FREQUENCIES)
DAY_NAMES = dict(
    zip(compose.WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True)
)
AVAILABILITY_NAMES = {
    "busy": "Busy",
    "free": "Free",
    "tentative": "Tentative",
    "oof": "Out of office",
}
VISIBILITY_NAMES = {
    "PUBLIC": "Public",
    "CONFIDENTIAL": "Visible to some (busy only for readers)",
    "PRIVATE": "Private (only you)",
}
REPEAT_NAMES = {
    "none": "Does not repeat",
    "DAILY": "Daily",
    "WEEKLY": "Weekly",
    "MONTHLY": "Monthly",
    "YEARLY": "Yearly",
}
#: The text fields of the form.
FIELDS = (
    "title",
    "calendar",
    "start_date",
    "start_time",
    "end_date",
    "end_time",
    "timezone",
    "repeat",
    "interval",
    "ends",
    "until",
    "count",
    "availability",
    "visibility",
    "colour",
    "location",
    "description",
    "participants",
    "reminder",
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}$")
_HREF = re.compile(r"^[^/\\\x00]{1,255}$")
_REASON = re.compile(r"<[^>]*reason[^>]*>([^<]+)</", re.IGNORECASE)


# --- calendars and events as the viewer sees them -------------------------------------


@dataclass(frozen=True)
class Writable:
    path: str  # OWNER/CAL
    name: str


def writable_calendars(request: WebRequest) -> list[Writable]:
    """The calendars the user may add events to: their own, and those shared with them
    for writing (group calendars they administer included)."""
    storage = request.services.storage
    own = [
        Writable(info.path, info.name or info.path.partition("/")[2])
        for info in calendars.list_calendars(storage, request.user)
    ]
    shared = [
        Writable(found.calendar, found.calendar)
        for found in manage.calendars_shared_with(request.services.engine, request.user)
        if found.level in ("write", "owner")
    ]
    return own + shared


def calendar_path(value: str) -> str:
    """``OWNER/CAL`` from the ``cal`` parameter (slashes around it allowed)."""
    path = value.strip().strip("/")
    parts = path.split("/")
    if len(parts) != 2 or not all(parts) or any(p in (".", "..") for p in parts):
        raise errors.NotFound("there is no such calendar")
    return path


def item_name(value: str) -> str:
    """The item's name in its calendar from the ``href`` parameter (a whole path is
    taken to its last part)."""
    name = value.strip().rstrip("/").rpartition("/")[2] if "/" in value else value.strip()
    if not _HREF.match(name) or name in (".", ".."):
        raise errors.NotFound("there is no such event")
    return name


@dataclass
class Shown:
    """One event as the viewer sees it."""

    cal: str
    href: str
    text: str
    etag: str
    level: Level
    klass: str
    busy: bool
    calendar_name: str

    @property
    def may_write(self) -> bool:
        return self.level >= Level.WRITE and not self.busy

    @property
    def dav_path(self) -> str:
        return f"/{self.cal}/{self.href}"


def read_event(request: WebRequest, cal: str, href: str) -> Shown:
    """The event ``href`` of the calendar ``cal`` through the storage's view of the
    signed-in user (redacted as DESIGN.md's table says); NotFound when they see none."""
    path = calendar_path(cal)
    name = item_name(href)
    collection = request.services.storage.open_collection(path, request.user)
    if collection is None or collection.tag != "VCALENDAR" or collection.level < Level.BUSY:
        raise errors.NotFound("there is no such calendar")
    item = dict(collection.get_multi([name])).get(name)
    if item is None or getattr(item, "component_name", "VEVENT") != "VEVENT":
        raise errors.NotFound("there is no such event, or you may not see it")
    klass = str(getattr(item, "klass", "PUBLIC") or "PUBLIC")
    display = collection.get_meta("D:displayname")
    return Shown(
        cal=path,
        href=name,
        text=item.serialize(),
        etag=item.etag,
        level=collection.level,
        klass=klass,
        busy=redact.shows_busy(collection.level, klass),
        calendar_name=str(display or path),
    )


# --- the form ------------------------------------------------------------------------


@dataclass
class Form:
    """The form's values as text (what the page shows again) and its errors."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)


def defaults(
    request: WebRequest, start: dt.datetime | dt.date, all_day: bool, cal: str
) -> dict[str, Any]:
    """The values of a new event's form starting at ``start``."""
    prefs = user_settings.get(request.services.engine, request.services.configuration, request.user)
    if all_day or not isinstance(start, dt.datetime):
        day = start.date() if isinstance(start, dt.datetime) else start
        begin = dt.datetime.combine(day, dt.time(9, 0))
        end = begin
        all_day = True
    else:
        begin = start
        end = start + prefs.duration
    return {
        "title": "",
        "calendar": cal,
        "allday": all_day,
        "start_date": begin.date().isoformat(),
        "start_time": begin.strftime("%H:%M"),
        "end_date": end.date().isoformat(),
        "end_time": (begin + prefs.duration).strftime("%H:%M")
        if all_day
        else end.strftime("%H:%M"),
        "timezone": prefs.timezone,
        "repeat": "none",
        "interval": "1",
        "days": [compose.WEEKDAYS[begin.weekday()]],
        "days_for": compose.WEEKDAYS[begin.weekday()],
        "ends": "never",
        "until": "",
        "count": "",
        "availability": "free" if all_day else "busy",
        "visibility": "PUBLIC",
        "colour": "",
        "location": "",
        "description": "",
        "participants": "",
        "email": True,
        "reminder": "",
    }


def values_of(fields: EventFields, cal: str) -> dict[str, Any]:
    """The form's values for an event read from its text."""
    start, end = fields.start, fields.end
    if fields.all_day:
        start_day = start.date() if isinstance(start, dt.datetime) else start
        end_day = end.date() if isinstance(end, dt.datetime) else end
        last = max(start_day, end_day - dt.timedelta(days=1))
        start_time, end_time = "09:00", "10:00"
    else:
        assert isinstance(start, dt.datetime) and isinstance(end, dt.datetime)
        start_day, last = start.date(), end.date()
        start_time, end_time = start.strftime("%H:%M"), end.strftime("%H:%M")
    rule = fields.recurrence
    return {
        "title": fields.summary,
        "calendar": cal,
        "allday": fields.all_day,
        "start_date": start_day.isoformat(),
        "start_time": start_time,
        "end_date": last.isoformat(),
        "end_time": end_time,
        "timezone": fields.timezone,
        "repeat": rule.freq if rule and rule.freq in compose.FREQUENCIES else "none",
        "interval": str(rule.interval if rule else 1),
        "days": list(rule.days) if rule and rule.days else [compose.WEEKDAYS[start_day.weekday()]],
        "days_for": compose.WEEKDAYS[start_day.weekday()],
        "ends": "count" if rule and rule.count else "until" if rule and rule.until else "never",
        "until": rule.until.isoformat() if rule and rule.until else "",
        "count": str(rule.count) if rule and rule.count else "",
        "availability": fields.availability,
        "visibility": fields.visibility if fields.visibility in compose.VISIBILITY else "PUBLIC",
        "colour": "",
        "location": fields.location,
        "description": fields.description,
        "participants": "\n".join(people.spelled(p) for p in fields.participants or []),
        "email": fields.email,
        "reminder": "",
    }


def submitted(request: WebRequest) -> dict[str, Any]:
    """The form's values as the browser sent them."""
    names = FIELDS
    values: dict[str, Any] = {name: request.field(name) for name in names}
    values["description"] = request.form.get("description", [""])[0].strip()
    values["participants"] = request.form.get("participants", [""])[0].strip()
    values["allday"] = request.field("allday") in ("1", "on", "true")
    values["email"] = request.field("email") in ("1", "on", "true")
    values["days"] = [d for d in request.fields("days") if d in compose.WEEKDAYS]
    _days_follow_the_start(values, request.field("days_for"))
    return values


def _days_follow_the_start(values: dict[str, Any], shown_for: str) -> None:
    """The weekly days as the person meant them. The form ticks the start's weekday; a
    start date changed without touching the days (a form opened at 23:30 suggests
    tomorrow) moves that one tick to the new start's weekday. Days the person chose
    themselves stay as they are."""
    start_day = _date(values["start_date"])
    if start_day is None:
        values["days_for"] = shown_for
        return
    start_key = compose.WEEKDAYS[start_day.weekday()]
    if values["days"] == [shown_for] and shown_for in compose.WEEKDAYS:
        values["days"] = [start_key]
    values["days_for"] = start_key


def _date(value: str) -> dt.date | None:
    if not _DATE.match(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _time(value: str) -> dt.time | None:
    if not _TIME.match(value):
        return None
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        return None


def _number(value: str, low: int, high: int) -> int | None:
    if not value.isdigit():
        return None
    number = int(value)
    return number if low <= number <= high else None


def parse(
    request: WebRequest, values: dict[str, Any], writable: list[Writable], *, organizer: bool
) -> tuple[EventFields | None, dict[str, str]]:
    """The form's ``values`` checked: (the event's fields, {}) or (None, errors by field).
    ``organizer``: whether the user may set the participants."""
    problems: dict[str, str] = {}
    title = values["title"]
    if not title:
        problems["title"] = "Enter a title."
    elif len(title) > MAX_TITLE:
        problems["title"] = f"The title may have at most {MAX_TITLE} characters."
    if values["calendar"] not in {w.path for w in writable}:
        problems["calendar"] = "Choose one of the calendars you may change."
    zone: ZoneInfo | None = None
    try:
        zone = ZoneInfo(values["timezone"]) if values["timezone"] else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        problems["timezone"] = "Choose a time zone such as Europe/Paris."
    start_day, end_day = _date(values["start_date"]), _date(values["end_date"])
    if start_day is None:
        problems["start_date"] = "Enter the start date as YYYY-MM-DD."
    if end_day is None:
        problems["end_date"] = "Enter the end date as YYYY-MM-DD."
    all_day = bool(values["allday"])
    start: dt.datetime | dt.date | None = None
    end: dt.datetime | dt.date | None = None
    if all_day:
        if start_day and end_day:
            start, end = start_day, end_day + dt.timedelta(days=1)
    else:
        start_time, end_time = _time(values["start_time"]), _time(values["end_time"])
        if start_time is None:
            problems["start_time"] = "Enter the start time as HH:MM."
        if end_time is None:
            problems["end_time"] = "Enter the end time as HH:MM."
        if start_day and end_day and start_time and end_time and zone:
            start = dt.datetime.combine(start_day, start_time, zone)
            end = dt.datetime.combine(end_day, end_time, zone)
    if start is not None and end is not None and end <= start and "end_date" not in problems:
        problems["end_date"] = "The end must be after the start."
    recurrence = _recurrence(values, start_day, problems)
    if values["availability"] not in compose.AVAILABILITY:
        problems["availability"] = "Choose busy, free, tentative or out of office."
    if values["visibility"] not in compose.VISIBILITY:
        problems["visibility"] = "Choose public, visible to some, or private."
    if len(values["location"]) > MAX_LOCATION:
        problems["location"] = f"The location may have at most {MAX_LOCATION} characters."
    if len(values["description"]) > MAX_DESCRIPTION:
        problems["description"] = f"The description may have at most {MAX_DESCRIPTION} characters."
    if values["colour"] and not re.match(r"^#[0-9A-Fa-f]{6}$", values["colour"]):
        problems["colour"] = "Choose a colour as #RRGGBB."
    found: list[compose.Participant] | None = None
    if organizer:
        resolved = people.resolve(request.services.engine, values["participants"])
        if resolved.problems:
            problems["participants"] = "; ".join(resolved.problems) + "."
        found = resolved.participants
    elif values["participants"]:
        found = None
    if problems or start is None or end is None or zone is None:
        return None, problems
    email, own = people.my_address(request.services.engine, request.user)
    return (
        EventFields(
            summary=title,
            start=start,
            end=end,
            all_day=all_day,
            timezone=values["timezone"],
            recurrence=recurrence,
            availability=values["availability"],
            visibility=values["visibility"],
            location=values["location"],
            description=values["description"],
            participants=found,
            organizer=email or own,
            organizer_name=request.user,
            email=bool(values["email"]),
        ),
        {},
    )


def _recurrence(
    values: dict[str, Any], start_day: dt.date | None, problems: dict[str, str]
) -> Recurrence | None:
    repeat = values["repeat"] or "none"
    if repeat not in REPEATS:
        problems["repeat"] = "Choose how the event repeats."
        return None
    if repeat == "none":
        return None
    interval = _number(values["interval"] or "1", 1, MAX_INTERVAL)
    if interval is None:
        problems["interval"] = f"Enter a number from 1 to {MAX_INTERVAL}."
    days: tuple[str, ...] = ()
    if repeat == "WEEKLY":
        days = tuple(d for d in compose.WEEKDAYS if d in values["days"])
        if not days and start_day is not None:
            days = (compose.WEEKDAYS[start_day.weekday()],)
    until = count = None
    if values["ends"] == "until":
        until = _date(values["until"])
        if until is None:
            problems["until"] = "Enter the last day as YYYY-MM-DD."
        elif start_day is not None and until < start_day:
            problems["until"] = "The last day must not be before the start."
    elif values["ends"] == "count":
        count = _number(values["count"], 1, MAX_COUNT)
        if count is None:
            problems["count"] = f"Enter a number of times from 1 to {MAX_COUNT}."
    elif values["ends"] not in ("never", ""):
        problems["ends"] = "Choose when the repetition ends."
    return Recurrence(repeat, interval or 1, days, until, count)


# --- writing through CalDAV ----------------------------------------------------------


class WriteRefused(CalserverError):
    """CalDAV refused a write: ``status`` and a message for the form."""


def _reason(answer: dav.DavAnswer) -> str:
    found = _REASON.search(answer.text)
    if found:
        return found.group(1).strip()
    text = answer.text.strip()
    if text and not text.startswith("<") and len(text) < 300:
        return text
    return ""


def write(
    request: WebRequest,
    method: str,
    path: str,
    body: str = "",
    headers: dict[str, str] | None = None,
) -> dav.DavAnswer:
    """PUT or DELETE ``path`` as the user; a refusal becomes :class:`WriteRefused` with a
    message a person understands (403: "you may not change this calendar"; 412: the
    event changed meanwhile)."""
    sent = dict(headers or {})
    if body:
        sent["Content-Type"] = "text/calendar; charset=utf-8"
    answer = dav.call(request, method, path, body.encode("utf-8"), sent)
    if answer.ok:
        return answer
    reason = _reason(answer)
    if answer.status == 403:
        message = "You may not change this calendar."
        if reason:
            message += f" ({reason})"
    elif answer.status == 412:
        message = "Someone changed this event while you were editing it."
    elif answer.status == 404:
        message = "This event no longer exists."
    elif answer.status < 500:
        message = f"The calendar refused the event: {reason or f'HTTP {answer.status}'}."
    else:
        raise CalserverError("the calendar could not store the event; try again", status=502)
    raise WriteRefused(message, status=answer.status)


def new_href() -> str:
    return compose.new_uid().partition("@")[0] + ".ics"
