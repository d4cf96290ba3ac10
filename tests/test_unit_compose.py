"""Unit tests of calserver.ical.compose: the web app's event form written into
iCalendar (RFC 5545) and read back, edits that keep what the form does not know,
occurrence overrides (3.8.4.4), EXDATE (3.8.5.1), UNTIL splits (3.3.10)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
import pytest
from dateutil.rrule import rrulestr

from calserver.ical import compose
from calserver.ical.compose import EventFields, Participant, Recurrence

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def _fields(**changes: object) -> EventFields:
    values: dict[str, object] = {
        "summary": "Standup",
        "start": dt.datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN),
        "end": dt.datetime(2026, 1, 5, 9, 30, tzinfo=BERLIN),
        "timezone": "Europe/Berlin",
    }
    values.update(changes)
    return EventFields(**values)  # type: ignore[arg-type]


def _event(text: str, rid: str = "") -> icalendar.Event:
    calendar = icalendar.Calendar.from_ical(text)
    for component in calendar.walk("VEVENT"):
        key = compose.itip.key(component)
        if key == rid:
            return component
    raise AssertionError(f"no component {rid!r}")


def _weekly() -> str:
    return compose.new_event(
        _fields(recurrence=Recurrence("WEEKLY", days=("MO", "WE"))), NOW, uid="u1"
    )


def test_a_new_event_has_uid_stamp_and_zoned_times() -> None:
    text = compose.new_event(_fields(location="Room 1", description="Daily"), NOW, uid="u1")
    assert "UID:u1" in text and "DTSTAMP:20260101T120000Z" in text
    assert "DTSTART;TZID=Europe/Berlin:20260105T090000" in text
    assert "DTEND;TZID=Europe/Berlin:20260105T093000" in text
    event = _event(text)
    assert str(event["LOCATION"]) == "Room 1" and str(event["CLASS"]) == "PUBLIC"
    assert str(event["TRANSP"]) == "OPAQUE"
    assert "ORGANIZER" not in event and "ATTENDEE" not in event


def test_all_day_events_are_dates() -> None:
    text = compose.new_event(
        _fields(
            all_day=True, start=dt.date(2026, 1, 5), end=dt.date(2026, 1, 6), availability="free"
        ),
        NOW,
    )
    assert "DTSTART;VALUE=DATE:20260105" in text and "DTEND;VALUE=DATE:20260106" in text
    assert "TRANSP:TRANSPARENT" in text and "X-MICROSOFT-CDO-BUSYSTATUS:FREE" in text


@pytest.mark.parametrize(
    ("availability", "transp", "status", "cdo"),
    [
        ("busy", "OPAQUE", None, "BUSY"),
        ("free", "TRANSPARENT", None, "FREE"),
        ("tentative", "OPAQUE", "TENTATIVE", "TENTATIVE"),
        ("oof", "OPAQUE", None, "OOF"),
    ],
)
def test_availability_mapping_round_trips(
    availability: str, transp: str, status: str | None, cdo: str
) -> None:
    text = compose.new_event(_fields(availability=availability), NOW)
    event = _event(text)
    assert str(event["TRANSP"]) == transp
    assert (str(event["STATUS"]) if "STATUS" in event else None) == status
    assert str(event["X-MICROSOFT-CDO-BUSYSTATUS"]) == cdo
    assert compose.fields_of(text).availability == availability


def test_leaving_tentative_drops_only_that_status() -> None:
    text = compose.new_event(_fields(availability="tentative"), NOW)
    back = compose.edit(text, _fields(availability="busy"), NOW)
    assert "STATUS" not in _event(back)


@pytest.mark.parametrize(
    ("recurrence", "expected"),
    [
        (Recurrence("DAILY", interval=2, count=3), "FREQ=DAILY;INTERVAL=2;COUNT=3"),
        (Recurrence("WEEKLY", days=("MO", "FR")), "FREQ=WEEKLY;BYDAY=MO,FR"),
        (Recurrence("MONTHLY", until=dt.date(2026, 6, 30)), "FREQ=MONTHLY;UNTIL=20260630T215959Z"),
        (Recurrence("YEARLY"), "FREQ=YEARLY"),
    ],
)
def test_recurrence_rules(recurrence: Recurrence, expected: str) -> None:
    text = compose.new_event(_fields(recurrence=recurrence), NOW)
    line = next(x for x in text.splitlines() if x.startswith("RRULE:"))
    assert set(line[len("RRULE:") :].split(";")) == set(expected.split(";"))
    assert compose.fields_of(text).recurrence == Recurrence(
        recurrence.freq,
        recurrence.interval,
        recurrence.days,
        recurrence.until,
        recurrence.count,
    )


def test_an_edit_keeps_what_the_form_does_not_know() -> None:
    stored = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//client//EN",
            "BEGIN:VEVENT",
            "UID:keep-1",
            "DTSTAMP:20250101T000000Z",
            "DTSTART;TZID=Europe/Berlin:20260105T090000",
            "DTEND;TZID=Europe/Berlin:20260105T100000",
            "SUMMARY:Old",
            "X-CLIENT-THING:yes",
            "ORGANIZER:mailto:alice@example.com",
            "ATTENDEE;PARTSTAT=ACCEPTED;X-CALSERVER-COMMENT=fine:mailto:bob@example.com",
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            "DESCRIPTION:Soon",
            "TRIGGER:-PT5M",
            "END:VALARM",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    fields = compose.fields_of(stored)
    fields.summary = "New"
    text = compose.edit(stored, fields, NOW)
    event = _event(text)
    assert str(event["SUMMARY"]) == "New" and str(event["UID"]) == "keep-1"
    assert str(event["X-CLIENT-THING"]) == "yes"
    assert len(event.walk("VALARM")) == 1
    bob = next(a for a in compose.itip.attendees(event) if "bob" in str(a))
    assert bob.params["PARTSTAT"] == "ACCEPTED" and bob.params["X-CALSERVER-COMMENT"] == "fine"


def test_participants_make_a_meeting_with_the_user_as_organizer() -> None:
    text = compose.new_event(
        _fields(
            participants=[
                Participant("mailto:bob@example.com", "Bob"),
                Participant("/@team/", "team", group=True),
            ],
            organizer="mailto:alice@example.com",
            organizer_name="alice",
            email=False,
        ),
        NOW,
    )
    event = _event(text)
    assert str(event["ORGANIZER"]) == "mailto:alice@example.com"
    found = {str(a): a for a in compose.itip.attendees(event)}
    assert found["mailto:bob@example.com"].params["PARTSTAT"] == "NEEDS-ACTION"
    assert found["/@team/"].params["CUTYPE"] == "GROUP"
    assert found["mailto:alice@example.com"].params["ROLE"] == "CHAIR"
    assert str(event["X-CALSERVER-EMAIL"]) == "OFF"
    read = compose.fields_of(text)
    assert [p.address for p in read.participants or []] == ["mailto:bob@example.com", "/@team/"]
    assert read.email is False
    alone = compose.edit(text, _fields(participants=[]), NOW)
    assert "ORGANIZER" not in alone and "ATTENDEE" not in alone


def test_editing_one_occurrence_adds_an_override() -> None:
    text = _weekly()
    rid = "20260107T080000Z"  # Wednesday 9:00 Berlin
    changed = compose.edit(
        text,
        _fields(
            summary="Moved",
            start=dt.datetime(2026, 1, 7, 11, 0, tzinfo=BERLIN),
            end=dt.datetime(2026, 1, 7, 12, 0, tzinfo=BERLIN),
        ),
        NOW,
        rid=rid,
    )
    override = _event(changed, rid)
    assert str(override["SUMMARY"]) == "Moved" and "RRULE" not in override
    assert str(_event(changed)["SUMMARY"]) == "Standup"
    assert compose.fields_of(changed, rid).summary == "Moved"
    again = compose.edit(changed, _fields(summary="Again"), NOW, rid=rid)
    assert len(icalendar.Calendar.from_ical(again).walk("VEVENT")) == 2


def test_deleting_one_occurrence_adds_an_exdate_and_drops_its_override() -> None:
    rid = "20260107T080000Z"
    text = compose.edit(_weekly(), _fields(summary="Moved"), NOW, rid=rid)
    gone = compose.exclude(text, rid, NOW)
    assert "EXDATE;TZID=Europe/Berlin:20260107T090000" in gone
    assert len(icalendar.Calendar.from_ical(gone).walk("VEVENT")) == 1


def test_this_and_following_ends_the_series_and_starts_a_new_one() -> None:
    text = _weekly()
    rid = "20260114T080000Z"
    old, new = compose.split(
        text,
        rid,
        _fields(
            summary="Later",
            start=dt.datetime(2026, 1, 14, 10, 0, tzinfo=BERLIN),
            end=dt.datetime(2026, 1, 14, 11, 0, tzinfo=BERLIN),
            recurrence=Recurrence("WEEKLY", days=("WE",)),
        ),
        NOW,
        uid="u2",
    )
    base = _event(old)
    rule = base["RRULE"]
    assert rule["UNTIL"][0] == dt.datetime(2026, 1, 14, 7, 59, 59, tzinfo=dt.UTC)
    starts = list(rrulestr(rule.to_ical().decode(), dtstart=base["DTSTART"].dt))
    assert starts[-1] == dt.datetime(2026, 1, 12, 9, 0, tzinfo=BERLIN)
    second = _event(new)
    assert str(second["UID"]) == "u2" and str(second["SUMMARY"]) == "Later"
    assert "RRULE:FREQ=WEEKLY;BYDAY=WE" in new
    with pytest.raises(compose.ComposeError):
        compose.end_before(text, "20260105T080000Z", NOW)


def test_duplicate_gets_a_new_uid_and_no_meeting() -> None:
    text = compose.new_event(
        _fields(
            participants=[Participant("mailto:bob@example.com")],
            organizer="mailto:alice@example.com",
        ),
        NOW,
        uid="orig",
    )
    copy = compose.duplicate(text, NOW, uid="copy")
    assert "UID:copy" in copy and "orig" not in copy
    assert "ATTENDEE" not in copy and "ORGANIZER" not in copy


def test_an_answer_sets_partstat_and_comment() -> None:
    text = compose.new_event(
        _fields(
            participants=[Participant("mailto:bob@example.com")],
            organizer="mailto:alice@example.com",
        ),
        NOW,
    )
    answer = compose.answered(text, "mailto:bob@example.com", "DECLINED", "ill", NOW)
    event = _event(answer)
    bob = compose.itip.find(event, "mailto:bob@example.com")
    assert bob.params["PARTSTAT"] == "DECLINED" and str(event["COMMENT"]) == "ill"
    removed = compose.without_participant(text, "mailto:BOB@example.com", NOW)
    assert "bob@" not in removed
    with pytest.raises(compose.ComposeError):
        compose.answered(text, "mailto:carol@example.com", "ACCEPTED", "", NOW)


def test_bad_occurrence_names_are_refused() -> None:
    with pytest.raises(compose.ComposeError):
        compose.normal_rid("tomorrow")
    assert compose.normal_rid("2026-01-07T08:00:00Z") == "20260107T080000Z"


def test_occurrence_names_are_taken_to_the_series_own_form() -> None:
    zoned = _weekly()
    assert compose.canonical_rid(zoned, "20260107T090000", "UTC") == "20260107T080000Z"
    assert compose.canonical_rid(zoned, "20260107T080000Z") == "20260107T080000Z"
    floating = zoned.replace(";TZID=Europe/Berlin", "")
    assert compose.canonical_rid(floating, "20260107T080000Z", "Europe/Berlin") == "20260107T090000"
    changed = compose.edit(
        floating,
        _fields(start=dt.datetime(2026, 1, 7, 11, 0), end=dt.datetime(2026, 1, 7, 12, 0)),
        NOW,
        rid=compose.canonical_rid(floating, "20260107T080000Z", "Europe/Berlin"),
    )
    assert "RECURRENCE-ID:20260107T090000" in changed
    all_day = compose.new_event(
        _fields(
            all_day=True,
            start=dt.date(2026, 1, 5),
            end=dt.date(2026, 1, 6),
            recurrence=Recurrence("DAILY"),
        ),
        NOW,
    )
    assert compose.canonical_rid(all_day, "20260107") == "20260107"
    assert compose.canonical_rid(all_day, "20260107T000000Z") == "20260107"
    assert compose.canonical_rid(zoned, "") == ""
