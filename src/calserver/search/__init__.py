"""Search across the calendars a person can see (issue 17 section 1).

Scopes: ``private`` (their own calendars), ``all`` (their own and every calendar
shared with them or of their groups), ``group:NAME`` (that group's calendars).

Only what the searcher may see is searched (DESIGN.md's table, through
``calserver.sharing.redact``): the whole text of their own events and of public events
of calendars they read or write; of a busy view (a busy-only share, or a confidential
event a reader sees) only the word "Busy"; private events of others never. The index
(``calserver.storage.searchindex``) is asked only for what may be read in full; every
result is checked again in Python (``calserver.ical.searchquery.matches``) over what the
searcher sees of it plus their own tags, which are searched too.

At most :data:`LIMIT` results, by relevance, then nearness in time (the next occurrence
of a series, or the one in the asked window).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select

from calserver import tags as tag_service
from calserver.accounts import directory
from calserver.db import read_transaction
from calserver.db.models import MAILBOXES, collections, groups, instances, items
from calserver.errors import InvalidInput, NotFound
from calserver.ical.searchquery import (
    BUSY_WORDS,
    Query,
    QueryError,
    event_words,
    matches,
    parse,
    words,
)
from calserver.sharing.levels import Level, shared_with
from calserver.sharing.membership import groups_of
from calserver.sharing.redact import shown_from, shows_busy
from calserver.storage.searchindex import INDEXED, find, window_clause

#: Most results of one search.
LIMIT = 200


@dataclass
class Hit:
    """One result, as the searcher may see it."""

    #: the calendar as the searcher names it (their own path, or the alias in their home)
    calendar: str
    href: str
    uid: str
    summary: str
    location: str
    #: the next occurrence (of a series), or the one in the window; ISO 8601, UTC
    start: str
    end: str
    busy: bool
    tags: list[dict[str, str]] = field(default_factory=list)
    score: float = 0.0

    def as_json(self) -> dict[str, Any]:
        found = asdict(self)
        found.pop("score")
        return found


@dataclass(frozen=True)
class Seen:
    collection_id: int
    name: str
    level: Level


def parse_scope(scope: str) -> tuple[str, str]:
    value = (scope or "all").strip()
    if value in ("private", "all"):
        return value, ""
    if value.startswith("group:") and value[6:].strip():
        return "group", value[6:].strip()
    raise InvalidInput(f"unknown scope {scope!r}: expected private, all or group:NAME")


def parse_time(value: str | None, what: str) -> int | None:
    """An ISO 8601 date or date-time (UTC when no offset) as POSIX seconds."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{what}: {value!r} is not an ISO 8601 date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def calendars_seen(conn: Connection, user: str, scope: str) -> list[Seen]:
    """The calendars ``user`` searches in ``scope``, with their level."""
    kind, group = parse_scope(scope)
    found: list[Seen] = []
    if kind in ("private", "all"):
        for row in conn.execute(
            select(collections.c.id, collections.c.path).where(
                collections.c.parent == user, collections.c.tag == "VCALENDAR"
            )
        ):
            if row.path.partition("/")[2] not in MAILBOXES:
                found.append(Seen(int(row.id), row.path, Level.OWNER))
    if kind == "private":
        return found
    if kind == "group":
        member = conn.execute(
            select(groups.c.id).where(
                groups.c.name == group, groups.c.id.in_(_my_groups(conn, user))
            )
        ).first()
        if member is None:
            raise NotFound(f"you are in no group {group!r}")
    for shared in shared_with(conn, user):
        if kind == "group" and not shared.target.startswith(f"@{group}/"):
            continue
        tag = conn.execute(
            select(collections.c.tag).where(collections.c.id == shared.collection_id)
        ).scalar()
        if tag == "VCALENDAR":
            found.append(Seen(shared.collection_id, f"{user}/{shared.alias}", shared.level))
    return found


def _my_groups(conn: Connection, user: str) -> Any:
    user_id = directory.user_id(conn, user)
    return groups_of(user_id if user_id is not None else -1)


