"""Address books (RFC 6352): create, list and delete them, for users and groups (the
CLI uses this). A group address book (``@GROUP/BOOK``) is read by every member who
accepted and written by the group's administrators (``calserver.sharing.levels``),
like a group calendar; other people get it by grant, at level read or write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select

from calserver.calendars import parse_path
from calserver.db.models import collections, items
from calserver.errors import Conflict, NotFound
from calserver.sharing.manage import get_group
from calserver.storage import Storage, addressbooks
from calserver.storage.context import write_scope
from calserver.storage.vcards import ADDRESSBOOK


@dataclass(frozen=True)
class AddressBookInfo:
    path: str
    name: str
    cards: int


def create(storage: Storage, path: str, name: str | None = None) -> AddressBookInfo:
    """A new address book at ``USER/BOOK`` or ``@GROUP/BOOK``."""
    owner, book = parse_path(path)
    if owner.startswith("@"):
        get_group(storage.engine, owner)  # NotFound for an unknown group
    full = f"{owner}/{book}"
    if storage.load_collection(full) is not None:
        raise Conflict(f"{full} exists already")
    with write_scope(storage.engine) as conn:
        addressbooks.create(conn, full, name or book)
    return AddressBookInfo(full, name or book, 0)


def list_addressbooks(storage: Storage, owner: str) -> list[AddressBookInfo]:
    """The address books in ``owner``'s home (a user, or ``@GROUP``)."""
    with storage.engine.connect() as conn:
        rows = conn.execute(
            select(collections.c.path, collections.c.props, func.count(items.c.id))
            .outerjoin(items, items.c.collection_id == collections.c.id)
            .where(collections.c.parent == owner, collections.c.tag == ADDRESSBOOK)
            .group_by(collections.c.path, collections.c.props)
            .order_by(collections.c.path)
        ).all()
    return [
        AddressBookInfo(row[0], json.loads(row[1] or "{}").get("D:displayname", ""), row[2])
        for row in rows
    ]


def delete(storage: Storage, path: str) -> None:
    owner, book = parse_path(path)
    collection = storage.load_collection(f"{owner}/{book}")
    if collection is None or collection.tag != ADDRESSBOOK:
        raise NotFound(f"no address book {owner}/{book}")
    storage.delete_collection(collection.path)
