"""WebDAV-Push subscriptions and their queue (table ``push_subscriptions``).

A subscription belongs to the user who registered it and to one calendar (its own
path: a subscription made through an alias follows the calendar). Registering the same
push resource again on the same calendar renews it (the draft: the server updates the
expiry and answers 204).

The queue coalesces (draft "WebDAV-Push", section on sending): a write marks every live
subscription of the calendar pending (:func:`changed`, in the write's transaction, so
a push exists exactly when the change committed); the worker claims a pending row
whose ``not_before`` has come, sends one message, and sets ``not_before`` to
``[push] interval`` later. Any number of writes in between is one message.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, insert, select, update

from calserver.db import claim_row, write_connection
from calserver.db.models import push_subscriptions as subs
from calserver.push.crypto import b64url

#: Failed attempts after which a pending message is dropped (the subscription stays).
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Subscription:
    id: int
    token: str
    user: str
    collection_path: str
    push_resource: str
    public_key: str
    auth_secret: str
    expires: float
    attempts: int = 0
    pending_since: float | None = None


def topic(server_key: bytes, calendar_path: str) -> str:
    """The calendar's push topic: opaque, stable, unguessable (22 characters of
    base64url, within RFC 8030 5.4's 32)."""
    mac = hmac.new(server_key, b"webdav-push topic\x00" + calendar_path.encode(), hashlib.sha256)
    return b64url(mac.digest()[:16])


def register(
    conn: Connection,
    user: str,
    calendar_path: str,
    push_resource: str,
    public_key: str,
    auth_secret: str,
    expires: float,
    *,
    now: float | None = None,
) -> tuple[str, bool]:
    """Store (or renew) a subscription; (its token, whether it is new)."""
    now = time.time() if now is None else now
    row = conn.execute(
        select(subs.c.id, subs.c.token).where(
            subs.c.user == user,
            subs.c.collection_path == calendar_path,
            subs.c.push_resource == push_resource,
        )
    ).first()
    if row is not None:
        conn.execute(
            update(subs)
            .where(subs.c.id == row.id)
            .values(public_key=public_key, auth_secret=auth_secret, expires=expires)
        )
        return str(row.token), False
    token = secrets.token_urlsafe(24)
    conn.execute(
        insert(subs).values(
            token=token,
            user=user,
            collection_path=calendar_path,
            push_resource=push_resource,
            public_key=public_key,
            auth_secret=auth_secret,
            expires=expires,
            created=now,
            not_before=0.0,
            claimed_until=0.0,
            attempts=0,
            last_error="",
        )
    )
    return token, True


def unregister(conn: Connection, user: str, token: str) -> bool:
    """Remove the user's registration ``token``; whether there was one."""
    return bool(
        conn.execute(delete(subs).where(subs.c.token == token, subs.c.user == user)).rowcount
    )


def changed(conn: Connection, calendar_path: str, *, now: float | None = None) -> None:
    """The calendar changed in this transaction: its subscriptions have news."""
    now = time.time() if now is None else now
    conn.execute(
        update(subs)
        .where(
            subs.c.collection_path == calendar_path,
            subs.c.pending_since.is_(None),
            subs.c.expires > now,
        )
        .values(pending_since=now)
    )


def of_user(engine: Engine, user: str) -> list[Subscription]:
    with engine.connect() as conn:
        return [_subscription(row) for row in conn.execute(select(subs).where(subs.c.user == user))]


def _subscription(row: object) -> Subscription:
    return Subscription(
        row.id,  # type: ignore[attr-defined]
        row.token,  # type: ignore[attr-defined]
        row.user,  # type: ignore[attr-defined]
        row.collection_path,  # type: ignore[attr-defined]
        row.push_resource,  # type: ignore[attr-defined]
        row.public_key,  # type: ignore[attr-defined]
        row.auth_secret,  # type: ignore[attr-defined]
        row.expires,  # type: ignore[attr-defined]
        row.attempts,  # type: ignore[attr-defined]
        row.pending_since,  # type: ignore[attr-defined]
    )


def _due(now: float):  # type: ignore[no-untyped-def]
    return (
        subs.c.pending_since.is_not(None)
        & (subs.c.not_before <= now)
        & (subs.c.claimed_until <= now)
        & (subs.c.expires > now)
    )


def remove_expired(engine: Engine, *, now: float | None = None) -> int:
    now = time.time() if now is None else now
    with write_connection(engine) as conn, conn.begin():
        return int(conn.execute(delete(subs).where(subs.c.expires <= now)).rowcount)


def claim(engine: Engine, lease: float, *, now: float | None = None) -> Subscription | None:
    """Take the next subscription with news for ``lease`` seconds (``db.claim_row``), or
    None."""
    now = time.time() if now is None else now
    row = claim_row(engine, subs, _due(now), (subs.c.pending_since,), now + lease)
    return None if row is None else _subscription(row)


def mark_sent(
    engine: Engine, sub: Subscription, interval: float, *, now: float | None = None
) -> None:
    """The push service took the message: no news until the next write (a write since
    the claim keeps it pending), and nothing before ``interval`` seconds."""
    now = time.time() if now is None else now
    with write_connection(engine) as conn, conn.begin():
        conn.execute(
            update(subs)
            .where(subs.c.id == sub.id)
            .values(not_before=now + interval, claimed_until=0.0, attempts=0, last_error="")
        )
        conn.execute(
            update(subs)
            .where(subs.c.id == sub.id, subs.c.pending_since == sub.pending_since)
            .values(pending_since=None)
        )


def mark_failed(engine: Engine, sub: Subscription, error: str, *, now: float | None = None) -> bool:
    """A failed attempt: retried with back-off, dropped after :data:`MAX_ATTEMPTS`
    (a push is a hint; the next change tries again). Whether it will be retried."""
    now = time.time() if now is None else now
    attempts = sub.attempts + 1
    retry = attempts < MAX_ATTEMPTS
    values: dict[str, object] = {
        "claimed_until": 0.0,
        "last_error": error[:1000],
        "attempts": attempts if retry else 0,
        "not_before": now + min(30.0 * 2 ** (attempts - 1), 3600.0),
    }
    if not retry:
        values["pending_since"] = None
    with write_connection(engine) as conn, conn.begin():
        conn.execute(update(subs).where(subs.c.id == sub.id).values(**values))
    return retry


def remove(engine: Engine, sub: Subscription) -> None:
    """The push service forgot the subscription (404, 410: RFC 8030 7.3)."""
    with write_connection(engine) as conn, conn.begin():
        conn.execute(delete(subs).where(subs.c.id == sub.id))
