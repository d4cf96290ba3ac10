"""Delivery of a meeting: the attendee's copy in their calendar (RFC 6638 3.2.2.1),
iTIP messages (RFC 5546) in schedule inboxes (RFC 6638 4.1), e-mail (iMIP, RFC 6047)
queued in the outbox, and the answer links an e-mail carries.

Everything is written in the caller's transaction: nothing is delivered unless the
write that caused it commits.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from calserver import context
from calserver.db.models import collections, items
from calserver.keys import server_key
from calserver.mail import outbox
from calserver.scheduling import addresses, copies, imip, itip, links
from calserver.storage.rows import remove_item, safe_href_for
from calserver.urls import base_url

logger = logging.getLogger("calserver")


def link_base() -> str:
    """Where answer links point (``origin + prefix``), set per request by the WSGI front
    in the request context."""
    return context.link_base.get()


def _collection_id(conn: Connection, path: str) -> int:
    return int(
        conn.execute(select(collections.c.id).where(collections.c.path == path)).scalar_one()
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def to_inbox(storage: Any, conn: Connection, user: str, itip_cal: Any, who: str = "") -> None:
    """An iTIP message in ``user``'s schedule inbox (RFC 6638 4.1). A newer REQUEST or
    CANCEL of a meeting replaces the older ones there, a newer REPLY of an attendee
    their older one, so the inbox holds what is still to be seen."""
    method = str(itip_cal.get("METHOD", "")).lower()
    base = _digest(itip.uid(itip_cal))
    cid = copies.ensure_inbox(conn, user)
    if method == "reply":
        href = f"{base}-reply-{_digest(itip.normal(who))}.ics"
    else:
        href = f"{base}-{method}.ics"
        for old in ("request", "cancel"):
            remove_item(conn, cid, f"{base}-{old}.ics")
    # several messages of one meeting share its UID: the inbox keeps them by name only
    copies.write(
        storage, conn, cid, f"{user}/{copies.INBOX}", href, itip.serialize(itip_cal), uid=""
    )


def mail(conn: Connection, notice: Any) -> None:
    try:
        outbox.enqueue(conn, imip.build_message(notice))
    except outbox.MailError as exc:  # an address no SMTP server takes: nothing to send
        logger.warning("no e-mail to %r: %s", notice.recipient, exc)


def cn(value: Any) -> str:
    return str(getattr(value, "params", {}).get("CN", "") or "")


@dataclass
class Meeting:
    """An organizer's copy being stored, and what scheduling needs to know about it."""

    storage: Any
    conn: Connection
    principal: str
    calendar: Any
    address: str

    @property
    def uid(self) -> str:
        return itip.uid(self.calendar)

    @property
    def email_off(self) -> bool:
        return itip.email_off(self.calendar)

    def organizer_email(self) -> str:
        return addresses.email_of(self.address)

    def organizer_name(self) -> str:
        return cn(self.organizer_value()) or self.principal

    def organizer_value(self) -> Any:
        for component in itip.components(self.calendar):
            if component.get("ORGANIZER") is not None:
                return component.get("ORGANIZER")
        return None

    def notice(self, method: str, itip_cal: Any, recipient: str, name: str, **extra: Any) -> Any:
        return imip.Notice(
            method=method,
            calendar=itip_cal,
            recipient=recipient,
            recipient_name=name,
            organizer=self.organizer_email(),
            organizer_name=self.organizer_name(),
            **extra,
        )


def _copy_for(meeting: Meeting, previous: str | None) -> str:
    """The attendee's copy of the organizer's object: no scheduling parameters, no
    organizer's alarms, the attendee's own alarms kept (RFC 6638 3.2.2.1 lets the
    attendee keep VALARMs of their own)."""
    calendar = copy.deepcopy(meeting.calendar)
    calendar.pop("METHOD", None)
    itip.strip_schedule_params(calendar)
    own = itip.by_key(itip.parse(previous)) if previous else {}
    for part_key, component in itip.by_key(calendar).items():
        itip.without_alarms(component)
        if part_key in own:
            for alarm in itip.alarms(own[part_key]):
                component.add_component(alarm)
    return itip.serialize(calendar)


def _last_end(calendar: Any, now: float) -> float | None:
    """When the meeting's last instance ends, for an answer link's expiry
    (``links.expiry``): None for a recurring one; a day late (floating and all-day
    times), and never before ``now``."""
    latest = now
    for component in itip.components(calendar):
        if component.get("RRULE") is not None or component.get("RDATE") is not None:
            return None
        for name in ("DTEND", "DUE", "DTSTART"):
            value = component.get(name)
            if value is not None:
                moment = value.dt
                if not isinstance(moment, dt.datetime):
                    moment = dt.datetime.combine(moment, dt.time(), dt.UTC)
                elif moment.tzinfo is None:
                    moment = moment.replace(tzinfo=dt.UTC)
                latest = max(latest, int(moment.timestamp()) + 86400)
                break
    return latest


def answer_links(meeting: Meeting, attendee: str) -> dict[str, str]:
    now = int(time.time())
    token = links.make(
        server_key(meeting.storage.configuration),
        organizer=meeting.principal,
        uid=meeting.uid,
        attendee=itip.normal(attendee),
        sequence=itip.sequence(meeting.calendar),
        expires=links.expiry(_last_end(meeting.calendar, now), now),
    )
    return links.answer_urls(link_base() or _configured_base(meeting.storage), token)


def _configured_base(storage: Any) -> str:
    return base_url(storage.configuration)


def deliver_copy(meeting: Meeting, user: str) -> bool:
    """Create or update ``user``'s copy of the meeting (RFC 6638 3.2.2.1); False, and
    nothing touched, when ``user`` holds an item with the meeting's UID that is not
    their copy of this organizer's meeting (their own event, a private one, another
    organizer's meeting): it is never overwritten, moved or deleted."""
    conn = meeting.conn
    holding = copies.attendee_holding(conn, user, meeting.uid, meeting.principal, meeting.address)
    if holding.copy is None and holding.other:
        logger.info(
            "scheduling: %s already has an item with UID %r that is not %s's meeting: "
            "not delivered",
            user,
            meeting.uid,
            meeting.principal,
        )
        return False
    found = holding.copy
    if found is None:
        path = copies.default_calendar(conn, user)
        collection_id = _collection_id(conn, path)
        taken = set(
            conn.execute(
                select(items.c.href).where(items.c.collection_id == collection_id)
            ).scalars()
        )
        found = copies.Stored(collection_id, path, safe_href_for(meeting.uid, taken), "")
    text = _copy_for(meeting, found.text or None)
    if text != found.text:
        copies.write(
            meeting.storage,
            conn,
            found.collection_id,
            found.path,
            found.href,
            text,
            provenance=(meeting.principal, copies.ATTENDEE_COPY),
        )
    return True
