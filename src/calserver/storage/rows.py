"""Row access of the calendar store: the one module that writes collection and item rows
(with their instances and the change log every write appends to). The storage plugin
(``calserver.storage``), the services (calendars, scheduling, users, sharing) and the
migration from Radicale all write through it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol

from radicale import item as radicale_item
from radicale import pathutils
from sqlalchemy import Column, Connection, delete, insert, update

from calserver import db
from calserver.db.models import changes, collections, instances, items
from calserver.ical.icsfile import CONTROL_CHARACTERS
from calserver.ical.timeindex import SHORT_SPAN, index_item, mixed_times
from calserver.sharing.levels import Level
from calserver.sharing.redact import item_class, shown_from
from calserver.storage.itemprops import drop as drop_item_properties
from calserver.storage.searchindex import index_rows
from calserver.storage.vcards import card_row, is_card


def insert_collection(
    conn: Connection, path: str, parent: str, tag: str = "", props: str = "{}"
) -> int:
    """A new collection row (a fresh sync key: no old token applies to it); its id."""
    return int(
        conn.execute(
            insert(collections)
            .values(
                path=path,
                parent=parent,
                tag=tag,
                props=props,
                revision=0,
                min_revision=0,
                sync_key=secrets.token_hex(8),
                modified=time.time(),
            )
            .returning(collections.c.id)
        ).scalar_one()
    )


def ensure_collection_row(conn: Connection, path: str, parent: str) -> None:
    """A plain collection at ``path`` unless there is one: a user's first requests, in
    parallel on several processes, all create the principal collection, and the later
    ones find it made (no unique violation, no 500)."""
    db.insert_missing(
        conn,
        collections,
        {
            "path": path,
            "parent": parent,
            "tag": "",
            "props": "{}",
            "revision": 0,
            "min_revision": 0,
            "sync_key": secrets.token_hex(8),
            "modified": time.time(),
        },
        ["path"],
    )


def delete_collections(conn: Connection, path: str, include_self: bool = True) -> None:
    """Delete the collections below ``path`` (and ``path`` itself unless told otherwise);
    their items, instances and changes go with them by cascade."""
    below = collections.c.path.startswith(path + "/", autoescape=True)
    conn.execute(
        delete(collections).where((collections.c.path == path) | below if include_self else below)
    )


def bump_revision(conn: Connection, collection_id: int) -> int:
    """Next revision of the collection; the row lock also orders concurrent writers."""
    now = time.time()
    revision = conn.execute(
        update(collections)
        .where(collections.c.id == collection_id)
        .values(revision=collections.c.revision + 1, modified=now)
        .returning(collections.c.revision)
    ).scalar_one()
    return int(revision)


class Change(NamedTuple):
    """One changed href of a collection, and who could see it before and after the
    change (``redact.shown_from``; None where there was no item)."""

    href: str
    before: Level | None
    after: Level | None


def shown(row: Any) -> Level | None:
    """``redact.shown_from`` of an item row (with ``klass`` and ``component``), None
    for no row."""
    if row is None:
        return None
    if isinstance(row, dict):
        return shown_from(row["klass"], row["component"])
    return shown_from(row.klass, row.component)


def log_changes(
    conn: Connection, collection_id: int, revision: int, logged: Iterable[Change]
) -> None:
    """Append ``logged`` to the collection's change log under ``revision`` (every
    write that changes an item must: RFC 6578 sync reads nothing else)."""
    now = time.time()
    rows = [
        {
            "collection_id": collection_id,
            "revision": revision,
            "href": change.href,
            "deleted": change.after is None,
            "before_level": None if change.before is None else int(change.before),
            "after_level": None if change.after is None else int(change.after),
            "created": now,
        }
        for change in logged
    ]
    if rows:
        conn.execute(insert(changes), rows)


def check_fits(column: Column[Any], value: str, what: str) -> None:
    """Refuse as bad input what a column cannot hold: PostgreSQL enforces VARCHAR
    lengths (a driver error, a 500), SQLite does not; both engines must answer alike."""
    limit = getattr(column.type, "length", None)
    if limit is not None and len(value) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")


class IndexPolicy(Protocol):
    """How far to index recurrences (the Storage, or its settings sent to a worker)."""

    @property
    def index_max_instances(self) -> int: ...

    def index_horizon(self) -> int: ...


#: The columns of an item row that say who wrote it (a write hook sets them: implicit
#: scheduling marks the copies it makes).
PROVENANCE = ("sched_organizer", "sched_role")


#: The attribute of a Radicale item that holds its row computed before the write lock
#: (:func:`prepare_row`).
PREPARED = "_calserver_prepared"


def prepare_row(
    storage: IndexPolicy, item: radicale_item.Item
) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The denormalised row of ``item`` without its place (collection, href), and its
    instance spans: all the work of storing it that needs no database, so that it can
    be done before the write lock is taken (:func:`install`)."""
    if is_card(item):  # an address object (RFC 6352): no time, no index
        row, spans = card_row(item)
        check_fits(items.c.uid, row["uid"], "the UID")
        return row, spans
    text = item.serialize()
    control = CONTROL_CHARACTERS.search(text)
    if control is not None:
        # RFC 5545 3.1 and 3.3.11: no control character but HTAB in iCalendar data
        # (PostgreSQL cannot store NUL; XML 1.0 cannot carry the others: one such event
        # would make every REPORT over its calendar unreadable)
        raise ValueError(
            f"the calendar data contains the control character U+{ord(control.group()):04X}"
        )
    check_fits(items.c.uid, item.uid or "", "the UID")
    component = item.component_name
    start_ts, end_ts = item.time_range
    mixed = mixed_times(item.vobject_item)
    if mixed is not None:
        raise ValueError(mixed)
    index = index_item(
        item.vobject_item, component, storage.index_horizon(), storage.index_max_instances
    )
    row = {
        "klass": item_class(text),
        "uid": item.uid or "",
        "etag": item.etag,
        "name": item.name,
        "component": component,
        "start_ts": start_ts,
        "end_ts": end_ts,
        "indexed_until": index.indexed_until,
        "text": text,
    }
    return row, list(index.spans)


