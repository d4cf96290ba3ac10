"""``calserver worker``: sends the outbox through the ``[smtp]`` server.

SMTP (RFC 5321) with :mod:`smtplib`: plain, STARTTLS (RFC 3207) or TLS from the first
byte (RFC 8314), the server's certificate verified against the system's CA store; AUTH
(RFC 4954) when ``[smtp] username`` is set. One SMTP session serves every message of a
run; it is opened when the first message needs it.

Each message is claimed under a lease (:func:`calserver.mail.outbox.claim`), so any
number of workers, on one host or several, can share one queue. A message is marked
sent in its own transaction as soon as the server has accepted it (the reply to the
end of DATA). **The one window for a duplicate** is a crash, or a lost database, between
that reply and the mark (or a server that accepts and drops the connection before
replying): the lease then runs out and the message is sent again, with the same
Message-ID. Nothing else sends a message twice.

A failed attempt (the server unreachable, TLS or login refused, the message refused) is
recorded with its error and retried with back-off (:func:`calserver.mail.outbox.retry_delay`);
when the server cannot be reached or refuses the login, the run stops there and the other
messages wait for the next one. The password is never logged nor stored with an error.
"""

from __future__ import annotations

import logging
import signal
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.parser import HeaderParser
from email.policy import SMTP
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from calserver.mail import outbox

logger = logging.getLogger("calserver.mail")

#: Seconds between two looks at the queue when the worker runs as a service.
POLL_SECONDS = 5.0


