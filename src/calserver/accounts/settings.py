"""A user's own settings (issue 4 item 7): time zone, default event duration, first
day of the week; and (issue 14 item 8) whether meetings reach them by e-mail as well as
in their calendar (:func:`wants_email`). The feeds, the public pages and imports of
events without an end use them; where a user set nothing, the server's
``[feeds] timezone`` and ``[feeds] default_duration`` apply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine, select, update

from calserver.db import write_connection
from calserver.db.models import users
from calserver.errors import InvalidInput, NotFound

#: The longest default duration one may set (a week).
MAX_DURATION_MINUTES = 7 * 24 * 60
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m?)?$")
_ISO_DURATION = re.compile(r"^PT(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?$")


@dataclass(frozen=True)
class Settings:
    timezone: str
    default_duration: int  # minutes
    week_start: int  # 0 = Monday ... 6 = Sunday
    #: What the user set themselves ("" / 0 where the server's default applies).
    own_timezone: str = ""
    own_default_duration: int = 0
    #: E-mail about meetings (invitations, updates, cancellations, answers) as well as
    #: the calendar's own notices; off: the calendar only.
    email_notifications: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.default_duration)

    def as_json(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "default_duration": self.default_duration,
            "week_start": WEEKDAYS[self.week_start],
        }


def parse_timezone(value: str) -> str:
    name = value.strip()
    if not name:
        return ""  # back to the server's default
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {value!r} (use an IANA name)") from exc
    return name


def parse_duration(value: str | int) -> int:
    """Minutes from ``45m``, ``1h30m``, ``2h``, ``90`` or ``PT1H30M``; 0 (``""``) means
    the server's default."""
    text = str(value).strip()
    if not text:
        return 0
    match = _DURATION.match(text.lower()) or _ISO_DURATION.match(text.upper())
    if match is None or not any(match.groups()):
        raise InvalidInput(f"invalid duration {value!r} (e.g. 45m, 1h30m, 2h)")
    minutes = int(match["h"] or 0) * 60 + int(match["m"] or 0)
    if not 1 <= minutes <= MAX_DURATION_MINUTES:
        raise InvalidInput(f"the default duration must be 1 minute to 7 days, not {value!r}")
    return minutes


def parse_week_start(value: str | int) -> int:
    text = str(value).strip().lower()
    for number, day in enumerate(WEEKDAYS):
        if text in (day, day[:3], str(number)):
            return number
    raise InvalidInput(f"invalid first day of the week {value!r} (monday ... sunday)")


def _from_row(row: Any, configuration: Any) -> Settings:
    return Settings(
        timezone=row.timezone or configuration.get("feeds", "timezone"),
        default_duration=row.default_duration or configuration.get("feeds", "default_duration"),
        week_start=row.week_start,
        own_timezone=row.timezone,
        own_default_duration=row.default_duration,
        email_notifications=bool(row.email_notifications),
    )


def load(conn: Connection, configuration: Any, user: str) -> Settings:
    row = conn.execute(
        select(
            users.c.timezone,
            users.c.default_duration,
            users.c.week_start,
            users.c.email_notifications,
        ).where(users.c.name == user)
    ).first()
    if row is None:
        raise NotFound(f"no user {user!r}")
    return _from_row(row, configuration)


def get(engine: Engine, configuration: Any, user: str) -> Settings:
    with engine.connect() as conn:
        return load(conn, configuration, user)


def update_settings(
    engine: Engine,
    configuration: Any,
    user: str,
    *,
    timezone: str | None = None,
    default_duration: str | int | None = None,
    week_start: str | int | None = None,
    email_notifications: bool | None = None,
) -> Settings:
    """Change what is given (each value checked first: nothing changes on bad input)."""
    values: dict[str, Any] = {}
    if timezone is not None:
        values["timezone"] = parse_timezone(timezone)
    if default_duration is not None:
        values["default_duration"] = parse_duration(default_duration)
    if week_start is not None:
        values["week_start"] = parse_week_start(week_start)
    if email_notifications is not None:
        values["email_notifications"] = bool(email_notifications)
    with write_connection(engine) as conn, conn.begin():
        if values:
            result = conn.execute(update(users).where(users.c.name == user).values(**values))
            if result.rowcount == 0:
                raise NotFound(f"no user {user!r}")
        return load(conn, configuration, user)


def wants_email(conn: Connection, user: str) -> bool:
    """Whether meetings reach ``user`` by e-mail too (their switch; on for an unknown
    name, which has no account to hold one)."""
    found = conn.execute(select(users.c.email_notifications).where(users.c.name == user)).scalar()
    return True if found is None else bool(found)
