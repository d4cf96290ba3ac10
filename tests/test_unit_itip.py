"""Unit tests of calserver.scheduling.itip: the iTIP objects (RFC 5546) the scheduling
engine builds from an organizer's copy, and how it reads one. Plain icalendar objects,
no server."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calserver.scheduling import itip

pytestmark = pytest.mark.unit

PARIS = ZoneInfo("Europe/Paris")
ALICE = "mailto:alice@example.org"
BOB = "mailto:bob@example.org"

TIMEZONE = [
    "BEGIN:VTIMEZONE",
    "TZID:Europe/Paris",
    "BEGIN:STANDARD",
    "DTSTART:19701025T030000",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
    "END:STANDARD",
    "BEGIN:DAYLIGHT",
    "DTSTART:19700329T020000",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0200",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "END:DAYLIGHT",
    "END:VTIMEZONE",
]

MASTER = [
    "BEGIN:VEVENT",
    "UID:meeting-1",
    "DTSTAMP:20260101T000000Z",
    "DTSTART;TZID=Europe/Paris:20260601T100000",
    "DTEND;TZID=Europe/Paris:20260601T110000",
    "RRULE:FREQ=WEEKLY;COUNT=4",
    "SUMMARY:Planning",
    "LOCATION:Room 1",
    "SEQUENCE:2",
    "ORGANIZER;CN=Alice;SCHEDULE-STATUS=1.2:mailto:alice@example.org",
    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org",
    "ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;SCHEDULE-STATUS=1.2;"
    "SCHEDULE-FORCE-SEND=REQUEST;X-CALSERVER-COMMENT=why:mailto:Bob@Example.org",
    "ATTENDEE;SCHEDULE-AGENT=CLIENT:mailto:carol@example.org",
    "ATTENDEE;CUTYPE=GROUP:mailto:team@example.org",
    "ATTENDEE;CUTYPE=ROOM:mailto:room@example.org",
    "BEGIN:VALARM",
    "ACTION:DISPLAY",
    "TRIGGER:-PT15M",
    "DESCRIPTION:reminder",
    "END:VALARM",
    "END:VEVENT",
]

OVERRIDE = [
    "BEGIN:VEVENT",
    "UID:meeting-1",
    "DTSTAMP:20260101T000000Z",
    "RECURRENCE-ID;TZID=Europe/Paris:20260608T100000",
    "DTSTART;TZID=Europe/Paris:20260608T120000",
    "DTEND;TZID=Europe/Paris:20260608T130000",
    "SUMMARY:Planning moved",
    "SEQUENCE:3",
    "ORGANIZER;CN=Alice:mailto:alice@example.org",
    "ATTENDEE;PARTSTAT=DECLINED:mailto:bob@example.org",
    "END:VEVENT",
]


def _calendar(*blocks: list[str]) -> icalendar.Calendar:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//x//y//EN"]
    for block in blocks:
        lines += block
    return itip.parse("\r\n".join([*lines, "END:VCALENDAR", ""]))


def _meeting() -> icalendar.Calendar:
    return _calendar(TIMEZONE, MASTER, OVERRIDE)


def _event(*lines: str) -> icalendar.Calendar:
    return _calendar(["BEGIN:VEVENT", "UID:u", "DTSTAMP:20260101T000000Z", *lines, "END:VEVENT"])


def _lines(calendar: icalendar.Calendar) -> list[str]:
    return itip.serialize(calendar).replace("\r\n ", "").split("\r\n")


# --- reading an organizer's copy -------------------------------------------------------


def test_components_are_keyed_by_recurrence_id_in_utc() -> None:
    """RFC 5545 3.8.4.4: the master is "", an override its RECURRENCE-ID in UTC, so the
    same instance matches whatever its zone."""
    assert list(itip.by_key(_meeting())) == ["", "20260608T080000Z"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("RECURRENCE-ID;VALUE=DATE:20260601", "20260601"),
        ("RECURRENCE-ID:20260601T100000", "20260601T100000"),
        ("RECURRENCE-ID:20260601T100000Z", "20260601T100000Z"),
        ("RECURRENCE-ID;TZID=America/New_York:20260601T100000", "20260601T140000Z"),
    ],
)
def test_key_of_dates_floating_and_zoned_instances(line: str, expected: str) -> None:
    assert list(itip.by_key(_event(line, "DTSTART:20260601T100000Z"))) == [expected]


def test_organizer_uid_and_highest_sequence() -> None:
    meeting = _meeting()
    assert itip.organizer(meeting) == ALICE
    assert itip.uid(meeting) == "meeting-1"
    assert itip.sequence(meeting) == 3


def test_sequence_defaults_to_zero_and_set_sequence_sets_every_component() -> None:
    assert itip.sequence(_event("DTSTART:20260601T100000Z")) == 0
    meeting = _meeting()
    itip.set_sequence(meeting, 7)
    assert [int(c["SEQUENCE"]) for c in itip.components(meeting)] == [7, 7]


def test_components_skip_time_zones_and_journals() -> None:
    calendar = _calendar(
        TIMEZONE,
        MASTER,
        ["BEGIN:VJOURNAL", "UID:j", "END:VJOURNAL"],
        ["BEGIN:VTODO", "UID:t", "END:VTODO"],
    )
    assert [c.name for c in itip.components(calendar)] == ["VEVENT", "VTODO"]
    assert [c["TZID"] for c in itip.timezones(calendar)] == ["Europe/Paris"]


def test_find_matches_addresses_without_case() -> None:
    master = itip.by_key(_meeting())[""]
    found = itip.find(master, "MAILTO:BOB@example.org")
    assert str(found) == "mailto:Bob@Example.org"
    assert itip.find(master, "mailto:nobody@example.org") is None


def test_partstat_defaults_to_needs_action() -> None:
    """RFC 5545 3.2.12: PARTSTAT defaults to NEEDS-ACTION."""
    master = itip.by_key(_meeting())[""]
    assert [itip.partstat(a) for a in itip.attendees(master)] == [
        "ACCEPTED",
        "NEEDS-ACTION",
        "NEEDS-ACTION",
        "NEEDS-ACTION",
        "NEEDS-ACTION",
    ]


def test_scheduled_attendees_exclude_client_scheduled_groups_and_the_organizer() -> None:
    """RFC 6638 7.1: SCHEDULE-AGENT other than SERVER leaves an attendee to the client;
    the organizer does not invite itself; groups are expanded, not invited."""
    found = itip.all_attendees(_meeting(), ALICE)
    assert sorted(found) == ["mailto:bob@example.org", "mailto:room@example.org"]
    assert str(found["mailto:bob@example.org"]) == "mailto:Bob@Example.org"


def test_normal_lowercases_mailto_and_keeps_other_uris() -> None:
    assert itip.normal(" mailto:Bob@Example.ORG ") == "mailto:bob@example.org"
    assert itip.normal(" /bob/ ") == "/bob/"


def test_answers_of_by_component() -> None:
    assert itip.answers_of(_meeting(), BOB) == {"": "NEEDS-ACTION", "20260608T080000Z": "DECLINED"}
    assert itip.answers_of(_meeting(), "mailto:zed@example.org") == {}


def test_iter_answers_lists_every_attendee_of_every_component() -> None:
    pairs = [(k, str(a)) for k, _c, a in itip.iter_answers(_meeting())]
    assert len(pairs) == 6
    assert pairs[-1] == ("20260608T080000Z", BOB)


def test_set_attendees_replaces_the_list() -> None:
    master = itip.by_key(_meeting())[""]
    itip.set_attendees(master, [icalendar.vCalAddress(BOB)])
    assert [str(a) for a in itip.attendees(master)] == [BOB]
    itip.set_attendees(master, [])
    assert itip.attendees(master) == []


@pytest.mark.parametrize(
    ("value", "off"),
    [("OFF", True), (" no ", True), ("false", True), ("ON", False), ("", False)],
)
def test_email_switch(value: str, off: bool) -> None:
    calendar = _event("DTSTART:20260601T100000Z", f"X-CALSERVER-EMAIL:{value}")
    assert itip.email_off(calendar) is off


def test_email_is_on_without_the_switch() -> None:
    assert itip.email_off(_meeting()) is False


# --- significant changes (RFC 5546 2.1.4) ----------------------------------------------

BASE = ("DTSTART;TZID=Europe/Paris:20260601T100000", "DTEND;TZID=Europe/Paris:20260601T110000")


@pytest.mark.parametrize(
    "changed",
    [
        ("DTSTART;TZID=Europe/Paris:20260601T100500", BASE[1]),
        (BASE[0], "DTEND;TZID=Europe/Paris:20260601T120000"),
        (*BASE, "RRULE:FREQ=DAILY;COUNT=3"),
        (*BASE, "SUMMARY:Other"),
        (*BASE, "LOCATION:Room 2"),
        (*BASE, "DESCRIPTION:agenda"),
        (*BASE, "EXDATE;TZID=Europe/Paris:20260602T100000"),
    ],
)
def test_time_recurrence_place_or_text_changes_are_significant(changed: tuple[str, ...]) -> None:
    """RFC 5546 2.1.4: the organizer asks again when the time, recurrence, place or what
    the meeting is changes."""
    assert itip.significant_change(_event(*BASE), _event(*changed)) is True


def test_answers_alarms_comments_and_stamps_are_not_significant() -> None:
    new = _event(
        *BASE,
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.org",
        "COMMENT:see you",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "TRIGGER:-PT5M",
        "END:VALARM",
    )
    new.subcomponents[0]["DTSTAMP"] = icalendar.vDDDTypes(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    assert itip.significant_change(_event(*BASE), new) is False


def test_adding_or_removing_an_override_is_significant() -> None:
    assert itip.significant_change(_calendar(MASTER), _calendar(MASTER, OVERRIDE)) is True
    assert itip.significant_change(_calendar(MASTER, OVERRIDE), _calendar(MASTER)) is True


def test_differs_names_the_changed_properties() -> None:
    old, new = _event(*BASE, "SUMMARY:a"), _event(*BASE, "SUMMARY:b", "LOCATION:x")
    assert itip.differs(itip.by_key(old)[""], itip.by_key(new)[""]) == ["SUMMARY", "LOCATION"]


def test_moving_a_meeting_to_another_time_zone_is_significant() -> None:
    """RFC 5546 2.1.4: a change of time is significant."""
    new = _event(
        "DTSTART;TZID=America/New_York:20260601T100000",
        "DTEND;TZID=America/New_York:20260601T110000",
    )
    assert itip.significant_change(_event(*BASE), new) is True


# --- REQUEST (RFC 5546 3.2.2) ----------------------------------------------------------


def test_request_carries_every_component_and_the_time_zones() -> None:
    """RFC 5546 3.2.2 and 3.1: the whole object, with a VTIMEZONE for each TZID."""
    message = itip.request(_meeting())
    assert message["METHOD"] == "REQUEST"
    assert message["PRODID"] == "-//calserver//scheduling//EN"
    assert list(itip.by_key(message)) == ["", "20260608T080000Z"]
    assert [z["TZID"] for z in itip.timezones(message)] == ["Europe/Paris"]
    assert [str(c["SUMMARY"]) for c in itip.components(message)] == [
        "Planning",
        "Planning moved",
    ]


def test_request_drops_alarms_and_the_organizers_scheduling_parameters() -> None:
    """RFC 6638 3.2.9: SCHEDULE-STATUS is the organizer's copy's; SCHEDULE-FORCE-SEND a
    one-time request; the organizer's alarms are theirs."""
    message = itip.request(_meeting())
    text = itip.serialize(message)
    assert "VALARM" not in text
    assert "SCHEDULE-STATUS" not in text
    assert "SCHEDULE-FORCE-SEND" not in text
    assert "X-CALSERVER-COMMENT" not in text
    bob = itip.find(itip.by_key(message)[""], BOB)
    assert bob is not None
    assert dict(bob.params) == {"CN": "Bob", "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"}


