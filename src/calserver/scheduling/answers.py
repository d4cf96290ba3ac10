"""The attendees' side of implicit scheduling: their answers reach the organizer
(RFC 6638 3.2.2.x, RFC 5546 3.2.3 REPLY). An attendee stores or deletes their copy
(RFC 6638 3.2.2.1: only their own participation may change; deleting declines), an
attendee elsewhere answers by e-mail (RFC 6047 3), or anyone invited by e-mail
follows an answer link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from calserver import context
from calserver.accounts import settings
from calserver.scheduling import addresses, copies, deliver, itip
from calserver.storage.context import read_connection

ATTENDEE_CHANGE = "C:allowed-attendee-scheduling-object-change"


@dataclass
class ReplyOutcome:
    organizer: str
    uid: str
    summary: str
    attendee: str
    partstat: str


def _organizer_copy(
    conn: Connection, organizer_address: str, uid: str
) -> tuple[str, copies.Stored] | None:
    """(organizer user, their copy) of the meeting ``uid`` organized by a user here
    (:func:`copies.organizer_copy_of`)."""
    person = addresses.user_for(conn, organizer_address)
    if person is None:
        return None
    found = copies.organizer_copy_of(conn, person.name, uid)
    if found is None:
        return None
    if not addresses.same(itip.organizer(itip.parse(found.text)), organizer_address):
        return None
    return person.name, found


def _apply_answers(
    storage: Any,
    conn: Connection,
    organizer: str,
    stored: copies.Stored,
    attendee_address: str,
    answers: dict[str, str],
    comment: str,
    *,
    answering_user: str | None = None,
) -> ReplyOutcome:
    """An attendee's answers reach the organizer (RFC 6638 3.2.2.x, RFC 5546 3.2.3):
    their PARTSTAT and SCHEDULE-STATUS in the organizer's copy (an override made for an
    instance answered on its own), a REPLY in the organizer's inbox, an e-mail to the
    organizer, and the other attendees' copies brought up to date."""
    calendar = itip.parse(stored.text)
    org_address = itip.organizer(calendar)
    parts = itip.by_key(calendar)
    for part_key, answer in answers.items():
        component = parts.get(part_key)
        if component is None:
            if "" not in parts or part_key == "":
                raise copies.Refused("the meeting has no such instance", status=409)
            component = itip.instance_of(parts[""], part_key)
            calendar.add_component(component)
            parts[part_key] = component
        attendee = itip.find(component, attendee_address)
        if attendee is None:
            raise copies.Refused(f"{attendee_address} is not invited to this meeting", status=403)
        attendee.params["PARTSTAT"] = answer
        attendee.params["SCHEDULE-STATUS"] = "2.0"
        attendee.params.pop("RSVP", None)
        # the reason stays with the answer for the organizer's view (a parameter: one
        # line, no double quotes, RFC 5545 3.2)
        reason = " ".join(comment.replace('"', "'").split())
        if reason:
            attendee.params[copies.COMMENT_PARAM] = reason
        else:
            attendee.params.pop(copies.COMMENT_PARAM, None)
    copies.write(
        storage,
        conn,
        stored.collection_id,
        stored.path,
        stored.href,
        itip.serialize(calendar),
        provenance=(organizer, copies.ORGANIZER_COPY),
    )
    meeting = deliver.Meeting(storage, conn, organizer, calendar, org_address)
    message = itip.reply(calendar, attendee_address, answers, comment)
    deliver.to_inbox(storage, conn, organizer, message, attendee_address)
    org_email = (
        addresses.email_of(org_address)
        or (addresses.user_for(conn, f"/{organizer}/") or addresses.Person("", "", "")).email
    )
    first = next(iter(answers.values()), "")
    attendee_value = itip.find(parts[next(iter(answers))], attendee_address)
    if org_email and not meeting.email_off and settings.wants_email(conn, organizer):
        _notify_reply(meeting, message, org_email, attendee_value or attendee_address, comment)
    for attendee in itip.all_attendees(calendar, org_address).values():
        person = addresses.user_for(conn, str(attendee))
        if person is None or person.name in (organizer, answering_user):
            continue
        deliver.deliver_copy(meeting, person.name)
    return ReplyOutcome(
        organizer,
        meeting.uid,
        itip.text(parts.get("") or next(iter(parts.values())), "SUMMARY"),
        attendee_address,
        first,
    )


def _attendee_in(calendar: Any, address: str) -> Any:
    for component in itip.components(calendar):
        found = itip.find(component, address)
        if found is not None:
            return found
    return address


