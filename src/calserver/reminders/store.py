"""Reminders kept on the server (issue 16 item 1): who is reminded of which event, on
which channel, when; and the due-queue the worker delivers from.

A reminder belongs to the person who set it and names the event by its calendar's own
id and its UID (every occurrence of a series). The queue holds, for each reminder, its
*next* occurrence only (:func:`schedule`); the worker queues the one after when it
delivers (or records as missed) one, and every write of the event queues again
(:mod:`calserver.reminders.hooks`), so moved, excluded and cancelled occurrences are
followed. A queue row's ``dedup_key`` is unique per (person, UID, occurrence, channel,
offset): two copies of one meeting (an organizer who is also an attendee, a calendar
shared with the attendee) remind once.

Rules (each refused with the reason): no reminder on a group calendar (409: a member
sets one on their own copy of the meeting); the person must see the event (busy-only
viewers get "Busy" reminders; a private event is the owner's alone, 404 to others);
offsets from 0 to 28 days, an absolute time before an occurrence's start (400); at most
ten per person and event (400); SMS needs a verified phone and a gateway (409).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from calserver.accounts import settings as user_settings
from calserver.db import insert_missing, write_connection
from calserver.db.models import (
    collections,
    items,
    phones,
    reminder_defaults,
    reminder_queue,
    reminders,
)
from calserver.errors import Conflict, InvalidInput, NotFound
from calserver.reminders import clock, timing
from calserver.sharing import levels, redact
from calserver.sharing.visibility import Level

CHANNELS = ("email", "sms")
#: Occurrences already reminded of that :func:`schedule` passes over, at most.
_PASSES = 50


@dataclass(frozen=True)
class Reminder:
    id: int
    user: str
    collection_id: int
    calendar: str  # the calendar's own path
    uid: str
    channel: str
    offset: int | None  # seconds before each occurrence
    at: float | None  # one instant, POSIX seconds
    source: str

    def as_json(self, tz: ZoneInfo, next_due: float | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "calendar": self.calendar,
            "uid": self.uid,
            "channel": self.channel,
            "minutes_before": None if self.offset is None else self.offset // 60,
            "at": None if self.at is None else iso(self.at),
            "source": self.source,
            "description": timing.describe_offset(self.offset, self.at, tz),
            "next": None if next_due is None else iso(next_due),
        }


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str) -> float:
    """An ISO 8601 instant with its offset (``2026-12-07T09:45:00Z``)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"not an ISO 8601 date-time: {value!r}") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"the time {value!r} needs its UTC offset (or Z)")
    return moment.timestamp()


def _row_reminder(row: Any, calendar: str) -> Reminder:
    return Reminder(
        row.id,
        row.user_name,
        row.collection_id,
        calendar,
        row.uid,
        row.channel,
        row.offset_seconds,
        row.at_time,
        row.source,
    )


# --- what a person may be reminded of ---------------------------------------------------


@dataclass(frozen=True)
class Target:
    collection_id: int
    calendar: str  # the calendar's own path
    level: Level


def target_of(conn: Connection, user: str, path: str) -> Target:
    """The calendar ``user`` names ``path`` (their own, or an alias in their home)."""
    clean = path.strip("/")
    resolved = levels.resolve(conn, user, clean)
    target = resolved.target or clean
    if target.startswith("@"):
        raise Conflict(
            f"{target} is a group calendar: reminders are not set on group calendars; "
            "set one on your own copy of the meeting instead"
        )
    level = levels.level_for(conn, user, target)
    cid = conn.execute(
        select(collections.c.id).where(
            collections.c.path == target, collections.c.tag == "VCALENDAR"
        )
    ).scalar()
    if cid is None or level < Level.BUSY:
        raise NotFound(f"no calendar {path!r}")
    return Target(cid, target, level)


def visible_text(conn: Connection, user: str, target: Target, uid: str) -> str | None:
    """The event's stored text if ``user`` may see it at all (DESIGN.md's table), else
    None. Its times are what every level sees; its words are shown through
    :func:`calserver.reminders.deliver`'s redaction."""
    row = conn.execute(
        select(items.c.text, items.c.klass, items.c.component).where(
            items.c.collection_id == target.collection_id, items.c.uid == uid
        )
    ).first()
    if row is None or row.component != "VEVENT":
        return None
    if redact.shown_from(row.klass, row.component) > target.level:
        return None
    return str(row.text)


