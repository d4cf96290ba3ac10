"""Working hours (``/.web/settings/availability``): the signed-in user's availability
(RFC 7953) as a weekly form: per weekday a checkbox, from and to, in a time zone (the
user's settings' by default). Saved through the same service as the JSON API and the
inbox's ``CALDAV:calendar-availability`` (``calserver.accounts.availability``);
outside these hours free/busy answers show the user BUSY-UNAVAILABLE.

Fields: ``timezone``; per day ``DD`` of MO..SU: ``day-DD`` (checkbox), ``from-DD``,
``to-DD`` (HH:MM); ``action`` = ``save`` or ``clear``.
"""

from __future__ import annotations

from typing import Any

from calserver.accounts import availability, settings
from calserver.errors import CalserverError
from calserver.ical.availability import BadAvailability, parse_time, weekly_hours
from calserver.web.http import Response, WebRequest, redirect
from calserver.web.render import page
from calserver.web.routes import route

PATH = "/settings/availability"
DAYS = (
    ("MO", "Monday"),
    ("TU", "Tuesday"),
    ("WE", "Wednesday"),
    ("TH", "Thursday"),
    ("FR", "Friday"),
    ("SA", "Saturday"),
    ("SU", "Sunday"),
)
#: The notices a redirect may name (never text from the URL).
DONE = {
    "saved": "Your working hours are saved.",
    "cleared": "Your working hours are removed: free/busy shows only your events.",
}


def _rows_of(text: str | None) -> tuple[str, dict[str, dict[str, Any]], bool]:
    """(time zone, {day: {on, from, to}}, custom): the form's values for a stored text;
    ``custom`` when it is more than one range a day (set by a calendar app)."""
    rows = {day: {"on": False, "from": "09:00", "to": "17:00"} for day, _ in DAYS}
    if not text:
        for day in ("MO", "TU", "WE", "TH", "FR"):
            rows[day]["on"] = True
        return "", rows, False
    found = weekly_hours(text)
    if found is None:
        return "", rows, True
    zone, hours = found
    custom = False
    for hour in hours:
        if rows[hour.day]["on"]:
            custom = True
            continue
        rows[hour.day] = {"on": True, "from": f"{hour.start:%H:%M}", "to": f"{hour.end:%H:%M}"}
    return zone, rows, custom


def _form(
    request: WebRequest,
    status: int = 200,
    *,
    zone: str,
    rows: dict[str, dict[str, Any]],
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> Response:
    text = availability.get(request.services.engine, request.user)
    _zone, _rows, custom = _rows_of(text)
    return page(
        request,
        "availability.html",
        status,
        days=DAYS,
        zone=zone,
        rows=rows,
        is_set=text is not None,
        custom=custom,
        errors=errors or {},
        notice=notice,
    )


@route("GET", PATH)
def show(request: WebRequest) -> Response:
    services = request.services
    zone, rows, _custom = _rows_of(availability.get(services.engine, request.user))
    if not zone:
        zone = settings.get(services.engine, services.configuration, request.user).timezone
    return _form(request, zone=zone, rows=rows, notice=DONE.get(request.arg("done"), ""))


@route("POST", PATH)
def save(request: WebRequest) -> Response:
    engine = request.services.engine
    if request.field("action") == "clear":
        availability.clear(engine, request.user)
        return redirect(request.url(PATH, done="cleared"))
    zone = request.field("timezone")
    rows: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    hours: list[tuple[str, str, str]] = []
    for day, name in DAYS:
        on, begin, finish = (
            bool(request.field(f"day-{day}")),
            request.field(f"from-{day}"),
            request.field(f"to-{day}"),
        )
        rows[day] = {"on": on, "from": begin, "to": finish}
        if not on:
            continue
        try:
            start, end = parse_time(begin), parse_time(finish)
        except BadAvailability:
            errors[f"from-{day}"] = f"{name}: give the hours as HH:MM, e.g. 09:00 and 17:00"
            continue
        if end <= start:
            errors[f"from-{day}"] = f"{name}: the end must be after the start"
            continue
        hours.append((day, begin, finish))
    try:
        zone = settings.parse_timezone(zone) or ""
        if not zone:
            errors["timezone"] = "Give a time zone, e.g. Europe/Berlin"
    except CalserverError as exc:
        errors["timezone"] = exc.reason
    if not errors:
        try:
            availability.set_weekly(engine, request.user, zone, hours)
        except CalserverError as exc:
            errors[""] = exc.reason
    if errors:
        return _form(request, 400, zone=request.field("timezone"), rows=rows, errors=errors)
    return redirect(request.url(PATH, done="saved"))
