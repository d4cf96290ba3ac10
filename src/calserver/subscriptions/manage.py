"""Subscribe, list, change and unsubscribe (the CLI, the API and the web app call these)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from calserver import calendars, db
from calserver.accounts.users import validate_name
from calserver.db.models import collections, items, subscription_sources, subscriptions
from calserver.errors import InvalidInput, NotFound
from calserver.outbound import normalise_url
from calserver.storage import Storage

sources = subscription_sources
COLOR = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")


@dataclass(frozen=True)
class Subscription:
    id: int
    owner: str
    calendar: str  # the calendar's path, USER/CAL
    url: str
    name: str
    color: str
    interval: int | None
    strip_alarms: bool
    strip_attachments: bool
    events: int
    last_attempt: float
    last_success: float
    last_error: str
    failures: int
    next_fetch: float

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "calendar": self.calendar,
            "url": self.url,
            "name": self.name,
            "color": self.color,
            "interval": self.interval,
            "strip_alarms": self.strip_alarms,
            "strip_attachments": self.strip_attachments,
            "events": self.events,
            "last_attempt": _iso(self.last_attempt),
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "failures": self.failures,
            "next_fetch": _iso(self.next_fetch),
        }


def _iso(timestamp: float) -> str | None:
    if not timestamp:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _check_interval(configuration: Any, interval: int | None) -> int | None:
    if interval is None:
        return None
    low = configuration.get("subscriptions", "min_interval")
    high = configuration.get("subscriptions", "max_interval")
    if not isinstance(interval, int) or isinstance(interval, bool) or not low <= interval <= high:
        raise InvalidInput(f"the interval must be between {low} and {high} seconds")
    return interval


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]
    return slug or "subscription"


def _free_calendar_name(storage: Storage, user: str, base: str) -> str:
    name = base
    for number in range(2, 1000):
        if storage.load_collection(f"{user}/{name}") is None:
            return name
        name = f"{base}-{number}"
    raise InvalidInput("no free calendar name; give one")


def subscribe(
    storage: Storage,
    configuration: Any,
    user: str,
    url: str,
    *,
    name: str | None = None,
    calendar: str | None = None,
    color: str | None = None,
    interval: int | None = None,
    strip_alarms: bool = True,
    strip_attachments: bool = False,
) -> Subscription:
    """A new read-only calendar ``USER/CAL`` in ``user``'s home that shows ``url``; its
    first fetch is due at once (the worker, or :func:`refresh.refresh_user`)."""
    validate_name(user)
    try:
        url = normalise_url(url)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if len(url) > 2048:
        raise InvalidInput("the URL is longer than 2048 characters")
    interval = _check_interval(configuration, interval)
    if calendar:
        validate_name(calendar, "calendar name")
    else:
        host = url.split("/")[2].split(":")[0]
        calendar = _free_calendar_name(storage, user, _slug(name or host))
    display = name or url.split("/")[2]
    info = calendars.create(storage, f"{user}/{calendar}", display, color)
    try:
        with db.write_connection(storage.engine) as conn, conn.begin():
            collection_id = conn.execute(
                select(collections.c.id).where(collections.c.path == info.path)
            ).scalar_one()
            db.insert_missing(
                conn,
                sources,
                {
                    "url": url,
                    "etag": "",
                    "last_modified": "",
                    "body_hash": "",
                    "hint": None,
                    "next_fetch": 0.0,
                    "claimed_until": 0.0,
                    "failures": 0,
                    "last_error": "",
                    "last_attempt": 0.0,
                    "last_success": 0.0,
                },
                ["url"],
            )
            source_id = conn.execute(select(sources.c.id).where(sources.c.url == url)).scalar_one()
            # a new subscriber needs the body: the next fetch is unconditional and soon
            conn.execute(update(sources).where(sources.c.id == source_id).values(next_fetch=0.0))
            sid = conn.execute(
                subscriptions.insert()
                .values(
                    owner=user,
                    collection_id=collection_id,
                    source_id=source_id,
                    interval=interval,
                    strip_alarms=bool(strip_alarms),
                    strip_attachments=bool(strip_attachments),
                    applied_hash="",
                    created=time.time(),
                )
                .returning(subscriptions.c.id)
            ).scalar_one()
    except BaseException:
        storage.delete_collection(info.path)
        raise
    return get(storage, user, int(sid))


def _query():  # type: ignore[no-untyped-def]
    count = (
        select(func.count(items.c.id))
        .where(items.c.collection_id == subscriptions.c.collection_id)
        .scalar_subquery()
    )
    return (
        select(
            subscriptions,
            collections.c.path,
            collections.c.props,
            sources.c.url,
            sources.c.last_attempt,
            sources.c.last_success,
            sources.c.last_error,
            sources.c.failures,
            sources.c.next_fetch,
            count.label("events"),
        )
        .join(collections, collections.c.id == subscriptions.c.collection_id)
        .join(sources, sources.c.id == subscriptions.c.source_id)
        .order_by(collections.c.path)
    )


def _from_row(row: Any) -> Subscription:
    props = json.loads(row.props)
    return Subscription(
        id=row.id,
        owner=row.owner,
        calendar=row.path,
        url=row.url,
        name=props.get("D:displayname", ""),
        color=props.get("ICAL:calendar-color", ""),
        interval=row.interval,
        strip_alarms=bool(row.strip_alarms),
        strip_attachments=bool(row.strip_attachments),
        events=int(row.events or 0),
        last_attempt=row.last_attempt,
        last_success=row.last_success,
        last_error=row.last_error,
        failures=row.failures,
        next_fetch=row.next_fetch,
    )


def list_for(engine: Any, user: str) -> list[Subscription]:
    with db.read_transaction(engine) as conn:
        rows = conn.execute(_query().where(subscriptions.c.owner == user)).all()
    return [_from_row(row) for row in rows]


def get(storage: Storage, user: str, sid: int) -> Subscription:
    with db.read_transaction(storage.engine) as conn:
        row = conn.execute(
            _query().where(subscriptions.c.id == sid, subscriptions.c.owner == user)
        ).first()
    if row is None:
        raise NotFound(f"no subscription {sid} of {user}")
    return _from_row(row)


def change(
    storage: Storage,
    configuration: Any,
    user: str,
    sid: int,
    *,
    name: str | None = None,
    color: str | None = None,
    interval: int | bool | None = False,
    strip_alarms: bool | None = None,
    strip_attachments: bool | None = None,
) -> Subscription:
    """Change a subscription's options (``interval=None`` goes back to the default;
    False leaves it). New alarm or attachment options apply at the next fetch, which
    becomes due at once."""
    current = get(storage, user, sid)
    values: dict[str, Any] = {}
    if interval is not False:
        values["interval"] = _check_interval(configuration, interval)  # type: ignore[arg-type]
    for key, value in (("strip_alarms", strip_alarms), ("strip_attachments", strip_attachments)):
        if value is not None and value != getattr(current, key):
            values[key] = bool(value)
            values["applied_hash"] = ""  # applied again with the new options
    if name is not None or color is not None:
        _set_name_and_color(storage, current.calendar, name, color)
    if values:
        with db.write_connection(storage.engine) as conn, conn.begin():
            conn.execute(update(subscriptions).where(subscriptions.c.id == sid).values(**values))
            if "applied_hash" in values:
                _due_now(conn, sid)
    return get(storage, user, sid)


def _set_name_and_color(storage: Storage, path: str, name: str | None, color: str | None) -> None:
    if color and not COLOR.match(color):
        raise InvalidInput(f"invalid colour {color!r} (expected #RRGGBB)")
    if name is not None and not name.strip():
        raise InvalidInput("the name cannot be empty")
    collection = storage.load_collection(path)
    if collection is None:
        raise NotFound(f"no calendar {path}")
    props = dict(collection.get_meta())
    if name is not None:
        props["D:displayname"] = name.strip()
    if color is not None:
        if color:
            props["ICAL:calendar-color"] = color
        else:
            props.pop("ICAL:calendar-color", None)
    collection.set_meta(props)


def _due_now(conn: Connection, sid: int) -> None:
    source_id = select(subscriptions.c.source_id).where(subscriptions.c.id == sid)
    conn.execute(update(sources).where(sources.c.id.in_(source_id)).values(next_fetch=0.0))


def unsubscribe(storage: Storage, user: str, sid: int) -> None:
    """Delete the subscription and its calendar (a source nobody reads any more goes)."""
    current = get(storage, user, sid)
    storage.delete_collection(current.calendar)  # the subscription row goes by cascade
    with db.write_connection(storage.engine) as conn, conn.begin():
        conn.execute(delete(subscriptions).where(subscriptions.c.id == sid))
        prune_sources(conn)


def prune_sources(conn: Connection) -> None:
    """Sources without subscribers (their last calendar was deleted) are forgotten."""
    unused = sources.c.id.notin_(select(subscriptions.c.source_id))
    if conn.execute(select(sources.c.id).where(unused).limit(1)).first() is not None:
        conn.execute(delete(sources).where(unused))


def subscription_of(conn: Connection, collection_path: str) -> str | None:
    """The URL of the subscription shown in the calendar ``collection_path``, or None."""
    return conn.execute(
        select(sources.c.url)
        .join(subscriptions, subscriptions.c.source_id == sources.c.id)
        .join(collections, collections.c.id == subscriptions.c.collection_id)
        .where(collections.c.path == collection_path)
    ).scalar()
