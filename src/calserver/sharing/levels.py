"""Who sees which calendar, at which level: the one place that answers it.

A viewer's level on a calendar is the highest of (DESIGN.md, "Rules in detail"):

- the owner's own calendars: OWNER;
- a group calendar (``@GROUP/CAL``): READ for every member, WRITE for its admins;
- grants to the viewer or to a group of theirs: BUSY, READ or WRITE;
- an "other calendar" the viewer added, of someone in one of their groups: BUSY;
- a calendar of someone in one of their groups: FREEBUSY (free/busy look-ups only).

"Their groups" are the groups whose invitation they accepted
(``calserver.sharing.membership``): a pending invitation counts for nothing here.

A calendar the viewer sees at BUSY or above, and does not own, appears in the
viewer's home as ``/VIEWER/OWNER~CAL/`` (an alias: user and group names cannot hold
``~``), so every client discovers it; the owner's own URL gives the same level. Rights
and storage both ask ``resolve``, memoised per request, so one request sees one answer
and the next request sees a change made by any process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, String, and_, exists, literal, or_, select

from calserver.accounts import directory
from calserver.context import memo as request_memo
from calserver.db.models import (
    MAILBOXES,
    calendar_views,
    collections,
    grants,
    groups,
)
from calserver.sharing.membership import accepted_members, groups_of
from calserver.sharing.visibility import (  # re-exported: the levels are spelled here too
    ALIAS_SEPARATOR,
    GRANT_LEVELS,
    Level,
    Resolved,
    alias_name,
    alias_target,
)

__all__ = [
    "ALIAS_SEPARATOR",
    "GRANT_LEVELS",
    "Level",
    "Resolved",
    "Shared",
    "alias_name",
    "alias_target",
    "level_for",
    "resolve",
    "shared_with",
]


#: The collections that are shared: calendars, and address books (RFC 6352; at the
#: read or write level only: a busy view of a vCard means nothing).
ADDRESSBOOK = "VADDRESSBOOK"
SHARED_TAGS = ("VCALENDAR", ADDRESSBOOK)


def _user_id(conn: Connection, name: str) -> int | None:
    return directory.user_id(conn, name)


def _share_a_group(conn: Connection, viewer_id: int, owner: str) -> bool:
    """Whether both have accepted to be in one group."""
    owner_id = _user_id(conn, owner)
    if owner_id is None:
        return False
    members = accepted_members()
    return bool(
        conn.execute(
            select(
                exists().where(
                    members.c.user_id == owner_id,
                    members.c.group_id.in_(groups_of(viewer_id)),
                )
            )
        ).scalar()
    )


def level_for(conn: Connection, viewer: str, calendar_path: str) -> Level:
    """The viewer's level on the calendar at ``calendar_path`` (``OWNER/CAL``)."""
    owner, _, name = calendar_path.partition("/")
    if not name or "/" in name:
        return Level.NONE
    if owner == viewer:
        return Level.OWNER
    if name in MAILBOXES:  # a schedule inbox is its owner's alone (RFC 6638 2.2)
        return Level.NONE
    row = conn.execute(
        select(collections.c.id, collections.c.tag).where(
            collections.c.path == calendar_path, collections.c.tag.in_(SHARED_TAGS)
        )
    ).first()
    viewer_id = _user_id(conn, viewer)
    if row is None or viewer_id is None:
        return Level.NONE
    collection_id = row.id
    level = Level.NONE
    if owner.startswith("@"):
        members = accepted_members()
        admin = conn.execute(
            select(members.c.admin)
            .join(groups, groups.c.id == members.c.group_id)
            .where(groups.c.name == owner[1:], members.c.user_id == viewer_id)
        ).first()
        if admin is not None:
            level = Level.WRITE if admin.admin else Level.READ
    for (granted,) in conn.execute(
        select(grants.c.level).where(
            grants.c.collection_id == collection_id,
            or_(grants.c.user_id == viewer_id, grants.c.group_id.in_(groups_of(viewer_id))),
        )
    ):
        level = max(level, GRANT_LEVELS.get(granted, Level.NONE))
    if row.tag == ADDRESSBOOK:  # an address book is read or written whole (RFC 6352)
        return level if level >= Level.READ else Level.NONE
    if level < Level.BUSY and not owner.startswith("@") and _share_a_group(conn, viewer_id, owner):
        added = conn.execute(
            select(calendar_views.c.added).where(
                calendar_views.c.user_id == viewer_id,
                calendar_views.c.collection_id == collection_id,
            )
        ).scalar()
        level = Level.BUSY if added else Level.FREEBUSY
    return level


