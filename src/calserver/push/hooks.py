"""How the storage's writes reach WebDAV-Push (``calserver.storage.hooks``): after an
item of a calendar is stored or deleted, the calendar's subscriptions have news
(:func:`calserver.push.subscriptions.changed`, in the write's transaction).

Only what the storage announces is heard: CalDAV PUT and DELETE of one item. Whole-
calendar imports, MOVE, PROPPATCH, scheduling's copies in other calendars and
deleting a calendar do not push yet.
"""

from __future__ import annotations

from typing import Any

from calserver.push import subscriptions
from calserver.storage.hooks import WriteEvent


def _changed(event: WriteEvent) -> None:
    if event.tag == "VCALENDAR":
        subscriptions.changed(event.conn, event.target)


def register(storage: Any) -> None:
    storage.hooks.register(after_store=_changed, after_delete=_changed)
