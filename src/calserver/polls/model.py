"""What a meeting poll is, as the services and surfaces see it (pure: no I/O)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

#: A voter's answer for one option.
ANSWERS = ("yes", "maybe", "no")
#: ``open``, ``closed`` without a date, ``decided``.
STATUSES = ("open", "closed", "decided")
#: The owner's notices: when every voter has answered, for each vote (batched), never.
NOTIFY = ("all", "each", "never")


@dataclass
class Option:
    id: int
    #: ``YYYY-MM-DD`` (all day) or ``YYYY-MM-DDTHH:MM`` in the poll's time zone.
    start: str
    all_day: bool

    def moment(self, zone: str) -> dt.datetime | dt.date:
        if self.all_day:
            return dt.date.fromisoformat(self.start)
        return dt.datetime.fromisoformat(self.start).replace(tzinfo=ZoneInfo(zone))

    def label(self, zone: str, duration: int = 0) -> str:
        if self.all_day:
            return f"{dt.date.fromisoformat(self.start):%a %d %b %Y} (all day)"
        start = dt.datetime.fromisoformat(self.start)
        text = f"{start:%a %d %b %Y, %H:%M}"
        if duration:
            text += f"-{start + dt.timedelta(minutes=duration):%H:%M}"
        return f"{text} ({zone})"

    def as_json(self, zone: str, duration: int) -> dict[str, object]:
        return {
            "id": self.id,
            "start": self.start,
            "all_day": self.all_day,
            "label": self.label(zone, duration),
        }


@dataclass
class Voter:
    id: int
    email: str
    name: str
    #: The account the address names ("" for someone without one).
    user: str
    key: str
    answered: float | None
    reminded: float | None
    #: option id -> yes / maybe / no
    votes: dict[int, str] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    def as_json(self) -> dict[str, object]:
        found: dict[str, object] = {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "answered": self.answered is not None,
            "votes": {str(option): answer for option, answer in sorted(self.votes.items())},
        }
        if self.user:
            found["user"] = self.user
        return found


@dataclass
class Poll:
    id: int
    key: str
    owner: str
    title: str
    description: str
    location: str
    duration: int
    timezone: str
    status: str
    decided_option: int | None
    meeting_uid: str
    notify: str
    created: float
    updated: float
    options: list[Option] = field(default_factory=list)
    voters: list[Voter] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def option(self, option_id: int) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)

    def voter(self, voter_id: int) -> Voter | None:
        return next((v for v in self.voters if v.id == voter_id), None)

    def totals(self) -> dict[int, dict[str, int]]:
        found = {o.id: dict.fromkeys(ANSWERS, 0) for o in self.options}
        for voter in self.voters:
            for option_id, answer in voter.votes.items():
                if option_id in found and answer in ANSWERS:
                    found[option_id][answer] += 1
        return found

    def summary_json(self) -> dict[str, object]:
        found: dict[str, object] = {
            "id": self.id,
            "owner": self.owner,
            "title": self.title,
            "status": self.status,
            "option_count": len(self.options),
            "voter_count": len(self.voters),
            "answered_count": sum(1 for v in self.voters if v.answered is not None),
        }
        if self.decided_option is not None:
            chosen = self.option(self.decided_option)
            if chosen is not None:
                found["decided"] = chosen.as_json(self.timezone, self.duration)
        return found

    def as_json(self, *, owner_view: bool, me: Voter | None = None) -> dict[str, object]:
        """The poll as the owner sees it (every voter and vote), or as voter ``me``
        sees it (their own answers and the totals)."""
        totals = self.totals()
        found: dict[str, object] = {
            **self.summary_json(),
            "description": self.description,
            "location": self.location,
            "duration": self.duration,
            "timezone": self.timezone,
            "notify": self.notify,
            "options": [
                {**o.as_json(self.timezone, self.duration), "totals": totals[o.id]}
                for o in self.options
            ],
        }
        if self.meeting_uid:
            found["meeting_uid"] = self.meeting_uid
        if owner_view:
            found["voters"] = [v.as_json() for v in self.voters]
        elif me is not None:
            found["me"] = me.as_json()
        return found
