"""Unit tests of calserver.ical.availability (RFC 7953): the busy time availability
means (§4), its priorities (§4.2), time zones and DST, unbounded ranges, BUSYTYPE, the
checks of a text, and the weekly-hours shape of the API and the web form."""

from __future__ import annotations

import datetime as dt

import pytest

from calserver.ical import availability as a

pytestmark = pytest.mark.unit

UTC = dt.UTC
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR")


def _at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _office(zone: str = "Europe/Berlin") -> str:
    return a.weekly_text(zone, [a.Hours(d, dt.time(9), dt.time(17)) for d in WEEKDAYS])


def _calendar(*components: str) -> str:
    return "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *components, "END:VCALENDAR", ""]
    )


def test_working_hours_on_weekdays_leave_the_rest_unavailable() -> None:
    # Monday 2026-01-12 to Wednesday 2026-01-14 00:00 UTC; Berlin is UTC+1 in winter
    periods = a.busy_periods(_office(), _at(2026, 1, 12), _at(2026, 1, 14))
    assert periods == [
        (_at(2026, 1, 12), _at(2026, 1, 12, 8), "BUSY-UNAVAILABLE"),
        (_at(2026, 1, 12, 16), _at(2026, 1, 13, 8), "BUSY-UNAVAILABLE"),
        (_at(2026, 1, 13, 16), _at(2026, 1, 14), "BUSY-UNAVAILABLE"),
    ]


def test_the_weekend_is_unavailable_whole() -> None:
    # Friday 17:00 Berlin to Monday 09:00 Berlin
    periods = a.busy_periods(_office(), _at(2026, 1, 16, 12), _at(2026, 1, 19, 12))
    assert (_at(2026, 1, 16, 16), _at(2026, 1, 19, 8), "BUSY-UNAVAILABLE") in periods
    assert (_at(2026, 1, 16, 12), _at(2026, 1, 16, 16)) not in [(s, e) for s, e, _ in periods]


def test_working_hours_keep_the_wall_clock_across_dst() -> None:
    # 2026-03-29: Berlin goes from UTC+1 to UTC+2; Friday 27th ends 16:00 UTC,
    # Monday 30th starts 07:00 UTC
    periods = a.busy_periods(_office(), _at(2026, 3, 27, 12), _at(2026, 3, 30, 12))
    assert periods == [(_at(2026, 3, 27, 16), _at(2026, 3, 30, 7), "BUSY-UNAVAILABLE")]


def test_another_time_zone_moves_the_hours() -> None:
    periods = a.busy_periods(_office("America/New_York"), _at(2026, 1, 12), _at(2026, 1, 13))
    # 09:00-17:00 New York (UTC-5) is 14:00-22:00 UTC
    assert periods == [
        (_at(2026, 1, 12), _at(2026, 1, 12, 14), "BUSY-UNAVAILABLE"),
        (_at(2026, 1, 12, 22), _at(2026, 1, 13), "BUSY-UNAVAILABLE"),
    ]


def _vacation(priority: int, busytype: str = "") -> str:
    return "\r\n".join(
        [
            "BEGIN:VAVAILABILITY",
            "UID:vacation",
            "DTSTAMP:20260101T000000Z",
            f"PRIORITY:{priority}",
            *([f"BUSYTYPE:{busytype}"] if busytype else []),
            "DTSTART;TZID=Europe/Berlin:20260202T000000",
            "DTEND;TZID=Europe/Berlin:20260209T000000",
            "END:VAVAILABILITY",
        ]
    )


def _inner(text: str) -> str:
    lines = text.strip().splitlines()
    start = lines.index("BEGIN:VAVAILABILITY")
    return "\r\n".join(lines[start : len(lines) - 1])


def test_a_vacation_of_higher_priority_makes_a_week_unavailable() -> None:
    text = _calendar(_inner(_office()), _vacation(1))
    periods = a.busy_periods(text, _at(2026, 1, 30), _at(2026, 2, 12))
    berlin = _at(2026, 2, 1, 23), _at(2026, 2, 8, 23)  # the vacation in UTC
    assert any(s <= berlin[0] and e >= berlin[1] for s, e, _ in periods)
    # outside the vacation the working hours hold again
    assert (_at(2026, 2, 9, 16), _at(2026, 2, 10, 8), "BUSY-UNAVAILABLE") in periods
    assert (_at(2026, 1, 30, 8), _at(2026, 1, 30, 16)) not in [(s, e) for s, e, _ in periods]


def test_a_lower_priority_component_does_not_override() -> None:
    # the weekly hours get PRIORITY 1, an "everything free" week PRIORITY 5: the week
    # still has only the working hours free
    office = _inner(_office()).replace("UID:calserver-weekly\r\n", "UID:w\r\nPRIORITY:1\r\n")
    free_week = _vacation(5).replace(
        "END:VAVAILABILITY",
        "BEGIN:AVAILABLE\r\nUID:all\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260101T000000Z\r\nDTEND:20270101T000000Z\r\nEND:AVAILABLE\r\nEND:VAVAILABILITY",
    )
    periods = a.busy_periods(_calendar(office, free_week), _at(2026, 2, 3), _at(2026, 2, 4))
    assert (_at(2026, 2, 3, 16), _at(2026, 2, 4), "BUSY-UNAVAILABLE") in periods


