"""The calendar views (issue 14 section 3): ``/.web/calendar?view=week|day|month&date=
YYYY-MM-DD`` (week and today by default) in the user's time zone and first day of the
week, and the user's colour stylesheet ``/.web/colours.css``.

- **Calendars**: every calendar of the user's home (calserver.agenda.calendars), each
  with a show/hide box in a GET form (``?shown=1&cal=PATH&cal=PATH``, PATH the
  calendar's own path); the choice is kept in the cookie ``calserver_hidden`` (the keys
  of the hidden calendars) so it holds on the next visit; ``?only=PATH`` shows one
  calendar without changing what is kept.
- **Reading**: only the shown calendars, through the occurrence index, only the days
  on screen (calserver.agenda.events); the storage's views redact what a level may not
  see (busy blocks say "Busy").
- **Week and day**: a time grid (calserver.web.grid) placed with classes only (the
  CSP forbids style attributes); every hour of every day is a link to a new event at
  that time; on a phone's width the page shows the same days as a list.
- **Links**: an event's page is ``/.web/event?cal=PATH&href=HREF&rid=RECURRENCE-ID``;
  a new event ``/.web/event/new?start=YYYY-MM-DDTHH:MM``.
- **Colours** (``/.web/colours.css``, ``text/css``, ``Cache-Control: private, no-cache``
  with an ETag): ``.cal-KEY`` for each calendar the user sees (KEY:
  calserver.agenda.calendar_key of the calendar's own path, the same on every page) and
  ``.ec-rrggbb`` for each colour the user gave an event (calserver.eventcolours); each
  sets the custom properties ``--cal`` (the colour) and ``--cal-ink`` (black or white,
  whichever contrasts more). Other pages link it and use the classes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from calserver import agenda, eventcolours
from calserver.accounts import settings
from calserver.errors import InvalidInput, NotFound
from calserver.ical import occurrences as occ
from calserver.web import grid
from calserver.web.cookies import cookie_header, read_cookie
from calserver.web.http import Response, WebRequest
from calserver.web.pages.find import tagged_only
from calserver.web.render import page
from calserver.web.routes import route

VIEWS = ("week", "day", "month")
HIDDEN_COOKIE = "calserver_hidden"
#: A year: the choice of calendars lasts until changed.
HIDDEN_MAX_AGE = 365 * 86400
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KEY = re.compile(r"^[0-9a-f]{10}$")
FIRST_YEAR, LAST_YEAR = 1900, 2199
_MONTHS = occ.MONTH_NAMES
#: Fixed notices for ``?done=`` after a form that ends on the calendar (never text
#: from the URL): deleting a whole event or cancelling a meeting (calserver.web.pages.events).
DONE = {"deleted": "The event was deleted."}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _anchor(request: WebRequest, today: date) -> date:
    text = request.arg("date")
    if not text:
        return today
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        found = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("date must be a day as YYYY-MM-DD") from None
    if not FIRST_YEAR <= found.year <= LAST_YEAR:
        raise InvalidInput(f"date must be in the years {FIRST_YEAR} to {LAST_YEAR}")
    return found


def _view(request: WebRequest) -> str:
    view = request.arg("view", "week") or "week"
    if view not in VIEWS:
        raise InvalidInput("view must be week, day or month")
    return view


def _bounds(view: str, anchor: date, week_start: int) -> tuple[date, date]:
    if view == "day":
        return anchor, anchor
    if view == "week":
        return occ.period_bounds("week", anchor, week_start)
    return grid.month_bounds(anchor, week_start)


def _step(view: str, anchor: date, forward: bool) -> date:
    sign = 1 if forward else -1
    if view == "day":
        return anchor + timedelta(days=sign)
    if view == "week":
        return anchor + timedelta(days=7 * sign)
    first = anchor.replace(day=1)
    if forward:
        return (first + timedelta(days=31)).replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def _title(view: str, anchor: date, first: date, last: date) -> str:
    if view == "day":
        weekday, month = WEEKDAYS[anchor.weekday()], _MONTHS[anchor.month - 1]
        return f"{weekday} {anchor.day} {month} {anchor.year}"
    if view == "month":
        return f"{_MONTHS[anchor.month - 1]} {anchor.year}"
    if first.month == last.month:
        return f"{first.day}\u2013{last.day} {_MONTHS[first.month - 1]} {first.year}"
    if first.year == last.year:
        return (
            f"{first.day} {_MONTHS[first.month - 1][:3]} \u2013 {last.day} "
            f"{_MONTHS[last.month - 1][:3]} {first.year}"
        )
    return f"{occ.day_label(first)} \u2013 {occ.day_label(last)}"


@dataclass(frozen=True)
class Selection:
    shown: list[agenda.CalendarView]
    #: the calendar of ``?only=`` ("" when the kept choice applies)
    only: str
    #: the cookie to set when the form changed the choice
    cookie: tuple[str, str] | None


def _select(request: WebRequest, calendars: list[agenda.CalendarView]) -> Selection:
    only = request.arg("only")
    if only:
        found = [c for c in calendars if only.strip("/") in (c.target, c.path)]
        if not found:
            raise NotFound("you see no calendar of that name")
        return Selection(found, found[0].target, None)
    if request.arg("shown"):
        chosen = {value.strip("/") for value in request.query.get("cal", [])}
        shown = [c for c in calendars if c.target in chosen or c.path in chosen]
        hidden = ".".join(c.key for c in calendars if c not in shown)
        cookie = cookie_header(request, HIDDEN_COOKIE, hidden, HIDDEN_MAX_AGE if hidden else 0)
        return Selection(shown, "", cookie)
    kept_text = read_cookie(request.environ, HIDDEN_COOKIE)
    kept = {key for key in kept_text.split(".") if _KEY.match(key)}
    return Selection([c for c in calendars if c.key not in kept], "", None)


@dataclass(frozen=True)
class Period:
    """The days a calendar view shows and the events of the calendars chosen, in the
    user's time zone and first day of the week (the calendar and its print view)."""

    prefs: settings.Settings
    view: str
    today: date
    anchor: date
    first: date
    last: date
    calendars: list[agenda.CalendarView]
    selection: Selection
    #: ``?tag=``: only the events the person tagged so (issue 17); "" for all
    tag: str
    events: list[agenda.AgendaEvent]


