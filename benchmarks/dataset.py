"""Deterministic benchmark data set (DESIGN.md, "the reference data set").

One calendar of N events over ten years (about N/520 a week): 5% recurring series (daily and
weekly, most lasting weeks to months through COUNT or UNTIL, some endless, with EXDATEs and
overridden instances kept in the same resource), all-day and timed events in several time
zones, 1-1.5 KB per event. The same seed and size always give the same events.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice

from benchmarks import textgen
from benchmarks.model import Attendee, Event, Moment, Override, Rule, same_kind
from benchmarks.render import render_vevents

DECADE_START = date(2020, 1, 6)  # a Monday
DECADE_WEEKS = 520
BENCH_WEEK_START = datetime(2025, 3, 10, tzinfo=UTC)  # a Monday in the middle of the decade
BENCH_WEEK_END = BENCH_WEEK_START + timedelta(days=7)

RECURRING_SHARE = 0.05
ENDLESS_SHARE_OF_SERIES = 0.05
ALL_DAY_SHARE = 0.15
_ZONES = ("Europe/Brussels", "America/New_York", "Asia/Tokyo", None)  # None = UTC
_ZONE_WEIGHTS = (40, 25, 15, 20)
_DURATIONS_MIN = (30, 45, 60, 60, 60, 90, 120, 180)
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BODY_BYTES = (1000, 1500)


def generate(count: int, seed: int) -> list[Event]:
    """The data set of ``count`` events for ``seed``."""
    return DatasetGenerator(seed).events(count)


class DatasetGenerator:
    """Generates events from one seeded random stream."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def events(self, count: int) -> list[Event]:
        """``count`` events spread uniformly over the decade."""
        return [self.event() for _ in range(count)]

    def event(self, *, recurring: bool | None = None, day: date | None = None) -> Event:
        """One event; ``recurring``/``day`` force what is otherwise drawn at random."""
        rng = self._rng
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if day is None:
            day = DECADE_START + timedelta(days=rng.randrange(DECADE_WEEKS * 7))
        if recurring is None:
            recurring = rng.random() < RECURRING_SHARE
        all_day = rng.random() < ALL_DAY_SHARE
        start: Moment
        if all_day:
            tzid = None
            start = day
            duration = timedelta(days=1 if recurring or rng.random() < 0.8 else rng.randint(2, 4))
        else:
            tzid = rng.choices(_ZONES, _ZONE_WEIGHTS)[0]
            start = datetime.combine(day, time(rng.randint(7, 19), rng.choice((0, 15, 30, 45))))
            duration = timedelta(minutes=rng.choice(_DURATIONS_MIN))
        organizer = textgen.person(rng)
        attendees = tuple(
            Attendee(
                textgen.person(rng),
                rng.choice(("REQ-PARTICIPANT", "REQ-PARTICIPANT", "OPT-PARTICIPANT")),
                rng.choice(("ACCEPTED", "ACCEPTED", "TENTATIVE", "NEEDS-ACTION", "DECLINED")),
            )
            for _ in range(rng.randint(1, 5))
        )
        event = Event(
            uid=uid,
            start=start,
            duration=duration,
            tzid=tzid,
            summary=textgen.summary(rng, all_day),
            description="",
            location=textgen.location(rng),
            organizer=organizer,
            attendees=attendees,
            categories=textgen.categories(rng),
            status=rng.choice(("CONFIRMED", "CONFIRMED", "CONFIRMED", "TENTATIVE")),
            transparent=all_day and rng.random() < 0.5,
            alarm=rng.random() < 0.3,
            created=datetime.combine(day, time(9), UTC) - timedelta(days=rng.randint(1, 60)),
        )
        if recurring:
            event = self._make_series(event)
        return self._fill_description(event)

    def _make_series(self, event: Event) -> Event:
        rng = self._rng
        daily = rng.random() < 0.35
        weekday = _WEEKDAYS[event.start.weekday()]
        byday: tuple[str, ...] = ()
        interval = 1
        if not daily:
            if rng.random() < 0.3:
                extra = rng.choice([d for d in _WEEKDAYS[:5] if d != weekday])
                byday = tuple(sorted({weekday, extra}, key=_WEEKDAYS.index))
            interval = 2 if rng.random() < 0.15 else 1
        rule = Rule("DAILY" if daily else "WEEKLY", interval, byday)
        if rng.random() >= ENDLESS_SHARE_OF_SERIES:
            if daily:
                occurrences = rng.randint(5, 60)
            elif rng.random() < 0.9:
                occurrences = rng.randint(4, 26)
            else:
                occurrences = rng.randint(52, 156)
            if rng.random() < 0.5:
                rule = replace(rule, count=occurrences)
            else:
                last = list(islice(rule.dateutil_rule(event.start), occurrences))[-1]
                rule = replace(rule, until=same_kind(event.start, last))
        firsts = [
            same_kind(event.start, moment) for moment in islice(rule.dateutil_rule(event.start), 60)
        ][1:]  # keep the first instance as it is
        picked = rng.sample(firsts, min(len(firsts), rng.randint(0, 3) + rng.randint(0, 2)))
        n_exdates = rng.randint(0, len(picked))
        overrides = tuple(
            self._override(event, recurrence_id) for recurrence_id in picked[n_exdates:]
        )
        return replace(
            event, rule=rule, exdates=tuple(sorted(picked[:n_exdates])), overrides=overrides
        )

    def _override(self, event: Event, recurrence_id: Moment) -> Override:
        rng = self._rng
        start = recurrence_id
        if isinstance(recurrence_id, datetime):
            start = recurrence_id + timedelta(hours=rng.choice((-1, 1, 2)))
        return Override(
            recurrence_id=recurrence_id,
            start=start,
            summary=f"{event.summary} (moved)",
            description=textgen.description(rng, rng.randint(80, 300)),
        )

    def _fill_description(self, event: Event) -> Event:
        target = self._rng.randint(*_BODY_BYTES)
        size = len(render_vevents(event).encode("utf-8"))
        room = max(40, target - size - 20)
        return replace(event, description=textgen.description(self._rng, room))