def search(
    engine: Engine,
    user: str,
    q: str,
    *,
    scope: str = "all",
    tag: str = "",
    start: str | None = None,
    end: str | None = None,
    now: float | None = None,
    limit: int = LIMIT,
) -> list[Hit]:
    """What ``user`` finds with the query ``q`` (see the module docstring). An empty
    ``q`` is allowed with a ``tag`` only (every event of that tag)."""
    query: Query | None
    try:
        query = parse(q) if (q.strip() or not tag) else None
    except QueryError as exc:
        raise InvalidInput(str(exc)) from None
    lo, hi = parse_time(start, "from"), parse_time(end, "to")
    if lo is not None and hi is not None and lo >= hi:
        raise InvalidInput("from must be before to")
    moment = int(now if now is not None else time.time())
    with read_transaction(engine) as conn:
        seen = {s.collection_id: s for s in calendars_seen(conn, user, scope)}
        mine = tag_service.tags_of(conn, user, list(seen))
        wanted = tag_service.tagged(conn, user, tag) if tag else None
        window = window_clause(lo, hi)
        candidates: dict[int, tuple[Any, float]] = {}
        full = [s.collection_id for s in seen.values() if s.level >= Level.OWNER]
        public = [s.collection_id for s in seen.values() if Level.READ <= s.level < Level.OWNER]
        extra = window
        if wanted is not None:
            keys = sorted(wanted)
            in_tag = _events(keys) if keys else None
            if in_tag is None:
                return []
            extra = in_tag if extra is None else and_(extra, in_tag)
        if query is not None:
            for found in find(
                conn, query, full=full, public=public, extra=extra, now=moment, limit=limit * 2
            ):
                candidates[found.id] = (found, found.score)
        # what the index is not asked for: events the searcher tagged (their tags are
        # searched too), every event when only a tag is given, and busy views ("Busy")
        others: list[Any] = []
        tagged_keys = sorted(mine if wanted is None else wanted)
        if tagged_keys and (query is None or mine):
            others += _rows(conn, _events(tagged_keys), window)
        if query is not None and matches(query, BUSY_WORDS):
            # busy views (DESIGN.md's table): public events of busy-only calendars,
            # confidential events of calendars read or written
            busy_only = [s.collection_id for s in seen.values() if s.level == Level.BUSY]
            readable = [
                s.collection_id for s in seen.values() if Level.READ <= s.level < Level.OWNER
            ]
            shown_busy = [
                and_(items.c.collection_id.in_(ids), items.c.klass == klass)
                for ids, klass in ((busy_only, "PUBLIC"), (readable, "CONFIDENTIAL"))
                if ids
            ]
            if shown_busy:
                condition: Any = and_(or_(*shown_busy), items.c.component == "VEVENT")
                if extra is not None:
                    condition = and_(condition, extra)
                others += _rows(conn, condition, None, moment, limit)
        for row in others:
            candidates.setdefault(row.id, (row, 0.0))
        from_index = set(candidates) - {row.id for row in others}
        kept: list[tuple[Any, float, Seen, bool, list[tuple[str, str]]]] = []
        for row, score in candidates.values():
            seen_as = seen.get(row.collection_id)
            if seen_as is None or row.component not in INDEXED:
                continue
            if shown_from(row.klass, row.component) > seen_as.level:
                continue  # not in the view at all (private, or confidential for busy)
            busy = shows_busy(seen_as.level, row.klass)
            labels = mine.get((row.collection_id, row.uid), [])
            # what the index found over the words the searcher reads whole needs no
            # second look unless their own tags may change the answer
            if query is not None and (labels or row.id not in from_index or busy):
                doc = list(BUSY_WORDS) if busy else event_words(row.text)
                for name, _colour in labels:
                    doc += words(name)
                if not matches(query, doc):
                    continue
            kept.append((row, score, seen_as, busy, labels))
        # the best ``limit`` by relevance, then nearness of the item's first start; the
        # occurrence shown is looked up for those only
        kept.sort(key=lambda k: (-k[1], abs(k[0].start_ts - moment)))
        kept = kept[:limit]
        times = _times(conn, [k[0].id for k in kept], moment, lo, hi)
        hits: list[tuple[float, int, Hit]] = []
        for row, score, seen_as, busy, labels in kept:
            when = times.get(row.id, (int(row.start_ts), int(row.start_ts)))
            summary, location = ("Busy", "") if busy else _summary(row.text)
            hit = Hit(
                calendar=seen_as.name,
                href=row.href,
                uid=row.uid,
                summary=summary,
                location=location,
                start=_iso(when[0]),
                end=_iso(when[1]),
                busy=busy,
                tags=[{"name": n, "colour": c} for n, c in labels],
                score=score,
            )
            hits.append((score, abs(when[0] - moment), hit))
    hits.sort(key=lambda h: (-h[0], h[1]))
    return [hit for _, _, hit in hits]


