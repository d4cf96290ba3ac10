"""Invitations to shared calendars, as Apple's calendarserver-sharing spells them
(caldav-sharing, "Calendar Sharing", CalendarServer: ``CS:share``, ``CS:invite``,
``CS:invite-reply``, the notification collection), mapped onto calserver's grants
(:mod:`calserver.sharing.manage`). The XML is :mod:`calserver.dav.cssharing`'s; this
module is the store side, one transaction per operation.

The mapping:

- a ``CS:set`` with ``CS:read-write`` grants ``write``, with ``CS:read`` grants
  ``read``, **at once** (as ``calserver share`` does): the calendar appears in the
  sharee's home on their next request, before they answer. The invitation
  (``sharing_invites``) records the answer: ``noresponse`` until they answer, then
  ``accepted`` or ``declined``; the sharee gets an ``invite-notification``;
- accepting keeps the grant; declining removes it (the owner shares again to invite
  again); either answer leaves an ``invite-reply`` notification for the owner;
- a ``CS:remove`` takes the grant back and withdraws the invitation;
- grants made by ``calserver share`` or the JSON API have no invitation: they count as
  accepted. A ``busy`` grant cannot be expressed in calendarserver-sharing (its access
  is read or read-write), nor can a grant to a group: both are left out of
  ``CS:invite`` (:func:`invitees`), so a client cannot turn them into a read grant by
  sending back what it was shown; they are managed with the CLI and the API.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from calserver.db import write_connection
from calserver.db.models import (
    collections,
    grants,
    sharing_invites,
    sharing_notifications,
    users,
)
from calserver.errors import Conflict, InvalidInput, NotFound
from calserver.sharing.manage import calendar_id, check_may_manage, parse_calendar, share_in
from calserver.sharing.visibility import Level

#: calendarserver-sharing's access values and the grant level each is.
ACCESS = {"read-write": Level.WRITE, "read": Level.READ}
#: A grant level and the access it is shown as (busy: not expressible, left out).
_ACCESS_OF = {"write": "read-write", "read": "read"}

NORESPONSE, ACCEPTED, DECLINED, DELETED = "noresponse", "accepted", "declined", "deleted"

INVITE_NOTIFICATION = "invite-notification"
INVITE_REPLY = "invite-reply"

#: The longest summary kept (a client's text for the invitation).
MAX_SUMMARY = 1000


@dataclass(frozen=True)
class Invitee:
    """A user a calendar is shared with, as ``CS:invite`` lists them."""

    user: str
    email: str
    access: str  # "read" | "read-write"
    status: str  # noresponse | accepted | declined


@dataclass(frozen=True)
class Notification:
    """One resource of a user's notification collection."""

    uid: str
    kind: str  # invite-notification | invite-reply
    data: dict[str, Any]
    created: float
    #: invite-notification: the invitation's status now (``deleted`` when withdrawn);
    #: invite-reply: the answer it reports.
    status: str

    @property
    def etag(self) -> str:
        raw = json.dumps([self.uid, self.kind, self.data, self.status], sort_keys=True)
        return '"' + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32] + '"'


