"""Shared fixtures: a database on every engine, an in-process WSGI client, and a live
``calserver serve`` process on 127.0.0.1.

PostgreSQL: ``CALSERVER_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``);
each test session creates a database of its own there and drops it at the end. Tests
marked ``postgresql`` are skipped, with the reason, only when no server answers.
"""

from __future__ import annotations

import base64
import io
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from calserver import config as calserver_config
from calserver import db
from calserver.accounts import users
from calserver.app import make_app
from calserver.db import models
from tests.tiers import (  # noqa: F401 - the hooks of the test tiers
    pytest_collection_modifyitems,
    pytest_runtest_call,
    pytest_runtest_setup,
    pytest_runtest_teardown,
)

PG_ADMIN_URL = os.environ.get(
    "CALSERVER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "correct horse battery"

os.environ.setdefault("CALSERVER_CONFIG", os.devnull)  # never read /etc/calserver/config


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason."""
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver or network error means "not reachable"
        return f"no PostgreSQL at {PG_ADMIN_URL}: {exc.__class__.__name__}: {exc}"[:300]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session."""
    reason = _pg_reachable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI must have PostgreSQL)")
        pytest.skip(reason)
    name = "calserver_test_%d_%s" % (os.getpid(), secrets.token_hex(3))
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    db.dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_pg(url: str) -> None:
    engine = db.get_engine(url)
    db.upgrade(engine)
    with engine.begin() as conn:
        # every table but the schema version (``meta``): new tables are never forgotten
        names = ", ".join(t.name for t in models.metadata.sorted_tables if t.name != "meta")
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every storage test runs once per engine."""
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path / "calserver.sqlite")
    url = request.getfixturevalue("pg_database")
    _reset_pg(url)
    return url


def make_configuration(database_url: str, data_folder: Path, **extra: dict[str, str]) -> Any:
    overrides: dict[str, dict[str, str]] = {
        "storage": {"database_url": database_url, "data_folder": str(data_folder)},
        "auth": {"delay": "0"},
        "logging": {"level": "warning"},
    }
    for section, options in extra.items():
        overrides.setdefault(section, {}).update(options)
    return calserver_config.load([], overrides)


def event_ics(
    uid: str,
    start: str = "20261123T100000Z",
    end: str = "20261123T110000Z",
    summary: str = "Event",
    extra: str = "",
) -> str:
    """One VEVENT as a calendar object resource."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
        f"DTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\n{extra}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class WSGIClient:
    """Requests straight into the WSGI application, as Radicale's own tests do."""

    app: Any
    configuration: Any
    default_user: str | None = None
    passwords: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        user: str | None = "",
        password: str | None = None,
    ) -> Response:
        if isinstance(body, str):
            body = body.encode("utf-8")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "5232",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "CONTENT_LENGTH": str(len(body)),
        }
        if "?" in path:
            environ["PATH_INFO"], environ["QUERY_STRING"] = path.split("?", 1)
        login = self.default_user if user == "" else user
        if login:
            secret = password if password is not None else self.passwords.get(login, PASSWORD)
            token = base64.b64encode(f"{login}:{secret}".encode()).decode()
            environ["HTTP_AUTHORIZATION"] = "Basic " + token
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:
                environ["HTTP_" + key] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> None:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = {k.lower(): v for k, v in response_headers}

        chunks = self.app(environ, start_response)
        data = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        return Response(captured["status"], captured["headers"], data)


@pytest.fixture
def configuration(database_url: str, tmp_path: Path) -> Any:
    return make_configuration(database_url, tmp_path)


@pytest.fixture
def engine(configuration: Any) -> Any:
    engine = db.engine_for(configuration)
    db.ensure_schema(engine)
    return engine


@pytest.fixture
def client(configuration: Any, engine: Any) -> WSGIClient:
    """In-process client; users alice and bob exist (password ``PASSWORD``)."""
    for name in ("alice", "bob"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    return WSGIClient(make_app(configuration), configuration, default_user="alice")


# --- a live server ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    data_folder: Path
    database_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(self.database_url, self.data_folder, *args, stdin=stdin)

    def add_user(self, name: str, password: str = PASSWORD) -> None:
        result = self.cli("user", "add", name, "--password-stdin", stdin=password + "\n")
        assert result.returncode == 0, result.stderr

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def run_cli(
    database_url: str, data_folder: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "calserver",
        "--storage-database-url",
        database_url,
        "--storage-data-folder",
        str(data_folder),
        *args,
    ]
    return subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CALSERVER_CONFIG": os.devnull},
    )


def wait_until_listening(
    port: int, process: subprocess.Popen[bytes], log_path: Path, name: str
) -> None:
    """Wait (30 s at most) until ``process`` accepts connections on 127.0.0.1:``port``;
    RuntimeError with its log when it exits or does not start."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: " + log_path.read_text(errors="replace"))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{name} did not start: " + log_path.read_text(errors="replace"))


def start_server(
    database_url: str, data_folder: Path, *extra: str, serve_args: tuple[str, ...] = ()
) -> LiveServer:
    """``calserver OPTIONS serve SERVE_ARGS`` on a free port, once it accepts
    connections (a later ``--logging-level`` in ``extra`` wins over the default)."""
    port = free_port()
    data_folder.mkdir(parents=True, exist_ok=True)
    log_path = data_folder / f"server-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calserver",
            "--storage-database-url",
            database_url,
            "--storage-data-folder",
            str(data_folder),
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--auth-delay",
            "0",
            "--logging-level",
            "warning",
            *extra,
            "serve",
            *serve_args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "CALSERVER_CONFIG": os.devnull},
    )
    wait_until_listening(port, process, log_path, "calserver")
    return LiveServer(f"http://127.0.0.1:{port}", data_folder, database_url, process, log_path)


def fresh_database(request: pytest.FixtureRequest, folder: Path) -> str:
    """An empty database on the engine of ``request.param``: a new SQLite file in
    ``folder``, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(folder / "live.sqlite")
    else:
        url = request.getfixturevalue("pg_database")
        _reset_pg(url)
    db.dispose_engines()
    return url


def serve_with_users(request: pytest.FixtureRequest, folder: Path) -> Iterator[LiveServer]:
    """A fresh database on the engine of ``request.param``, a ``calserver serve``
    process on it, and users alice and bob."""
    server = start_server(fresh_database(request, folder), folder / "data")
    try:
        for name in ("alice", "bob"):
            server.add_user(name)
        yield server
    finally:
        server.stop()
        db.dispose_engines()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def live_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """A ``calserver serve`` process with users alice and bob, per engine."""
    yield from serve_with_users(request, tmp_path)