_COLUMNS = (
    items.c.id,
    items.c.collection_id,
    items.c.uid,
    items.c.href,
    items.c.klass,
    items.c.component,
    items.c.start_ts,
    items.c.text,
)


def _events(keys: list[tuple[int, str]]) -> Any:
    """Items by (calendar id, UID): per calendar, an index lookup of its UIDs (a
    row-value IN is a scan on SQLite)."""
    by_calendar: dict[int, list[str]] = {}
    for collection_id, uid in keys:
        by_calendar.setdefault(collection_id, []).append(uid)
    return or_(
        *(
            and_(items.c.collection_id == cid, items.c.uid.in_(uids))
            for cid, uids in sorted(by_calendar.items())
        )
    )


def _rows(
    conn: Connection, condition: Any, window: Any, now: int | None = None, limit: int | None = None
) -> list[Any]:
    statement = select(*_COLUMNS).where(condition)
    if window is not None:
        statement = statement.where(window)
    if now is not None:
        statement = statement.order_by(func.abs(items.c.start_ts - now))
    if limit is not None:
        statement = statement.limit(limit)
    return list(conn.execute(statement))


def _times(
    conn: Connection, ids: list[int], now: int, lo: int | None, hi: int | None
) -> dict[int, tuple[int, int]]:
    """The occurrence shown of each item: the first in the window [lo, hi) when one is
    given, else the next one from ``now`` (the last one of a series that has ended).
    A few queries for all the items together."""
    found: dict[int, tuple[int, int]] = {}
    if not ids:
        return found

    def pick(condition: Any, first: bool, wanted: list[int]) -> None:
        for chunk in range(0, len(wanted), 400):
            part = wanted[chunk : chunk + 400]
            edge = func.min(instances.c.start_ts) if first else func.max(instances.c.start_ts)
            starts = conn.execute(
                select(instances.c.item_id, edge.label("at"))
                .where(instances.c.item_id.in_(part), condition)
                .group_by(instances.c.item_id)
            ).all()
            if not starts:
                continue
            keys = [(row.item_id, row.at) for row in starts]
            wanted_keys = set(keys)
            for row in conn.execute(
                select(instances.c.item_id, instances.c.start_ts, instances.c.end_ts).where(
                    instances.c.item_id.in_([k[0] for k in keys]),
                    instances.c.start_ts.in_(sorted({k[1] for k in keys})),
                )
            ):
                if (row.item_id, row.start_ts) in wanted_keys:
                    found.setdefault(int(row.item_id), (int(row.start_ts), int(row.end_ts)))

    if lo is not None or hi is not None:
        low = lo if lo is not None else -(2**62)
        high = hi if hi is not None else 2**62
        pick(and_(instances.c.end_ts > low, instances.c.start_ts < high), True, ids)
        return found
    pick(instances.c.end_ts > now, True, ids)
    pick(instances.c.end_ts <= now, False, [i for i in ids if i not in found])
    return found


def _iso(seconds: int) -> str:
    seconds = max(min(seconds, 253402300799), -62135596800)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(text: str) -> tuple[str, str]:
    """SUMMARY and LOCATION of the item's first component (master first)."""
    summary = location = ""
    unfolded = text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "")
    for line in unfolded.splitlines():
        head, sep, value = line.partition(":")
        name = head.split(";", 1)[0].upper()
        if not sep:
            continue
        value = (
            value.replace("\\,", ",").replace("\\;", ";").replace("\\n", " ").replace("\\\\", "\\")
        )
        if name == "SUMMARY" and not summary:
            summary = value
        elif name == "LOCATION" and not location:
            location = value
        if summary and location:
            break
    return summary, location