def _user(conn: Connection, name: str) -> tuple[int, str]:
    row = conn.execute(select(users.c.id, users.c.email).where(users.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user {name!r}")
    return int(row.id), str(row.email or "")


def _summary(text: str) -> str:
    return text.strip()[:MAX_SUMMARY]


def _notify(conn: Connection, user_id: int, uid: str, kind: str, data: dict[str, Any]) -> None:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False)
    where = and_(sharing_notifications.c.user_id == user_id, sharing_notifications.c.uid == uid)
    changed = conn.execute(
        update(sharing_notifications).where(where).values(kind=kind, data=text, created=time.time())
    )
    if not changed.rowcount:
        conn.execute(
            insert(sharing_notifications).values(
                user_id=user_id, uid=uid, kind=kind, data=text, created=time.time()
            )
        )


def invite(
    engine: Engine, calendar: str, sharee: str, access: str, actor: str | None, summary: str = ""
) -> str:
    """Share ``calendar`` with ``sharee`` at ``access`` (``read`` / ``read-write``) at
    once, and invite them (a notification); the invitation's UID. Sharing again with
    another access changes the grant and keeps the answer already given, unless it
    was a decline: then it is a new invitation."""
    path = parse_calendar(calendar)
    with write_connection(engine) as conn, conn.begin():
        return _invite(conn, path, sharee, access, actor, summary)


def _invite(
    conn: Connection, path: str, sharee: str, access: str, actor: str | None, summary: str
) -> str:
    level = ACCESS.get(access)
    if level is None:
        raise InvalidInput(f"unknown access {access!r}: read or read-write")
    collection_id = share_in(conn, path, sharee, level, actor)
    sharee_id, _ = _user(conn, sharee)
    owner = path.partition("/")[0]
    owner_email = "" if owner.startswith("@") else _user(conn, owner)[1]
    row = conn.execute(
        select(sharing_invites.c.uid, sharing_invites.c.status).where(
            sharing_invites.c.collection_id == collection_id,
            sharing_invites.c.user_id == sharee_id,
        )
    ).first()
    text = _summary(summary)
    if row is None:
        uid = str(uuid.uuid4())
        conn.execute(
            insert(sharing_invites).values(
                collection_id=collection_id,
                user_id=sharee_id,
                uid=uid,
                status=NORESPONSE,
                access=access,
                summary=text,
                created=time.time(),
            )
        )
    else:
        uid = str(row.uid)
        status = NORESPONSE if row.status == DECLINED else row.status
        conn.execute(
            update(sharing_invites)
            .where(sharing_invites.c.uid == uid)
            .values(status=status, access=access, summary=text)
        )
    _notify(
        conn,
        sharee_id,
        uid,
        INVITE_NOTIFICATION,
        {
            "calendar": path,
            "owner": owner,
            "owner_email": owner_email,
            "access": access,
            "summary": text,
        },
    )
    return uid


def uninvite(engine: Engine, calendar: str, sharee: str, actor: str | None) -> None:
    """Take back ``sharee``'s grant of ``calendar`` and withdraw their invitation
    (its notification goes too). Nothing to take back is no error (a client may send
    a remove twice)."""
    path = parse_calendar(calendar)
    with write_connection(engine) as conn, conn.begin():
        _uninvite(conn, path, sharee, actor)


def change(
    engine: Engine, calendar: str, actor: str | None, changes: list[tuple[str, str | None, str]]
) -> None:
    """Several invitations and withdrawals in one transaction (one CS:share): each
    (sharee, access or None to withdraw, summary). All or none take effect."""
    path = parse_calendar(calendar)
    with write_connection(engine) as conn, conn.begin():
        for sharee, access, summary in changes:
            if access is None:
                _uninvite(conn, path, sharee, actor)
            else:
                _invite(conn, path, sharee, access, actor, summary)


def _uninvite(conn: Connection, path: str, sharee: str, actor: str | None) -> None:
    check_may_manage(conn, path, actor)
    collection_id = calendar_id(conn, path)
    sharee_id, _ = _user(conn, sharee)
    conn.execute(
        delete(grants).where(grants.c.collection_id == collection_id, grants.c.user_id == sharee_id)
    )
    uid = conn.execute(
        select(sharing_invites.c.uid).where(
            sharing_invites.c.collection_id == collection_id,
            sharing_invites.c.user_id == sharee_id,
        )
    ).scalar()
    if uid is not None:
        conn.execute(delete(sharing_invites).where(sharing_invites.c.uid == uid))
        conn.execute(
            delete(sharing_notifications).where(
                sharing_notifications.c.user_id == sharee_id,
                sharing_notifications.c.uid == uid,
            )
        )


def reply(engine: Engine, sharee: str, calendar: str, accepted: bool, summary: str = "") -> str:
    """``sharee`` accepts or declines the invitation to ``calendar`` (the owner's
    path); the calendar's path. Declining removes their grant; the owner (a user, not
    a group) gets an ``invite-reply`` notification. A grant made without an
    invitation (the CLI) may be declined too, which removes it."""
    path = parse_calendar(calendar)
    with write_connection(engine) as conn, conn.begin():
        sharee_id, sharee_email = _user(conn, sharee)
        try:
            collection_id = calendar_id(conn, path)
        except NotFound:
            raise NotFound(f"no invitation of {sharee!r} to {path!r}") from None
        row = conn.execute(
            select(sharing_invites.c.uid, sharing_invites.c.status).where(
                sharing_invites.c.collection_id == collection_id,
                sharing_invites.c.user_id == sharee_id,
            )
        ).first()
        granted = conn.execute(
            select(grants.c.id).where(
                grants.c.collection_id == collection_id, grants.c.user_id == sharee_id
            )
        ).first()
        if row is None and granted is None:
            raise NotFound(f"no invitation of {sharee!r} to {path!r}")
        if row is not None and row.status == DECLINED and accepted:
            raise Conflict(f"{sharee!r} declined {path!r}: its owner has to share it again")
        status = ACCEPTED if accepted else DECLINED
        uid = str(row.uid) if row is not None else ""
        if row is not None:
            conn.execute(
                update(sharing_invites).where(sharing_invites.c.uid == uid).values(status=status)
            )
        if not accepted:
            conn.execute(
                delete(grants).where(
                    grants.c.collection_id == collection_id, grants.c.user_id == sharee_id
                )
            )
        owner = path.partition("/")[0]
        if not owner.startswith("@"):
            owner_id, _ = _user(conn, owner)
            _notify(
                conn,
                owner_id,
                str(uuid.uuid4()),
                INVITE_REPLY,
                {
                    "calendar": path,
                    "sharee": sharee,
                    "sharee_email": sharee_email,
                    "status": status,
                    "in_reply_to": uid,
                    "summary": _summary(summary),
                },
            )
    return path


def invitees(engine: Engine, calendar: str, actor: str | None) -> list[Invitee]:
    """The users ``calendar`` is shared with at read or write (busy grants and
    grants to groups are left out: see the module's docstring), and those who
    declined, with their answers, by user name."""
    path = parse_calendar(calendar)
    with engine.connect() as conn:
        check_may_manage(conn, path, actor)
        collection_id = calendar_id(conn, path)
        return invitees_in(conn, collection_id)


def invitees_in(conn: Connection, collection_id: int) -> list[Invitee]:
    """:func:`invitees` of the calendar ``collection_id`` (no access check)."""
    answers = {
        row.user_id: row
        for row in conn.execute(
            select(
                sharing_invites.c.user_id, sharing_invites.c.status, sharing_invites.c.access
            ).where(sharing_invites.c.collection_id == collection_id)
        )
    }
    found: dict[str, Invitee] = {}
    for row in conn.execute(
        select(grants.c.user_id, grants.c.level, users.c.name, users.c.email)
        .join(users, users.c.id == grants.c.user_id)
        .where(grants.c.collection_id == collection_id)
    ):
        access = _ACCESS_OF.get(row.level)
        if access is None:
            continue
        answer = answers.get(row.user_id)
        status = answer.status if answer is not None else ACCEPTED
        found[row.name] = Invitee(row.name, str(row.email or ""), access, status)
    declined = [user_id for user_id, row in answers.items() if row.status == DECLINED]
    if declined:
        for person in conn.execute(
            select(users.c.id, users.c.name, users.c.email).where(users.c.id.in_(declined))
        ):
            if person.name not in found:
                access = answers[person.id].access
                found[person.name] = Invitee(person.name, str(person.email or ""), access, DECLINED)
    return [found[name] for name in sorted(found)]


def shared_calendars(conn: Connection, paths: list[str]) -> set[str]:
    """Which of the calendars at ``paths`` have someone in ``CS:invite`` (a user
    granted read or write, or who declined)."""
    if not paths:
        return set()
    granted = (
        select(collections.c.path)
        .join(grants, grants.c.collection_id == collections.c.id)
        .where(
            collections.c.path.in_(paths),
            grants.c.user_id.is_not(None),
            grants.c.level.in_(list(_ACCESS_OF)),
        )
    )
    declined = (
        select(collections.c.path)
        .join(sharing_invites, sharing_invites.c.collection_id == collections.c.id)
        .where(collections.c.path.in_(paths), sharing_invites.c.status == DECLINED)
    )
    return set(conn.execute(granted.union(declined)).scalars())


def notifications(engine: Engine, user: str) -> list[Notification]:
    """``user``'s notification collection, oldest first."""
    with engine.connect() as conn:
        user_id, _ = _user(conn, user)
        return _notifications(conn, user_id, None)


def notification(engine: Engine, user: str, uid: str) -> Notification | None:
    with engine.connect() as conn:
        user_id, _ = _user(conn, user)
        found = _notifications(conn, user_id, uid)
    return found[0] if found else None


def _notifications(conn: Connection, user_id: int, uid: str | None) -> list[Notification]:
    query = (
        select(
            sharing_notifications.c.uid,
            sharing_notifications.c.kind,
            sharing_notifications.c.data,
            sharing_notifications.c.created,
            sharing_invites.c.status,
        )
        .outerjoin(sharing_invites, sharing_invites.c.uid == sharing_notifications.c.uid)
        .where(sharing_notifications.c.user_id == user_id)
        .order_by(sharing_notifications.c.created, sharing_notifications.c.id)
    )
    if uid is not None:
        query = query.where(sharing_notifications.c.uid == uid)
    found = []
    for row in conn.execute(query):
        data = json.loads(row.data)
        if row.kind == INVITE_REPLY:
            status = str(data.get("status", ""))
        else:
            status = row.status if row.status is not None else DELETED
        found.append(Notification(row.uid, row.kind, data, float(row.created), status))
    return found


def dismiss(engine: Engine, user: str, uid: str) -> bool:
    """Delete one of ``user``'s notifications (the invitation it tells of stays);
    whether there was one."""
    with write_connection(engine) as conn, conn.begin():
        user_id, _ = _user(conn, user)
        removed = conn.execute(
            delete(sharing_notifications).where(
                sharing_notifications.c.user_id == user_id, sharing_notifications.c.uid == uid
            )
        )
    return bool(removed.rowcount)
