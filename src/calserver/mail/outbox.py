"""The outbox: email waiting in the database until ``calserver worker`` sends it.

A message is a row of ``mail_outbox`` holding the whole RFC 5322 message as 7-bit text
and its envelope recipients (RFC 5321 section 2.3.1: the envelope, not the headers,
decides who receives it, so Bcc recipients are kept there and the Bcc header is dropped).

Who sends what, when several workers share one queue: a worker *claims* one due message
with a compare-and-set ``UPDATE ... WHERE claimed_until <= now AND sent IS NULL``; only
the worker whose update changed the row owns it until ``claimed_until`` (its lease). The
statement is plain SQL, so it is exclusive on SQLite (one writer) and on PostgreSQL (a
concurrent update of the same row waits and then re-checks the condition). Leases compare
the clocks of the hosts running workers: keep them synchronised (NTP).

Retry policy: a failed attempt is tried again after 30 s, then after twice as long each
time, at most an hour apart; after :data:`MAX_ATTEMPTS` failed attempts (about a day) the
message is given up — kept with its error, and listed by ``calserver mail-queue``.
"""

from __future__ import annotations

import copy
import email.policy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import HeaderParser
from email.utils import formatdate, getaddresses, make_msgid, parseaddr

from sqlalchemy import Connection, Engine, func, insert, select, update

from calserver.db import claim_row, write_connection
from calserver.db.models import mail_outbox
from calserver.errors import InvalidInput

#: Seconds before the second attempt; each later one waits twice as long ...
RETRY_FIRST = 30.0
#: ... but never longer than this.
RETRY_MAX = 3600.0
#: Failed attempts after which a message is given up (30 s ... 1 h apart: about a day).
MAX_ATTEMPTS = 30

#: How messages are stored: 7-bit (MIME-encoded headers, base64 or quoted-printable
#: bodies), so that the stored text is what goes over any SMTP server as it is.
_STORE_POLICY = email.policy.default.clone(cte_type="7bit")


class MailError(InvalidInput):
    """A message that cannot be queued (no recipient, an address that is not one)."""


@dataclass(frozen=True)
class Claimed:
    """A message a worker owns until ``lease_until``."""

    id: int
    recipients: list[str]
    message: str
    attempts: int
    lease_until: float


