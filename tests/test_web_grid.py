"""The calendar grid's placement (calserver.web.grid), pure: quarter-hour rows on the
local wall clock, events across midnight and daylight-saving days, lanes and "+N more",
the month's whole weeks."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from calserver.agenda import AgendaEvent, CalendarView
from calserver.ical.occurrences import Occurrence
from calserver.sharing.visibility import Level
from calserver.web import grid

PARIS = ZoneInfo("Europe/Paris")
WORK = CalendarView("alice/work", "alice/work", 1, "Work", "#1f5fa8", Level.OWNER, "own")


def event(uid: str, start: datetime, end: datetime, all_day: bool = False) -> AgendaEvent:
    occurrence = Occurrence(f"{uid}.ics", uid, "", start, end, all_day, uid, "", "", "")
    return AgendaEvent(WORK, occurrence, busy=False, colour="")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=PARIS)


def test_an_event_across_midnight_is_on_both_days() -> None:
    late = event("late", at(23, 22), at(24, 2))
    monday, tuesday = grid.days(
        [late], date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 1), PARIS
    )
    assert [(p.row, p.span) for p in monday.placed] == [(89, 8)]
    assert [(p.row, p.span) for p in tuesday.placed] == [(1, 8)]


def test_a_timed_event_filling_a_day_goes_to_the_all_day_row() -> None:
    long = event("long", at(23, 12), at(25, 12))
    days = grid.days([long], date(2026, 11, 23), date(2026, 11, 25), date(2026, 11, 1), PARIS)
    assert [len(d.placed) for d in days] == [1, 0, 1]
    assert [d.all_day for d in days][1] == [long]


def test_rows_follow_the_wall_clock_on_a_daylight_saving_day() -> None:
    # 29 March 2026: Paris skips 02:00-03:00; 01:00-04:00 local is two hours long
    spring = event("spring", at(29, 1, month=3), at(29, 4, month=3))
    (day,) = grid.days([spring], date(2026, 3, 29), date(2026, 3, 29), date(2026, 1, 1), PARIS)
    assert [(p.row, p.span, p.start_label, p.end_label) for p in day.placed] == [
        (5, 12, "01:00", "04:00")
    ]


def test_lanes_and_more() -> None:
    crowd = [event(f"e{n}", at(23, 9), at(23, 10)) for n in range(7)]
    after = event("after", at(23, 10), at(23, 11))
    (day,) = grid.days(
        [*crowd, after], date(2026, 11, 23), date(2026, 11, 23), date(2026, 11, 1), PARIS
    )
    shown = sorted(p.classes for p in day.placed)
    assert shown == [f"r-37 s-4 l6-{n}" for n in range(5)] + ["r-41 s-4 l1-0"]
    assert [(m.count, m.classes) for m in day.more] == [(2, "r-37 s-4 l6-5")]
    assert len(day.listed) == 8
    two = [event("a", at(23, 9), at(23, 11)), event("b", at(23, 10), at(23, 12))]
    (day,) = grid.days(two, date(2026, 11, 23), date(2026, 11, 23), date(2026, 11, 1), PARIS)
    assert sorted(p.classes for p in day.placed) == ["r-37 s-8 l2-0", "r-41 s-8 l2-1"]


def test_the_month_grid_is_whole_weeks() -> None:
    assert grid.month_bounds(date(2026, 11, 15), 0) == (date(2026, 10, 26), date(2026, 12, 6))
    assert grid.month_bounds(date(2026, 11, 15), 6) == (date(2026, 11, 1), date(2026, 12, 5))
    assert grid.month_bounds(date(2026, 2, 1), 6) == (date(2026, 2, 1), date(2026, 2, 28))
