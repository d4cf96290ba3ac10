"""The ``calserver`` command line: what each command does, and its exit code
(0 done, 1 runtime error, 2 usage or configuration error).

Most commands run in-process through ``calserver.cli.main``; argument errors and the
exit status of a real process go through ``tests.conftest.run_cli``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import vobject
from sqlalchemy import func, select, text

from calserver import cli, db
from calserver.accounts import users
from calserver.db.models import collections, items
from calserver.db.models import users as users_table
from tests.conftest import FIXTURES, PASSWORD, run_cli

MIXED = FIXTURES / "storage-mixed.ics"


class CLI:
    """``calserver`` in this process, on the test's database."""

    def __init__(self, database_url: str, data_folder: Path, capsys: Any, monkeypatch: Any):
        self.database_url = database_url
        self.data_folder = data_folder
        self._capsys = capsys
        self._monkeypatch = monkeypatch

    def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        self._capsys.readouterr()
        self._monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli.main(
            [
                "--storage-database-url",
                self.database_url,
                "--storage-data-folder",
                str(self.data_folder),
                *args,
            ]
        )
        out, err = self._capsys.readouterr()
        return code, out, err


@pytest.fixture
def run(database_url: str, tmp_path: Path, engine: Any, capsys: Any, monkeypatch: Any) -> CLI:
    return CLI(database_url, tmp_path, capsys, monkeypatch)


@pytest.fixture
def alice(run: CLI) -> CLI:
    code, _, err = run(
        "user",
        "add",
        "alice",
        "--email",
        "alice@example.org",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, err
    return run


def user_row(engine: Any, name: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(users_table).where(users_table.c.name == name)).first()


# --- users ------------------------------------------------------------------------------


def test_user_add_reads_the_password_from_stdin_and_stores_argon2(run: CLI, engine: Any) -> None:
    code, out, _ = run(
        "user",
        "add",
        "alice",
        "--email",
        "alice@example.org",
        "--password-stdin",
        stdin="pässwörd with spaces \n",
    )
    assert code == 0 and "alice" in out
    row = user_row(engine, "alice")
    assert row.email == "alice@example.org" and not row.disabled
    assert row.password_hash.startswith("$argon2")
    from calserver.accounts import passwords

    assert passwords.verify("pässwörd with spaces ", row.password_hash)[0]


def test_user_add_twice_is_an_error(alice: CLI, engine: Any) -> None:
    code, _, err = alice("user", "add", "alice", "--password-stdin", stdin="other\n")
    assert code == 1 and "exists" in err
    assert user_row(engine, "alice").email == "alice@example.org"


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "..", " alice", "x" * 256, "tab\tname"])
def test_user_add_refuses_invalid_names(run: CLI, engine: Any, name: str) -> None:
    code, _, err = run("user", "add", name, "--password-stdin", stdin="pw\n")
    assert code == 1 and "invalid user name" in err
    assert users.all_users(engine) == []


@pytest.mark.parametrize("email", ["not-an-address", "a@b@c", "x" * 300 + "@" + "y" * 300])
def test_user_add_refuses_invalid_email(run: CLI, engine: Any, email: str) -> None:
    code, _, err = run("user", "add", "bob", "--email", email, "--password-stdin", stdin="pw\n")
    assert code == 1 and "email" in err
    assert users.all_users(engine) == []


def test_user_add_refuses_an_empty_password(run: CLI, engine: Any) -> None:
    code, _, err = run("user", "add", "bob", "--password-stdin", stdin="\n")
    assert code == 1 and "password" in err
    assert users.all_users(engine) == []


def test_user_add_without_a_terminal_or_password_stdin_is_a_usage_error(
    run: CLI, engine: Any
) -> None:
    code, _, err = run("user", "add", "bob", stdin="pw\n")
    assert code == 2 and "--password-stdin" in err
    assert users.all_users(engine) == []


def test_user_passwd_changes_the_password(alice: CLI, engine: Any) -> None:
    before = user_row(engine, "alice")
    code, _, _ = alice("user", "passwd", "alice", "--password-stdin", stdin="new secret\n")
    assert code == 0
    after = user_row(engine, "alice")
    assert after.password_hash != before.password_hash
    assert after.auth_epoch > before.auth_epoch  # every process drops its cached login
    from calserver.accounts import passwords

    assert passwords.verify("new secret", after.password_hash)[0]
    assert not passwords.verify(PASSWORD, after.password_hash)[0]


def test_user_passwd_of_an_unknown_user_is_an_error(run: CLI) -> None:
    code, _, err = run("user", "passwd", "nobody", "--password-stdin", stdin="x\n")
    assert code == 1 and "nobody" in err