def test_request_restamps_and_leaves_the_organizers_copy_alone() -> None:
    meeting = _meeting()
    before = itip.serialize(meeting)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    message = itip.request(meeting)
    assert itip.serialize(meeting) == before
    for component in itip.components(message):
        stamp = component["DTSTAMP"].dt
        assert start <= stamp <= dt.datetime.now(dt.UTC)
        assert stamp.microsecond == 0


def test_request_and_cancel_carry_no_schedule_agent() -> None:
    """RFC 6638 7.1: "Servers MUST NOT include this parameter in any scheduling messages
    sent as the result of a scheduling operation"."""
    for message in (itip.request(_meeting()), itip.cancel(_meeting(), 4)):
        assert "SCHEDULE-AGENT" not in itip.serialize(message)


# --- CANCEL (RFC 5546 3.2.5) -----------------------------------------------------------


def test_cancel_sends_the_master_cancelled_with_the_next_sequence() -> None:
    """RFC 5546 3.2.5: cancelling the whole meeting: STATUS:CANCELLED, higher SEQUENCE."""
    message = itip.cancel(_meeting(), 4)
    assert message["METHOD"] == "CANCEL"
    parts = itip.components(message)
    assert [itip.key(p) for p in parts] == [""]
    assert parts[0]["STATUS"] == "CANCELLED"
    assert int(parts[0]["SEQUENCE"]) == 4
    assert str(parts[0]["UID"]) == "meeting-1"
    assert itip.alarms(parts[0]) == []
    assert "SCHEDULE-STATUS" not in itip.serialize(message)