def _notify_reply(
    meeting: deliver.Meeting, message: Any, to: str, attendee: Any, comment: str
) -> None:
    """The organizer's e-mail about an answer (RFC 6047 REPLY, readable), with the
    reason when one was given; ``attendee`` is the answering ATTENDEE value."""
    answer = next(iter(itip.answers_of(message, str(attendee)).values()), "")
    deliver.mail(
        meeting.conn,
        meeting.notice(
            "REPLY",
            message,
            to,
            meeting.organizer_name(),
            attendee=str(attendee),
            attendee_name=deliver.cn(attendee),
            partstat=answer,
            comment=comment,
        ),
    )


def _check_attendee_change(me: addresses.Me, reference: Any, new: Any) -> None:
    """RFC 6638 3.2.2.1: an attendee may change their own participation (and alarms,
    transparency and the like), nothing that makes the meeting what it is, and no one
    else's answer."""
    if not addresses.same(itip.organizer(new), itip.organizer(reference)):
        raise copies.Refused("an attendee may not change the organizer", ATTENDEE_CHANGE)
    ref_parts = itip.by_key(reference)
    master = ref_parts.get("")
    for part_key, component in itip.by_key(new).items():
        base = ref_parts.get(part_key)
        if base is not None:
            changed = itip.differs(base, component)
        elif master is not None and part_key:
            changed = itip.differs(master, component, ("SUMMARY", "LOCATION", "DESCRIPTION"))
            base = master
        else:
            raise copies.Refused("an attendee may not add components to a meeting", ATTENDEE_CHANGE)
        if changed:
            raise copies.Refused(
                "only the organizer may change " + ", ".join(changed) + " of this meeting",
                ATTENDEE_CHANGE,
            )
        for attendee in itip.attendees(component):
            if me(attendee):
                continue
            known = itip.find(base, str(attendee))
            if known is not None and itip.partstat(known) != itip.partstat(attendee):
                raise copies.Refused(
                    f"an attendee may only answer for themselves, not for {attendee}",
                    ATTENDEE_CHANGE,
                )


def _my_address(me: addresses.Me, calendar: Any) -> str | None:
    """``me``'s ATTENDEE address in ``calendar``, when the server schedules them (RFC
    6638 7.1: SCHEDULE-AGENT=CLIENT or NONE leaves their copy to their client)."""
    for component in itip.components(calendar):
        for attendee in itip.attendees(component):
            if me(attendee):
                agent = str(attendee.params.get("SCHEDULE-AGENT", "SERVER")).upper()
                return str(attendee) if agent == "SERVER" else None
    return None


def attend(
    storage: Any, conn: Connection, me: addresses.Me, old: Any | None, new: Any | None
) -> None:
    """An attendee stores (or, ``new`` None, deletes) their copy: the changes of their
    own PARTSTAT are their answer (RFC 6638 3.2.2.x / 3.2.x: decline by deleting)."""
    source = new if new is not None else old
    assert source is not None
    me_address = _my_address(me, source)
    if me_address is None:
        return
    org_address = itip.organizer(source)
    found = _organizer_copy(conn, org_address, itip.uid(source))
    reference = itip.parse(found[1].text) if found is not None else old
    if new is not None and reference is not None:
        _check_attendee_change(me, reference, new)
        if itip.sequence(new) < itip.sequence(reference):
            raise copies.Refused(
                "the organizer has changed this meeting since; reload it and answer again",
                status=409,
            )
    if not context.send_reply.get():
        return
    before = itip.answers_of(reference, me_address) if reference is not None else {}
    if new is None:  # the whole meeting, or each instance they attend without a master
        keys = before if before and "" not in before else [""]
        answers = {k: "DECLINED" for k in keys}
        comment = ""
    else:
        mine = itip.answers_of(new, me_address)
        answers = {
            k: v for k, v in mine.items() if before.get(k, before.get("", "NEEDS-ACTION")) != v
        }
        comment = _new_comment(old, new)
    answers = {k: v for k, v in answers.items() if v in (*itip.ANSWERS, "NEEDS-ACTION")}
    if not answers:
        return
    if found is not None:
        _apply_answers(
            storage,
            conn,
            found[0],
            found[1],
            me_address,
            answers,
            comment,
            answering_user=me.name,
        )
        return
    org_email = addresses.email_of(org_address)
    if org_email and reference is not None and addresses.user_for(conn, org_address) is None:
        # an organizer elsewhere: RFC 6047 REPLY by e-mail
        message = itip.reply(reference, me_address, answers, comment)
        meeting = deliver.Meeting(storage, conn, me.name, reference, org_address)
        _notify_reply(meeting, message, org_email, _attendee_in(reference, me_address), comment)


