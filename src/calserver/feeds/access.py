"""Who may read a feed without signing in: secret feed URLs and public calendars.

Secret URLs (issue 4 item 2). Each user has one token per calendar they see, an HMAC
under the server key (kept outside the database, ``calserver.keys``) of (user, the
calendar's path as the user sees it, the user's feed epoch): 256 bits, shown again on
demand (``calserver urls``), never stored. The database holds only its SHA-256, which
finds the token's row; the row is checked against the recomputed HMAC in constant time
and against the user's current epoch. "Reset my calendar feeds" bumps the epoch and
deletes the rows: every old URL fails on the next request, in every process.

Public calendars (item 4): off, ``busy`` or ``details``. While published the calendar
has one public token, an HMAC of (calendar, publication epoch); unpublishing or
resetting bumps the epoch, so the old URLs end at once and a later publication gets
new ones. A group calendar is published by the group's administrators.

Tokens never reach a log: the side endpoints log their requests without the path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from calserver import keys
from calserver.db import write_connection
from calserver.db.models import collections, feed_tokens, publications, users
from calserver.errors import Forbidden, InvalidInput, NotFound
from calserver.sharing.levels import Level, resolve
from calserver.sharing.manage import calendar_id

#: Published levels and the view each one serves.
PUBLIC_LEVELS = {"busy": Level.BUSY, "details": Level.READ}
#: base64url of 32 bytes, without padding.
TOKEN_LENGTH = 43


def _mac(configuration: Any, *parts: str | int) -> str:
    message = "\x00".join(str(part) for part in parts).encode("utf-8")
    digest = hmac.new(keys.server_key(configuration), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def well_formed(token: str) -> bool:
    return len(token) == TOKEN_LENGTH and all(
        c.isascii() and (c.isalnum() or c in "-_") for c in token
    )


# --- secret feed URLs ------------------------------------------------------------------


def secret_token(engine: Engine, configuration: Any, user: str, path: str) -> str:
    """The user's token for the calendar they see at ``path`` (registered on first use)."""
    with write_connection(engine) as conn, conn.begin():
        row = conn.execute(
            select(users.c.id, users.c.feed_epoch).where(users.c.name == user)
        ).first()
        if row is None:
            raise NotFound(f"no user {user!r}")
        token = _mac(configuration, "feed", user, path, row.feed_epoch)
        digest = _digest(token)
        known = conn.execute(
            select(feed_tokens.c.digest).where(feed_tokens.c.digest == digest)
        ).first()
        if known is None:
            conn.execute(
                insert(feed_tokens).values(
                    digest=digest,
                    user_id=row.id,
                    path=path,
                    epoch=row.feed_epoch,
                    created=time.time(),
                )
            )
    return token


@dataclass(frozen=True)
class Secret:
    user: str
    path: str


def find_secret(conn: Connection, configuration: Any, token: str) -> Secret | None:
    """The (user, calendar path) a secret token stands for, or None: unknown, reset, or
    the user disabled."""
    if not well_formed(token):
        return None
    row = conn.execute(
        select(feed_tokens.c.path, feed_tokens.c.epoch, users.c.name, users.c.feed_epoch)
        .join(users, users.c.id == feed_tokens.c.user_id)
        .where(feed_tokens.c.digest == _digest(token), users.c.disabled.is_(False))
    ).first()
    if row is None or row.epoch != row.feed_epoch:
        return None
    expected = _mac(configuration, "feed", row.name, row.path, row.feed_epoch)
    if not hmac.compare_digest(expected, token):
        return None
    return Secret(row.name, row.path)


def reset_feeds(engine: Engine, user: str) -> None:
    """Replace all of the user's secret URLs at once."""
    with write_connection(engine) as conn, conn.begin():
        user_id = conn.execute(select(users.c.id).where(users.c.name == user)).scalar()
        if user_id is None:
            raise NotFound(f"no user {user!r}")
        conn.execute(
            update(users).where(users.c.id == user_id).values(feed_epoch=users.c.feed_epoch + 1)
        )
        conn.execute(delete(feed_tokens).where(feed_tokens.c.user_id == user_id))