def shown_period(
    request: WebRequest, bounds: Callable[[str, date, int], tuple[date, date]]
) -> Period:
    """The period of ``?view=`` and ``?date=`` (its days from ``bounds``) with the
    events of the shown calendars."""
    services = request.services
    prefs = settings.get(services.engine, services.configuration, request.user)
    view = _view(request)
    today = datetime.now(prefs.zone).date()
    anchor = _anchor(request, today)
    first, last = bounds(view, anchor, prefs.week_start)
    calendars = agenda.calendars(services.storage, request.user)
    selection = _select(request, calendars)
    start, end = occ.days_window(first, last, prefs.zone)
    found = agenda.events(services.storage, request.user, selection.shown, start, end, prefs.zone)
    tag = request.arg("tag")
    found = tagged_only(request, found, tag) if tag else found
    return Period(prefs, view, today, anchor, first, last, calendars, selection, tag, found)


@route("GET", "/calendar")
def calendar(request: WebRequest) -> Response:
    p = shown_period(request, _bounds)
    tz, view, anchor, today = p.prefs.zone, p.view, p.anchor, p.today
    days = grid.days(p.events, p.first, p.last, today, tz)

    def link(**changes: Any) -> str:
        query: dict[str, Any] = {"view": view, "date": anchor.isoformat(), "only": p.selection.only}
        query["tag"] = p.tag
        query.update(changes)
        return request.url("/calendar", **query)

    def event_link(event: agenda.AgendaEvent) -> str:
        o = event.occurrence
        return request.url("/event", cal=event.calendar.target, href=o.href, rid=o.recurrence_id)

    def new_link(day: date, hour: int | None = None) -> str:
        start = f"{day.isoformat()}T{hour:02d}:00" if hour is not None else day.isoformat()
        return request.url("/event/new", start=start)

    kinds = [
        (label, [c for c in p.calendars if c.kind == kind]) for kind, label in agenda.KINDS.items()
    ]
    response = page(
        request,
        "calendar.html",
        view=view,
        title=_title(view, anchor, p.first, p.last),
        anchor=anchor,
        today=today,
        days=days,
        weeks=grid.weeks(days) if view == "month" else [],
        weekdays=[WEEKDAYS[(p.prefs.week_start + i) % 7] for i in range(7)],
        kinds=[(label, members) for label, members in kinds if members],
        shown={c.target for c in p.selection.shown},
        only=p.selection.only,
        link=link,
        event_link=event_link,
        new_link=new_link,
        previous=link(date=_step(view, anchor, False).isoformat()),
        following=link(date=_step(view, anchor, True).isoformat()),
        today_link=link(date=today.isoformat()),
        timezone=p.prefs.timezone,
        when=lambda event: occ.when(event.occurrence, tz),
        day_label=occ.day_label,
        weekday_names=WEEKDAYS,
        month_names=_MONTHS,
        span_text=lambda event, day, short: span_text(event, day, short, tz),
        hours=range(24),
        month_events=grid.MONTH_EVENTS,
        notice=DONE.get(request.arg("done"), ""),
    )
    if p.selection.cookie is not None:
        response.headers.append(p.selection.cookie)
    return response


