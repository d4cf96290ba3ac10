"""A poll as a VPOLL (draft-ietf-calext-vpoll, "VPOLL: Consensus Scheduling Component for
iCalendar"): one VPOLL with a VEVENT per option (``POLL-ITEM-ID``: the option's id),
each voter a PARTICIPANT (RFC 9073 7.1) of type VOTER holding one VOTE per answered
option, and ``POLL-WINNER`` once the date is chosen. Pure: no I/O.

Answers map to the draft's RESPONSE scale (0-100): yes 100, maybe 50, no 0. Timed
options are written in UTC (no VTIMEZONE needed), all-day ones as DATE values.
"""

from __future__ import annotations

import datetime as dt

from calserver.contacts.card import escape, fold
from calserver.polls.model import Option, Poll

PRODID = "-//calserver//meeting polls//EN"
RESPONSE = {"yes": 100, "maybe": 50, "no": 0}
#: The draft's VPOLL STATUS of each of the poll's states.
STATUS = {"open": "IN-PROCESS", "closed": "COMPLETED", "decided": "CONFIRMED"}


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _times(poll: Poll, option: Option) -> list[str]:
    start = option.moment(poll.timezone)
    if option.all_day:
        assert isinstance(start, dt.date)
        end = start + dt.timedelta(days=1)
        return [f"DTSTART;VALUE=DATE:{start:%Y%m%d}", f"DTEND;VALUE=DATE:{end:%Y%m%d}"]
    assert isinstance(start, dt.datetime)
    end_time = start + dt.timedelta(minutes=poll.duration)
    return [f"DTSTART:{_utc(start)}", f"DTEND:{_utc(end_time)}"]


def export(poll: Poll, organizer_email: str, now: dt.datetime) -> str:
    """The poll as an iCalendar text (CRLF line ends, folded)."""
    stamp = _utc(now)
    uid = f"poll-{poll.key}@calserver"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "BEGIN:VPOLL",
        f"UID:{uid}",
        f"DTSTAMP:{stamp}",
        f"SUMMARY:{escape(poll.title)}",
        "POLL-MODE:BASIC",
        "POLL-PROPERTIES:DTSTART,DTEND",
        f"STATUS:{STATUS.get(poll.status, 'IN-PROCESS')}",
    ]
    if poll.description:
        lines.append(f"DESCRIPTION:{escape(poll.description)}")
    if organizer_email:
        lines.append(f"ORGANIZER:mailto:{organizer_email}")
    if poll.decided_option is not None:
        lines.append(f"POLL-WINNER:{poll.decided_option}")
    for voter in poll.voters:
        lines += [
            "BEGIN:PARTICIPANT",
            f"UID:{uid}-voter-{voter.id}",
            "PARTICIPANT-TYPE:VOTER",
            f"CALENDAR-ADDRESS:mailto:{voter.email}",
        ]
        for option_id, answer in sorted(voter.votes.items()):
            lines += [
                "BEGIN:VOTE",
                f"POLL-ITEM-ID:{option_id}",
                f"RESPONSE:{RESPONSE.get(answer, 0)}",
                "END:VOTE",
            ]
        lines.append("END:PARTICIPANT")
    for option in poll.options:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}-option-{option.id}",
            f"DTSTAMP:{stamp}",
            f"POLL-ITEM-ID:{option.id}",
            *_times(poll, option),
            f"SUMMARY:{escape(poll.title)}",
        ]
        if poll.location:
            lines.append(f"LOCATION:{escape(poll.location)}")
        lines.append("END:VEVENT")
    lines += ["END:VPOLL", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
