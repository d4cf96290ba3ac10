"""Issue 12 item 7: the same input rules on every entry.

- A PUT, ``calserver import`` and ``calserver migrate-from-radicale`` refuse the same
  items (``icsfile.resource_refusal``): an end before its start (RFC 5545 3.8.2.2,
  3.8.2.3), a negative DURATION, a TZID that is neither a VTIMEZONE of the object nor
  an IANA name (RFC 5545 3.2.19), EXRULE, an item larger than a PUT body may be.
- Two users never share an e-mail address (case-insensitive); the schema upgrade that
  adds the unique index stops and names accounts that share one already.
- Reserved names (``inbox``, ``outbox``, ``calendar-proxy-*``, dot names) are refused by
  the CLI, the API and CalDAV alike.
- ``calserver import`` stopped by SIGTERM or Ctrl-C leaves no staging rows and no
  parsing worker; one killed outright (``kill -9``) leaves no worker either, and
  ``calserver check --repair`` removes its staging collection.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from calserver import calendars, db
from calserver.accounts import users
from calserver.db import migrations
from calserver.db.models import STAGING, collections, items, meta
from calserver.errors import Conflict, InvalidInput
from calserver.importer.radicale import migrate
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import PASSWORD, WSGIClient, event_ics, run_cli

ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def calendar(*components: str, timezones: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n"
        + timezones
        + "".join(components)
        + "END:VCALENDAR\r\n"
    )


def component(uid: str, *lines: str, name: str = "VEVENT") -> str:
    body = "".join(line + "\r\n" for line in lines)
    return f"BEGIN:{name}\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n{body}END:{name}\r\n"


#: What every entry refuses: UID -> (component lines, words of the refusal).
REFUSED = {
    "ends-early": (
        ("DTSTART:20261123T100000Z", "DTEND:20261123T090000Z"),
        "ends before it starts",
    ),
    "ends-early-zoned": (
        ("DTSTART;TZID=Europe/Brussels:20261123T100000", "DTEND:20261123T083000Z"),
        "ends before it starts",
    ),
    "negative-duration": (
        ("DTSTART:20261123T100000Z", "DURATION:-PT1H"),
        "negative DURATION",
    ),
    "unknown-zone": (
        ("DTSTART;TZID=Mars/Olympus:20261123T100000", "DURATION:PT1H"),
        "unknown time zone 'Mars/Olympus'",
    ),
    "exrule": (
        ("DTSTART:20261123T100000Z", "RRULE:FREQ=DAILY", "EXRULE:FREQ=DAILY"),
        "EXRULE",
    ),
}
TODO_DUE_EARLY = component(
    "due-early", "DTSTART:20261123T100000Z", "DUE:20261123T090000Z", name="VTODO"
)


def refused_components() -> list[str]:
    return [component(uid, *lines) for uid, (lines, _) in REFUSED.items()] + [TODO_DUE_EARLY]


# --- PUT ------------------------------------------------------------------------------


def test_put_refuses_an_end_before_the_start_and_an_unknown_tzid_with_400(
    client: WSGIClient,
) -> None:
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    for uid, (lines, words) in REFUSED.items():
        answer = client.request("PUT", f"/alice/cal/{uid}.ics", calendar(component(uid, *lines)))
        assert answer.status == 400, (uid, answer.status, answer.text)
        assert words in answer.text, (uid, answer.text)
        assert client.request("GET", f"/alice/cal/{uid}.ics").status == 404
    answer = client.request("PUT", "/alice/cal/due-early.ics", calendar(TODO_DUE_EARLY))
    assert answer.status == 400 and "DUE 20261123T090000Z is earlier" in answer.text
    # a zero-length event (DTEND = DTSTART), which clients send, is accepted
    same = component("zero", "DTSTART:20261123T100000Z", "DTEND:20261123T100000Z")
    assert client.request("PUT", "/alice/cal/zero.ics", calendar(same), ICS).status == 201


def test_an_iana_tzid_without_vtimezone_is_read_from_the_iana_database(
    client: WSGIClient,
) -> None:
    """The documented repair: 10:00 Europe/Brussels in November is 09:00 UTC."""
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    zoned = component(
        "zoned",
        "DTSTART;TZID=Europe/Brussels:20261123T100000",
        "DTEND;TZID=Europe/Brussels:20261123T110000",
    )
    assert client.request("PUT", "/alice/cal/zoned.ics", calendar(zoned), ICS).status == 201

    def found(start: str, end: str) -> bool:
        query = (
            '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{start}" end="{end}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
        )
        answer = client.request(
            "REPORT", "/alice/cal/", query, {"Depth": "1", "Content-Type": "text/xml"}
        )
        assert answer.status == 207, answer.text
        return "zoned.ics" in answer.text

    assert found("20261123T090000Z", "20261123T093000Z")
    assert not found("20261123T100000Z", "20261123T103000Z")  # not floating, not UTC


# --- calserver import -----------------------------------------------------------------


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Iterator[Any]:
    """``calserver ...`` on a fresh database with alice and her calendar alice/cal."""
    db.dispose_engines()
    folder = tmp_path / "data"

    def call(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(database_url, folder, *args, stdin=stdin)

    result = call(
        "user", "add", "alice", "--email", "alice@example.org", "--password-stdin", stdin=PASSWORD
    )
    assert result.returncode == 0, result.stderr
    assert call("calendar", "create", "alice/cal").returncode == 0
    yield call
    db.dispose_engines()


def hrefs_in(database_url: str, path: str) -> set[str]:
    engine = db.get_engine(database_url)
    with engine.connect() as conn:
        found = conn.execute(
            select(items.c.href)
            .join(collections, collections.c.id == items.c.collection_id)
            .where(collections.c.path == path)
        ).scalars()
        return set(found)


def staged_rows(database_url: str) -> int:
    engine = db.get_engine(database_url)
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(collections).where(collections.c.parent == STAGING)
            ).scalar_one()
        )


@pytest.mark.live  # runs calserver commands
def test_import_refuses_what_a_put_refuses_and_names_every_event(
    cli: Any, database_url: str, tmp_path: Path
) -> None:
    big = component("too-big", "DTSTART:20261123T100000Z", "DESCRIPTION:" + "x" * 3000)
    good = [component(f"good-{n}", "DTSTART:20261123T100000Z", "DURATION:PT1H") for n in range(3)]
    file = tmp_path / "mixed.ics"
    file.write_text(calendar(*good, *refused_components(), big), encoding="utf-8", newline="")
    limit = ("--server-max-content-length", "2000")  # a PUT body's limit applies per event

    result = cli(*limit, "import", str(file), "alice/cal")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "7 of 10 items refused, nothing imported" in result.stderr, result.stderr
    for uid, (_, words) in REFUSED.items():
        line = next((ln for ln in result.stderr.splitlines() if f"'{uid}'" in ln), "")
        assert words in line, (uid, result.stderr)
    assert "'due-early'" in result.stderr
    assert "'too-big'" in result.stderr and "max_content_length" in result.stderr
    assert hrefs_in(database_url, "alice/cal") == set()
    assert staged_rows(database_url) == 0

    result = cli(*limit, "import", "--skip-invalid", str(file), "alice/cal")
    assert result.returncode == 0, result.stderr
    assert "(3 new, 0 replaced, 7 invalid skipped)" in result.stdout
    assert result.stderr.count("skipped event ") == 7, result.stderr
    assert hrefs_in(database_url, "alice/cal") == {f"good-{n}.ics" for n in range(3)}


def test_import_keeps_to_the_supported_calendar_component_set(
    configuration: Any, engine: Any
) -> None:
    """RFC 4791 5.3.2.1: a PUT of a VEVENT into a tasks-only calendar is refused (403);
    an import into it refuses the event too."""
    storage = Storage(configuration)
    users.add(engine, "alice", PASSWORD)
    storage.create_collection("/alice/", props=None)
    props = {"tag": "VCALENDAR", "C:supported-calendar-component-set": "VTODO"}
    storage.create_collection("/alice/tasks/", props=props)
    task = component("task", "DTSTART:20261123T100000Z", name="VTODO")
    meeting = component("meeting", "DTSTART:20261123T100000Z", "DURATION:PT1H")
    with pytest.raises(InvalidInput) as refused:
        calendars.import_file(storage, "alice/tasks", calendar(task, meeting))
    assert "event 'meeting': VEVENT is not in the calendar's supported" in str(refused.value)
    result = calendars.import_file(
        storage, "alice/tasks", calendar(task, meeting), skip_invalid=True
    )
    assert (result.created, len(result.skipped)) == (1, 1)
    assert {item.uid for item in storage.load_collection("alice/tasks").get_all()} == {"task"}


# --- calserver migrate-from-radicale ----------------------------------------------------


def test_migration_skips_what_a_put_refuses_and_reserved_calendars(
    configuration: Any, engine: Any, tmp_path: Path
) -> None:
    root = tmp_path / "radicale" / "collection-root"
    for name in ("cal", "inbox", "calendar-proxy-read"):
        folder = root / "alice" / name
        folder.mkdir(parents=True)
        (folder / ".Radicale.props").write_text(json.dumps({"tag": "VCALENDAR"}))
    cal = root / "alice" / "cal"
    (cal / "good.ics").write_text(calendar(component("good", "DTSTART:20261123T100000Z")))
    (root / "alice" / "inbox" / "x.ics").write_text(
        calendar(component("x", "DTSTART:20261123T100000Z"))
    )
    for uid, (lines, _) in REFUSED.items():
        (cal / f"{uid}.ics").write_text(calendar(component(uid, *lines)))
    (cal / "due-early.ics").write_text(calendar(TODO_DUE_EARLY))

    storage = Storage(configuration)
    report = migrate(storage, str(root))
    for uid, (_, words) in REFUSED.items():
        line = next((ln for ln in report if ln.startswith(f"item alice/cal/{uid}.ics:")), "")
        assert "skipped, not valid" in line and words in line, (uid, report)
    assert any(ln.startswith("item alice/cal/due-early.ics: skipped") for ln in report), report
    assert {item.href for item in storage.load_collection("alice/cal").get_all()} == {"good.ics"}
    for name in ("inbox", "calendar-proxy-read"):
        assert any(
            ln.startswith(f"collection alice/{name}: skipped") and "reserved" in ln for ln in report
        ), report
    with engine.connect() as conn:
        paths = set(conn.execute(select(collections.c.path)).scalars())
        uids = set(conn.execute(select(items.c.uid)).scalars())
    assert "alice/calendar-proxy-read" not in paths
    assert uids == {"good"}


# --- e-mail addresses -----------------------------------------------------------------


@pytest.mark.live  # runs calserver commands
def test_two_users_cannot_share_an_email_address(cli: Any, engine: Any) -> None:
    taken = cli(
        "user", "add", "bob", "--email", "Alice@Example.ORG", "--password-stdin", stdin=PASSWORD
    )
    assert taken.returncode == 1
    assert "belongs to another user ('alice')" in taken.stderr, taken.stderr
    assert (
        cli(
            "user", "add", "bob", "--email", "bob@example.org", "--password-stdin", stdin=PASSWORD
        ).returncode
        == 0
    )
    moved = cli("user", "set", "bob", "--email", "ALICE@example.org")
    assert moved.returncode == 1 and "belongs to another user ('alice')" in moved.stderr
    assert cli("user", "set", "alice", "--email", "ALICE@example.org").returncode == 0  # own
    listed = cli("user", "list").stdout
    assert "bob\tbob@example.org" in listed and "alice\tALICE@example.org" in listed
    with pytest.raises(Conflict):
        users.add(engine, "carol", PASSWORD, "bob@EXAMPLE.org")


def test_the_upgrade_stops_and_names_accounts_that_share_an_address(engine: Any) -> None:
    """The migration does not pick a winner: it refuses, lists them, and runs once they
    are fixed (a database as it was before the unique index; migrations added after
    it run again, idempotent)."""
    before = migrations.MIGRATIONS.index(migrations._v10_unique_email)
    with db.write_connection(engine) as conn, conn.begin():
        conn.execute(text("DROP INDEX IF EXISTS ix_users_email_lower"))
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(before)))
    for name, email in (("alice", "team@example.org"), ("bob", "TEAM@example.org"), ("carol", "")):
        users.add(engine, name, PASSWORD, "")
        with db.write_connection(engine) as conn, conn.begin():
            conn.execute(
                text("UPDATE users SET email = :e WHERE name = :n"), {"e": email, "n": name}
            )
    users.add(engine, "dave", PASSWORD, "")  # another account without an address

    with pytest.raises(db.SchemaError) as refused:
        db.upgrade(engine)
    assert "team@example.org: alice, bob" in str(refused.value)
    with engine.connect() as conn:
        assert db.schema_version(conn) == before  # nothing of it applied

    users.set_email(engine, "bob", "bob@example.org")
    assert db.upgrade(engine) == (before, db.LATEST)
    with pytest.raises(Conflict):
        users.set_email(engine, "carol", "BOB@example.org")


# --- reserved names -------------------------------------------------------------------

RESERVED_NAMES = ("inbox", "outbox", "calendar-proxy-read", "calendar-proxy-write", ".hidden")


@pytest.mark.live  # runs calserver commands
def test_reserved_names_are_refused_by_the_cli(cli: Any, database_url: str) -> None:
    """Each command with a reserved name (every name once: the CLI calls the services that
    the API and CalDAV test below tries with every name; a command costs a process)."""
    assert cli("group", "create", "team", "--admin", "alice").returncode == 0
    commands = (
        lambda name: ("calendar", "create", f"alice/{name}"),
        lambda name: ("calendar", "create", f"@team/{name}"),
        lambda name: ("user", "add", name, "--password-stdin"),
        lambda name: ("group", "create", name),
    )
    for index, name in enumerate(RESERVED_NAMES):
        args = commands[index % len(commands)](name)
        result = cli(*args, stdin=PASSWORD)
        assert result.returncode != 0, (args, result.stdout)
        assert "reserved" in result.stderr, (args, result.stderr)
    engine = db.get_engine(database_url)
    with engine.connect() as conn:
        paths = set(conn.execute(select(collections.c.path)).scalars())
    assert not any(path.rpartition("/")[2] in RESERVED_NAMES for path in paths), paths


def test_reserved_names_are_refused_by_the_api_and_caldav(client: WSGIClient, engine: Any) -> None:
    manage.create_group(engine, "team", "alice")
    for name in RESERVED_NAMES:
        answer = client.request(
            "POST",
            "/.api/v1/groups/team/calendars",
            json.dumps({"name": name}),
            {"Content-Type": "application/json"},
        )
        assert answer.status == 400, (name, answer.status, answer.text)
        assert "reserved" in answer.text, answer.text
        for method in ("MKCALENDAR", "MKCOL"):
            assert client.request(method, f"/alice/{name}/").status == 403, (method, name)
    with engine.connect() as conn:
        paths = set(conn.execute(select(collections.c.path)).scalars())
    assert not any(path.rpartition("/")[2] in RESERVED_NAMES for path in paths), paths


# --- an import stopped half-way ---------------------------------------------------------

IMPORT_SIZE = 4000


def big_file(path: Path) -> Path:
    events = [
        component(
            f"big-{n}",
            f"DTSTART:2026{n % 12 + 1:02d}{n % 28 + 1:02d}T100000Z",
            "DURATION:PT1H",
            f"SUMMARY:Event {n}",
            "RRULE:FREQ=WEEKLY;COUNT=10",
        )
        for n in range(IMPORT_SIZE)
    ]
    path.write_text(calendar(*events), encoding="utf-8", newline="")
    return path


def session_processes(session: int) -> set[int]:
    """Every process of a session (children, and orphans reparented to init)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            found.add(int(entry))
    return found


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    fields = f.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def start_import(database_url: str, folder: Path, file: Path) -> subprocess.Popen[str]:
    """``calserver import`` in its own session, its output in ``FILE.out`` (not a pipe:
    workers that outlive it would hold a pipe open)."""
    with open(file.with_suffix(".out"), "w") as output:  # the child keeps its own copy
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "calserver",
                "--storage-database-url",
                database_url,
                "--storage-data-folder",
                str(folder),
                "import",
                str(file),
                "alice/cal",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own session: whatever it leaves is found by it
            env={**os.environ, "CALSERVER_CONFIG": os.devnull},
        )


