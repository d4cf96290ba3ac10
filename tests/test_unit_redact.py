"""Unit tests of calserver.sharing.redact: which items a view hides, which it serves as
busy blocks (DESIGN.md, "Rules in detail"), and what a busy block keeps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calserver.sharing import redact
from calserver.sharing.levels import Level

pytestmark = pytest.mark.unit


def _calendar(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//x//y//EN", *lines]) + (
        "\r\nEND:VCALENDAR\r\n"
    )


def _event(*lines: str) -> str:
    return _calendar("BEGIN:VEVENT", "UID:ev-1", *lines, "END:VEVENT")


def _lines(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")[:-1]


def _body(view: str) -> list[str]:
    """The lines of the busy view of ``_event(...)`` after its SUMMARY and UID."""
    lines = _lines(view)
    assert lines[:6] == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//calserver//busy view//EN",
        "BEGIN:VEVENT",
        "SUMMARY:Busy",
        "UID:ev-1",
    ]
    assert lines[-2:] == ["END:VEVENT", "END:VCALENDAR"]
    return lines[6:-2]


FULL = _calendar(
    "CALSCALE:GREGORIAN",
    "METHOD:PUBLISH",
    "X-WR-CALNAME:Secret calendar",
    "BEGIN:VTIMEZONE",
    "TZID:Europe/Paris",
    "X-LIC-LOCATION:Europe/Paris",
    "BEGIN:STANDARD",
    "DTSTART:19701025T030000",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "TZNAME:CET",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
    "END:STANDARD",
    "END:VTIMEZONE",
    "BEGIN:VEVENT",
    "UID:ev-1",
    "DTSTAMP:20260101T000000Z",
    "DTSTART;TZID=Europe/Paris:20260601T100000",
    "DTEND;TZID=Europe/Paris:20260601T110000",
    "RRULE:FREQ=WEEKLY;BYDAY=MO;X-NAME=secret;COUNT=5",
    "EXDATE;TZID=Europe/Paris:20260608T100000",
    "SUMMARY:Dentist",
    "DESCRIPTION:root canal",
    "LOCATION:Clinic",
    "CLASS:CONFIDENTIAL",
    "CATEGORIES:health",
    "ORGANIZER;CN=Dr Who:mailto:dr@example.org",
    "ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.org",
    "TRANSP:OPAQUE",
    "STATUS:confirmed",
    "SEQUENCE:2",
    "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
    "X-SECRET:leak",
    "URL:http://example.org/secret",
    "ATTACH:http://example.org/file",
    "BEGIN:VALARM",
    "ACTION:DISPLAY",
    "DESCRIPTION:take pills",
    "TRIGGER:-PT15M",
    "END:VALARM",
    "END:VEVENT",
    "BEGIN:VEVENT",
    "UID:ev-1",
    "RECURRENCE-ID;TZID=Europe/Paris:20260615T100000",
    "DTSTART;TZID=Europe/Paris:20260615T120000",
    "DURATION:PT1H",
    "SUMMARY:moved dentist",
    "STATUS:whatever",
    "END:VEVENT",
    "BEGIN:VTODO",
    "UID:todo-1",
    "SUMMARY:todo secret",
    "END:VTODO",
)


# --- the table: which level sees what --------------------------------------------------


def _cell(level: Level, klass: str) -> str:
    if level < redact.shown_from(klass, "VEVENT"):
        return "nothing"
    return "busy block" if redact.shows_busy(level, klass) else "details"


@pytest.mark.parametrize(
    ("klass", "busy", "read", "write", "owner"),
    [
        ("PUBLIC", "busy block", "details", "details", "details"),
        ("CONFIDENTIAL", "nothing", "busy block", "busy block", "details"),
        ("PRIVATE", "nothing", "nothing", "nothing", "details"),
    ],
)
def test_event_visibility_follows_the_design_table(
    klass: str, busy: str, read: str, write: str, owner: str
) -> None:
    """DESIGN.md's table, per event class and viewer level (the owner sees all)."""
    assert [_cell(level, klass) for level in (Level.BUSY, Level.READ, Level.WRITE)] == [
        busy,
        read,
        write,
    ]
    assert _cell(Level.OWNER, klass) == owner


