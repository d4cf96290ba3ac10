"""A person's own tags (issue 17 section 2): labels with an optional colour, put on any
event the person can see (busy level or above).

- A tag belongs to one person; there are no group tags. Its name is never renamed
  (only its colour changes); deleting it takes it off every event.
- What a person tagged is kept beside the event (``item_tags``, by calendar and UID like
  ``calserver.eventcolours``) and shown to that person only.
- On the person's own calendars the tag is also written into the event's ``CATEGORIES``
  (RFC 5545 3.8.1.2), so their clients see it -- except on meetings (events with
  attendees), whose text travels to the other participants: there, as on calendars of
  others, the tag stays beside the event, for its person alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import vobject
from radicale import item as radicale_item
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from calserver.db import read_transaction, write_transaction
from calserver.db.models import collections, item_tags, items, tags, users
from calserver.errors import Conflict, InvalidInput, NotFound
from calserver.eventcolours import parse_colour
from calserver.ical.searchquery import fold
from calserver.sharing.levels import Level, resolve
from calserver.storage import Storage

#: Longest tag name.
MAX_NAME = 64


@dataclass(frozen=True)
class Tag:
    name: str
    colour: str
    #: how many events carry it
    count: int


def check_name(name: str) -> str:
    """A tag name as given, trimmed; InvalidInput says what is wrong."""
    value = " ".join(name.split())
    if not value:
        raise InvalidInput("a tag needs a name")
    if len(value) > MAX_NAME:
        raise InvalidInput(f"a tag name is at most {MAX_NAME} characters")
    if any(c in value for c in ",;\\") or any(ord(c) < 32 for c in value):
        raise InvalidInput("a tag name may not contain , ; \\ or control characters")
    return value


def _user_id(conn: Connection, user: str) -> int:
    found = conn.execute(select(users.c.id).where(users.c.name == user)).scalar()
    if found is None:
        raise NotFound(f"no user {user!r}")
    return int(found)


def _tag_row(conn: Connection, user_id: int, name: str) -> tuple[int, str]:
    row = conn.execute(
        select(tags.c.id, tags.c.name).where(
            tags.c.user_id == user_id, tags.c.folded == fold(check_name(name))
        )
    ).first()
    if row is None:
        raise NotFound(f"no tag {name!r}")
    return int(row.id), str(row.name)


def list_tags(engine: Engine, user: str) -> list[Tag]:
    """``user``'s tags, by name."""
    with read_transaction(engine) as conn:
        user_id = _user_id(conn, user)
        counts = (
            select(item_tags.c.tag_id, func.count().label("n"))
            .group_by(item_tags.c.tag_id)
            .subquery()
        )
        rows = conn.execute(
            select(tags.c.name, tags.c.colour, func.coalesce(counts.c.n, 0).label("n"))
            .outerjoin(counts, counts.c.tag_id == tags.c.id)
            .where(tags.c.user_id == user_id)
            .order_by(tags.c.folded)
        ).all()
    return [Tag(row.name, row.colour, int(row.n)) for row in rows]


def create_tag(engine: Engine, user: str, name: str, colour: str = "") -> Tag:
    """A new tag; Conflict (409) when ``user`` has one of that name (any case)."""
    value, shade = check_name(name), parse_colour(colour)
    with write_transaction(engine) as conn:
        user_id = _user_id(conn, user)
        taken = conn.execute(
            select(tags.c.name).where(tags.c.user_id == user_id, tags.c.folded == fold(value))
        ).scalar()
        if taken is not None:
            raise Conflict(f"you have a tag {taken!r} already")
        conn.execute(
            insert(tags).values(
                user_id=user_id, name=value, folded=fold(value), colour=shade, created=time.time()
            )
        )
    return Tag(value, shade, 0)


def set_tag_colour(engine: Engine, user: str, name: str, colour: str) -> Tag:
    """Change a tag's colour ("" for none); its name never changes."""
    shade = parse_colour(colour)
    with write_transaction(engine) as conn:
        tag_id, real = _tag_row(conn, _user_id(conn, user), name)
        conn.execute(update(tags).where(tags.c.id == tag_id).values(colour=shade))
    return Tag(real, shade, 0)


@dataclass(frozen=True)
class Target:
    """An event as a person names it, resolved."""

    collection_id: int
    #: the calendar's own path
    path: str
    uid: str
    href: str
    level: Level


def _target(conn: Connection, user: str, calendar: str, href: str) -> Target:
    path = calendar.strip("/")
    resolved = resolve(conn, user, path)
    if resolved.level < Level.BUSY or path.count("/") != 1:
        raise NotFound(f"no calendar {calendar!r}")
    row = conn.execute(
        select(collections.c.id).where(
            collections.c.path == resolved.target, collections.c.tag == "VCALENDAR"
        )
    ).first()
    if row is None:
        raise NotFound(f"no calendar {calendar!r}")
    item = conn.execute(
        select(items.c.uid, items.c.klass, items.c.component).where(
            items.c.collection_id == row.id, items.c.href == href
        )
    ).first()
    # what the person cannot see is "not found", exactly like a missing event
    if item is None or not item.uid:
        raise NotFound(f"no event {href!r} in {calendar!r}")
    if resolved.level < Level.OWNER and (
        item.klass == "PRIVATE" or (resolved.level < Level.READ and item.klass != "PUBLIC")
    ):
        raise NotFound(f"no event {href!r} in {calendar!r}")
    return Target(int(row.id), resolved.target, str(item.uid), href, resolved.level)


