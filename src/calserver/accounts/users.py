"""User accounts: create, change password, disable, enable, delete, list."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from radicale import pathutils
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from calserver import urls
from calserver.accounts import directory, passwords
from calserver.db import write_connection
from calserver.db.models import login_cache, users
from calserver.errors import Conflict, InvalidInput, NotFound
from calserver.storage.rows import delete_collections

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True)
class User:
    name: str
    email: str
    disabled: bool


#: Principals live at the root, and so do /health and /metrics (calserver.ops).
RESERVED_NAMES = frozenset({"health", "metrics"})


def validate_name(name: str, what: str = "user name") -> str:
    """A principal name: one safe path segment, not dot-prefixed (reserved paths), not
    ``@``-prefixed (group homes), without ``~`` (aliases of shared calendars)."""
    why = urls.reserved(name)  # the names CalDAV's MKCALENDAR refuses too
    if why is not None:
        raise InvalidInput(f"invalid {what}: {name!r} is reserved ({why})")
    if (
        not name
        or len(name) > 255
        or name.startswith((".", "@"))
        or "~" in name  # the separator of shared-calendar aliases (calserver.sharing)
        or name != name.strip()
        or not pathutils.is_safe_path_component(name)
        or any(ord(c) < 32 for c in name)
    ):
        raise InvalidInput(f"invalid {what}: {name!r}")
    if what == "user name" and name.lower() in RESERVED_NAMES:
        raise InvalidInput(f"the user name {name!r} is reserved (the server's /{name} endpoint)")
    return name


def add(engine: Engine, name: str, password: str, email: str = "") -> User:
    validate_name(name)
    if not password:
        raise InvalidInput("the password must not be empty")
    return _insert(engine, name, passwords.hash_password(password), email)


def add_with_hash(engine: Engine, name: str, password_hash: str, email: str = "") -> User:
    """Create an account with a hash brought from elsewhere (an htpasswd file: upgraded
    to argon2 at the first login). An empty hash leaves the account without a usable
    password until ``calserver user passwd`` sets one."""
    validate_name(name)
    if password_hash and not passwords.is_known_hash(password_hash):
        raise InvalidInput(f"unsupported password hash for {name!r}")
    return _insert(engine, name, password_hash, email)


def _check_email(email: str) -> None:
    # RFC 5321 4.5.3.1: 64 octets local part, 255 domain; the column holds 320
    if email and (len(email) > 320 or not _EMAIL.match(email)):
        raise InvalidInput(f"invalid email address: {email!r}")


def _email_taken(email: str, owner: str) -> Conflict:
    return Conflict(f"the email address {email!r} belongs to another user ({owner!r})")


def _insert(engine: Engine, name: str, password_hash: str, email: str) -> User:
    _check_email(email)
    try:
        with write_connection(engine) as conn, conn.begin():
            owner = directory.owner_of_email(conn, email)
            if owner is not None:
                raise _email_taken(email, owner)
            conn.execute(
                insert(users).values(
                    name=name,
                    email=email,
                    password_hash=password_hash,
                    disabled=False,
                    auth_epoch=0,
                    created=time.time(),
                )
            )
    except IntegrityError as exc:
        with engine.connect() as conn:  # a concurrent insert: which of the two?
            owner = directory.owner_of_email(conn, email, other_than=name)
        if owner is not None:
            raise _email_taken(email, owner) from exc
        raise Conflict(f"user {name!r} exists already") from exc
    return User(name, email, False)


def set_email(engine: Engine, name: str, email: str) -> None:
    """Change the user's e-mail address ("" for none); one account per address."""
    _check_email(email)
    try:
        with write_connection(engine) as conn, conn.begin():
            owner = directory.owner_of_email(conn, email, other_than=name)
            if owner is not None:
                raise _email_taken(email, owner)
            result = conn.execute(update(users).where(users.c.name == name).values(email=email))
            if result.rowcount == 0:
                raise NotFound(f"no user {name!r}")
    except IntegrityError as exc:  # a concurrent change took it meanwhile
        raise Conflict(f"the email address {email!r} belongs to another user") from exc


def _update(engine: Engine, name: str, **values: object) -> None:
    with write_connection(engine) as conn, conn.begin():
        result = conn.execute(
            update(users)
            .where(users.c.name == name)
            .values(auth_epoch=users.c.auth_epoch + 1, **values)
        )
        if result.rowcount == 0:
            raise NotFound(f"no user {name!r}")
        conn.execute(
            delete(login_cache).where(
                login_cache.c.user_id
                == select(users.c.id).where(users.c.name == name).scalar_subquery()
            )
        )


def set_password(engine: Engine, name: str, password: str) -> None:
    if not password:
        raise InvalidInput("the password must not be empty")
    _update(engine, name, password_hash=passwords.hash_password(password))


def set_hash(engine: Engine, name: str, password_hash: str) -> None:
    """Store a hash brought from elsewhere (an htpasswd file)."""
    if not passwords.is_known_hash(password_hash):
        raise InvalidInput(f"unsupported password hash for {name!r}")
    _update(engine, name, password_hash=password_hash)


def set_disabled(engine: Engine, name: str, disabled: bool) -> None:
    _update(engine, name, disabled=disabled)


def remove(engine: Engine, name: str) -> None:
    """Delete the account and everything under its principal."""
    with write_connection(engine) as conn, conn.begin():
        result = conn.execute(delete(users).where(users.c.name == name))
        if result.rowcount == 0:
            raise NotFound(f"no user {name!r}")
        delete_collections(conn, name)


def get(engine: Engine, name: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == name)).first()
    return User(row.name, row.email, row.disabled) if row is not None else None


def all_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(select(users).order_by(users.c.name)).all()
    return [User(row.name, row.email, row.disabled) for row in rows]
