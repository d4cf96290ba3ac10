"""Many clients writing one calendar at once, on PostgreSQL behind three server processes
(``calserver serve --workers 3``), each request on a new connection so that every
worker takes its share.

Each client reads, changes and writes back shared events with ``If-Match`` (RFC 9110
13.1.1), creates, changes and deletes events of its own, races the others for one new
href with ``If-None-Match: *`` and for one UID under different hrefs (RFC 4791
5.3.2.1, no-uid-conflict), and keeps its copy of the calendar up to date with
sync-collection (RFC 6578). In the end:

- every write that was accepted is there, every rejected one got 412 (or 409 for the
  UID), and no accepted change to a shared event was lost: an event holds exactly the
  marks of the writes accepted on it;
- a race for an href or a UID has exactly one winner; UIDs stay unique;
- every client's synchronised copy equals the calendar (hrefs and ETags), as does a
  fresh sync and what the ``caldav`` library's sync finds;
- ``calserver check`` finds nothing wrong.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import caldav
import pytest
import requests
from sqlalchemy import func, select

from calserver import db
from calserver.accounts import users
from calserver.db.models import collections, items
from tests.conftest import PASSWORD, LiveServer, _reset_pg, run_cli, start_server

pytestmark = [pytest.mark.live, pytest.mark.postgresql]

CLIENTS = 8
STEPS = 24
SHARED = 3
CONTEST_EVERY = 8  # steps
AUTH = ("alice", PASSWORD)
CAL = "/alice/team/"
DAV = "{DAV:}"
#: Radicale's log line at the end of a request (level info): "[PID/thread] [INFO] METHOD
#: response status for 'PATH' ...: STATUS ..."
RESPONSE_LINE = re.compile(r"\[(\d+)/[^\]]*\] \[\w+\] (\w+) response status for .*: (\d{3}) ")


@pytest.fixture(scope="module")
def server(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    _reset_pg(pg_database)
    db.dispose_engines()
    live = start_server(
        pg_database,
        tmp_path_factory.mktemp("concurrency") / "data",
        "--logging-level",
        "info",
        serve_args=("--workers", "3"),
    )
    try:
        users.add(db.get_engine(pg_database), "alice", PASSWORD)
        yield live
    finally:
        live.stop()
        db.dispose_engines()


def event(uid: str, marks: list[str] | None = None, summary: str = "event") -> str:
    lines = "".join(f"X-EDIT:{mark}\r\n" for mark in marks or [])
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//concurrency//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nSUMMARY:{summary}\r\n"
        f"{lines}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def request(
    server: LiveServer, method: str, path: str, body: str = "", **headers: str
) -> requests.Response:
    """One request on a connection of its own (the kernel picks the worker)."""
    headers = {key.replace("_", "-"): value for key, value in headers.items()}
    headers.setdefault("Connection", "close")
    if body:
        headers.setdefault("Content-Type", "text/calendar; charset=utf-8")
    return requests.request(
        method, server.url + path, data=body.encode(), headers=headers, auth=AUTH, timeout=60
    )


def sync_body(token: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
        f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )


@dataclass
class Replica:
    """A client's copy of the calendar, kept by sync-collection (RFC 6578 3.)."""

    token: str = ""
    etags: dict[str, str] = field(default_factory=dict)

    def sync(self, server: LiveServer) -> None:
        answer = request(
            server, "REPORT", CAL, sync_body(self.token), Content_Type="application/xml"
        )
        assert answer.status_code == 207, answer.text
        root = ET.fromstring(answer.content)
        for response in root.iter(f"{DAV}response"):
            href = response.findtext(f"{DAV}href") or ""
            status = response.findtext(f"{DAV}status") or ""
            if " 404 " in status:
                self.etags.pop(href, None)
            else:
                etag = response.findtext(f"{DAV}propstat/{DAV}prop/{DAV}getetag")
                assert etag, ET.tostring(response)
                self.etags[href] = etag
        self.token = root.findtext(f"{DAV}sync-token") or ""
        assert self.token


