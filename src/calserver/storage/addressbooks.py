"""Address book collections (RFC 6352 5.2) in the SQL storage: the collections tagged
``VADDRESSBOOK`` (Radicale's model), found and made the way calendars are.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, and_, select

from calserver.db.models import collections, items
from calserver.storage.context import read_connection
from calserver.storage.rows import bump_revision, ensure_collection_row, insert_collection
from calserver.storage.vcards import ADDRESSBOOK

#: The name of the address book every user gets (``calserver.dav.carddav``).
DEFAULT_NAME = "contacts"


def props_of(name: str, description: str = "") -> dict[str, str]:
    """The collection properties of an address book called ``name``."""
    props = {"tag": ADDRESSBOOK, "D:displayname": name}
    if description:
        props["CR:addressbook-description"] = description
    return props


def is_addressbook(conn: Connection, path: str) -> bool:
    found = conn.execute(select(collections.c.tag).where(collections.c.path == path)).scalar()
    return found == ADDRESSBOOK


def has_addressbook(conn: Connection, home: str) -> bool:
    """Whether the home ``home`` holds an address book of its own."""
    found = conn.execute(
        select(collections.c.id)
        .where(collections.c.parent == home, collections.c.tag == ADDRESSBOOK)
        .limit(1)
    ).first()
    return found is not None


def create(conn: Connection, path: str, name: str, description: str = "") -> int:
    """A new address book at ``path`` (its home made when missing); its id."""
    home = path.rpartition("/")[0]
    if conn.execute(select(collections.c.id).where(collections.c.path == home)).first() is None:
        ensure_collection_row(conn, home, "")
    props = json.dumps(props_of(name, description), sort_keys=True, ensure_ascii=False)
    cid = insert_collection(conn, path, home, ADDRESSBOOK, props)
    bump_revision(conn, cid)
    return cid


def create_default(conn: Connection, user: str) -> str:
    """``USER/contacts``, the default address book; its path."""
    path = f"{user}/{DEFAULT_NAME}"
    create(conn, path, "Contacts")
    return path


def href_of_uid(storage: Any, collection_id: int, uid: str) -> str | None:
    """The href of the vCard holding ``uid`` in the address book (RFC 6352 6.3.2.1
    no-uid-conflict names it), None when no vCard does."""
    if not uid:
        return None
    with read_connection(storage.engine) as conn:
        found = conn.execute(
            select(items.c.href).where(
                and_(items.c.collection_id == collection_id, items.c.uid == uid, items.c.uid != "")
            )
        ).scalar()
    return str(found) if found is not None else None
