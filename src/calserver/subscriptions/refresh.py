"""Refreshing subscriptions: the subscription half of ``calserver worker`` and of
``calserver subscriptions refresh``.

A source (one distinct URL) is due when its interval has passed: the shortest
interval of its subscribers, each one the subscriber's own, else the source's
``REFRESH-INTERVAL`` hint, else ``[subscriptions] default_interval``, kept within
``min_interval`` and ``max_interval``. A worker claims a due source for a lease
(compare-and-set on ``claimed_until``, as the push and mail queues do), so several
workers never fetch the same URL at once; the fetch is conditional (ETag,
Last-Modified) unless a subscriber still waits for its first content.

What was fetched is written into every subscriber's calendar in one transaction per
calendar, and only what changed: an event whose text (DTSTAMP aside) did not change
keeps its href, stored text and ETag, so sync-collection (RFC 6578) reports only real
changes; an unchanged event that the source gave a new UID keeps its old place too.
A fetch that fails (unreachable, HTTP error, too big, too slow, not iCalendar, too many
events, a forbidden address) changes no calendar: the last good content stays, the
error is recorded on the source and the next attempt backs off (``min_interval``
doubled at each failure, at most ``max_interval``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import vobject
from radicale import item as radicale_item
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, NoResultFound, OperationalError

from calserver import db, outbound
from calserver.db.models import collections, items, subscription_items, subscriptions
from calserver.ical import icsfile
from calserver.ical.subscription import (
    fingerprint,
    looks_like_icalendar,
    refresh_hint,
    shaped,
    with_uids,
)
from calserver.push import subscriptions as push_subscriptions
from calserver.storage import Storage, lock_name
from calserver.storage.itemprops import drop as drop_item_properties
from calserver.storage.rows import (
    Change,
    bump_revision,
    insert_items,
    item_row,
    log_changes,
    safe_href_for,
    shown,
)
from calserver.subscriptions.manage import prune_sources, sources

logger = logging.getLogger("calserver.subscriptions")

#: Seconds between two looks for due sources when the worker runs as a service.
POLL_SECONDS = 5.0
#: Most refused events named in a source's last error.
NAMED_PROBLEMS = 5


@dataclass(frozen=True)
class Settings:
    allowed: tuple[Any, ...] = ()
    limits: outbound.Limits = field(default_factory=outbound.Limits)
    default_interval: int = 3600
    min_interval: int = 300
    max_interval: int = 604800
    max_events: int = 20000
    max_occurrences: int = 10000

    @classmethod
    def from_configuration(cls, configuration: Any) -> Settings:
        get = configuration.get
        return cls(
            allowed=tuple(get("subscriptions", "allowed_networks")),
            limits=outbound.Limits(
                max_bytes=get("subscriptions", "max_size"),
                timeout=get("subscriptions", "timeout"),
                max_redirects=get("subscriptions", "max_redirects"),
            ),
            default_interval=get("subscriptions", "default_interval"),
            min_interval=get("subscriptions", "min_interval"),
            max_interval=get("subscriptions", "max_interval"),
            max_events=get("subscriptions", "max_events"),
            max_occurrences=get("server", "max_vevent_rrule_occurrence"),
        )


@dataclass
class Outcome:
    """What one refresh of one source did."""

    url: str
    #: "changed", "unchanged" (200 with the same body), "not modified" (304), "failed",
    #: "busy" (another worker holds it)
    status: str
    error: str = ""
    #: hrefs written or deleted, over all subscribers' calendars
    changes: int = 0

    def line(self) -> str:
        if self.status == "failed":
            return f"{self.url}: failed: {self.error}"
        if self.status == "changed":
            extra = f" ({self.error})" if self.error else ""
            return f"{self.url}: {self.changes} change(s){extra}"
        return f"{self.url}: {self.status}"


@dataclass
class Counts:
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self) -> str:
        failed = sum(1 for o in self.outcomes if o.status == "failed")
        return f"subscriptions: refreshed {len(self.outcomes) - failed}, failed {failed}"


class _Refused(Exception):
    """A fetched body that cannot be used (not iCalendar, too many events)."""


# --- the queue ---------------------------------------------------------------------


def _claimable(now: float):  # type: ignore[no-untyped-def]
    return sources.c.claimed_until <= now


def claim_due(engine: Engine, lease: float, *, now: float | None = None) -> int | None:
    """Take the next due source for ``lease`` seconds; its id, or None."""
    now = time.time() if now is None else now
    with engine.connect() as conn:
        candidates = (
            conn.execute(
                select(sources.c.id)
                .where(sources.c.next_fetch <= now, _claimable(now))
                .order_by(sources.c.next_fetch)
                .limit(20)
            )
            .scalars()
            .all()
        )
    for source_id in candidates:
        if claim(engine, source_id, lease, now=now, due_only=True):
            return int(source_id)
    return None


def claim(
    engine: Engine,
    source_id: int,
    lease: float,
    *,
    now: float | None = None,
    due_only: bool = False,
) -> bool:
    """Take ``source_id`` for ``lease`` seconds unless another worker holds it."""
    now = time.time() if now is None else now
    condition = (sources.c.id == source_id) & _claimable(now)
    if due_only:
        condition = condition & (sources.c.next_fetch <= now)
    with db.write_connection(engine) as conn, conn.begin():
        taken = conn.execute(
            update(sources).where(condition).values(claimed_until=now + lease)
        ).rowcount
    return taken == 1


def _interval(settings: Settings, hint: int | None, intervals: list[int | None]) -> int:
    wanted = [i if i is not None else (hint or settings.default_interval) for i in intervals]
    chosen = min(wanted) if wanted else settings.default_interval
    return max(settings.min_interval, min(settings.max_interval, chosen))


def backoff(settings: Settings, failures: int) -> int:
    """Seconds before the next attempt after ``failures`` failures in a row."""
    return int(min(settings.max_interval, settings.min_interval * 2 ** min(failures - 1, 30)))


# --- one source ----------------------------------------------------------------------


def refresh_source(
    storage: Storage,
    settings: Settings,
    source_id: int,
    *,
    resolve: outbound.Resolver = outbound.system_resolver,
    now: Callable[[], float] = time.time,
) -> Outcome:
    """Fetch a claimed source and apply it to its subscribers; releases the claim."""
    engine = storage.engine
    with db.read_transaction(engine) as conn:
        source = conn.execute(select(sources).where(sources.c.id == source_id)).first()
        subscribers = conn.execute(
            select(subscriptions, collections.c.path)
            .join(collections, collections.c.id == subscriptions.c.collection_id)
            .where(subscriptions.c.source_id == source_id)
        ).all()
    if source is None:
        return Outcome("", "failed", "no such source")
    if not subscribers:  # the last one unsubscribed since: nobody to fetch it for
        with db.write_connection(engine) as conn, conn.begin():
            prune_sources(conn)
        return Outcome(source.url, "unchanged")
    started = now()
    intervals = [s.interval for s in subscribers]
    # a subscriber still without this body needs it: no conditional request then
    everyone_current = bool(source.body_hash) and all(
        s.applied_hash == source.body_hash for s in subscribers
    )
    try:
        fetched = outbound.fetch(
            source.url,
            allowed=settings.allowed,
            limits=settings.limits,
            etag=source.etag if everyone_current else "",
            last_modified=source.last_modified if everyone_current else "",
            resolve=resolve,
        )
        if fetched.status == 304:
            _succeeded(engine, settings, source, source.hint, intervals, started)
            return Outcome(source.url, "not modified")
        if fetched.content_type == "text/html" or not looks_like_icalendar(fetched.body):
            kind = fetched.content_type or "no content type"
            raise _Refused(f"the URL did not answer with an iCalendar file ({kind})")
        try:
            text = fetched.body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _Refused(f"the calendar is not UTF-8: {exc}") from exc
        try:
            resources = list(icsfile.split(with_uids(text)))
        except icsfile.IcsError as exc:
            raise _Refused(f"not a valid iCalendar file: {exc}") from exc
        if len(resources) > settings.max_events:
            raise _Refused(
                f"the calendar has {len(resources)} events, more than {settings.max_events}"
            )
    except (outbound.FetchError, _Refused) as exc:
        error = str(exc)
        _failed(engine, settings, source, error, started)
        logger.warning("subscription %s: %s", source.url, error)
        return Outcome(source.url, "failed", error)
    body_hash = hashlib.sha256(fetched.body).hexdigest()
    hint = refresh_hint(text)
    changed = 0
    problems: list[str] = []
    for subscriber in subscribers:
        if subscriber.applied_hash == body_hash:
            continue
        _extend_claim(engine, source.id, settings, now())  # many big calendars take time
        try:
            count, refused = _apply(storage, settings, subscriber, resources)
        except (IntegrityError, NoResultFound):
            # its calendar was deleted meanwhile (the subscription went with it)
            logger.info("subscription %d: its calendar is gone", subscriber.id)
            continue
        changed += count
        problems.extend(refused)
        with db.write_connection(engine) as conn, conn.begin():
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscriber.id)
                .values(applied_hash=body_hash)
            )
    note = ""
    if problems:
        named = "; ".join(sorted(set(problems))[:NAMED_PROBLEMS])
        note = f"{len(set(problems))} event(s) left out: {named}"
    _succeeded(
        engine,
        settings,
        source,
        hint,
        intervals,
        started,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        body_hash=body_hash,
        note=note,
    )
    status = "changed" if changed or note else "unchanged"
    return Outcome(source.url, status, note, changed)


def _extend_claim(engine: Engine, source_id: int, settings: Settings, moment: float) -> None:
    with db.write_connection(engine) as conn, conn.begin():
        conn.execute(
            update(sources)
            .where(sources.c.id == source_id)
            .values(claimed_until=moment + _lease(settings))
        )


def _succeeded(
    engine: Engine,
    settings: Settings,
    source: Any,
    hint: int | None,
    intervals: list[int | None],
    started: float,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    body_hash: str | None = None,
    note: str = "",
) -> None:
    values: dict[str, Any] = {
        "hint": hint,
        "failures": 0,
        "last_error": note,
        "last_attempt": started,
        "last_success": started,
        "claimed_until": 0.0,
        "next_fetch": started + _interval(settings, hint, intervals),
    }
    if etag is not None:
        values["etag"] = etag[:1024]
        values["last_modified"] = (last_modified or "")[:255]
    if body_hash is not None:
        values["body_hash"] = body_hash
    with db.write_connection(engine) as conn, conn.begin():
        conn.execute(update(sources).where(sources.c.id == source.id).values(**values))


def _failed(engine: Engine, settings: Settings, source: Any, error: str, started: float) -> None:
    failures = source.failures + 1
    with db.write_connection(engine) as conn, conn.begin():
        conn.execute(
            update(sources)
            .where(sources.c.id == source.id)
            .values(
                failures=failures,
                last_error=error[:2000],
                last_attempt=started,
                claimed_until=0.0,
                next_fetch=started + backoff(settings, failures),
            )
        )


def _prepare(
    storage: Storage, settings: Settings, collection_id: int, path: str, href: str, text: str
) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The row of one event as a PUT of it would store it (Radicale's checks and
    sanitising, the time index); ValueError with the reason when it is refused."""
    problem = icsfile.resource_refusal(text)
    if problem is not None:
        raise ValueError(problem)
    try:
        vobject_item = vobject.readOne(text)
        radicale_item.check_and_sanitize_items(
            [vobject_item],
            max_vevent_rrule_occurrence=settings.max_occurrences,
            is_collection=False,
            tag="VCALENDAR",
        )
        if icsfile.needs_sanitising(vobject_item):
            item = radicale_item.Item(collection_path=path, vobject_item=vobject_item)
        else:
            item = radicale_item.Item(collection_path=path, text=text, vobject_item=vobject_item)
        item.prepare()
        return item_row(storage, collection_id, href, item)  # type: ignore[arg-type]
    except ValueError:
        raise
    except Exception as exc:  # vobject raises many kinds on bad data
        raise ValueError(str(exc) or exc.__class__.__name__) from exc


