"""Unit tests of calserver.ical.occurrences: the feeds' windows (DESIGN.md: today, this
week from the viewer's first day, this month, next 30 days, in the viewer's zone) and
the expansion of events into occurrences (RFC 5545 3.8.5, 3.8.4.4; RFC 4791 9.9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calserver.ical import occurrences as oc

pytestmark = pytest.mark.unit

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _item(*events: list[str]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//x//y//EN"]
    for event in events:
        lines += ["BEGIN:VEVENT", "DTSTAMP:20260101T000000Z", *event, "END:VEVENT"]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


SERIES = _item(
    [
        "UID:standup",
        "DTSTART;TZID=Europe/Paris:20261102T090000",
        "DTEND;TZID=Europe/Paris:20261102T100000",
        "RRULE:FREQ=DAILY;COUNT=5",
        "EXDATE;TZID=Europe/Paris:20261103T090000",
        "SUMMARY:Standup",
        "LOCATION:Room 1",
        "STATUS:confirmed",
    ],
    [
        "UID:standup",
        "RECURRENCE-ID;TZID=Europe/Paris:20261104T090000",
        "DTSTART;TZID=Europe/Paris:20261104T150000",
        "DTEND;TZID=Europe/Paris:20261104T153000",
        "SUMMARY:Standup moved",
    ],
)


# --- windows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("week_start", "first"),
    [(0, date(2026, 11, 16)), (6, date(2026, 11, 15)), (5, date(2026, 11, 21))],
)
def test_week_bounds_start_on_the_viewers_first_day(week_start: int, first: date) -> None:
    """DESIGN.md: "this week" is the calendar week containing today, Monday first unless
    the user's setting says otherwise (anchor: Saturday 21 November 2026)."""
    assert oc.period_bounds("week", date(2026, 11, 21), week_start) == (
        first,
        first + timedelta(days=6),
    )


@pytest.mark.parametrize(
    ("anchor", "bounds"),
    [
        (date(2026, 2, 10), (date(2026, 2, 1), date(2026, 2, 28))),
        (date(2028, 2, 29), (date(2028, 2, 1), date(2028, 2, 29))),
        (date(2026, 12, 31), (date(2026, 12, 1), date(2026, 12, 31))),
        (date(2026, 1, 1), (date(2026, 1, 1), date(2026, 1, 31))),
    ],
)
def test_month_bounds_are_the_calendar_month(anchor: date, bounds: tuple[date, date]) -> None:
    assert oc.period_bounds("month", anchor) == bounds


@given(st.dates(date(1900, 1, 1), date(2999, 12, 1)), st.integers(0, 6))
def test_period_bounds_contain_the_anchor(anchor: date, week_start: int) -> None:
    first, last = oc.period_bounds("week", anchor, week_start)
    assert first <= anchor <= last
    assert first.weekday() == week_start
    assert last - first == timedelta(days=6)
    first, last = oc.period_bounds("month", anchor, week_start)
    assert first <= anchor <= last
    assert (first.day, first.month, first.year) == (1, anchor.month, anchor.year)
    assert (last + timedelta(days=1)).day == 1


@pytest.mark.parametrize("week_start", [-1, 7])
def test_week_start_outside_monday_to_sunday_is_refused(week_start: int) -> None:
    with pytest.raises(ValueError, match="week_start must be 0"):
        oc.period_bounds("week", date(2026, 11, 21), week_start)
    with pytest.raises(ValueError, match="week_start must be 0"):
        oc.feed_window("week", _utc(2026, 11, 21), PARIS, week_start)


def test_unknown_period_feed_and_naive_now_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown period 'year'"):
        oc.period_bounds("year", date(2026, 11, 21))
    with pytest.raises(ValueError, match="unknown feed 'year'"):
        oc.feed_window("year", _utc(2026, 11, 21), PARIS)
    with pytest.raises(ValueError, match="aware"):
        oc.feed_window("today", datetime(2026, 11, 21), PARIS)


