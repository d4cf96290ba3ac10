"""Managing groups, grants and the "other calendars" a user adds: one set of
operations for the CLI (``actor=None``: the administrator) and the HTTP API (``actor``:
the signed-in user, who may manage only their own calendars and the groups they
administer). Every change is one transaction; views change on the next request in
every process (nothing is cached across requests).

Group membership is by consent (issue 12, item 2): a group administrator's
``add_member`` only *invites* — the membership stays ``pending``, granting nothing
(``calserver.sharing.membership``), until the user accepts it (:func:`accept`) — while
the server administrator (``actor=None``, the CLI) adds directly. Anyone may leave a
group, or decline an invitation, at any time: the last administrator too, after which
only the server administrator can name a new one (``calserver group add-member GROUP
USER --admin``); the group, its calendars and its other members stay."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from calserver.accounts import directory
from calserver.accounts.users import validate_name
from calserver.db import write_connection
from calserver.db.models import (
    MAILBOXES,
    MEMBER_ACCEPTED,
    MEMBER_PENDING,
    calendar_views,
    collections,
    grants,
    group_members,
    groups,
    users,
)
from calserver.errors import Conflict, Forbidden, InvalidInput, NotFound
from calserver.sharing.levels import (
    ADDRESSBOOK,
    SHARED_TAGS,
    Level,
    alias_name,
    level_for,
    shared_with,
)
from calserver.sharing.membership import accepted_members, groups_of
from calserver.storage.meta import save_calendar_view
from calserver.storage.rows import delete_collections


@dataclass(frozen=True)
class Member:
    name: str
    admin: bool


@dataclass(frozen=True)
class Group:
    name: str
    #: Those who are in the group (accepted); only they count.
    members: list[Member] = field(default_factory=list)
    calendars: list[str] = field(default_factory=list)
    #: Invitations waiting for the user's consent (with the role they would get).
    invited: list[Member] = field(default_factory=list)


@dataclass(frozen=True)
class Membership:
    """A user's place in a group as they see it: ``pending`` (invited) or ``accepted``."""

    group: str
    admin: bool
    state: str
    invited_by: str | None = None


@dataclass(frozen=True)
class Grant:
    calendar: str
    grantee: str  # "USER" or "@GROUP"
    level: str


@dataclass(frozen=True)
class SharedCalendar:
    """A calendar in a user's home that is not theirs."""

    calendar: str
    alias: str
    level: str
    added: bool


def _user_id(conn: Connection, name: str) -> int:
    found = directory.user_id(conn, name)
    if found is None:
        raise NotFound(f"no user {name!r}")
    return int(found)


