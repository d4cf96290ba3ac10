"""Who is there to be found, and what of theirs a viewer may look at: the principal and
collection look-ups of the DAV extensions (delegation, scheduling), so that the WebDAV
surface asks questions instead of running SQL.

- a principal is a user (``users``) with the display name their home collection
  carries (``D:displayname``, set by PROPPATCH), else their user name;
- :func:`calendars_for` lists someone's calendars that a viewer has a level on
  (``calserver.sharing.levels``), for free/busy look-ups.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from calserver.db.models import MAILBOXES, collections, users
from calserver.sharing.levels import Level, level_for


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


def emails(conn: Connection, names: Iterable[str]) -> dict[str, str | None]:
    """The e-mail address (None: none) of each user among ``names``."""
    rows = conn.execute(
        select(users.c.name, users.c.email).where(users.c.name.in_(list(names)))
    ).all()
    return {row.name: row.email for row in rows}


def user_exists(conn: Connection, name: str) -> bool:
    return conn.execute(select(users.c.id).where(users.c.name == name)).first() is not None


def collection_exists(conn: Connection, path: str) -> bool:
    """Whether a collection is stored at ``path`` (stripped)."""
    found = conn.execute(select(collections.c.id).where(collections.c.path == path)).first()
    return found is not None


def calendars_for(conn: Connection, viewer: str, owner: str) -> list[tuple[str, Level]]:
    """``owner``'s own calendars (not the inbox) that ``viewer`` has a level on, with
    that level (a co-member of a group has FREEBUSY)."""
    rows = conn.execute(
        select(collections.c.path)
        .where(collections.c.parent == owner, collections.c.tag == "VCALENDAR")
        .order_by(collections.c.path)
    ).scalars()
    found = []
    for path in rows:
        if path.rpartition("/")[2] in MAILBOXES:
            continue
        level = level_for(conn, viewer, path)
        if level >= Level.FREEBUSY:
            found.append((path, level))
    return found