def _new_comment(old: Any | None, new: Any) -> str:
    old_parts = itip.by_key(old) if old is not None else {}
    for part_key, component in itip.by_key(new).items():
        value = itip.text(component, "COMMENT")
        previous = old_parts.get(part_key)
        if value and (previous is None or itip.text(previous, "COMMENT") != value):
            return value
    return ""


# --- answers from outside CalDAV: e-mail and links -------------------------------------


def apply_reply(storage: Any, reply: Any, *, sender: str | None) -> ReplyOutcome:
    """A METHOD:REPLY from an attendee (RFC 5546 3.2.3; by e-mail, RFC 6047 3) applied
    to the organizer's copy. Refused: an unknown meeting (404), a sender who is not the
    answering attendee or an attendee not invited (403), an answer to an older version
    of the meeting (409, RFC 5546 2.1.5)."""
    if str(reply.get("METHOD", "")).upper() != "REPLY":
        raise copies.Refused("only METHOD:REPLY is accepted", status=400)
    parts = itip.components(reply)
    if not parts:
        raise copies.Refused("the REPLY holds no event", status=400)
    who = {itip.normal(str(a)) for c in parts for a in itip.attendees(c)}
    if len(who) != 1:
        raise copies.Refused("a REPLY must name exactly one attendee (RFC 5546 3.2.3)", status=400)
    attendee = next(iter(who))
    if sender is not None and not addresses.same(attendee, addresses.mailto(sender)):
        raise copies.Refused(f"{sender} may not answer for {attendee}", status=403)
    uid = itip.uid(reply)
    org_address = itip.organizer(reply)
    with copies.in_transaction(storage) as conn:
        found = _organizer_copy(conn, org_address, uid) if uid and org_address else None
        if found is None:
            raise copies.Refused(
                f"no meeting {uid!r} organized by {org_address or 'anyone'} here", status=404
            )
        current = itip.parse(found[1].text)
        if itip.sequence(reply) < itip.sequence(current):
            raise copies.Refused(
                f"the answer is for version {itip.sequence(reply)} of the meeting; it is at "
                f"version {itip.sequence(current)} now",
                status=409,
            )
        answers = {}
        comment = ""
        for component in parts:
            for value in itip.attendees(component):
                answer = itip.partstat(value)
                if answer not in (*itip.ANSWERS, "NEEDS-ACTION", "DELEGATED"):
                    raise copies.Refused(f"unknown answer {answer!r}", status=400)
                answers[itip.key(component)] = answer
            comment = comment or itip.text(component, "COMMENT")
        return _apply_answers(
            storage,
            conn,
            found[0],
            found[1],
            str(_attendee_in(current, attendee)),
            answers,
            comment,
        )


def answer_by_link(
    storage: Any,
    *,
    organizer: str,
    uid: str,
    attendee: str,
    sequence: int,
    partstat: str,
    comment: str,
) -> ReplyOutcome:
    """The action of an answer link (the attendee's whole answer for the meeting)."""
    if partstat.upper() not in itip.ANSWERS:
        raise copies.Refused(f"unknown answer {partstat!r}", status=400)
    with copies.in_transaction(storage) as conn:
        found = copies.organizer_copy_of(conn, organizer, uid)
        if found is None:
            raise copies.Refused("this meeting no longer exists", status=404)
        current = itip.parse(found.text)
        if sequence < itip.sequence(current):
            raise copies.Refused(
                "this invitation was updated since; use the newest one", status=409
            )
        invited = itip.answers_of(current, attendee)
        if not invited:
            raise copies.Refused("you are no longer invited to this meeting", status=404)
        # the whole meeting: the master when there is one, else each instance
        keys = [""] if "" in itip.by_key(current) else list(invited)
        return _apply_answers(
            storage,
            conn,
            organizer,
            found,
            str(_attendee_in(current, attendee)),
            {k: partstat.upper() for k in keys},
            comment,
        )


def meeting_for_link(storage: Any, *, organizer: str, uid: str) -> Any | None:
    with read_connection(storage.engine) as conn:
        found = copies.organizer_copy_of(conn, organizer, uid)
    return itip.parse(found.text) if found is not None else None