@dataclass(frozen=True)
class SmtpSettings:
    """The ``[smtp]`` section, read once."""

    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    sender: str
    timeout: float

    @classmethod
    def from_configuration(cls, configuration: Any) -> SmtpSettings:
        def get(option: str) -> Any:
            return configuration.get("smtp", option)

        return cls(
            host=get("host").strip(),
            port=get("port"),
            security=get("security"),
            username=get("username"),
            password=get("password"),
            sender=get("sender"),
            timeout=get("timeout"),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def lease(self) -> float:
        """How long a worker owns a claimed message: connecting, TLS, login and each
        SMTP command may each take up to ``timeout``."""
        return 60.0 + 10 * self.timeout


@dataclass
class Counts:
    """What one run did."""

    sent: int = 0
    retrying: int = 0  # failed attempts that will be tried again
    gave_up: int = 0
    waiting: int = 0  # messages still queued when the run ended
    disabled: bool = False  # [smtp] host is empty: nothing was tried

    def summary(self) -> str:
        if self.disabled:
            return f"mail is disabled ([smtp] host is empty): {self.waiting} message(s) stay queued"
        return (
            f"sent {self.sent}, failed {self.retrying} (will be retried), "
            f"given up {self.gave_up}; {self.waiting} waiting"
        )


class _SessionError(Exception):
    """The SMTP session could not be opened (connect, STARTTLS or login)."""


def _describe(exc: BaseException, settings: SmtpSettings) -> str:
    """One line about an SMTP or network error, without the password."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "recipients refused: " + "; ".join(
            f"{address}: {code} {reply.decode('utf-8', 'replace')}"
            for address, (code, reply) in exc.recipients.items()
        )
    elif isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode("utf-8", "replace")
        text = f"{exc.smtp_code} {reply}"
    else:
        text = f"{exc.__class__.__name__}: {exc}"
    if settings.password:
        text = text.replace(settings.password, "***")
    return " ".join(text.split())[:1000]


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def open_session(settings: SmtpSettings) -> smtplib.SMTP:
    """A connected SMTP session, on TLS and logged in as the settings say."""
    where = f"{settings.host}:{settings.port}"
    context = ssl.create_default_context()
    step = f"connect to {where}"
    try:
        if settings.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise _SessionError(f"{step}: {_describe(exc, settings)}") from exc
    try:
        if settings.security == "starttls":
            step = f"STARTTLS with {where}"
            smtp.starttls(context=context)
        if settings.username:
            step = f"login as {settings.username} at {where}"
            smtp.login(settings.username, settings.password)
    except (OSError, smtplib.SMTPException) as exc:
        _quit(smtp)
        raise _SessionError(f"{step}: {_describe(exc, settings)}") from exc
    return smtp


def _with_sender(text: str, sender: str) -> str:
    """The stored message, with ``From: sender`` when it has no From."""
    if HeaderParser().parsestr(text, headersonly=True).get("From") is not None:
        return text

    return SMTP.fold("From", sender).replace("\r\n", "\n") + text


class _Run:
    """One pass over the due messages through one SMTP session."""

    def __init__(self, engine: Engine, settings: SmtpSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None
        self.counts = Counts()

    def close(self) -> None:
        if self.smtp is not None:
            _quit(self.smtp)
            self.smtp = None

    def _failed(self, claimed: outbox.Claimed, error: str) -> None:
        attempts, next_attempt = outbox.mark_failed(self.engine, claimed.id, error)
        to = ", ".join(claimed.recipients)
        if next_attempt is None:
            self.counts.gave_up += 1
            logger.error(
                "mail %d to %s: given up after %d attempts: %s", claimed.id, to, attempts, error
            )
        else:
            self.counts.retrying += 1
            logger.warning(
                "mail %d to %s: attempt %d failed, next in %d s: %s",
                claimed.id,
                to,
                attempts,
                round(next_attempt - time.time()),
                error,
            )

    def attempt(self, claimed: outbox.Claimed) -> bool:
        """Send one claimed message; False when the server cannot be used at all."""
        if self.smtp is None:
            try:
                self.smtp = open_session(self.settings)
            except _SessionError as exc:
                self._failed(claimed, str(exc))
                return False
        text = _with_sender(claimed.message, self.settings.sender)
        try:
            refused = self.smtp.sendmail(self.settings.envelope_sender, claimed.recipients, text)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()  # the session's state is unknown: the next message starts afresh
            self._failed(claimed, "send: " + _describe(exc, self.settings))
            return True
        # Accepted: mark it before anything else (see the module's docstring).
        note = ""
        if refused:
            note = "accepted, but recipients refused: " + "; ".join(
                f"{address}: {code} {reply.decode('utf-8', 'replace')}"
                for address, (code, reply) in refused.items()
            )
        if not outbox.mark_sent(self.engine, claimed.id, note):
            logger.warning("mail %d was sent again after its lease ran out", claimed.id)
        self.counts.sent += 1
        logger.info("mail %d sent to %s", claimed.id, ", ".join(claimed.recipients))
        if note:
            logger.warning("mail %d: %s", claimed.id, note)
        return True


def run_once(engine: Engine, configuration: Any, *, stop: threading.Event | None = None) -> Counts:
    """Send every message that is due now (until ``stop`` is set); returns the counts."""
    settings = SmtpSettings.from_configuration(configuration)
    if not settings.enabled:
        return Counts(disabled=True, waiting=outbox.waiting(engine))
    run = _Run(engine, settings)
    try:
        while stop is None or not stop.is_set():
            claimed = outbox.claim(engine, settings.lease)
            if claimed is None or not run.attempt(claimed):
                break
    finally:
        run.close()
    run.counts.waiting = outbox.waiting(engine)
    return run.counts


def run_forever(
    engine: Engine,
    configuration: Any,
    stop: threading.Event | None = None,
    poll: float = POLL_SECONDS,
) -> None:
    """Send what is due every ``poll`` seconds until ``stop`` is set — by SIGTERM or
    SIGINT when called from the main thread. A message being sent is finished and
    marked first."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    settings = SmtpSettings.from_configuration(configuration)
    logger.info(
        "mail worker sending through %s:%d (%s)", settings.host, settings.port, settings.security
    )
    while not stop.is_set():
        try:
            run_once(engine, configuration, stop=stop)
        except OperationalError as exc:  # the database is away: try again later
            logger.error("mail worker: database error: %s", exc.orig or exc)
        stop.wait(poll)
    logger.info("mail worker stopped")