def test_today_is_the_local_day_in_utc() -> None:
    assert oc.feed_window("today", _utc(2026, 11, 21, 12), PARIS) == (
        _utc(2026, 11, 20, 23),
        _utc(2026, 11, 21, 23),
    )


@pytest.mark.parametrize(
    ("now", "window", "hours"),
    [
        (_utc(2026, 3, 29, 12), (_utc(2026, 3, 28, 23), _utc(2026, 3, 29, 22)), 23),
        (_utc(2026, 10, 25, 12), (_utc(2026, 10, 24, 22), _utc(2026, 10, 25, 23)), 25),
    ],
)
def test_today_on_a_daylight_saving_change_is_23_or_25_hours(
    now: datetime, window: tuple[datetime, datetime], hours: int
) -> None:
    assert oc.feed_window("today", now, PARIS) == window
    assert window[1] - window[0] == timedelta(hours=hours)


def test_today_follows_the_viewers_date_not_utcs() -> None:
    """23:30 UTC on Sunday is already Monday in Paris."""
    assert oc.feed_window("today", _utc(2026, 11, 22, 23, 30), PARIS) == (
        _utc(2026, 11, 22, 23),
        _utc(2026, 11, 23, 23),
    )
    assert oc.feed_window("week", _utc(2026, 11, 22, 23, 30), PARIS) == (
        _utc(2026, 11, 22, 23),
        _utc(2026, 11, 29, 23),
    )


def test_month_window_in_the_viewers_zone() -> None:
    assert oc.feed_window("month", _utc(2026, 11, 30, 23, 30), PARIS) == (
        _utc(2026, 11, 30, 23),
        _utc(2026, 12, 31, 23),
    )


def test_week_window_with_sunday_first() -> None:
    assert oc.feed_window("week", _utc(2026, 11, 18, 12), NEW_YORK, week_start=6) == (
        _utc(2026, 11, 15, 5),
        _utc(2026, 11, 22, 5),
    )


def test_thirty_days_keep_the_local_wall_clock_across_a_change() -> None:
    """From now to the same local time 30 days later: an hour less in UTC across the
    spring change."""
    assert oc.feed_window("30days", _utc(2026, 3, 20, 12), PARIS) == (
        _utc(2026, 3, 20, 12),
        _utc(2026, 4, 19, 11),
    )


def test_midnight_swallowed_by_a_gap_starts_the_day_at_the_change() -> None:
    """In Santiago, 6 September 2026 00:00 does not exist (clocks jump to 01:00): the
    day starts at the change, 04:00 UTC, and lasts 23 hours."""
    assert oc.local_midnight(date(2026, 9, 6), SANTIAGO) == _utc(2026, 9, 6, 4)
    assert oc.days_window(date(2026, 9, 6), date(2026, 9, 6), SANTIAGO) == (
        _utc(2026, 9, 6, 4),
        _utc(2026, 9, 7, 3),
    )


@given(
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(oc.FEED_KINDS),
    st.sampled_from([PARIS, NEW_YORK, SANTIAGO, ZoneInfo("Asia/Kolkata")]),
    st.integers(0, 6),
)
def test_every_feed_window_is_utc_and_holds_now(
    now: datetime, kind: str, tz: ZoneInfo, week_start: int
) -> None:
    start, end = oc.feed_window(kind, now, tz, week_start)
    assert start.tzinfo is UTC and end.tzinfo is UTC
    assert start <= now < end


# --- event spans ---------------------------------------------------------------------------


def _event(*lines: str) -> icalendar.Component:
    return icalendar.Calendar.from_ical(_item(["UID:e", *lines])).subcomponents[0]


