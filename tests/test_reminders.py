"""Reminders by e-mail (issue 16) in-process, on SQLite and PostgreSQL: the due-queue
follows the events through the storage's write hook, the worker delivers each
occurrence once at the time the movable clock says, and what a reminder says follows
what its person may see."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from email import message_from_string
from email.policy import default as default_policy
from typing import Any

import pytest
from sqlalchemy import select, update

from calserver import calendars, cli
from calserver.accounts import settings, users
from calserver.app import make_app
from calserver.db.models import items, mail_outbox, reminder_queue, reminders
from calserver.reminders import clock, worker
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import PASSWORD, WSGIClient

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
JSON = {"Content-Type": "application/json"}


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def moved_clock() -> Any:
    """The clock every part of calserver.reminders reads, fixed where a test puts it."""
    now = {"t": ts("2026-11-30T00:00:00Z")}
    clock.set_source(lambda: now["t"])
    yield now
    clock.set_source(None)


@pytest.fixture
def world(configuration: Any, engine: Any, moved_clock: Any) -> WSGIClient:
    for name in ("alice", "bob", "carol"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    client = WSGIClient(make_app(configuration), configuration, default_user="alice")
    calendars.create(Storage(configuration), "alice/work")
    return client


def series(
    uid: str = "weekly",
    start: str = "20261201T100000Z",
    extra: str = "",
    rule: str = "FREQ=WEEKLY;COUNT=5",
    summary: str = "Team meeting",
    end: str = "20261201T110000Z",
) -> str:
    rrule = f"RRULE:{rule}\r\n" if rule else ""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
        f"DTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\n"
        f"LOCATION:Room 4\r\n{rrule}{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def put(client: WSGIClient, path: str, body: str, user: str = "alice") -> None:
    status = client.request("PUT", path, body, ICS, user=user).status
    assert status in (201, 204), status


def api(
    client: WSGIClient, method: str, path: str, body: Any = None, user: str = "alice"
) -> tuple[int, Any]:
    reply = client.request(
        method,
        "/.api/v1" + path,
        json.dumps(body) if body is not None else b"",
        JSON if body is not None or method == "POST" else {},
        user=user,
    )
    return reply.status, (json.loads(reply.body) if reply.body else None)


def remind(
    client: WSGIClient, calendar: str, uid: str, user: str = "alice", **when: Any
) -> tuple[int, Any]:
    return api(
        client, "POST", "/me/reminders", {"calendar": calendar, "uid": uid, **when}, user=user
    )


def pending(engine: Any) -> list[tuple[str, str, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                reminder_queue.c.user_name, reminder_queue.c.occurrence, reminder_queue.c.fire_at
            )
            .where(reminder_queue.c.state == "pending")
            .order_by(reminder_queue.c.fire_at)
        ).all()
    return [(r.user_name, r.occurrence, r.fire_at) for r in rows]


def mails(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(mail_outbox).order_by(mail_outbox.c.id)).all()
    return [
        (row.recipients, message_from_string(row.message, policy=default_policy)) for row in rows
    ]


def run(engine: Any, configuration: Any, at: str) -> worker.Counts:
    return worker.run_once(engine, configuration, now=ts(at))


# --- one message per occurrence, the next queued after each ----------------------------


def test_weekly_series_reminds_once_per_occurrence_and_queues_the_next(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    put(world, "/alice/work/weekly.ics", series())
    status, made = remind(world, "alice/work", "weekly", minutes_before=15)
    assert status == 201, made
    assert made["next"] == "2026-12-01T09:45:00Z" and made["description"] == "15 minutes before"
    assert run(engine, configuration, "2026-12-01T09:44:00Z").sent == 0
    assert mails(engine) == []
    assert run(engine, configuration, "2026-12-01T09:45:00Z").sent == 1
    assert run(engine, configuration, "2026-12-01T09:46:00Z").sent == 0  # exactly once
    [(to, message)] = mails(engine)
    assert to == "alice@example.org"
    assert message["Subject"].startswith("Reminder: Team meeting, Tue 01 Dec 2026")
    assert "Where: Room 4" in message.get_content()
    assert pending(engine) == [("alice", "20261208T100000Z", ts("2026-12-08T09:45:00Z"))]
    assert run(engine, configuration, "2026-12-08T09:50:00Z").sent == 1
    assert pending(engine)[0][1] == "20261215T100000Z"
    assert len(mails(engine)) == 2
    # an edit right after a delivery queues again, past what was already sent
    put(world, "/alice/work/weekly.ics", series(summary="Team meeting (edited)"))
    assert pending(engine)[0][1] == "20261215T100000Z"


def test_an_exdate_a_cancelled_occurrence_and_an_edit_that_moves_are_followed(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    put(world, "/alice/work/weekly.ics", series())
    assert remind(world, "alice/work", "weekly", minutes_before=15)[0] == 201
    # a client adds an EXDATE for the first occurrence: that reminder goes
    put(world, "/alice/work/weekly.ics", series(extra="EXDATE:20261201T100000Z\r\n"))
    assert [p[1] for p in pending(engine)] == ["20261208T100000Z"]
    assert run(engine, configuration, "2026-12-01T09:45:00Z").sent == 0
    # the next one is cancelled by an overridden instance
    cancelled = series(extra="EXDATE:20261201T100000Z\r\n").replace(
        "END:VCALENDAR",
        "BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20261101T000000Z\r\n"
        "RECURRENCE-ID:20261208T100000Z\r\nDTSTART:20261208T100000Z\r\n"
        "DTEND:20261208T110000Z\r\nSUMMARY:Team meeting\r\nSTATUS:CANCELLED\r\n"
        "END:VEVENT\r\nEND:VCALENDAR",
    )
    put(world, "/alice/work/weekly.ics", cancelled)
    assert [p[1] for p in pending(engine)] == ["20261215T100000Z"]
    # the series moves an hour later: its pending reminder moves with it
    put(
        world,
        "/alice/work/weekly.ics",
        series(
            start="20261201T110000Z",
            end="20261201T120000Z",
            extra="EXDATE:20261201T110000Z,20261208T110000Z\r\n",
        ),
    )
    assert pending(engine) == [("alice", "20261215T110000Z", ts("2026-12-15T10:45:00Z"))]
    # deleted: nothing left to remind of
    assert world.request("DELETE", "/alice/work/weekly.ics").status in (200, 204)
    assert pending(engine) == []
    assert api(world, "GET", "/me/reminders")[1] == {"reminders": []}


def test_a_stopped_worker_sends_nothing_stale_and_records_it_as_missed(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    put(world, "/alice/work/weekly.ics", series())
    remind(world, "alice/work", "weekly", minutes_before=15)
    counts = run(engine, configuration, "2026-12-01T10:45:00Z")  # an hour late
    assert (counts.sent, counts.missed) == (0, 1)
    assert mails(engine) == []
    with engine.connect() as conn:
        states = conn.execute(select(reminder_queue.c.state)).scalars().all()
    assert sorted(states) == ["missed", "pending"]
    assert pending(engine)[0][1] == "20261208T100000Z"


def test_an_organizer_who_is_also_reminded_by_the_clients_email_alarm_gets_one_message(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    alarm = (
        "ORGANIZER:mailto:alice@example.org\r\nATTENDEE:mailto:alice@example.org\r\n"
        "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-PT15M\r\nSUMMARY:x\r\nDESCRIPTION:x\r\n"
        "ATTENDEE:mailto:alice@example.org\r\nEND:VALARM\r\n"
    )
    put(world, "/alice/work/weekly.ics", series(rule="", extra=alarm))
    mine = api(world, "GET", "/me/reminders")[1]["reminders"]
    assert [(r["source"], r["minutes_before"]) for r in mine] == [("valarm", 15)]
    assert remind(world, "alice/work", "weekly", minutes_before=15)[0] == 201
    assert run(engine, configuration, "2026-12-01T09:45:00Z").sent == 1
    assert len(mails(engine)) == 1


def test_a_second_copy_of_the_same_event_reminds_its_person_once(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    calendars.create(Storage(configuration), "alice/home")
    put(world, "/alice/work/weekly.ics", series(rule=""))
    put(world, "/alice/home/copy.ics", series(rule=""))
    remind(world, "alice/work", "weekly", minutes_before=15)
    remind(world, "alice/home", "weekly", minutes_before=15)
    assert len(pending(engine)) == 1
    assert run(engine, configuration, "2026-12-01T09:45:00Z").sent == 1
    assert len(mails(engine)) == 1


def test_an_event_changed_behind_the_storages_back_is_queued_again_not_sent_stale(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    put(world, "/alice/work/weekly.ics", series(rule=""))
    remind(world, "alice/work", "weekly", minutes_before=15)
    # the scheduling engine (or a MOVE) rewrites the item without the write hook
    moved = series(rule="", start="20261201T150000Z", end="20261201T160000Z")
    with engine.begin() as conn:
        conn.execute(update(items).where(items.c.uid == "weekly").values(text=moved))
    counts = run(engine, configuration, "2026-12-01T09:45:00Z")
    assert (counts.sent, counts.requeued) == (0, 1)
    assert mails(engine) == []
    assert pending(engine) == [("alice", "", ts("2026-12-01T14:45:00Z"))]
    assert run(engine, configuration, "2026-12-01T14:45:00Z").sent == 1


# --- who may be reminded of what ---------------------------------------------------------


def test_a_busy_only_viewer_is_reminded_of_busy_time_only_and_private_events_of_nothing(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    put(world, "/alice/work/weekly.ics", series(rule="", summary="Salary talk"))
    put(world, "/alice/work/private.ics", series(uid="private", rule="", extra="CLASS:PRIVATE\r\n"))
    manage.share(engine, "alice/work", "bob", "busy")
    status, made = remind(world, "bob/alice~work", "weekly", user="bob", minutes_before=15)
    assert status == 201, made
    assert remind(world, "bob/alice~work", "private", user="bob", minutes_before=15)[0] == 404
    assert run(engine, configuration, "2026-12-01T09:45:00Z").sent == 1
    [(to, message)] = mails(engine)
    assert to == "bob@example.org"
    text = message["Subject"] + message.get_content()
    assert "Busy, 10:00\u201311:00" in text
    assert "Salary" not in text and "Room 4" not in text


def test_a_reminder_of_a_calendar_no_longer_shared_is_not_sent(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    put(world, "/alice/work/weekly.ics", series(rule=""))
    manage.share(engine, "alice/work", "bob", "read")
    assert remind(world, "bob/alice~work", "weekly", user="bob", minutes_before=15)[0] == 201
    manage.unshare(engine, "alice/work", "bob")
    counts = run(engine, configuration, "2026-12-01T09:45:00Z")
    assert (counts.sent, counts.hidden) == (0, 1)
    assert mails(engine) == []


def test_a_group_calendar_refuses_reminders_with_409_and_says_why(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    manage.create_group(engine, "staff", admin="alice")
    calendars.create(Storage(configuration), "@staff/board")
    put(world, "/@staff/board/weekly.ics", series(rule=""))
    status, body = remind(world, "@staff/board", "weekly", minutes_before=15)
    assert status == 409 and "group calendar" in body["error"]
    assert pending(engine) == []


def test_bad_input_is_refused_with_its_reason_and_changes_nothing(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    put(world, "/alice/work/weekly.ics", series(rule=""))
    cases = [
        ({"minutes_before": 40321}, 400, "28 days"),
        ({"minutes_before": -5}, 400, "after the event"),
        ({"at": "2026-12-01T10:30:00Z"}, 400, "after the event"),
        ({"at": "tomorrow"}, 400, "ISO 8601"),
        ({"minutes_before": 5, "channel": "fax"}, 400, "channel"),
        ({"minutes_before": 5, "channel": "sms"}, 409, "SMS"),
        ({}, 400, "minutes_before or at"),
    ]
    for when, status, reason in cases:
        got, body = remind(world, "alice/work", "weekly", **when)
        assert (got, reason in body["error"]) == (status, True), (when, body)
    assert remind(world, "alice/work", "nothing", minutes_before=5)[0] == 404
    for minutes in range(10):
        assert remind(world, "alice/work", "weekly", minutes_before=minutes)[0] == 201
    got, body = remind(world, "alice/work", "weekly", minutes_before=30)
    assert got == 400 and "at most 10" in body["error"]
    assert len(api(world, "GET", "/me/reminders")[1]["reminders"]) == 10


def test_edit_cancel_absolute_time_and_per_event_replacement(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    put(world, "/alice/work/weekly.ics", series())
    status, made = remind(world, "alice/work", "weekly", at="2026-12-01T08:00:00Z")
    assert status == 201 and made["next"] == "2026-12-01T08:00:00Z"
    status, changed = api(world, "PATCH", f"/me/reminders/{made['id']}", {"minutes_before": 60})
    assert status == 200 and changed["next"] == "2026-12-01T09:00:00Z"
    assert api(world, "PATCH", "/me/reminders/999", {"minutes_before": 60})[0] == 404
    assert api(world, "DELETE", f"/me/reminders/{made['id']}", user="bob")[0] == 404
    assert api(world, "DELETE", f"/me/reminders/{made['id']}")[0] == 204
    assert pending(engine) == []
    path = "/calendars/alice/work/events/weekly/reminders"
    status, body = api(
        world,
        "PUT",
        path,
        {"reminders": [{"channel": "email", "minutes_before": 10}, {"minutes_before": 1440}]},
    )
    assert status == 200
    assert sorted(r["minutes_before"] for r in body["reminders"]) == [10, 1440]
    assert api(world, "PUT", path, {"reminders": [{"minutes_before": 99999}]})[0] == 400
    assert len(api(world, "GET", path)[1]["reminders"]) == 2  # nothing changed
    assert api(world, "PUT", path, {"reminders": []})[1] == {"reminders": []}


def test_a_calendars_default_reminder_is_given_to_each_new_event(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    path = "/calendars/alice/work/reminder-defaults"
    status, body = api(world, "PUT", path, {"reminders": [{"minutes_before": 30}]})
    assert status == 200 and body == {"reminders": [{"channel": "email", "minutes_before": 30}]}
    put(world, "/alice/work/weekly.ics", series(rule=""))
    [made] = api(world, "GET", "/me/reminders")[1]["reminders"]
    assert (made["source"], made["next"]) == ("default", "2026-12-01T09:30:00Z")
    put(world, "/alice/work/weekly.ics", series(rule="", summary="Edited"))  # not new
    assert len(api(world, "GET", "/me/reminders")[1]["reminders"]) == 1


# --- daylight saving time ---------------------------------------------------------------


def test_reminders_follow_brussels_local_time_across_both_daylight_saving_changes(
    world: WSGIClient, engine: Any, configuration: Any, moved_clock: Any
) -> None:
    settings.update_settings(engine, configuration, "alice", timezone="Europe/Brussels")
    moved_clock["t"] = ts("2027-03-01T00:00:00Z")
    body = series(start="20270321T100000", end="20270321T110000", rule="FREQ=WEEKLY;COUNT=2")
    body = body.replace("DTSTART:", "DTSTART;TZID=Europe/Brussels:").replace(
        "DTEND:", "DTEND;TZID=Europe/Brussels:"
    )
    put(world, "/alice/work/weekly.ics", body)
    remind(world, "alice/work", "weekly", minutes_before=15)
    # 09:45 in Brussels: 08:45 UTC in winter, 07:45 UTC on the last Sunday of March
    assert pending(engine)[0][2] == ts("2027-03-21T08:45:00Z")
    run(engine, configuration, "2027-03-21T08:45:00Z")
    assert pending(engine)[0][2] == ts("2027-03-28T07:45:00Z")
    autumn = body.replace("20270321T", "20271024T")
    put(world, "/alice/work/weekly.ics", autumn)
    moved_clock["t"] = ts("2027-10-01T00:00:00Z")
    put(world, "/alice/work/weekly.ics", autumn)
    assert pending(engine)[0][2] == ts("2027-10-24T07:45:00Z")
    assert run(engine, configuration, "2027-10-24T07:45:00Z").sent == 1
    assert pending(engine)[0][2] == ts("2027-10-31T08:45:00Z")  # back to winter time
    messages = [m for _, m in mails(engine)]
    assert all("10:00\u201311:00" in m["Subject"] for m in messages)


# --- several workers ------------------------------------------------------------------------


def test_two_workers_at_once_deliver_every_reminder_exactly_once(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    for number in range(12):
        uid = f"event-{number}"
        put(world, f"/alice/work/{uid}.ics", series(uid=uid, rule=""))
        assert remind(world, "alice/work", uid, minutes_before=15)[0] == 201
    totals: list[int] = []
    barrier = threading.Barrier(2)

    def one() -> None:
        barrier.wait()
        totals.append(
            worker.deliver_due(engine, configuration, now=ts("2026-12-01T09:45:00Z")).sent
        )

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(totals) == 12
    assert len(mails(engine)) == 12
    subjects = sorted(str(m["Subject"]) for _, m in mails(engine))
    assert len(set(subjects)) == 1 and len(subjects) == 12
    with engine.connect() as conn:
        assert set(conn.execute(select(reminder_queue.c.state)).scalars()) == {"sent"}


def test_a_row_whose_lease_was_taken_over_is_not_sent_twice(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    put(world, "/alice/work/weekly.ics", series(rule=""))
    remind(world, "alice/work", "weekly", minutes_before=15)
    now = ts("2026-12-01T09:45:00Z")
    first = worker.claim(engine, now, lease=10)
    assert first is not None
    assert worker.claim(engine, now + 5) is None  # held
    second = worker.claim(engine, now + 11)  # the first worker's lease ran out
    assert second is not None
    counts = worker.Counts()
    worker._deliver(engine, configuration, second[0], second[1], now + 11, counts)
    with pytest.raises(worker._LeaseLost):
        worker._deliver(engine, configuration, first[0], first[1], now + 12, counts)
    assert len(mails(engine)) == 1
    with engine.begin() as conn:
        conn.execute(update(reminders).values(channel="email"))


# --- default alarms of calendars -------------------------------------------------------------

DEFAULT_ALARMS = (
    '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
    "<C:default-alarm-vevent-datetime/><C:default-alarm-vevent-date/>"
    "</D:prop></D:propfind>"
)


def test_calendars_advertise_the_users_email_defaults_as_default_alarms(
    world: WSGIClient, engine: Any, configuration: Any
) -> None:
    xml = {"Content-Type": "application/xml", "Depth": "0"}
    empty = world.request("PROPFIND", "/alice/work/", DEFAULT_ALARMS, xml)
    assert empty.status == 207 and "404" not in empty.text, empty.text
    assert "<C:default-alarm-vevent-datetime />" in empty.text.replace(
        "<C:default-alarm-vevent-datetime/>", "<C:default-alarm-vevent-datetime />"
    )
    api(
        world,
        "PUT",
        "/calendars/alice/work/reminder-defaults",
        {"reminders": [{"minutes_before": 15}, {"minutes_before": 60}]},
    )
    found = world.request("PROPFIND", "/alice/work/", DEFAULT_ALARMS, xml)
    assert found.text.count("TRIGGER:-PT15M") == 2 and "ACTION:EMAIL" in found.text
    assert "TRIGGER:-PT60M" in found.text
    # bob, who does not see the calendar, learns nothing of it
    assert world.request("PROPFIND", "/alice/work/", DEFAULT_ALARMS, xml, user="bob").status in (
        403,
        404,
    )


def test_the_cli_adds_lists_and_cancels_a_users_reminders(
    world: WSGIClient, engine: Any, configuration: Any, capsys: Any
) -> None:
    put(world, "/alice/work/weekly.ics", series(rule=""))
    base = [
        "--storage-database-url",
        configuration.get("storage", "database_url"),
        "--storage-data-folder",
        configuration.get("storage", "data_folder"),
    ]
    assert (
        cli.main([*base, "reminders", "alice", "--add", "alice/work", "weekly", "--minutes", "30"])
        == 0
    )
    assert cli.main([*base, "reminders", "alice", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    [made] = listing["reminders"]
    assert (made["minutes_before"], made["next"]) == (30, "2026-12-01T09:30:00Z")
    assert listing["phone"] is None and listing["agenda"]["enabled"] is False
    assert (
        cli.main(
            [*base, "reminders", "alice", "--add", "alice/work", "weekly", "--minutes", "99999"]
        )
        != 0
    )
    assert "28 days" in capsys.readouterr().err
    assert cli.main([*base, "reminders", "alice", "--cancel", str(made["id"])]) == 0
    assert cli.main([*base, "reminders", "alice"]) == 0
    assert "alice has no reminders" in capsys.readouterr().out
    assert cli.main([*base, "sms-queue"]) == 0
    assert capsys.readouterr().out.strip() == "no SMS waiting"
