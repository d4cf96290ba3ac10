"""When a scheduling object resource's Schedule-Tag changes (RFC 6638 3.2.10).

The tag lets a client write a meeting without losing the organizer's changes, while
it need not care for attendees' answers: it changes when the organizer changes the
meeting, not when the server merges an attendee's reply into the organizer's copy.

- a client's PUT of a calendar object with an ORGANIZER (the organizer's writes, an
  attendee's writes of their copy): a new tag (the after-store hook, registered by
  the composition root); a PUT of an object without ORGANIZER drops the tag;
- the server's writes of copies (``copies.write``): an attendee's copy brought up to
  date with the organizer's change gets a new tag; the organizer's copy, where the
  server merges replies (PARTSTAT, SCHEDULE-STATUS), keeps its tag.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import Connection

from calserver.storage import scheduletags
from calserver.storage.hooks import WriteEvent

_ORGANIZER = re.compile(r"^ORGANIZER[;:]", re.IGNORECASE | re.MULTILINE)


def is_scheduling_object(text: str | None) -> bool:
    """Whether ``text`` is a scheduling object resource (RFC 6638 3.1: ORGANIZER)."""
    return bool(text) and _ORGANIZER.search(text or "") is not None


def after_store(event: WriteEvent) -> None:
    """A client wrote the item: a new tag for a scheduling object, none otherwise."""
    if event.tag != "VCALENDAR":
        return
    if is_scheduling_object(event.new_text):
        scheduletags.renew(event.conn, event.collection_id, event.href)
    else:
        scheduletags.forget(event.conn, event.collection_id, event.href)


def after_server_write(conn: Connection, collection_id: int, href: str, changes_tag: bool) -> None:
    """The server wrote a copy: a new tag for an attendee's copy updated by the
    organizer, the same one for the organizer's copy with replies merged."""
    if changes_tag:
        scheduletags.renew(conn, collection_id, href)
    else:
        scheduletags.keep(conn, collection_id, href)


def register(storage: object) -> None:
    """Tags follow the storage's client writes (the composition root calls it)."""
    storage.hooks.register(after_store=after_store)  # type: ignore[attr-defined]
