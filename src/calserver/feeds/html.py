"""A calendar's agenda as a light HTML page: the public page and its embeddable view
(issue 4, item 4).

One HTML document (HTML Living Standard) per week or month, grouped by local day in
the calendar owner's time zone; no script, no external resource (a small inline style
sheet), a ``viewport`` so that a phone shows it at its width. Every text that comes
from an event or the calendar goes through :func:`html.escape`, in content and in
attributes alike. In a busy view an entry shows "Busy" and its time, nothing else.
Pure function: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from html import escape
from zoneinfo import ZoneInfo

from calserver.ical.occurrences import (
    DASH,
    MONTH_NAMES,
    PERIODS,
    Occurrence,
    clock,
    day_label,
    iter_days,
    local_midnight,
    period_bounds,
)

BUSY = "Busy"
_MONTH_NAMES = MONTH_NAMES
#: The navigation, in order: key of ``links``, label, and whether it opens a new
#: window in the embedded view (moving within the calendar stays in the frame).
_NAV = (
    ("prev", "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK} Previous", False),
    ("today", "Today", True),
    ("next", "Next \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}", False),
    ("week", "Week", False),
    ("month", "Month", False),
    ("ics", "Subscribe (.ics)", True),
)
_STATUS = {"TENTATIVE": "tentative", "CANCELLED": "cancelled"}
_STYLE = """
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
body{margin:0 auto;padding:1rem;max-width:42rem;line-height:1.4}
body.embed{padding:.5rem}
h1{font-size:1.4rem;margin:0 0 .25rem}
body.embed h1{font-size:1.1rem}
h2{font-size:1rem;margin:1rem 0 .25rem;border-bottom:1px solid #8886}
.range,.zone,footer{color:#777;margin:.25rem 0}
nav{display:flex;flex-wrap:wrap;gap:.25rem .75rem;margin:.5rem 0}
nav a[aria-current]{font-weight:bold;text-decoration:none}
ul{list-style:none;margin:0;padding:0}
li{display:flex;flex-wrap:wrap;gap:0 .75rem;padding:.3rem 0}
.time{min-width:7.5rem;font-variant-numeric:tabular-nums}
.what{flex:1;min-width:12rem}
.location{display:block;color:#777}
.cancelled .summary{text-decoration:line-through}
.none{color:#777;margin:.25rem 0}
details{margin:.25rem 0}
""".strip()


def agenda_html(
    occurrences: Sequence[Occurrence],
    *,
    title: str,
    tz: ZoneInfo,
    period: str,
    first_day: date,
    last_day: date,
    links: Mapping[str, str],
    embed: bool = False,
    busy: bool = False,
    event_url: Callable[[Occurrence], str] | None = None,
) -> str:
    """The agenda page of ``occurrences`` from ``first_day`` to ``last_day`` (both
    included; :func:`period_bounds`), grouped by local day in ``tz``.

    ``period`` ("week" or "month") names the view: a week shows every day ("No
    events"), a month only the days with events. An occurrence is listed on every day
    it covers. ``links`` ("prev", "next", "today", "week", "month", "ics"; a missing
    key is left out) make the navigation. ``embed``: a page for an ``<iframe>``: the
    title, the navigation, no footer, and links leaving the calendar (today, ics,
    events) open a new window. ``busy``: "Busy" for each entry, and no summary,
    location or description anywhere. ``event_url`` links each entry.
    """
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r} (expected one of {PERIODS})")
    range_label = _range_label(period, first_day, last_day)
    page_class = ' class="embed"' if embed else ""
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{escape(title)} \N{MIDDLE DOT} {escape(range_label)}</title>\n",
        f"<style>\n{_STYLE}\n</style>\n</head>\n<body{page_class}>\n<header>\n",
        f"<h1>{escape(title)}</h1>\n",
        f'<p class="range">{escape(range_label)}</p>\n',
        f'<p class="zone">Times in {escape(tz.key)}</p>\n',
        _nav(links, period, embed),
        "</header>\n<main>\n",
    ]
    shown = 0
    for day in iter_days(first_day, last_day):
        entries = [
            _entry(occurrence, day, tz, busy, event_url, embed)
            for occurrence in occurrences
            if _on_day(occurrence, day, tz)
        ]
        if not entries and period == "month":
            continue
        shown += 1
        parts.append(
            f'<section id="d{day.isoformat()}">\n'
            f'<h2><time datetime="{day.isoformat()}">{escape(day_label(day))}</time></h2>\n'
        )
        if entries:
            parts.append("<ul>\n" + "".join(entries) + "</ul>\n")
        else:
            parts.append('<p class="none">No events</p>\n')
        parts.append("</section>\n")
    if not shown:
        parts.append('<p class="none">No events this month.</p>\n')
    parts.append("</main>\n")
    if not embed:
        parts.append(
            f"<footer>Times are shown in {escape(tz.key)}. Add this calendar to your "
            "calendar app with its .ics link.</footer>\n"
        )
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def _range_label(period: str, first_day: date, last_day: date) -> str:
    if period == "month" and first_day.day == 1 and first_day.month == last_day.month:
        return f"{_MONTH_NAMES[first_day.month - 1]} {first_day.year}"
    return f"{day_label(first_day)} {DASH} {day_label(last_day)}"


def _nav(links: Mapping[str, str], period: str, embed: bool) -> str:
    anchors = []
    for key, label, leaves in _NAV:
        href = links.get(key)
        if href is None:
            continue
        attributes = f'href="{escape(href)}"'
        if key == period:
            attributes += ' aria-current="page"'
        if embed and leaves:
            attributes += ' target="_blank" rel="noopener"'
        anchors.append(f"<a {attributes}>{escape(label)}</a>")
    return "<nav>" + "\n".join(anchors) + "</nav>\n" if anchors else ""


def _on_day(occurrence: Occurrence, day: date, tz: ZoneInfo) -> bool:
    """Whether ``occurrence`` overlaps the local ``day`` (RFC 4791 9.9 rule: a
    zero-length event is on the day it starts)."""
    start, end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    if occurrence.end <= occurrence.start:
        return start <= occurrence.start < end
    return occurrence.start < end and occurrence.end > start


def _time_label(occurrence: Occurrence, day: date, tz: ZoneInfo) -> str:
    """The time of ``occurrence`` on the local ``day``: a range, "from", "until", or
    "All day" for an all-day event or a day it covers entirely."""
    if occurrence.all_day:
        return "All day"
    start, end = occurrence.start.astimezone(tz), occurrence.end.astimezone(tz)
    day_start = local_midnight(day, tz)
    day_end = local_midnight(day + timedelta(days=1), tz)
    begins, ends = start >= day_start, end <= day_end
    if end <= start:
        return clock(start)
    if begins and ends:
        return f"{clock(start)}{DASH}{clock(end)}"
    if begins:
        return f"from {clock(start)}"
    if ends:
        return f"until {clock(end)}"
    return "All day"


def _entry(
    occurrence: Occurrence,
    day: date,
    tz: ZoneInfo,
    busy: bool,
    event_url: Callable[[Occurrence], str] | None,
    embed: bool,
) -> str:
    status = _STATUS.get(occurrence.status)
    summary = BUSY if busy else escape(occurrence.summary or "(no title)")
    if event_url is not None:
        target = ' target="_blank" rel="noopener"' if embed else ""
        summary = f'<a href="{escape(event_url(occurrence))}"{target}>{summary}</a>'
    what = [f'<span class="summary">{summary}</span>']
    if status and not busy:
        what.append(f" ({status})")
    if not busy and occurrence.location:
        what.append(f'<span class="location">{escape(occurrence.location)}</span>')
    if not busy and occurrence.description:
        what.append(
            f"<details><summary>Details</summary>{_lines(occurrence.description)}</details>"
        )
    css = f' class="{status}"' if status and not busy else ""
    return (
        f'<li{css}><span class="time">{escape(_time_label(occurrence, day, tz))}</span>'
        f'<span class="what">{"".join(what)}</span></li>\n'
    )


def _lines(text: str) -> str:
    return "<br>".join(escape(line) for line in text.splitlines())


__all__ = ["agenda_html", "period_bounds"]
