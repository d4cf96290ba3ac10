"""Reading items: by href, all of them, and by time-range through the time index."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any

from radicale import item as radicale_item
from radicale import xmlutils
from radicale.item import filter as radicale_filter
from sqlalchemy import LargeBinary, and_, bindparam, cast, exists, func, or_, select

from calserver.context import expand_window
from calserver.db.models import instances, items
from calserver.ical.timeindex import (
    SHORT_SPAN,
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
    beyond_cap,
)
from calserver.sharing import redact
from calserver.storage.base import CollectionBase
from calserver.storage.context import read_connection

PAGE = 1000
_TIME_RANGE = xmlutils.make_clark("C:time-range")

_ITEM_COLUMNS = (
    items.c.id,
    items.c.href,
    items.c.uid,
    items.c.etag,
    items.c.name,
    items.c.component,
    items.c.start_ts,
    items.c.end_ts,
    items.c.text,
    items.c.modified,
    items.c.klass,
)


def _plain_rows(conn: Any, query: Any, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of ``query`` as the driver's tuples: the columns read here are texts
    and integers that need no conversion, and building SQLAlchemy's ``Row`` objects
    would cost more than the query over a whole calendar."""
    result = conn.execute(query, parameters)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


class GetMixin(CollectionBase):
    def get_multi(self, hrefs: Iterable[str]) -> Iterator[tuple[str, radicale_item.Item | None]]:
        wanted = list(dict.fromkeys(hrefs))
        if not wanted or self._state.id is None:
            for href in wanted:
                yield href, None
            return
        found: dict[str, Any] = {}
        # No stored href holds NUL (it is refused on write), and PostgreSQL refuses it
        # even in a query: a client's multiget href may carry one ("%00").
        queried = [href for href in wanted if "\x00" not in href]
        with read_connection(self._storage.engine) as conn:
            for start in range(0, len(queried), 500):
                chunk = queried[start : start + 500]
                query = self._only_visible(
                    select(*_ITEM_COLUMNS).where(
                        items.c.collection_id == self.id, items.c.href.in_(chunk)
                    )
                )
                for found_row in conn.execute(query):
                    found[found_row.href] = found_row
        for href in wanted:
            row = found.get(href)
            yield href, (self._make_item(row) if row is not None else None)

    def get_all(self) -> Iterator[radicale_item.Item]:
        """Every item, read in pages by id so memory stays flat and the read may go on
        after Radicale released the request's lock."""
        if self._state.id is None:
            return
        last_id = 0
        while True:
            with read_connection(self._storage.engine) as conn:
                rows = conn.execute(
                    self._only_visible(
                        select(*_ITEM_COLUMNS)
                        .where(items.c.collection_id == self.id, items.c.id > last_id)
                        .order_by(items.c.id)
                        .limit(PAGE)
                    )
                ).all()
            for row in rows:
                yield self._make_item(row)
            if len(rows) < PAGE:
                return
            last_id = rows[-1].id

    def etag_listing(self) -> Iterator[tuple[str, str, str]]:
        """(href, ETag, component) of every item, for the PROPFIND fast path."""
        if self._state.id is None:
            return
        with read_connection(self._storage.engine) as conn:
            rows = _plain_rows(
                conn,
                self._only_visible(
                    select(items.c.href, items.c.etag, items.c.component, items.c.klass)
                    .where(items.c.collection_id == self.id)
                    .order_by(items.c.id)
                ),
                {},
            )
        level = self.level
        for href, etag, component, klass in rows:
            yield (
                href,
                redact.view_etag(etag) if redact.shows_busy(level, klass) else etag,
                component,
            )

    def _pages(self, conn: Any, size: int, *columns: Any) -> Iterator[list[Any]]:
        """Rows (``items.c.id``, then ``columns``) of every member of this view, in
        pages of ``size`` read by id through ``conn`` (one snapshot): a whole-collection
        answer streamed with flat memory (``calserver.dav.streamed``)."""
        if self._state.id is None:
            return
        query = self._only_visible(
            select(items.c.id, *columns)
            .where(items.c.collection_id == self.id, items.c.id > bindparam("after"))
            .order_by(items.c.id)
            .limit(size)
        )
        after = 0
        while True:
            rows = _plain_rows(conn, query, {"after": after})
            if not rows:
                return
            yield rows
            if len(rows) < size:
                return
            after = rows[-1][0]

    def member_pages(self, conn: Any, size: int) -> Iterator[list[tuple[str, str, str]]]:
        """(href, ETag, component) of every member of this view, in pages of ``size``
        (:meth:`_pages`). A busy view's ETags are those of its redacted texts."""
        level = self.level
        columns = (items.c.href, items.c.etag, items.c.component, items.c.klass)
        for rows in self._pages(conn, size, *columns):
            yield [
                (
                    href,
                    redact.view_etag(etag) if redact.shows_busy(level, klass) else etag,
                    component,
                )
                for _, href, etag, component, klass in rows
            ]

    def text_pages(self, conn: Any, size: int) -> Iterator[list[str]]:
        """The texts of every member of this view as ``item.serialize()`` gives them (a
        busy view's redacted), in pages of ``size`` (:meth:`_pages`)."""
        level = self.level
        for rows in self._pages(conn, size, items.c.text, items.c.klass):
            yield [
                redact.busy_view(text) if redact.shows_busy(level, klass) else text
                for _, text, klass in rows
            ]

    def utf8_pages(self, conn: Any, size: int) -> Iterator[list[bytes]]:
        """:meth:`text_pages` in UTF-8. SQLite keeps texts in UTF-8 and hands them over
        as they are stored (``CAST(text AS BLOB)``), with no decoding and encoding
        again of a whole calendar; other engines' texts are encoded here."""
        if conn.dialect.name != "sqlite":
            for page in self.text_pages(conn, size):
                yield [text.encode("utf-8") for text in page]
            return
        level = self.level
        for rows in self._pages(conn, size, cast(items.c.text, LargeBinary), items.c.klass):
            yield [
                redact.busy_view(data.decode("utf-8")).encode("utf-8")
                if redact.shows_busy(level, klass)
                else data
                for _, data, klass in rows
            ]

    def has_uid(self, uid: str) -> bool:
        """RFC 4791 5.3.2.1 no-uid-conflict: a UID stays unique in the calendar,
        whoever writes and whatever their view hides. A writer who PUTs the UID of an
        item hidden from them gets the 409 the RFC requires, on any href, its own
        included (``HiddenConflict`` answers the same there): nothing says which item
        holds it, nor its class."""
        if self._state.id is None:
            return False
        same_uid = and_(
            items.c.collection_id == self.id,
            items.c.uid == uid,
            # lets the planner use the partial unique index uq_items_uid
            items.c.uid != "",
        )
        with read_connection(self._storage.engine) as conn:
            return bool(conn.execute(select(exists().where(same_uid))).scalar())

    def href_of_uid(self, uid: str) -> str | None:
        """The href of the item with ``uid``, for a view that shows every item (RFC
        4791 5.3.2.1 names it in ``no-uid-conflict``). None for a view that may hide
        some: naming a visible holder would tell it apart from a hidden one, which
        :meth:`has_uid` keeps from the writer."""
        if self._state.id is None or not uid or self._visible() is not None:
            return None
        query = select(items.c.href).where(items.c.collection_id == self.id, items.c.uid == uid)
        with read_connection(self._storage.engine) as conn:
            return conn.execute(query).scalars().first()

    def get_filtered(
        self, filters: Iterable[ET.Element]
    ) -> Iterator[tuple[radicale_item.Item, bool]]:
        """RFC 4791 7.8 calendar-query pre-filter as an index lookup.

        ``filters_matched`` is claimed only where Radicale's base class would claim it
        (a single component and time-range filter) and the index proves an instance
        overlaps; everything else is left to Radicale's exact filter.
        """
        if not self.tag or self._state.id is None:
            return
        filters = list(filters)
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self.tag)
        window = expand_window.get()
        if start == TIMESTAMP_MIN and end == TIMESTAMP_MAX and window is not None:
            # calendar-query with expand: Radicale filters by time after expanding, but
            # only what lies in the window can survive that.
            # The filters without the time-range are still matched exactly by the
            # component selection below; Radicale applies the window after expanding.
            for item, _ in self._get_window(tag, *window, simple):
                yield item, simple
            return
        if start <= TIMESTAMP_MIN and end >= TIMESTAMP_MAX:
            # A time-range with neither start nor end (RFC 4791 9.9 requires one)
            # matches nothing in Radicale's filter: leave the verdict to it.
            simple = simple and not any(True for f in filters for _ in f.iter(_TIME_RANGE))
            for item in self.get_all():
                if tag is None or item.component_name == tag:
                    yield item, simple
            return
        yield from self._get_window(tag, start, end, simple)

    def _window_ids(self, conn: Any, start: int, end: int) -> tuple[set[int], list[int]]:
        """(ids proved by the index to overlap [start, end), every candidate id sorted)."""
        cid = self.id
        short = and_(
            instances.c.collection_id == cid,
            instances.c.long.is_(False),
            instances.c.start_ts < end,
            instances.c.start_ts > start - SHORT_SPAN,
            instances.c.end_ts > start,
        )
        long_ = and_(
            instances.c.collection_id == cid,
            instances.c.long.is_(True),
            instances.c.start_ts < end,
            instances.c.end_ts > start,
        )
        # Indexed instances prove the match; items indexed only up to before the end of
        # the window may have instances in it that the index does not list.
        matched_ids = select(instances.c.item_id).where(or_(short, long_))
        open_items = select(items.c.id, items.c.start_ts, items.c.indexed_until).where(
            items.c.collection_id == cid,
            items.c.indexed_until.is_not(None),
            items.c.indexed_until < end,
            items.c.start_ts < end,
            items.c.end_ts > start,
        )
        matched = set(conn.execute(matched_ids).scalars())
        unproven = [row for row in conn.execute(open_items) if row.id not in matched]
        return matched, sorted(matched | self._within_cap(conn, unproven, start))

    def _within_cap(self, conn: Any, rows: list[Any], window_start: int) -> set[int]:
        """Ids of the series (``rows``: id, start_ts, indexed_until) that may have an
        instance from ``window_start`` on: not those whose indexed instances put the
        window far beyond the instances a query may walk (``Storage.scan_limit``)."""
        if not rows:
            return set()
        counts: dict[int, int] = {}
        ids = [row.id for row in rows]
        for first in range(0, len(ids), 500):
            for item_id, indexed in conn.execute(
                select(instances.c.item_id, func.count())
                .where(instances.c.item_id.in_(ids[first : first + 500]))
                .group_by(instances.c.item_id)
            ):
                counts[item_id] = indexed
        limit = self._storage.scan_limit
        return {
            row.id
            for row in rows
            if not beyond_cap(
                row.start_ts, row.indexed_until, counts.get(row.id, 0), window_start, limit
            )
        }

    def _window_rows(self, conn: Any, tag: str | None, ids: list[int]) -> list[Any]:
        query = self._only_visible(select(*_ITEM_COLUMNS).where(items.c.id.in_(ids)))
        if tag is not None:
            query = query.where(items.c.component == tag)
        return list(conn.execute(query))

    def _get_window(
        self, tag: str | None, start: int, end: int, simple: bool
    ) -> Iterator[tuple[radicale_item.Item, bool]]:
        with read_connection(self._storage.engine) as conn:
            matched, wanted = self._window_ids(conn, start, end)
            rows: list[Any] = []
            for first in range(0, len(wanted), 500):
                rows.extend(self._window_rows(conn, tag, wanted[first : first + 500]))
        for row in rows:
            yield self._make_item(row), simple and row.id in matched

    def iter_window(self, tag: str | None, start: int, end: int) -> Iterator[radicale_item.Item]:
        """The items of this view with an instance in [start, end), read 500 at a time
        from one snapshot while the caller consumes them (feeds stream a large calendar
        without holding it in memory). Close the iterator when stopping early."""
        with read_connection(self._storage.engine) as conn:
            _, wanted = self._window_ids(conn, start, end)
            for first in range(0, len(wanted), 500):
                rows = self._window_rows(conn, tag, wanted[first : first + 500])
                for row in rows:
                    yield self._make_item(row)
