"""Calendar user proxies (Apple's caldav-proxy extension, "Calendar User Proxy
Functionality in CalDAV", calendarserver.org) derived from grants.

calserver has no proxy groups of its own: who acts for whom follows from the grants
(``calserver share``, the HTTP API), so Apple Calendar's Delegation tab shows what the
other clients see as shared calendars. For an owner:

- a **write proxy** is someone with a ``write`` grant on at least one of the owner's
  calendars; a **read proxy** someone with ``read`` grants only (a person is in one of
  the two groups, never both: the higher level wins);
- a grant to a group counts for each of its members (caldav-proxy 5.3.1: "The server
  MUST account for any group memberships"; calserver's groups have no principal URL);
- busy-only grants, the default free/busy right of group members, "other calendars" a
  viewer added, and group calendars (``@GROUP/CAL``, which have no owner principal)
  make nobody a proxy: a proxy reads details.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Select, select, union_all

from calserver.db.models import collections, grants, users
from calserver.sharing.levels import GRANT_LEVELS, Level
from calserver.sharing.membership import accepted_members

#: Grant levels that make a proxy, and which group they put the grantee in.
_PROXY_LEVELS = ("read", "write")


@dataclass(frozen=True)
class Proxies:
    """User names in the read and the write group, sorted."""

    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)


def _split(levels: dict[str, Level]) -> Proxies:
    return Proxies(
        read=sorted(name for name, level in levels.items() if level == Level.READ),
        write=sorted(name for name, level in levels.items() if level >= Level.WRITE),
    )


def _granted() -> tuple[Select[tuple[str, str, str]], Select[tuple[str, str, str]]]:
    """(owner, grantee, level) of every proxy-making grant on a user's calendar: the
    grants to users, and the grants to groups expanded to their members."""
    own_calendar = (
        collections.c.tag == "VCALENDAR",
        ~collections.c.parent.startswith("@"),
        grants.c.level.in_(_PROXY_LEVELS),
    )
    to_users = (
        select(collections.c.parent.label("owner"), users.c.name.label("grantee"), grants.c.level)
        .join(collections, collections.c.id == grants.c.collection_id)
        .join(users, users.c.id == grants.c.user_id)
        .where(*own_calendar)
    )
    members = accepted_members()  # an invitation not yet accepted makes no proxy
    to_groups = (
        select(collections.c.parent.label("owner"), users.c.name.label("grantee"), grants.c.level)
        .join(collections, collections.c.id == grants.c.collection_id)
        .join(members, members.c.group_id == grants.c.group_id)
        .join(users, users.c.id == members.c.user_id)
        .where(*own_calendar)
    )
    return to_users, to_groups


def _collect(conn: Connection, key: str, other: str, condition_value: str) -> dict[str, Level]:
    to_users, to_groups = _granted()
    both = union_all(to_users, to_groups).subquery()
    rows = conn.execute(
        select(both.c.owner, both.c.grantee, both.c.level).where(
            both.c[other] == condition_value, both.c.owner != both.c.grantee
        )
    ).all()
    found: dict[str, Level] = {}
    for row in rows:
        name = getattr(row, key)
        found[name] = max(found.get(name, Level.NONE), GRANT_LEVELS[row.level])
    return found


def proxies_of(conn: Connection, owner: str) -> Proxies:
    """Who acts for ``owner``: the members of the owner's proxy groups."""
    return _split(_collect(conn, "grantee", "owner", owner))


def proxy_for(conn: Connection, user: str) -> Proxies:
    """For whom ``user`` acts (CS:calendar-proxy-read-for / -write-for): the owners."""
    return _split(_collect(conn, "owner", "grantee", user))
