"""Group membership that counts for access: the one place that reads ``group_members``
for a decision.

A group administrator may invite anyone, but an invitation is *pending* until the
invited user accepts it, and a pending membership grants nothing and reveals nothing:
no free/busy look-up by co-members, no "other calendar" busy view, no group calendar in
the user's home, no share of the calendars granted to the group, no expansion of the
group as a meeting attendee, no proxy rights through a group grant (DESIGN.md,
"Sharing"; issue 12, item 2). Every query that asks "who is in this group" or "which
groups is this user in" for an access decision joins :func:`accepted_members` instead
of the table, so a pending row is invisible to it. Writing memberships (invitations,
accepting, leaving) is ``calserver.sharing.manage``'s.
"""

from __future__ import annotations

from sqlalchemy import Select, Subquery, select

from calserver.db.models import MEMBER_ACCEPTED, group_members


def accepted_members(name: str = "members") -> Subquery:
    """The accepted memberships, with every column of ``group_members`` (``group_id``,
    ``user_id``, ``admin``, ...): join it where you would join the table. ``name``
    tells two uses in one statement apart (like ``Table.alias``)."""
    return select(group_members).where(group_members.c.state == MEMBER_ACCEPTED).subquery(name)


def groups_of(user_id: int) -> Select[tuple[int]]:
    """The ids of the groups ``user_id`` has accepted to be in."""
    return select(group_members.c.group_id).where(
        group_members.c.user_id == user_id, group_members.c.state == MEMBER_ACCEPTED
    )
