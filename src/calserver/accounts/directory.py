"""The directory: users looked up by name and by e-mail address, in one place.

Every function takes an open connection (the caller's transaction) and reads the
``users`` table only. E-mail addresses compare case-insensitively, names exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, func, select

from calserver.db.models import users


class Entry(NamedTuple):
    """A user as the directory lists them."""

    name: str
    email: str


def user_id(conn: Connection, name: str) -> int | None:
    """The id of the user ``name`` (enabled or not), or None."""
    found = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
    return int(found) if found is not None else None


def email_of(conn: Connection, name: str) -> str | None:
    """The e-mail address of the user ``name`` (maybe empty), or None without such a user."""
    found = conn.execute(select(users.c.email).where(users.c.name == name)).scalar()
    return str(found) if found is not None else None


def find_email(engine: Engine, name: str) -> str | None:
    """:func:`email_of` in a short read transaction of its own (for the HTTP surfaces)."""
    with engine.connect() as conn, conn.begin():
        return email_of(conn, name)


def emails_of(conn: Connection, names: Iterable[str]) -> dict[str, str]:
    """{name: e-mail address} of those of ``names`` who are users."""
    rows = conn.execute(
        select(users.c.name, users.c.email).where(users.c.name.in_(list(names)))
    ).all()
    return {row.name: row.email for row in rows}


def enabled_by_email(conn: Connection, email: str) -> Entry | None:
    """The enabled user whose address is ``email``, or None."""
    return _entry(
        conn.execute(
            select(users.c.name, users.c.email).where(
                func.lower(users.c.email) == email.lower(), users.c.disabled.is_(False)
            )
        ).first()
    )


def enabled_by_name(conn: Connection, name: str) -> Entry | None:
    """The enabled user ``name``, or None."""
    return _entry(
        conn.execute(
            select(users.c.name, users.c.email).where(
                users.c.name == name, users.c.disabled.is_(False)
            )
        ).first()
    )


def owner_of_email(conn: Connection, email: str, other_than: str = "") -> str | None:
    """The user who has ``email`` (case-insensitive), other than ``other_than``, or None."""
    if not email:
        return None
    found = conn.execute(
        select(users.c.name).where(
            func.lower(users.c.email) == email.lower(), users.c.name != other_than
        )
    ).scalar()
    return str(found) if found is not None else None


def _entry(row: Any) -> Entry | None:
    return None if row is None else Entry(row.name, row.email)
