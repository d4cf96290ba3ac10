"""Address object resources (RFC 6352 5.1) in the SQL storage: the row of a vCard in an
address book collection (tag ``VADDRESSBOOK``, as Radicale models it), and the
checks a collection makes before it stores one.

A vCard has no time: its row is neutral for the time index (no instances, span
0..0, nothing left to index) and public (vCard 3.0's CLASS is not the iCalendar
CLASS of calserver's views: an address book is shared at read or read-write, whole).
"""

from __future__ import annotations

from typing import Any

from radicale import item as radicale_item

from calserver.context import put_body
from calserver.ical import vcard
from calserver.ical.vcard import VCardError

#: The tag of an address book collection (Radicale's).
ADDRESSBOOK = "VADDRESSBOOK"
#: vCard object names Radicale accepts in an address book (VLIST: SOGo's lists).
CARD_NAMES = ("VCARD", "VLIST")


def is_card(item: radicale_item.Item) -> bool:
    """Whether ``item`` is an address object (a vCard), not a calendar object."""
    return item.name in CARD_NAMES


def check_fits_collection(tag: str, item: radicale_item.Item) -> None:
    """Refuse (ValueError, which Radicale answers with 400) an item of the wrong kind
    for a collection: a vCard into a calendar, anything but a vCard into an address
    book (RFC 6352 5.1, RFC 4791 4.1)."""
    if tag == ADDRESSBOOK and not is_card(item):
        raise ValueError(
            f"an address book takes vCards only, not {item.name or 'this object'} (RFC 6352 5.1)"
        )
    if tag != ADDRESSBOOK and is_card(item):
        raise ValueError("a calendar takes iCalendar objects, not vCards (RFC 4791 4.1)")


def card_text(item: radicale_item.Item) -> str:
    """The text to store: the client's own vCard when the request's body is exactly
    this one vCard (vobject's re-serialisation would rewrite vCard 4.0 by 3.0's rules
    and change the ETag a client computed nothing from but may compare), else
    Radicale's serialisation."""
    body = put_body.get()
    if body is not None and vcard.begins_with(body) == "VCARD":
        try:
            info = vcard.check(body)
        except VCardError:
            info = None
        if info is not None and info.uid == item.uid:
            return body if body.endswith("\n") else body + "\r\n"
    return item.serialize()


def card_row(item: radicale_item.Item) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The denormalised row of a vCard (``rows.prepare_row``'s shape) and its instance
    spans (none). Refuses (ValueError) a vCard RFC 6352 5.1 does not allow; SOGo's
    VLIST is kept as Radicale keeps it."""
    text = card_text(item)
    if item.name == "VCARD":
        try:
            vcard.check(text)
        except VCardError as exc:
            raise ValueError(exc.reason) from exc
    elif not item.uid:
        raise ValueError(f"{item.name} object without UID")
    row = {
        "klass": "PUBLIC",
        "uid": item.uid or "",
        "etag": radicale_item.get_etag(text),
        "name": item.name,
        "component": "",
        "start_ts": 0,
        "end_ts": 0,
        "indexed_until": None,
        "text": text,
    }
    return row, []
