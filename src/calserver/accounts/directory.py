"""The directory: users looked up by name and by e-mail address, in one place.

Every function takes an open connection (the caller's transaction) and reads the
``users`` table (principals also the display name their home collection carries,
``D:displayname`` set by PROPPATCH, else their user name). E-mail addresses compare
case-insensitively, names exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, func, select

from calserver.db import read_transaction
from calserver.db.models import collections, users


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
    with read_transaction(engine) as conn:
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


@dataclass(frozen=True)
class Principal:
    """A user as the directory shows them."""

    name: str
    email: str | None
    disabled: bool
    displayname: str


def _principal(row: Any) -> Principal:
    props = json.loads(row.props) if row.props else {}
    displayname = str(props.get("D:displayname") or row.name)
    return Principal(row.name, row.email, bool(row.disabled), displayname)


def _principal_query() -> Any:
    return select(users.c.name, users.c.email, users.c.disabled, collections.c.props).outerjoin(
        collections, collections.c.path == users.c.name
    )


def principals(conn: Connection, names: Iterable[str]) -> dict[str, Principal]:
    """The users among ``names``, by name (disabled ones included)."""
    wanted = list(set(names))
    if not wanted:
        return {}
    rows = conn.execute(_principal_query().where(users.c.name.in_(wanted))).all()
    return {row.name: _principal(row) for row in rows}


def enabled_principals(conn: Connection) -> list[Principal]:
    """Every enabled user, by name."""
    rows = conn.execute(
        _principal_query().where(users.c.disabled.is_(False)).order_by(users.c.name)
    ).all()
    return [_principal(row) for row in rows]