def _write_categories(storage: Storage, user: str, target: Target, name: str, add: bool) -> None:
    """Add ``name`` to, or take it from, the CATEGORIES of every component of the event
    (own calendars, not meetings: see the module docstring), through the storage."""
    with storage.acquire_lock("w", user, path=f"/{target.path}/"):
        collection = storage.open_collection(target.path, user)
        if collection is None:
            return
        item = dict(collection.get_multi([target.href])).get(target.href)
        if item is None:
            return
        calendar = vobject.readOne(item.serialize())
        components = [
            c for c in calendar.getChildren() if c.name in ("VEVENT", "VTODO", "VJOURNAL")
        ]
        if any("attendee" in c.contents for c in components):
            return  # a meeting: its text reaches the other participants
        changed = False
        for component in components:
            values: list[str] = []
            for prop in component.contents.get("categories", []):
                values.extend(
                    v for v in (prop.value if isinstance(prop.value, list) else [prop.value])
                )
            present = [v for v in values if fold(v) == fold(name)]
            if add and not present:
                values.append(name)
            elif not add and present:
                values = [v for v in values if fold(v) != fold(name)]
            else:
                continue
            changed = True
            component.contents.pop("categories", None)
            if values:
                component.add("categories").value = values
        if changed:
            new = radicale_item.Item(collection_path=target.path, vobject_item=calendar)
            collection.upload(target.href, new)


def tag_event(storage: Storage, user: str, calendar: str, href: str, name: str) -> None:
    """Put ``user``'s tag ``name`` on the event ``href`` of ``calendar`` (as they see
    it); the tag must exist (NotFound otherwise)."""
    engine = storage.engine
    with write_transaction(engine) as conn:
        user_id = _user_id(conn, user)
        tag_id, real = _tag_row(conn, user_id, name)
        target = _target(conn, user, calendar, href)
        conn.execute(
            delete(item_tags).where(
                item_tags.c.tag_id == tag_id,
                item_tags.c.collection_id == target.collection_id,
                item_tags.c.uid == target.uid,
            )
        )
        conn.execute(
            insert(item_tags).values(
                tag_id=tag_id, collection_id=target.collection_id, uid=target.uid
            )
        )
    if target.level >= Level.OWNER:
        _write_categories(storage, user, target, real, add=True)


def untag_event(storage: Storage, user: str, calendar: str, href: str, name: str) -> None:
    """Take ``user``'s tag ``name`` off the event."""
    with write_transaction(storage.engine) as conn:
        user_id = _user_id(conn, user)
        tag_id, real = _tag_row(conn, user_id, name)
        target = _target(conn, user, calendar, href)
        conn.execute(
            delete(item_tags).where(
                item_tags.c.tag_id == tag_id,
                item_tags.c.collection_id == target.collection_id,
                item_tags.c.uid == target.uid,
            )
        )
    if target.level >= Level.OWNER:
        _write_categories(storage, user, target, real, add=False)


def delete_tag(storage: Storage, user: str, name: str) -> int:
    """Delete ``user``'s tag: it goes from every event (and the CATEGORIES of their own);
    how many events carried it."""
    with read_transaction(storage.engine) as conn:
        user_id = _user_id(conn, user)
        tag_id, real = _tag_row(conn, user_id, name)
        own = conn.execute(
            select(collections.c.path, items.c.href, items.c.uid)
            .select_from(item_tags)
            .join(collections, collections.c.id == item_tags.c.collection_id)
            .join(
                items,
                (items.c.collection_id == item_tags.c.collection_id)
                & (items.c.uid == item_tags.c.uid),
            )
            .where(item_tags.c.tag_id == tag_id, collections.c.parent == user)
        ).all()
        count = conn.execute(
            select(func.count()).select_from(item_tags).where(item_tags.c.tag_id == tag_id)
        ).scalar_one()
    for row in own:
        with read_transaction(storage.engine) as conn:
            cid = conn.execute(
                select(collections.c.id).where(collections.c.path == row.path)
            ).scalar()
        if cid is not None:
            _write_categories(
                storage,
                user,
                Target(int(cid), row.path, row.uid, row.href, Level.OWNER),
                real,
                False,
            )
    with write_transaction(storage.engine) as conn:
        conn.execute(delete(tags).where(tags.c.id == tag_id))  # item_tags by cascade
    return int(count)


def tags_of(
    conn: Connection, user: str, collection_ids: list[int] | None = None
) -> dict[tuple[int, str], list[tuple[str, str]]]:
    """``user``'s tags by (calendar id, UID): [(name, colour)]."""
    query = (
        select(item_tags.c.collection_id, item_tags.c.uid, tags.c.name, tags.c.colour)
        .join(tags, tags.c.id == item_tags.c.tag_id)
        .join(users, users.c.id == tags.c.user_id)
        .where(users.c.name == user)
        .order_by(tags.c.folded)
    )
    if collection_ids is not None:
        query = query.where(item_tags.c.collection_id.in_(sorted(set(collection_ids))))
    found: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for row in conn.execute(query):
        found.setdefault((row.collection_id, row.uid), []).append((row.name, row.colour))
    return found


def tagged(conn: Connection, user: str, name: str) -> set[tuple[int, str]]:
    """The events (calendar id, UID) ``user`` tagged ``name``; NotFound for no such tag."""
    tag_id, _ = _tag_row(conn, _user_id(conn, user), name)
    return {
        (row.collection_id, row.uid)
        for row in conn.execute(
            select(item_tags.c.collection_id, item_tags.c.uid).where(item_tags.c.tag_id == tag_id)
        )
    }


def tags_on(conn: Connection, user: str, calendar: str, href: str) -> list[tuple[str, str]]:
    """``user``'s tags on the event ``href`` of ``calendar`` (as they see it): [(name,
    colour)]; NotFound when they cannot see it."""
    target = _target(conn, user, calendar, href)
    return tags_of(conn, user, [target.collection_id]).get((target.collection_id, target.uid), [])
