"""Writing items: upload, delete, and the change log every write appends to.

Each write runs in a savepoint of the request's transaction: Radicale's handlers catch
``ValueError`` inside the lock, so a failed write must undo itself.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol

import vobject
from radicale import item as radicale_item
from radicale import storage as radicale_storage
from sqlalchemy import Column, Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from calserver import db, icsfile
from calserver.db.models import changes, collections, instances, items
from calserver.icsfile import CONTROL_CHARACTERS, needs_sanitising
from calserver.sharing.levels import Level
from calserver.sharing.redact import item_class, shown_from
from calserver.storage.base import CollectionBase, HiddenConflict, ViewForbidden
from calserver.storage.context import (
    current_scope,
    put_body,
    read_connection,
    request_method,
    write_scope,
)
from calserver.storage.hooks import WriteEvent
from calserver.storage.timeindex import SHORT_SPAN, index_item, mixed_times


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
    """Insert item rows and their instances in bulk."""
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
    revision = bump_revision(conn, collection_id)
    log_changes(conn, collection_id, revision, [Change(href, shown(old), None)])
    return revision


def safe_href_for(uid: str, taken: set[str]) -> str:
    """The name Radicale's file storage would give an imported item (UID + .ics)."""
    from radicale import pathutils

    for href in (uid + ".ics", radicale_item.get_etag(uid).strip('"') + ".ics"):
        if len(href) <= 255 and pathutils.is_safe_path_component(href) and href not in taken:
            return href
    return radicale_item.find_available_uid(lambda h: h in taken, ".ics")


def client_text(item: radicale_item.Item) -> str | None:
    """The text the client PUT for ``item``, when storing it loses nothing Radicale's
    sanitising would have fixed: one resource, the same UID, no client quirk rewritten.
    vobject's re-serialisation drops X- property values after an unescaped comma."""
    body = put_body.get()
    if body is None:
        return None
    try:
        resources = list(icsfile.split(body))
        if len(resources) != 1 or resources[0].uid != item.uid:
            return None
        if needs_sanitising(vobject.readOne(resources[0].skeleton)):
            return None
    except Exception:  # anything unusual: store what Radicale parsed
        return None
    return resources[0].text


def client_item(item: radicale_item.Item, collection_path: str) -> radicale_item.Item:
    """``item`` holding the text the client PUT where that loses nothing
    (:func:`client_text`), else ``item``."""
    original = client_text(item)
    if original is None:
        return item
    return radicale_item.Item(
        collection_path=collection_path,
        text=original,
        vobject_item=item.vobject_item,
        uid=item.uid,
        name=item.name,
        component_name=item.component_name,
        time_range=item.time_range,
    )


def prepared(
    storage: IndexPolicy, item: radicale_item.Item, collection_path: str | None
) -> radicale_item.Item:
    """``item`` (a PUT's, before the write lock is taken) with its row computed: the
    parsing, checks and recurrence expansion of storing it, so that no writer waits
    while they run; with the client's text when ``collection_path`` (a single
    resource's PUT) is given. What fails here is computed again, and refused, under
    the lock."""
    if not item.component_name:
        return item
    if collection_path is not None:
        item = client_item(item, collection_path)
    with contextlib.suppress(ValueError):  # upload() refuses it with the same error
        setattr(item, PREPARED, prepare_row(storage, item))
    return item


class UploadMixin(CollectionBase):
    def check_write(self, conn: Connection, href: str) -> None:
        """Refuse a write through a view that may not make it: below the write level,
        on an item the writer sees only as a busy block (a confidential event: 403,
        DESIGN.md "Rules in detail"), or on one their view hides (HiddenConflict)."""
        view = self._view
        if view is None:
            return
        if view.level < Level.WRITE:
            raise ViewForbidden(f"{view.viewer!r} may not change {view.target!r}")
        there = conn.execute(
            select(items.c.klass, items.c.component).where(
                items.c.collection_id == self.id, items.c.href == href
            )
        ).first()
        if there is None:
            return
        if shown_from(there.klass, there.component) > view.level:
            raise HiddenConflict(f"{view.viewer!r} may not see {self.path}/{href}")
        if there.klass != "PUBLIC":
            raise ViewForbidden(f"{view.viewer!r} may not change a {there.klass.lower()} event")

    def _write_event(self, conn: Connection, href: str, **rows: Any) -> WriteEvent:
        """What the write hooks of the storage hear about a write of ``href``."""
        scope = current_scope.get()
        return WriteEvent(
            conn=conn,
            storage=self._storage,
            collection_path=self.path,
            target=self._view.target if self._view is not None else self.path,
            collection_id=self.id,
            tag=self.tag,
            href=href,
            user=scope.user if scope is not None else "",
            method=request_method.get(),
            **rows,
        )

    def upload(
        self, href: str, item: radicale_item.Item
    ) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        cid = self.id
        if not item.component_name:
            raise ValueError("a calendar object resource needs a component (RFC 4791 4.1)")
        if getattr(item, PREPARED, None) is None:
            item = client_item(item, self.path)
        row, spans = item_row(self._storage, cid, href, item)
        old_item = None
        try:
            with write_scope(self._storage.engine) as conn:
                self.check_write(conn, href)
                old = conn.execute(
                    select(items).where(items.c.collection_id == cid, items.c.href == href)
                ).first()
                hooks = self._storage.hooks
                event = self._write_event(conn, href, old_row=old, new_row=row)
                hooks.run(hooks.before_store, event)
                if event.replacement is not None:  # e.g. implicit scheduling's copy
                    item = radicale_item.Item(collection_path=self.path, text=event.replacement)
                    row, spans = item_row(self._storage, cid, href, item)
                    sent = event.new_row or {}
                    row.update({column: sent[column] for column in PROVENANCE if column in sent})
                    event.new_row, event.replacement = row, None
                if old is not None:
                    old_item = self._make_item(old)
                revision = replace_item(conn, cid, href, (row, spans))
                hooks.run(hooks.after_store, event)
        except IntegrityError as exc:
            raise ValueError(f"cannot store {href!r}: UID {item.uid!r} is in use") from exc
        self._state.revision = revision
        with read_connection(self._storage.engine) as conn:
            # not through the view: a writer may store an event they will not see
            # (a private one); Radicale still answers with its ETag
            stored = conn.execute(
                select(items).where(items.c.collection_id == cid, items.c.href == href)
            ).one()
        return self._make_item(stored), old_item

    def delete(self, href: str | None = None) -> None:
        if href is None:
            if self._view is not None:
                raise ViewForbidden("only its owner may delete a calendar")
            self._storage.delete_collection(self.path)
            return
        cid = self.id
        with write_scope(self._storage.engine) as conn:
            self.check_write(conn, href)
            hooks = self._storage.hooks
            event = self._write_event(conn, href)
            hooks.run(hooks.before_delete, event)
            revision = remove_item(conn, cid, href)
            if revision is None:
                raise radicale_storage.ComponentNotFoundError(href)
            hooks.run(hooks.after_delete, event)
        self._state.revision = revision
