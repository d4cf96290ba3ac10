"""SMS through a pluggable gateway (issue 16 item 3), and the phone numbers they go to.

``[sms] backend``:

- ``none`` (default): no SMS; asking for one is refused (409).
- ``http``: a POST of the JSON object ``{"to": "+3212345678", "text": "...", "id":
  "calserver-sms-42"}`` to ``[sms] url``, with the header ``X-Calserver-Signature``: the
  hex HMAC-SHA256 of the exact body under ``[sms] secret``. Any 2xx means accepted.
  Messages wait in ``sms_outbox`` and are claimed under a lease like the mail outbox
  (several workers, no duplicates); a failure is retried with back-off (30 s doubling,
  at most an hour apart) and given up after :data:`MAX_ATTEMPTS`. The ``id`` is the
  same on every attempt, so a gateway can drop a repeat. A gateway that answers
  slowly holds one message for ``[sms] timeout`` at most, never the reminders queue
  (SMS are delivered by their own loop).
- ``smtp``: a mail to ``[sms] smtp_address`` with ``{number}`` replaced (an e-mail to
  SMS gateway), queued in the mail outbox.

Numbers are E.164 (ITU-T E.164: ``+``, a country code, at most 15 digits) and must be
verified with a six-digit one-time code sent by SMS before any other SMS goes to them;
the code is kept hashed, lives 15 minutes and allows five tries.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from calserver.db import claim_row, upsert, write_connection
from calserver.db.models import phones, sms_outbox
from calserver.errors import Conflict, InvalidInput, NotFound
from calserver.mail import outbox
from calserver.reminders import clock, smstext

logger = logging.getLogger("calserver.reminders")

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_ATTEMPTS = 12
CODE_SECONDS = 15 * 60
CODE_TRIES = 5


def check_number(value: str) -> str:
    number = re.sub(r"[ \-().]", "", str(value))
    if not E164.match(number):
        raise InvalidInput(
            f"{value!r} is not a phone number in E.164 form (a +, the country code and the "
            "number, e.g. +32470123456)"
        )
    return number


def signature(secret: str, body: bytes) -> str:
    """The ``X-Calserver-Signature`` of ``body``."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def enqueue(
    conn: Connection, configuration: Any, number: str, text: str, *, now: float | None = None
) -> None:
    """Queue one SMS (fitted to 3 x 153 GSM characters) in the caller's transaction."""
    now = clock.now() if now is None else now
    backend = configuration.get("sms", "backend")
    fitted = smstext.fit(text.split("\n"))
    if backend == "http":
        conn.execute(
            insert(sms_outbox).values(
                number=number,
                text=fitted,
                created=now,
                not_before=now,
                attempts=0,
                claimed_until=0.0,
                last_error="",
            )
        )
    elif backend == "smtp":
        message = EmailMessage()
        message["To"] = configuration.get("sms", "smtp_address").replace(
            "{number}", number.lstrip("+")
        )
        message["Subject"] = "SMS"
        message.set_content(fitted)
        outbox.enqueue(conn, message, now=now)
    else:
        raise Conflict("SMS are not available: this server has no SMS gateway ([sms] backend)")


# --- phones ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Phone:
    number: str
    verified: bool

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "verified": self.verified}


def get_phone(engine: Engine, user: str) -> Phone | None:
    with engine.connect() as conn:
        row = conn.execute(select(phones).where(phones.c.user_name == user)).first()
    return None if row is None else Phone(row.number, bool(row.verified))


def set_phone(
    engine: Engine, configuration: Any, user: str, value: str, *, now: float | None = None
) -> Phone:
    """Set the user's number (unverified) and send it a one-time code."""
    now = clock.now() if now is None else now
    number = check_number(value)
    if configuration.get("sms", "backend") == "none":
        raise Conflict("SMS are not available: this server has no SMS gateway ([sms] backend)")
    code = f"{secrets.randbelow(1_000_000):06d}"
    with write_connection(engine) as conn, conn.begin():
        upsert(
            conn,
            phones,
            {
                "user_name": user,
                "number": number,
                "verified": False,
                "code_hash": _hash(code),
                "code_expires": now + CODE_SECONDS,
                "code_attempts": 0,
            },
            ["user_name"],
        )
        enqueue(conn, configuration, number, f"Your calserver code: {code}", now=now)
    return Phone(number, False)