def test_free_busy_level_sees_public_events_as_busy_blocks_only() -> None:
    """Group members without a grant see only free/busy: public events, as busy."""
    assert [_cell(Level.FREEBUSY, k) for k in redact.CLASSES] == [
        "busy block",
        "nothing",
        "nothing",
    ]


@pytest.mark.parametrize(
    ("klass", "component", "level"),
    [
        ("PUBLIC", "VEVENT", Level.FREEBUSY),
        ("PUBLIC", "VTODO", Level.READ),
        ("PUBLIC", "VJOURNAL", Level.READ),
        ("CONFIDENTIAL", "VEVENT", Level.READ),
        ("CONFIDENTIAL", "VTODO", Level.OWNER),
        ("CONFIDENTIAL", "VJOURNAL", Level.OWNER),
        ("PRIVATE", "VEVENT", Level.OWNER),
        ("PRIVATE", "VTODO", Level.OWNER),
    ],
)
def test_shown_from_gives_the_lowest_level_that_sees_the_item(
    klass: str, component: str, level: Level
) -> None:
    """A busy task means nothing: tasks and journal entries need READ at least."""
    assert redact.shown_from(klass, component) is level


@pytest.mark.parametrize(
    ("level", "hidden"),
    [
        (Level.FREEBUSY, ("CONFIDENTIAL", "PRIVATE")),
        (Level.BUSY, ("CONFIDENTIAL", "PRIVATE")),
        (Level.READ, ("PRIVATE",)),
        (Level.WRITE, ("PRIVATE",)),
        (Level.OWNER, ()),
    ],
)
def test_hidden_classes_by_level(level: Level, hidden: tuple[str, ...]) -> None:
    assert redact.hidden_classes(level) == hidden


@pytest.mark.parametrize("level", [Level.FREEBUSY, Level.BUSY, Level.READ, Level.WRITE])
@pytest.mark.parametrize("klass", redact.CLASSES)
def test_hidden_classes_agree_with_shown_from_for_events(level: Level, klass: str) -> None:
    """The SQL filter (hidden classes) and the per-item rule must not disagree."""
    assert (klass in redact.hidden_classes(level)) == (level < redact.shown_from(klass, "VEVENT"))


def test_owner_never_gets_a_busy_view() -> None:
    assert not any(redact.shows_busy(Level.OWNER, k) for k in redact.CLASSES)


# --- item_class --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "klass"),
    [
        ((), "PUBLIC"),
        (("CLASS:PUBLIC",), "PUBLIC"),
        (("class:confidential",), "CONFIDENTIAL"),
        (("CLASS;X-A=b:Private ",), "PRIVATE"),
        (("CLASS:X-SECRET-ONES",), "PRIVATE"),
        (("CLASS:",), "PRIVATE"),
        (("CLASS:CONFI\r\n DENTIAL",), "CONFIDENTIAL"),
    ],
)
def test_item_class_reads_the_class_and_counts_unknown_values_as_private(
    lines: tuple[str, ...], klass: str
) -> None:
    """RFC 5545 3.8.1.3: x-name and iana-token classes are treated as PRIVATE here."""
    assert redact.item_class(_event(*lines)) == klass


def test_item_class_is_the_most_restrictive_of_the_components() -> None:
    text = _calendar(
        "BEGIN:VEVENT",
        "UID:a",
        "CLASS:PUBLIC",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:a",
        "RECURRENCE-ID:20260601T100000Z",
        "CLASS:CONFIDENTIAL",
        "END:VEVENT",
    )
    assert redact.item_class(text) == "CONFIDENTIAL"


def test_item_class_ignores_class_inside_another_property_name() -> None:
    assert redact.item_class(_event("CLASSIFICATION:PRIVATE", "X-CLASS:PRIVATE")) == "PUBLIC"


# --- the busy view -----------------------------------------------------------------------