@dataclass(frozen=True)
class Queued:
    """A message not sent yet, as ``calserver mail-queue`` lists it."""

    id: int
    created: float
    recipients: list[str]
    subject: str
    attempts: int
    last_error: str
    not_before: float
    failed: float | None


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1, 2, ...)."""
    return min(RETRY_FIRST * 2 ** min(max(attempts, 1) - 1, 32), RETRY_MAX)


def _recipients(message: EmailMessage, explicit: Sequence[str] | None) -> list[str]:
    if explicit is not None:
        candidates = [parseaddr(address)[1] for address in explicit]
    else:
        headers = [str(h) for name in ("To", "Cc", "Bcc") for h in message.get_all(name, [])]
        candidates = [address for _, address in getaddresses(headers) if address]
    addresses: list[str] = []
    for address in candidates:
        if "@" not in address or any(c.isspace() for c in address) or not address.isascii():
            raise MailError(f"not an email address: {address!r}")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise MailError("an email needs at least one recipient")
    return addresses


def enqueue(
    conn: Connection,
    message: EmailMessage,
    *,
    recipients: Sequence[str] | None = None,
    now: float | None = None,
) -> int:
    """Queue ``message`` in the caller's transaction; returns its id.

    The envelope recipients are ``recipients``, or else every address of the To, Cc and
    Bcc headers. Date and Message-ID are added when missing (one Message-ID for every
    attempt, so a receiver can tell a repeated delivery); the Bcc header is dropped. A
    message without From gets ``[smtp] sender`` when it is sent. ``message`` itself is
    not changed.
    """
    now = time.time() if now is None else now
    addresses = _recipients(message, recipients)
    stored = copy.deepcopy(message)
    del stored["Bcc"]
    if "Date" not in stored:
        stored["Date"] = formatdate(now, usegmt=True)
    if "Message-ID" not in stored:
        sender = parseaddr(str(stored.get("From", "")))[1]
        domain = sender.rpartition("@")[2] or "calserver.invalid"
        stored["Message-ID"] = make_msgid("calserver", domain=domain)
    text = stored.as_string(policy=_STORE_POLICY)
    if not text.isascii():
        raise MailError("the message cannot be encoded as 7-bit text")
    result = conn.execute(
        insert(mail_outbox).values(
            created=now,
            recipients="\n".join(addresses),
            message=text,
            not_before=now,
            attempts=0,
            last_error="",
            claimed_until=0.0,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _due(now: float):  # type: ignore[no-untyped-def]
    return (
        mail_outbox.c.sent.is_(None)
        & mail_outbox.c.failed.is_(None)
        & (mail_outbox.c.not_before <= now)
        & (mail_outbox.c.claimed_until <= now)
    )


def claim(engine: Engine, lease: float, *, now: float | None = None) -> Claimed | None:
    """Take the next due message for ``lease`` seconds, or None when nothing is due
    (or every due message is taken by another worker)."""
    now = time.time() if now is None else now
    lease_until = now + lease
    row = claim_row(
        engine, mail_outbox, _due(now), (mail_outbox.c.not_before, mail_outbox.c.id), lease_until
    )
    if row is None:
        return None
    return Claimed(row.id, row.recipients.split("\n"), row.message, row.attempts, lease_until)


def mark_sent(engine: Engine, message_id: int, note: str = "", *, now: float | None = None) -> bool:
    """Record that the SMTP server accepted the message (``note``: recipients it refused).
    False when it was already marked sent (a lease that ran out: sent twice)."""
    now = time.time() if now is None else now
    with write_connection(engine) as conn, conn.begin():
        return (
            conn.execute(
                update(mail_outbox)
                .where((mail_outbox.c.id == message_id) & mail_outbox.c.sent.is_(None))
                .values(
                    sent=now,
                    attempts=mail_outbox.c.attempts + 1,
                    last_error=note,
                    claimed_until=0.0,
                )
            ).rowcount
            == 1
        )


def mark_failed(
    engine: Engine, message_id: int, error: str, *, now: float | None = None
) -> tuple[int, float | None]:
    """Record a failed attempt: the message is due again after :func:`retry_delay`, or
    given up after :data:`MAX_ATTEMPTS`. Returns (attempts, next attempt or None when
    given up)."""
    now = time.time() if now is None else now
    with write_connection(engine) as conn, conn.begin():
        attempts = conn.execute(
            select(mail_outbox.c.attempts).where(mail_outbox.c.id == message_id)
        ).scalar_one()
        attempts += 1
        next_attempt: float | None = now + retry_delay(attempts)
        values: dict[str, object] = {
            "attempts": attempts,
            "last_error": error,
            "claimed_until": 0.0,
        }
        if attempts >= MAX_ATTEMPTS:
            values["failed"] = now
            next_attempt = None
        else:
            values["not_before"] = next_attempt
        conn.execute(
            update(mail_outbox)
            .where((mail_outbox.c.id == message_id) & mail_outbox.c.sent.is_(None))
            .values(**values)
        )
    return attempts, next_attempt


def waiting(engine: Engine) -> int:
    """How many messages wait to be sent (given-up ones not counted)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(mail_outbox)
                .where(mail_outbox.c.sent.is_(None) & mail_outbox.c.failed.is_(None))
            ).scalar_one()
        )


def unsent(engine: Engine) -> list[Queued]:
    """Every message not sent: waiting ones and given-up ones, oldest first."""

    with engine.connect() as conn:
        rows = conn.execute(
            select(mail_outbox).where(mail_outbox.c.sent.is_(None)).order_by(mail_outbox.c.id)
        ).all()
    parser = HeaderParser(policy=email.policy.default)
    return [
        Queued(
            id=row.id,
            created=row.created,
            recipients=row.recipients.split("\n"),
            subject=str(parser.parsestr(row.message).get("Subject", "")),
            attempts=row.attempts,
            last_error=row.last_error,
            not_before=row.not_before,
            failed=row.failed,
        )
        for row in rows
    ]
