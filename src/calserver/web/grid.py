"""The calendar grid of the web app's views (issue 14 section 3): which day an
occurrence falls on, where in the day's time grid it goes, and what is left for "+N
more". Pure functions over calserver.agenda's events and dates; the page
(calserver.web.pages.calendar) renders the result.

The time grid of a day has 96 rows (quarter hours of the local wall clock) and 60
columns. An event of a day takes the rows of its quarter hours there (an event that
runs past midnight continues on the next day's grid) and a lane of its cluster (the
events that overlap one another): a cluster of k lanes gives each lane 60/k columns.
At most :data:`MAX_LANES` events stand side by side; when a cluster needs more, five
lanes show events and a sixth holds "+N more" (a link to the day view) for the rest.
The page places them with classes only (the Content-Security-Policy forbids style
attributes), defined once in ``static/calendar.css``: ``r-N`` (first row, 1-96),
``s-N`` (rows spanned), ``lK-I`` (lane I of K).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from calserver.agenda import AgendaEvent
from calserver.ical import occurrences as occ

ROWS = 96
MAX_LANES = 5
#: Events a day of the month grid, or the all-day row of the week, lists before "+N more".
MONTH_EVENTS = 3
ALL_DAY_EVENTS = 3


@dataclass
class Placed:
    """An event's part on one day of the time grid."""

    event: AgendaEvent
    row: int
    span: int
    start_label: str
    end_label: str
    lane: int = 0
    lanes: int = 1

    @property
    def classes(self) -> str:
        return f"r-{self.row} s-{self.span} l{self.lanes}-{self.lane}"


@dataclass
class More:
    """ "+N more" for a cluster of more than five overlapping events."""

    count: int
    row: int
    span: int

    @property
    def classes(self) -> str:
        return f"r-{self.row} s-{self.span} l{MAX_LANES + 1}-{MAX_LANES}"


@dataclass
class Day:
    day: date
    today: bool
    #: all-day events (and timed ones that cover the whole day), those shown
    all_day: list[AgendaEvent] = field(default_factory=list)
    all_day_more: int = 0
    placed: list[Placed] = field(default_factory=list)
    more: list[More] = field(default_factory=list)
    #: every event of the day, in order (the phone's list and the month grid)
    listed: list[AgendaEvent] = field(default_factory=list)

    @property
    def hidden(self) -> int:
        return sum(m.count for m in self.more)


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz)


def covers(event: AgendaEvent, day: date, tz: ZoneInfo) -> bool:
    """Whether ``event`` has a part on the local ``day`` (RFC 4791 9.9's overlap: a
    zero-length event is on the day it starts)."""
    o = event.occurrence
    if o.all_day:
        return _local(o.start, tz).date() <= day <= occ.last_day(o, tz)
    low, high = occ.days_window(day, day, tz)
    if o.end <= o.start:
        return low <= o.start < high
    return o.start < high and o.end > low


def _minutes(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


def _placed(event: AgendaEvent, day: date, tz: ZoneInfo) -> Placed | None:
    """The part of a timed event on ``day``; None when it fills the whole day (it goes
    to the all-day row)."""
    o = event.occurrence
    start, end = _local(o.start, tz), _local(o.end, tz)
    first = 0 if start.date() < day else _minutes(start)
    last = 24 * 60 if end.date() > day else _minutes(end)
    if first == 0 and last == 24 * 60:
        return None
    row = first // 15 + 1
    span = max(1, min(ROWS + 1 - row, -(-last // 15) - (row - 1)))
    return Placed(event, row, span, occ.clock(start), occ.clock(end))


def _lay_out(placed: list[Placed]) -> list[More]:
    """Lanes for ``placed`` (sorted by row), cluster by cluster; the events beyond
    the fifth lane are taken out of ``placed`` and counted in the More returned."""
    mores: list[More] = []
    hidden: list[Placed] = []
    cluster: list[Placed] = []
    ends: list[int] = []  # per lane: the row after its last event
    cluster_end = 0

    def close() -> None:
        if not cluster:
            return
        lanes = len(ends)
        over = [p for p in cluster if p.lane >= MAX_LANES]
        if over:
            first = min(p.row for p in cluster)
            mores.append(More(len(over), first, cluster_end - first))
            hidden.extend(over)
            lanes = MAX_LANES + 1
        for p in cluster:
            p.lanes = lanes

    for p in placed:
        if cluster and p.row >= cluster_end:
            close()
            cluster, ends, cluster_end = [], [], 0
        lane = next((i for i, end in enumerate(ends) if end <= p.row), len(ends))
        if lane == len(ends):
            ends.append(0)
        ends[lane] = p.row + p.span
        p.lane = lane
        cluster.append(p)
        cluster_end = max(cluster_end, p.row + p.span)
    close()
    for p in hidden:
        placed.remove(p)
    return mores


def days(
    events: list[AgendaEvent], first: date, last: date, today: date, tz: ZoneInfo
) -> list[Day]:
    """The days ``first`` .. ``last`` with their events laid out."""
    found = []
    for day in occ.iter_days(first, last):
        entry = Day(day, day == today)
        timed: list[Placed] = []
        all_day: list[AgendaEvent] = []
        for event in events:
            if not covers(event, day, tz):
                continue
            entry.listed.append(event)
            part = None if event.occurrence.all_day else _placed(event, day, tz)
            if part is None:
                all_day.append(event)
            else:
                timed.append(part)
        entry.all_day = all_day[:ALL_DAY_EVENTS]
        entry.all_day_more = max(0, len(all_day) - ALL_DAY_EVENTS)
        timed.sort(key=lambda p: (p.row, -p.span))
        entry.more = _lay_out(timed)
        entry.placed = timed
        found.append(entry)
    return found


def weeks(entries: list[Day]) -> list[list[Day]]:
    """``entries`` (whole weeks) seven by seven: the rows of the month grid."""
    return [entries[i : i + 7] for i in range(0, len(entries), 7)]


def month_bounds(anchor: date, week_start: int) -> tuple[date, date]:
    """First and last day of the month grid: whole weeks around ``anchor``'s month."""
    first, last = occ.period_bounds("month", anchor, week_start)
    first -= timedelta(days=(first.weekday() - week_start) % 7)
    last += timedelta(days=(week_start - 1 - last.weekday()) % 7)
    return first, last
