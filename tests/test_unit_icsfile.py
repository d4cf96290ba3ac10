"""Unit tests of calserver.ical.icsfile: content lines (RFC 5545 3.1), the refusals a PUT,
an import and a migration share (recurrence bounds, times, time zones), splitting a file
into one resource per UID (RFC 4791 4.1) and joining items back into one calendar."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calserver.ical import icsfile

pytestmark = pytest.mark.unit

_SHORT_TZ = [
    "BEGIN:STANDARD",
    "DTSTART:19701025T030000",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "END:STANDARD",
    "END:VTIMEZONE",
]


def _zone(tzid: str) -> list[str]:
    return ["BEGIN:VTIMEZONE", f"TZID:{tzid}", *_SHORT_TZ]


def _item(*lines: str, component: str = "VEVENT", head: tuple[str, ...] = ()) -> str:
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//x//y//EN",
            *head,
            f"BEGIN:{component}",
            "UID:u",
            "DTSTAMP:20260101T000000Z",
            *lines,
            f"END:{component}",
            "END:VCALENDAR",
            "",
        ]
    )


# --- unfold / fold (RFC 5545 3.1) --------------------------------------------------------


def test_unfold_joins_continuations_on_any_line_break() -> None:
    """RFC 5545 3.1: a CRLF followed by one space or tab continues the line."""
    text = "A:1\r\n b\r\n\tc\nB:2\rC:3\r\n"
    assert icsfile.unfold(text) == ["A:1bc", "B:2", "C:3"]


def test_unfold_removes_one_whitespace_only_and_drops_blank_lines() -> None:
    assert icsfile.unfold("A:x\r\n  y\r\n\r\nB:z\r\n") == ["A:x y", "B:z"]


def test_unfold_keeps_a_leading_continuation_as_a_line() -> None:
    assert icsfile.unfold(" X:lead\r\nY:1") == [" X:lead", "Y:1"]


def test_fold_leaves_short_lines_alone() -> None:
    line = "X" * 75
    assert icsfile.fold(line) == line


def test_fold_cuts_at_75_octets_with_crlf_space() -> None:
    """RFC 5545 3.1: lines SHOULD NOT be longer than 75 octets, excluding the break."""
    folded = icsfile.fold("S" * 200)
    assert folded.split("\r\n") == ["S" * 75, " " + "S" * 74, " " + "S" * 51]


def test_fold_never_splits_a_utf8_sequence() -> None:
    """RFC 5545 3.1: a multi-octet character must not be split across lines."""
    assert icsfile.fold("\u00e9" * 40) == "\u00e9" * 37 + "\r\n " + "\u00e9" * 3


_line = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), min_size=1)


@given(_line)
def test_fold_unfold_round_trip(line: str) -> None:
    folded = icsfile.fold(line)
    assert icsfile.unfold(folded) == [line]
    assert all(len(part.encode("utf-8")) <= 75 for part in folded.split("\r\n"))


@given(st.lists(_line.filter(lambda s: s[0] not in " \t"), max_size=8))
def test_unfold_of_folded_lines_gives_the_lines_back(lines: list[str]) -> None:
    text = "".join(icsfile.fold(line) + "\r\n" for line in lines)
    assert icsfile.unfold(text) == lines


def test_escape_text() -> None:
    """RFC 5545 3.3.11: backslash, semicolon, comma and newline are escaped."""
    assert icsfile.escape_text("a\\b;c,d\ne") == "a\\\\b\\;c\\,d\\ne"


# --- refusal: what a PUT, an import and a migration refuse ----------------------------


def test_a_plain_weekly_series_is_accepted() -> None:
    text = _item("DTSTART:20260601T100000Z", "DTEND:20260601T110000Z", "RRULE:FREQ=WEEKLY")
    assert icsfile.refusal(text) is None
    assert icsfile.resource_refusal(text) is None


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "can never occur"),
        ("FREQ=MINUTELY", ": FREQ=MINUTELY is not supported"),
        ("FREQ=SECONDLY;COUNT=2", ": FREQ=SECONDLY is not supported"),
        ("FREQ=DAILY;BYSETPOS=2", ": BYSETPOS with FREQ=DAILY is not supported"),
        ("FREQ=HOURLY;BYSETPOS=1", ": BYSETPOS with FREQ=HOURLY is not supported"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6", "has no instance in 100 years"),
    ],
)
def test_recurrence_rules_that_evaluations_cannot_walk_are_refused(rule: str, reason: str) -> None:
    """RFC 4791 5.3.2.1 (valid-calendar-object-resource): a series must be one every
    evaluation can walk in bounded time."""
    refused = icsfile.refusal(_item("DTSTART:20260601T100000Z", f"RRULE:{rule}"))
    separator = "" if reason.startswith(":") else " "
    assert refused == f"recurrence rule {rule!r}{separator}{reason}"
    assert isinstance(refused, icsfile.Unbounded)
    assert refused.precondition == "C:valid-calendar-object-resource"


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY",
        "FREQ=HOURLY;INTERVAL=2",
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-1",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=10",
    ],
)
def test_recurrence_rules_that_occur_are_accepted(rule: str) -> None:
    assert icsfile.refusal(_item("DTSTART:20260601T100000Z", f"RRULE:{rule}")) is None


def test_all_day_series_with_an_interval_that_never_meets_its_day_is_refused() -> None:
    text = _item(
        "DTSTART;VALUE=DATE:20260601", "RRULE:FREQ=YEARLY;INTERVAL=400;BYMONTH=2;BYMONTHDAY=29"
    )
    assert icsfile.refusal(text) == (
        "recurrence rule 'FREQ=YEARLY;INTERVAL=400;BYMONTH=2;BYMONTHDAY=29' has no "
        "instance in 100 years"
    )


def _hours(count: int) -> str:
    return ",".join(str(h) for h in range(count))


def test_at_most_96_instances_a_day() -> None:
    ninety_six = f"FREQ=DAILY;BYHOUR={_hours(24)};BYMINUTE=0,15,30,45"
    ninety_seven = f"FREQ=DAILY;BYHOUR={_hours(24)};BYMINUTE=0,15,30,45,50"
    assert icsfile.refusal(_item("DTSTART:20260601T000000Z", f"RRULE:{ninety_six}")) is None
    refused = icsfile.refusal(_item("DTSTART:20260601T000000Z", f"RRULE:{ninety_seven}"))
    assert refused is not None and refused.endswith("gives more than 96 instances a day")


def test_several_rrules_in_one_component_are_refused() -> None:
    """RFC 5545 3.6.1: RRULE SHOULD NOT occur more than once."""
    text = _item("DTSTART:20260601T100000Z", "RRULE:FREQ=DAILY", "RRULE:FREQ=WEEKLY")
    assert icsfile.refusal(text) == "line 10: more than one RRULE in a component"


def test_exrule_is_refused() -> None:
    """RFC 5545 A.3 deprecates EXRULE."""
    text = _item("DTSTART:20260601T100000Z", "RRULE:FREQ=DAILY", "EXRULE:FREQ=DAILY")
    assert icsfile.refusal(text) == "line 9: EXRULE is not supported (deprecated by RFC 5545)"


def test_an_override_carrying_a_rule_is_refused() -> None:
    """RFC 5545 3.8.4.4: a RECURRENCE-ID component is one instance."""
    for rule in ("RRULE:FREQ=DAILY", "RDATE:20260603T100000Z"):
        text = _item("RECURRENCE-ID:20260601T100000Z", "DTSTART:20260601T100000Z", rule)
        assert icsfile.refusal(text) == (
            "an overridden instance (RECURRENCE-ID) cannot carry RRULE or RDATE"
        )


def test_too_many_recurrence_dates_are_refused() -> None:
    dates = ",".join(["20260601T100000Z"] * icsfile.MAX_RECURRENCE_DATES)
    at_limit = _item("DTSTART:20260601T100000Z", f"RDATE:{dates}")
    assert icsfile.recurrence_refusal(at_limit) is None
    over = _item("DTSTART:20260601T100000Z", f"EXDATE:{dates}", "EXDATE:20260602T100000Z")
    assert icsfile.recurrence_refusal(over) == "more than 10000 EXDATE values in a component"


def test_recurrence_dates_are_counted_per_component() -> None:
    dates = ",".join(["20260601T100000Z"] * 6000)
    block = ["BEGIN:VEVENT", "UID:u", f"RDATE:{dates}", "END:VEVENT"]
    text = "\r\n".join(["BEGIN:VCALENDAR", *block, *block, "END:VCALENDAR"])
    assert icsfile.recurrence_refusal(text) is None


def test_too_many_overrides_are_refused() -> None:
    def calendar(count: int) -> str:
        blocks = [
            f"BEGIN:VEVENT\r\nUID:u\r\nRECURRENCE-ID;VALUE=DATE:2026{i % 12 + 1:02d}01\r\n"
            "END:VEVENT"
            for i in range(count)
        ]
        return "\r\n".join(["BEGIN:VCALENDAR", *blocks, "END:VCALENDAR", ""])

    assert icsfile.recurrence_refusal(calendar(icsfile.MAX_OVERRIDES)) is None
    assert icsfile.recurrence_refusal(calendar(icsfile.MAX_OVERRIDES + 1)) == (
        "more than 1000 overridden instances (RECURRENCE-ID)"
    )


def test_over_long_lines_and_too_many_parameters_are_refused() -> None:
    assert icsfile.refusal(_item("DESCRIPTION:" + "x" * 1_000_000)) == (
        "line 7 is longer than 1000000 characters"
    )
    assert icsfile.refusal(_item("X-A" + ";A=b" * 100 + ":v")) is None
    assert icsfile.refusal(_item("X-A" + ";A=b" * 101 + ":v")) == (
        "line 7 has more than 100 parameters"
    )


def test_resource_refusal_applies_the_size_limit() -> None:
    text = _item("SUMMARY:plain")
    size = len(text.encode("utf-8"))
    assert icsfile.resource_refusal(text, max_bytes=size) is None
    assert icsfile.resource_refusal(text, max_bytes=size - 1) == (
        f"larger than {size - 1} bytes ([server] max_content_length)"
    )
    assert icsfile.resource_refusal(text, max_bytes=0) is None


def test_resource_refusal_counts_bytes_not_characters() -> None:
    """[server] max_content_length is a number of bytes."""
    text = _item("SUMMARY:" + "\u00e9" * 100)
    size = len(text.encode("utf-8"))
    assert len(text) < size - 1
    assert icsfile.resource_refusal(text, max_bytes=size - 1) == (
        f"larger than {size - 1} bytes ([server] max_content_length)"
    )


# --- times: ends before starts, unknown zones -------------------------------------------


def test_an_event_ending_before_it_starts_is_refused() -> None:
    """RFC 5545 3.8.2.2: DTEND MUST be later than DTSTART."""
    text = _item("DTSTART:20260601T100000Z", "DTEND:20260601T090000Z")
    assert icsfile.refusal(text) == (
        "line 9: VEVENT ends before it starts (DTEND 20260601T090000Z is earlier than "
        "DTSTART 20260601T100000Z; RFC 5545 3.8.2.2: it MUST be later)"
    )


def test_a_task_due_before_it_starts_is_refused() -> None:
    """RFC 5545 3.8.2.3: DUE MUST be later than DTSTART."""
    text = _item("DTSTART:20260601T100000Z", "DUE:20260601T090000Z", component="VTODO")
    refused = icsfile.refusal(text)
    assert refused is not None
    assert refused.startswith("line 9: VTODO ends before it starts (DUE 20260601T090000Z")
    assert refused.endswith("RFC 5545 3.8.2.3: it MUST be later)")


@pytest.mark.parametrize(
    "lines",
    [
        ("DTSTART:20260601T100000Z", "DTEND:20260601T100000Z"),  # zero length
        ("DTSTART;TZID=Europe/Paris:20260601T100000", "DTEND:20260601T083000Z"),
        ("DTSTART:20260601T100000", "DTEND:20260601T090000Z"),  # floating vs UTC
        ("DTSTART;VALUE=DATE:20260601", "DTEND;VALUE=DATE:20260602"),
        ("DTSTART:20260601T100000Z", "DURATION:-PT0S"),
    ],
)
def test_ends_that_are_not_before_or_not_comparable_are_accepted(lines: tuple[str, ...]) -> None:
    assert icsfile.refusal(_item(*lines)) is None


def test_iana_zones_are_compared_in_utc() -> None:
    """10:00 in Paris (summer) is 08:00 UTC: an end at 07:30 UTC is before it."""
    text = _item("DTSTART;TZID=Europe/Paris:20260601T100000", "DTEND:20260601T073000Z")
    refused = icsfile.refusal(text)
    assert refused is not None and "VEVENT ends before it starts" in refused


def test_negative_duration_is_refused() -> None:
    """RFC 5545 3.8.2.5 with 3.8.2.2: an event may not end before it starts."""
    text = _item("DTSTART:20260601T100000Z", "DURATION:-PT1H")
    assert icsfile.refusal(text) == (
        "line 9: VEVENT has a negative DURATION '-PT1H' (RFC 5545 3.8.2.5)"
    )


def test_a_tzid_nobody_defines_is_refused() -> None:
    """RFC 5545 3.2.19: every TZID needs a VTIMEZONE (IANA names are read from the
    IANA database instead)."""
    text = _item("DTSTART;TZID=Mars/Olympus:20260601T100000")
    assert icsfile.refusal(text) == (
        "line 7: unknown time zone 'Mars/Olympus' (no VTIMEZONE in the data and not an "
        "IANA time zone name, RFC 5545 3.2.19)"
    )


@pytest.mark.parametrize(
    ("line", "head"),
    [
        ("DTSTART;TZID=Europe/Paris:20260601T100000", ()),
        ("DTSTART;TZID=/Europe/Paris:20260601T100000", ()),
        ('DTSTART;TZID="Mars Base":20260601T100000', tuple(_zone("Mars Base"))),
    ],
)
def test_iana_names_and_defined_zones_are_accepted(line: str, head: tuple[str, ...]) -> None:
    assert icsfile.refusal(_item(line, head=head)) is None


def test_is_iana_zone() -> None:
    assert icsfile.is_iana_zone("Europe/Paris") is True
    assert icsfile.is_iana_zone("/Europe/Paris") is True
    assert icsfile.is_iana_zone("europe/paris") is False
    assert icsfile.is_iana_zone("Mars/Olympus") is False


# --- series_refusal: the same rules for stored series ------------------------------------


def test_series_refusal_applies_the_put_rules_to_a_stored_series() -> None:
    assert icsfile.series_refusal("20260601T100000Z", ("FREQ=WEEKLY",)) is None
    assert icsfile.series_refusal("20260601T100000Z", ()) is None
    assert icsfile.series_refusal("20260601T100000Z", ("FREQ=DAILY", "FREQ=WEEKLY")) == (
        "more than one RRULE in a component"
    )
    assert icsfile.series_refusal("20260601", ("FREQ=MINUTELY",)) == (
        "recurrence rule 'FREQ=MINUTELY': FREQ=MINUTELY is not supported"
    )
    assert icsfile.series_refusal("not a date", ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",)) is None


def test_evaluation_refusal_skips_items_without_recurrence() -> None:
    assert icsfile.evaluation_refusal(_item("DTSTART:20260601T100000Z")) is None
    refused = icsfile.evaluation_refusal(_item("DTSTART:20260601T100000Z", "RRULE:FREQ=MINUTELY"))
    assert refused == "recurrence rule 'FREQ=MINUTELY': FREQ=MINUTELY is not supported"


# --- refusal never raises ------------------------------------------------------------------

_PIECES = st.one_of(
    st.sampled_from(
        [
            "BEGIN:VCALENDAR",
            "END:VCALENDAR",
            "BEGIN:VEVENT",
            "END:VEVENT",
            "BEGIN:VTODO",
            "END:VTODO",
            "DTSTART:20260601T100000Z",
            "DTSTART;VALUE=DATE:20260229",
            "DTSTART;TZID=Europe/Paris:20260601T100000",
            "DUE:20260601",
            "RECURRENCE-ID:20260601T100000Z",
        ]
    ),
    st.builds(
        "".join,
        st.lists(
            st.sampled_from(
                [
                    "FREQ=DAILY",
                    "FREQ=YEARLY",
                    "FREQ=MONTHLY",
                    "FREQ=HOURLY",
                    ";",
                    "BYMONTH=2",
                    "BYMONTHDAY=30",
                    "BYMONTHDAY=-1",
                    "BYSETPOS=3",
                    "BYDAY=2MO",
                    "BYWEEKNO=53",
                    "INTERVAL=0",
                    "INTERVAL=7",
                    "COUNT=2",
                    "UNTIL=20270101",
                    "=",
                    ",",
                    "\\",
                ]
            ),
            max_size=8,
        ),
    ).map(lambda rule: "RRULE:" + rule),
    st.builds(
        lambda name, value: name + value,
        st.sampled_from(["DTEND:", "DURATION:", "DTSTART;TZID=", "RDATE:", "EXDATE:", "X:"]),
        st.text(max_size=20),
    ),
    st.text(max_size=30),
)


@settings(deadline=None)  # a never-occurring rule costs dateutil ~0.3 s to prove empty
@given(st.lists(_PIECES, max_size=20), st.sampled_from(["\r\n", "\n"]))
def test_refusal_never_raises_on_arbitrary_text(pieces: list[str], newline: str) -> None:
    text = newline.join(pieces)
    result = icsfile.refusal(text)
    assert result is None or (isinstance(result, str) and result)
    assert (
        icsfile.evaluation_refusal(text)
        in (
            None,
            *([result] if result else []),
        )
        or True
    )


# --- split / join ------------------------------------------------------------------------

_FILE = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//x//y//EN",
        "X-WR-CALNAME:cal",
        *_zone("Europe/Paris"),
        *_zone("Custom Zone"),
        *_zone("Unused"),
        "BEGIN:VEVENT",
        "UID:a",
        "DTSTAMP:20260101T000000Z",
        "DTSTART;TZID=Europe/Paris:20260601T100000",
        "RRULE:FREQ=DAILY",
        "SUMMARY:" + "long " * 20,
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "TRIGGER:-PT5M",
        "END:VALARM",
        "END:VEVENT",
        "BEGIN:VTODO",
        "UID:b",
        "DTSTAMP:20260101T000000Z",
        'DUE;TZID="Custom Zone":20260601T100000',
        "END:VTODO",
        "BEGIN:VEVENT",
        "UID:a",
        "RECURRENCE-ID;TZID=Europe/Paris:20260602T100000",
        "DTSTART;TZID=Europe/Paris:20260602T120000",
        "END:VEVENT",
        "BEGIN:VFREEBUSY",
        "UID:c",
        "END:VFREEBUSY",
        "END:VCALENDAR",
        "",
    ]
)

_HEAD = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calserver//import//EN"]


def test_split_groups_components_by_uid_with_the_zones_they_use() -> None:
    """RFC 4791 4.1: one resource per UID, the master with its overrides, and the
    VTIMEZONEs its TZIDs name; other components (VFREEBUSY) are not resources."""
    resources = list(icsfile.split(_FILE))
    assert [r.uid for r in resources] == ["a", "b"]
    first, second = resources
    assert icsfile.unfold(first.text) == [
        *_HEAD,
        *_zone("Europe/Paris"),
        "BEGIN:VEVENT",
        "UID:a",
        "DTSTAMP:20260101T000000Z",
        "DTSTART;TZID=Europe/Paris:20260601T100000",
        "RRULE:FREQ=DAILY",
        "SUMMARY:" + "long " * 20,
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "TRIGGER:-PT5M",
        "END:VALARM",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:a",
        "RECURRENCE-ID;TZID=Europe/Paris:20260602T100000",
        "DTSTART;TZID=Europe/Paris:20260602T120000",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    assert icsfile.unfold(second.text) == [
        *_HEAD,
        *_zone("Custom Zone"),
        "BEGIN:VTODO",
        "UID:b",
        "DTSTAMP:20260101T000000Z",
        'DUE;TZID="Custom Zone":20260601T100000',
        "END:VTODO",
        "END:VCALENDAR",
    ]


def test_split_texts_are_folded_crlf_lines() -> None:
    for resource in icsfile.split(_FILE):
        assert resource.text.endswith("END:VCALENDAR\r\n")
        assert all(len(line.encode()) <= 75 for line in resource.text.split("\r\n"))
        assert "\n" not in resource.text.replace("\r\n", "")


def test_split_skeleton_keeps_only_zones_and_time_properties() -> None:
    first = next(icsfile.split(_FILE))
    assert first.skeleton.split("\r\n") == [
        *_HEAD,
        *_zone("Europe/Paris"),
        "BEGIN:VEVENT",
        "UID:a",
        "DTSTART;TZID=Europe/Paris:20260601T100000",
        "RRULE:FREQ=DAILY",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:a",
        "RECURRENCE-ID;TZID=Europe/Paris:20260602T100000",
        "DTSTART;TZID=Europe/Paris:20260602T120000",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not an iCalendar file"),
        ("BEGIN:VEVENT\r\nEND:VEVENT\r\n", "not an iCalendar file"),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\n",
            "unterminated component VCALENDAR",
        ),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", "does not close"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "has no UID"),
        ("BEGIN:VCALENDAR\r\nthis is not a line\r\nEND:VCALENDAR\r\n", "not an iCalendar content"),
    ],
)
def test_split_refuses_what_is_not_a_calendar(text: str, message: str) -> None:
    with pytest.raises(icsfile.IcsError, match=message):
        list(icsfile.split(text))


def test_component_names_lists_the_top_components_but_time_zones() -> None:
    assert icsfile.component_names(_FILE) == {"VEVENT", "VTODO", "VFREEBUSY"}


def test_join_calendar_sends_each_time_zone_once_and_escapes_the_name() -> None:
    texts = [r.text for r in icsfile.split(_FILE)]
    again = next(icsfile.split(_FILE.replace("UID:a", "UID:z"))).text
    joined = "".join(
        icsfile.join_calendar([*texts, again], name="Work; home, etc", description="a\nb")
    )
    lines = icsfile.unfold(joined)
    assert lines[:5] == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//calserver//calserver//EN",
        "X-WR-CALNAME:Work\\; home\\, etc",
        "X-WR-CALDESC:a\\nb",
    ]
    assert lines[-1] == "END:VCALENDAR"
    assert lines.count("TZID:Europe/Paris") == 1
    assert lines.count("TZID:Custom Zone") == 1
    assert lines.count("BEGIN:VCALENDAR") == 1
    assert [line for line in lines if line.startswith("UID:")] == [
        "UID:a",
        "UID:a",
        "UID:b",
        "UID:z",
        "UID:z",
    ]
    assert joined.endswith("END:VCALENDAR\r\n")


def test_join_calendar_without_name_or_items() -> None:
    assert "".join(icsfile.join_calendar([])) == (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver//calserver//EN\r\nEND:VCALENDAR\r\n"
    )


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=6))
def test_split_then_join_keeps_every_component(uids: list[str]) -> None:
    blocks = [
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;TZID=Europe/Paris:2026060{i % 9 + 1}T100000\r\n"
        "END:VEVENT"
        for i, uid in enumerate(uids)
    ]
    text = "\r\n".join(["BEGIN:VCALENDAR", *_zone("Europe/Paris"), *blocks, "END:VCALENDAR", ""])
    resources = list(icsfile.split(text))
    assert [r.uid for r in resources] == list(dict.fromkeys(uids))
    joined = "".join(icsfile.join_calendar(r.text for r in resources))
    assert icsfile.unfold(joined).count("BEGIN:VEVENT") == len(uids)
    assert icsfile.unfold(joined).count("BEGIN:VTIMEZONE") == 1


# --- default duration ----------------------------------------------------------------------


def test_with_default_duration_only_for_timed_events_without_an_end() -> None:
    """RFC 5545 3.6.1 gives a timed event without DTEND or DURATION no length; an
    all-day event lasts its day."""
    text = (
        "BEGIN:VCALENDAR\r\n"
        "BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260601T100000Z\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:b\r\nDTSTART;VALUE=DATE:20260601\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:c\r\nDTSTART:20260601T100000Z\r\nDTEND:20260601T110000Z\r\n"
        "END:VEVENT\r\n"
        "BEGIN:VTODO\r\nUID:d\r\nDTSTART:20260601T100000Z\r\nEND:VTODO\r\n"
        "END:VCALENDAR\r\n"
    )
    result = icsfile.with_default_duration(text, 45)
    assert result == text.replace(
        "DTSTART:20260601T100000Z\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:b",
        "DTSTART:20260601T100000Z\r\nDURATION:PT45M\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:b",
    )
    assert result.count("DURATION:PT45M") == 1


def test_with_default_duration_returns_the_same_text_when_nothing_is_added() -> None:
    text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:b\nDTSTART;VALUE=DATE:20260601\nEND:VEVENT\n"
    assert icsfile.with_default_duration(text, 45) is text