def test_busy_block_keeps_times_recurrence_and_availability_and_shows_busy() -> None:
    assert _lines(redact.busy_view(FULL)) == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//calserver//busy view//EN",
        "CALSCALE:GREGORIAN",
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Paris",
        "BEGIN:STANDARD",
        "DTSTART:19701025T030000",
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "END:STANDARD",
        "END:VTIMEZONE",
        "BEGIN:VEVENT",
        "SUMMARY:Busy",
        "UID:ev-1",
        "DTSTAMP:20260101T000000Z",
        "DTSTART;TZID=Europe/Paris:20260601T100000",
        "DTEND;TZID=Europe/Paris:20260601T110000",
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5",
        "EXDATE;TZID=Europe/Paris:20260608T100000",
        "TRANSP:OPAQUE",
        "STATUS:CONFIRMED",
        "SEQUENCE:2",
        "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "SUMMARY:Busy",
        "UID:ev-1",
        "RECURRENCE-ID;TZID=Europe/Paris:20260615T100000",
        "DTSTART;TZID=Europe/Paris:20260615T120000",
        "DURATION:PT1H",
        "END:VEVENT",
        "END:VCALENDAR",
    ]


@pytest.mark.parametrize(
    "secret",
    [
        "Dentist",
        "root canal",
        "Clinic",
        "health",
        "Dr Who",
        "bob@example.org",
        "leak",
        "take pills",
        "todo secret",
        "Secret calendar",
        "http://example.org",
        "X-NAME",
        "CET",
        "CLASS",
        "whatever",
    ],
)
def test_busy_block_drops_every_other_text(secret: str) -> None:
    assert secret not in redact.busy_view(FULL)


def test_busy_block_drops_alarms_and_non_event_components() -> None:
    view = redact.busy_view(FULL)
    assert "VALARM" not in view
    assert "VTODO" not in view
    assert "TRIGGER" not in view


def test_busy_block_drops_a_time_carrying_text() -> None:
    """A value that is not of a time's shape is dropped, not trimmed: no text rides
    along in a time (RFC 5545 3.3.4, 3.3.5)."""
    view = redact.busy_view(
        _event(
            "DTSTART:20260601T100000Z",
            "DTEND:20260601T110000Z DESCRIPTION:secret",
            "STATUS:CONFIRMED secret",
            "SEQUENCE:1 secret",
            "EXDATE:20260601T100000Z,secret",
        )
    )
    assert _body(view) == ["DTSTART:20260601T100000Z"]


def test_busy_block_drops_a_whole_rule_with_a_malformed_part_and_x_parts_only() -> None:
    """RFC 5545 3.3.10: x-name rule parts are dropped; a part of another shape drops the
    rule."""
    kept = redact.busy_view(_event("RRULE:freq=weekly;wkst=SU;BYDAY=1MO,-2FR;X-A=b;BYSETPOS=-1"))
    assert "RRULE:FREQ=WEEKLY;WKST=SU;BYDAY=1MO,-2FR;BYSETPOS=-1\r\n" in kept
    dropped = redact.busy_view(_event("RRULE:FREQ=DAILY;UNTIL=secret"))
    assert "RRULE" not in dropped


def test_busy_block_keeps_only_time_shaping_parameters() -> None:
    view = redact.busy_view(
        _event(
            'DTSTART;X-FOO="a:b;TZID=evil";TZID=Europe/Paris;LANGUAGE=en:20260601T100000',
            "RECURRENCE-ID;RANGE=thisandfuture;VALUE=date-time:20260601T100000Z",
            "RDATE;VALUE=PERIOD:20260601T100000Z/PT1H,20260602T100000Z/20260602T110000Z",
            "DTEND;VALUE=SECRET:20260601T110000",
        )
    )
    assert _body(view) == [
        "DTSTART;TZID=Europe/Paris:20260601T100000",
        "RECURRENCE-ID;RANGE=THISANDFUTURE;VALUE=DATE-TIME:20260601T100000Z",
        "RDATE;VALUE=PERIOD:20260601T100000Z/PT1H,20260602T100000Z/20260602T110000Z",
        "DTEND:20260601T110000",
    ]


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("TRANSP:transparent", "TRANSP:TRANSPARENT"),
        ("TRANSP:SOMETIMES", None),
        ("STATUS:TENTATIVE", "STATUS:TENTATIVE"),
        ("STATUS:NEEDS-ACTION", None),
        ("X-MICROSOFT-CDO-BUSYSTATUS:free", "X-MICROSOFT-CDO-BUSYSTATUS:FREE"),
        (
            "X-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE",
            "X-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE",
        ),
        ("X-MICROSOFT-CDO-BUSYSTATUS:at the doctor", None),
        ("DURATION:P1W", "DURATION:P1W"),
        ("DURATION:-PT15M", "DURATION:-PT15M"),
        ("DURATION:P", None),
        ("DTSTART;VALUE=DATE:20260601", "DTSTART;VALUE=DATE:20260601"),
    ],
)
def test_busy_block_keeps_enumerated_values_only_when_they_are_known_tokens(
    line: str, kept: str | None
) -> None:
    assert _body(redact.busy_view(_event(line))) == ([kept] if kept else [])