def wait_until_halfway(command: subprocess.Popen[str], database_url: str) -> None:
    """Until the import has its parsing workers and its staging collection."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and command.poll() is None:
        if len(children(command.pid)) >= 2 and staged_rows(database_url):
            return
        time.sleep(0.05)
    output = Path(command.args[-2]).with_suffix(".out").read_text()
    pytest.fail(f"the import did not get half-way (machine with {os.cpu_count()} cores) {output}")


def leftovers(session: int) -> set[int]:
    """The processes of the session still there once they had a moment to go."""
    deadline = time.monotonic() + 15
    while (left := session_processes(session)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def before_import(cli: Any, database_url: str, tmp_path: Path) -> set[str]:
    small = tmp_path / "small.ics"
    small.write_text(event_ics("kept"), encoding="utf-8", newline="")
    assert cli("import", str(small), "alice/cal").returncode == 0
    return hrefs_in(database_url, "alice/cal")


@pytest.mark.live
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the import parses in workers on 2+ cores")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_import_stopped_by_a_signal_leaves_nothing_behind(
    before_import: set[str], database_url: str, tmp_path: Path, signum: int
) -> None:
    command = start_import(database_url, tmp_path / "data", big_file(tmp_path / "big.ics"))
    try:
        wait_until_halfway(command, database_url)
        os.kill(command.pid, signum)  # the parent alone, as systemd or a shell's kill does
        command.wait(120)
        output = (tmp_path / "big.out").read_text()
        assert leftovers(command.pid) == set(), output  # no worker goes on parsing
        assert staged_rows(database_url) == 0, output
        assert hrefs_in(database_url, "alice/cal") == before_import
        assert command.returncode == 128 + signum, output
        assert f"stopped by {signal.Signals(signum).name}" in output
    finally:
        with_session_killed(command)


@pytest.mark.live
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the import parses in workers on 2+ cores")
def test_an_import_killed_outright_leaves_no_worker_and_check_repair_cleans_up(
    before_import: set[str], cli: Any, database_url: str, tmp_path: Path
) -> None:
    command = start_import(database_url, tmp_path / "data", big_file(tmp_path / "big.ics"))
    try:
        wait_until_halfway(command, database_url)
        os.kill(command.pid, signal.SIGKILL)  # the parent alone: its workers must follow
        command.wait(60)
        assert leftovers(command.pid) == set()
    finally:
        with_session_killed(command)
    assert staged_rows(database_url) == 1
    report = cli("check")
    assert report.returncode == 1 and "unfinished import left behind" in report.stdout
    repaired = cli("check", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "removed an unfinished import left behind" in repaired.stdout
    assert f"its process {command.pid} is gone" in repaired.stdout
    assert staged_rows(database_url) == 0
    assert hrefs_in(database_url, "alice/cal") == before_import
    with db.get_engine(database_url).connect() as conn:  # its items went with it
        assert conn.execute(select(func.count()).select_from(items)).scalar_one() == 1


@pytest.mark.live  # runs calserver commands
def test_check_repair_leaves_a_running_import_alone(cli: Any, database_url: str) -> None:
    from calserver import staging

    engine = db.get_engine(database_url)
    from calserver.storage.rows import insert_collection

    with db.write_connection(engine) as conn, conn.begin():
        insert_collection(conn, staging.new_path("import"), STAGING, "VCALENDAR")
    repaired = cli("check", "--repair")  # this test's process is alive
    assert "removed" not in repaired.stdout
    assert staged_rows(database_url) == 1


def with_session_killed(command: subprocess.Popen[str]) -> None:
    """Whatever the test found, leave no process of it running."""
    for pid in session_processes(command.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if command.poll() is None:
        command.kill()
        command.wait(10)
