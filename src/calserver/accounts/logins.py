"""The rows of a sign-in: the account with its cached login (``users`` and
``login_cache``), and what a verified password leaves behind (a re-hashed password, the
login cached across processes). The auth plugin (``calserver.auth``) decides; this
module reads and writes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, update

from calserver import db
from calserver.db.models import login_cache, users


def account(engine: Engine, login: str) -> Any | None:
    """The row of the user ``login`` (``id``, ``name``, ``password_hash``,
    ``disabled``, ``auth_epoch``) with their cached login (``digest``, ``epoch``,
    ``expires``: None when none), or None when there is no such user."""
    with engine.connect() as conn:
        return conn.execute(
            select(
                users.c.id,
                users.c.name,
                users.c.password_hash,
                users.c.disabled,
                users.c.auth_epoch,
                login_cache.c.digest,
                login_cache.c.epoch,
                login_cache.c.expires,
            )
            .outerjoin(login_cache, login_cache.c.user_id == users.c.id)
            .where(users.c.name == login)
        ).first()


def record_verified(
    engine: Engine,
    user_id: Any,
    new_hash: str | None,
    cached: tuple[str, int, float] | None,
) -> None:
    """After a verified password, in one transaction: store ``new_hash`` (an imported
    bcrypt/crypt hash turned into argon2) and cache the login (``cached``: digest in
    hex, the account's auth epoch, expiry time)."""
    with db.write_connection(engine) as conn, conn.begin():
        if new_hash:
            conn.execute(update(users).where(users.c.id == user_id).values(password_hash=new_hash))
        if cached is not None:
            # an upsert: a user's first requests, in parallel, all verify and store
            # the same login (a delete and an insert would collide on the key)
            digest, epoch, expires = cached
            db.upsert(
                conn,
                login_cache,
                {"user_id": user_id, "digest": digest, "epoch": epoch, "expires": expires},
                ["user_id"],
            )
