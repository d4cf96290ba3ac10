"""A calendar with more events than Radicale's ``[reporting] max_expand_occurrence`` syncs
with real clients: the limit applies to expansion (RFC 4791 9.6.5) only.

The server runs with the limit lowered to 50 and the calendar holds 60 events (a few of
them weekly series): the ``caldav`` library's ``events()`` (a calendar-query without
expand) and vdirsyncer (PROPFIND, then calendar-multiget) get every one of them; a
query with ``expand`` over more instances than the limit gets a 400 that names the
option (DAV:number-of-matches-within-limits, RFC 4791 7.8), one under it its instances.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import caldav
import pytest
import requests

from calserver import db
from calserver.accounts import users
from tests.conftest import PASSWORD, LiveServer, start_server

pytestmark = pytest.mark.live

LIMIT = 50
EVENTS = 60
SERIES = 5  # of the EVENTS, weekly series of four instances
AUTH = ("alice", PASSWORD)
CALDAV = "{urn:ietf:params:xml:ns:caldav}"


def event(number: int) -> str:
    day = 1 + number % 28
    rule = "RRULE:FREQ=WEEKLY;COUNT=4\r\n" if number < SERIES else ""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:big-{number}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:202611{day:02d}T{8 + number % 10:02d}0000Z\r\n"
        f"DTEND:202611{day:02d}T{9 + number % 10:02d}0000Z\r\n"
        f"{rule}SUMMARY:event {number}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("expand-limit")
    db.dispose_engines()
    url = "sqlite:///" + str(folder / "calserver.sqlite")
    live = start_server(url, folder / "data", "--reporting-max-expand-occurrence", str(LIMIT))
    try:
        users.add(db.get_engine(url), "alice", PASSWORD)
        db.dispose_engines()
        made = requests.request("MKCALENDAR", f"{live.url}/alice/big/", auth=AUTH, timeout=60)
        assert made.status_code == 201
        for number in range(EVENTS):
            stored = requests.put(
                f"{live.url}/alice/big/e{number}.ics",
                data=event(number),
                headers={"Content-Type": "text/calendar"},
                auth=AUTH,
                timeout=60,
            )
            assert stored.status_code == 201, stored.text
        yield live
    finally:
        live.stop()


def expand_query(start: str, end: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data><C:expand start="{start}" end="{end}"/>
  </C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="{start}" end="{end}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""


def report(server: LiveServer, body: str) -> requests.Response:
    return requests.request(
        "REPORT",
        f"{server.url}/alice/big/",
        data=body,
        headers={"Depth": "1", "Content-Type": "application/xml"},
        auth=AUTH,
        timeout=60,
    )


def test_caldav_events_gets_every_event_of_a_calendar_over_the_expand_limit(
    server: LiveServer,
) -> None:
    client = caldav.DAVClient(url=server.url + "/alice/", username="alice", password=PASSWORD)
    calendar = client.calendar(url=server.url + "/alice/big/")
    found = calendar.events()
    uids = {str(e.icalendar_component["UID"]) for e in found}
    assert uids == {f"big-{n}" for n in range(EVENTS)}


def test_vdirsyncer_syncs_every_event_of_a_calendar_over_the_expand_limit(
    server: LiveServer, tmp_path: Path
) -> None:
    local = tmp_path / "local"
    local.mkdir()
    config = tmp_path / "config"
    config.write_text(
        f"""[general]
status_path = "{tmp_path / "status"}"

[pair big]
a = "big_local"
b = "big_remote"
collections = ["from b"]

[storage big_local]
type = "filesystem"
path = "{local}"
fileext = ".ics"

[storage big_remote]
type = "caldav"
url = "{server.url}/alice/"
username = "alice"
password = "{PASSWORD}"
""",
        encoding="utf-8",
    )
    exe = str(Path(sys.executable).with_name("vdirsyncer"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, "-c", str(config), *args],
            input="y\n" * 10,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    discovered = run("discover")
    assert discovered.returncode == 0, discovered.stdout + discovered.stderr
    synced = run("sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    files = list((local / "big").glob("*.ics"))
    uids = {
        line.split(":", 1)[1]
        for path in files
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("UID:")
    }
    assert uids == {f"big-{n}" for n in range(EVENTS)}


def test_expand_over_the_limit_is_a_400_that_names_the_option(server: LiveServer) -> None:
    # the whole month: 55 single events and 5 series of 4 instances, 75 > LIMIT
    answer = report(server, expand_query("20261101T000000Z", "20261201T000000Z"))
    assert answer.status_code == 400, answer.text
    error = ET.fromstring(answer.content)
    assert error.find("{DAV:}number-of-matches-within-limits") is not None
    reason = error.findtext("{urn:calserver}reason") or ""
    assert f"[reporting] max_expand_occurrence = {LIMIT}" in reason
    # one day is under the limit: its instances, expanded
    day = report(server, expand_query("20261102T000000Z", "20261103T000000Z"))
    assert day.status_code == 207
    data = [e.text or "" for e in ET.fromstring(day.content).iter(f"{CALDAV}calendar-data")]
    assert data and all("RRULE" not in text for text in data)
