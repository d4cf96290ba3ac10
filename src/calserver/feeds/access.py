"""Who may read a feed without signing in: secret feed URLs and public calendars.

Secret URLs (issue 4 item 2). Each user has one token per calendar they see, an HMAC
under the server key (kept outside the database, ``calserver.keys``) of (user, the
calendar's path as the user sees it, the user's feed epoch, the access it is seen
through): 256 bits, shown again on demand (``calserver urls``), never stored. The
database holds only its SHA-256, which finds the token's row; the row is checked
against the recomputed HMAC in constant time and against the user's current epoch.
"Reset my calendar feeds" bumps the epoch and deletes the rows: every old URL fails on
the next request, in every process.

The access (issue 12 item 4, :func:`_accesses`): a user's own calendar adds nothing
(its URLs are those of before). A calendar of someone else's adds the random
``feed_salt`` of what the user sees it through - the grant to them, the grant to a
group of theirs and their membership of it, their membership of the group that owns
it, or the membership they share with the owner of an "other calendar" they added.
A grant taken back and given again, or a member removed and added again, has a new
salt: the old URL stays dead, the new one is new. A level change or a role change
keeps the row and so the URL (the feed serves the level the user has now). A URL
works while what it was made from still gives access; a calendar seen through two
grants keeps the URL of the first one shown. Grants and memberships older than the
salt have "" and keep the URL they had.

Public calendars (item 4): off, ``busy`` or ``details``. While published the calendar
has one public token, an HMAC of (calendar, publication epoch); unpublishing or
resetting bumps the epoch, so the old URLs end at once and a later publication gets
new ones. A group calendar is published by the group's administrators.

The first feed epoch of a user and the first publication epoch of a calendar are
random (``models.first_epoch``), so an account or a calendar deleted and made again
under the same name does not bring back the URLs of the one before.

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
from calserver.accounts import directory
from calserver.db import read_transaction, write_connection
from calserver.db.models import (
    calendar_views,
    collections,
    feed_tokens,
    first_epoch,
    grants,
    groups,
    publications,
    users,
)
from calserver.errors import Forbidden, InvalidInput, NotFound
from calserver.sharing.levels import Level, resolve
from calserver.sharing.manage import calendar_id
from calserver.sharing.membership import accepted_members

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


def _accesses(conn: Connection, user_id: int, user: str, path: str) -> list[str]:
    """What ``user`` sees the calendar at ``path`` (in their home) through, each as the
    string its secret token is derived from, the most direct first: "" for their own
    calendar (and for grants and memberships older than ``feed_salt``)."""
    found = resolve(conn, user, path)
    if not found.alias:
        return [""] if found.level >= Level.OWNER else []
    target = found.target
    owner = target.partition("/")[0]
    collection_id = conn.execute(
        select(collections.c.id).where(collections.c.path == target)
    ).scalar()
    if collection_id is None:
        return []
    member = accepted_members("member")
    accesses: list[tuple[str, ...]] = []
    granted = conn.execute(
        select(grants.c.user_id, grants.c.feed_salt, member.c.feed_salt.label("member_salt"))
        .outerjoin(member, (member.c.group_id == grants.c.group_id) & (member.c.user_id == user_id))
        .where(
            grants.c.collection_id == collection_id,
            (grants.c.user_id == user_id) | (member.c.user_id == user_id),
        )
        .order_by(grants.c.id)
    ).all()
    accesses += [("grant", row.feed_salt) for row in granted if row.user_id == user_id]
    if owner.startswith("@"):
        accesses += [
            ("member", salt)
            for salt in conn.execute(
                select(member.c.feed_salt)
                .join(groups, groups.c.id == member.c.group_id)
                .where(groups.c.name == owner[1:], member.c.user_id == user_id)
            ).scalars()
        ]
    accesses += [
        ("group-grant", row.feed_salt, row.member_salt) for row in granted if row.user_id != user_id
    ]
    added = conn.execute(
        select(calendar_views.c.added).where(
            calendar_views.c.user_id == user_id,
            calendar_views.c.collection_id == collection_id,
        )
    ).scalar()
    if added and not owner.startswith("@"):
        mates = accepted_members("mates")
        owners = users.alias("owners")
        accesses += [
            ("added", row.mine, row.theirs)
            for row in conn.execute(
                select(member.c.feed_salt.label("mine"), mates.c.feed_salt.label("theirs"))
                .join(mates, mates.c.group_id == member.c.group_id)
                .join(owners, owners.c.id == mates.c.user_id)
                .where(member.c.user_id == user_id, owners.c.name == owner)
                .order_by(member.c.group_id)
            )
        ]
    # all salts "": a grant or membership from before salts, which keeps its URL
    return ["\x00".join(access) if any(access[1:]) else "" for access in accesses]


def _secret_mac(configuration: Any, user: str, path: str, epoch: int, access: str) -> str:
    if not access:  # the URL such a calendar had before accesses were part of it
        return _mac(configuration, "feed", user, path, epoch)
    return _mac(configuration, "feed", user, path, epoch, access)


def secret_token(engine: Engine, configuration: Any, user: str, path: str) -> str:
    """The user's token for the calendar they see at ``path`` (registered on first use):
    the one already in use when what it was made from still gives access, else the
    token of the most direct access."""
    with write_connection(engine) as conn, conn.begin():
        row = conn.execute(
            select(users.c.id, users.c.feed_epoch).where(users.c.name == user)
        ).first()
        if row is None:
            raise NotFound(f"no user {user!r}")
        candidates = [
            _secret_mac(configuration, user, path, row.feed_epoch, access)
            for access in _accesses(conn, row.id, user, path)
        ]
        if not candidates:
            raise NotFound(f"no calendar {path!r} that {user!r} may see")
        known = set(
            conn.execute(
                select(feed_tokens.c.digest).where(
                    feed_tokens.c.digest.in_([_digest(token) for token in candidates])
                )
            ).scalars()
        )
        for token in candidates:
            if _digest(token) in known:
                return token
        token = candidates[0]
        conn.execute(
            insert(feed_tokens).values(
                digest=_digest(token),
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
    """The (user, calendar path) a secret token stands for, or None: unknown, reset,
    the user disabled, or what it was made from no longer gives access (a grant or
    membership taken back, even when given again since)."""
    if not well_formed(token):
        return None
    row = conn.execute(
        select(
            feed_tokens.c.path,
            feed_tokens.c.epoch,
            users.c.id,
            users.c.name,
            users.c.feed_epoch,
        )
        .join(users, users.c.id == feed_tokens.c.user_id)
        .where(feed_tokens.c.digest == _digest(token), users.c.disabled.is_(False))
    ).first()
    if row is None or row.epoch != row.feed_epoch:
        return None
    matches = [
        hmac.compare_digest(
            _secret_mac(configuration, row.name, row.path, row.feed_epoch, access), token
        )
        for access in _accesses(conn, row.id, row.name, row.path)
    ]
    if not any(matches):
        return None
    return Secret(row.name, row.path)


def secret_for(engine: Engine, configuration: Any, token: str) -> Secret | None:
    """:func:`find_secret` in a short read transaction of its own."""
    with read_transaction(engine) as conn:
        return find_secret(conn, configuration, token)


def reset_feeds(engine: Engine, user: str) -> None:
    """Replace all of the user's secret URLs at once."""
    with write_connection(engine) as conn, conn.begin():
        user_id = directory.user_id(conn, user)
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
        epoch = row.epoch if row is not None else first_epoch()
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


def public_for(engine: Engine, configuration: Any, token: str) -> Publication | None:
    """:func:`find_public` in a short read transaction of its own."""
    with read_transaction(engine) as conn:
        return find_public(conn, configuration, token)
