"""vobject's TZID registry is per object (``calserver.ical.vobjectzones``): one person's
VTIMEZONE never decides the times of another person's event.

Found by an attack review, and by CI: vobject kept one registry per process in which the
first VTIMEZONE of a name won, so an object with a bogus ``Asia/Tokyo`` (UTC+3), read
first, made every later ``TZID=Asia/Tokyo`` time that Radicale read six hours off until
the next restart, even in objects that carried the right VTIMEZONE.

Also the contract with vobject's private names this relies on: the module global
``__tzidMap`` through which ``getTzid`` and ``registerTzid`` work, ``readOne`` reading
through ``vobject.base.readComponents``, and ``VBase.serialize``.
"""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest
import vobject
import vobject.base
import vobject.icalendar

from calserver.ical import vobjectzones
from tests.conftest import LiveServer
from tests.e2e_support import send

UTC = datetime.UTC
TOKYO = (
    "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0900\r\n"
    "TZOFFSETTO:+0900\r\nTZNAME:JST\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
)
FAKE_TOKYO = TOKYO.replace("+0900", "+0300").replace("JST", "XST")


def calendar(uid: str, zone: str = TOKYO, start: str = "20260610T134500") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        f"{zone}BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART;TZID=Asia/Tokyo:{start}\r\nDTEND;TZID=Asia/Tokyo:20260610T144500\r\n"
        f"SUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def utc_start(text: str) -> datetime.datetime:
    start: datetime.datetime = vobject.readOne(text).vevent.dtstart.value
    return start.astimezone(UTC)


RIGHT = datetime.datetime(2026, 6, 10, 4, 45, tzinfo=UTC)  # 13:45 at UTC+9


@pytest.mark.unit
def test_vobjects_private_names_are_as_relied_on() -> None:
    assert vobjectzones.installed()
    registry = vars(vobject.icalendar)["__tzidMap"]
    assert registry is vars(vobject.icalendar)["__tzidMap"]
    assert getattr(vobject.base.readComponents, "calserver_per_object", False)
    assert vobject.readComponents is vobject.base.readComponents
    assert getattr(vobject.base.VBase.serialize, "calserver_per_object", False)
    # getTzid and registerTzid work through that global, inside a scope
    with vobjectzones.scope():
        vobject.icalendar.registerTzid("X/Test", vobject.icalendar.utc)
        assert vobject.icalendar.getTzid("X/Test", False) is vobject.icalendar.utc
        assert "X/Test" in registry
    assert vobject.icalendar.getTzid("X/Test", False) is None
    vobjectzones.install()  # idempotent: wraps once
    assert not getattr(vobject.base.readComponents.__wrapped__, "calserver_per_object", False)


@pytest.mark.unit
def test_a_bogus_zone_read_first_changes_no_other_object() -> None:
    assert utc_start(calendar("bogus", FAKE_TOKYO)) == RIGHT + datetime.timedelta(hours=6)
    assert utc_start(calendar("own")) == RIGHT  # its own VTIMEZONE
    assert utc_start(calendar("bare", zone="")) == RIGHT  # IANA's, not the bogus one
    # a client's several objects in one stream share their stream's zones
    both = list(vobject.readComponents(calendar("a", FAKE_TOKYO) + calendar("b", zone="")))
    assert [c.vevent.dtstart.value.astimezone(UTC) for c in both] == [
        RIGHT + datetime.timedelta(hours=6)
    ] * 2


@pytest.mark.unit
def test_serialising_adds_the_objects_own_zone() -> None:
    """A VTIMEZONE that vobject adds when it writes an object (one without it) is that
    of the object's own times, not one registered by another object."""
    vobject.readOne(calendar("bogus", FAKE_TOKYO))
    event = vobject.iCalendar()
    zone = vobject.readOne(calendar("own")).vtimezone.gettzinfo()
    event.add("vevent").add("dtstart").value = datetime.datetime(2026, 6, 10, 13, 45, tzinfo=zone)
    text = event.serialize()
    assert "TZOFFSETTO:+0900" in text and "+0300" not in text


@pytest.mark.unit
def test_a_read_advanced_from_two_threads_keeps_its_own_zones() -> None:
    stream = vobject.readComponents(calendar("a", FAKE_TOKYO) + calendar("b", zone=""))
    first = next(stream)
    seen: list[Any] = []
    other = threading.Thread(target=lambda: seen.append(utc_start(calendar("c", zone=""))))
    other.start()
    other.join()
    second = next(stream)
    assert seen == [RIGHT]
    assert first.vevent.dtstart.value.astimezone(UTC) == RIGHT + datetime.timedelta(hours=6)
    assert second.vevent.dtstart.value.astimezone(UTC) == RIGHT + datetime.timedelta(hours=6)


def _report(start: str, end: str) -> str:
    return (
        '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
        f'<C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data>'
        '</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter>'
        "</C:filter></C:calendar-query>"
    )


@pytest.mark.live
@pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)
def test_bobs_bogus_zone_does_not_move_alices_meeting(live_server: LiveServer) -> None:
    """Bob PUTs first an event whose VTIMEZONE says Asia/Tokyo is UTC+3; Alice's
    13:45 Tokyo event (with the right VTIMEZONE, and one with none) is found at 04:45 UTC
    by a time-range query with expand, on the server that read Bob's, and not at 10:45."""
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    for user in ("bob", "alice"):
        assert send(live_server, "MKCALENDAR", f"/{user}/cal/", user=user).status == 201
    bogus = calendar("bogus", FAKE_TOKYO)
    reply = send(live_server, "PUT", "/bob/cal/bogus.ics", bogus, headers, user="bob")
    assert reply.status == 201
    for uid, zone in (("own", TOKYO), ("bare", "")):
        text = calendar(uid, zone)
        assert send(live_server, "PUT", f"/alice/cal/{uid}.ics", text, headers).status == 201
    depth = {"Depth": "1", "Content-Type": "application/xml"}
    found = send(
        live_server, "REPORT", "/alice/cal/", _report("20260610T043000Z", "20260610T050000Z"), depth
    )
    assert found.status == 207
    body = found.body.decode()
    assert body.count("DTSTART:20260610T044500Z") == 2, body
    elsewhere = send(
        live_server, "REPORT", "/alice/cal/", _report("20260610T100000Z", "20260610T120000Z"), depth
    )
    assert "own.ics" not in elsewhere.body.decode() and "bare.ics" not in elsewhere.body.decode()
