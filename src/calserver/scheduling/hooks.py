"""Implicit scheduling (RFC 6638 3.2) as write hooks of the storage
(``calserver.storage.hooks``): the composition root registers them with :func:`register`.

Before an item is stored, scheduling may take it (an organizer's change invites,
updates or cancels, ``calserver.scheduling.organize``; an attendee's answers,
``calserver.scheduling.answers``) and store another text instead, and the row gets its
scheduling provenance; before an item is deleted, scheduling cancels the meeting or
declines it. A refusal takes the write back and is answered by the handler
(``calserver.context``: ``refusal``, ``rewritten``).

Everything happens in the transaction of the write that caused it: the attendees'
copies, the iTIP messages in their inboxes and the queued e-mails exist only if the
organizer's change committed, and a refused change leaves nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from calserver import context
from calserver.scheduling import addresses, answers, copies, itip, organize
from calserver.storage.hooks import WriteEvent

logger = logging.getLogger("calserver")


def _may_schedule(text: str | None) -> bool:
    return text is not None and "ORGANIZER" in text.upper()


@dataclass(frozen=True)
class Organized:
    """What scheduling made of an organizer's PUT: the text to store instead, and the
    organizer (a user name) whose copy of the meeting it is."""

    text: str
    organizer: str


def on_store(
    storage: Any,
    conn: Connection,
    collection_path: str,
    old_text: str | None,
    new_text: str,
    actor: str,
    reread: Callable[[], str | None] | None = None,
    *,
    location: tuple[int, str] | None = None,
) -> Organized | None:
    """Called in the write of a PUT at ``location`` (collection id, href); what to
    store instead when it is an organizer's copy, or None. A meeting scheduling cannot
    take apart is refused (400) with nothing written, never a 500. ``reread`` gives the
    stored text again once the scheduling lock is held (another request's scheduling
    may have changed it since ``old_text`` was read)."""
    if not (_may_schedule(old_text) or _may_schedule(new_text)):
        return None
    if collection_path.rpartition("/")[2] in copies.RESERVED:
        return None
    try:
        with conn.begin_nested():
            return _on_store(
                storage, conn, collection_path, old_text, new_text, actor, reread, location
            )
    except (copies.Refused, DBAPIError):
        raise
    except Exception as exc:
        logger.warning("cannot schedule a meeting in %r", collection_path, exc_info=True)
        raise copies.Refused(f"cannot read the meeting: {exc}", status=400) from exc


def _on_store(
    storage: Any,
    conn: Connection,
    collection_path: str,
    old_text: str | None,
    new_text: str,
    actor: str,
    reread: Callable[[], str | None] | None,
    location: tuple[int, str] | None,
) -> Organized | None:
    principal = copies.principal_of(collection_path, actor)
    me = addresses.me(conn, principal)
    # most events stored with an ORGANIZER are invitations from elsewhere, copied in:
    # unless they name the writer, they are not parsed
    if not any(text and me.mentioned_in(text) for text in (old_text, new_text)):
        return None
    copies.serialise(conn)
    if reread is not None:
        old_text = reread()
    new = itip.parse(new_text)
    old = itip.parse(old_text) if old_text else None
    role_source = old if old is not None and itip.organizer(old) else new
    org = itip.organizer(role_source)
    if not org:
        return None
    if me(org):
        if (
            old is not None
            and itip.organizer(old)
            and itip.organizer(new)
            and not addresses.same(itip.organizer(new), itip.organizer(old))
        ):
            raise copies.Refused(
                "the organizer of a meeting cannot be changed", organize.ORGANIZER_CHANGE
            )
        if (
            not itip.all_attendees(new, org)
            and not (old is not None and itip.all_attendees(old, org))
            and not organize.has_groups(new)
        ):
            return None
        organize.check_unique(conn, principal, itip.uid(new), location)
        return Organized(organize.organize(storage, conn, principal, org, old, new), principal)
    if (
        old is not None
        and itip.organizer(old)
        and not addresses.same(itip.organizer(new) or "", itip.organizer(old))
    ):
        raise copies.Refused("an attendee may not change the organizer", answers.ATTENDEE_CHANGE)
    answers.attend(storage, conn, me, old, new)
    return None


def on_delete(
    storage: Any,
    conn: Connection,
    collection_path: str,
    old_text: str,
    actor: str,
    reread: Callable[[], str | None] | None = None,
    *,
    location: tuple[int, str] | None = None,
) -> None:
    """Called in the write of a DELETE of one item (at ``location``: collection id,
    href). The item goes even when scheduling cannot take it apart (logged; nothing of
    scheduling's is written then)."""
    if not _may_schedule(old_text) or collection_path.rpartition("/")[2] in copies.RESERVED:
        return
    try:
        with conn.begin_nested():
            _on_delete(storage, conn, collection_path, old_text, actor, reread, location)
    except (copies.Refused, DBAPIError):
        raise
    except Exception:
        logger.warning("cannot schedule the deletion in %r", collection_path, exc_info=True)


def _on_delete(
    storage: Any,
    conn: Connection,
    collection_path: str,
    old_text: str,
    actor: str,
    reread: Callable[[], str | None] | None,
    location: tuple[int, str] | None,
) -> None:
    principal = copies.principal_of(collection_path, actor)
    me = addresses.me(conn, principal)
    if not me.mentioned_in(old_text):
        return
    copies.serialise(conn)
    fresh = reread() if reread is not None else old_text
    if fresh is None:  # deleted meanwhile: Radicale answers 404
        return
    old_text = fresh
    old = itip.parse(old_text)
    org = itip.organizer(old)
    if not org:
        return
    if me(org):
        # only the organizer's copy cancels the meeting (RFC 6638 3.2.1.3): deleting
        # another item with its UID and ORGANIZER (an import, a copy someone wrote in
        # a group calendar) deletes that item alone
        if location is None or copies.provenance_at(conn, location) == (
            principal,
            copies.ORGANIZER_COPY,
        ):
            organize.cancel(storage, conn, principal, org, old)
    else:
        answers.attend(storage, conn, me, old, None)


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
    when scheduling made it an organizer's copy, and the row's scheduling provenance
    (only scheduling makes an item a scheduling copy)."""
    row = event.new_row
    assert row is not None
    actor = _actor(event)
    organized = None
    if actor is not None:
        try:
            organized = on_store(
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
        on_delete(
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
