"""How the storage's writes reach reminders (``calserver.storage.hooks``, registered by
``calserver.app``): inside the write's transaction,

- a new event of a calendar gets the default reminders people set on that calendar;
- the ``ACTION:EMAIL`` VALARMs of a stored event become e-mail reminders of the
  calendar's owner (and vanish with the VALARM);
- the event's reminders are queued again from its new text, so an added EXDATE, a
  cancelled or moved occurrence, or a new time is followed;
- a deleted event takes its reminders and its pending queue rows with it.

A write of an event nobody set a reminder on costs one indexed look-up (two for a
new event). MOVE is not announced by the storage: the worker finds a moved event
by its UID among its owner's calendars when the reminder is due
(:mod:`calserver.reminders.deliver`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from calserver.db.models import items
from calserver.reminders import clock, store
from calserver.storage.hooks import WriteEvent

#: The uid of an item about to be deleted, per transaction (before_delete -> after_delete).
_DELETING = "calserver.reminders.deleting"


def _stored(event: WriteEvent) -> None:
    if event.tag != "VCALENDAR" or event.new_row is None:
        return
    text = event.new_text or ""
    uid = str(event.new_row.get("uid") or "")
    if not uid or event.new_row.get("component") != "VEVENT":
        return
    conn, now = event.conn, clock.now()
    if event.old_row is None and store.has_defaults(conn, event.collection_id):
        store.apply_defaults(conn, event.collection_id, uid, now)
    if "ACTION:EMAIL" in text.upper() or store.has_any(conn, event.collection_id, uid):
        store.sync_alarms(conn, event.collection_id, event.target, uid, text, now)
    if event.old_row is not None and event.old_row.uid and event.old_row.uid != uid:
        store.requeue_event(
            conn, event.storage.configuration, event.collection_id, event.old_row.uid, None, now=now
        )
    if store.has_any(conn, event.collection_id, uid):
        store.requeue_event(
            conn, event.storage.configuration, event.collection_id, uid, text, now=now
        )


def _deleting(event: WriteEvent) -> None:
    if event.tag != "VCALENDAR":
        return
    uid = event.conn.execute(
        select(items.c.uid).where(
            items.c.collection_id == event.collection_id, items.c.href == event.href
        )
    ).scalar()
    event.conn.info[_DELETING] = uid or ""


def _deleted(event: WriteEvent) -> None:
    uid = event.conn.info.pop(_DELETING, "")
    if event.tag == "VCALENDAR" and uid and store.has_any(event.conn, event.collection_id, uid):
        store.requeue_event(event.conn, event.storage.configuration, event.collection_id, uid, None)


def register(storage: Any) -> None:
    storage.hooks.register(after_store=_stored, before_delete=_deleting, after_delete=_deleted)
