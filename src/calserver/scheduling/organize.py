"""The organizer's side of implicit scheduling (RFC 6638 3.2.1): an organizer stores
a meeting and every attendee is invited, updated or dropped (RFC 6638 3.2.2.1,
RFC 5546 3.2.2), group attendees expanded (RFC 5545 3.2.11); the organizer deletes it
and the attendees get a CANCEL (RFC 6638 3.2.2.3, RFC 5546 3.2.5). One copy of the
organizer's per meeting (RFC 6638 3.2.4.1); the organizer's e-mail switch.
"""

from __future__ import annotations

from typing import Any

import icalendar
from sqlalchemy import Connection

from calserver.accounts import settings
from calserver.errors import NotFound
from calserver.scheduling import addresses, copies, deliver, itip
from calserver.storage.rows import remove_item

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

ORGANIZER_CHANGE = "C:allowed-organizer-scheduling-object-change"


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
        wanted = settings.wants_email(conn, person.name)
        if person.email and not meeting.email_off and wanted:
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


def invite_again(meeting: deliver.Meeting, attendee: Any) -> str:
    """Send the meeting once more to an attendee who has not answered (the organizer's
    reminder, calserver.scheduling.participants.remind)."""
    return _invite(meeting, attendee, changed=False)


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


def organize(
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


def cancel(storage: Any, conn: Connection, principal: str, address: str, old: Any) -> None:
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
            wanted = settings.wants_email(conn, person.name)
            if person.email and not meeting.email_off and wanted:
                deliver.mail(conn, meeting.notice("CANCEL", message, person.email, name))
            continue
        email = addresses.email_of(str(attendee))
        if email:
            deliver.mail(conn, meeting.notice("CANCEL", message, email, name))


def check_unique(
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


def has_groups(calendar: Any) -> bool:
    return any(
        addresses.is_group(str(attendee))
        for component in itip.components(calendar)
        for attendee in itip.attendees(component)
    )


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