def item_row(
    storage: IndexPolicy, collection_id: int, href: str, item: radicale_item.Item
) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The denormalised row of ``item`` and its instance spans (computed before the
    write lock when :func:`install` prepared it)."""
    check_fits(items.c.href, href, "the resource name")
    prepared = getattr(item, PREPARED, None)
    if prepared is None:
        prepared = prepare_row(storage, item)
    row, spans = prepared
    return {
        **row,
        "collection_id": collection_id,
        "href": href,
        "modified": time.time(),
    }, spans


def insert_items(
    conn: Connection, collection_id: int, rows: list[tuple[dict[str, Any], list[tuple[int, int]]]]
) -> None:
    """Insert item rows, their instances and their search words in bulk."""
    if not rows:
        return
    ids = (
        conn.execute(
            insert(items).returning(items.c.id, sort_by_parameter_order=True),
            [row for row, _ in rows],
        )
        .scalars()
        .all()
    )
    instance_rows = [
        {
            "item_id": item_id,
            "collection_id": collection_id,
            "long": end - start > SHORT_SPAN,
            "start_ts": start,
            "end_ts": end,
        }
        for item_id, (_, spans) in zip(ids, rows, strict=True)
        for start, end in spans
    ]
    if instance_rows:
        conn.execute(insert(instances), instance_rows)
    # the search index follows every inserted item (calserver.storage.searchindex)
    index_rows(
        conn,
        [
            (item_id, row["component"], row["text"])
            for item_id, (row, _) in zip(ids, rows, strict=True)
        ],
    )


def replace_item(
    conn: Connection,
    collection_id: int,
    href: str,
    row: tuple[dict[str, Any], list[tuple[int, int]]],
) -> int:
    """Store one item row at ``href``, replacing what is there (by name: another
    request's scheduling may have rewritten it since it was read), and log the change;
    the collection's new revision."""
    old = conn.execute(
        delete(items)
        .where(items.c.collection_id == collection_id, items.c.href == href)
        .returning(items.c.klass, items.c.component)
    ).first()
    insert_items(conn, collection_id, [row])
    revision = bump_revision(conn, collection_id)
    log_changes(conn, collection_id, revision, [Change(href, shown(old), shown(row[0]))])
    return revision


def remove_item(conn: Connection, collection_id: int, href: str) -> int | None:
    """Delete the item at ``href`` and log it; the new revision, None if there was none."""
    old = conn.execute(
        delete(items)
        .where(items.c.collection_id == collection_id, items.c.href == href)
        .returning(items.c.klass, items.c.component)
    ).first()
    if old is None:
        return None
    drop_item_properties(conn, collection_id, href)  # its dead properties go with it
    revision = bump_revision(conn, collection_id)
    log_changes(conn, collection_id, revision, [Change(href, shown(old), None)])
    return revision


def safe_href_for(uid: str, taken: set[str], suffix: str = ".ics") -> str:
    """The name Radicale's file storage would give an imported item (UID + .ics, or
    + .vcf for a vCard: ``suffix``)."""
    for href in (uid + suffix, radicale_item.get_etag(uid).strip('"') + suffix):
        if len(href) <= 255 and pathutils.is_safe_path_component(href) and href not in taken:
            return href
    return radicale_item.find_available_uid(lambda h: h in taken, suffix)
