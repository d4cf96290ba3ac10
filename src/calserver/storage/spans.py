"""The time index's instance spans of given items, for CALDAV:expand answered from the
index (``calserver.dav.report``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from calserver.db.models import instances, items
from calserver.storage.context import read_connection


class NotIndexed(Exception):
    """An item whose instances in the window the index does not all list."""


def instance_spans(
    collection: Any, hrefs: list[str], start: int, end: int
) -> dict[str, list[tuple[int, int]]]:
    """For each href of ``collection`` (an item of its view), the spans of its
    instances that may overlap [start, end): every one ending at or after ``start``
    and starting before ``end``. :class:`NotIndexed` when an item is indexed only up to
    before ``end`` (a series beyond the index's horizon)."""
    found: dict[str, list[tuple[int, int]]] = {href: [] for href in hrefs}
    if not hrefs:
        return found
    cid = collection.id
    with read_connection(collection._storage.engine) as conn:
        for first in range(0, len(hrefs), 500):
            chunk = hrefs[first : first + 500]
            open_ended = conn.execute(
                select(items.c.href).where(
                    items.c.collection_id == cid,
                    items.c.href.in_(chunk),
                    items.c.indexed_until.is_not(None),
                    items.c.indexed_until < end,
                )
            ).first()
            if open_ended is not None:
                raise NotIndexed(open_ended.href)
            rows = conn.execute(
                select(items.c.href, instances.c.start_ts, instances.c.end_ts)
                .select_from(instances.join(items, items.c.id == instances.c.item_id))
                .where(
                    items.c.collection_id == cid,
                    items.c.href.in_(chunk),
                    instances.c.start_ts < end,
                    instances.c.end_ts >= start,
                )
            )
            for href, span_start, span_end in rows:
                found[href].append((span_start, span_end))
    return found
