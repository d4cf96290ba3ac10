"""Email: the outbox and ``calserver worker``, against a real SMTP server (aiosmtpd)
started in the test, on every database engine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import inspect, select, update

from calserver import db
from calserver.db.models import mail_outbox, meta
from calserver.mail import MailError, enqueue, outbox
from tests.conftest import free_port, run_cli

SMTP_USER = "calserver-mailer"
SMTP_PASSWORD = "pa55-w0rd-never-logged"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: bytes | None

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Capture:
    """aiosmtpd handler keeping every message accepted.

    With ``gate``, the first message waits in DATA until a second client has sent one
    too, so that two workers are certainly busy at the same time."""

    gate: bool = False
    received: list[Received] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)
    _both: asyncio.Event | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.gate:
            if self._both is None:
                self._both = asyncio.Event()
            self.peers.add(session.peer)
            if len(self.peers) >= 2:
                self._both.set()
            # On time-out the test finds a single worker sending, and fails.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._both.wait(), 120)
        login = session.auth_data if session.authenticated else None
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
        )
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == SMTP_USER.encode()
        and data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)


@contextmanager
def smtp_server(port: int | None = None, **kwargs: Any) -> Iterator[tuple[Capture, int]]:
    handler = Capture(gate=kwargs.pop("gate", False))
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def message(
    subject: str = "Réunion ☕ demain",
    to: str = "Bob <bob@example.org>",
    body: str = "Bonjour Bob,\n\nla réunion est à 10 h.\n",
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(body)
    return msg


def queue(engine: Any, *messages: EmailMessage) -> list[int]:
    with engine.begin() as conn:
        return [enqueue(conn, m) for m in messages]


def rows(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(mail_outbox).order_by(mail_outbox.c.id)).all())


def worker(
    database_url: str, folder: Path, port: int, *options: str, once: bool = True
) -> subprocess.CompletedProcess[str]:
    smtp = ("--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--smtp-timeout", "20")
    return run_cli(database_url, folder, *smtp, *options, "worker", *(["--once"] if once else []))


def make_due(engine: Any) -> None:
    """As if the back-off had passed."""
    with engine.begin() as conn:
        conn.execute(update(mail_outbox).values(not_before=0.0))


# --- the queue, in-process -------------------------------------------------------------


def test_enqueue_belongs_to_the_callers_transaction(engine: Any) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        enqueue(conn, message())
        raise RuntimeError("the change that caused the email failed")
    assert rows(engine) == []
    [message_id] = queue(engine, message())
    assert [row.id for row in rows(engine)] == [message_id]


def test_enqueue_takes_envelope_recipients_from_to_cc_and_bcc_and_drops_bcc(engine: Any) -> None:
    original = message(
        to="Bob <bob@example.org>, carol@example.org",
        Cc="Dave <dave@example.org>",
        Bcc="eve@example.org",
    )
    queue(engine, original)
    [row] = rows(engine)
    assert row.recipients.split("\n") == [
        "bob@example.org",
        "carol@example.org",
        "dave@example.org",
        "eve@example.org",
    ]
    assert "Bcc" not in row.message and "eve@" not in row.message
    assert row.message.isascii()
    assert "Message-ID: <" in row.message and "Date: " in row.message
    assert original["Bcc"] is not None and original["Message-ID"] is None  # caller's copy


@pytest.mark.parametrize(
    ("headers", "explicit", "error"),
    [
        ({"to": "undisclosed-recipients:;"}, None, "at least one recipient"),
        ({}, ["not an address"], "not an email address"),
        ({}, [], "at least one recipient"),
    ],
)
def test_enqueue_refuses_a_message_nobody_can_receive(
    engine: Any, headers: dict[str, str], explicit: list[str] | None, error: str
) -> None:
    with pytest.raises(MailError, match=error), engine.begin() as conn:
        enqueue(conn, message(**headers), recipients=explicit)
    assert rows(engine) == []


def test_a_claimed_message_is_not_claimed_again_until_its_lease_runs_out(engine: Any) -> None:
    [message_id] = queue(engine, message())
    now = time.time()
    first = outbox.claim(engine, 60, now=now)
    assert first is not None and first.id == message_id
    assert outbox.claim(engine, 60, now=now) is None
    assert outbox.claim(engine, 60, now=now + 59) is None
    again = outbox.claim(engine, 60, now=now + 61)  # the first worker died
    assert again is not None and again.id == message_id
    assert outbox.mark_sent(engine, message_id)
    assert outbox.claim(engine, 60, now=now + 1000) is None
    assert not outbox.mark_sent(engine, message_id)  # a second mark is noticed


def test_retry_delay_doubles_from_30_seconds_and_stays_under_an_hour() -> None:
    delays = [outbox.retry_delay(n) for n in range(1, outbox.MAX_ATTEMPTS + 1)]
    assert delays[:5] == [30, 60, 120, 240, 480]
    assert max(delays) == 3600 and delays[-1] == 3600
    assert sum(delays[:-1]) > 20 * 3600  # gives up only after most of a day


def test_schema_upgrade_adds_the_outbox_to_a_version_4_database(engine: Any) -> None:
    with engine.begin() as conn:
        mail_outbox.drop(conn)
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="4"))
    assert db.upgrade(engine) == (4, db.LATEST)
    with engine.connect() as conn:
        assert inspect(conn).has_table("mail_outbox")
        indexes = {index["name"] for index in inspect(conn).get_indexes("mail_outbox")}
    assert "ix_mail_outbox_due" in indexes
    queue(engine, message())
    assert len(rows(engine)) == 1


# --- calserver worker against a real SMTP server -------------------------------------------


@pytest.mark.live  # runs calserver commands
def test_worker_delivers_a_message_exactly_once_and_it_parses_back(
    engine: Any, database_url: str, tmp_path: Path
) -> None:
    calendar = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
    msg = message(to="Bob <bob@example.org>", Cc="carol@example.org", Bcc="dave@example.org")
    msg.add_alternative(calendar, subtype="calendar", params={"method": "REQUEST"})
    [message_id] = queue(engine, msg)
    with smtp_server() as (captured, port):
        result = worker(database_url, tmp_path, port)
        assert result.returncode == 0, result.stderr
        assert "sent 1," in result.stdout
        again = worker(database_url, tmp_path, port)
        assert again.returncode == 0, again.stderr
        assert "sent 0," in again.stdout
    assert len(captured.received) == 1
    received = captured.received[0]
    assert received.mail_from == "calserver@localhost"
    assert received.rcpt_tos == ["bob@example.org", "carol@example.org", "dave@example.org"]
    parsed = received.message
    assert parsed["Subject"] == "Réunion ☕ demain"
    assert parsed["From"] == "Alice <alice@example.org>"
    assert parsed["To"] == "Bob <bob@example.org>"
    assert parsed["Cc"] == "carol@example.org"
    assert parsed["Bcc"] is None
    assert parsed["Message-ID"] and parsed["Date"]
    text = parsed.get_body(("plain",))
    assert text is not None and text.get_content() == "Bonjour Bob,\n\nla réunion est à 10 h.\n"
    ics = parsed.get_body(("calendar",))
    assert ics is not None and ics.get_param("method") == "REQUEST"
    assert "METHOD:REQUEST" in ics.get_content()
    [row] = rows(engine)
    assert (row.id, row.attempts, row.last_error) == (message_id, 1, "")
    assert row.sent is not None
    listing = run_cli(database_url, tmp_path, "mail-queue")
    assert listing.returncode == 0 and listing.stdout.strip() == "no email waiting"


@pytest.mark.live  # runs calserver commands
def test_a_message_without_from_gets_the_configured_sender(
    engine: Any, database_url: str, tmp_path: Path
) -> None:
    msg = message()
    del msg["From"]
    queue(engine, msg)
    with smtp_server() as (captured, port):
        result = worker(database_url, tmp_path, port, "--smtp-sender", "Calendar <cal@example.org>")
        assert result.returncode == 0, result.stderr
    [received] = captured.received
    assert received.mail_from == "cal@example.org"
    assert received.message["From"] == "Calendar <cal@example.org>"


@pytest.mark.live  # runs calserver commands
def test_smtp_down_keeps_the_message_then_delivers_it_once_the_server_is_back(
    engine: Any, database_url: str, tmp_path: Path
) -> None:
    [message_id] = queue(engine, message())
    port = free_port()  # nothing listens there
    before = time.time()
    result = worker(database_url, tmp_path, port)
    assert result.returncode == 0, result.stderr
    assert "failed 1 (will be retried)" in result.stdout
    [row] = rows(engine)
    assert (row.attempts, row.sent, row.failed) == (1, None, None)
    assert row.not_before >= before + outbox.RETRY_FIRST
    assert f"connect to 127.0.0.1:{port}" in row.last_error
    listing = run_cli(database_url, tmp_path, "mail-queue")
    assert listing.returncode == 0, listing.stderr
    line = listing.stdout.splitlines()[1].split("\t")
    assert line[:3] == [str(message_id), "bob@example.org", "1 attempt(s)"]
    assert line[3].endswith("Z") and f"127.0.0.1:{port}" in line[4]

    with smtp_server(port) as (captured, _):
        early = worker(database_url, tmp_path, port)  # not due yet: back-off
        assert early.returncode == 0 and "sent 0," in early.stdout
        assert captured.received == []
        make_due(engine)
        back = worker(database_url, tmp_path, port)
        assert back.returncode == 0 and "sent 1," in back.stdout
        make_due(engine)
        worker(database_url, tmp_path, port)
    assert len(captured.received) == 1
    [row] = rows(engine)
    assert row.sent is not None and row.attempts == 2


@pytest.mark.live  # runs calserver commands
def test_a_message_is_given_up_after_the_last_attempt_and_kept(
    engine: Any, database_url: str, tmp_path: Path
) -> None:
    [message_id] = queue(engine, message())
    with engine.begin() as conn:
        conn.execute(update(mail_outbox).values(attempts=outbox.MAX_ATTEMPTS - 1))
    result = worker(database_url, tmp_path, free_port())
    assert result.returncode == 0 and "given up 1" in result.stdout
    assert "given up after" in result.stderr  # logged
    [row] = rows(engine)
    assert row.failed is not None and row.sent is None and row.last_error
    listing = run_cli(database_url, tmp_path, "mail-queue")
    assert f"{message_id}\tbob@example.org" in listing.stdout and "never (gave up" in listing.stdout
    with smtp_server() as (captured, port):
        make_due(engine)
        assert worker(database_url, tmp_path, port).returncode == 0
    assert captured.received == []


@pytest.mark.live  # runs calserver commands
def test_two_workers_at_once_deliver_every_message_exactly_once(
    engine: Any, database_url: str, tmp_path: Path
) -> None:
    count = 24
    queue(engine, *(message(subject=f"message {n}") for n in range(count)))
    results: list[subprocess.CompletedProcess[str]] = []
    with smtp_server(gate=True) as (captured, port):
        threads = [
            threading.Thread(target=lambda: results.append(worker(database_url, tmp_path, port)))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    subjects = sorted(r.message["Subject"] for r in captured.received)
    assert subjects == sorted(f"message {n}" for n in range(count))
    assert len(captured.peers) == 2  # both workers were sending at the same time
    sent = [int(r.stdout.split("sent ", 1)[1].split(",", 1)[0]) for r in results]
    assert sum(sent) == count and min(sent) >= 1
    assert all(row.sent is not None and row.attempts == 1 for row in rows(engine))


@pytest.mark.live  # runs calserver commands
def test_login_with_username_and_password(engine: Any, database_url: str, tmp_path: Path) -> None:
    queue(engine, message())
    with smtp_server(authenticator=_authenticator, auth_require_tls=False) as (captured, port):
        result = worker(
            database_url,
            tmp_path,
            port,
            "--smtp-username",
            SMTP_USER,
            "--smtp-password",
            SMTP_PASSWORD,
        )
        assert result.returncode == 0, result.stderr
    [received] = captured.received
    assert received.login == SMTP_USER.encode()


@pytest.mark.live  # runs calserver commands
def test_a_wrong_password_keeps_the_message_with_the_error_and_never_logs_it(
    engine: Any, database_url: str, tmp_path: Path
) -> None:
    queue(engine, message())
    wrong = "wr0ng-" + SMTP_PASSWORD
    with smtp_server(authenticator=_authenticator, auth_require_tls=False) as (captured, port):
        options = ("--smtp-username", SMTP_USER, "--smtp-password", wrong)
        result = worker(database_url, tmp_path, port, "--logging-level", "debug", *options)
        assert result.returncode == 0, result.stderr
        assert "failed 1 (will be retried)" in result.stdout
        listing = run_cli(database_url, tmp_path, "mail-queue")
    assert captured.received == []
    [row] = rows(engine)
    assert (row.attempts, row.sent, row.failed) == (1, None, None)
    assert f"login as {SMTP_USER}" in row.last_error and "535" in row.last_error
    for text in (row.last_error, result.stdout, result.stderr, listing.stdout):
        assert wrong not in text


def _certificate(folder: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.live  # runs calserver commands
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_starttls_and_tls_verify_the_server_and_log_in(
    engine: Any,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    security: str,
) -> None:
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if security == "starttls":
        tls: dict[str, Any] = {"tls_context": context, "require_starttls": True}
    else:
        # aiosmtpd counts only STARTTLS as TLS for AUTH; this connection is TLS throughout.
        tls = {"ssl_context": context, "auth_require_tls": False}
    queue(engine, message())
    login = ("--smtp-username", SMTP_USER, "--smtp-password", SMTP_PASSWORD)
    with smtp_server(authenticator=_authenticator, **tls) as (captured, port):
        # The system's CA store does not know the test certificate: refused, kept.
        untrusted = worker(database_url, tmp_path, port, "--smtp-security", security, *login)
        assert untrusted.returncode == 0 and "failed 1" in untrusted.stdout
        assert "CERTIFICATE_VERIFY_FAILED" in rows(engine)[0].last_error
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        make_due(engine)
        result = worker(database_url, tmp_path, port, "--smtp-security", security, *login)
        assert result.returncode == 0 and "sent 1," in result.stdout, result.stderr
    [received] = captured.received
    assert received.login == SMTP_USER.encode()
    assert received.message["Subject"] == "Réunion ☕ demain"


@pytest.mark.live  # runs calserver commands
def test_mail_disabled_keeps_messages_queued_and_the_worker_says_so(
    engine: Any, database_url: str, tmp_path: Path
) -> None:
    queue(engine, message(), message())
    for args in (("worker", "--once"), ("worker",)):
        result = run_cli(database_url, tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert "mail is disabled ([smtp] host is empty): 2 message(s) stay queued" in result.stderr
    assert all(row.sent is None and row.attempts == 0 for row in rows(engine))
    listing = run_cli(database_url, tmp_path, "mail-queue")
    assert len(listing.stdout.splitlines()) == 3 and "due now" in listing.stdout


@pytest.mark.live  # runs calserver commands
def test_worker_keeps_sending_until_sigterm_then_exits_cleanly(
    engine: Any, database_url: str, tmp_path: Path
) -> None:
    queue(engine, message(subject="before"))
    log_path = tmp_path / "worker.log"
    with smtp_server() as (captured, port), open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "calserver",
                "--storage-database-url",
                database_url,
                "--storage-data-folder",
                str(tmp_path),
                "--smtp-host",
                "127.0.0.1",
                "--smtp-port",
                str(port),
                "worker",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CALSERVER_CONFIG": os.devnull},
        )
        try:
            _wait_for(lambda: len(captured.received) == 1, process)
            queue(engine, message(subject="after"))  # found by the next poll
            _wait_for(lambda: len(captured.received) == 2, process)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = log_path.read_text(errors="replace")
    assert process.returncode == 0, output
    assert "Traceback" not in output and "mail worker stopped" in output
    assert "mail 2 sent to bob@example.org" in output
    assert [r.message["Subject"] for r in captured.received] == ["before", "after"]


def _wait_for(condition: Any, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the worker exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError("the worker did not send in time")
        time.sleep(0.05)