def test_priority_zero_is_the_lowest() -> None:
    text = _calendar(
        _inner(_office()).replace("UID:calserver-weekly\r\n", "UID:w\r\nPRIORITY:9\r\n"),
        _vacation(0),
    )
    periods = a.busy_periods(text, _at(2026, 2, 3), _at(2026, 2, 4))
    # PRIORITY 9 beats 0: the working hours of Tuesday are free
    assert (_at(2026, 2, 3, 8), _at(2026, 2, 3, 16)) not in [(s, e) for s, e, _ in periods]
    assert periods == [
        (_at(2026, 2, 3), _at(2026, 2, 3, 8), "BUSY-UNAVAILABLE"),
        (_at(2026, 2, 3, 16), _at(2026, 2, 4), "BUSY-UNAVAILABLE"),
    ]


def test_a_bounded_range_leaves_the_time_outside_it_free() -> None:
    text = _calendar(_vacation(1))
    assert a.busy_periods(text, _at(2026, 1, 1), _at(2026, 1, 2)) == []
    assert a.busy_periods(text, _at(2026, 2, 8, 20), _at(2026, 2, 10)) == [
        (_at(2026, 2, 8, 20), _at(2026, 2, 8, 23), "BUSY-UNAVAILABLE")
    ]


def test_unbounded_without_dtstart_and_dtend() -> None:
    text = _calendar("BEGIN:VAVAILABILITY", "UID:x", "END:VAVAILABILITY")
    for year in (1990, 2026, 2090):
        assert a.busy_periods(text, _at(year, 5, 1), _at(year, 5, 2)) == [
            (_at(year, 5, 1), _at(year, 5, 2), "BUSY-UNAVAILABLE")
        ]


def test_only_a_start_is_unbounded_to_the_future() -> None:
    text = _calendar(
        "BEGIN:VAVAILABILITY", "UID:x", "DTSTAMP:20260101T000000Z",
        "DTSTART:20260301T000000Z", "END:VAVAILABILITY",
    )  # fmt: skip
    assert a.busy_periods(text, _at(2026, 2, 28), _at(2026, 3, 2)) == [
        (_at(2026, 3, 1), _at(2026, 3, 2), "BUSY-UNAVAILABLE")
    ]


@pytest.mark.parametrize("busytype", ["BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE"])
def test_busytype_names_the_fbtype(busytype: str) -> None:
    text = _calendar(_vacation(1, busytype))
    assert a.busy_periods(text, _at(2026, 2, 3), _at(2026, 2, 4)) == [
        (_at(2026, 2, 3), _at(2026, 2, 4), busytype)
    ]


def test_exdate_and_duration() -> None:
    text = _calendar(
        "BEGIN:VAVAILABILITY", "UID:x", "DTSTAMP:20260101T000000Z",
        "BEGIN:AVAILABLE", "UID:y", "DTSTAMP:20260101T000000Z",
        "DTSTART:20260105T100000Z", "DURATION:PT2H", "RRULE:FREQ=DAILY",
        "EXDATE:20260106T100000Z", "END:AVAILABLE", "END:VAVAILABILITY",
    )  # fmt: skip
    periods = a.busy_periods(text, _at(2026, 1, 5), _at(2026, 1, 8))
    assert periods == [
        (_at(2026, 1, 5), _at(2026, 1, 5, 10), "BUSY-UNAVAILABLE"),
        (_at(2026, 1, 5, 12), _at(2026, 1, 7, 10), "BUSY-UNAVAILABLE"),
        (_at(2026, 1, 7, 12), _at(2026, 1, 8), "BUSY-UNAVAILABLE"),
    ]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not ical", "iCalendar"),
        (_calendar("BEGIN:VEVENT", "UID:x", "DTSTART:20260101T000000Z", "END:VEVENT"), "VEVENT"),
        (_calendar(), "no VAVAILABILITY"),
        (
            _calendar("BEGIN:VAVAILABILITY", "UID:x", "BUSYTYPE:FREE", "END:VAVAILABILITY"),
            "BUSYTYPE",
        ),
        (
            _calendar("BEGIN:VAVAILABILITY", "UID:x", "PRIORITY:12", "END:VAVAILABILITY"),
            "PRIORITY",
        ),
        (
            _calendar(
                "BEGIN:VAVAILABILITY",
                "UID:x",
                "BEGIN:AVAILABLE",
                "UID:y",
                "DTSTART:20260101T100000Z",
                "END:AVAILABLE",
                "END:VAVAILABILITY",
            ),
            "DTEND",
        ),
        ("BEGIN:VCALENDAR\r\nX-A:" + "a" * a.MAX_SIZE + "\r\nEND:VCALENDAR\r\n", "bytes"),
    ],
)
def test_bad_texts_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(a.BadAvailability, match=why):
        a.parse(text)


def test_weekly_hours_round_trip() -> None:
    hours = [a.Hours("MO", dt.time(8, 30), dt.time(12)), a.Hours("MO", dt.time(13), dt.time(17))]
    text = a.weekly_text("Europe/Berlin", hours)
    assert a.weekly_hours(text) == ("Europe/Berlin", hours)
    assert a.weekly_hours(_calendar(_vacation(1))) is None


@pytest.mark.parametrize(
    ("zone", "hours", "why"),
    [
        ("Mars/Base", [], "time zone"),
        ("UTC", [a.Hours("XX", dt.time(9), dt.time(10))], "day"),
        ("UTC", [a.Hours("MO", dt.time(10), dt.time(9))], "not after"),
    ],
)
def test_bad_weekly_hours(zone: str, hours: list[a.Hours], why: str) -> None:
    with pytest.raises(a.BadAvailability, match=why):
        a.weekly_text(zone, hours)