def _apply(
    storage: Storage, settings: Settings, subscriber: Any, resources: list[icsfile.Resource]
) -> tuple[int, list[str]]:
    """Write what changed into one subscriber's calendar; (hrefs changed, refusals).

    What to write is worked out and parsed outside the write transaction (a big
    calendar takes seconds to parse; no writer of the database waits for that), then
    written in one short transaction. Only the refresh of this calendar's source writes
    into it, and it holds the source's claim."""
    cid, path = subscriber.collection_id, subscriber.path
    problems: list[str] = []
    with db.read_transaction(storage.engine) as conn:
        stored_hrefs = set(
            conn.execute(select(items.c.href).where(items.c.collection_id == cid)).scalars()
        )
        known = {
            row.href: row
            for row in conn.execute(
                select(subscription_items).where(subscription_items.c.collection_id == cid)
            )
            if row.href in stored_hrefs
        }
    by_uid = {row.uid: row for row in known.values()}
    new_uids = {resource.uid for resource in resources}
    # events that left the source under their UID, by their text without it
    orphans: dict[str, list[Any]] = defaultdict(list)
    for row in known.values():
        if row.uid not in new_uids:
            orphans[row.anonymous].append(row)
    taken = set(stored_hrefs)
    keep: set[str] = set()
    writes: list[tuple[str, Any, str, str, str]] = []
    for resource in resources:
        text = shaped(
            resource.text,
            strip_alarms=subscriber.strip_alarms,
            strip_attachments=subscriber.strip_attachments,
        )
        full, anonymous = fingerprint(text), fingerprint(text, with_uid=False)
        old = by_uid.get(resource.uid)
        if old is not None:
            keep.add(old.href)  # replaced below, or kept as it was (also if refused)
            if old.fingerprint == full:
                continue
            href = old.href
        else:
            twins = orphans.get(anonymous)
            if twins:  # the same event under a new UID: it stays where it was
                keep.add(twins.pop().href)
                continue
            href = safe_href_for(resource.uid, taken)
        try:
            prepared = _prepare(storage, settings, cid, path, href, text)
        except ValueError as exc:
            problems.append(f"{resource.uid}: {exc}"[:300])
            continue
        taken.add(href)
        keep.add(href)
        writes.append((href, prepared, resource.uid, full, anonymous))
    with db.write_connection(storage.engine) as conn, conn.begin():
        db.advisory_lock(conn, lock_name("/" + path + "/"))
        # read again under the lock: who could see each href before (the change log)
        stored = {
            row.href: row
            for row in conn.execute(
                select(items.c.href, items.c.klass, items.c.component).where(
                    items.c.collection_id == cid
                )
            )
        }
        removed = sorted(set(stored) - keep)
        written = [href for href, *_ in writes]
        gone = removed + written
        if not gone:
            return 0, problems
        for chunk in _chunks(gone, 500):
            conn.execute(delete(items).where(items.c.collection_id == cid, items.c.href.in_(chunk)))
            conn.execute(
                delete(subscription_items).where(
                    subscription_items.c.collection_id == cid,
                    subscription_items.c.href.in_(chunk),
                )
            )
        for href in removed:
            drop_item_properties(conn, cid, href)
        insert_items(conn, cid, [row for _, row, *_ in writes])
        if writes:
            conn.execute(
                insert(subscription_items),
                [
                    {
                        "collection_id": cid,
                        "href": href,
                        "uid": uid,
                        "fingerprint": full,
                        "anonymous": anonymous,
                    }
                    for href, _, uid, full, anonymous in writes
                ],
            )
        push_subscriptions.changed(conn, path)  # WebDAV-Push: the calendar has news
        revision = bump_revision(conn, cid)
        log_changes(
            conn,
            cid,
            revision,
            [Change(href, shown(stored.get(href)), None) for href in removed]
            + [Change(href, shown(stored.get(href)), shown(row[0])) for href, row, *_ in writes],
        )
    return len(gone), problems


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- runs ------------------------------------------------------------------------------