def span_text(event: agenda.AgendaEvent, day: date, short: bool, tz: Any) -> str:
    """What an event's link says of its time on ``day``: "All day", "09:00" (``short``,
    the month grid) or "09:00-10:00" (with an en dash); the end of an event that began
    the day before says "until 02:00"."""
    o = event.occurrence
    start, end = o.start.astimezone(tz), o.end.astimezone(tz)
    if o.all_day or (start.date() < day and end.date() > day):
        return "All day"
    if start.date() < day:
        return f"until {occ.clock(end)}"
    if short or end <= start:
        return occ.clock(start)
    return f"{occ.clock(start)}{occ.DASH}{occ.clock(end)}"


# --- the colour stylesheet ---------------------------------------------------------------


def _ink(colour: str) -> str:
    """Black or white, whichever contrasts more with ``colour`` (WCAG 2 relative
    luminance)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "#fff"


def stylesheet(calendars: list[agenda.CalendarView], event_colours: list[str]) -> str:
    """The rules of ``/.web/colours.css``: calendars first, so that a user's colour of
    an event (a later rule of the same specificity) wins over its calendar's."""
    lines = ["/* calserver: your calendars' colours (cal-KEY), your event colours (ec-RRGGBB) */"]
    rules = [(c.css_class, c.colour) for c in calendars]
    rules += [(eventcolours.colour_class(colour), colour) for colour in event_colours]
    for name, colour in rules:
        lines.append(f".{name} {{ --cal: {colour}; --cal-ink: {_ink(colour)}; }}")
    return "\n".join(lines) + "\n"


@route("GET", "/colours.css")
def colours(request: WebRequest) -> Response:
    services = request.services
    body = stylesheet(
        agenda.calendars(services.storage, request.user),
        eventcolours.palette(services.engine, request.user),
    ).encode("utf-8")
    tag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = [("ETag", tag), ("Cache-Control", "private, no-cache"), ("Vary", "Cookie")]
    asked = str(request.environ.get("HTTP_IF_NONE_MATCH", ""))
    if tag in [part.strip() for part in asked.split(",")]:
        return Response(304, b"", headers, "")
    return Response(200, body, headers, "text/css; charset=utf-8")
