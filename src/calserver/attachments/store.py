"""The SQL of managed attachments (RFC 8607), inside the caller's transaction."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from calserver.db.models import attachments, collections, items
from calserver.errors import CalserverError


class Refused(CalserverError):
    """An attachment the limits refuse, with its RFC 8607 3.11 / RFC 4331 precondition."""


@dataclass(frozen=True)
class Limits:
    max_size: int
    max_per_resource: int
    quota: int

    @classmethod
    def from_configuration(cls, configuration: Any) -> Limits:
        return cls(
            configuration.get("attachments", "max_size"),
            configuration.get("attachments", "max_per_resource"),
            configuration.get("attachments", "quota"),
        )


@dataclass(frozen=True)
class Stored:
    managed_id: str
    calendar_path: str
    href: str
    filename: str
    content_type: str
    size: int
    data: bytes
    #: The event's CLASS (``items.klass``), "" when the event is gone.
    klass: str = ""


def new_id() -> str:
    return secrets.token_urlsafe(18)


def check(
    conn: Connection, limits: Limits, owner: str, size: int, count: int, freed: int = 0
) -> None:
    """Refuse what the limits do not allow: the size (CALDAV:max-attachment-size), the
    number on the resource once added (CALDAV:max-attachments-per-resource, RFC 8607
    3.11) and the owner's quota (DAV:quota-not-exceeded, RFC 4331 6)."""
    if size > limits.max_size:
        raise Refused(
            f"the attachment is larger than {limits.max_size} bytes",
            status=413,
            precondition="C:max-attachment-size",
        )
    if count > limits.max_per_resource:
        raise Refused(
            f"an event holds at most {limits.max_per_resource} attachments",
            status=403,
            precondition="C:max-attachments-per-resource",
        )
    if limits.quota:
        used = conn.execute(
            select(func.coalesce(func.sum(attachments.c.size), 0)).where(
                attachments.c.owner == owner
            )
        ).scalar_one()
        if int(used) - freed + size > limits.quota:
            raise Refused(
                "the calendar owner's attachment quota is used up",
                status=507,
                precondition="D:quota-not-exceeded",
            )


def add(
    conn: Connection,
    managed_id: str,
    collection_id: int,
    href: str,
    owner: str,
    filename: str,
    content_type: str,
    data: bytes,
) -> None:
    conn.execute(
        insert(attachments).values(
            managed_id=managed_id,
            collection_id=collection_id,
            href=href,
            owner=owner,
            filename=filename,
            content_type=content_type,
            size=len(data),
            data=data,
            created=time.time(),
        )
    )


def size_of(conn: Connection, managed_id: str, collection_id: int, href: str) -> int | None:
    """The size of the attachment ``managed_id`` of this resource, None when it has none."""
    return conn.execute(
        select(attachments.c.size).where(
            attachments.c.managed_id == managed_id,
            attachments.c.collection_id == collection_id,
            attachments.c.href == href,
        )
    ).scalar()


def remove(conn: Connection, managed_id: str, collection_id: int, href: str) -> bool:
    return bool(
        conn.execute(
            delete(attachments).where(
                attachments.c.managed_id == managed_id,
                attachments.c.collection_id == collection_id,
                attachments.c.href == href,
            )
        ).rowcount
    )


def forget(conn: Connection, collection_id: int, href: str, keep: set[str]) -> int:
    """Delete the resource's attachments whose MANAGED-ID it no longer holds."""
    condition = (attachments.c.collection_id == collection_id) & (attachments.c.href == href)
    if keep:
        condition = condition & attachments.c.managed_id.not_in(sorted(keep))
    return int(conn.execute(delete(attachments).where(condition)).rowcount)


def get(conn: Connection, managed_id: str) -> Stored | None:
    row = conn.execute(
        select(
            attachments.c.managed_id,
            collections.c.path,
            attachments.c.href,
            attachments.c.filename,
            attachments.c.content_type,
            attachments.c.size,
            attachments.c.data,
            items.c.klass,
        )
        .join(collections, collections.c.id == attachments.c.collection_id)
        .outerjoin(
            items,
            (items.c.collection_id == attachments.c.collection_id)
            & (items.c.href == attachments.c.href),
        )
        .where(attachments.c.managed_id == managed_id)
    ).first()
    if row is None:
        return None
    return Stored(
        row.managed_id,
        row.path,
        row.href,
        row.filename,
        row.content_type,
        row.size,
        bytes(row.data),
        row.klass or "",
    )


def calendar_id(conn: Connection, calendar_path: str) -> int | None:
    return conn.execute(
        select(collections.c.id).where(
            collections.c.path == calendar_path, collections.c.tag == "VCALENDAR"
        )
    ).scalar()
