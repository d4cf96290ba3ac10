"""The reminders half of ``calserver worker``: delivers due reminders, sends agendas,
and passes SMS to the gateway.

Delivery of one reminder (issue 16 item 2), in the mail queue's style:

1. *Claim*: a compare-and-set ``UPDATE ... SET claimed_until = now + lease WHERE
   state = 'pending' AND claimed_until <= now``; only the worker whose update changed
   the row owns it (SQLite: one writer; PostgreSQL: a concurrent update waits, then
   re-checks), so several workers never deliver one reminder twice.
2. *Deliver*: in one transaction, the message is queued in the mail outbox (or the SMS
   queue) and the row marked ``sent`` only if this worker's lease still holds; a lost
   lease rolls the message back. The mail and SMS queues then retry with back-off.
3. An occurrence that is no longer in the event at the queued time (a write the
   storage does not announce: a meeting copy updated by the scheduling engine, a
   MOVE) is queued again from the event's text, not sent.
4. Later than ``[reminders] max_lateness`` (the worker was stopped): recorded as
   ``missed``, nothing sent. A person who may no longer see the event: ``hidden``.
5. The next occurrence is queued in the same transaction.

What a message says follows what the person sees (DESIGN.md's table): the owner and
readers of a public event get its title, time, place and notes; a busy-only viewer (or
a reader of a confidential event) "Busy" and the times; nobody but the owner anything
of a private event. Times are in the person's time zone.

"Now" comes from :mod:`calserver.reminders.clock` (``now=`` in tests).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.exc import OperationalError

from calserver.db import claim_row, write_connection
from calserver.db.models import collections, items, reminder_queue, reminders, users
from calserver.ical import occurrences as occ
from calserver.mail import outbox
from calserver.reminders import agenda_mail, clock, sms, store
from calserver.sharing import levels, redact
from calserver.sharing.visibility import Level

logger = logging.getLogger("calserver.reminders")

#: Seconds between two looks at the queue when the worker runs as a service.
POLL_SECONDS = 5.0
#: How long a worker owns a claimed reminder.
LEASE = 120.0


@dataclass
class Counts:
    sent: int = 0
    missed: int = 0
    hidden: int = 0
    failed: int = 0
    agendas: int = 0
    sms: int = 0
    requeued: int = 0  # the event had changed: queued again from its text

    def summary(self) -> str:
        return (
            f"reminders: sent {self.sent}, missed {self.missed}, hidden {self.hidden}, "
            f"failed {self.failed}; agendas sent {self.agendas}; SMS sent {self.sms}"
        )


def _due(now: float) -> Any:
    return (
        (reminder_queue.c.state == "pending")
        & (reminder_queue.c.not_before <= now)
        & (reminder_queue.c.claimed_until <= now)
    )


def claim(engine: Engine, now: float, lease: float = LEASE) -> tuple[Any, float] | None:
    """Take one due reminder for ``lease`` seconds: (its row, the lease's end)."""
    until = now + lease
    order = (reminder_queue.c.fire_at, reminder_queue.c.id)
    row = claim_row(engine, reminder_queue, _due(now), order, until)
    return None if row is None else (row, until)


class _LeaseLost(Exception):
    """Another worker took the row (or the event changed): roll the delivery back."""


def _finish(
    conn: Connection, row: Any, until: float, state: str, now: float, error: str = ""
) -> None:
    done = conn.execute(
        update(reminder_queue)
        .where(
            (reminder_queue.c.id == row.id)
            & (reminder_queue.c.state == "pending")
            & (reminder_queue.c.claimed_until == until)
        )
        .values(
            state=state, done_at=now, attempts=row.attempts + 1, last_error=error, claimed_until=0.0
        )
    ).rowcount
    if done != 1:
        raise _LeaseLost()


def _find_event(conn: Connection, row: Any) -> tuple[int, str, str, str] | None:
    """(collection id, calendar path, text, class) of the event; a MOVE the storage did
    not announce is followed by its UID among its owner's calendars."""
    found = conn.execute(
        select(items.c.text, items.c.klass, collections.c.path)
        .join(collections, collections.c.id == items.c.collection_id)
        .where(items.c.collection_id == row.collection_id, items.c.uid == row.uid)
    ).first()
    if found is not None:
        return row.collection_id, found.path, found.text, found.klass
    owner_path = conn.execute(
        select(collections.c.path).where(collections.c.id == row.collection_id)
    ).scalar()
    if owner_path is None:
        return None
    owner = owner_path.partition("/")[0]
    moved = conn.execute(
        select(items.c.collection_id, items.c.text, items.c.klass, collections.c.path)
        .join(collections, collections.c.id == items.c.collection_id)
        .where(
            items.c.uid == row.uid,
            collections.c.path.like(
                owner.replace("%", r"\%").replace("_", r"\_") + "/%", escape="\\"
            ),
            collections.c.tag == "VCALENDAR",
        )
        .limit(1)
    ).first()
    if moved is None:
        return None
    conn.execute(
        update(reminders)
        .where(reminders.c.collection_id == row.collection_id, reminders.c.uid == row.uid)
        .values(collection_id=moved.collection_id)
    )
    return moved.collection_id, moved.path, moved.text, moved.klass


def _when(start: datetime, end: datetime, all_day: bool, tz: ZoneInfo) -> str:
    first = start.astimezone(tz)
    if all_day:
        return first.strftime("%a %d %b %Y") + ", all day"
    last = end.astimezone(tz)
    return f"{first.strftime('%a %d %b %Y')}, {occ.clock(first)}\u2013{occ.clock(last)}"


def compose(row: Any, text: str, busy: bool, tz: ZoneInfo, calendar: str) -> tuple[str, str]:
    """(subject, body) of the reminder of the queued occurrence ``row``."""
    start = datetime.fromtimestamp(row.occ_start, tz)
    found = [
        o
        for o in store.timing.occurrences_from(text, row.occ_start, tz, store.timing._HORIZONS[0])
        if o.recurrence_id == row.occurrence
    ]
    if found:
        first = found[0]
        when = _when(first.start, first.end, first.all_day, tz)
        title, place, notes = first.summary, first.location, first.description
    else:
        when = start.strftime("%a %d %b %Y %H:%M")
        title, place, notes = "", "", ""
    if busy:
        times = when.split(", ", 1)[-1]
        return f"Reminder: {redact.BUSY_SUMMARY}, {times}", (
            f"{redact.BUSY_SUMMARY}, {when}\n\nCalendar: {calendar}\n"
        )
    title = title or "(no title)"
    lines = [title, when]
    if place:
        lines.append(f"Where: {place}")
    lines.append(f"Calendar: {calendar}")
    if notes:
        lines += ["", notes]
    return f"Reminder: {title}, {when}", "\n".join(lines) + "\n"


def _sms_text(subject: str, body: str) -> str:
    lines = [line for line in body.split("\n") if line.strip()]
    return "\n".join(["Reminder:", *lines[:4]])


def _still_due(text: str, tz: ZoneInfo, row: Any, entry: store.Reminder) -> bool:
    """Whether the queued occurrence is still in the event, at the queued time."""
    if entry.at is not None:
        return entry.at == row.fire_at
    found = store.timing.occurrences_from(text, row.occ_start, tz, timedelta(days=1))
    return any(
        o.recurrence_id == row.occurrence
        and o.start.timestamp() == row.occ_start
        and o.start.timestamp() - (entry.offset or 0) == row.fire_at
        for o in found
    )


def _deliver(
    engine: Engine,
    configuration: Any,
    row: Any,
    until: float,
    now: float,
    counts: Counts,
    *,
    check: bool = True,
) -> None:
    lateness = configuration.get("reminders", "max_lateness")
    with write_connection(engine) as conn, conn.begin():
        reminder = conn.execute(select(reminders).where(reminders.c.id == row.reminder_id)).first()
        found = _find_event(conn, row)
        if reminder is None or found is None:
            _finish(conn, row, until, "hidden", now, "the event or the reminder is gone")
            counts.hidden += 1
            return
        cid, calendar, text, klass = found
        entry = store.Reminder(
            reminder.id,
            reminder.user_name,
            cid,
            calendar,
            reminder.uid,
            reminder.channel,
            reminder.offset_seconds,
            reminder.at_time,
            reminder.source,
        )
        tz = store.zone_of(conn, configuration, row.user_name)
        level = levels.level_for(conn, row.user_name, calendar)
        if level < Level.BUSY or redact.shown_from(klass, "VEVENT") > level:
            _finish(conn, row, until, "hidden", now, "the person may no longer see the event")
            counts.hidden += 1
            return
        if check and not _still_due(text, tz, row, entry):
            # the event changed by a write the storage does not announce (a meeting
            # copy the scheduling engine updated, a MOVE): queue it again from its text
            dropped = conn.execute(
                delete(reminder_queue).where(
                    (reminder_queue.c.id == row.id) & (reminder_queue.c.claimed_until == until)
                )
            ).rowcount
            if dropped != 1:
                raise _LeaseLost()
            store.schedule(conn, configuration, entry, text, after_start=None, now=now)
            counts.requeued += 1
            return
        if now - row.fire_at > lateness:
            _finish(conn, row, until, "missed", now, "later than [reminders] max_lateness")
            counts.missed += 1
            logger.info("reminder %d missed (due %.0f s ago)", row.id, now - row.fire_at)
            store.schedule(conn, configuration, entry, text, after_start=row.occ_start, now=now)
            return
        subject, body = compose(row, text, redact.shows_busy(level, klass), tz, calendar)
        error = ""
        if row.channel == "sms":
            number = sms.verified_number(conn, row.user_name)
            if number is None or configuration.get("sms", "backend") == "none":
                error = "no verified phone number or no SMS gateway"
            else:
                sms.enqueue(conn, configuration, number, _sms_text(subject, body), now=now)
        else:
            address = conn.execute(
                select(users.c.email).where(users.c.name == row.user_name)
            ).scalar()
            if not address:
                error = f"{row.user_name} has no e-mail address"
            else:
                message = EmailMessage()
                message["To"] = address
                message["Subject"] = subject
                message.set_content(body)
                outbox.enqueue(conn, message, now=now)
        _finish(conn, row, until, "failed" if error else "sent", now, error)
        if error:
            counts.failed += 1
            logger.warning("reminder %d not sent: %s", row.id, error)
        else:
            counts.sent += 1
        store.schedule(conn, configuration, entry, text, after_start=row.occ_start, now=now)


def deliver_due(
    engine: Engine,
    configuration: Any,
    *,
    now: float | None = None,
    stop: threading.Event | None = None,
) -> Counts:
    """Deliver every reminder due at ``now``."""
    now = clock.now() if now is None else now
    counts = Counts()
    requeued: set[str] = set()
    while stop is None or not stop.is_set():
        claimed = claim(engine, now)
        if claimed is None:
            break
        row, until = claimed
        try:
            before = counts.requeued
            # a row queued again in this pass is delivered as it is (never a loop)
            _deliver(
                engine, configuration, row, until, now, counts, check=row.dedup_key not in requeued
            )
            if counts.requeued > before:
                requeued.add(row.dedup_key)
        except _LeaseLost:
            logger.info("reminder %d was taken over or changed meanwhile", row.id)
    return counts


def run_once(
    engine: Engine,
    configuration: Any,
    *,
    now: float | None = None,
    stop: threading.Event | None = None,
) -> Counts:
    """One pass: reminders, agendas, then the SMS gateway's queue."""
    now = clock.now() if now is None else now
    counts = deliver_due(engine, configuration, now=now, stop=stop)
    counts.agendas = agenda_mail.send_due(engine, configuration, now=now)
    counts.sms = sms.send_due(engine, configuration, now=now, stop=stop).sent
    return counts


def run_forever(
    engine: Engine, configuration: Any, stop: threading.Event, poll: float = POLL_SECONDS
) -> None:
    logger.info("reminders worker started")
    while not stop.is_set():
        try:
            deliver_due(engine, configuration, stop=stop)
            agenda_mail.send_due(engine, configuration)
        except OperationalError as exc:
            logger.error("reminders worker: database error: %s", exc.orig or exc)
        stop.wait(poll)
    logger.info("reminders worker stopped")


def run_sms_forever(
    engine: Engine, configuration: Any, stop: threading.Event, poll: float = POLL_SECONDS
) -> None:
    """The SMS gateway's own loop: a slow gateway never holds the reminders."""
    while not stop.is_set():
        try:
            sms.send_due(engine, configuration, stop=stop)
        except OperationalError as exc:
            logger.error("SMS worker: database error: %s", exc.orig or exc)
        stop.wait(poll)