# --- public calendars ------------------------------------------------------------------


@dataclass(frozen=True)
class Publication:
    path: str
    level: str  # "busy" or "details"
    token: str

    @property
    def view(self) -> Level:
        return PUBLIC_LEVELS[self.level]


def _check_may_publish(conn: Connection, path: str, actor: str | None) -> None:
    """The owner publishes; a group calendar its group's administrators (who write it)."""
    if actor is None:
        return
    home = path.partition("/")[0]
    level = resolve(conn, actor, path).level
    if home == actor or (home.startswith("@") and level >= Level.WRITE):
        return
    if level >= Level.FREEBUSY:
        raise Forbidden(f"{actor!r} may not publish {path!r}")
    raise NotFound(f"no calendar {path!r}")


def check_may_publish(engine: Engine, path: str, actor: str) -> None:
    with engine.connect() as conn:
        _check_may_publish(conn, path, actor)
        calendar_id(conn, path)


def publish(
    engine: Engine, configuration: Any, path: str, level: str, actor: str | None = None
) -> Publication:
    """Publish (or change the level of) the calendar at ``path``; the URLs stay the same
    when only the level changes."""
    if level not in PUBLIC_LEVELS:
        raise InvalidInput(f"invalid public level {level!r} (busy or details)")
    with write_connection(engine) as conn, conn.begin():
        _check_may_publish(conn, path, actor)
        collection_id = calendar_id(conn, path)
        row = conn.execute(
            select(publications).where(publications.c.collection_id == collection_id)
        ).first()
        epoch = row.epoch if row is not None else 0
        token = _mac(configuration, "public", path, epoch)
        values = {"level": level, "digest": _digest(token), "changed": time.time()}
        if row is None:
            conn.execute(
                insert(publications).values(collection_id=collection_id, epoch=epoch, **values)
            )
        else:
            conn.execute(
                update(publications)
                .where(publications.c.collection_id == collection_id)
                .values(**values)
            )
    return Publication(path, level, token)


def unpublish(engine: Engine, path: str, actor: str | None = None) -> None:
    """End the public URLs at once; a later publication gets new ones."""
    with write_connection(engine) as conn, conn.begin():
        _check_may_publish(conn, path, actor)
        collection_id = calendar_id(conn, path)
        conn.execute(
            update(publications)
            .where(publications.c.collection_id == collection_id)
            .values(level="", digest=None, epoch=publications.c.epoch + 1, changed=time.time())
        )


def reset_public(
    engine: Engine, configuration: Any, path: str, actor: str | None = None
) -> Publication | None:
    """New public URLs for a published calendar (the old ones end at once)."""
    current = publication(engine, configuration, path)
    if current is None:
        return None
    unpublish(engine, path, actor)
    return publish(engine, configuration, path, current.level, actor)


def publication(engine: Engine, configuration: Any, path: str) -> Publication | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(publications.c.level, publications.c.epoch)
            .join(collections, collections.c.id == publications.c.collection_id)
            .where(collections.c.path == path)
        ).first()
    if row is None or row.level not in PUBLIC_LEVELS:
        return None
    return Publication(path, row.level, _mac(configuration, "public", path, row.epoch))


def find_public(conn: Connection, configuration: Any, token: str) -> Publication | None:
    if not well_formed(token):
        return None
    row = conn.execute(
        select(collections.c.path, publications.c.level, publications.c.epoch)
        .join(collections, collections.c.id == publications.c.collection_id)
        .where(publications.c.digest == _digest(token))
    ).first()
    if row is None or row.level not in PUBLIC_LEVELS:
        return None
    if not hmac.compare_digest(_mac(configuration, "public", row.path, row.epoch), token):
        return None
    return Publication(row.path, row.level, token)
