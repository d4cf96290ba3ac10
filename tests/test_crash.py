"""``kill -9`` in the middle of writes, on SQLite (one process) and on PostgreSQL (two
worker processes and their master, all killed): after a restart every acknowledged
write is there, nothing half-written is visible, and ``calserver check`` agrees.

1. A write load -- new events, changes with ``If-Match``, MOVEs to another calendar --
   killed while requests are in flight. An acknowledged PUT is there with its ETag, an
   acknowledged MOVE moved; a write in flight is there entirely or not at all (a MOVE:
   in exactly one of the two calendars).
2. An import through HTTP (a PUT of a whole calendar of thousands of events, Radicale's
   import path), killed while it holds the write transaction: the calendar is absent
   or complete, never partly there.
3. ``calserver import`` of thousands of events, killed after it has written batches
   aside: the target calendar is untouched; the next ``calserver serve`` removes the
   unfinished import (invisible), and ``calserver check`` finds nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from calserver import db
from calserver.accounts import users
from calserver.db.models import STAGING, collections, items
from tests.conftest import PASSWORD, LiveServer, _reset_pg, run_cli, start_server

pytestmark = pytest.mark.live

AUTH = ("alice", PASSWORD)
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
DAV = "{DAV:}"
IMPORT_SIZE = 3000


@dataclass
class Engine:
    url: str
    folder: Path
    serve_args: tuple[str, ...]

    def start(self) -> LiveServer:
        db.dispose_engines()
        return start_server(self.url, self.folder / "data", serve_args=self.serve_args)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        yield Engine("sqlite:///" + str(tmp_path / "crash.sqlite"), tmp_path, ())
    else:
        url = request.getfixturevalue("pg_database")
        _reset_pg(url)
        yield Engine(url, tmp_path, ("--workers", "2"))
    db.dispose_engines()


def processes_of(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == current:
                    queue.append(int(entry.name))
    return found


def kill_9(server: LiveServer) -> None:
    """SIGKILL the server and every process it started (gunicorn's workers too)."""
    for pid in reversed(processes_of(server.process.pid)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait(30)


def event(uid: str, summary: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//crash//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:20260105T100000Z\r\nDURATION:PT1H\r\nSUMMARY:{summary}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def calendar_file(count: int, prefix: str) -> str:
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:{prefix}-{n}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:2026{1 + n % 12:02d}{1 + n % 28:02d}T100000Z\r\nDURATION:PT1H\r\n"
        f"SUMMARY:Imported {n}\r\nDESCRIPTION:{'x' * 200}\r\nEND:VEVENT\r\n"
        for n in range(count)
    )
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n"
    return f"{head}{events}END:VCALENDAR\r\n"


def call(
    server: LiveServer, method: str, path: str, body: str = "", **headers: str
) -> requests.Response:
    headers = {key.replace("_", "-"): value for key, value in headers.items()}
    if body:
        headers.setdefault("Content-Type", "text/calendar; charset=utf-8")
    return requests.request(
        method, server.url + path, data=body.encode(), headers=headers, auth=AUTH, timeout=120
    )


def listing(server: LiveServer, path: str) -> dict[str, str] | None:
    """href -> ETag of the members of ``path``; None when it does not exist."""
    answer = call(
        server,
        "PROPFIND",
        path,
        '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>',
        Depth="1",
        Content_Type="application/xml",
    )
    if answer.status_code == 404:
        return None
    assert answer.status_code == 207, answer.text
    return {
        r.findtext(f"{DAV}href") or "": r.findtext(f"{DAV}propstat/{DAV}prop/{DAV}getetag") or ""
        for r in ET.fromstring(answer.content).iter(f"{DAV}response")
        if r.findtext(f"{DAV}href") != path
    }


def check_is_clean(engine: Engine) -> None:
    result = run_cli(engine.url, engine.folder / "data", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems found" in result.stdout


# --- 1. a write load ---------------------------------------------------------------------


@dataclass
class Ledger:
    """What the writers were told, and what they sent without an answer."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, str] = field(default_factory=dict)  # href -> SUMMARY acknowledged
    in_flight: dict[str, str] = field(default_factory=dict)  # href -> SUMMARY unanswered
    moved: dict[str, str] = field(default_factory=dict)  # source href -> destination
    move_in_flight: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


def writer(server: LiveServer, name: str, ledger: Ledger, stop: threading.Event) -> None:
    """New events, and changes to the previous one with If-Match."""
    n = 0
    previous: tuple[str, str] | None = None  # href, ETag
    while not stop.is_set():
        n += 1
        if previous is not None and n % 3 == 0:
            href, etag = previous
            summary, headers = f"{name} change {n}", {"If_Match": etag}
        else:
            href = f"/alice/cal/{name}-{n}.ics"
            summary, headers = f"{name} new {n}", {"If_None_Match": "*"}
        with ledger.lock:
            ledger.in_flight[href] = summary
        try:
            answer = call(
                server, "PUT", href, event(href.rsplit("/", 1)[1][:-4], summary), **headers
            )
        except requests.RequestException:
            return  # the server died with the request in flight
        with ledger.lock:
            del ledger.in_flight[href]
            if answer.status_code in (201, 204):
                ledger.acked[href] = summary
                previous = (href, answer.headers["ETag"])
            else:
                ledger.refused.append(f"PUT {href}: {answer.status_code} {answer.text[:200]}")
                return


def mover(server: LiveServer, ledger: Ledger, stop: threading.Event) -> None:
    """MOVEs acknowledged events of writer w0 to another calendar."""
    done: set[str] = set()
    while not stop.is_set():
        with ledger.lock:
            ready = sorted(
                h
                for h in ledger.acked
                if "/w0-" in h and h not in done and h not in ledger.in_flight
            )
        if not ready:
            time.sleep(0.01)
            continue
        source = ready[0]
        done.add(source)
        target = source.replace("/alice/cal/", "/alice/moved/")
        with ledger.lock:
            ledger.move_in_flight[source] = target
        try:
            answer = call(server, "MOVE", source, Destination=server.url + target, Overwrite="F")
        except requests.RequestException:
            return
        with ledger.lock:
            del ledger.move_in_flight[source]
            if answer.status_code in (201, 204):
                ledger.moved[source] = target
            else:
                ledger.refused.append(f"MOVE {source}: {answer.status_code} {answer.text[:200]}")
                return


def summary_at(server: LiveServer, href: str) -> str | None:
    answer = call(server, "GET", href)
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    match = re.search(r"SUMMARY:(.*)\r\n", answer.text)
    assert match, answer.text
    return match.group(1)


def test_kill_9_during_a_write_load_keeps_every_acknowledged_write(engine: Engine) -> None:
    server = engine.start()
    try:
        users.add(db.get_engine(engine.url), "alice", PASSWORD)
        for path in ("/alice/cal/", "/alice/moved/"):
            assert call(server, "MKCALENDAR", path).status_code == 201
        ledger, stop = Ledger(), threading.Event()
        threads = [
            threading.Thread(target=writer, args=(server, f"w{n}", ledger, stop)) for n in range(4)
        ]
        threads.append(threading.Thread(target=mover, args=(server, ledger, stop)))
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # enough acknowledged writes and moves
            with ledger.lock:
                if len(ledger.acked) >= 60 and len(ledger.moved) >= 5 and ledger.in_flight:
                    break
            time.sleep(0.005)
        kill_9(server)
        stop.set()
        for thread in threads:
            thread.join(60)
    finally:
        server.stop()
    assert not ledger.refused, ledger.refused
    assert len(ledger.acked) >= 60 and ledger.moved, (len(ledger.acked), ledger.moved)
    in_flight = dict(ledger.in_flight)
    assert in_flight, "the kill came when nothing was in flight"

    server = engine.start()
    try:
        for href, summary in ledger.acked.items():
            if href in ledger.moved:
                assert summary_at(server, href) is None, href
                assert summary_at(server, ledger.moved[href]) == summary, href
            elif href in ledger.move_in_flight:
                places = [summary_at(server, href), summary_at(server, ledger.move_in_flight[href])]
                assert sorted(places, key=str) == sorted([summary, None], key=str), (href, places)
            elif href in in_flight:  # a change in flight: the old text or the new one
                assert summary_at(server, href) in (summary, in_flight[href]), href
            else:
                assert summary_at(server, href) == summary, href
        for href, summary in in_flight.items():
            if href not in ledger.acked:  # a new event in flight: all or nothing
                assert summary_at(server, href) in (summary, None), href
        check_is_clean(engine)
    finally:
        server.stop()


# --- 2. an import over HTTP ---------------------------------------------------------------


def write_transaction_open(engine: Engine, calendar: str) -> bool:
    """Whether a server holds the write transaction of ``calendar`` right now: the
    PostgreSQL advisory lock of that calendar, SQLite's one write lock."""
    if engine.url.startswith("sqlite"):
        probe = sqlite3.connect(
            make_url(engine.url).database or "", timeout=0, isolation_level=None
        )
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    key = zlib.crc32(calendar.encode("utf-8"))
    with db.get_engine(engine.url).connect() as conn:
        held = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND classid = 0 AND objid = :key AND granted"
            ),
            {"key": key},
        ).scalar_one()
    return bool(held)


def test_kill_9_during_an_http_import_leaves_no_partial_calendar(engine: Engine) -> None:
    server = engine.start()
    body = calendar_file(IMPORT_SIZE, "http")
    result: dict[str, requests.Response | Exception] = {}
    try:
        users.add(db.get_engine(engine.url), "alice", PASSWORD)
        assert call(server, "MKCALENDAR", "/alice/cal/").status_code == 201  # logged in

        def put() -> None:
            try:
                result["answer"] = call(server, "PUT", "/alice/big/", body)
            except requests.RequestException as exc:
                result["answer"] = exc

        importer = threading.Thread(target=put)
        importer.start()
        seen = False
        deadline = time.monotonic() + 120
        while importer.is_alive() and time.monotonic() < deadline:
            if write_transaction_open(engine, "alice/big"):
                seen = True
                time.sleep(0.15)  # well into the inserts
                break
            time.sleep(0.005)
        kill_9(server)
        importer.join(60)
    finally:
        server.stop()
    assert seen, result  # the kill came during the import's write transaction

    server = engine.start()
    try:
        members = listing(server, "/alice/big/")
        answered = isinstance(result.get("answer"), requests.Response)
        print(
            f"\ncrash: import answered before the kill: {answered}; calendar after: "
            f"{'absent' if members is None else len(members)}"
        )
        if isinstance(result.get("answer"), requests.Response):
            assert result["answer"].status_code == 201  # type: ignore[union-attr]
            assert members is not None and len(members) == IMPORT_SIZE
        else:  # unanswered: all or nothing
            assert members is None or len(members) == IMPORT_SIZE, len(members)
        with db.get_engine(engine.url).connect() as conn:
            stored = conn.execute(select(func.count()).select_from(items)).scalar_one()
        assert stored in (0, IMPORT_SIZE)
        assert listing(server, "/alice/cal/") == {}
        check_is_clean(engine)
    finally:
        server.stop()


# --- 3. calserver import ------------------------------------------------------------------


def test_kill_9_during_calserver_import_leaves_the_calendar_untouched(
    engine: Engine, tmp_path: Path
) -> None:
    server = engine.start()
    try:
        users.add(db.get_engine(engine.url), "alice", PASSWORD)
        assert call(server, "MKCALENDAR", "/alice/cal/").status_code == 201
        assert (
            call(server, "PUT", "/alice/cal/before.ics", event("before", "kept")).status_code == 201
        )
        before = listing(server, "/alice/cal/")
    finally:
        server.stop()
    ics = tmp_path / "big.ics"
    ics.write_text(calendar_file(IMPORT_SIZE, "cli"), encoding="utf-8")
    command = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calserver",
            "--storage-database-url",
            engine.url,
            "--storage-data-folder",
            str(engine.folder / "data"),
            "import",
            str(ics),
            "alice/cal",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its parsing workers die with it
        env={**os.environ, "CALSERVER_CONFIG": os.devnull},
    )
    staged = 0
    deadline = time.monotonic() + 120
    database = db.get_engine(engine.url)
    while command.poll() is None and time.monotonic() < deadline:
        with database.connect() as conn:
            staged = conn.execute(
                select(func.count())
                .select_from(items)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(collections.c.parent == STAGING)
            ).scalar_one()
        if staged:
            os.killpg(command.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    command.wait(30)
    assert staged, command.stdout.read() if command.stdout else ""  # killed halfway

    with database.connect() as conn:  # still there after the crash
        assert conn.execute(
            select(func.count()).select_from(collections).where(collections.c.parent == STAGING)
        ).scalar_one()
    server = engine.start()  # the start removes what the killed import left (issue 12)
    try:
        assert listing(server, "/alice/cal/") == before
        assert summary_at(server, "/alice/cal/before.ics") == "kept"
    finally:
        server.stop()
    check_is_clean(engine)
    with database.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(collections).where(collections.c.parent == STAGING)
            ).scalar_one()
            == 0
        )
