"""Schedule-Tag values of scheduling object resources (RFC 6638 3.2.10), kept beside
the items (a reserved row of ``item_properties``: it survives the item's replacement
and goes with its deletion). The scheduling service decides when a tag changes
(``calserver.scheduling.scheduletag``); this module only stores them."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.engine import Connection

from calserver.db.models import item_properties
from calserver.storage import itemprops

#: The reserved name of the row (the ``urn:calserver`` namespace is never a client's).
NAME = "{urn:calserver}schedule-tag"


def get(conn: Connection, collection_id: int, href: str) -> str | None:
    return conn.execute(
        select(item_properties.c.value).where(
            item_properties.c.collection_id == collection_id,
            item_properties.c.href == href,
            item_properties.c.name == NAME,
        )
    ).scalar()


def renew(conn: Connection, collection_id: int, href: str) -> str:
    """A new tag for the item (an opaque quoted string, like an ETag)."""
    tag = f'"{secrets.token_hex(12)}"'
    itemprops.write(conn, collection_id, href, [(NAME, tag)])
    return tag


def keep(conn: Connection, collection_id: int, href: str) -> str:
    """The item's tag, made when it has none."""
    return get(conn, collection_id, href) or renew(conn, collection_id, href)


def forget(conn: Connection, collection_id: int, href: str) -> None:
    itemprops.write(conn, collection_id, href, [(NAME, None)])
