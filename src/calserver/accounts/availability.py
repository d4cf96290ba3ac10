"""A user's availability (RFC 7953): their working hours, stored as the text of one
VCALENDAR of VAVAILABILITY components (table ``availability``), set through CalDAV
(``CALDAV:calendar-availability`` on the schedule inbox, RFC 7953 §7.2.4), the JSON API
(``/.api/v1/me/availability``) and the web app (``/.web/settings/availability``), all
through :func:`set_text` / :func:`set_weekly` / :func:`clear`. Free/busy answers
(``calserver.dav.freebusy``, ``calserver.dav.scheduling``) read it with :func:`busy_of`.

The rules of the text and the computation are pure: ``calserver.ical.availability``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from calserver.accounts import directory
from calserver.db import read_transaction, write_transaction
from calserver.db.models import availability, users
from calserver.errors import InvalidInput, NotFound
from calserver.ical import availability as rules
from calserver.ical.availability import BadAvailability, Hours, Period


def load(conn: Connection, user: str) -> str | None:
    """The availability text of ``user``, or None when they set none."""
    found = conn.execute(
        select(availability.c.text)
        .select_from(availability.join(users, users.c.id == availability.c.user_id))
        .where(users.c.name == user)
    ).scalar()
    return str(found) if found is not None else None


def get(engine: Engine, user: str) -> str | None:
    with read_transaction(engine) as conn:
        return load(conn, user)


def check(text: str) -> str:
    """``text`` when it is availability calserver keeps, else :class:`InvalidInput`
    saying why (RFC 7953 §3: one VCALENDAR of VAVAILABILITY components holding
    AVAILABLE subcomponents; at most ``MAX_SIZE`` bytes)."""
    try:
        rules.parse(text)
    except BadAvailability as exc:
        raise InvalidInput(f"invalid availability: {exc}") from exc
    return text


def set_text(engine: Engine, user: str, text: str) -> str:
    """Store ``text`` as ``user``'s availability (checked first: nothing changes on bad
    input)."""
    check(text)
    with write_transaction(engine) as conn:
        user_id = directory.user_id(conn, user)
        if user_id is None:
            raise NotFound(f"no user {user!r}")
        values = {"text": text, "updated": time.time()}
        changed = conn.execute(
            update(availability).where(availability.c.user_id == user_id).values(**values)
        ).rowcount
        if not changed:
            conn.execute(insert(availability).values(user_id=user_id, **values))
    return text


def weekly(timezone: str, hours: Sequence[tuple[str, str, str]]) -> str:
    """The availability text of weekly working hours: (day MO..SU, "HH:MM", "HH:MM")
    in ``timezone``; :class:`InvalidInput` on a bad value."""
    try:
        parsed = [
            Hours(str(day).strip().upper()[:2], rules.parse_time(start), rules.parse_time(end))
            for day, start, end in hours
        ]
        return rules.weekly_text(timezone, parsed)
    except BadAvailability as exc:
        raise InvalidInput(f"invalid working hours: {exc}") from exc


def set_weekly(
    engine: Engine, user: str, timezone: str, hours: Sequence[tuple[str, str, str]]
) -> str:
    return set_text(engine, user, weekly(timezone, hours))


def clear(engine: Engine, user: str) -> bool:
    """Forget ``user``'s availability; whether there was one."""
    with write_transaction(engine) as conn:
        user_id = directory.user_id(conn, user)
        if user_id is None:
            raise NotFound(f"no user {user!r}")
        return bool(
            conn.execute(delete(availability).where(availability.c.user_id == user_id)).rowcount
        )


def as_json(text: str | None) -> dict[str, Any]:
    """The API's shape: ``ics`` (the text, null when unset) and, when the text is weekly
    hours, ``timezone`` and ``weekly`` ([{day, start, end}]), else null."""
    found = rules.weekly_hours(text) if text else None
    return {
        "ics": text,
        "timezone": found[0] if found else None,
        "weekly": (
            [{"day": h.day, "start": f"{h.start:%H:%M}", "end": f"{h.end:%H:%M}"} for h in found[1]]
            if found
            else None
        ),
    }


def busy_of(conn: Connection, user: str, start: dt.datetime, end: dt.datetime) -> list[Period]:
    """The busy periods ``user``'s availability means between ``start`` and ``end``
    (RFC 7953 §4); none without availability. A stored text that no longer parses
    (from before a rule) counts as none."""
    text = load(conn, user)
    if not text:
        return []
    try:
        return rules.busy_periods(text, start, end)
    except BadAvailability:
        return []