def _group_id(conn: Connection, name: str) -> int:
    found = conn.execute(select(groups.c.id).where(groups.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"no group {name!r}")
    return int(found)


def group_name(spelling: str) -> str:
    """``@GROUP`` or ``GROUP`` -> ``GROUP``."""
    name = spelling[1:] if spelling.startswith("@") else spelling
    validate_name(name, "group name")
    return name


def _is_admin(conn: Connection, group_id: int, user: str) -> bool:
    """An administrator who accepted: an invitation as admin administers nothing yet."""
    members = accepted_members()
    return bool(
        conn.execute(
            select(members.c.admin)
            .join(users, users.c.id == members.c.user_id)
            .where(members.c.group_id == group_id, users.c.name == user)
        ).scalar()
    )


def _check_group_admin(conn: Connection, group_id: int, group: str, actor: str | None) -> None:
    if actor is not None and not _is_admin(conn, group_id, actor):
        raise Forbidden(f"{actor!r} is not an administrator of the group {group!r}")


# --- groups ---------------------------------------------------------------------------


def create_group(engine: Engine, spelling: str, admin: str | None = None) -> Group:
    name = group_name(spelling)
    with write_connection(engine) as conn, conn.begin():
        if conn.execute(select(groups.c.id).where(groups.c.name == name)).first() is not None:
            raise Conflict(f"group {name!r} exists already")
        admin_id = _user_id(conn, admin) if admin is not None else None
        group_id = conn.execute(
            insert(groups).values(name=name, created=time.time()).returning(groups.c.id)
        ).scalar_one()
        if admin_id is not None:
            conn.execute(
                insert(group_members).values(
                    group_id=group_id, user_id=admin_id, admin=True, state=MEMBER_ACCEPTED
                )
            )
    return get_group(engine, name)


def delete_group(engine: Engine, spelling: str) -> None:
    """Delete the group, its calendars and its grants."""
    name = group_name(spelling)
    with write_connection(engine) as conn, conn.begin():
        _group_id(conn, name)
        conn.execute(delete(groups).where(groups.c.name == name))
        delete_collections(conn, "@" + name)


def add_member(
    engine: Engine, spelling: str, user: str, admin: bool = False, actor: str | None = None
) -> Group:
    """Add ``user`` to the group, or change their role (run again with another role).

    The server administrator (``actor=None``) adds directly, accepting a pending
    invitation on the user's behalf. A group administrator (``actor``) only invites:
    a new member is ``pending`` until they accept; the role of someone already in the
    group, or already invited, changes in place and their state stays."""
    name = group_name(spelling)
    with write_connection(engine) as conn, conn.begin():
        group_id = _group_id(conn, name)
        _check_group_admin(conn, group_id, name, actor)
        user_id = _user_id(conn, user)
        values: dict[str, object] = {"admin": admin}
        if actor is None:
            values["state"] = MEMBER_ACCEPTED
        changed = conn.execute(
            update(group_members)
            .where(group_members.c.group_id == group_id, group_members.c.user_id == user_id)
            .values(**values)
        )
        if not changed.rowcount:
            conn.execute(
                insert(group_members).values(
                    group_id=group_id,
                    user_id=user_id,
                    admin=admin,
                    state=MEMBER_ACCEPTED if actor is None else MEMBER_PENDING,
                    invited_by=None if actor is None else _user_id(conn, actor),
                )
            )
    return get_group(engine, name)


def _membership_state(conn: Connection, group_id: int, user_id: int) -> str | None:
    return conn.execute(
        select(group_members.c.state).where(
            group_members.c.group_id == group_id, group_members.c.user_id == user_id
        )
    ).scalar()


def accept(engine: Engine, spelling: str, user: str) -> Membership:
    """``user`` accepts their invitation to the group: from now on it counts (for
    free/busy, the group's calendars and grants). Accepting again changes nothing."""
    name = group_name(spelling)
    with write_connection(engine) as conn, conn.begin():
        group_id = _group_id(conn, name)
        user_id = _user_id(conn, user)
        if _membership_state(conn, group_id, user_id) is None:
            raise NotFound(f"{user!r} has no invitation to the group {name!r}")
        conn.execute(
            update(group_members)
            .where(group_members.c.group_id == group_id, group_members.c.user_id == user_id)
            .values(state=MEMBER_ACCEPTED)
        )
    return _membership(engine, name, user)


def decline(engine: Engine, spelling: str, user: str) -> None:
    """``user`` declines their pending invitation to the group: it is gone (the group
    administrators may invite again). A member leaves with :func:`remove_member`."""
    name = group_name(spelling)
    with write_connection(engine) as conn, conn.begin():
        group_id = _group_id(conn, name)
        user_id = _user_id(conn, user)
        state = _membership_state(conn, group_id, user_id)
        if state is None:
            raise NotFound(f"{user!r} has no invitation to the group {name!r}")
        if state != MEMBER_PENDING:
            raise Conflict(f"{user!r} is a member of the group {name!r}: leave it instead")
        conn.execute(
            delete(group_members).where(
                group_members.c.group_id == group_id, group_members.c.user_id == user_id
            )
        )


def memberships(engine: Engine, user: str) -> list[Membership]:
    """Every group ``user`` is in or invited to, by group name."""
    inviter = users.alias("inviter")
    with engine.connect() as conn:
        user_id = _user_id(conn, user)
        rows = conn.execute(
            select(groups.c.name, group_members.c.admin, group_members.c.state, inviter.c.name)
            .join(groups, groups.c.id == group_members.c.group_id)
            .outerjoin(inviter, inviter.c.id == group_members.c.invited_by)
            .where(group_members.c.user_id == user_id)
            .order_by(groups.c.name)
        ).all()
    return [Membership(row[0], bool(row[1]), row[2], row[3]) for row in rows]


def _membership(engine: Engine, name: str, user: str) -> Membership:
    return next(m for m in memberships(engine, user) if m.group == name)


def remove_member(engine: Engine, spelling: str, user: str, actor: str | None = None) -> Group:
    """A member who leaves loses what the group was granted (on the next request).
    Anyone may leave (or drop an invitation), the last administrator too; a group
    administrator removes members and withdraws invitations."""
    name = group_name(spelling)
    with write_connection(engine) as conn, conn.begin():
        group_id = _group_id(conn, name)
        if actor != user:  # anyone may leave a group
            _check_group_admin(conn, group_id, name, actor)
        user_id = _user_id(conn, user)
        removed = conn.execute(
            delete(group_members).where(
                group_members.c.group_id == group_id, group_members.c.user_id == user_id
            )
        )
        if not removed.rowcount:
            raise NotFound(f"{user!r} is not a member of the group {name!r}")
    return get_group(engine, name)


def get_group(engine: Engine, spelling: str) -> Group:
    name = group_name(spelling)
    with engine.connect() as conn:
        group_id = _group_id(conn, name)
        return _group(conn, group_id, name)


def _group(conn: Connection, group_id: int, name: str) -> Group:
    members: list[Member] = []
    invited: list[Member] = []
    for row in conn.execute(
        select(users.c.name, group_members.c.admin, group_members.c.state)
        .join(users, users.c.id == group_members.c.user_id)
        .where(group_members.c.group_id == group_id)
        .order_by(users.c.name)
    ):
        (members if row.state == MEMBER_ACCEPTED else invited).append(
            Member(row.name, bool(row.admin))
        )
    calendars = list(
        conn.execute(
            select(collections.c.path)
            .where(collections.c.parent == "@" + name, collections.c.tag == "VCALENDAR")
            .order_by(collections.c.path)
        ).scalars()
    )
    return Group(name, members, calendars, invited)


def list_groups(engine: Engine, member: str | None = None) -> list[Group]:
    """Every group, or the groups ``member`` belongs to (accepted; invitations are
    :func:`memberships`)."""
    with engine.connect() as conn:
        query = select(groups.c.id, groups.c.name).order_by(groups.c.name)
        if member is not None:
            query = query.where(groups.c.id.in_(groups_of(_user_id(conn, member))))
        return [_group(conn, row.id, row.name) for row in conn.execute(query).all()]


# --- grants ---------------------------------------------------------------------------


def parse_calendar(path: str) -> str:
    """``USER/CAL`` or ``@GROUP/CAL`` -> the calendar's path."""
    parts = path.strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        raise InvalidInput(f"expected USER/CAL or @GROUP/CAL, got {path!r}")
    return "/".join(parts)


def calendar_id(conn: Connection, path: str) -> int:
    if path.rpartition("/")[2] in MAILBOXES:  # a schedule inbox is no calendar to share
        raise NotFound(f"no calendar {path!r}")
    found = conn.execute(
        select(collections.c.id).where(
            collections.c.path == path, collections.c.tag.in_(SHARED_TAGS)
        )
    ).scalar()
    if found is None:
        raise NotFound(f"no calendar {path!r}")
    return int(found)


def _check_level_fits(conn: Connection, path: str, level: Level) -> None:
    """An address book is shared to read or to read and write (RFC 6352): a busy-only
    view of contacts means nothing, so it is refused rather than granted empty."""
    tag = conn.execute(select(collections.c.tag).where(collections.c.path == path)).scalar()
    if tag == ADDRESSBOOK and level < Level.READ:
        raise InvalidInput(
            f"{path!r} is an address book: share it at level read or write (busy is for calendars)"
        )


def check_may_manage(conn: Connection, path: str, actor: str | None) -> None:
    """Whether ``actor`` may manage the calendar at ``path``'s grants (raises
    Forbidden when not; ``None`` is the administrator)."""
    _check_may_manage(conn, path, actor)


def _check_may_manage(conn: Connection, path: str, actor: str | None) -> None:
    """Only the owner manages a calendar's grants; a group's admins its calendars'."""
    if actor is None:
        return
    home = path.partition("/")[0]
    if home.startswith("@"):
        _check_group_admin(conn, _group_id(conn, home[1:]), home[1:], actor)
    elif home != actor:
        raise Forbidden(f"{actor!r} may not share {path!r}: it is not theirs")


def _grantee(conn: Connection, spelling: str) -> tuple[dict[str, int], object]:
    """(column values, condition) naming the grantee ``USER`` or ``@GROUP``."""
    if spelling.startswith("@"):
        group_id = _group_id(conn, group_name(spelling))
        return {"group_id": group_id}, grants.c.group_id == group_id
    user_id = _user_id(conn, spelling)
    return {"user_id": user_id}, grants.c.user_id == user_id


def share(
    engine: Engine, calendar: str, grantee: str, level: str, actor: str | None = None
) -> Grant:
    """Grant ``calendar`` to a user or a whole group at a level; run again with another
    level to change it. Viewers' sync tokens of another level stop being valid."""
    path = parse_calendar(calendar)
    try:
        parsed = Level.parse(level)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    with write_connection(engine) as conn, conn.begin():
        share_in(conn, path, grantee, parsed, actor)
    return Grant(path, grantee, parsed.label)


def share_in(conn: Connection, path: str, grantee: str, level: Level, actor: str | None) -> int:
    """:func:`share` inside the caller's transaction (calendarserver-sharing's
    invitations, ``calserver.sharing.invites``); the calendar's collection id."""
    _check_may_manage(conn, path, actor)  # first: a stranger's calendar names stay secret
    collection_id = calendar_id(conn, path)
    _check_level_fits(conn, path, level)
    if grantee == path.partition("/")[0]:
        raise InvalidInput(f"{grantee!r} owns {path!r} already")
    values, condition = _grantee(conn, grantee)
    where = and_(grants.c.collection_id == collection_id, condition)  # type: ignore[arg-type]
    changed = conn.execute(update(grants).where(where).values(level=level.label))
    if not changed.rowcount:
        conn.execute(
            insert(grants).values(
                collection_id=collection_id,
                level=level.label,
                created=time.time(),
                **values,
            )
        )
    return collection_id


def unshare(engine: Engine, calendar: str, grantee: str, actor: str | None = None) -> None:
    path = parse_calendar(calendar)
    with write_connection(engine) as conn, conn.begin():
        _check_may_manage(conn, path, actor)  # first: a stranger's calendar names stay secret
        collection_id = calendar_id(conn, path)
        _, condition = _grantee(conn, grantee)
        removed = conn.execute(
            delete(grants).where(grants.c.collection_id == collection_id, condition)  # type: ignore[arg-type]
        )
        if not removed.rowcount:
            raise NotFound(f"{path!r} is not shared with {grantee!r}")


def grants_of(engine: Engine, calendar: str, actor: str | None = None) -> list[Grant]:
    path = parse_calendar(calendar)
    with engine.connect() as conn:
        _check_may_manage(conn, path, actor)  # first: a stranger's calendar names stay secret
        collection_id = calendar_id(conn, path)
        return _grants(conn, grants.c.collection_id == collection_id)


def _grants(conn: Connection, condition: object) -> list[Grant]:
    rows = conn.execute(
        select(
            collections.c.path,
            users.c.name.label("user"),
            groups.c.name.label("group"),
            grants.c.level,
        )
        .join(collections, collections.c.id == grants.c.collection_id)
        .outerjoin(users, users.c.id == grants.c.user_id)
        .outerjoin(groups, groups.c.id == grants.c.group_id)
        .where(condition)  # type: ignore[arg-type]
    ).all()
    # sorted here: NULLs (a group grant has no user) sort differently per engine
    return sorted(
        (
            Grant(row.path, row.user if row.user is not None else "@" + row.group, row.level)
            for row in rows
        ),
        key=lambda grant: (grant.calendar, grant.grantee),
    )


def shares(engine: Engine, user: str) -> tuple[list[Grant], list[SharedCalendar]]:
    """What ``user`` shares with others, and what appears in their home from others."""
    with engine.connect() as conn:
        _user_id(conn, user)
        given = _grants(
            conn,
            collections.c.parent == user,
        )
        received = _received(conn, user)
    return given, received


def _received(conn: Connection, user: str) -> list[SharedCalendar]:
    user_id = _user_id(conn, user)
    added = set(
        conn.execute(
            select(collections.c.path)
            .join(calendar_views, calendar_views.c.collection_id == collections.c.id)
            .where(calendar_views.c.user_id == user_id, calendar_views.c.added)
        ).scalars()
    )
    return [
        SharedCalendar(found.target, found.alias, found.level.label, found.target in added)
        for found in shared_with(conn, user)
    ]


def calendars_shared_with(engine: Engine, user: str) -> list[SharedCalendar]:
    with engine.connect() as conn:
        return _received(conn, user)


# --- other calendars and the viewer's own settings -------------------------------------


def add_other_calendar(engine: Engine, user: str, calendar: str) -> SharedCalendar:
    """Add someone else's calendar to ``user``'s home. A calendar of someone in one of
    their groups comes as a busy view at least; a granted one at its grant's level."""
    path = parse_calendar(calendar)
    with write_connection(engine) as conn, conn.begin():
        user_id = _user_id(conn, user)
        collection_id = calendar_id(conn, path)
        if path.partition("/")[0] == user:
            raise InvalidInput(f"{path!r} is {user!r}'s own calendar")
        if level_for(conn, user, path) < Level.FREEBUSY:
            # not found rather than forbidden: a stranger's calendar names stay secret
            raise NotFound(f"no calendar {path!r} that {user!r} may see")
        save_calendar_view(conn, user_id, collection_id, added=True)
        level = level_for(conn, user, path)
    return SharedCalendar(path, alias_name(path), level.label, True)


def remove_other_calendar(engine: Engine, user: str, calendar: str) -> None:
    path = parse_calendar(calendar)
    with write_connection(engine) as conn, conn.begin():
        user_id = _user_id(conn, user)
        collection_id = conn.execute(
            select(collections.c.id).where(collections.c.path == path)
        ).scalar()
        removed = conn.execute(
            update(calendar_views)
            .where(
                calendar_views.c.user_id == user_id,
                calendar_views.c.collection_id == collection_id,
                calendar_views.c.added,
            )
            .values(added=False)
        )
        if not removed.rowcount:
            raise NotFound(f"{user!r} has not added {path!r}")


def set_own_properties(engine: Engine, user: str, calendar: str, props: dict[str, str]) -> None:
    """The viewer's own WebDAV properties of a calendar shared with them (colour,
    name, order), laid over the owner's: ``{"D:displayname": ..., ...}``."""
    path = parse_calendar(calendar)
    if path.partition("/")[0] == user:  # an owner's own settings would never be read
        raise InvalidInput(f"{path!r} belongs to {user!r}: set its own properties with PROPPATCH")
    with write_connection(engine) as conn, conn.begin():
        user_id = _user_id(conn, user)
        collection_id = calendar_id(conn, path)
        if level_for(conn, user, path) < Level.BUSY:
            raise NotFound(f"no calendar {path!r} that {user!r} may see")
        row = conn.execute(
            select(calendar_views.c.props).where(
                calendar_views.c.user_id == user_id,
                calendar_views.c.collection_id == collection_id,
            )
        ).first()
        merged = {**json.loads(row.props if row is not None else "{}"), **props}
        text = json.dumps(merged, sort_keys=True, ensure_ascii=False)
        save_calendar_view(conn, user_id, collection_id, props=text)
