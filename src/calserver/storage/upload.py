"""Writing items: the upload and delete of Radicale's collection contract (the rows
themselves: ``calserver.storage.rows``), and the write hooks they announce.

Each write runs in a savepoint of the request's transaction: Radicale's handlers catch
``ValueError`` inside the lock, so a failed write must undo itself.
"""

from __future__ import annotations

import contextlib
from typing import Any

import vobject
from radicale import item as radicale_item
from radicale import storage as radicale_storage
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from calserver.context import method as request_method
from calserver.context import put_body
from calserver.db.models import items
from calserver.ical import icsfile
from calserver.ical.icsfile import needs_sanitising
from calserver.sharing.levels import Level
from calserver.sharing.redact import shown_from
from calserver.storage.base import CollectionBase, HiddenConflict, ViewForbidden
from calserver.storage.context import current_scope, read_connection, write_scope
from calserver.storage.hooks import WriteEvent
from calserver.storage.rows import (
    PREPARED,
    PROVENANCE,
    IndexPolicy,
    item_row,
    prepare_row,
    remove_item,
    replace_item,
)
from calserver.storage.vcards import check_fits_collection, is_card


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
        check_fits_collection(self.tag, item)
        if not item.component_name and not is_card(item):
            raise ValueError("a calendar object resource needs a component (RFC 4791 4.1)")
        if getattr(item, PREPARED, None) is None and not is_card(item):
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
