"""The pure rendering layer of issue 4: feed windows, occurrences, calendar.ics,
event downloads, RSS and the agenda page (calserver.feeds.*), without a server.

Every .ics is parsed back with icalendar, every feed with feedparser.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import pytest
import recurring_ical_events

from calserver.feeds import html as feeds_html
from calserver.feeds.ics import calendar_ics, event_download
from calserver.feeds.rss import rss
from calserver.ical.icsfile import IcsError
from calserver.ical.occurrences import (
    Occurrence,
    event_span,
    feed_window,
    occurrences,
    period_bounds,
)

FIXTURES = Path(__file__).parent / "fixtures"
BRUSSELS = ZoneInfo("Europe/Brussels")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
AUCKLAND = ZoneInfo("Pacific/Auckland")
ZULU = ZoneInfo("UTC")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def vcalendar(*lines: str) -> str:
    """A stored item: a VCALENDAR around ``lines``, CRLF."""
    return (
        "\r\n".join(
            ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *lines, "END:VCALENDAR"]
        )
        + "\r\n"
    )


def vevent(uid: str, *lines: str, summary: str = "Event") -> list[str]:
    return [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"SUMMARY:{summary}",
        *lines,
        "END:VEVENT",
    ]


WEEKLY = fixture("thunderbird-weekly-berlin.ics")  # EXDATE 01-20, 01-27 moved to 01-28
ENDLESS = fixture("thunderbird-endless-weekly.ics")
FLOATING = fixture("thunderbird-floating.ics")
TRIP = fixture("apple-allday-trip.ics")  # 2026-02-14 .. 02-16
CONCERT = fixture("apple-newyork-concert.ics")  # with a VALARM
TASK = fixture("thunderbird-task.ics")
OVERNIGHT = fixture("thunderbird-overnight-berlin.ics")  # Fri 20:00 .. Mon 08:00
MALFORMED = vcalendar(*vevent("bad", "DTSTART:20260106T25XX00", "DTEND:nonsense"))


# --- windows ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "tz", "start", "end"),
    [
        # spring forward: 23 hours
        (utc(2026, 3, 29, 10), BRUSSELS, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),
        # fall back: 25 hours
        (utc(2026, 10, 25, 10), BRUSSELS, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),
        # 23:30 UTC is already tomorrow in Brussels (winter)
        (utc(2026, 11, 21, 23, 30), BRUSSELS, utc(2026, 11, 21, 23), utc(2026, 11, 22, 23)),
        (utc(2026, 3, 8, 12), NEW_YORK, utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)),
        (utc(2026, 11, 1, 12), NEW_YORK, utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)),
        # 03:00 UTC is still yesterday evening in New York
        (utc(2026, 11, 21, 3), NEW_YORK, utc(2026, 11, 20, 5), utc(2026, 11, 21, 5)),
        # a half-hour zone, just after its midnight
        (utc(2026, 11, 21, 18, 45), KOLKATA, utc(2026, 11, 21, 18, 30), utc(2026, 11, 22, 18, 30)),
        # New Zealand daylight time (+13) and its changes: 23 h in September, 25 h in April
        (utc(2026, 11, 21, 23, 30), AUCKLAND, utc(2026, 11, 21, 11), utc(2026, 11, 22, 11)),
        (utc(2026, 9, 27, 0), AUCKLAND, utc(2026, 9, 26, 12), utc(2026, 9, 27, 11)),
        (utc(2026, 4, 5, 0), AUCKLAND, utc(2026, 4, 4, 11), utc(2026, 4, 5, 12)),
        (utc(2026, 11, 21, 0, 0), ZULU, utc(2026, 11, 21), utc(2026, 11, 22)),
        (utc(2026, 11, 21, 23, 59, 59), ZULU, utc(2026, 11, 21), utc(2026, 11, 22)),
    ],
)
def test_today_is_the_whole_local_day(
    now: datetime, tz: ZoneInfo, start: datetime, end: datetime
) -> None:
    assert feed_window("today", now, tz) == (start, end)


def test_windows_are_in_utc_so_day_lengths_are_real() -> None:
    start, end = feed_window("today", utc(2026, 3, 29, 10), BRUSSELS)
    assert start.tzinfo is UTC and end.tzinfo is UTC
    assert end - start == 23 * HOUR
    start, end = feed_window("today", utc(2026, 10, 25, 10), BRUSSELS)
    assert end - start == 25 * HOUR


@pytest.mark.parametrize(
    ("now", "week_start", "first_day"),
    [
        (utc(2026, 3, 25, 12), 0, date(2026, 3, 23)),  # Wednesday, Monday weeks
        (utc(2026, 3, 23, 12), 0, date(2026, 3, 23)),  # Monday itself
        (utc(2026, 3, 29, 12), 0, date(2026, 3, 23)),  # Sunday ends a Monday week
        (utc(2026, 3, 25, 12), 6, date(2026, 3, 22)),  # Wednesday, Sunday weeks
        (utc(2026, 3, 29, 12), 6, date(2026, 3, 29)),  # Sunday starts a Sunday week
        (utc(2026, 3, 28, 12), 6, date(2026, 3, 22)),  # Saturday ends it
        (utc(2026, 3, 28, 23, 30), 6, date(2026, 3, 29)),  # already Sunday in Brussels
    ],
)
def test_this_week_is_the_calendar_week_from_the_users_first_day(
    now: datetime, week_start: int, first_day: date
) -> None:
    start, end = feed_window("week", now, BRUSSELS, week_start)
    assert start == datetime(first_day.year, first_day.month, first_day.day, tzinfo=BRUSSELS)
    assert end == start.astimezone(BRUSSELS) + timedelta(days=7)  # same wall clock
    assert period_bounds("week", now.astimezone(BRUSSELS).date(), week_start) == (
        first_day,
        first_day + timedelta(days=6),
    )


def test_a_week_over_a_daylight_saving_change_is_one_hour_short_or_long() -> None:
    start, end = feed_window("week", utc(2026, 3, 26, 12), BRUSSELS)
    assert (start, end) == (utc(2026, 3, 22, 23), utc(2026, 3, 29, 22))
    start, end = feed_window("week", utc(2026, 10, 21, 12), BRUSSELS)
    assert (start, end) == (utc(2026, 10, 18, 22), utc(2026, 10, 25, 23))
    assert end - start == 7 * DAY + HOUR


@pytest.mark.parametrize(
    ("now", "tz", "start", "end"),
    [
        (utc(2026, 10, 15), BRUSSELS, utc(2026, 9, 30, 22), utc(2026, 10, 31, 23)),
        (utc(2026, 12, 31, 12), NEW_YORK, utc(2026, 12, 1, 5), utc(2027, 1, 1, 5)),
        # 1 January 03:00 UTC is still December in New York
        (utc(2027, 1, 1, 3), NEW_YORK, utc(2026, 12, 1, 5), utc(2027, 1, 1, 5)),
        # 31 January 12:00 UTC is already February in Auckland
        (utc(2026, 1, 31, 12), AUCKLAND, utc(2026, 1, 31, 11), utc(2026, 2, 28, 11)),
        (utc(2028, 2, 10), ZULU, utc(2028, 2, 1), utc(2028, 3, 1)),  # leap year
        (utc(2026, 11, 30, 19), KOLKATA, utc(2026, 11, 30, 18, 30), utc(2026, 12, 31, 18, 30)),
    ],
)
def test_this_month_is_the_calendar_month_in_the_users_zone(
    now: datetime, tz: ZoneInfo, start: datetime, end: datetime
) -> None:
    assert feed_window("month", now, tz) == (start, end)


def test_next_30_days_run_from_now_to_the_same_local_time() -> None:
    now = utc(2026, 10, 10, 8)  # 10:00 in Brussels, summer time
    start, end = feed_window("30days", now, BRUSSELS)
    assert start == now
    assert end == utc(2026, 11, 9, 9)  # 10:00 in Brussels, winter time
    start, end = feed_window("30days", now, ZULU)
    assert end - start == 30 * DAY


def test_bad_window_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown feed"):
        feed_window("year", utc(2026, 1, 1), ZULU)
    with pytest.raises(ValueError, match="week_start"):
        feed_window("week", utc(2026, 1, 1), ZULU, 7)
    with pytest.raises(ValueError, match="aware"):
        feed_window("today", datetime(2026, 1, 1), ZULU)
    with pytest.raises(ValueError, match="unknown period"):
        period_bounds("day", date(2026, 1, 1), 0)


def test_period_bounds_of_months() -> None:
    assert period_bounds("month", date(2026, 12, 31), 0) == (date(2026, 12, 1), date(2026, 12, 31))
    assert period_bounds("month", date(2028, 2, 1), 0) == (date(2028, 2, 1), date(2028, 2, 29))


# --- occurrences ------------------------------------------------------------------------


def january(tz: ZoneInfo = BERLIN) -> tuple[datetime, datetime]:
    return feed_window("month", utc(2026, 1, 15), tz)


def test_weekly_series_skips_its_exdate_and_moves_its_override() -> None:
    found = occurrences([("weekly.ics", WEEKLY)], *january(), BERLIN)
    assert [(o.start, o.summary) for o in found] == [
        (datetime(2026, 1, 6, 10, tzinfo=BERLIN), "Team meeting"),
        (datetime(2026, 1, 13, 10, tzinfo=BERLIN), "Team meeting"),
        (datetime(2026, 1, 28, 14, tzinfo=BERLIN), "Team meeting (moved to Wednesday)"),
    ]
    assert [o.recurrence_id for o in found] == [
        "20260106T090000Z",
        "20260113T090000Z",
        "20260127T090000Z",  # the moved instance keeps its original start
    ]
    assert {o.href for o in found} == {"weekly.ics"}
    assert found[2].guid_key == "7c1e9a52-3f0b-4d8e-a6c1-2b9f4e3d5a10/20260127T090000Z"
    assert all(o.end - o.start == HOUR for o in found)


def test_occurrences_are_shown_in_the_viewers_zone() -> None:
    found = occurrences([("weekly.ics", WEEKLY)], *january(NEW_YORK), NEW_YORK)
    assert found[0].start == datetime(2026, 1, 6, 4, tzinfo=NEW_YORK)
    assert found[0].start.tzinfo == NEW_YORK
    assert found[0].start.hour == 4


def test_a_series_keeps_its_local_time_over_daylight_saving() -> None:
    item = vcalendar(
        *vevent(
            "dst",
            "DTSTART;TZID=Europe/Brussels:20261019T090000",
            "DTEND;TZID=Europe/Brussels:20261019T100000",
            "RRULE:FREQ=WEEKLY",
        )
    )
    found = occurrences([("dst.ics", item)], utc(2026, 10, 19), utc(2026, 10, 27), BRUSSELS)
    assert [o.start.astimezone(UTC) for o in found] == [utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)]
    assert [o.start.hour for o in found] == [9, 9]


def test_an_endless_series_is_cut_at_the_window() -> None:
    start, end = utc(2026, 11, 1), utc(2026, 12, 1)
    found = occurrences([("endless.ics", ENDLESS)], start, end, BERLIN)
    assert [o.start.day for o in found] == [2, 9, 16, 23, 30]  # Mondays of November
    daily = vcalendar(
        *vevent("d", "DTSTART:20200101T090000Z", "DTEND:20200101T100000Z", "RRULE:FREQ=DAILY")
    )
    found = occurrences([("d.ics", daily)], utc(2026, 11, 21, 9, 30), utc(2026, 11, 24, 9), ZULU)
    # the 21st overlaps the window's start; the 24th starts exactly at its end
    assert [o.start.day for o in found] == [21, 22, 23]


def test_occurrences_stop_at_the_limit_keeping_the_earliest() -> None:
    daily = vcalendar(*vevent("d", "DTSTART:20200101T090000Z", "RRULE:FREQ=DAILY"))
    found = occurrences([("d.ics", daily), ("weekly.ics", WEEKLY)], *january(ZULU), ZULU, limit=5)
    assert len(found) == 5
    assert [o.start.day for o in found] == [1, 2, 3, 4, 5]


def test_all_day_events_are_whole_local_days() -> None:
    found = occurrences([("trip.ics", TRIP)], utc(2026, 2, 1), utc(2026, 3, 1), AUCKLAND)
    [trip] = found
    assert trip.all_day
    assert trip.start == datetime(2026, 2, 14, tzinfo=AUCKLAND)
    assert trip.end == datetime(2026, 2, 17, tzinfo=AUCKLAND)
    assert trip.recurrence_id == ""
    # Auckland's days: the 13th and the 17th have no trip, the 14th has
    assert not occurrences(
        [("t", TRIP)], *feed_window("today", utc(2026, 2, 12, 12), AUCKLAND), AUCKLAND
    )
    assert occurrences(
        [("t", TRIP)], *feed_window("today", utc(2026, 2, 13, 12), AUCKLAND), AUCKLAND
    )
    assert not occurrences(
        [("t", TRIP)], *feed_window("today", utc(2026, 2, 16, 12), AUCKLAND), AUCKLAND
    )


def test_all_day_without_end_is_one_day_and_a_series_names_dates() -> None:
    item = vcalendar(*vevent("b", "DTSTART;VALUE=DATE:20261121", "RRULE:FREQ=YEARLY"))
    [found] = occurrences([("b.ics", item)], utc(2026, 11, 1), utc(2026, 12, 1), KOLKATA)
    assert found.end - found.start == DAY
    assert found.recurrence_id == "20261121"
    assert found.guid_key == "b/20261121"


def test_floating_times_are_taken_in_the_viewers_zone() -> None:
    window = utc(2026, 3, 10), utc(2026, 3, 11)
    [lunch] = occurrences([("f.ics", FLOATING)], *window, KOLKATA)
    assert lunch.start == datetime(2026, 3, 10, 12, tzinfo=KOLKATA)
    assert lunch.start.astimezone(UTC) == utc(2026, 3, 10, 6, 30)
    # noon at UTC+14 is still the 9th in UTC: outside a UTC window of the 10th
    assert not occurrences([("f.ics", FLOATING)], *window, ZoneInfo("Pacific/Kiritimati"))


def test_events_without_dtend_use_duration_or_last_no_time() -> None:
    items = [
        ("dur", vcalendar(*vevent("dur", "DTSTART:20261121T090000Z", "DURATION:PT90M"))),
        ("zero", vcalendar(*vevent("zero", "DTSTART:20261121T100000Z"))),
        ("edge", vcalendar(*vevent("edge", "DTSTART:20261122T000000Z"))),
    ]
    found = occurrences(items, utc(2026, 11, 21), utc(2026, 11, 22), ZULU)
    assert [(o.uid, o.end - o.start) for o in found] == [
        ("dur", timedelta(minutes=90)),
        ("zero", timedelta(0)),  # a zero-length event in the window counts
    ]


def test_event_span_defaults_of_rfc5545_3_6_1() -> None:
    def span(*lines: str) -> tuple[datetime, datetime, bool]:
        [event] = icalendar.Calendar.from_ical(vcalendar(*vevent("e", *lines))).walk("VEVENT")
        return event_span(event, KOLKATA)

    assert span("DTSTART;VALUE=DATE:20261121") == (
        utc(2026, 11, 20, 18, 30),
        utc(2026, 11, 21, 18, 30),
        True,
    )
    assert span("DTSTART:20261121T090000Z") == (utc(2026, 11, 21, 9), utc(2026, 11, 21, 9), False)
    assert span("DTSTART:20261121T090000", "DURATION:PT1H") == (
        utc(2026, 11, 21, 3, 30),
        utc(2026, 11, 21, 4, 30),
        False,
    )
    with pytest.raises(TypeError):
        span("DTSTART:20261121T090000Z", "DTEND;VALUE=DATE:20261122")


def test_tasks_and_malformed_items_are_skipped() -> None:
    items = [
        ("task.ics", TASK),
        ("bad.ics", MALFORMED),
        ("junk.ics", "this is not iCalendar"),
        ("nostart.ics", vcalendar(*vevent("nostart"))),
        ("concert.ics", CONCERT),
    ]
    found = occurrences(items, utc(2026, 3, 1), utc(2026, 4, 1), NEW_YORK)
    assert [o.summary for o in found] == ["Concert"]
    assert found[0].location == "Lincoln Center, New York"


def test_occurrences_are_sorted_by_start_then_summary() -> None:
    items = [
        (uid, vcalendar(*vevent(uid, f"DTSTART:2026112{day}T090000Z", summary=summary)))
        for uid, day, summary in [("c", 2, "A"), ("b", 1, "Zed"), ("a", 1, "Alpha")]
    ]
    found = occurrences(items, utc(2026, 11, 1), utc(2026, 12, 1), ZULU)
    assert [o.summary for o in found] == ["Alpha", "Zed", "A"]


def test_a_multi_day_event_overlapping_the_window_is_in_it() -> None:
    window = feed_window("today", utc(2026, 4, 12, 12), BERLIN)  # the Sunday
    [hack] = occurrences([("o.ics", OVERNIGHT)], *window, BERLIN)
    assert hack.start < window[0] < window[1] < hack.end
    assert hack.status == ""


# --- calendar.ics -----------------------------------------------------------------------


def ics(items: list[str], **kwargs: object) -> tuple[str, icalendar.Calendar]:
    text = "".join(calendar_ics(items, **kwargs))  # type: ignore[arg-type]
    return text, icalendar.Calendar.from_ical(text)


def components(calendar: icalendar.Calendar, name: str) -> list[icalendar.Component]:
    return [c for c in calendar.walk(name)]


def assert_wire_format(text: str) -> None:
    assert "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")


def test_calendar_ics_has_its_name_refresh_interval_and_no_alarm() -> None:
    text, parsed = ics([WEEKLY, ENDLESS, CONCERT], name="Team, Berlin", description="All")
    assert_wire_format(text)
    assert "X-WR-CALNAME:Team\\, Berlin\r\n" in text  # TEXT, escaped (RFC 5545 3.3.11)
    assert parsed["X-WR-CALDESC"] == "All"
    assert str(parsed["REFRESH-INTERVAL"].to_ical().decode()) == "PT1H"
    assert parsed["X-PUBLISHED-TTL"] == "PT1H"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in text
    assert text.index("REFRESH-INTERVAL") < text.index("BEGIN:VTIMEZONE")  # a calendar property
    assert not components(parsed, "VALARM")
    assert "VALARM" not in text
    # Europe/Berlin twice (two items), New York once: each zone once
    assert sorted(str(tz["TZID"]) for tz in components(parsed, "VTIMEZONE")) == [
        "America/New_York",
        "Europe/Berlin",
    ]
    events = components(parsed, "VEVENT")
    assert len(events) == 4  # two series masters, one override, the concert
    assert sum("RRULE" in e for e in events) == 2


def test_calendar_ics_folds_long_lines_and_skips_malformed_items() -> None:
    long = vcalendar(*vevent("long", "DTSTART:20261121T090000Z", summary="é" * 80))
    text, parsed = ics(
        [
            MALFORMED.replace("BEGIN:VEVENT", "BEGIN:VEVENT\r\nEND:VCALENDAR"),
            "junk",
            long,
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n",
        ]
    )
    assert_wire_format(text)
    [event] = components(parsed, "VEVENT")
    assert event["SUMMARY"] == "é" * 80


def test_calendar_ics_streams_item_by_item() -> None:
    consumed: list[int] = []

    def items() -> Iterator[str]:
        for number in range(1000):
            consumed.append(number)
            yield vcalendar(*vevent(f"e{number}", "DTSTART:20261121T090000Z"))

    chunks = calendar_ics(items())
    for _ in range(4):  # header, refresh interval, first item
        next(chunks)
    assert len(consumed) < 3


def test_expanded_ics_has_one_event_per_occurrence_without_rules() -> None:
    window = january()
    text, parsed = ics([WEEKLY, CONCERT, TRIP], window=window, expand=True, tz=BERLIN)
    assert_wire_format(text)
    events = components(parsed, "VEVENT")
    assert [e["DTSTART"].dt for e in events] == [
        datetime(2026, 1, 6, 10, tzinfo=BERLIN),
        datetime(2026, 1, 13, 10, tzinfo=BERLIN),
        datetime(2026, 1, 28, 14, tzinfo=BERLIN),
    ]
    assert all("RECURRENCE-ID" in e for e in events)
    assert not any(name in e for e in events for name in ("RRULE", "RDATE", "EXDATE"))
    assert not components(parsed, "VALARM")
    [zone] = components(parsed, "VTIMEZONE")
    assert zone["TZID"] == "Europe/Berlin"
    # a single event in the window is kept as it is: no RECURRENCE-ID
    _, parsed = ics([CONCERT], window=(utc(2026, 3, 1), utc(2026, 4, 1)), expand=True)
    [concert] = components(parsed, "VEVENT")
    assert "RECURRENCE-ID" not in concert
    assert concert["UID"] == "8D4A1F2E-3B7C-4E9A-A1D2-6C5F0B3E7A91"


def test_expanding_an_endless_series_needs_a_window() -> None:
    with pytest.raises(ValueError, match="window"):
        "".join(calendar_ics([ENDLESS], expand=True))
    _, parsed = ics([ENDLESS], window=(utc(2026, 11, 1), utc(2026, 12, 1)), expand=True)
    assert len(components(parsed, "VEVENT")) == 5


def test_utc_ics_has_z_times_and_no_timezone() -> None:
    text, parsed = ics([WEEKLY, TRIP, CONCERT], utc=True)
    assert_wire_format(text)
    assert not components(parsed, "VTIMEZONE")
    assert "TZID" not in text
    events = {str(e["SUMMARY"]): e for e in components(parsed, "VEVENT")}
    master = events["Team meeting"]
    assert master["DTSTART"].to_ical() == b"20260106T090000Z"
    assert master["DTEND"].to_ical() == b"20260106T100000Z"
    assert master["EXDATE"].to_ical() == b"20260120T090000Z"
    moved = events["Team meeting (moved to Wednesday)"]
    assert moved["RECURRENCE-ID"].to_ical() == b"20260127T090000Z"
    assert events["Concert"]["DTSTART"].to_ical() == b"20260305T230000Z"
    assert events["Paris trip"]["DTSTART"].to_ical() == b"20260214"  # dates untouched
    # the series still has the same instants, its exception still excluded
    found = recurring_ical_events.of(parsed).between(utc(2026, 1, 1), utc(2026, 2, 1))
    starts = sorted(e["DTSTART"].dt for e in found if "Team" in str(e["SUMMARY"]))
    assert starts == [utc(2026, 1, 6, 9), utc(2026, 1, 13, 9), utc(2026, 1, 28, 13)]


def test_utc_ics_converts_floating_times_and_until_in_the_users_zone() -> None:
    item = vcalendar(
        *vevent(
            "f",
            "DTSTART:20261121T090000",
            "RRULE:FREQ=DAILY;UNTIL=20261123T090000",
            "RDATE;VALUE=PERIOD:20261130T090000/PT1H",
        )
    )
    text, parsed = ics([item], utc=True, tz=KOLKATA)
    [event] = components(parsed, "VEVENT")
    assert event["DTSTART"].to_ical() == b"20261121T033000Z"
    assert "UNTIL=20261123T033000Z" in text
    assert "RDATE;VALUE=PERIOD:20261130T033000Z/PT1H" in text


def test_utc_and_expand_together() -> None:
    text, parsed = ics([WEEKLY], window=january(), expand=True, utc=True, tz=BERLIN)
    assert not components(parsed, "VTIMEZONE")
    assert [e["RECURRENCE-ID"].to_ical() for e in components(parsed, "VEVENT")] == [
        b"20260106T090000Z",
        b"20260113T090000Z",
        b"20260127T090000Z",
    ]
    assert "TZID" not in text


# --- one event as .ics ------------------------------------------------------------------

MEETING = vcalendar(
    *vevent(
        "m",
        "DTSTART:20261121T090000Z",
        "ORGANIZER;CN=Olga:mailto:olga@example.org",
        "ATTENDEE;CN=Ann:mailto:ann@example.org",
        "ATTENDEE;CN=Ann again:MAILTO:Ann@Example.ORG",
        "ATTENDEE;CN=Bob:mailto:bob@example.org",
        "ATTENDEE:mailto:olga@example.org",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "DESCRIPTION:wake up",
        "TRIGGER:-PT5M",
        "END:VALARM",
    )
)


def attendees(calendar: icalendar.Calendar) -> list[tuple[str, str]]:
    [event] = components(calendar, "VEVENT")
    return [(str(a), str(a.params.get("CN", ""))) for a in event.get("ATTENDEE", [])]


def test_download_lists_each_attendee_once_keeping_the_first() -> None:
    parsed = icalendar.Calendar.from_ical(event_download(MEETING, []))
    assert parsed["METHOD"] == "PUBLISH"
    assert attendees(parsed) == [
        ("mailto:ann@example.org", "Ann"),
        ("mailto:bob@example.org", "Bob"),
        ("mailto:olga@example.org", ""),
    ]
    assert "VALARM" not in event_download(MEETING, [])
    [event] = components(parsed, "VEVENT")
    assert str(event["ORGANIZER"]) == "mailto:olga@example.org"


def test_download_omits_the_organizer_only_for_the_organizer() -> None:
    mine = icalendar.Calendar.from_ical(event_download(MEETING, ["bob@x.org", "OLGA@example.org"]))
    assert "ORGANIZER" not in components(mine, "VEVENT")[0]
    for downloader in (["mailto:Olga@Example.org"], ["MAILTO:olga@example.org"]):
        text = event_download(MEETING, downloader)
        assert "ORGANIZER" not in text
    theirs = icalendar.Calendar.from_ical(event_download(MEETING, ["mailto:ann@example.org"]))
    assert "ORGANIZER" in components(theirs, "VEVENT")[0]


def test_download_never_adds_an_organizer_and_keeps_time_zones() -> None:
    text = event_download(WEEKLY, ["someone@example.org"])
    parsed = icalendar.Calendar.from_ical(text)
    assert "ORGANIZER" not in text
    assert len(components(parsed, "VEVENT")) == 2  # the master and its override
    assert len(components(parsed, "VTIMEZONE")) == 1
    assert "VALARM" not in text
    with pytest.raises(IcsError):
        event_download("no calendar here", [])


# --- RSS --------------------------------------------------------------------------------

SECRET = vcalendar(
    *vevent(
        "s",
        "DTSTART:20261121T090000Z",
        "DTEND:20261121T100000Z",
        "LOCATION:Room Zanzibar",
        "DESCRIPTION:Quarterly numbers\\nline two",
        "RRULE:FREQ=DAILY;COUNT=3",
        summary="Secret merger <b>&</b>",
    )
)


def secret_occurrences(tz: ZoneInfo = BRUSSELS) -> list[Occurrence]:
    return occurrences(
        [("s.ics", SECRET), ("weekly.ics", WEEKLY), ("trip.ics", TRIP)],
        utc(2026, 1, 1),
        utc(2026, 12, 1),
        tz,
    )


def render_rss(found: list[Occurrence], **kwargs: object) -> bytes:
    options: dict[str, object] = {
        "title": "Team: this month",
        "link": "https://cal.example.org/feeds/u/team/calendar.ics",
        "self_url": "https://cal.example.org/feeds/u/team/month.rss",
        "guid_prefix": "urn:calserver:abc:",
        "tz": BRUSSELS,
        "now": utc(2026, 11, 21, 8),
    }
    options.update(kwargs)
    return rss(found, **options)  # type: ignore[arg-type]


def test_rss_is_valid_with_one_entry_per_occurrence() -> None:
    found = secret_occurrences()
    body = render_rss(found, event_url=lambda o: "https://cal.example.org/e/" + o.href)
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "rss20"
    assert len(feed.entries) == len(found) == 3 + 13 + 1
    assert feed.feed.ttl == "60"
    assert feed.feed.title == "Team: this month"
    assert any(
        link.get("rel") == "self" and link["href"].endswith("month.rss") for link in feed.feed.links
    )
    assert feed.feed.updated_parsed[:4] == (2026, 11, 21, 8)
    first = feed.entries[0]
    assert first.title == "Team meeting (Tue 6 Jan 2026, 10:00\u201311:00)"
    assert first.link == "https://cal.example.org/e/weekly.ics"
    assert first.published_parsed[:5] == (2026, 1, 6, 9, 0)  # the occurrence's start
    secret = next(e for e in feed.entries if "Secret" in e.title)
    assert secret.title.startswith("Secret merger <b>&</b> (Sat 21 Nov 2026, 10:00")
    assert "Room Zanzibar" in secret.description
    assert "&lt;b&gt;" not in secret.description  # the summary is not repeated
    assert re.search(r"Quarterly numbers<br ?/?>line two", secret.description)
    assert "Europe/Brussels" in secret.description


def test_rss_guids_are_stable_and_unique() -> None:
    first = feedparser.parse(render_rss(secret_occurrences(), now=utc(2026, 11, 21, 8)))
    second = feedparser.parse(render_rss(secret_occurrences(), now=utc(2026, 11, 22, 9)))
    elsewhere = feedparser.parse(render_rss(secret_occurrences(NEW_YORK)))
    guids = [e.id for e in first.entries]
    assert guids == [e.id for e in second.entries] == [e.id for e in elsewhere.entries]
    assert len(set(guids)) == len(guids)
    assert all(not e.guidislink for e in first.entries)
    assert "urn:calserver:abc:s/20261121T090000Z" in guids
    assert "urn:calserver:abc:A61D5E0C-2B8F-4A73-9E14-3C7F0D6B2E85/" in guids
    # pubDate is the start, not the time of the request
    assert [e.published for e in first.entries] == [e.published for e in second.entries]
    assert first.feed.updated != second.feed.updated


def test_busy_rss_shows_busy_and_no_event_text() -> None:
    body = render_rss(secret_occurrences(), busy=True)
    feed = feedparser.parse(body)
    assert not feed.bozo
    assert all(e.title.startswith("Busy (") for e in feed.entries)
    for leak in (b"Secret", b"merger", b"Zanzibar", b"Quarterly", b"Team meeting", b"Paris"):
        assert leak not in body


def test_rss_survives_characters_xml_cannot_hold() -> None:
    item = vcalendar(*vevent("c", "DTSTART:20261121T090000Z", summary="bell\x07 tab\x0b"))
    body = render_rss(occurrences([("c", item)], utc(2026, 11, 1), utc(2026, 12, 1), ZULU))
    feed = feedparser.parse(body)
    assert not feed.bozo
    assert feed.entries[0].title.startswith("bell")


def test_empty_rss_is_valid() -> None:
    feed = feedparser.parse(render_rss([]))
    assert not feed.bozo
    assert feed.entries == []


# --- agenda page ------------------------------------------------------------------------

LINKS = {
    "prev": "?period=week&date=2026-11-09",
    "next": "?period=week&date=2026-11-23",
    "today": "?period=week&date=2026-11-21",
    "week": "?period=week&date=2026-11-16",
    "month": "?period=month&date=2026-11-16",
    "ics": "/public/abc/calendar.ics",
}
SCRIPT = vcalendar(
    *vevent(
        "x",
        "DTSTART;TZID=Europe/Brussels:20261118T093000",
        "DTEND;TZID=Europe/Brussels:20261118T103000",
        "LOCATION:Tom & Jerry's <garage>",
        'DESCRIPTION:"quoted" & <i>',
        summary="<script>alert(1)</script>",
    )
)


def page(period: str = "week", anchor: date = date(2026, 11, 18), **kwargs: object) -> str:
    first, last = period_bounds(period, anchor, 0)
    found = occurrences(
        [("x.ics", SCRIPT), ("s.ics", SECRET), ("o.ics", OVERNIGHT)],
        utc(2026, 1, 1),
        utc(2027, 1, 1),
        BRUSSELS,
    )
    options: dict[str, object] = {
        "title": "Club <Tennis> & co",
        "tz": BRUSSELS,
        "period": period,
        "first_day": first,
        "last_day": last,
        "links": LINKS,
    }
    options.update(kwargs)
    return feeds_html.agenda_html(found, **options)  # type: ignore[arg-type]


def test_agenda_escapes_every_text() -> None:
    text = page()
    assert "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Tom &amp; Jerry&#x27;s &lt;garage&gt;" in text
    assert "&quot;quoted&quot; &amp; &lt;i&gt;" in text
    assert "<h1>Club &lt;Tennis&gt; &amp; co</h1>" in text
    assert "<title>Club &lt;Tennis&gt; &amp; co" in text
    assert not re.search(r"&(?![a-z]+;|#x?[0-9a-f]+;)", text)  # no bare ampersand


def test_agenda_week_lists_every_day_and_is_light() -> None:
    text = page()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "Times in Europe/Brussels" in text
    assert "Mon 16 Nov 2026" in text and "Sun 22 Nov 2026" in text
    assert text.count("<section") == 7
    assert text.count("No events") == 4  # events on Wed 18, Sat 21 and Sun 22
    assert '<span class="time">09:30\u201310:30</span>' in text
    assert "src=" not in text and "<link" not in text and "http" not in text.lower()


def test_agenda_month_lists_only_days_with_events() -> None:
    text = page("month", date(2026, 11, 5))
    assert "November 2026" in text
    days = re.findall(r'<section id="d([0-9-]+)">', text)
    assert days == ["2026-11-18", "2026-11-21", "2026-11-22", "2026-11-23"]
    assert "No events" not in text
    empty = page("month", date(2026, 2, 5))
    assert "No events this month." in empty
    assert page("month", date(2026, 4, 5)).count("<section") == 4  # Fri 10 .. Mon 13 April


def test_agenda_shows_a_multi_day_event_on_each_day() -> None:
    text = page("month", date(2026, 4, 10))
    labels = re.findall(r'<span class="time">([^<]*)</span>', text)
    assert labels == ["from 20:00", "All day", "All day", "until 08:00"]


def test_agenda_on_a_daylight_saving_day_groups_by_local_day() -> None:
    late = vcalendar(*vevent("late", "DTSTART:20261025T223000Z", "DTEND:20261025T225900Z"))
    found = occurrences([("l", late)], utc(2026, 10, 19), utc(2026, 10, 27), BRUSSELS)
    text = feeds_html.agenda_html(
        found,
        title="t",
        tz=BRUSSELS,
        period="month",
        first_day=date(2026, 10, 1),
        last_day=date(2026, 10, 31),
        links={},
    )
    assert re.findall(r'<section id="d([0-9-]+)">', text) == ["2026-10-25"]
    assert "23:30\u201323:59" in text


def test_busy_agenda_shows_no_event_text() -> None:
    text = page(busy=True)
    assert "Busy" in text
    for leak in ("script", "alert", "Jerry", "garage", "quoted", "Secret", "Zanzibar", "Quart"):
        assert leak not in text
    assert "<details" not in text


def test_embedded_agenda_opens_only_outward_links_in_a_new_window() -> None:
    text = page(embed=True, event_url=lambda o: "/e/" + o.href)
    anchors = dict(re.findall(r'<a href="([^"]*)"([^>]*)>', text))
    for key in ("today", "ics"):
        assert 'target="_blank"' in anchors[html.escape(LINKS[key])]
    for key in ("prev", "next", "week", "month"):
        assert "target" not in anchors[html.escape(LINKS[key])]
    assert 'target="_blank"' in anchors["/e/x.ics"]
    assert '<body class="embed">' in text
    assert "<footer" not in text
    assert 'aria-current="page"' in text
    normal = page(event_url=lambda o: "/e/" + o.href)
    assert "target=" not in normal
    assert "<footer" in normal