@pytest.mark.parametrize(
    ("lines", "span"),
    [
        (
            ("DTSTART:20261121T090000Z", "DTEND:20261121T100000Z"),
            (_utc(2026, 11, 21, 9), _utc(2026, 11, 21, 10), False),
        ),
        (
            ("DTSTART:20261121T090000Z", "DURATION:PT90M"),
            (_utc(2026, 11, 21, 9), _utc(2026, 11, 21, 10, 30), False),
        ),
        (
            ("DTSTART:20261121T090000Z",),
            (_utc(2026, 11, 21, 9), _utc(2026, 11, 21, 9), False),
        ),
        (
            ("DTSTART:20261121T090000",),  # floating: in the viewer's zone
            (_utc(2026, 11, 21, 8), _utc(2026, 11, 21, 8), False),
        ),
        (
            ("DTSTART;VALUE=DATE:20261121",),
            (_utc(2026, 11, 20, 23), _utc(2026, 11, 21, 23), True),
        ),
        (
            ("DTSTART;VALUE=DATE:20261121", "DTEND;VALUE=DATE:20261123"),
            (_utc(2026, 11, 20, 23), _utc(2026, 11, 22, 23), True),
        ),
    ],
)
def test_event_span_follows_rfc_5545_defaults(
    lines: tuple[str, ...], span: tuple[datetime, datetime, bool]
) -> None:
    """RFC 5545 3.6.1: without DTEND, DURATION; else a DATE lasts its day and a
    DATE-TIME no time. Floating times and dates are placed in the viewer's zone."""
    assert oc.event_span(_event(*lines), PARIS) == span


def test_event_span_refuses_a_date_end_to_a_date_time_start() -> None:
    with pytest.raises(TypeError):
        oc.event_span(_event("DTSTART:20261121T090000Z", "DTEND;VALUE=DATE:20261122"), PARIS)


# --- expansion -----------------------------------------------------------------------------


def test_series_with_exdate_and_override_expands_in_order() -> None:
    """RFC 5545 3.8.5 and 3.8.4.4: the excluded date is gone, the override is in its
    moved place and still named by its original start."""
    found = oc.occurrences([("standup.ics", SERIES)], _utc(2026, 11, 1), _utc(2026, 11, 10), PARIS)
    assert [(o.recurrence_id, o.start, o.end, o.summary) for o in found] == [
        (
            "20261102T080000Z",
            datetime(2026, 11, 2, 9, tzinfo=PARIS),
            datetime(2026, 11, 2, 10, tzinfo=PARIS),
            "Standup",
        ),
        (
            "20261104T080000Z",
            datetime(2026, 11, 4, 15, tzinfo=PARIS),
            datetime(2026, 11, 4, 15, 30, tzinfo=PARIS),
            "Standup moved",
        ),
        (
            "20261105T080000Z",
            datetime(2026, 11, 5, 9, tzinfo=PARIS),
            datetime(2026, 11, 5, 10, tzinfo=PARIS),
            "Standup",
        ),
        (
            "20261106T080000Z",
            datetime(2026, 11, 6, 9, tzinfo=PARIS),
            datetime(2026, 11, 6, 10, tzinfo=PARIS),
            "Standup",
        ),
    ]
    first = found[0]
    assert (first.href, first.uid, first.location, first.status, first.all_day) == (
        "standup.ics",
        "standup",
        "Room 1",
        "CONFIRMED",
        False,
    )
    assert first.guid_key == "standup/20261102T080000Z"


def test_occurrences_are_placed_in_the_viewers_zone() -> None:
    (found,) = oc.occurrences([("s.ics", SERIES)], _utc(2026, 11, 2), _utc(2026, 11, 3), NEW_YORK)
    assert found.start == datetime(2026, 11, 2, 3, tzinfo=NEW_YORK)
    assert found.start.tzinfo == NEW_YORK
    assert oc.when(found, NEW_YORK) == "Mon 2 Nov 2026, 03:00\u201304:00"


def test_expand_events_gives_instances_without_recurrence_properties() -> None:
    """RFC 4791 9.6.5: expanded instances carry RECURRENCE-ID and no RRULE/EXDATE."""
    calendar = icalendar.Calendar.from_ical(SERIES)
    parts = oc.expand_events(calendar, _utc(2026, 11, 1), _utc(2026, 11, 10), PARIS, limit=10)
    assert len(parts) == 4
    for part in parts:
        assert "RRULE" not in part and "EXDATE" not in part
        assert "RECURRENCE-ID" in part
    assert [p["RECURRENCE-ID"].dt for p in parts][:2] == [
        datetime(2026, 11, 2, 9, tzinfo=PARIS),
        datetime(2026, 11, 4, 9, tzinfo=PARIS),
    ]