def _exists(conn: Connection, path: str) -> bool:
    return (
        conn.execute(select(collections.c.id).where(collections.c.path == path)).first() is not None
    )


def resolve(conn: Connection, viewer: str, path: str) -> Resolved:
    """How ``viewer`` reaches the collection at ``path`` (one or two segments).

    A principal or group home is readable ("R") at FREEBUSY and above; a calendar at
    its level; an alias in the viewer's own home at the level of its target."""
    memo = request_memo.get()
    key = ("resolve", viewer, path)
    if memo is not None and key in memo:
        return cast(Resolved, memo[key])
    answer = _resolve(conn, viewer, path)
    if memo is not None:
        memo[key] = answer
    return answer


def _resolve(conn: Connection, viewer: str, path: str) -> Resolved:
    segments = path.split("/")
    if len(segments) == 1:
        home = segments[0]
        if home == viewer:
            return Resolved(Level.OWNER, path)
        if home.startswith("@"):
            viewer_id = _user_id(conn, viewer)
            members = accepted_members()
            member = (
                viewer_id is not None
                and conn.execute(
                    select(
                        exists().where(
                            members.c.user_id == viewer_id,
                            members.c.group_id
                            == select(groups.c.id)
                            .where(groups.c.name == home[1:])
                            .scalar_subquery(),
                        )
                    )
                ).scalar()
            )
            return Resolved(Level.FREEBUSY if member else Level.NONE, path)
        # Any signed-in user may look at another user's principal (Thunderbird "on the
        # network", Apple delegation); what it lists is filtered per calendar.
        known = _user_id(conn, home) is not None
        return Resolved(Level.FREEBUSY if known else Level.NONE, path)
    if len(segments) != 2:
        return Resolved(Level.NONE, path)
    home, name = segments
    if home == viewer:
        target = alias_target(name)
        if target is None or _exists(conn, path):
            return Resolved(Level.OWNER, path)
        level = level_for(conn, viewer, target)
        if level < Level.BUSY:
            return Resolved(Level.NONE, target, alias=True)
        return Resolved(level, target, alias=True)
    return Resolved(level_for(conn, viewer, path), path)


@dataclass(frozen=True)
class Shared:
    """A calendar in someone's home that they do not own."""

    alias: str
    target: str
    collection_id: int
    level: Level


def shared_with(conn: Connection, viewer: str) -> list[Shared]:
    """Every calendar that appears in ``viewer``'s home without being theirs: granted
    to them or to a group of theirs, of their groups, or added by them."""
    viewer_id = _user_id(conn, viewer)
    if viewer_id is None:
        return []
    my_groups = groups_of(viewer_id)
    group_homes = select(literal("@", String) + groups.c.name).where(groups.c.id.in_(my_groups))
    candidates = conn.execute(
        select(collections.c.id, collections.c.path)
        .where(
            collections.c.tag.in_(SHARED_TAGS),
            or_(
                collections.c.id.in_(
                    select(grants.c.collection_id).where(
                        or_(grants.c.user_id == viewer_id, grants.c.group_id.in_(my_groups))
                    )
                ),
                collections.c.parent.in_(group_homes),
                collections.c.id.in_(
                    select(calendar_views.c.collection_id).where(
                        and_(calendar_views.c.user_id == viewer_id, calendar_views.c.added)
                    )
                ),
            ),
        )
        .order_by(collections.c.path)
    ).all()
    found = []
    for row in candidates:
        if row.path.partition("/")[0] == viewer:
            continue
        level = level_for(conn, viewer, row.path)
        if level >= Level.BUSY:
            found.append(Shared(alias_name(row.path), row.path, row.id, level))
    return found
