"""Meetings under concurrent writers on PostgreSQL with several server processes: the
organizer changing a meeting while an attendee answers it writes into both calendars
from both sides; no request may fail (RFC 6638 3.2 on a server of several processes)."""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from calserver import db
from calserver.accounts import users
from tests.conftest import PASSWORD, LiveServer, _reset_pg, start_server

pytestmark = [pytest.mark.live, pytest.mark.postgresql]

ROUNDS = 12


@pytest.fixture(scope="module")
def server(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    _reset_pg(pg_database)
    db.dispose_engines()
    live = start_server(
        pg_database, tmp_path_factory.mktemp("meetings") / "data", serve_args=("--workers", "3")
    )
    try:
        for name in ("alice", "bob"):
            users.add(db.get_engine(pg_database), name, PASSWORD, f"{name}@example.org")
        yield live
    finally:
        live.stop()
        db.dispose_engines()


def meeting(uid: str, category: str, partstat: str = "NEEDS-ACTION") -> str:
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//test//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20260101T000000Z",
            "DTSTART:20301201T100000Z",
            "DURATION:PT1H",
            "SUMMARY:Race",
            f"CATEGORIES:{category}",
            "ORGANIZER:mailto:alice@example.org",
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org",
            f"ATTENDEE;PARTSTAT={partstat}:mailto:bob@example.org",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


def test_organizer_and_attendee_writing_at_once_never_fail(server: LiveServer) -> None:
    session = {name: requests.Session() for name in ("alice", "bob")}
    for name, client in session.items():
        client.auth = (name, PASSWORD)
        assert client.request("MKCALENDAR", f"{server.url}/{name}/cal/").status_code == 201
    uid = str(uuid.uuid4())
    url = {name: f"{server.url}/{name}/cal/{uid}.ics" for name in session}
    assert session["alice"].put(url["alice"], data=meeting(uid, "c0")).status_code == 201
    assert session["bob"].get(url["bob"]).status_code == 200
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def write(name: str, body: str) -> None:
        status = session[name].put(url[name], data=body).status_code
        with lock:
            statuses[status] += 1

    for round_ in range(ROUNDS):
        answer = ("ACCEPTED", "DECLINED")[round_ % 2]
        threads = [
            threading.Thread(target=write, args=("alice", meeting(uid, f"c{round_}"))),
            threading.Thread(target=write, args=("bob", meeting(uid, "c0", answer))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not [status for status in statuses if status >= 500], statuses
    assert statuses[204] >= ROUNDS  # the organizer's changes all went through
    # whichever came last: the organizer's latest change and the attendee's latest
    # answer are both there (the stored answer wins over the organizer's stale one)
    organizer = session["alice"].get(url["alice"]).text.replace("\r\n ", "")
    copy = session["bob"].get(url["bob"]).text.replace("\r\n ", "")
    assert "CATEGORIES:c11" in organizer
    assert "PARTSTAT=DECLINED;SCHEDULE-STATUS=2.0:mailto:bob@example.org" in organizer
    assert re.search(r"ATTENDEE;[^\r\n]*PARTSTAT=DECLINED[^\r\n]*:mailto:bob@example.org", copy)