def test_expand_events_stops_at_the_limit() -> None:
    calendar = icalendar.Calendar.from_ical(SERIES)
    parts = oc.expand_events(calendar, _utc(2026, 11, 1), _utc(2026, 11, 10), PARIS, limit=2)
    assert [p["DTSTART"].dt.day for p in parts] == [2, 4]


def test_occurrences_limit_keeps_the_earliest_across_items() -> None:
    other = _item(["UID:early", "DTSTART:20261101T120000Z", "SUMMARY:Early"])
    found = oc.occurrences(
        [("s.ics", SERIES), ("e.ics", other)],
        _utc(2026, 11, 1),
        _utc(2026, 11, 10),
        PARIS,
        limit=2,
    )
    assert [o.summary for o in found] == ["Early", "Standup"]
    assert found[0].recurrence_id == ""


def test_all_day_event_covers_whole_local_days() -> None:
    item = _item(
        [
            "UID:weekend",
            "DTSTART;VALUE=DATE:20261121",
            "DTEND;VALUE=DATE:20261123",
            "SUMMARY:Weekend",
        ]
    )
    start, end = oc.feed_window("week", _utc(2026, 11, 18), NEW_YORK)
    (found,) = oc.occurrences([("w.ics", item)], start, end, NEW_YORK)
    assert found.all_day is True
    assert (found.start, found.end) == (
        datetime(2026, 11, 21, tzinfo=NEW_YORK),
        datetime(2026, 11, 23, tzinfo=NEW_YORK),
    )
    assert oc.last_day(found, NEW_YORK) == date(2026, 11, 22)
    assert oc.when(found, NEW_YORK) == "Sat 21 Nov 2026 \u2013 Sun 22 Nov 2026 (all day)"


def test_all_day_series_names_instances_by_date() -> None:
    item = _item(["UID:d", "DTSTART;VALUE=DATE:20261121", "RRULE:FREQ=DAILY;COUNT=3"])
    found = oc.occurrences([("d.ics", item)], _utc(2026, 11, 1), _utc(2026, 12, 1), PARIS)
    assert [o.recurrence_id for o in found] == ["20261121", "20261122", "20261123"]
    assert oc.when(found[0], PARIS) == "Sat 21 Nov 2026 (all day)"


@pytest.mark.parametrize(
    ("start", "end", "inside"),
    [
        (_utc(2026, 11, 21, 10), _utc(2026, 11, 22), False),  # ends where it starts
        (_utc(2026, 11, 21, 8), _utc(2026, 11, 21, 9), False),
        (_utc(2026, 11, 21, 9, 59), _utc(2026, 11, 21, 10, 1), True),
        (_utc(2026, 11, 20), _utc(2026, 11, 21, 9), False),  # starts where it ends
    ],
)
def test_overlap_is_half_open(start: datetime, end: datetime, inside: bool) -> None:
    """RFC 4791 9.9: an event [09:00, 10:00) overlaps [start, end) when start < 10:00
    and end > 09:00."""
    item = _item(["UID:o", "DTSTART:20261121T090000Z", "DTEND:20261121T100000Z"])
    assert bool(oc.occurrences([("o.ics", item)], start, end, PARIS)) is inside


@pytest.mark.parametrize(
    ("start", "end", "inside"),
    [
        (_utc(2026, 11, 21, 9), _utc(2026, 11, 21, 10), True),
        (_utc(2026, 11, 21, 8), _utc(2026, 11, 21, 9), False),
    ],
)
def test_zero_length_event_is_in_the_window_it_starts_in(
    start: datetime, end: datetime, inside: bool
) -> None:
    """RFC 4791 9.9: a zero-length event overlaps when it starts in the window."""
    item = _item(["UID:z", "DTSTART:20261121T090000Z"])
    assert bool(oc.occurrences([("z.ics", item)], start, end, PARIS)) is inside


