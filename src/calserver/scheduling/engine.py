"""Implicit scheduling (RFC 6638 3.2): what the server does when an organizer stores or
deletes a meeting, or an attendee answers one.

Everything happens in the transaction of the write that caused it: the attendees'
copies, the iTIP messages in their inboxes and the queued e-mails exist only if the
organizer's change committed, and a refused change leaves nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import icalendar
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from calserver.errors import NotFound
from calserver.scheduling import addresses, answers, copies, deliver, itip
from calserver.storage.rows import (
    remove_item,
)

logger = logging.getLogger("calserver")


#: Most attendees a meeting may invite (RFC 4791 5.2.9 and 5.3.2.1,
#: CALDAV:max-attendees-per-instance): each costs a lookup, a copy or an e-mail.
MAX_ATTENDEES = 500


#: SCHEDULE-STATUS (RFC 6638 3.2.9) of an attendee whose delivery the server refused:
#: "5.3 The scheduling message was not delivered and was rejected because scheduling
#: with that recipient is not allowed" (RFC 5546 3.6 REQUEST-STATUS 5.3): the attendee
#: keeps an item with the meeting's UID that is not a copy of this meeting.
REFUSED_DELIVERY = "5.3"
#: SCHEDULE-STATUS of a group attendee the organizer may not expand (RFC 6638 3.2.9:
#: "3.8 not delivered due to insufficient privileges"): they are not in the group.
NOT_A_MEMBER = "3.8"


# --- the organizer's side --------------------------------------------------------------


def _invite(meeting: deliver.Meeting, attendee: Any, *, changed: bool) -> str:
    """Send the meeting to one attendee (RFC 6638 3.2.2.1, RFC 6047 for someone without
    an account); their SCHEDULE-STATUS in the organizer's copy."""
    conn = meeting.conn
    person = addresses.user_for(conn, str(attendee))
    name = deliver.cn(attendee)
    request = itip.request(meeting.calendar)
    if person is not None and person.name != meeting.principal:
        if not deliver.deliver_copy(meeting, person.name):
            return REFUSED_DELIVERY
        deliver.to_inbox(meeting.storage, conn, person.name, request)
        if person.email and not meeting.email_off:
            deliver.mail(
                conn, meeting.notice("REQUEST", request, person.email, name, changed=changed)
            )
        return "1.2"
    email = addresses.email_of(str(attendee))
    if not email:
        return "3.7"
    deliver.mail(
        conn,
        meeting.notice(
            "REQUEST",
            request,
            email,
            name,
            changed=changed,
            links=deliver.answer_links(meeting, str(attendee)),
        ),
    )
    return "1.1"


def _uninvite(meeting: deliver.Meeting, attendee: Any) -> None:
    """An attendee removed from the meeting: their copy goes, silently (the issue; RFC
    6638 3.2.2.2 would send a CANCEL); only the copy scheduling wrote for this
    meeting, nothing else with its UID."""
    person = addresses.user_for(meeting.conn, str(attendee))
    if person is None or person.name == meeting.principal:
        return
    holding = copies.attendee_holding(
        meeting.conn, person.name, meeting.uid, meeting.principal, meeting.address
    )
    if holding.copy is not None:
        remove_item(meeting.conn, holding.copy.collection_id, holding.copy.href)


