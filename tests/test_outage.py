"""The database out of reach or out of space, on live servers: every request that needs it
gets 503 Service Unavailable with ``Retry-After`` (RFC 9110 15.6.4, 10.2.3) and a text
that says what is wrong, never a 500; nothing of a refused write is kept; ``/health``
reports a database that answers but cannot write; once the database is back, the same
process serves again and the calendar is as it was.

- PostgreSQL goes away: the server reaches it through a TCP relay the test cuts
  (``tests.test_ops.Relay``); the machine's PostgreSQL keeps running.
- The disk fills up under SQLite: the database lives on a small tmpfs the test mounts
  (root only; skipped with the reason elsewhere), fills and frees again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from calserver import db
from calserver.accounts import users
from tests.conftest import PASSWORD, LiveServer, _reset_pg, start_server
from tests.test_ops import Relay

pytestmark = pytest.mark.live

AUTH = ("alice", PASSWORD)
PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'
)


def event(uid: str, summary: str, description: str = "") -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//test//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        "DTSTART:20261123T100000Z",
        "DTEND:20261123T110000Z",
        f"SUMMARY:{summary}",
    ]
    if description:
        # folded at 74 octets (RFC 5545 3.1)
        first, rest = description[:60], description[60:]
        lines.append("DESCRIPTION:" + first)
        lines += [" " + rest[i : i + 73] for i in range(0, len(rest), 73)]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def put(server: LiveServer, href: str, body: str) -> requests.Response:
    return requests.put(
        f"{server.url}/alice/cal/{href}",
        data=body.encode("utf-8"),
        headers={"Content-Type": "text/calendar; charset=utf-8"},
        auth=AUTH,
        timeout=60,
    )


def assert_unavailable(response: requests.Response, words: str) -> None:
    """503, Retry-After in seconds, and the reason in words."""
    assert response.status_code == 503, (response.status_code, response.text)
    assert int(response.headers["Retry-After"]) > 0
    assert words in response.text, response.text
    assert "try again" in response.text


def set_up_calendar(server: LiveServer, count: int) -> dict[str, str]:
    """alice's calendar "cal" with ``count`` events; their texts by href."""
    made = requests.request("MKCALENDAR", f"{server.url}/alice/cal/", auth=AUTH, timeout=60)
    assert made.status_code == 201, made.text
    stored = {}
    for number in range(count):
        href = f"e{number}.ics"
        assert put(server, href, event(f"uid-{number}", f"event {number}")).status_code == 201
        stored[href] = requests.get(f"{server.url}/alice/cal/{href}", auth=AUTH, timeout=60).text
    return stored


def assert_intact(server: LiveServer, stored: dict[str, str]) -> None:
    listing = requests.request(
        "PROPFIND",
        f"{server.url}/alice/cal/",
        data=PROPFIND_BODY,
        headers={"Depth": "1", "Content-Type": "application/xml"},
        auth=AUTH,
        timeout=60,
    )
    assert listing.status_code == 207
    assert listing.text.count(".ics</") == len(stored)
    for href, text in stored.items():
        got = requests.get(f"{server.url}/alice/cal/{href}", auth=AUTH, timeout=60)
        assert got.status_code == 200 and got.text == text


# --- PostgreSQL out of reach -------------------------------------------------------------


