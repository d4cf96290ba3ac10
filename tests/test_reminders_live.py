"""Reminders end to end (issue 16): a live ``calserver serve``, the ``caldav`` library
writing the events, the JSON API setting the reminders, ``calserver worker --once``
delivering them to a real SMTP server (aiosmtpd), and the CLI listing them. On SQLite
and PostgreSQL; on PostgreSQL two workers run at once and send no duplicate.

The server and the workers run on the real clock, so the events lie just ahead of it:
a reminder 15 minutes before an event that starts in 10 minutes is due at once (and
within ``[reminders] max_lateness``)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import caldav
import pytest

from tests.conftest import PASSWORD, LiveServer, fresh_database, start_server
from tests.test_mail import smtp_server

pytestmark = pytest.mark.live


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("reminders-live")
    live = start_server(fresh_database(request, folder), folder / "data")
    try:
        for name in ("alice", "bob"):
            result = live.cli(
                "user",
                "add",
                name,
                "--email",
                f"{name}@example.org",
                "--password-stdin",
                stdin=PASSWORD + "\n",
            )
            assert result.returncode == 0, result.stderr
        yield live
    finally:
        live.stop()


def call(
    server: LiveServer, method: str, path: str, body: Any = None, user: str = "alice"
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + "/.api/v1" + path, data=data, method=method)
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    request.add_header("Authorization", "Basic " + token)
    if data is not None or method == "POST":
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def weekly(uid: str, start: datetime, extra: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver live//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{stamp(start)}\r\n"
        f"DTSTART:{stamp(start)}\r\nDTEND:{stamp(start + timedelta(hours=1))}\r\n"
        f"SUMMARY:Weekly review\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n{extra}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def workers(server: LiveServer, port: int, count: int) -> list[str]:
    """``count`` ``calserver worker --once`` at the same time; their outputs."""
    command = [
        sys.executable,
        "-m",
        "calserver",
        "--storage-database-url",
        server.database_url,
        "--storage-data-folder",
        str(server.data_folder),
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(port),
        "--smtp-sender",
        "calendar@example.org",
        "worker",
        "--once",
    ]
    processes = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "CALSERVER_CONFIG": os.devnull},
        )
        for _ in range(count)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        outputs.append(out)
    return outputs


def test_a_reminder_set_over_the_api_reaches_the_smtp_server_once_and_follows_exdate(
    server: LiveServer,
) -> None:
    client = caldav.DAVClient(server.url + "/", username="alice", password=PASSWORD)
    principal = client.principal()
    calendar = principal.make_calendar(name="Work", cal_id="work")
    start = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    event = calendar.save_event(weekly("review", start))
    status, made = call(
        server,
        "POST",
        "/me/reminders",
        {"calendar": "alice/work", "uid": "review", "minutes_before": 15},
    )
    assert status == 201, made
    assert made["next"] == (start - timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    engines = 2 if server.database_url.startswith("postgresql") else 1
    with smtp_server() as (captured, port):
        outputs = workers(server, port, engines)
    assert sum("reminders: sent 1" in out for out in outputs) == 1, outputs
    [received] = captured.received
    assert received.rcpt_tos == ["alice@example.org"]
    assert received.message["Subject"].startswith("Reminder: Weekly review")
    second = start + timedelta(weeks=1)
    status, mine = call(server, "GET", "/me/reminders")
    assert mine["reminders"][0]["next"] == (second - timedelta(minutes=15)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    # a client excludes the second occurrence: its reminder goes to the third
    event.data = weekly("review", start, extra=f"EXDATE:{stamp(second)}\r\n")
    event.save()
    status, mine = call(server, "GET", "/me/reminders")
    third = start + timedelta(weeks=2)
    assert mine["reminders"][0]["next"] == (third - timedelta(minutes=15)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    listing = server.cli("reminders", "alice")
    assert listing.returncode == 0, listing.stderr
    assert "alice/work\treview\temail\t15 minutes before\tuser" in listing.stdout
    assert server.cli("sms-queue").stdout.strip() == "no SMS waiting"


def test_a_group_calendar_gets_no_reminder_and_an_email_valarm_reminds_its_owner_only(
    server: LiveServer,
) -> None:
    assert server.cli("group", "create", "crew", "--admin", "alice").returncode == 0
    assert server.cli("group", "add-member", "crew", "bob").returncode == 0
    assert server.cli("calendar", "create", "@crew/board").returncode == 0
    client = caldav.DAVClient(server.url + "/", username="alice", password=PASSWORD)
    board = client.calendar(url=server.url + "/@crew/board/")
    start = datetime.now(UTC) + timedelta(days=3)
    alarm = "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-PT30M\r\nEND:VALARM\r\n"
    board.save_event(weekly("crew-meeting", start, extra=alarm))
    status, body = call(
        server,
        "POST",
        "/me/reminders",
        {"calendar": "@crew/board", "uid": "crew-meeting", "minutes_before": 15},
    )
    assert status == 409 and "group calendar" in body["error"]
    own = client.principal().calendar(cal_id="work")
    own.save_event(weekly("own-alarm", start, extra=alarm))
    status, mine = call(server, "GET", "/me/reminders")
    sources = {(r["uid"], r["source"], r["minutes_before"]) for r in mine["reminders"]}
    assert ("own-alarm", "valarm", 30) in sources
    assert not any(uid == "crew-meeting" for uid, _, _ in sources)
    assert call(server, "GET", "/me/reminders", user="bob")[1] == {"reminders": []}
