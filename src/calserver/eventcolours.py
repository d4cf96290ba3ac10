"""Per-user event colours (issue 14 section 4): "a colour on a meeting is shown only to
the person who set it".

A colour is kept beside the event, never in it: one row of ``event_colours`` per
(user, calendar, UID), so the organizer's colour never reaches the attendees' copies
(an iCalendar ``COLOR`` property, RFC 7986 5.9, would travel with the event to everyone
who reads it), and every occurrence of a series shares its UID's colour. The calendar is
named as the user sees it -- their own ``USER/CAL``, a calendar shared with them by its
alias in their home (``USER/OWNER~CAL``) or by its own path -- and stored by the
calendar's id, so both spellings reach the same row. A user may colour the events of any
calendar they see at the busy level or above; a calendar they cannot see is "not found".

Web pages show the colour through the class :func:`colour_class` (``ec-rrggbb``), which
the per-user stylesheet ``/.web/colours.css`` defines (calserver.web.pages.calendar).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, delete, insert, select, update

from calserver.db import read_transaction, write_transaction
from calserver.db.models import collections, event_colours, users
from calserver.errors import InvalidInput, NotFound
from calserver.sharing.levels import Level, resolve

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
#: Longest UID a colour is kept for (UIDs of real clients are far shorter).
MAX_UID = 512


def parse_colour(value: str) -> str:
    """``#RRGGBB`` (lower case), or "" for no colour; InvalidInput for anything else."""
    text = value.strip()
    if not text:
        return ""
    if not _COLOUR.match(text):
        raise InvalidInput(f"invalid colour {value!r} (expected #RRGGBB)")
    return text.lower()


def colour_class(colour: str) -> str:
    """The class of an event coloured ``colour`` (``#1A2B3C`` -> ``ec-1a2b3c``)."""
    return "ec-" + colour.lstrip("#").lower()


def _user_id(conn: Connection, user: str) -> int:
    found = conn.execute(select(users.c.id).where(users.c.name == user)).scalar()
    if found is None:
        raise NotFound(f"no user {user!r}")
    return int(found)


def _calendar_id(conn: Connection, user: str, calendar: str) -> int:
    """The id of the calendar ``user`` sees at ``calendar`` (busy level or above)."""
    path = calendar.strip("/")
    resolved = resolve(conn, user, path)
    if resolved.level < Level.BUSY or path.count("/") != 1:
        raise NotFound(f"no calendar {calendar!r}")
    found = conn.execute(
        select(collections.c.id).where(
            collections.c.path == resolved.target, collections.c.tag == "VCALENDAR"
        )
    ).scalar()
    if found is None:
        raise NotFound(f"no calendar {calendar!r}")
    return int(found)


def _check_uid(uid: str) -> str:
    if not uid or len(uid) > MAX_UID or any(ord(c) < 32 for c in uid):
        raise InvalidInput("invalid event UID")
    return uid


def set_colour(engine: Engine, user: str, calendar: str, uid: str, colour: str) -> None:
    """Give the event ``uid`` of ``calendar`` the colour ``colour`` for ``user`` only;
    "" takes the colour away."""
    value = parse_colour(colour)
    _check_uid(uid)
    with write_transaction(engine) as conn:
        user_id = _user_id(conn, user)
        collection_id = _calendar_id(conn, user, calendar)
        key = (
            (event_colours.c.user_id == user_id)
            & (event_colours.c.collection_id == collection_id)
            & (event_colours.c.uid == uid)
        )
        if not value:
            conn.execute(delete(event_colours).where(key))
            return
        changed = conn.execute(update(event_colours).where(key).values(colour=value))
        if not changed.rowcount:
            conn.execute(
                insert(event_colours).values(
                    user_id=user_id, collection_id=collection_id, uid=uid, colour=value
                )
            )


def colour_of(engine: Engine, user: str, calendar: str, uid: str) -> str:
    """The colour ``user`` gave the event ``uid`` of ``calendar`` ("" if none)."""
    with read_transaction(engine) as conn:
        user_id = _user_id(conn, user)
        collection_id = _calendar_id(conn, user, calendar)
        found = conn.execute(
            select(event_colours.c.colour).where(
                event_colours.c.user_id == user_id,
                event_colours.c.collection_id == collection_id,
                event_colours.c.uid == uid,
            )
        ).scalar()
    return str(found or "")


def colours_for(
    engine: Engine, user: str, collection_ids: Iterable[int] | None = None
) -> dict[tuple[int, str], str]:
    """``user``'s event colours, by (calendar id, UID), of the calendars
    ``collection_ids`` (every calendar when None)."""
    query = (
        select(event_colours.c.collection_id, event_colours.c.uid, event_colours.c.colour)
        .join(users, users.c.id == event_colours.c.user_id)
        .where(users.c.name == user)
    )
    if collection_ids is not None:
        wanted = sorted(set(collection_ids))
        if not wanted:
            return {}
        query = query.where(event_colours.c.collection_id.in_(wanted))
    with read_transaction(engine) as conn:
        rows = conn.execute(query).all()
    return {(row.collection_id, row.uid): row.colour for row in rows}


def palette(engine: Engine, user: str) -> list[str]:
    """Every colour ``user`` gave an event, once each, sorted (for their stylesheet)."""
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(event_colours.c.colour)
            .join(users, users.c.id == event_colours.c.user_id)
            .where(users.c.name == user)
            .distinct()
            .order_by(event_colours.c.colour)
        ).scalars()
        return [str(colour) for colour in rows]