def test_busy_view_unfolds_input_and_folds_output() -> None:
    """RFC 5545 3.1: a folded DTSTART is read whole; lines out are at most 75 octets."""
    zone = "Area/" + "Z" * 100
    view = redact.busy_view(
        _event(
            "DESCRIPTION:long text\r\n  DTSTART:20260101T000000Z",
            f"DTSTART;TZID={zone}:2026\r\n 0601T100000",
        )
    )
    assert all(len(line.encode()) <= 75 for line in view.split("\r\n"))
    assert _body(view) == [f"DTSTART;TZID={zone}:20260601T100000"]


def test_busy_view_is_stable_and_a_fixed_point() -> None:
    once = redact.busy_view(FULL)
    assert redact.busy_view(FULL) == once
    assert redact.busy_view(once) == once


def test_view_etag_is_a_quoted_digest_that_follows_the_stored_etag() -> None:
    first = redact.view_etag('"abc"')
    assert re.fullmatch(r'"[0-9a-f]{40}"', first)
    assert redact.view_etag('"abc"') == first
    assert redact.view_etag('"abd"') != first
    assert first != '"abc"'


_secret = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=4, max_size=40).map(
    lambda s: "S3cr3t" + s
)


@given(_secret)
def test_busy_view_never_shows_text_from_any_text_property(secret: str) -> None:
    text = _event(
        "DTSTART:20260601T100000Z",
        "SUMMARY:" + secret,
        "DESCRIPTION:" + secret,
        "LOCATION:" + secret,
        "COMMENT:" + secret,
        f'ATTENDEE;CN="{secret.replace(chr(34), "")}":mailto:a@example.org',
        "X-ANY:" + secret,
        "BEGIN:VALARM",
        "DESCRIPTION:" + secret,
        "END:VALARM",
    )
    assert "S3cr3t" not in redact.busy_view(text)


_NAMES = ("DTSTART", "DTEND", "SUMMARY", "RRULE", "STATUS", "TZID", "ATTENDEE;CN=x", "X-A")
_any_line = st.one_of(
    st.sampled_from(
        [
            "BEGIN:VCALENDAR",
            "END:VCALENDAR",
            "BEGIN:VEVENT",
            "END:VEVENT",
            "BEGIN:VALARM",
            "END:VALARM",
            "BEGIN:VTIMEZONE",
            "BEGIN:STANDARD",
            "END:STANDARD",
            "DTSTART:20260601T100000Z",
        ]
    ),
    st.builds(lambda n, v: n + ":" + v, st.sampled_from(_NAMES), st.text(max_size=30)),
    st.text(max_size=40),
)
_EMITTED = {"BEGIN", "END", "VERSION", "PRODID", "CALSCALE", "SUMMARY", "TZID", "DTSTART"}
_EMITTED |= {"DTEND", "RRULE", "STATUS"}


@given(st.lists(_any_line, max_size=30), st.sampled_from(["\r\n", "\n"]))
def test_busy_view_never_raises_and_emits_only_kept_folded_lines(
    lines: list[str], newline: str
) -> None:
    view = redact.busy_view(newline.join(lines))
    assert all(len(line.encode()) <= 75 for line in view.split("\r\n"))
    for line in _lines(view):
        assert re.split("[;:]", line, maxsplit=1)[0] in _EMITTED
        if line.startswith("SUMMARY"):
            assert line == "SUMMARY:Busy"
