"""Meeting copies and schedule inboxes in the calendar store: the SQL of implicit
scheduling (RFC 6638 3.2), in the transaction of the write that caused it.

Finding and writing scheduling object resources (RFC 6638 3.1) in other people's
calendars: a user's schedule inbox (RFC 6638 2.2) and default calendar (RFC 6638 9.2),
the organizer's copy of a meeting and an attendee's, each with its provenance (which
items scheduling wrote, for whom). Also what every scheduling module shares: the
refusal of a change (:class:`Refused`) and the one lock that keeps scheduling writes
in a line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from radicale import item as radicale_item
from sqlalchemy import Connection, select

from calserver import db
from calserver.db.models import MAILBOXES, collections, items
from calserver.errors import CalserverError
from calserver.scheduling import addresses, itip, scheduletag
from calserver.storage.context import write_scope
from calserver.storage.rows import bump_revision, insert_collection, item_row, replace_item

INBOX = "inbox"
OUTBOX = "outbox"
#: Names the server keeps in every home (RFC 6638 2.2 / 2.1).
RESERVED = MAILBOXES


class Refused(CalserverError, ValueError):
    """A scheduling change or answer that is not allowed; nothing was changed (a
    ValueError too: Radicale's handlers take back a write that raises one)."""

    def __init__(self, reason: str, precondition: str = "", status: int = 403) -> None:
        super().__init__(reason, status=status, precondition=precondition)


#: The PostgreSQL advisory lock every scheduling write takes. A meeting's writes cross
#: calendars (the organizer's request writes the attendees' copies, an attendee's the
#: organizer's copy) without their per-calendar locks, so two such transactions could
#: wait for each other's rows (a deadlock) or insert the same copy twice; one lock for
#: all scheduling keeps them in a line. SQLite has one writer at a time anyway.
SCHEDULING_LOCK = "calserver:scheduling"


def serialise(conn: Connection) -> None:
    db.advisory_lock(conn, SCHEDULING_LOCK)


@contextmanager
def in_transaction(storage: Any) -> Iterator[Connection]:
    """A write transaction of its own (or the request's), scheduling serialised."""
    with write_scope(storage.engine) as conn:
        serialise(conn)
        yield conn


def _create_calendar(conn: Connection, path: str, name: str, components: str) -> int:
    """A calendar collection the server makes in a home (created too when missing)."""
    home = path.partition("/")[0]
    if conn.execute(select(collections.c.id).where(collections.c.path == home)).first() is None:
        insert_collection(conn, home, "")
    props = {
        "tag": "VCALENDAR",
        "D:displayname": name,
        "C:supported-calendar-component-set": components,
    }
    return insert_collection(conn, path, home, "VCALENDAR", json.dumps(props, sort_keys=True))


def ensure_inbox(conn: Connection, user: str) -> int:
    """The id of ``user``'s schedule inbox (RFC 6638 2.2), created when missing."""
    path = f"{user}/{INBOX}"
    found = conn.execute(select(collections.c.id).where(collections.c.path == path)).scalar()
    if found is not None:
        return int(found)
    return _create_calendar(conn, path, "Inbox", "VEVENT,VTODO")


def _supports_events(props: dict[str, str]) -> bool:
    supported = props.get("C:supported-calendar-component-set", "")
    return not supported or "VEVENT" in {name.strip().upper() for name in supported.split(",")}


def find_default_calendar(conn: Connection, user: str) -> str | None:
    """Where meetings ``user`` is invited to arrive (RFC 6638 9.2): their first own
    calendar that takes events; None when they have none yet."""
    rows = conn.execute(
        select(collections.c.path, collections.c.props)
        .where(collections.c.parent == user, collections.c.tag == "VCALENDAR")
        .order_by(collections.c.path)
    ).all()
    for row in rows:
        if row.path.rpartition("/")[2] in RESERVED:
            continue
        if _supports_events(json.loads(row.props or "{}")):
            return str(row.path)
    return None


def default_calendar(conn: Connection, user: str) -> str:
    """:func:`find_default_calendar`, ``USER/calendar`` created when there is none."""
    found = find_default_calendar(conn, user)
    if found is not None:
        return found
    path = f"{user}/calendar"
    bump_revision(conn, _create_calendar(conn, path, "Calendar", "VEVENT,VTODO,VJOURNAL"))
    return path


# --- writing items of other people's calendars (in the caller's transaction) -----------


@dataclass
class Stored:
    """An item found in a calendar: where it is and its text."""

    collection_id: int
    path: str
    href: str
    text: str


# --- provenance: which items scheduling wrote, for whom ---------------------------------
#
# RFC 6638 3.2 lets the server write scheduling object resources in other people's
# calendars; it must write nothing else there. Every item scheduling writes for a
# meeting carries, in ``items.sched_organizer`` / ``items.sched_role``, the organizer's
# user name and whether it is the organizer's copy or an attendee's copy. Only
# scheduling sets it (``write``); a client's PUT never can, and a client's edit of the
# same UID at the same href keeps it (``provenance_after_put``). Scheduling finds
# meetings by it, never by UID alone: an item with the meeting's UID that scheduling
# did not write for that organizer (the attendee's own event, a meeting organized by
# someone else, a copy someone wrote in a group calendar) is never the meeting.

#: ``items.sched_role`` of the organizer's copy and of an attendee's copy.
ORGANIZER_COPY = "organizer"
ATTENDEE_COPY = "attendee"


#: Where the organizer's copy keeps an attendee's reason for their answer.
COMMENT_PARAM = "X-CALSERVER-COMMENT"


Provenance = tuple[str | None, str | None]
NO_PROVENANCE: Provenance = (None, None)


def write(
    storage: Any,
    conn: Connection,
    collection_id: int,
    path: str,
    href: str,
    text: str,
    *,
    uid: str | None = None,
    provenance: Provenance = NO_PROVENANCE,
) -> None:
    """Store ``text`` at ``path/href`` (replacing what is there), indexed and logged as
    a PUT would (``calserver.storage.upload``), with its scheduling ``provenance``."""

    row, spans = item_row(
        storage, collection_id, href, radicale_item.Item(collection_path=path, text=text)
    )
    if uid is not None:
        row["uid"] = uid
    row["sched_organizer"], row["sched_role"] = provenance
    replace_item(conn, collection_id, href, (row, spans))
    if provenance[1] in (ORGANIZER_COPY, ATTENDEE_COPY):  # RFC 6638 3.2.10
        scheduletag.after_server_write(conn, collection_id, href, provenance[1] == ATTENDEE_COPY)


def _not_mailbox(row: Any) -> bool:
    return str(row.path).rpartition("/")[2] not in RESERVED


def organizer_copy_of(conn: Connection, organizer: str, uid: str) -> Stored | None:
    """The copy of the meeting ``uid`` that the user ``organizer`` wrote as its
    organizer (RFC 6638 3.1: the organizer's scheduling object resource), in a calendar
    of their own or a group calendar; None when they organize no such meeting. An item
    someone else wrote with that UID, anywhere, is never it."""
    rows = conn.execute(
        select(items.c.collection_id, collections.c.path, items.c.href, items.c.text)
        .join(collections, collections.c.id == items.c.collection_id)
        .where(
            items.c.sched_organizer == organizer,
            items.c.sched_role == ORGANIZER_COPY,
            items.c.uid == uid,
            collections.c.tag == "VCALENDAR",
        )
        .order_by(collections.c.path, items.c.href)
    ).all()
    me = addresses.me(conn, organizer)
    for row in rows:
        if _not_mailbox(row) and me(itip.organizer(itip.parse(row.text))):
            return Stored(row.collection_id, row.path, row.href, row.text)
    return None


@dataclass
class Holding:
    """What an attendee's calendars hold with a meeting's UID: their copy of that
    organizer's meeting (``copy``) and whether anything else has the UID (``other``)."""

    copy: Stored | None
    other: bool


def attendee_holding(
    conn: Connection, user: str, uid: str, organizer: str, address: str
) -> Holding:
    """``user``'s items with ``uid`` in their own calendars (the inbox aside): the copy
    scheduling wrote for the user ``organizer`` whose ORGANIZER is ``address``, and
    whether another item has that UID."""
    rows = conn.execute(
        select(
            items.c.collection_id,
            collections.c.path,
            items.c.href,
            items.c.text,
            items.c.sched_organizer,
            items.c.sched_role,
        )
        .join(collections, collections.c.id == items.c.collection_id)
        .where(
            collections.c.parent == user,
            collections.c.tag == "VCALENDAR",
            items.c.uid == uid,
        )
        .order_by(collections.c.path, items.c.href)
    ).all()
    copy = None
    other = False
    for row in rows:
        if not _not_mailbox(row):
            continue
        mine = (
            copy is None
            and row.sched_role == ATTENDEE_COPY
            and row.sched_organizer == organizer
            and addresses.same(itip.organizer(itip.parse(row.text)), address)
        )
        if mine:
            copy = Stored(row.collection_id, row.path, row.href, row.text)
        else:
            other = True
    return Holding(copy, other)


def provenance_after_put(
    collection_path: str, actor: str, old: Any | None, new_uid: str, organized: str | None
) -> Provenance:
    """The provenance of an item a client stores (``calserver.storage.upload``):
    ``organized`` names the organizer when scheduling scheduled it as their copy; an
    edit of the same UID at the same href keeps what ``old`` (the row there) had, an
    organizer's copy only when its organizer (or their delegate) writes; anything else
    has none. A PUT can never make an item a scheduling copy."""
    if organized is not None:
        return (organized, ORGANIZER_COPY)
    if old is None or old.sched_organizer is None or old.uid != new_uid:
        return NO_PROVENANCE
    if (
        old.sched_role == ORGANIZER_COPY
        and actor
        and (principal_of(collection_path, actor) != old.sched_organizer)
    ):
        return NO_PROVENANCE
    return (old.sched_organizer, old.sched_role)


def principal_of(collection_path: str, actor: str) -> str:
    """Who schedules through a calendar: its owner (a delegate writes for them), or for
    a group calendar the member writing."""
    home = collection_path.partition("/")[0]
    return actor if home.startswith("@") and actor else home


def provenance_at(conn: Connection, location: tuple[int, str]) -> Provenance:
    row = conn.execute(
        select(items.c.sched_organizer, items.c.sched_role).where(
            items.c.collection_id == location[0], items.c.href == location[1]
        )
    ).first()
    return (row.sched_organizer, row.sched_role) if row is not None else NO_PROVENANCE
