"""Delete between two dates (issue 17 section 3) against a live server: a weekly series
with overridden occurrences and an endless daily series, cut with a dry run first and
then for real over the API and the CLI; what is left is read with the ``caldav`` library
and expanded with ``recurring_ical_events``; sync-collection names the changes; a
meeting the person organized sends its cancellation; bad input changes nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import caldav
import pytest
import recurring_ical_events
from icalendar import Calendar

from calserver import db
from calserver.db.models import mail_outbox
from calserver.ical.cutrange import cut
from tests.conftest import LiveServer
from tests.e2e_support import (
    ENGINES,
    calserver,
    module_server_with,
    new_calendar,
    send,
)

JSON = {"Content-Type": "application/json"}
UTC = dt.UTC

WEEKLY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:weekly
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260105T100000
DTEND;TZID=Europe/Berlin:20260105T110000
RRULE:FREQ=WEEKLY;COUNT=10
SUMMARY:Weekly sync
END:VEVENT
BEGIN:VEVENT
UID:weekly
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20260119T100000
DTSTART;TZID=Europe/Berlin:20260119T150000
DTEND;TZID=Europe/Berlin:20260119T160000
SUMMARY:Weekly sync (moved, inside)
END:VEVENT
BEGIN:VEVENT
UID:weekly
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20260302T100000
DTSTART;TZID=Europe/Berlin:20260302T150000
DTEND;TZID=Europe/Berlin:20260302T160000
SUMMARY:Weekly sync (moved, after)
END:VEVENT
END:VCALENDAR
"""
ENDLESS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:daily
DTSTAMP:20260101T000000Z
DTSTART:20260101T080000Z
DURATION:PT30M
RRULE:FREQ=DAILY
SUMMARY:Daily standup
END:VEVENT
END:VCALENDAR
"""


def single(uid: str, day: str, extra: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nBEGIN:VEVENT\n"
        f"UID:{uid}\nDTSTAMP:20260101T000000Z\nDTSTART:{day}T090000Z\nDTEND:{day}T100000Z\n"
        f"SUMMARY:Single {uid}\n{extra}END:VEVENT\nEND:VCALENDAR\n"
    )


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from module_server_with(request, tmp_path_factory, ["alice", "bob", "carol"])


def starts(calendar: caldav.Calendar, lo: dt.datetime, hi: dt.datetime) -> list[dt.datetime]:
    """Every occurrence start of the calendar's events in [lo, hi), read with the caldav
    library and expanded with recurring_ical_events."""
    found = []
    for event in calendar.events():
        parsed = Calendar.from_ical(event.data)
        for occurrence in recurring_ical_events.of(parsed).between(lo, hi):
            start = occurrence["DTSTART"].dt
            if lo <= start < hi:
                found.append(start.astimezone(UTC))
    return sorted(found)


def fill(calendar: caldav.Calendar) -> None:
    calendar.save_event(WEEKLY)
    calendar.save_event(ENDLESS)
    calendar.save_event(single("inside", "20260120"))
    calendar.save_event(single("outside", "20260301"))


def test_dry_run_then_delete_cuts_series_correctly(server: LiveServer) -> None:
    calendar = new_calendar(server, "alice")
    fill(calendar)
    path = f"alice/{calendar.url.path.strip('/').split('/')[-1]}"
    lo, hi = dt.datetime(2026, 1, 12, tzinfo=UTC), dt.datetime(2026, 1, 27, tzinfo=UTC)
    wide = (dt.datetime(2025, 6, 1, tzinfo=UTC), dt.datetime(2026, 6, 1, tzinfo=UTC))
    before = starts(calendar, *wide)
    expected = [s for s in before if not lo <= s < hi]
    # the expected answer worked out from the expansion: what starts in the range goes
    assert len(before) - len(expected) == 3 + 15 + 1  # weekly, daily, single
    token = calendar.objects_by_sync_token(load_objects=False)
    sync_token = token.sync_token

    url = f"/.api/v1/calendars/alice/{path.split('/')[1]}/delete-between"
    body = {"from": "2026-01-12", "to": "2026-01-27"}
    preview = send(server, "POST", url, json.dumps(body), JSON)
    assert preview.status == 200, preview.text
    plan = json.loads(preview.text)
    assert plan["done"] is False and plan["events"] == 1 and plan["occurrences"] == 19
    assert {s["uid"]: s["how"] for s in plan["series"]} == {"weekly": "exdate", "daily": "exdate"}
    assert starts(calendar, *wide) == before  # a dry run changes nothing

    done = send(server, "POST", url, json.dumps({**body, "dry_run": False}), JSON)
    assert done.status == 200 and json.loads(done.text)["done"] is True
    assert starts(calendar, *wide) == expected
    # the override inside is gone, the one after is kept
    weekly = calendar.event_by_uid("weekly").data
    assert "inside)" not in weekly and "after)" in weekly
    # the endless series goes on after the range
    later = starts(
        calendar, dt.datetime(2027, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 8, tzinfo=UTC)
    )
    assert len(later) == 7
    # sync-collection names the three changed resources
    changed = calendar.objects_by_sync_token(sync_token=sync_token, load_objects=False)
    assert len(list(changed)) == 3
    # the search index followed
    found = json.loads(send(server, "GET", "/.api/v1/search?q=single").text)["results"]
    assert {r["uid"] for r in found} == {"outside"}


def test_cli_restarts_and_ends_long_series_and_deletes_whole_ones(server: LiveServer) -> None:
    calendar = new_calendar(server, "alice")
    calendar.save_event(ENDLESS)
    calendar.save_event(WEEKLY)
    path = f"alice/{calendar.url.path.strip('/').split('/')[-1]}"
    out = calserver(
        server, "delete-between", path, "2025-01-01", "2029-06-01", "--dry-run", "--json"
    )
    plan = json.loads(out)
    assert {s["uid"]: s["how"] for s in plan["series"]} == {
        "daily": "restarted",
        "weekly": "deleted",
    }
    assert len(calendar.events()) == 2
    calserver(server, "delete-between", path, "2025-01-01", "2029-06-01")
    (left,) = calendar.events()
    first = starts(
        calendar, dt.datetime(2029, 1, 1, tzinfo=UTC), dt.datetime(2029, 6, 3, tzinfo=UTC)
    )
    assert first == [
        dt.datetime(2029, 6, 1, 8, tzinfo=UTC),
        dt.datetime(2029, 6, 2, 8, tzinfo=UTC),
    ]
    assert "weekly" not in left.data


def test_a_deleted_meeting_sends_its_cancellation(server: LiveServer) -> None:
    calendar = new_calendar(server, "alice")
    name = calendar.url.path.strip("/").split("/")[-1]
    meeting = single(
        "meet",
        "20270121",
        "ORGANIZER:mailto:alice@example.org\nATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\n"
        "ATTENDEE;RSVP=TRUE:mailto:outsider@elsewhere.example\n",
    )
    calendar.save_event(meeting)
    engine = db.get_engine(server.database_url)
    with engine.connect() as conn:
        before = conn.execute(mail_outbox.select()).all()
    assert any("METHOD:REQUEST" in row.message for row in before)  # it was sent
    calserver(server, "delete-between", f"alice/{name}", "2027-01-21", "2027-01-22")
    with engine.connect() as conn:
        after = conn.execute(mail_outbox.select()).all()
    sent = [row.message for row in after[len(before) :]]
    assert any("METHOD:CANCEL" in message for message in sent), sent
    assert calendar.events() == []


def test_bad_input_and_readers_change_nothing(server: LiveServer) -> None:
    calendar = new_calendar(server, "alice")
    calendar.save_event(single("keep", "20260120"))
    name = calendar.url.path.strip("/").split("/")[-1]
    url = f"/.api/v1/calendars/alice/{name}/delete-between"
    wrong = send(
        server,
        "POST",
        url,
        json.dumps({"from": "2026-02-01", "to": "2026-01-01", "dry_run": False}),
        JSON,
    )
    assert wrong.status == 400 and "before" in wrong.text
    garbled = send(server, "POST", url, json.dumps({"from": "soon", "to": "2026-01-01"}), JSON)
    assert garbled.status == 400
    calserver(server, "share", f"alice/{name}", "--with", "bob", "--level", "read")
    body = json.dumps({"from": "2026-01-01", "to": "2026-02-01", "dry_run": False})
    refused = send(server, "POST", url, body, JSON, user="bob")
    assert refused.status == 403
    assert send(server, "POST", url, body, JSON, user="carol").status == 404
    assert len(calendar.events()) == 1


def test_cut_keeps_every_occurrence_outside_the_range() -> None:
    """The pure cut, against recurring_ical_events, for ranges around the weekly series."""
    for lo_day, hi_day in ((1, 12), (12, 27), (19, 20), (26, 80), (1, 200)):
        lo = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(days=lo_day - 1)
        hi = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(days=hi_day - 1)
        every = [
            o["DTSTART"].dt.astimezone(UTC)
            for o in recurring_ical_events.of(Calendar.from_ical(WEEKLY)).between(
                dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC)
            )
        ]
        outcome = cut(WEEKLY, lo, hi)
        left: list[Any] = []
        if outcome.action == "change":
            left = [
                o["DTSTART"].dt.astimezone(UTC)
                for o in recurring_ical_events.of(Calendar.from_ical(outcome.text)).between(
                    dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC)
                )
            ]
        elif outcome.action == "keep":
            left = every
        assert sorted(left) == sorted(s for s in every if not lo <= s < hi), (lo_day, hi_day)
