"""Delete between two dates in one calendar (issue 17 section 3): a dry run first, then
the deletion in one transaction.

What is cut out of each event is :mod:`calserver.ical.cutrange` (an occurrence is in
the range when it starts in it). The deletion goes through the storage as the person's
own DELETEs and PUTs would, in one write lock (one transaction: all or nothing), so
everything that follows writes follows it: the change log and sync tokens, feeds,
the search index, and implicit scheduling (RFC 6638 3.2) -- a meeting the person
organized that is deleted sends its cancellations, a series of theirs that is cut sends
the update; a meeting copy of theirs as attendee that is deleted answers as a DELETE
does.

Only writers of the calendar may do it (403 otherwise). A writer who does not own the
calendar cuts only the events they may change: confidential events are busy blocks to
them (DESIGN.md's table: 403), private ones invisible; both are left as they are and
counted as kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from radicale import item as radicale_item
from sqlalchemy import select

from calserver import context
from calserver.db import read_transaction
from calserver.db.models import collections, items
from calserver.errors import Forbidden, InvalidInput, NotFound
from calserver.ical.cutrange import CutRefused, cut
from calserver.scheduling.copies import Refused
from calserver.sharing.levels import Level, resolve
from calserver.storage import Storage
from calserver.storage.searchindex import window_clause


@dataclass
class Series:
    href: str
    uid: str
    summary: str
    #: "deleted" (every occurrence was in the range), "exdate", "restarted", "ended"
    how: str
    occurrences: int


@dataclass
class Plan:
    calendar: str
    start: str
    end: str
    #: single events deleted
    events: int = 0
    #: occurrences removed (single events and occurrences of series)
    occurrences: int = 0
    #: overridden occurrences removed
    overrides: int = 0
    #: the series cut, and how
    series: list[Series] = field(default_factory=list)
    #: events in the range the person may not change (not theirs to change), left
    kept: int = 0
    done: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "calendar": self.calendar,
            "from": self.start,
            "to": self.end,
            "events": self.events,
            "occurrences": self.occurrences,
            "overrides": self.overrides,
            "series": [vars(s) for s in self.series],
            "kept": self.kept,
            "done": self.done,
        }


def parse_moment(value: str, what: str) -> dt.datetime:
    """An ISO 8601 date (midnight UTC) or date-time (UTC without an offset)."""
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{what} is missing")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{what}: {value!r} is not an ISO 8601 date or date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def delete_between(
    storage: Storage, user: str, calendar: str, start: str, end: str, *, dry_run: bool
) -> Plan:
    """Cut [start, end) out of ``calendar`` (as ``user`` names it); with ``dry_run``
    only say what it would do."""
    lo, hi = parse_moment(start, "FROM"), parse_moment(end, "TO")
    if lo >= hi:
        raise InvalidInput("FROM must be before TO")
    path = calendar.strip("/")
    with read_transaction(storage.engine) as conn:
        resolved = resolve(conn, user, path)
        row = conn.execute(
            select(collections.c.id).where(
                collections.c.path == resolved.target, collections.c.tag == "VCALENDAR"
            )
        ).first()
        if row is None or resolved.level < Level.BUSY or path.count("/") != 1:
            raise NotFound(f"no calendar {calendar!r}")
        if resolved.level < Level.WRITE:
            raise Forbidden(f"you may not change {calendar!r}")
    plan = Plan(path, _iso(lo), _iso(hi))
    if dry_run:
        with read_transaction(storage.engine) as conn:
            _plan(conn, plan, int(row.id), resolved.level, lo, hi)
        return plan
    with storage.acquire_lock("w", user, path=f"/{resolved.target}/"):
        scope = context.scope.get()
        changes = _plan(scope.conn, plan, int(row.id), resolved.level, lo, hi)
        collection = storage.open_collection(path, user)
        if collection is None:  # pragma: no cover - resolved above in this transaction
            raise NotFound(f"no calendar {calendar!r}")
        for href, text in changes:
            restore = context.method.set("DELETE" if text is None else "PUT")
            try:
                if text is None:
                    collection.delete(href)
                else:
                    item = radicale_item.Item(collection_path=path, text=text)
                    collection.upload(href, item)
            except Refused as exc:  # scheduling refused a write: everything goes back
                raise Forbidden(f"{href}: {exc}") from exc
            except ValueError as exc:  # the storage's refusal of the new text
                raise InvalidInput(f"{href}: {exc}") from exc
            finally:
                context.method.reset(restore)
    plan.done = True
    return plan


def _plan(
    conn: Any, plan: Plan, collection_id: int, level: Level, lo: dt.datetime, hi: dt.datetime
) -> list[tuple[str, str | None]]:
    """Fill ``plan``; the writes it needs: (href, new text, or None to delete)."""
    window = window_clause(int(lo.timestamp()), int(hi.timestamp()))
    rows = conn.execute(
        select(items.c.href, items.c.uid, items.c.klass, items.c.component, items.c.text)
        .where(items.c.collection_id == collection_id, items.c.component == "VEVENT", window)
        .order_by(items.c.href)
    ).all()
    writes: list[tuple[str, str | None]] = []
    for row in rows:
        try:
            outcome = cut(row.text, lo, hi)
        except CutRefused as exc:
            raise InvalidInput(str(exc)) from None
        if outcome.action == "keep":
            continue
        if level < Level.OWNER and row.klass != "PUBLIC":
            plan.kept += 1
            continue
        plan.occurrences += outcome.occurrences
        plan.overrides += outcome.overrides
        if outcome.recurring:
            plan.series.append(
                Series(row.href, row.uid, outcome.summary, outcome.how, outcome.occurrences)
            )
        else:
            plan.events += 1
        writes.append((row.href, None if outcome.action == "delete" else outcome.text))
    return writes
