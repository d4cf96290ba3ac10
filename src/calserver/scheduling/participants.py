"""Meetings as the web app's forms speak of them: the participants field turned into
calendar user addresses (RFC 5545 3.3.3, RFC 6638 2.4.1), a user's own address in a
meeting, and the organizer's reminder to those who have not answered.

Participants are written one per line or separated by commas: a user of this server
by name or e-mail address (``bob``, ``bob@example.org``), a group (``group:team``,
``@team`` or a group's name: the group's principal URL ``/@team/``, which scheduling
expands into its members, calserver.scheduling.organize), or anyone's e-mail address
(invited by e-mail, RFC 6047).

The reminder (RFC 5546 3.2.2: an organizer may send the REQUEST again) goes to every
scheduled attendee whose answer is still NEEDS-ACTION, at most once in
:data:`REMIND_EVERY`; the time of the last one is kept in the organizer's copy as
``X-CALSERVER-REMINDED``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from calserver.accounts import directory
from calserver.db.models import groups
from calserver.errors import Conflict, NotFound
from calserver.ical.compose import Participant
from calserver.scheduling import addresses, copies, deliver, itip, organize
from calserver.scheduling.calendar_address import principal
from calserver.storage.context import read_connection

REMIND_EVERY = dt.timedelta(hours=24)
REMINDED = "X-CALSERVER-REMINDED"
STAMP = "%Y%m%dT%H%M%SZ"
#: A plausible e-mail address (RFC 5321 4.1.2, loosely: one @, a dot in the domain).
_EMAIL = re.compile(r"^[^@\s<>\"',;:]+@[^@\s<>\"',;:]+\.[^@\s<>\"',;:]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_PARTICIPANTS = organize.MAX_ATTENDEES


@dataclass(frozen=True)
class Resolved:
    participants: list[Participant]
    #: What could not be understood, one message per entry.
    problems: list[str]


def split(text: str) -> list[str]:
    """The entries of the participants field."""
    return [entry.strip() for entry in re.split(r"[,;\n]+", text) if entry.strip()]


def _group_exists(engine: Engine, name: str) -> bool:
    with read_connection(engine) as conn:
        return conn.execute(select(groups.c.id).where(groups.c.name == name)).first() is not None


def resolve(engine: Engine, text: str) -> Resolved:
    """The participants of the field ``text`` as addresses (see the module's text)."""
    found: list[Participant] = []
    problems: list[str] = []
    entries = split(text)
    if len(entries) > MAX_PARTICIPANTS:
        return Resolved([], [f"a meeting may have at most {MAX_PARTICIPANTS} participants"])
    for entry in entries:
        lowered = entry.lower()
        if lowered.startswith("group:") or entry.startswith("@"):
            name = entry.split(":", 1)[1].strip() if lowered.startswith("group:") else entry[1:]
            if _NAME.match(name) and _group_exists(engine, name):
                found.append(Participant(f"/@{name}/", name, group=True))
            else:
                problems.append(f"there is no group named {name!r}")
            continue
        if "@" in entry:
            if not _EMAIL.match(entry):
                problems.append(f"{entry!r} is not an e-mail address")
                continue
            with read_connection(engine) as conn:
                row = directory.enabled_by_email(conn, entry)
            found.append(Participant(addresses.mailto(entry), row.name if row else ""))
            continue
        if not _NAME.match(entry):
            problems.append(f"{entry!r} is neither a user, a group nor an e-mail address")
            continue
        with read_connection(engine) as conn:
            row = directory.enabled_by_name(conn, entry)
        if row is not None:
            address = addresses.mailto(row.email) if row.email else f"/{row.name}/"
            found.append(Participant(address, row.name))
        elif _group_exists(engine, entry):
            found.append(Participant(f"/@{entry}/", entry, group=True))
        else:
            problems.append(f"there is no user or group named {entry!r}")
    return Resolved(found, problems)


def spelled(participant: Participant) -> str:
    """How the participants field shows an address (the inverse of :func:`resolve`)."""
    email = addresses.email_of(participant.address)
    if email:
        return email
    name = principal(participant.address)
    if name is None:
        return participant.address
    return f"group:{name[1:]}" if name.startswith("@") else name


def my_address(engine: Engine, user: str) -> tuple[str, str]:
    """(``mailto:`` e-mail or "", principal URL) of ``user``: how they are named as an
    organizer or an attendee."""
    email = directory.find_email(engine, user) or ""
    return (addresses.mailto(email) if email else "", f"/{user}/")


def is_me(engine: Engine, user: str, address: str) -> bool:
    email, own = my_address(engine, user)
    return addresses.same(address, own) or bool(email and addresses.same(address, email))


def _reminded(value: Any) -> dt.datetime | None:
    """When the last reminder went (``X-CALSERVER-REMINDED``, a UTC date-time)."""
    if value is None:
        return None
    try:
        return dt.datetime.strptime(str(value), STAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def remind(storage: Any, organizer: str, uid: str, now: dt.datetime | None = None) -> list[str]:
    """Send the meeting ``uid`` of ``organizer`` again to each attendee who has not
    answered (NEEDS-ACTION): their copy, their inbox, their e-mail (as an invitation
    does, calserver.scheduling.organize). Returns who got it. Conflict (409) when one
    was sent less than :data:`REMIND_EVERY` ago or when everyone has answered."""
    moment = now or dt.datetime.now(dt.UTC)
    with copies.in_transaction(storage) as conn:
        found = copies.organizer_copy_of(conn, organizer, uid)
        if found is None:
            raise NotFound(f"no meeting {uid!r} organized by {organizer}")
        calendar = itip.parse(found.text)
        org_address = itip.organizer(calendar)
        if not addresses.me(conn, organizer)(org_address):
            raise NotFound(f"no meeting {uid!r} organized by {organizer}")
        parts = itip.by_key(calendar)
        master = parts.get("") or next(iter(parts.values()))
        since = _reminded(master.get(REMINDED))
        if since is not None and moment - since < REMIND_EVERY:
            raise Conflict(
                "a reminder was sent less than 24 hours ago (at "
                f"{since.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC); try again later"
            )
        waiting = [
            attendee
            for attendee in itip.all_attendees(calendar, org_address).values()
            if itip.partstat(attendee) == "NEEDS-ACTION"
        ]
        if not waiting:
            raise Conflict("everyone has answered; there is nobody to remind")
        meeting = deliver.Meeting(storage, conn, organizer, calendar, org_address)
        for attendee in waiting:
            organize.invite_again(meeting, attendee)
        master.pop(REMINDED, None)
        master.add(REMINDED, moment.astimezone(dt.UTC).strftime(STAMP))
        copies.write(
            storage,
            conn,
            found.collection_id,
            found.path,
            found.href,
            itip.serialize(calendar),
            provenance=(organizer, copies.ORGANIZER_COPY),
        )
    return [deliver.cn(attendee) or str(attendee) for attendee in waiting]