def test_user_disable_enable_and_list(alice: CLI, engine: Any) -> None:
    assert alice("user", "add", "bob", "--password-stdin", stdin="pw\n")[0] == 0
    assert alice("user", "disable", "alice")[0] == 0
    assert user_row(engine, "alice").disabled
    code, out, _ = alice("user", "list")
    assert code == 0
    assert out.splitlines() == ["alice\talice@example.org (disabled)", "bob\t"]
    assert alice("user", "enable", "alice")[0] == 0
    assert not user_row(engine, "alice").disabled
    assert alice("user", "list")[1].splitlines()[0] == "alice\talice@example.org"


@pytest.mark.parametrize("action", ["disable", "enable", "delete"])
def test_user_actions_on_an_unknown_user_are_errors(run: CLI, action: str) -> None:
    code, _, err = run("user", action, "nobody")
    assert code == 1 and "nobody" in err


def test_user_delete_removes_the_user_and_their_calendars(alice: CLI, engine: Any) -> None:
    assert alice("user", "add", "bob", "--password-stdin", stdin="pw\n")[0] == 0
    assert alice("calendar", "create", "alice/work")[0] == 0
    assert alice("calendar", "create", "bob/work")[0] == 0
    assert alice("import", str(MIXED), "alice/work")[0] == 0
    code, _, _ = alice("user", "delete", "alice")
    assert code == 0
    assert users.get(engine, "alice") is None
    with engine.connect() as conn:
        paths = set(conn.execute(select(collections.c.path)).scalars())
        left = conn.execute(select(func.count()).select_from(items)).scalar_one()
    assert not {p for p in paths if p == "alice" or p.startswith("alice/")}
    assert "bob/work" in paths
    assert left == 0


# --- calendars --------------------------------------------------------------------------


def test_calendar_create_list_and_delete(alice: CLI) -> None:
    code, out, _ = alice("calendar", "create", "alice/work", "--name", "Wörk", "--color", "#1a2B3c")
    assert code == 0 and "alice/work" in out
    assert alice("calendar", "create", "alice/home")[0] == 0
    assert alice("import", str(MIXED), "alice/work")[0] == 0
    code, out, _ = alice("calendar", "list", "alice")
    assert code == 0
    assert out.splitlines() == [
        "alice/home\thome\t\t0 items",
        "alice/work\tWörk\t#1a2B3c\t22 items",
    ]
    assert alice("calendar", "delete", "alice/work")[0] == 0
    assert alice("calendar", "list", "alice")[1].splitlines() == ["alice/home\thome\t\t0 items"]


@pytest.mark.parametrize("color", ["red", "#12345", "#1234567", "#GGGGGG", "123456", "#12345678x"])
def test_calendar_create_refuses_invalid_colours(alice: CLI, color: str) -> None:
    code, _, err = alice("calendar", "create", "alice/work", "--color", color)
    assert code == 1 and "colour" in err
    assert alice("calendar", "list", "alice")[1] == ""


def test_calendar_create_accepts_colour_with_alpha(alice: CLI) -> None:
    assert alice("calendar", "create", "alice/work", "--color", "#ff000080")[0] == 0
    assert "#ff000080" in alice("calendar", "list", "alice")[1]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("nobody/work", "no user"),
        ("alice", "USER/CAL"),
        ("alice/work/deeper", "USER/CAL"),
        ("alice/.hidden", "invalid calendar name"),
    ],
)
def test_calendar_create_errors(alice: CLI, path: str, message: str) -> None:
    code, _, err = alice("calendar", "create", path)
    assert code == 1 and message in err


def test_calendar_create_of_an_existing_calendar_is_an_error(alice: CLI) -> None:
    assert alice("calendar", "create", "alice/work", "--name", "First")[0] == 0
    code, _, err = alice("calendar", "create", "alice/work", "--name", "Second")
    assert code == 1 and "exists" in err
    assert "\tFirst\t" in alice("calendar", "list", "alice")[1]


def test_calendar_delete_of_a_missing_calendar_is_an_error(alice: CLI) -> None:
    code, _, err = alice("calendar", "delete", "alice/nothing")
    assert code == 1 and "no calendar" in err


# --- import / export -------------------------------------------------------------------


