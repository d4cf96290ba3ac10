"""The agenda by e-mail or SMS (issue 16 item 4).

Per user: the days of the week it goes out (none: off), the local time in the user's
time zone, the content (the ``same`` day or the ``next`` day), the channel, and extra
calendars they picked beside their own. The content is what the user sees in those
calendars at their level (``calserver.agenda``: busy blocks for busy-only views,
nothing of private events); an empty day sends nothing. "Send now" sends the same
content at once, at most once per ``[reminders] send_now_interval``.

Exactly once per day whichever worker runs: a worker claims the day with a
compare-and-set of ``last_day``. An agenda later than ``[reminders] max_lateness``
(the worker was stopped) is skipped for that day. Daylight-saving days take the local
time as written (a time that does not exist on the spring-forward day is read with the
offset before the change, i.e. an hour later in the new offset).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select, update

from calserver import agenda
from calserver.db import upsert, write_connection
from calserver.db.models import agendas, users
from calserver.errors import Conflict, InvalidInput
from calserver.ical import occurrences as occ
from calserver.mail import outbox
from calserver.reminders import clock, sms, store
from calserver.storage import Storage

DAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_storages: dict[int, Storage] = {}


@dataclass(frozen=True)
class Agenda:
    channel: str
    days: tuple[str, ...]
    send_time: str
    content: str
    calendars: tuple[str, ...]

    @property
    def enabled(self) -> bool:
        return bool(self.days)

    def as_json(self, timezone: str) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "channel": self.channel,
            "days": list(self.days),
            "time": self.send_time,
            "content": self.content,
            "calendars": list(self.calendars),
            "timezone": timezone,
        }


OFF = Agenda("email", (), "07:00", "same", ())


def _storage(configuration: Any) -> Storage:
    found = _storages.get(id(configuration))
    if found is None:
        found = _storages[id(configuration)] = Storage(configuration)
    return found


def _from_row(row: Any) -> Agenda:
    days = tuple(d for d in row.days.split(",") if d in DAYS)
    return Agenda(
        row.channel, days, row.send_time, row.content, tuple(json.loads(row.calendars or "[]"))
    )


def get(engine: Engine, user: str) -> Agenda:
    with engine.connect() as conn:
        row = conn.execute(select(agendas).where(agendas.c.user_name == user)).first()
    return OFF if row is None else _from_row(row)


def set_agenda(
    engine: Engine, configuration: Any, storage: Storage, user: str, body: dict[str, Any]
) -> Agenda:
    """Change what ``body`` gives (each value checked first: nothing changes on bad
    input); no day ticked turns the agenda off."""
    old = get(engine, user)
    days_in = body.get("days", list(old.days))
    if not isinstance(days_in, list) or any(str(d).lower() not in DAYS for d in days_in):
        raise InvalidInput("days must be a list of mo, tu, we, th, fr, sa, su")
    days = tuple(d for d in DAYS if d in {str(x).lower() for x in days_in})
    send_time = str(body.get("time", old.send_time))
    if not _TIME.match(send_time):
        raise InvalidInput(f"time must be HH:MM (00:00 to 23:59), not {send_time!r}")
    content = str(body.get("content", old.content))
    if content not in ("same", "next"):
        raise InvalidInput("content must be same (that day) or next (the next day)")
    channel = str(body.get("channel", old.channel))
    if channel not in store.CHANNELS:
        raise InvalidInput("channel must be email or sms")
    picked = body.get("calendars", list(old.calendars))
    if not isinstance(picked, list):
        raise InvalidInput("calendars must be a list of calendar paths")
    seen = {c.path for c in agenda.calendars(storage, user)}
    chosen = []
    for path in picked:
        clean = str(path).strip("/")
        if clean not in seen:
            raise InvalidInput(f"{path!r} is not a calendar you see")
        if clean not in chosen:
            chosen.append(clean)
    with write_connection(engine) as conn, conn.begin():
        if channel == "sms" and days:
            store.phone_ready(conn, configuration, user)
        upsert(
            conn,
            agendas,
            {
                "user_name": user,
                "channel": channel,
                "days": ",".join(days),
                "send_time": send_time,
                "content": content,
                "calendars": json.dumps(chosen),
            },
            ["user_name"],
        )
    return Agenda(channel, days, send_time, content, tuple(chosen))


def _scheduled(day: date, send_time: str, tz: ZoneInfo) -> float:
    hours, minutes = (int(part) for part in send_time.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=tz).timestamp()


def content(
    storage: Storage, user: str, settings: Agenda, day: date, tz: ZoneInfo
) -> tuple[str, list[str]]:
    """(title, lines) of the agenda of ``day``: [] when the day is empty."""
    shown = [
        c
        for c in agenda.calendars(storage, user)
        if c.kind == "own" or c.path in settings.calendars
    ]
    start, end = occ.days_window(day, day, tz)
    found = agenda.events(storage, user, shown, start, end, tz)
    lines = []
    for event in found:
        o = event.occurrence
        if o.status.upper() == "CANCELLED":
            continue
        if o.all_day:
            when = "all day"
        else:
            when = f"{occ.clock(o.start.astimezone(tz))}\u2013{occ.clock(o.end.astimezone(tz))}"
        lines.append(f"{when} {event.title} ({event.calendar.name})")
    return f"Agenda for {day.strftime('%a %d %b %Y')}", lines


def _send(
    conn: Connection,
    configuration: Any,
    user: str,
    settings: Agenda,
    title: str,
    lines: list[str],
    now: float,
) -> bool:
    if settings.channel == "sms":
        number = sms.verified_number(conn, user)
        if number is None or configuration.get("sms", "backend") == "none":
            return False
        sms.enqueue(conn, configuration, number, "\n".join([title, *lines]), now=now)
        return True
    address = conn.execute(select(users.c.email).where(users.c.name == user)).scalar()
    if not address:
        return False
    message = EmailMessage()
    message["To"] = address
    message["Subject"] = title
    message.set_content("\n".join([title, "", *lines]) + "\n")
    outbox.enqueue(conn, message, now=now)
    return True


def _day_of(settings: Agenda, local_day: date) -> date:
    return local_day + timedelta(days=1) if settings.content == "next" else local_day


def send_due(
    engine: Engine, configuration: Any, *, now: float | None = None, storage: Storage | None = None
) -> int:
    """Send every agenda due at ``now``; how many were sent."""
    now = clock.now() if now is None else now
    lateness = configuration.get("reminders", "max_lateness")
    with engine.connect() as conn:
        rows = conn.execute(select(agendas).where(agendas.c.days != "")).all()
    sent = 0
    for row in rows:
        settings = _from_row(row)
        with engine.connect() as conn:
            tz = store.zone_of(conn, configuration, row.user_name)
        today = datetime.fromtimestamp(now, tz).date()
        if DAYS[today.weekday()] not in settings.days or row.last_day == today.isoformat():
            continue
        scheduled = _scheduled(today, settings.send_time, tz)
        if now < scheduled:
            continue
        with write_connection(engine) as conn, conn.begin():
            claimed = conn.execute(
                update(agendas)
                .where(agendas.c.user_name == row.user_name, agendas.c.last_day == row.last_day)
                .values(last_day=today.isoformat())
            ).rowcount
            if claimed != 1 or now - scheduled > lateness:
                continue  # another worker has it, or it is stale (the worker was stopped)
            title, lines = content(
                storage or _storage(configuration),
                row.user_name,
                settings,
                _day_of(settings, today),
                tz,
            )
            if lines and _send(conn, configuration, row.user_name, settings, title, lines, now):
                sent += 1
    return sent


def send_now(
    engine: Engine, configuration: Any, storage: Storage, user: str, *, now: float | None = None
) -> dict[str, Any]:
    """Send the agenda the next scheduled run would send today, at once (rate-limited)."""
    now = clock.now() if now is None else now
    settings = get(engine, user)
    interval = configuration.get("reminders", "send_now_interval")
    with write_connection(engine) as conn, conn.begin():
        if settings.channel == "sms":
            store.phone_ready(conn, configuration, user)
        tz = store.zone_of(conn, configuration, user)
        exists = conn.execute(
            select(agendas.c.last_send_now).where(agendas.c.user_name == user)
        ).first()
        if exists is None:
            conn.execute(
                agendas.insert().values(
                    user_name=user,
                    channel=settings.channel,
                    days="",
                    send_time=settings.send_time,
                    content=settings.content,
                    calendars="[]",
                    last_day="",
                    last_send_now=0.0,
                )
            )
        claimed = conn.execute(
            update(agendas)
            .where(agendas.c.user_name == user, agendas.c.last_send_now <= now - interval)
            .values(last_send_now=now)
        ).rowcount
        if claimed != 1:
            raise Conflict(
                f"the agenda was sent less than {int(interval)} seconds ago: try again later"
            )
        day = _day_of(settings, datetime.fromtimestamp(now, tz).date())
        title, lines = content(storage, user, settings, day, tz)
        sent = bool(lines) and _send(conn, configuration, user, settings, title, lines, now)
    return {
        "sent": sent,
        "day": day.isoformat(),
        "events": len(lines),
        "at": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
