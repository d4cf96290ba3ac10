"""How the storage's writes reach managed attachments (``calserver.storage.hooks``):
when an event is deleted its attachments are deleted; when it is stored without an
ATTACH of a MANAGED-ID (a client removed it, RFC 8607 3.6 by a PUT), that attachment
is deleted. Only what the storage announces is heard (CalDAV PUT and DELETE of one
item): deleting a whole calendar drops its attachments through the foreign key;
MOVE of an event to another calendar leaves its attachments behind (they stay served
to readers of the calendar it came from until the event is deleted there).
"""

from __future__ import annotations

from typing import Any

from calserver.attachments import store
from calserver.ical import attachments as ical_attachments
from calserver.storage.hooks import WriteEvent


def _stored(event: WriteEvent) -> None:
    if event.tag == "VCALENDAR":
        store.forget(
            event.conn,
            event.collection_id,
            event.href,
            ical_attachments.managed_ids(event.new_text or ""),
        )


def _deleted(event: WriteEvent) -> None:
    if event.tag == "VCALENDAR":
        store.forget(event.conn, event.collection_id, event.href, set())


def register(storage: Any) -> None:
    storage.hooks.register(after_store=_stored, after_delete=_deleted)