def test_import_then_export_gives_back_every_event(alice: CLI, tmp_path: Path) -> None:
    assert alice("calendar", "create", "alice/work")[0] == 0
    code, out, _ = alice("import", str(MIXED), "alice/work")
    assert code == 0 and "22 new" in out
    exported = tmp_path / "out.ics"
    assert alice("export", "alice/work", "-o", str(exported))[0] == 0
    calendar = vobject.readOne(exported.read_text(encoding="utf-8"))
    uids = {c.uid.value for c in calendar.components() if c.name != "VTIMEZONE"}
    original = vobject.readOne(MIXED.read_text(encoding="utf-8"))
    assert len(uids) == 22
    assert uids == {c.uid.value for c in original.components() if c.name != "VTIMEZONE"}
    # to standard output as well
    code, out, _ = alice("export", "alice/work")
    assert code == 0 and out.startswith("BEGIN:VCALENDAR") and out.count("BEGIN:VEVENT") == 20


def test_import_twice_replaces_by_uid(alice: CLI) -> None:
    assert alice("calendar", "create", "alice/work")[0] == 0
    assert alice("import", str(MIXED), "alice/work")[0] == 0
    code, out, _ = alice("import", str(MIXED), "alice/work")
    assert code == 0 and "0 new, 22 replaced" in out
    assert "22 items" in alice("calendar", "list", "alice")[1]


def test_import_of_a_broken_file_imports_nothing(alice: CLI, tmp_path: Path) -> None:
    assert alice("calendar", "create", "alice/work")[0] == 0
    broken = tmp_path / "broken.ics"
    good = MIXED.read_text(encoding="utf-8")
    broken.write_text(good.replace("DTSTART:20261123T100000Z", "DTSTART:notadate"))
    code, _, err = alice("import", str(broken), "alice/work")
    assert code == 1 and err
    assert "0 items" in alice("calendar", "list", "alice")[1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"\xff\xfe\x00garbage", "cannot read"),
        (b"no calendar here", "VCALENDAR"),
    ],
    ids=["missing", "not-utf8", "not-icalendar"],
)
def test_import_errors(alice: CLI, tmp_path: Path, content: bytes | None, message: str) -> None:
    assert alice("calendar", "create", "alice/work")[0] == 0
    source = tmp_path / "in.ics"
    if content is not None:
        source.write_bytes(content)
    code, _, err = alice("import", str(source), "alice/work")
    assert code == 1 and message in err


def test_import_into_a_missing_calendar_is_an_error(alice: CLI) -> None:
    code, _, err = alice("import", str(MIXED), "alice/nothing")
    assert code == 1 and "no calendar" in err


def test_export_of_a_missing_calendar_is_an_error(alice: CLI) -> None:
    code, out, err = alice("export", "alice/nothing")
    assert code == 1 and "no calendar" in err and out == ""


# --- urls -------------------------------------------------------------------------------


def test_urls_json_gives_the_caldav_url(alice: CLI) -> None:
    assert alice("calendar", "create", "alice/work")[0] == 0
    code, out, _ = alice("urls", "alice/work", "--json")
    assert code == 0
    assert json.loads(out)["caldav"] == "http://127.0.0.1:5232/alice/work/"
    code, out, _ = alice(
        "--server-public-url", "https://cal.example.org/dav/", "urls", "alice/work", "--json"
    )
    assert json.loads(out)["caldav"] == "https://cal.example.org/dav/alice/work/"


def test_urls_quote_unicode_names(run: CLI) -> None:
    assert run("user", "add", "zoë", "--password-stdin", stdin="pw\n")[0] == 0
    assert run("calendar", "create", "zoë/Kalender ü")[0] == 0
    code, out, _ = run("urls", "zoë/Kalender ü", "--json")
    assert code == 0
    assert json.loads(out)["caldav"] == "http://127.0.0.1:5232/zo%C3%AB/Kalender%20%C3%BC/"


def test_urls_of_a_missing_calendar_is_an_error(alice: CLI) -> None:
    code, out, err = alice("urls", "alice/nothing", "--json")
    assert code == 1 and out == "" and "no calendar" in err


# --- database ---------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_and_is_idempotent(
    database_url: str, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    if database_url.startswith("postgresql"):  # the fixture truncated, not dropped
        engine = db.get_engine(database_url)
        with db.write_connection(engine) as conn, conn.begin():
            db.models.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS calserver_meta"))
    run = CLI(database_url, tmp_path, capsys, monkeypatch)
    code, out, _ = run("db", "upgrade")
    assert code == 0 and f"from version 0 to {db.LATEST}" in out
    code, out, _ = run("db", "upgrade")
    assert code == 0 and f"up to date (version {db.LATEST})" in out
    assert run("user", "add", "alice", "--password-stdin", stdin="pw\n")[0] == 0


