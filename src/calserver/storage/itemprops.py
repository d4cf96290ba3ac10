"""Dead properties of calendar objects (RFC 4918 4.4: properties a client sets and the
server only keeps): the rows of ``item_properties``, by collection and href. Values
are the property elements serialised as XML, returned as they were set (RFC 4918
4.3, 9.2: "the property value ... including xml:lang and namespaces")."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from calserver.db.models import item_properties


def read(conn: Connection, collection_id: int, hrefs: Iterable[str]) -> dict[str, dict[str, str]]:
    """{href: {Clark name: serialised element}} of the items at ``hrefs``."""
    wanted = list(hrefs)
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            select(item_properties.c.href, item_properties.c.name, item_properties.c.value).where(
                item_properties.c.collection_id == collection_id,
                item_properties.c.href.in_(wanted[start : start + 500]),
            )
        )
        for href, name, value in rows:
            found.setdefault(href, {})[name] = value
    return found


def any_in(conn: Connection, collection_id: int) -> bool:
    """Whether any item of the collection has dead properties (one index probe)."""
    query = select(item_properties.c.href).where(item_properties.c.collection_id == collection_id)
    return conn.execute(query.limit(1)).first() is not None


def write(
    conn: Connection, collection_id: int, href: str, changes: list[tuple[str, str | None]]
) -> None:
    """Apply (Clark name, serialised element or None to remove) in order."""
    for name, value in changes:
        conn.execute(
            delete(item_properties).where(
                item_properties.c.collection_id == collection_id,
                item_properties.c.href == href,
                item_properties.c.name == name,
            )
        )
        if value is not None:
            conn.execute(
                insert(item_properties).values(
                    collection_id=collection_id, href=href, name=name, value=value
                )
            )


def drop(conn: Connection, collection_id: int, href: str) -> None:
    """Forget the properties of the item at ``href`` (it was deleted)."""
    conn.execute(
        delete(item_properties).where(
            item_properties.c.collection_id == collection_id, item_properties.c.href == href
        )
    )