def test_floating_event_is_taken_in_the_viewers_zone() -> None:
    item = _item(["UID:f", "DTSTART:20261121T090000", "DTEND:20261121T100000"])
    (paris,) = oc.occurrences([("f.ics", item)], _utc(2026, 11, 21), _utc(2026, 11, 22), PARIS)
    (ny,) = oc.occurrences([("f.ics", item)], _utc(2026, 11, 21), _utc(2026, 11, 22), NEW_YORK)
    assert paris.start.astimezone(UTC) == _utc(2026, 11, 21, 8)
    assert ny.start.astimezone(UTC) == _utc(2026, 11, 21, 14)


def test_items_without_events_malformed_or_refused_give_nothing() -> None:
    todo = "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x", "BEGIN:VTODO", "UID:t", "END:VTODO"]
    )
    todo += "\r\nEND:VCALENDAR\r\n"
    refused = _item(["UID:m", "DTSTART:20261121T090000Z", "RRULE:FREQ=MINUTELY"])
    never = _item(["UID:n", "DTSTART:20261121T090000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"])
    broken = _item(["UID:b", "DTSTART:garbage"])
    no_start = _item(["UID:s", "SUMMARY:no start"])
    good = _item(["UID:g", "DTSTART:20261121T090000Z", "SUMMARY:Good"])
    found = oc.occurrences(
        [
            ("t", todo),
            ("m", refused),
            ("n", never),
            ("b", broken),
            ("s", no_start),
            ("x", "not a calendar"),
            ("g", good),
        ],
        _utc(2026, 11, 21),
        _utc(2026, 11, 22),
        PARIS,
    )
    assert [o.href for o in found] == ["g"]


def test_occurrences_refuse_a_naive_window() -> None:
    with pytest.raises(ValueError, match="aware"):
        oc.occurrences([], datetime(2026, 11, 21), _utc(2026, 11, 22), PARIS)


def test_is_recurring() -> None:
    single = icalendar.Calendar.from_ical(_item(["UID:s", "DTSTART:20261121T090000Z"]))
    assert oc.is_recurring(single) is False
    assert oc.is_recurring(icalendar.Calendar.from_ical(SERIES)) is True


# --- texts ---------------------------------------------------------------------------------


def test_day_label_clock_and_utc_basic() -> None:
    assert oc.day_label(date(2026, 11, 21)) == "Sat 21 Nov 2026"
    assert oc.clock(datetime(2026, 11, 21, 9, 5)) == "09:05"
    assert oc.utc_basic(datetime(2026, 11, 21, 10, tzinfo=PARIS), PARIS) == "20261121T090000Z"
    assert oc.utc_basic(datetime(2026, 11, 21, 10), NEW_YORK) == "20261121T150000Z"
    assert oc.utc_basic(date(2026, 11, 21), PARIS) == "20261121"


def _occurrence(start: datetime, end: datetime, all_day: bool = False) -> oc.Occurrence:
    return oc.Occurrence("h", "u", "", start, end, all_day, "", "", "", "")


def test_when_of_instants_spans_and_overnight_events() -> None:
    nine = datetime(2026, 11, 21, 9, tzinfo=PARIS)
    assert oc.when(_occurrence(nine, nine), PARIS) == "Sat 21 Nov 2026, 09:00"
    overnight = _occurrence(nine, datetime(2026, 11, 22, 1, tzinfo=PARIS))
    assert oc.when(overnight, PARIS) == "Sat 21 Nov 2026, 09:00 \u2013 Sun 22 Nov 2026, 01:00"


def test_iter_days_includes_both_ends() -> None:
    assert list(oc.iter_days(date(2026, 12, 30), date(2027, 1, 2))) == [
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 1),
        date(2027, 1, 2),
    ]
    assert list(oc.iter_days(date(2026, 1, 2), date(2026, 1, 1))) == []