@pytest.mark.postgresql
def test_postgresql_cut_gives_503_with_retry_after_and_nothing_half_written(
    pg_database: str, tmp_path: Path
) -> None:
    _reset_pg(pg_database)
    db.dispose_engines()
    real = make_url(pg_database)
    relay = Relay((real.host or "127.0.0.1", real.port or 5432))
    relay.start()
    relayed = real.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    server = start_server(relayed, tmp_path / "data")
    try:
        engine = db.get_engine(pg_database)
        users.add(engine, "alice", PASSWORD)
        users.add(engine, "bob", PASSWORD)
        stored = set_up_calendar(server, 3)
        assert requests.get(server.url + "/health", timeout=30).status_code == 200

        relay.stop()  # PostgreSQL goes away for the server
        words = "cannot be reached"
        assert_unavailable(put(server, "new.ics", event("uid-new", "while cut")), words)
        assert_unavailable(
            requests.get(f"{server.url}/alice/cal/e0.ics", auth=AUTH, timeout=60), words
        )
        assert_unavailable(
            requests.request(
                "PROPFIND",
                f"{server.url}/alice/cal/",
                data=PROPFIND_BODY,
                headers={"Depth": "1", "Content-Type": "application/xml"},
                auth=AUTH,
                timeout=60,
            ),
            words,
        )
        assert_unavailable(
            requests.delete(f"{server.url}/alice/cal/e1.ics", auth=AUTH, timeout=60), words
        )
        # the management API answers in JSON, with the same status and header
        shared = requests.put(
            f"{server.url}/.api/v1/calendars/alice/cal/shares/bob",
            json={"level": "read"},
            auth=AUTH,
            timeout=60,
        )
        assert shared.status_code == 503, shared.text
        assert int(shared.headers["Retry-After"]) > 0
        assert words in shared.json()["error"]
        health = requests.get(server.url + "/health", timeout=30)
        assert health.status_code == 503
        assert health.json() == {"status": "unavailable", "database": "unreachable"}

        relay.start()  # ... and comes back: the same process serves again
        assert requests.get(server.url + "/health", timeout=30).status_code == 200
        assert_intact(server, stored)
        assert (
            requests.get(f"{server.url}/alice/cal/new.ics", auth=AUTH, timeout=60).status_code
            == 404
        )
        assert put(server, "new.ics", event("uid-new", "after")).status_code == 201
        assert server.process.poll() is None
        assert "Traceback" not in server.log_path.read_text(errors="replace")
    finally:
        server.stop()
        relay.stop()
        db.dispose_engines()


# --- SQLite on a full disk ---------------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` (unmounted afterwards), or a skip."""
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a file in ``folder`` until no byte is left; the file."""
    filler = folder / "filler"
    chunk = b"\0" * 4096
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass
    return filler


def test_sqlite_on_a_full_disk_gives_503_and_recovers_once_space_is_freed(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk", "4m") as disk:
        db.dispose_engines()
        url = "sqlite:///" + str(disk / "calserver.sqlite")
        server = start_server(url, tmp_path / "data")
        try:
            users.add(db.get_engine(url), "alice", PASSWORD)
            users.add(db.get_engine(url), "bob", PASSWORD)
            db.dispose_engines()  # the test's own connections stay off the small disk
            stored = set_up_calendar(server, 5)
            assert requests.get(server.url + "/health", timeout=30).json()["database"] == "ok"

            filler = fill(disk)
            big = event(f"uid-{uuid.uuid4()}", "does not fit", "x" * 60_000)
            assert_unavailable(put(server, "big.ics", big), "out of space")
            # the database still answers (reads go on), but /health reports the writes
            got = requests.get(f"{server.url}/alice/cal/e0.ics", auth=AUTH, timeout=60)
            assert got.status_code == 200 and got.text == stored["e0.ics"]
            health = requests.get(server.url + "/health", timeout=30)
            assert health.status_code == 503
            assert health.json() == {"status": "unavailable", "database": "full"}

            filler.unlink()  # space again: the same process writes again
            assert requests.get(server.url + "/health", timeout=30).status_code == 200
            assert_intact(server, stored)
            missing = requests.get(f"{server.url}/alice/cal/big.ics", auth=AUTH, timeout=60)
            assert missing.status_code == 404
            assert put(server, "big.ics", big).status_code == 201
            assert server.process.poll() is None
            checked = server.cli("check")
            assert checked.returncode == 0, checked.stdout + checked.stderr
        finally:
            server.stop()
            db.dispose_engines()
