"""The full-text search index of calendar items (issue 17), one interface over two
engines: SQLite FTS5 and PostgreSQL full-text search.

Where it is kept right: ``search_docs`` holds the folded searchable words of each
calendar item (``calserver.ical.searchquery.event_words``). A row is written by
:func:`index_rows`, which :func:`calserver.storage.rows.insert_items` calls for every
item row it inserts -- the one place item rows are inserted, by PUT, the API and the web
app (through the storage), whole-calendar imports (staging rows, then swapped in by
their ids), scheduling copies, subscriptions and the migration from Radicale -- and it
goes with its item by cascade. MOVE and the import's swap change an item's calendar or
name but keep its id, so its words stay right. This is why the index is kept at the
storage level rather than by a write hook (``storage.hooks`` sees single-item writes
only).

Per engine, an index over ``words`` (DDL in ``calserver.db.models``, made with the table):

- SQLite: the FTS5 table ``search_fts`` (external content ``search_docs``, tokenizer
  ``unicode61``), kept by triggers on ``search_docs``;
- PostgreSQL: the column ``tsv`` (a ``tsvector`` built from the same folded words, with
  their positions, by the cast of a literal: PostgreSQL's own parser never sees the
  text, so both engines cut words alike) and its GIN index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    cast,
    column,
    exists,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.exc import DatabaseError

from calserver import db
from calserver.db.models import instances, items, search_docs
from calserver.ical.searchquery import Query, event_words, to_fts5, to_tsquery

#: The components whose text is indexed.
INDEXED = ("VEVENT", "VTODO", "VJOURNAL")


def tsvector_literal(found: Sequence[str]) -> str:
    """The folded words as a ``tsvector`` literal with their positions (1-based, at
    most 16383: PostgreSQL's limit)."""
    return " ".join(f"'{word}':{min(i + 1, 16383)}" for i, word in enumerate(found))


def index_rows(conn: Connection, rows: Iterable[tuple[int, str, str]]) -> None:
    """Index the items ``(item id, component, iCalendar text)`` just inserted."""
    docs = [(item_id, event_words(ics)) for item_id, component, ics in rows if component in INDEXED]
    if not docs:
        return
    if db.is_sqlite(conn):
        conn.execute(insert(search_docs), [{"item_id": i, "words": " ".join(w)} for i, w in docs])
    else:
        conn.execute(
            text(
                "INSERT INTO search_docs (item_id, words, tsv)"
                " VALUES (:item_id, :words, CAST(:tsv AS tsvector))"
            ),
            [{"item_id": i, "words": " ".join(w), "tsv": tsvector_literal(w)} for i, w in docs],
        )


def reindex(conn: Connection, collection_id: int | None = None) -> int:
    """Index again the items of one calendar (every calendar when None); how many."""
    done = 0
    where: list[Any] = [items.c.component.in_(INDEXED)]
    if collection_id is not None:
        where.append(items.c.collection_id == collection_id)
        conn.execute(
            search_docs.delete().where(
                search_docs.c.item_id.in_(
                    select(items.c.id).where(items.c.collection_id == collection_id)
                )
            )
        )
    else:
        conn.execute(search_docs.delete())
    last = 0
    while True:
        batch = conn.execute(
            select(items.c.id, items.c.component, items.c.text)
            .where(*where, items.c.id > last)
            .order_by(items.c.id)
            .limit(1000)
        ).all()
        if not batch:
            return done
        index_rows(conn, [(row.id, row.component, row.text) for row in batch])
        done += len(batch)
        last = batch[-1].id


def problems(conn: Connection) -> list[str]:
    """What ``calserver check`` reports of the index: items without their words, or
    whose words are not those of their text, and the engine's index out of step."""
    found: list[str] = []
    missing = conn.execute(
        select(func.count())
        .select_from(items)
        .where(
            items.c.component.in_(INDEXED),
            ~exists().where(search_docs.c.item_id == items.c.id),
        )
    ).scalar_one()
    if missing:
        found.append(
            f"search index: {missing} item(s) are not indexed ('calserver check --repair')"
        )
    stale = 0
    last = 0
    while True:
        batch = conn.execute(
            select(items.c.id, items.c.text, search_docs.c.words)
            .join(search_docs, search_docs.c.item_id == items.c.id)
            .where(items.c.id > last)
            .order_by(items.c.id)
            .limit(2000)
        ).all()
        stale += sum(1 for row in batch if " ".join(event_words(row.text)) != row.words)
        if len(batch) < 2000:
            break
        last = batch[-1].id
    if stale:
        found.append(
            f"search index: {stale} item(s) have outdated words ('calserver check --repair')"
        )
    docs = conn.execute(select(func.count()).select_from(search_docs)).scalar_one()
    if db.is_sqlite(conn):
        engine_rows = conn.execute(text("SELECT count(*) FROM search_fts_docsize")).scalar_one()
        integrity = True
        try:
            conn.execute(
                text("INSERT INTO search_fts(search_fts, rank) VALUES ('integrity-check', 1)")
            )
        except DatabaseError:  # FTS5 reports an index out of step with its content so
            integrity = False
        if engine_rows != docs or not integrity:
            found.append("search index: the FTS5 index is out of step ('calserver check --repair')")
    return found


def repair(conn: Connection) -> list[str]:
    """Rebuild the index when :func:`problems` finds anything; a line per repair."""
    if not problems(conn):
        return []
    count = reindex(conn)
    if db.is_sqlite(conn):
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('rebuild')"))
    return [f"rebuilt the search index ({count} items)"]


@dataclass(frozen=True)
class Found:
    """One item the engine found: its row and the engine's relevance (higher: better;
    only comparable within one search)."""

    id: int
    collection_id: int
    uid: str
    href: str
    klass: str
    component: str
    start_ts: int
    end_ts: int
    text: str
    score: float


_fts = table("search_fts", column("rowid"), column("rank"))


def window_clause(start: int | None, end: int | None) -> Any:
    """Items with an instance in [start, end) (open ends when None)."""
    if start is None and end is None:
        return None
    lo = start if start is not None else -(2**62)
    hi = end if end is not None else 2**62
    indexed = exists().where(
        instances.c.item_id == items.c.id, instances.c.start_ts < hi, instances.c.end_ts > lo
    )
    beyond = and_(
        items.c.indexed_until.is_not(None), items.c.indexed_until < hi, items.c.end_ts > lo
    )
    return or_(indexed, beyond)


def find(
    conn: Connection,
    query: Query,
    *,
    full: Iterable[int],
    public: Iterable[int],
    extra: Any = None,
    now: int,
    limit: int,
) -> list[Found]:
    """The items matching ``query`` whose whole text the searcher may read: any item
    of the calendars ``full`` (their own), the PUBLIC items of ``public`` (read or write
    level). ``extra``: one more SQL condition on ``items``. Best first: relevance, then
    nearness of the item's first start to ``now``; at most ``limit``."""
    full_ids, public_ids = sorted(set(full)), sorted(set(public))
    visible = or_(
        items.c.collection_id.in_(full_ids) if full_ids else false(),
        and_(items.c.collection_id.in_(public_ids), items.c.klass == "PUBLIC")
        if public_ids
        else false(),
    )
    conditions = [visible, items.c.component.in_(INDEXED)]
    if extra is not None:
        conditions.append(extra)
    nearness = func.abs(items.c.start_ts - now)
    columns = [
        items.c.id,
        items.c.collection_id,
        items.c.uid,
        items.c.href,
        items.c.klass,
        items.c.component,
        items.c.start_ts,
        items.c.end_ts,
        items.c.text,
    ]
    if db.is_sqlite(conn):
        # the matches first, then their rows: never the calendar's rows each probed in
        # the index (the planner's choice when a calendar is small next to the matches)
        matched = (
            select(_fts.c.rowid.label("item_id"), (-_fts.c.rank).label("score"))
            .where(text("search_fts MATCH :fts").bindparams(fts=to_fts5(query)))
            .cte("matched")
            .prefix_with("MATERIALIZED")
        )
        statement = (
            select(*columns, matched.c.score)
            .select_from(matched.join(items, items.c.id == matched.c.item_id))
            .where(*conditions)
        )
    else:
        tsv = literal_column("search_docs.tsv", TSVECTOR)
        tsq = cast(bindparam("tsq", to_tsquery(query)), TSQUERY)
        statement = (
            select(*columns, func.ts_rank(tsv, tsq).label("score"))
            .select_from(search_docs.join(items, items.c.id == search_docs.c.item_id))
            .where(tsv.op("@@")(tsq), *conditions)
        )
    statement = statement.order_by(text("score DESC"), nearness).limit(limit)
    return [
        Found(
            row.id,
            row.collection_id,
            row.uid,
            row.href,
            row.klass,
            row.component,
            row.start_ts,
            row.end_ts,
            row.text,
            float(row.score or 0.0),
        )
        for row in conn.execute(statement)
    ]