def verify_phone(engine: Engine, user: str, code: str, *, now: float | None = None) -> Phone:
    now = clock.now() if now is None else now
    with write_connection(engine) as conn, conn.begin():
        row = conn.execute(select(phones).where(phones.c.user_name == user)).first()
        if row is None:
            raise NotFound("no phone number to verify: add one first")
        if row.verified:
            return Phone(row.number, True)
        if row.code_attempts >= CODE_TRIES or now > row.code_expires:
            raise Conflict("the code has expired: set the number again for a new code")
        good = hmac.compare_digest(row.code_hash, _hash(str(code).strip()))
        conn.execute(
            update(phones)
            .where(phones.c.user_name == user)
            .values(
                verified=good,
                code_attempts=row.code_attempts + (0 if good else 1),
                code_hash="" if good else row.code_hash,
            )
        )
    if not good:
        raise InvalidInput("that code is not the one sent")
    return Phone(row.number, True)


def remove_phone(engine: Engine, user: str) -> None:
    with write_connection(engine) as conn, conn.begin():
        conn.execute(delete(phones).where(phones.c.user_name == user))


def verified_number(conn: Connection, user: str) -> str | None:
    row = conn.execute(
        select(phones.c.number, phones.c.verified).where(phones.c.user_name == user)
    ).first()
    return row.number if row is not None and row.verified else None


# --- the http gateway's queue -------------------------------------------------------------


@dataclass
class Counts:
    sent: int = 0
    retrying: int = 0
    gave_up: int = 0


def retry_delay(attempts: int) -> float:
    return outbox.retry_delay(attempts)


def _due(now: float) -> Any:
    return (
        sms_outbox.c.sent.is_(None)
        & sms_outbox.c.failed.is_(None)
        & (sms_outbox.c.not_before <= now)
        & (sms_outbox.c.claimed_until <= now)
    )


def claim(engine: Engine, lease: float, now: float) -> Any | None:
    return claim_row(engine, sms_outbox, _due(now), (sms_outbox.c.id,), now + lease)


def post(configuration: Any, body: bytes) -> int:
    """POST ``body`` to the gateway; its status."""
    url = configuration.get("sms", "url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OSError(f"[sms] url is not an http(s) URL: {url!r}")
    timeout = configuration.get("sms", "timeout")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/json",
        "X-Calserver-Signature": signature(configuration.get("sms", "secret"), body),
    }
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


def send_due(
    engine: Engine,
    configuration: Any,
    *,
    now: float | None = None,
    stop: threading.Event | None = None,
) -> Counts:
    """Send every due SMS of the http gateway's queue."""
    counts = Counts()
    if configuration.get("sms", "backend") != "http":
        return counts
    now = clock.now() if now is None else now
    lease = 30.0 + 2 * configuration.get("sms", "timeout")
    while stop is None or not stop.is_set():
        row = claim(engine, lease, now)
        if row is None:
            break
        body = json.dumps(
            {"to": row.number, "text": row.text, "id": f"calserver-sms-{row.id}"},
            ensure_ascii=False,
        ).encode("utf-8")
        try:
            status = post(configuration, body)
            error = "" if 200 <= status < 300 else f"the gateway answered {status}"
        except (OSError, http.client.HTTPException) as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        with write_connection(engine) as conn, conn.begin():
            if not error:
                conn.execute(
                    update(sms_outbox)
                    .where(sms_outbox.c.id == row.id)
                    .values(sent=now, attempts=row.attempts + 1, claimed_until=0.0)
                )
                counts.sent += 1
                continue
            attempts = row.attempts + 1
            values: dict[str, Any] = {
                "attempts": attempts,
                "last_error": error[:1000],
                "claimed_until": 0.0,
            }
            if attempts >= MAX_ATTEMPTS:
                values["failed"] = now
                counts.gave_up += 1
            else:
                values["not_before"] = now + retry_delay(attempts)
                counts.retrying += 1
            conn.execute(update(sms_outbox).where(sms_outbox.c.id == row.id).values(**values))
            logger.warning("SMS %d: %s", row.id, error)
    return counts


@dataclass(frozen=True)
class QueuedSms:
    id: int
    number: str
    text: str
    attempts: int
    not_before: float
    sent: float | None
    failed: float | None
    last_error: str


def unsent(engine: Engine) -> list[QueuedSms]:
    """SMS not sent: waiting and given-up ones, oldest first (``calserver sms-queue``)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(sms_outbox).where(sms_outbox.c.sent.is_(None)).order_by(sms_outbox.c.id)
        ).all()
    return [
        QueuedSms(r.id, r.number, r.text, r.attempts, r.not_before, r.sent, r.failed, r.last_error)
        for r in rows
    ]


def sent_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(sms_outbox).where(sms_outbox.c.sent.is_not(None))
            ).scalar_one()
        )
