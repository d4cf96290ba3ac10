"""Implicit scheduling (RFC 6638 3.2) as write hooks of the storage
(``calserver.storage.hooks``): the composition root registers them with :func:`register`.

Before an item is stored, the engine may schedule it (an organizer's change invites,
updates or cancels; an attendee's answers) and store another text instead, and the row
gets its scheduling provenance; before an item is deleted, the engine cancels the
meeting or declines it. A refusal takes the write back and is answered by the handler
(``calserver.context``: ``refusal``, ``rewritten``).
"""

from __future__ import annotations

from typing import Any

from calserver import context
from calserver.scheduling import copies, engine
from calserver.storage.hooks import WriteEvent


def _actor(event: WriteEvent) -> str | None:
    """Who writes, when this write is a CalDAV request on a calendar that implicit
    scheduling (RFC 6638 3.2) applies to; else None (imports, MOVE, the CLI)."""
    if not event.user or event.tag != "VCALENDAR":
        return None
    if event.method not in ("PUT", "DELETE"):
        return None
    return event.user


def before_store(event: WriteEvent) -> None:
    """Implicit scheduling of a PUT: the text to store instead (``event.replacement``)
    when the engine made it an organizer's copy, and the row's scheduling provenance
    (only the engine makes an item a scheduling copy)."""
    row = event.new_row
    assert row is not None
    actor = _actor(event)
    organized = None
    if actor is not None:
        try:
            organized = engine.on_store(
                event.storage,
                event.conn,
                event.target,
                event.old_text,
                row["text"],
                actor,
                event.current_text,
                location=(event.collection_id, event.href),
            )
        except copies.Refused as exc:
            context.refusal.set(exc)
            raise
        if organized is not None:
            context.rewritten.set(True)
    provenance = copies.provenance_after_put(
        event.target,
        actor or "",
        event.old_row,
        row["uid"],
        organized.organizer if organized is not None else None,
    )
    row["sched_organizer"], row["sched_role"] = provenance
    if organized is not None:
        event.replacement = organized.text


def before_delete(event: WriteEvent) -> None:
    """Implicit scheduling of a DELETE of one item: the organizer's copy cancels the
    meeting, an attendee's declines it."""
    actor = _actor(event)
    if actor is None:
        return
    old_text = event.current_text()
    if old_text is None:
        return
    try:
        engine.on_delete(
            event.storage,
            event.conn,
            event.target,
            old_text,
            actor,
            event.current_text,
            location=(event.collection_id, event.href),
        )
    except copies.Refused as exc:
        context.refusal.set(exc)
        raise


def register(storage: Any) -> None:
    """Make ``storage``'s single-item writes schedule (the composition root calls it)."""
    storage.hooks.register(before_store=before_store, before_delete=before_delete)
