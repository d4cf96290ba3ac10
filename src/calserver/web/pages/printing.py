"""Print-friendly views (issue 17 section 4): ``/.web/print?view=day|week|month&date=``
and ``/.web/print/event?cal=&href=`` -- no navigation, full titles, times, locations,
a print style sheet (``print.css``). The calendar page's and the event page's "Print"
links lead here. ``?tag=NAME`` keeps the events the person tagged so (their own tags).

The same services as the calendar page (calserver.agenda) and the event page."""

from __future__ import annotations

import calendar as monthdays
from datetime import date, datetime, timedelta
from typing import Any

from calserver.accounts import settings
from calserver.ical import compose
from calserver.ical import occurrences as occ
from calserver.web import eventforms as ef
from calserver.web.http import Response, WebRequest
from calserver.web.pages.calendar import WEEKDAYS, _title, shown_period
from calserver.web.pages.events import _when
from calserver.web.pages.find import event_tag_values
from calserver.web.render import page
from calserver.web.routes import route


def _bounds(view: str, anchor: date, week_start: int) -> tuple[date, date]:
    if view == "day":
        return anchor, anchor
    if view == "week":
        return occ.period_bounds("week", anchor, week_start)
    first = anchor.replace(day=1)
    return first, first.replace(day=monthdays.monthrange(first.year, first.month)[1])


def _time(moment: datetime, all_day: bool) -> str:
    return "all day" if all_day else moment.strftime("%H:%M")


@route("GET", "/print")
def print_view(request: WebRequest) -> Response:
    shown = shown_period(request, _bounds)
    view, anchor, first, last, tag = shown.view, shown.anchor, shown.first, shown.last, shown.tag
    tz, found = shown.prefs.zone, shown.events
    days: list[dict[str, Any]] = []
    day = first
    while day <= last:
        entries = []
        for event in found:
            o = event.occurrence
            last_day = (o.end - timedelta(seconds=1)).date() if o.end > o.start else o.start.date()
            if o.start.date() <= day <= last_day:
                entries.append(
                    {
                        "title": event.title,
                        "start": _time(o.start, o.all_day),
                        "end": "" if o.all_day else o.end.strftime("%H:%M"),
                        "location": "" if event.busy else o.location,
                        "calendar": event.calendar.name,
                    }
                )
        days.append(
            {
                "label": f"{WEEKDAYS[day.weekday()]} {day.day} "
                f"{occ.MONTH_NAMES[day.month - 1]} {day.year}",
                "iso": day.isoformat(),
                "entries": entries,
            }
        )
        day += timedelta(days=1)
    if view == "month":  # a month lists its days with events only
        days = [d for d in days if d["entries"]]
    return page(
        request,
        "print.html",
        title=_title(view, anchor, first, last),
        days=days,
        view=view,
        tag=tag,
        zone=str(tz),
        back=request.url("/calendar", view=view, date=anchor.isoformat()),
    )


@route("GET", "/print/event")
def print_event(request: WebRequest) -> Response:
    shown = ef.read_event(request, request.arg("cal"), request.arg("href"))
    prefs = settings.get(request.services.engine, request.services.configuration, request.user)
    fields = compose.fields_of(shown.text, request.arg("rid"), prefs.zone.key)
    values = event_tag_values(request, shown.cal, shown.href)
    return page(
        request,
        "print_event.html",
        title="Busy" if shown.busy else (fields.summary or "(no title)"),
        shown=shown,
        fields=fields,
        tags=values["event_tags"],
        when=_when(fields, prefs.zone),
        back=request.url("/event", cal=shown.cal, href=shown.href),
    )