def _set_schema_version(engine: Any, version: int) -> None:
    with db.write_connection(engine) as conn, conn.begin():
        conn.execute(
            db.models.meta.update()
            .where(db.models.meta.c.key == "schema_version")
            .values(value=str(version))
        )


def test_a_database_newer_than_the_program_is_refused(run: CLI, engine: Any) -> None:
    _set_schema_version(engine, db.LATEST + 1)
    try:
        code, _, err = run("user", "list")
        assert code == 2 and "newer" in err
        code, _, err = run("db", "upgrade")
        assert code == 2 and "newer" in err
    finally:  # the PostgreSQL database is shared by the session
        _set_schema_version(engine, db.LATEST)


def test_check_passes_on_a_sound_database(alice: CLI) -> None:
    assert alice("calendar", "create", "alice/work")[0] == 0
    assert alice("import", str(MIXED), "alice/work")[0] == 0
    code, out, _ = alice("check")
    assert code == 0 and "no problems found" in out


def test_check_finds_an_etag_that_does_not_match_the_data(alice: CLI, engine: Any) -> None:
    assert alice("calendar", "create", "alice/work")[0] == 0
    assert alice("import", str(MIXED), "alice/work")[0] == 0
    with db.write_connection(engine) as conn, conn.begin():
        conn.execute(
            text(
                "UPDATE items SET text = replace(text, 'Dentist', 'Tampered') "
                "WHERE uid = 'single-utc'"
            )
        )
    code, out, _ = alice("check")
    assert code == 1
    assert "'single-utc.ics'" in out and "ETag" in out
    # the text changed behind the search index's back too (issue 17)
    assert "search index: 1 item(s) have outdated words" in out and "2 problem(s) found" in out


# --- configuration and usage errors (a real process) ------------------------------------


@pytest.mark.live  # runs calserver commands
def test_missing_config_file_is_exit_2(database_url: str, tmp_path: Path, engine: Any) -> None:
    result = run_cli(database_url, tmp_path, "--config", str(tmp_path / "none"), "user", "list")
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "none" in result.stderr


@pytest.mark.live  # runs calserver commands
@pytest.mark.parametrize(
    "content",
    [
        "this is not an ini file\n",
        "[server]\nmax_content_length = lots\n",
        "[storage]\nindex_horizon_days = -3\n",
        "[nosuchsection]\nx = 1\n",
        "[server]\nno_such_option = 1\n",
        "[smtp]\nsecurity = maybe\n",
    ],
    ids=["not-ini", "bad-int", "negative", "unknown-section", "unknown-option", "bad-choice"],
)
def test_bad_config_file_is_exit_2(
    database_url: str, tmp_path: Path, engine: Any, content: str
) -> None:
    config = tmp_path / "config"
    config.write_text(content)
    result = run_cli(database_url, tmp_path, "--config", str(config), "user", "list")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "configuration error" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.live  # runs calserver commands
def test_config_file_values_are_used(database_url: str, tmp_path: Path, engine: Any) -> None:
    users.add(engine, "alice", PASSWORD)
    config = tmp_path / "config"
    config.write_text("[server]\npublic_url = https://calendar.example.net\n")
    assert run_cli(database_url, tmp_path, "calendar", "create", "alice/w").returncode == 0
    result = run_cli(database_url, tmp_path, "--config", str(config), "urls", "alice/w", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["caldav"] == "https://calendar.example.net/alice/w/"


@pytest.mark.live  # runs calserver commands
@pytest.mark.parametrize(
    "args",
    [
        ("--no-such-option", "user", "list"),
        ("user", "list", "--no-such-option"),
        ("frobnicate",),
        ("user",),
        ("user", "add"),
        ("calendar", "create"),
        (),
    ],
    ids=[
        "global-option",
        "command-option",
        "unknown-command",
        "no-action",
        "no-name",
        "no-path",
        "nothing",
    ],
)
def test_usage_errors_are_exit_2(
    database_url: str, tmp_path: Path, engine: Any, args: tuple[str, ...]
) -> None:
    result = run_cli(database_url, tmp_path, *args)
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.live  # runs calserver commands
def test_real_process_exit_codes_for_success_and_runtime_error(
    database_url: str, tmp_path: Path, engine: Any
) -> None:
    ok = run_cli(database_url, tmp_path, "user", "add", "alice", "--password-stdin", stdin="pw\n")
    assert ok.returncode == 0, ok.stderr
    again = run_cli(
        database_url, tmp_path, "user", "add", "alice", "--password-stdin", stdin="pw\n"
    )
    assert again.returncode == 1
    assert "exists" in again.stderr and "Traceback" not in again.stderr