def _organize(
    storage: Any, conn: Connection, principal: str, address: str, old: Any | None, new: Any
) -> str:
    """The organizer stores a meeting (RFC 6638 3.2.1): answers kept or reset, SEQUENCE,
    group attendees expanded, every attendee invited, updated or dropped."""
    _expand_groups(conn, new, principal)
    org_address = itip.organizer(new) or address
    if len(itip.all_attendees(new, org_address)) > MAX_ATTENDEES:
        raise copies.Refused(
            f"a meeting may have at most {MAX_ATTENDEES} attendees",
            "C:max-attendees-per-instance",
        )
    significant = old is not None and itip.significant_change(old, new)
    if old is not None:
        next_sequence = max(itip.sequence(new), itip.sequence(old) + (1 if significant else 0))
        if next_sequence != itip.sequence(new) or any(
            c.get("SEQUENCE") is None for c in itip.components(new)
        ):
            itip.set_sequence(new, next_sequence)
    old_parts = itip.by_key(old) if old is not None else {}
    before = itip.all_attendees(old, org_address) if old is not None else {}
    now = itip.all_attendees(new, org_address)
    for part_key, _component, attendee in list(itip.iter_answers(new)):
        if not itip.scheduled(attendee, org_address):
            continue
        known = None
        if part_key in old_parts:
            known = itip.find(old_parts[part_key], str(attendee))
        elif "" in old_parts:
            known = itip.find(old_parts[""], str(attendee))
        if significant or known is None:
            attendee.params["PARTSTAT"] = "NEEDS-ACTION"
            attendee.params.pop("SCHEDULE-STATUS", None)
            attendee.params.pop(copies.COMMENT_PARAM, None)
        else:
            attendee.params["PARTSTAT"] = itip.partstat(known)
            for name in ("SCHEDULE-STATUS", copies.COMMENT_PARAM):
                if known.params.get(name):
                    attendee.params[name] = known.params[name]
        if known is None:
            attendee.params["RSVP"] = "TRUE"
    meeting = deliver.Meeting(storage, conn, principal, new, org_address)
    statuses: dict[str, str] = {}
    for normal_address, attendee in now.items():
        if normal_address not in before or significant:
            statuses[normal_address] = _invite(meeting, attendee, changed=normal_address in before)
        else:
            person = addresses.user_for(conn, str(attendee))
            local = person is not None and person.name != principal
            if local and person is not None and not deliver.deliver_copy(meeting, person.name):
                statuses[normal_address] = REFUSED_DELIVERY
    for _key, _component, attendee in itip.iter_answers(new):
        status = statuses.get(itip.normal(str(attendee)))
        if status is not None:
            attendee.params["SCHEDULE-STATUS"] = status
    for normal_address, attendee in before.items():
        if normal_address not in now:
            _uninvite(meeting, attendee)
    return itip.serialize(new)


def _expand_groups(conn: Connection, calendar: Any, principal: str) -> None:
    """RFC 5545 3.2.11 / 3.2.3: an ATTENDEE that is a group (``/@team/``, CUTYPE=GROUP)
    becomes one ATTENDEE per member, MEMBER naming the group; the group entry stays as
    a non-scheduled CUTYPE=GROUP attendee. Only a member of the group may expand it
    (its member list is the group's): for anyone else the group entry stays alone,
    with SCHEDULE-STATUS 3.8 (RFC 6638 3.2.9, insufficient privileges)."""
    for component in itip.components(calendar):
        present = {itip.normal(str(a)) for a in itip.attendees(component)}
        added = []
        for attendee in itip.attendees(component):
            if not addresses.is_group(str(attendee)):
                continue
            if not addresses.is_member(conn, principal, str(attendee)):
                attendee.params["CUTYPE"] = "GROUP"
                attendee.params["SCHEDULE-AGENT"] = "NONE"
                attendee.params["SCHEDULE-STATUS"] = NOT_A_MEMBER
                continue
            found = addresses.group_members_of(conn, str(attendee))
            if found is None:
                continue
            attendee.params["CUTYPE"] = "GROUP"
            attendee.params["SCHEDULE-AGENT"] = "NONE"
            attendee.params.pop("SCHEDULE-STATUS", None)
            for person in found[1]:
                if itip.normal(person.address) in present:
                    continue
                member = icalendar.vCalAddress(person.address)
                member.params["CUTYPE"] = "INDIVIDUAL"
                member.params["MEMBER"] = str(attendee)
                member.params["ROLE"] = "REQ-PARTICIPANT"
                member.params["PARTSTAT"] = "NEEDS-ACTION"
                member.params["RSVP"] = "TRUE"
                member.params["CN"] = person.name
                present.add(itip.normal(person.address))
                added.append(member)
        if added:
            itip.set_attendees(component, [*itip.attendees(component), *added])