@dataclass
class Outcome:
    """What the clients were told, all clients together."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted_marks: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    rejected_marks: set[str] = field(default_factory=set)
    own: dict[str, str | None] = field(default_factory=dict)  # href -> last ETag, None: gone
    contests: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    uid_races: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    unexpected: list[str] = field(default_factory=list)


def client(
    server: LiveServer, number: int, barrier: threading.Barrier, outcome: Outcome
) -> Replica:
    rng = random.Random(number)
    replica = Replica()
    replica.sync(server)
    mine: dict[str, str] = {}  # href -> ETag

    def unexpected(what: str, answer: requests.Response) -> None:
        with outcome.lock:
            outcome.unexpected.append(
                f"client {number}: {what}: {answer.status_code} {answer.text[:200]}"
            )

    for step in range(STEPS):
        if step % CONTEST_EVERY == 0:
            barrier.wait(60)
            contest = f"contest-{step}.ics"
            answer = request(
                server, "PUT", CAL + contest, event(f"contest-{step}-{number}"), If_None_Match="*"
            )
            race = f"race-{step}"
            raced = request(server, "PUT", f"{CAL}{race}-{number}.ics", event(race))
            with outcome.lock:
                outcome.contests[contest].append(answer.status_code)
                outcome.uid_races[race].append(raced.status_code)
        choice = rng.random()
        if choice < 0.5:  # read, change and write back a shared event
            href = f"{CAL}shared-{rng.randrange(SHARED)}.ics"
            current = request(server, "GET", href)
            if current.status_code != 200:
                unexpected(f"GET {href}", current)
                continue
            mark = f"c{number}-s{step}"
            marks = [*re.findall(r"X-EDIT:(\S+)", current.text), mark]
            answer = request(
                server,
                "PUT",
                href,
                event(href.rsplit("/", 1)[1][:-4], marks),
                If_Match=current.headers["ETag"],
            )
            with outcome.lock:
                if answer.status_code in (201, 204):
                    outcome.accepted_marks[href].add(mark)
                elif answer.status_code == 412:
                    outcome.rejected_marks.add(mark)
                else:
                    outcome.unexpected.append(
                        f"PUT {href}: {answer.status_code} {answer.text[:200]}"
                    )
        elif choice < 0.7 or not mine:  # a new event of one's own
            href = f"{CAL}c{number}-{step}.ics"
            answer = request(server, "PUT", href, event(f"c{number}-{step}"), If_None_Match="*")
            if answer.status_code != 201:
                unexpected(f"PUT new {href}", answer)
                continue
            mine[href] = answer.headers["ETag"]
            with outcome.lock:
                outcome.own[href] = mine[href]
        elif choice < 0.85:  # change one's own event
            href = rng.choice(sorted(mine))
            uid = href.rsplit("/", 1)[1][:-4]
            answer = request(
                server, "PUT", href, event(uid, summary=f"step {step}"), If_Match=mine[href]
            )
            if answer.status_code != 204:
                unexpected(f"PUT changed {href}", answer)
                continue
            mine[href] = answer.headers["ETag"]
            with outcome.lock:
                outcome.own[href] = mine[href]
        else:  # delete one's own event
            href = rng.choice(sorted(mine))
            answer = request(server, "DELETE", href, If_Match=mine.pop(href))
            if answer.status_code not in (200, 204):
                unexpected(f"DELETE {href}", answer)
                continue
            with outcome.lock:
                outcome.own[href] = None
        if rng.random() < 0.3:
            replica.sync(server)
    return replica


def test_clients_on_three_workers_lose_no_update_and_converge(server: LiveServer) -> None:
    assert request(server, "MKCALENDAR", CAL).status_code == 201
    for n in range(SHARED):
        assert (
            request(server, "PUT", f"{CAL}shared-{n}.ics", event(f"shared-{n}")).status_code == 201
        )
    offset = server.log_path.stat().st_size

    outcome = Outcome()
    barrier = threading.Barrier(CLIENTS)
    replicas: dict[int, Replica] = {}
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            replicas[number] = client(server, number, barrier, outcome)
        except BaseException as exc:  # reported below, with the others' results
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    assert not outcome.unexpected, outcome.unexpected

    # the writes were spread over the worker processes
    log = server.log_path.read_bytes()[offset:].decode("utf-8", "replace")
    writers = {int(pid) for pid, method, _ in RESPONSE_LINE.findall(log) if method == "PUT"}
    assert len(writers) >= 2, writers

    # no accepted change to a shared event was lost, no rejected one slipped in
    accepted = sum(len(marks) for marks in outcome.accepted_marks.values())
    print(
        f"\nconcurrency: {accepted} shared writes accepted, {len(outcome.rejected_marks)} "
        f"refused with 412, {len(outcome.own)} own events, PUTs served by workers {writers}"
    )
    assert accepted >= CLIENTS and outcome.rejected_marks  # the test did what it says
    for n in range(SHARED):
        href = f"{CAL}shared-{n}.ics"
        marks = re.findall(r"X-EDIT:(\S+)", request(server, "GET", href).text)
        assert Counter(marks) == Counter(outcome.accepted_marks[href]), href
        assert not set(marks) & outcome.rejected_marks

    # every acknowledged write of one's own events is there, as acknowledged
    truth = Replica()
    truth.sync(server)
    for href, etag in outcome.own.items():
        assert truth.etags.get(href) == etag, href

    # one winner per race; the others were told why
    for contest, statuses in outcome.contests.items():
        assert sorted(statuses) == [201] + [412] * (CLIENTS - 1), (contest, statuses)
    for race, statuses in outcome.uid_races.items():
        assert sorted(statuses) == [201] + [409] * (CLIENTS - 1), (race, statuses)
    engine = db.get_engine(server.database_url)
    with engine.connect() as conn:
        duplicates = conn.execute(
            select(items.c.uid, func.count())
            .join(collections, collections.c.id == items.c.collection_id)
            .where(collections.c.path == CAL.strip("/"))
            .group_by(items.c.uid)
            .having(func.count() > 1)
        ).all()
    assert duplicates == []

    # every replica converges to the calendar: incremental sync, a fresh one, caldav's
    listing = request(
        server,
        "PROPFIND",
        CAL,
        '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>',
        Depth="1",
        Content_Type="application/xml",
    )
    root = ET.fromstring(listing.content)
    calendar = {
        r.findtext(f"{DAV}href"): r.findtext(f"{DAV}propstat/{DAV}prop/{DAV}getetag")
        for r in root.iter(f"{DAV}response")
        if r.findtext(f"{DAV}href") != CAL
    }
    assert truth.etags == calendar
    assert len(replicas) == CLIENTS
    for number, replica in replicas.items():
        replica.sync(server)
        assert replica.etags == calendar, number
    dav = caldav.DAVClient(server.url + "/", username="alice", password=PASSWORD)
    synced = dav.calendar(url=server.url + CAL).objects_by_sync_token(load_objects=False)
    assert {str(obj.url.path) for obj in synced} == set(calendar)

    check = run_cli(server.database_url, Path(server.data_folder), "check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_unconditional_writes_of_one_href_leave_one_item(server: LiveServer) -> None:
    """Every client PUTs the same new href at once without preconditions, through all
    workers: one creates it (201), the others replace it (204), one item remains and
    it is one client's whole text."""
    path = f"/alice/{uuid.uuid4().hex[:8]}/"
    assert request(server, "MKCALENDAR", path).status_code == 201
    statuses: list[int] = []

    def write(number: int) -> None:
        answer = request(server, "PUT", path + "same.ics", event("same", summary=f"by-{number}"))
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(statuses) == [201] + [204] * (CLIENTS - 1), statuses
    answer = request(server, "REPORT", path, sync_body(""), Content_Type="application/xml")
    assert answer.status_code == 207
    replica_hrefs = [
        r.findtext(f"{DAV}href") for r in ET.fromstring(answer.content).iter(f"{DAV}response")
    ]
    assert replica_hrefs == [path + "same.ics"]
    text = request(server, "GET", path + "same.ics").text
    assert len(re.findall(r"SUMMARY:by-\d+", text)) == 1