def test_cancel_without_a_master_cancels_every_override() -> None:
    message = itip.cancel(_calendar(TIMEZONE, OVERRIDE), 9)
    parts = itip.components(message)
    assert [itip.key(p) for p in parts] == ["20260608T080000Z"]
    assert [(str(p["STATUS"]), int(p["SEQUENCE"])) for p in parts] == [("CANCELLED", 9)]


def test_cancel_replaces_an_existing_status() -> None:
    message = itip.cancel(_event("DTSTART:20260601T100000Z", "STATUS:CONFIRMED"), 1)
    assert [line for line in _lines(message) if line.startswith("STATUS")] == ["STATUS:CANCELLED"]


# --- REPLY (RFC 5546 3.2.3) ------------------------------------------------------------


def test_reply_names_only_the_answering_attendee_with_their_partstat() -> None:
    """RFC 5546 3.2.3: a REPLY has one ATTENDEE, the replying one, with its PARTSTAT."""
    message = itip.reply(_meeting(), BOB, {"": "ACCEPTED"}, comment="see you")
    assert message["METHOD"] == "REPLY"
    (part,) = itip.components(message)
    (attendee,) = itip.attendees(part)
    assert str(attendee) == "mailto:Bob@Example.org"
    assert attendee.params["PARTSTAT"] == "ACCEPTED"
    for name in ("RSVP", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND", "SCHEDULE-AGENT"):
        assert name not in attendee.params
    assert str(part["ORGANIZER"]) == ALICE
    assert str(part["UID"]) == "meeting-1"
    assert int(part["SEQUENCE"]) == 2
    assert str(part["COMMENT"]) == "see you"
    assert "LOCATION" not in part
    assert "RRULE" not in part
    assert itip.alarms(part) == []


def test_reply_without_comment_has_no_comment() -> None:
    (part,) = itip.components(itip.reply(_meeting(), BOB, {"": "DECLINED"}))
    assert "COMMENT" not in part


def test_reply_for_an_overridden_instance_uses_the_override() -> None:
    message = itip.reply(_meeting(), BOB, {"20260608T080000Z": "TENTATIVE"})
    (part,) = itip.components(message)
    assert itip.key(part) == "20260608T080000Z"
    assert str(part["SUMMARY"]) == "Planning moved"
    assert int(part["SEQUENCE"]) == 3
    assert [str(a) for a in itip.attendees(part)] == [BOB]
    assert itip.partstat(itip.attendees(part)[0]) == "TENTATIVE"


def test_reply_for_an_instance_without_override_names_it_by_recurrence_id() -> None:
    """RFC 5546 3.2.3: RECURRENCE-ID only when answering one instance, typed like the
    master's DTSTART (RFC 5545 3.8.4.4)."""
    (part,) = itip.components(itip.reply(_meeting(), BOB, {"20260615T080000Z": "DECLINED"}))
    assert part["RECURRENCE-ID"].dt == dt.datetime(2026, 6, 15, 10, 0, tzinfo=PARIS)
    assert itip.key(part) == "20260615T080000Z"


def test_reply_for_an_instance_without_override_starts_at_that_instance() -> None:
    """RFC 5545 3.8.4.4: an instance's RECURRENCE-ID is its original DTSTART."""
    (part,) = itip.components(itip.reply(_meeting(), BOB, {"20260615T080000Z": "DECLINED"}))
    assert part["DTSTART"].dt == dt.datetime(2026, 6, 15, 10, 0, tzinfo=PARIS)
    assert part["DTEND"].dt == dt.datetime(2026, 6, 15, 11, 0, tzinfo=PARIS)


def test_reply_carries_no_schedule_status() -> None:
    """RFC 6638 7.3: "Servers MUST NOT include this parameter in any scheduling
    messages sent as the result of a scheduling operation"."""
    message = itip.reply(_meeting(), BOB, {"": "ACCEPTED"})
    assert "SCHEDULE-STATUS" not in itip.serialize(message)


def test_reply_from_someone_not_invited_names_them_bare() -> None:
    (part,) = itip.components(itip.reply(_meeting(), "mailto:zed@example.org", {"": "ACCEPTED"}))
    (attendee,) = itip.attendees(part)
    assert str(attendee) == "mailto:zed@example.org"
    assert dict(attendee.params) == {"PARTSTAT": "ACCEPTED"}


def test_reply_skips_instances_of_a_meeting_without_master() -> None:
    message = itip.reply(_calendar(OVERRIDE), BOB, {"20260615T080000Z": "ACCEPTED"})
    assert itip.components(message) == []


def test_reply_one_component_per_answer() -> None:
    answers = {"": "ACCEPTED", "20260608T080000Z": "DECLINED", "20260622T080000Z": "TENTATIVE"}
    message = itip.reply(_meeting(), BOB, answers)
    assert {itip.key(p): itip.partstat(itip.attendees(p)[0]) for p in itip.components(message)} == (
        answers
    )


# --- instances -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer_key", "expected"),
    [
        ("20260608T080000Z", dt.datetime(2026, 6, 8, 10, 0, tzinfo=PARIS)),
        ("20260608", dt.date(2026, 6, 8)),
        ("20260608T100000", dt.datetime(2026, 6, 8, 10, 0)),
    ],
)
def test_rid_value_types_the_instance_like_the_master(answer_key: str, expected: dt.date) -> None:
    master = itip.by_key(_meeting())[""]
    value = itip.rid_value(answer_key, master)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(expected, dt.datetime) and expected.tzinfo is not None:
        assert getattr(value, "tzinfo", None) == PARIS