def zone_of(conn: Connection, configuration: Any, user: str) -> ZoneInfo:
    return user_settings.load(conn, configuration, user).zone


def phone_ready(conn: Connection, configuration: Any, user: str) -> None:
    """Refuse SMS (409) unless a gateway is configured and the user's phone verified."""
    if configuration.get("sms", "backend") == "none":
        raise Conflict("SMS are not available: this server has no SMS gateway ([sms] backend)")
    verified = conn.execute(select(phones.c.verified).where(phones.c.user_name == user)).scalar()
    if not verified:
        raise Conflict("SMS need a verified phone number: add one and enter its code first")


def check_when(
    text: str,
    tz: ZoneInfo,
    minutes_before: int | None,
    at: str | None,
    now: float,
) -> tuple[int | None, float | None]:
    """(offset seconds, instant) of a reminder asked for, checked (400 with the reason)."""
    if (minutes_before is None) == (at is None):
        raise InvalidInput("give either minutes_before or at")
    if minutes_before is not None:
        if isinstance(minutes_before, bool) or not isinstance(minutes_before, int):
            raise InvalidInput("minutes_before must be a whole number of minutes")
        if minutes_before < 0:
            raise InvalidInput("a reminder cannot come after the event's start")
        if minutes_before * 60 > timing.MAX_OFFSET:
            raise InvalidInput("a reminder comes at most 28 days (40320 minutes) before")
        return minutes_before * 60, None
    moment = parse_instant(str(at))
    start = timing.first_start(text, tz, moment)
    if start is None:
        raise InvalidInput("that time is after the event's start: a reminder comes before it")
    if start - moment > timing.MAX_OFFSET:
        raise InvalidInput("a reminder comes at most 28 days before the event")
    if moment < now:
        raise InvalidInput("that time is in the past")
    return None, moment


# --- the queue ------------------------------------------------------------------------


def dedup_key(
    user: str, uid: str, occurrence: str, channel: str, offset: int | None, at: float | None
) -> str:
    when = f"@{at:.0f}" if at is not None else str(offset or 0)
    raw = "\x00".join((user, uid, occurrence, channel, when))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def schedule(
    conn: Connection,
    configuration: Any,
    reminder: Reminder,
    text: str,
    *,
    after_start: float | None,
    now: float,
) -> float | None:
    """Queue the next occurrence of ``reminder`` (after ``after_start``) that was not
    reminded of yet; its time, or None when nothing is left to remind of. An occurrence
    already sent, missed or queued by another copy of the event (its dedup key is
    taken) is passed over."""
    tz = zone_of(conn, configuration, reminder.user)
    lateness = configuration.get("reminders", "max_lateness")
    for _ in range(_PASSES):
        fire = timing.next_fire(
            text,
            tz,
            offset=reminder.offset,
            at=reminder.at,
            after_start=after_start,
            earliest=now - lateness,
        )
        if fire is None:
            return None
        key = dedup_key(
            reminder.user,
            reminder.uid,
            fire.occurrence,
            reminder.channel,
            reminder.offset,
            reminder.at,
        )
        values = {
            "reminder_id": reminder.id,
            "user_name": reminder.user,
            "collection_id": reminder.collection_id,
            "uid": reminder.uid,
            "occurrence": fire.occurrence,
            "channel": reminder.channel,
            "occ_start": fire.start.timestamp(),
            "fire_at": fire.fire_at,
            "state": "pending",
            "attempts": 0,
            "not_before": fire.fire_at,
            "claimed_until": 0.0,
            "last_error": "",
            "dedup_key": key,
        }
        # (the row count of ON CONFLICT DO NOTHING is not reliable on every driver:
        # read the key's state back instead)
        insert_missing(conn, reminder_queue, values, ["dedup_key"])
        state = conn.execute(
            select(reminder_queue.c.state).where(reminder_queue.c.dedup_key == key)
        ).scalar()
        if state == "pending":
            return fire.fire_at
        if reminder.at is not None:
            return None
        after_start = fire.start.timestamp()
    return None


def _unqueue(conn: Connection, condition: Any, now: float) -> None:
    """Drop pending rows nobody holds (a held one finds itself gone when it is marked)."""
    conn.execute(
        delete(reminder_queue).where(
            condition,
            reminder_queue.c.state == "pending",
        )
    )