def _cancel(storage: Any, conn: Connection, principal: str, address: str, old: Any) -> None:
    """The organizer deleted the meeting (RFC 6638 3.2.2.3 / RFC 5546 3.2.5): the
    attendees' copies go, CANCEL in their inboxes, and an e-mail."""
    org_address = itip.organizer(old) or address
    meeting = deliver.Meeting(storage, conn, principal, old, org_address)
    message = itip.cancel(old, itip.sequence(old) + 1)
    for attendee in itip.all_attendees(old, org_address).values():
        person = addresses.user_for(conn, str(attendee))
        name = deliver.cn(attendee)
        if person is not None and person.name != principal:
            holding = copies.attendee_holding(
                conn, person.name, meeting.uid, principal, org_address
            )
            if holding.copy is None and holding.other:
                # never delivered (5.3): their item with this UID is not this meeting,
                # and a CANCEL in their inbox would make their client delete it
                continue
            if holding.copy is not None:
                remove_item(conn, holding.copy.collection_id, holding.copy.href)
            deliver.to_inbox(storage, conn, person.name, message)
            if person.email and not meeting.email_off:
                deliver.mail(conn, meeting.notice("CANCEL", message, person.email, name))
            continue
        email = addresses.email_of(str(attendee))
        if email:
            deliver.mail(conn, meeting.notice("CANCEL", message, email, name))


# --- the attendees' side: answers ------------------------------------------------------

ORGANIZER_CHANGE = "C:allowed-organizer-scheduling-object-change"


# --- the storage hooks -----------------------------------------------------------------


def _may_schedule(text: str | None) -> bool:
    return text is not None and "ORGANIZER" in text.upper()


@dataclass(frozen=True)
class Organized:
    """What the engine made of an organizer's PUT: the text to store instead, and the
    organizer (a user name) whose copy of the meeting it is."""

    text: str
    organizer: str


def on_store(
    storage: Any,
    conn: Connection,
    collection_path: str,
    old_text: str | None,
    new_text: str,
    actor: str,
    reread: Callable[[], str | None] | None = None,
    *,
    location: tuple[int, str] | None = None,
) -> Organized | None:
    """Called in the write of a PUT at ``location`` (collection id, href); what to
    store instead when it is an organizer's copy, or None. A meeting the engine cannot
    take apart is refused (400) with nothing written, never a 500. ``reread`` gives the
    stored text again once the scheduling lock is held (another request's scheduling
    may have changed it since ``old_text`` was read)."""
    if not (_may_schedule(old_text) or _may_schedule(new_text)):
        return None
    if collection_path.rpartition("/")[2] in copies.RESERVED:
        return None
    try:
        with conn.begin_nested():
            return _on_store(
                storage, conn, collection_path, old_text, new_text, actor, reread, location
            )
    except (copies.Refused, DBAPIError):
        raise
    except Exception as exc:
        logger.warning("cannot schedule a meeting in %r", collection_path, exc_info=True)
        raise copies.Refused(f"cannot read the meeting: {exc}", status=400) from exc


def _on_store(
    storage: Any,
    conn: Connection,
    collection_path: str,
    old_text: str | None,
    new_text: str,
    actor: str,
    reread: Callable[[], str | None] | None,
    location: tuple[int, str] | None,
) -> Organized | None:
    principal = copies.principal_of(collection_path, actor)
    me = addresses.me(conn, principal)
    # most events stored with an ORGANIZER are invitations from elsewhere, copied in:
    # unless they name the writer, they are not parsed
    if not any(text and me.mentioned_in(text) for text in (old_text, new_text)):
        return None
    copies.serialise(conn)
    if reread is not None:
        old_text = reread()
    new = itip.parse(new_text)
    old = itip.parse(old_text) if old_text else None
    role_source = old if old is not None and itip.organizer(old) else new
    org = itip.organizer(role_source)
    if not org:
        return None
    if me(org):
        if (
            old is not None
            and itip.organizer(old)
            and itip.organizer(new)
            and not addresses.same(itip.organizer(new), itip.organizer(old))
        ):
            raise copies.Refused("the organizer of a meeting cannot be changed", ORGANIZER_CHANGE)
        if (
            not itip.all_attendees(new, org)
            and not (old is not None and itip.all_attendees(old, org))
            and not _has_groups(new)
        ):
            return None
        _check_unique(conn, principal, itip.uid(new), location)
        return Organized(_organize(storage, conn, principal, org, old, new), principal)
    if (
        old is not None
        and itip.organizer(old)
        and not addresses.same(itip.organizer(new) or "", itip.organizer(old))
    ):
        raise copies.Refused("an attendee may not change the organizer", answers.ATTENDEE_CHANGE)
    answers.attend(storage, conn, me, old, new)
    return None