def test_rid_value_stays_utc_for_a_utc_master() -> None:
    master = itip.by_key(_event("DTSTART:20260601T080000Z"))[""]
    value = itip.rid_value("20260608T080000Z", master)
    assert value == dt.datetime(2026, 6, 8, 8, 0, tzinfo=dt.UTC)
    assert value.utcoffset() == dt.timedelta(0)


@given(st.datetimes(dt.datetime(1971, 1, 1), dt.datetime(2099, 12, 31)))
def test_key_and_rid_value_round_trip(moment: dt.datetime) -> None:
    """key() names an instance, rid_value() gives it back, at whatever offset."""
    master = itip.by_key(_meeting())[""]
    answer_key = moment.replace(microsecond=0).strftime("%Y%m%dT%H%M%SZ")
    part = itip.instance_of(master, answer_key)
    assert itip.key(part) == answer_key


def test_instance_of_moves_the_master_to_the_instance_without_recurrence() -> None:
    """RFC 5545 3.8.4.4: an override of one instance, with its own times."""
    master = itip.by_key(_meeting())[""]
    part = itip.instance_of(master, "20260615T080000Z")
    assert part["RECURRENCE-ID"].dt == dt.datetime(2026, 6, 15, 10, 0, tzinfo=PARIS)
    assert part["DTSTART"].dt == dt.datetime(2026, 6, 15, 10, 0, tzinfo=PARIS)
    assert part["DTEND"].dt == dt.datetime(2026, 6, 15, 11, 0, tzinfo=PARIS)
    for name in ("RRULE", "RDATE", "EXDATE"):
        assert name not in part
    assert str(part["SUMMARY"]) == "Planning"
    assert "RRULE" in master  # the master is not touched


def test_instance_of_an_all_day_series() -> None:
    master = itip.by_key(_event("DTSTART;VALUE=DATE:20260601", "RRULE:FREQ=DAILY"))[""]
    part = itip.instance_of(master, "20260603")
    assert part["RECURRENCE-ID"].dt == dt.date(2026, 6, 3)
    assert part["DTSTART"].dt == dt.date(2026, 6, 3)
    assert "RRULE" not in part


def test_text_of_a_missing_property_is_empty() -> None:
    master = itip.by_key(_meeting())[""]
    assert itip.text(master, "SUMMARY") == "Planning"
    assert itip.text(master, "DESCRIPTION") == ""
