"""How the storage's writes reach the pairs (``calserver.storage.hooks``): a stored or
deleted item of a calendar marks its pairs dirty, in the write's transaction; the
worker runs them once the changes have settled (``[sync] debounce``)."""

from __future__ import annotations

from typing import Any

from calserver.remotesync import store
from calserver.storage.hooks import WriteEvent


def _changed(event: WriteEvent) -> None:
    if event.tag == "VCALENDAR":
        store.mark_dirty(event.conn, event.collection_id)


def register(storage: Any) -> None:
    storage.hooks.register(after_store=_changed, after_delete=_changed)