def _lease(settings: Settings) -> float:
    return 60.0 + 2 * settings.limits.timeout


def _orphaned_sources(conn: Any) -> bool:
    unused = sources.c.id.notin_(select(subscriptions.c.source_id))
    return conn.execute(select(sources.c.id).where(unused).limit(1)).first() is not None


def any_subscription(engine: Engine) -> bool:
    """Whether there is a subscription to keep fresh (``calserver worker`` then runs on)."""
    with db.read_transaction(engine) as conn:
        return conn.execute(select(subscriptions.c.id).limit(1)).first() is not None


def run_once(
    storage: Storage,
    configuration: Any,
    *,
    stop: threading.Event | None = None,
    resolve: outbound.Resolver = outbound.system_resolver,
) -> Counts:
    """Refresh every source that is due now."""
    settings = Settings.from_configuration(configuration)
    counts = Counts()
    with db.read_transaction(storage.engine) as conn:
        orphaned = _orphaned_sources(conn)
    if orphaned:  # their last calendar was deleted
        with db.write_connection(storage.engine) as conn, conn.begin():
            prune_sources(conn)
    while stop is None or not stop.is_set():
        source_id = claim_due(storage.engine, _lease(settings))
        if source_id is None:
            break
        counts.outcomes.append(_guarded(storage, settings, source_id, resolve))
    return counts