def event_reminders(conn: Connection, collection_id: int, uid: str) -> list[Reminder]:
    rows = conn.execute(
        select(reminders, collections.c.path)
        .join(collections, collections.c.id == reminders.c.collection_id)
        .where(reminders.c.collection_id == collection_id, reminders.c.uid == uid)
        .order_by(reminders.c.id)
    ).all()
    return [_row_reminder(row, row.path) for row in rows]


def requeue_event(
    conn: Connection,
    configuration: Any,
    collection_id: int,
    uid: str,
    text: str | None,
    *,
    now: float | None = None,
) -> None:
    """The event was written (``text``) or deleted (None): queue its reminders again."""
    now = clock.now() if now is None else now
    _unqueue(
        conn,
        and_(reminder_queue.c.collection_id == collection_id, reminder_queue.c.uid == uid),
        now,
    )
    if text is None:
        conn.execute(
            delete(reminders).where(
                reminders.c.collection_id == collection_id, reminders.c.uid == uid
            )
        )
        return
    for reminder in event_reminders(conn, collection_id, uid):
        schedule(conn, configuration, reminder, text, after_start=None, now=now)


def _requeue_one(conn: Connection, configuration: Any, reminder: Reminder, now: float) -> None:
    _unqueue(conn, reminder_queue.c.reminder_id == reminder.id, now)
    text = conn.execute(
        select(items.c.text).where(
            items.c.collection_id == reminder.collection_id, items.c.uid == reminder.uid
        )
    ).scalar()
    if text is not None:
        schedule(conn, configuration, reminder, str(text), after_start=None, now=now)


def next_due(conn: Connection, reminder_id: int) -> float | None:
    return conn.execute(
        select(reminder_queue.c.fire_at).where(
            reminder_queue.c.reminder_id == reminder_id, reminder_queue.c.state == "pending"
        )
    ).scalar()


# --- the person's reminders -------------------------------------------------------------


