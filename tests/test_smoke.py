"""The two commands: a server starts, a CalDAV client connects and stores an event."""

import caldav

from tests.conftest import PASSWORD


def test_caldav_client_stores_and_finds_event(live_server):
    client = caldav.DAVClient(live_server.url + "/", username="alice", password=PASSWORD)
    principal = client.principal()
    calendar = principal.make_calendar(name="Work", cal_id="work")
    calendar.save_event(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
        "UID:smoke-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
        "DTEND:20260105T110000Z\r\nSUMMARY:Smoke\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    import datetime as dt

    found = calendar.search(
        start=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        end=dt.datetime(2026, 1, 6, tzinfo=dt.UTC),
        event=True,
    )
    assert [e.icalendar_component["UID"] for e in found] == ["smoke-1"]
