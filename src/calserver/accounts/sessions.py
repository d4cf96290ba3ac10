"""Browser sessions of the web app (``web_sessions``): begun by a verified sign-in (the
auth plugin decides, calserver.web.pages.login), ended by signing out, by expiry, and in
every process at once by a password change or a disabled account (the session holds the
account's ``auth_epoch`` of its sign-in; calserver.accounts.users bumps it).

The browser keeps a random token; the database only its SHA-256, so a copy of the
database signs nobody in. Each session has its own CSRF token for the forms it shows.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select

from calserver import db
from calserver.db.models import users, web_sessions
from calserver.errors import NotFound

#: How long a session lasts after sign-in (seconds).
LIFETIME = 14 * 24 * 3600


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    is_admin: bool
    expires: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def begin(engine: Engine, user: str, lifetime: float = LIFETIME) -> tuple[str, Session]:
    """A new session of ``user`` (who has just proved their password): the cookie's
    token and the session."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = time.time()
    with db.write_transaction(engine) as conn:
        row = conn.execute(
            select(users.c.id, users.c.auth_epoch, users.c.is_admin).where(users.c.name == user)
        ).one()
        # a sign-in also clears the user's expired sessions
        conn.execute(
            delete(web_sessions).where(
                (web_sessions.c.user_id == row.id) & (web_sessions.c.expires < now)
            )
        )
        conn.execute(
            web_sessions.insert().values(
                digest=_digest(token),
                user_id=row.id,
                epoch=row.auth_epoch,
                csrf=csrf,
                created=now,
                expires=now + lifetime,
            )
        )
    return token, Session(user, csrf, bool(row.is_admin), now + lifetime)


def find(engine: Engine, token: str) -> Session | None:
    """The session of ``token`` while it holds: not expired, the account enabled and its
    password unchanged since the sign-in."""
    if not token or len(token) > 128:
        return None
    with db.read_transaction(engine) as conn:
        row = conn.execute(
            select(
                users.c.name,
                users.c.disabled,
                users.c.auth_epoch,
                users.c.is_admin,
                web_sessions.c.epoch,
                web_sessions.c.csrf,
                web_sessions.c.expires,
            )
            .join(users, users.c.id == web_sessions.c.user_id)
            .where(web_sessions.c.digest == _digest(token))
        ).first()
    if row is None or row.disabled or row.epoch != row.auth_epoch or row.expires < time.time():
        return None
    return Session(str(row.name), str(row.csrf), bool(row.is_admin), float(row.expires))


def end(engine: Engine, token: str) -> None:
    """Sign out: the session of ``token`` is gone."""
    with db.write_transaction(engine) as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.digest == _digest(token)))


def end_all(engine: Engine, user: str) -> None:
    """Every session of ``user`` ends (also done by bumping the account's auth epoch)."""
    with db.write_transaction(engine) as conn:
        user_id = select(users.c.id).where(users.c.name == user).scalar_subquery()
        conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))


def set_admin(engine: Engine, user: str, admin: bool) -> None:
    """Make ``user`` a server administrator of the web app, or no longer one."""
    with db.write_transaction(engine) as conn:
        found = conn.execute(
            users.update().where(users.c.name == user).values(is_admin=admin)
        ).rowcount
    if not found:
        raise NotFound(f"no user {user!r}")