def list_for(engine: Engine, user: str) -> list[tuple[Reminder, float | None]]:
    """Every reminder of ``user`` with its next time."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(reminders, collections.c.path)
            .join(collections, collections.c.id == reminders.c.collection_id)
            .where(reminders.c.user_name == user)
            .order_by(collections.c.path, reminders.c.uid, reminders.c.id)
        ).all()
        return [(_row_reminder(row, row.path), next_due(conn, row.id)) for row in rows]


def for_event(
    engine: Engine, user: str, path: str, uid: str
) -> list[tuple[Reminder, float | None]]:
    with engine.connect() as conn:
        target = target_of(conn, user, path)
        if visible_text(conn, user, target, uid) is None:
            raise NotFound(f"no event {uid!r} in {path!r}")
        return [
            (r, next_due(conn, r.id))
            for r in event_reminders(conn, target.collection_id, uid)
            if r.user == user
        ]


def _insert(
    conn: Connection,
    user: str,
    target: Target,
    uid: str,
    channel: str,
    offset: int | None,
    at: float | None,
    source: str,
    now: float,
) -> Reminder:
    result = conn.execute(
        insert(reminders).values(
            user_name=user,
            collection_id=target.collection_id,
            uid=uid,
            channel=channel,
            offset_seconds=offset,
            at_time=at,
            source=source,
            created=now,
        )
    )
    rid = int(result.inserted_primary_key[0])  # type: ignore[index]
    return Reminder(
        rid, user, target.collection_id, target.calendar, uid, channel, offset, at, source
    )


def _check_channel(conn: Connection, configuration: Any, user: str, channel: str) -> None:
    if channel not in CHANNELS:
        raise InvalidInput(f"channel must be email or sms, not {channel!r}")
    if channel == "sms":
        phone_ready(conn, configuration, user)


def add(
    engine: Engine,
    configuration: Any,
    user: str,
    path: str,
    uid: str,
    channel: str,
    *,
    minutes_before: int | None = None,
    at: str | None = None,
    now: float | None = None,
) -> Reminder:
    """A new reminder of ``user`` on the event ``uid`` of the calendar ``path``."""
    now = clock.now() if now is None else now
    with write_connection(engine) as conn, conn.begin():
        target = target_of(conn, user, path)
        text = visible_text(conn, user, target, uid)
        if text is None:
            raise NotFound(f"no event {uid!r} in {path!r}")
        _check_channel(conn, configuration, user, channel)
        tz = zone_of(conn, configuration, user)
        offset, moment = check_when(text, tz, minutes_before, at, now)
        mine = [r for r in event_reminders(conn, target.collection_id, uid) if r.user == user]
        if len(mine) >= timing.MAX_PER_EVENT:
            raise InvalidInput(f"at most {timing.MAX_PER_EVENT} reminders per event")
        reminder = _insert(conn, user, target, uid, channel, offset, moment, "user", now)
        schedule(conn, configuration, reminder, text, after_start=None, now=now)
        return reminder


def replace_for_event(
    engine: Engine,
    configuration: Any,
    user: str,
    path: str,
    uid: str,
    wanted: list[dict[str, Any]],
    *,
    now: float | None = None,
) -> list[Reminder]:
    """Set the reminders ``user`` has on one event to ``wanted`` (each {channel,
    minutes_before | at}); all checked before anything changes."""
    now = clock.now() if now is None else now
    if len(wanted) > timing.MAX_PER_EVENT:
        raise InvalidInput(f"at most {timing.MAX_PER_EVENT} reminders per event")
    with write_connection(engine) as conn, conn.begin():
        target = target_of(conn, user, path)
        text = visible_text(conn, user, target, uid)
        if text is None:
            raise NotFound(f"no event {uid!r} in {path!r}")
        tz = zone_of(conn, configuration, user)
        checked = []
        for entry in wanted:
            channel = str(entry.get("channel", "email"))
            _check_channel(conn, configuration, user, channel)
            offset, moment = check_when(text, tz, entry.get("minutes_before"), entry.get("at"), now)
            if (channel, offset, moment) not in checked:
                checked.append((channel, offset, moment))
        for old in event_reminders(conn, target.collection_id, uid):
            if old.user == user:
                _unqueue(conn, reminder_queue.c.reminder_id == old.id, now)
                conn.execute(delete(reminders).where(reminders.c.id == old.id))
        made = []
        for channel, offset, moment in checked:
            reminder = _insert(conn, user, target, uid, channel, offset, moment, "user", now)
            schedule(conn, configuration, reminder, text, after_start=None, now=now)
            made.append(reminder)
        return made


def _own(conn: Connection, user: str, reminder_id: int) -> Reminder:
    row = conn.execute(
        select(reminders, collections.c.path)
        .join(collections, collections.c.id == reminders.c.collection_id)
        .where(reminders.c.id == reminder_id, reminders.c.user_name == user)
    ).first()
    if row is None:
        raise NotFound(f"no reminder {reminder_id}")
    return _row_reminder(row, row.path)


def change(
    engine: Engine,
    configuration: Any,
    user: str,
    reminder_id: int,
    *,
    channel: str | None = None,
    minutes_before: int | None = None,
    at: str | None = None,
    now: float | None = None,
) -> Reminder:
    """Edit one reminder: its channel, or its time (an offset or an instant)."""
    now = clock.now() if now is None else now
    with write_connection(engine) as conn, conn.begin():
        old = _own(conn, user, reminder_id)
        target = Target(old.collection_id, old.calendar, levels.level_for(conn, user, old.calendar))
        text = visible_text(conn, user, target, old.uid)
        if text is None:
            raise NotFound(f"no reminder {reminder_id}")
        new_channel = channel if channel is not None else old.channel
        _check_channel(conn, configuration, user, new_channel)
        offset, moment = old.offset, old.at
        if minutes_before is not None or at is not None:
            tz = zone_of(conn, configuration, user)
            offset, moment = check_when(text, tz, minutes_before, at, now)
        conn.execute(
            update(reminders)
            .where(reminders.c.id == reminder_id)
            .values(channel=new_channel, offset_seconds=offset, at_time=moment, source="user")
        )
        reminder = Reminder(
            old.id,
            user,
            old.collection_id,
            old.calendar,
            old.uid,
            new_channel,
            offset,
            moment,
            "user",
        )
        _requeue_one(conn, configuration, reminder, now)
        return reminder


def cancel(engine: Engine, user: str, reminder_id: int) -> None:
    with write_connection(engine) as conn, conn.begin():
        _own(conn, user, reminder_id)
        _unqueue(conn, reminder_queue.c.reminder_id == reminder_id, 0.0)
        conn.execute(delete(reminders).where(reminders.c.id == reminder_id))


# --- per-calendar defaults and client VALARMs (the write hook) -------------------------------


def defaults_for(engine: Engine, user: str, path: str) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        target = target_of(conn, user, path)
        rows = conn.execute(
            select(reminder_defaults.c.channel, reminder_defaults.c.offset_seconds)
            .where(
                reminder_defaults.c.user_name == user,
                reminder_defaults.c.collection_id == target.collection_id,
            )
            .order_by(reminder_defaults.c.offset_seconds)
        ).all()
    return [(row.channel, row.offset_seconds) for row in rows]


def set_defaults(
    engine: Engine, configuration: Any, user: str, path: str, wanted: list[dict[str, Any]]
) -> list[tuple[str, int]]:
    """The reminders every new event of the calendar gets for ``user``."""
    if len(wanted) > timing.MAX_PER_EVENT:
        raise InvalidInput(f"at most {timing.MAX_PER_EVENT} default reminders")
    with write_connection(engine) as conn, conn.begin():
        target = target_of(conn, user, path)
        checked: list[tuple[str, int]] = []
        for entry in wanted:
            channel = str(entry.get("channel", "email"))
            _check_channel(conn, configuration, user, channel)
            minutes = entry.get("minutes_before")
            if "at" in entry or minutes is None:
                raise InvalidInput("a default reminder is minutes_before the start")
            offset, _ = check_when("", ZoneInfo("UTC"), minutes, None, 0.0)
            if (channel, offset or 0) not in checked:
                checked.append((channel, offset or 0))
        conn.execute(
            delete(reminder_defaults).where(
                reminder_defaults.c.user_name == user,
                reminder_defaults.c.collection_id == target.collection_id,
            )
        )
        for channel, offset in checked:
            conn.execute(
                insert(reminder_defaults).values(
                    user_name=user,
                    collection_id=target.collection_id,
                    channel=channel,
                    offset_seconds=offset,
                )
            )
    return sorted(checked, key=lambda entry: entry[1])


def apply_defaults(conn: Connection, collection_id: int, uid: str, now: float) -> None:
    """A new event: the defaults of everyone who set some on its calendar."""
    rows = conn.execute(
        select(reminder_defaults).where(reminder_defaults.c.collection_id == collection_id)
    ).all()
    if not rows:
        return
    path = conn.execute(
        select(collections.c.path).where(collections.c.id == collection_id)
    ).scalar_one()
    for row in rows:
        target = Target(collection_id, path, levels.level_for(conn, row.user_name, path))
        if target.level < Level.BUSY:
            continue
        _insert(
            conn, row.user_name, target, uid, row.channel, row.offset_seconds, None, "default", now
        )


def sync_alarms(
    conn: Connection, collection_id: int, calendar: str, uid: str, text: str, now: float
) -> None:
    """The ``ACTION:EMAIL`` VALARMs of the event become e-mail reminders of the
    calendar's owner (source ``valarm``); none on a group calendar."""
    owner = calendar.partition("/")[0]
    if owner.startswith("@"):
        return
    wanted = timing.email_alarms(text) if "ACTION:EMAIL" in text.upper() else []
    existing = [
        r
        for r in event_reminders(conn, collection_id, uid)
        if r.user == owner and r.source == "valarm"
    ]
    have = {(r.offset, r.at): r for r in existing}
    for key, reminder in have.items():
        if key not in wanted:
            _unqueue(conn, reminder_queue.c.reminder_id == reminder.id, now)
            conn.execute(delete(reminders).where(reminders.c.id == reminder.id))
    target = Target(collection_id, calendar, Level.OWNER)
    for offset, at in wanted:
        if (offset, at) not in have:
            _insert(conn, owner, target, uid, "email", offset, at, "valarm", now)


def has_any(conn: Connection, collection_id: int, uid: str) -> bool:
    return (
        conn.execute(
            select(reminders.c.id)
            .where(reminders.c.collection_id == collection_id, reminders.c.uid == uid)
            .limit(1)
        ).first()
        is not None
    )


def has_defaults(conn: Connection, collection_id: int) -> bool:
    return (
        conn.execute(
            select(reminder_defaults.c.user_name)
            .where(reminder_defaults.c.collection_id == collection_id)
            .limit(1)
        ).first()
        is not None
    )
