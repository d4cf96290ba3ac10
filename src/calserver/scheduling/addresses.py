"""Calendar user addresses (RFC 6638 2.4.1, RFC 5545 3.3.3): who an ORGANIZER or
ATTENDEE value names (the text of an address: :mod:`calserver.scheduling.calendar_address`,
whose functions this module re-exports).

A user's addresses are ``mailto:`` their e-mail address (when they have one) and their
principal URL; a group's is its principal URL (``/@GROUP/``). Comparison is
case-insensitive on the e-mail address (RFC 5321 2.4 allows case-sensitive local parts,
but every client and server in practice compares them without case).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from calserver.accounts import directory
from calserver.db.models import groups, users
from calserver.ical import icsfile
from calserver.scheduling.calendar_address import email_of, mailto, same  # re-exported
from calserver.scheduling.calendar_address import principal as _principal
from calserver.sharing.membership import groups_of


@dataclass(frozen=True)
class Person:
    """A user of this server an address names."""

    name: str
    email: str
    #: The address as it stands in the event (kept when rewriting).
    address: str


def user_for(conn: Connection, address: str) -> Person | None:
    """The enabled user ``address`` names, or None (someone without an account)."""
    email = email_of(address)
    if email:
        row = directory.enabled_by_email(conn, email)
    else:
        name = _principal(address)
        if name is None or name.startswith("@"):
            return None
        row = directory.enabled_by_name(conn, name)
    if row is None:
        return None
    return Person(row.name, row.email.lower(), str(address))


class Me:
    """The addresses of one user: ``mailto:`` their e-mail, and their principal URL.
    Calling it tells whether an address is one of them (no query per address)."""

    def __init__(self, name: str, email: str) -> None:
        self.name = name
        self._own = [f"/{name}/"] + ([mailto(email)] if email else [])

    def __call__(self, address: Any) -> bool:
        return any(same(str(address), own) for own in self._own)

    def mentioned_in(self, text: str) -> bool:
        """Whether one of the addresses appears in iCalendar ``text`` at all (its lines
        unfolded, RFC 5545 3.1, case aside): a cheap test before parsing it."""
        lowered = "\n".join(icsfile.unfold(text)).lower()
        needles = [f"/{self.name}/".lower()] + [email_of(own) for own in self._own[1:]]
        return any(needle in lowered for needle in needles)


def me(conn: Connection, name: str) -> Me:
    """The addresses of the user ``name``."""
    return Me(name, directory.email_of(conn, name) or "")


def is_group(address: str) -> bool:
    """Whether ``address`` looks like a group's principal URL (``/@team/``)."""
    name = _principal(address)
    return name is not None and name.startswith("@")


def _in_group(user_id: Any) -> Any:
    """The condition "the group ``groups.c.id`` is one of ``user_id``'s groups", with
    the membership lookup of ``calserver.sharing`` (only accepted memberships count:
    the one place scheduling reads group membership)."""
    return groups.c.id.in_(groups_of(user_id))


def is_member(conn: Connection, user: str, address: str) -> bool:
    """Whether the user ``user`` is a member of the group ``address`` names."""
    name = _principal(address)
    if name is None or not name.startswith("@"):
        return False
    found = conn.execute(
        select(groups.c.id)
        .join(users, users.c.name == user)
        .where(groups.c.name == name[1:], _in_group(users.c.id))
    ).first()
    return found is not None


def group_members_of(conn: Connection, address: str) -> tuple[str, list[Person]] | None:
    """(group name, its enabled members) when ``address`` is a group's principal URL
    (``/@team/``) or ``mailto:@team`` is not an address; groups have no e-mail.
    Members are those who accepted (``calserver.sharing.membership``): a pending
    invitation is no way to put someone in a meeting."""
    name = _principal(address)
    if name is None or not name.startswith("@"):
        return None
    group = name[1:]
    rows = conn.execute(
        select(users.c.name, users.c.email)
        .join(groups, groups.c.name == group)
        .where(users.c.disabled.is_(False), _in_group(users.c.id))
        .order_by(users.c.name)
    ).all()
    if not rows and conn.execute(select(groups.c.id).where(groups.c.name == group)).first() is None:
        return None
    return group, [
        Person(row.name, row.email.lower(), mailto(row.email) if row.email else f"/{row.name}/")
        for row in rows
    ]