def _check_unique(
    conn: Connection, organizer: str, uid: str, location: tuple[int, str] | None
) -> None:
    """RFC 6638 3.2.4.1 (CALDAV:unique-scheduling-object-resource): one organizer's
    copy per meeting. Another item with the UID of a meeting ``organizer`` organizes,
    written by someone else (a delegate or writer of their calendar) elsewhere, would
    become a second organizer's copy and take the meeting over: refused (403)."""
    found = copies.organizer_copy_of(conn, organizer, uid)
    if found is not None and (found.collection_id, found.href) != location:
        raise copies.Refused(
            f"the meeting {uid!r} is already stored in another calendar of its organizer",
            "C:unique-scheduling-object-resource",
        )


def _has_groups(calendar: Any) -> bool:
    return any(
        addresses.is_group(str(attendee))
        for component in itip.components(calendar)
        for attendee in itip.attendees(component)
    )


def on_delete(
    storage: Any,
    conn: Connection,
    collection_path: str,
    old_text: str,
    actor: str,
    reread: Callable[[], str | None] | None = None,
    *,
    location: tuple[int, str] | None = None,
) -> None:
    """Called in the write of a DELETE of one item (at ``location``: collection id,
    href). The item goes even when the engine cannot take it apart (logged; nothing of
    the engine's is written then)."""
    if not _may_schedule(old_text) or collection_path.rpartition("/")[2] in copies.RESERVED:
        return
    try:
        with conn.begin_nested():
            _on_delete(storage, conn, collection_path, old_text, actor, reread, location)
    except (copies.Refused, DBAPIError):
        raise
    except Exception:
        logger.warning("cannot schedule the deletion in %r", collection_path, exc_info=True)


def _on_delete(
    storage: Any,
    conn: Connection,
    collection_path: str,
    old_text: str,
    actor: str,
    reread: Callable[[], str | None] | None,
    location: tuple[int, str] | None,
) -> None:
    principal = copies.principal_of(collection_path, actor)
    me = addresses.me(conn, principal)
    if not me.mentioned_in(old_text):
        return
    copies.serialise(conn)
    fresh = reread() if reread is not None else old_text
    if fresh is None:  # deleted meanwhile: Radicale answers 404
        return
    old_text = fresh
    old = itip.parse(old_text)
    org = itip.organizer(old)
    if not org:
        return
    if me(org):
        # only the organizer's copy cancels the meeting (RFC 6638 3.2.1.3): deleting
        # another item with its UID and ORGANIZER (an import, a copy someone wrote in
        # a group calendar) deletes that item alone
        if location is None or copies.provenance_at(conn, location) == (
            principal,
            copies.ORGANIZER_COPY,
        ):
            _cancel(storage, conn, principal, org, old)
    else:
        answers.attend(storage, conn, me, old, None)


# --- answers from outside CalDAV: e-mail and links -------------------------------------


def set_email(storage: Any, organizer: str, uid: str, on: bool) -> None:
    """Turn e-mail to attendees with an account (and answer notices) on or off for one
    meeting ``organizer`` organizes: ``X-CALSERVER-EMAIL:OFF`` on its components. Not a
    significant change: nobody is asked again."""
    with copies.in_transaction(storage) as conn:
        found = copies.organizer_copy_of(conn, organizer, uid)
        if found is None:
            raise NotFound(f"no meeting {uid!r} organized by {organizer}")
        calendar = itip.parse(found.text)
        if not addresses.me(conn, organizer)(itip.organizer(calendar)):
            raise NotFound(f"no meeting {uid!r} organized by {organizer}")
        for component in itip.components(calendar):
            component.pop(itip.EMAIL_SWITCH, None)
            if not on:
                component.add(itip.EMAIL_SWITCH, "OFF")
        copies.write(
            storage,
            conn,
            found.collection_id,
            found.path,
            found.href,
            itip.serialize(calendar),
            provenance=(organizer, copies.ORGANIZER_COPY),
        )