def _guarded(
    storage: Storage, settings: Settings, source_id: int, resolve: outbound.Resolver
) -> Outcome:
    """:func:`refresh_source`, and a source that breaks the refresh (a bug, a database
    error) recorded as failed, with back-off, instead of stopping the worker."""
    try:
        return refresh_source(storage, settings, source_id, resolve=resolve)
    except Exception as exc:  # the worker goes on with the other sources
        logger.exception("subscription source %d: refresh failed", source_id)
        with db.read_transaction(storage.engine) as conn:
            source = conn.execute(select(sources).where(sources.c.id == source_id)).first()
        error = f"internal error: {exc.__class__.__name__}"
        if source is not None:
            _failed(storage.engine, settings, source, error, time.time())
        return Outcome(source.url if source is not None else "", "failed", error)


def run_forever(
    storage: Storage, configuration: Any, stop: threading.Event, poll: float = POLL_SECONDS
) -> None:
    """Refresh what is due every ``poll`` seconds until ``stop`` is set."""
    logger.info("subscription worker started")
    while not stop.is_set():
        try:
            run_once(storage, configuration, stop=stop)
        except OperationalError as exc:
            logger.error("subscription worker: database error: %s", exc.orig or exc)
        stop.wait(poll)
    logger.info("subscription worker stopped")


def refresh_now(
    storage: Storage,
    configuration: Any,
    user: str | None,
    *,
    subscription_id: int | None = None,
    resolve: outbound.Resolver = outbound.system_resolver,
) -> list[Outcome]:
    """Fetch now, whatever the interval, the sources of ``user``'s subscriptions (one
    of them with ``subscription_id``; every source with ``user`` None)."""
    settings = Settings.from_configuration(configuration)
    query = select(sources.c.id, sources.c.url).distinct()
    if user is not None:
        query = query.join(subscriptions, subscriptions.c.source_id == sources.c.id).where(
            subscriptions.c.owner == user
        )
        if subscription_id is not None:
            query = query.where(subscriptions.c.id == subscription_id)
    with db.write_connection(storage.engine) as conn, conn.begin():
        prune_sources(conn)
    with db.read_transaction(storage.engine) as conn:
        wanted = conn.execute(query.order_by(sources.c.url)).all()
    outcomes = []
    for source_id, url in wanted:
        if not claim(storage.engine, source_id, _lease(settings)):
            outcomes.append(Outcome(url, "busy", "another worker is fetching it"))
            continue
        outcomes.append(_guarded(storage, settings, source_id, resolve))
    return outcomes
