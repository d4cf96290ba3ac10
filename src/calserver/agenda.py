"""A user's agenda (issue 14 section 3): the calendars they see, and the occurrences of
their events in a window across them. The web app's calendar views use it, and the
API may.

- :func:`calendars`: every calendar of the user's home as a Depth 1 PROPFIND of
  ``/USER/`` lists it (``Storage.home_calendars``): their own, those shared with them,
  those of their groups and the "other calendars" they added, each with its name and
  colour as the user sees them (their own rename and recolour of a shared calendar
  win), their level, and the path it has in their home.
- :func:`events`: the occurrences in [start, end) of the calendars asked for, read
  through the occurrence index (``Collection.iter_window``: only the items with an
  instance in the window are read, never a whole calendar) from the storage's view of
  each calendar, so what a viewer sees follows DESIGN.md's visibility table exactly: a
  busy-only viewer gets busy blocks ("Busy", no other text), a reader confidential
  events as busy blocks, nobody but the owner a private event. Nothing is redacted
  here: the storage did it.

Stable names for pages (``/.web/colours.css`` defines them; calserver.web.pages.calendar):

- a calendar's class is ``cal-<key>``, ``key`` = :func:`calendar_key` of the
  calendar's own path (``alice/work``, ``@team/board``; not the alias), the first 10
  hex digits of its SHA-256 -- the same for every viewer and every page;
- an event coloured by the user is ``ec-rrggbb`` (calserver.eventcolours.colour_class).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from calserver import eventcolours
from calserver.ical import occurrences as occ
from calserver.sharing import manage
from calserver.sharing.redact import BUSY_SUMMARY
from calserver.sharing.redact import PRODID as BUSY_PRODID
from calserver.sharing.visibility import Level
from calserver.storage import Storage

#: Colours of calendars that have none of their own (chosen by the calendar's key).
DEFAULT_COLOURS = ("#1f5fa8", "#2e7d32", "#8e24aa", "#c62828", "#ef6c00", "#00838f", "#6d4c41")
#: Most occurrences one calendar contributes to one window.
LIMIT = 5000

KINDS = {
    "own": "My calendars",
    "group": "Group calendars",
    "shared": "Shared with me",
    "other": "Other calendars",
}


def calendar_key(path: str) -> str:
    """The stable key of the calendar whose own path is ``path`` (class ``cal-KEY``)."""
    return hashlib.sha256(path.strip("/").encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True)
class CalendarView:
    """One calendar as its viewer sees it."""

    #: where it is in the viewer's home (``bob/alice~work`` for a shared one)
    path: str
    #: the calendar's own path (``alice/work``)
    target: str
    collection_id: int
    name: str
    #: ``#rrggbb``
    colour: str
    level: Level
    #: "own", "group", "shared" or "other" (added by the viewer)
    kind: str

    @property
    def key(self) -> str:
        return calendar_key(self.target)

    @property
    def css_class(self) -> str:
        return "cal-" + self.key

    @property
    def writable(self) -> bool:
        return self.level >= Level.WRITE

    @property
    def busy_only(self) -> bool:
        return self.level < Level.READ


def _colour(value: str, key: str) -> str:
    text = value.strip().lower()
    if len(text) == 9 and text.startswith("#"):  # #RRGGBBAA (Apple): the alpha goes
        text = text[:7]
    fallback = DEFAULT_COLOURS[int(key, 16) % len(DEFAULT_COLOURS)]
    try:
        return eventcolours.parse_colour(text) or fallback
    except ValueError:
        return fallback


def calendars(storage: Storage, user: str) -> list[CalendarView]:
    """The calendars ``user`` sees, their own first, then group, shared and other ones,
    each group by name."""
    added = {
        entry.calendar
        for entry in manage.calendars_shared_with(storage.engine, user)
        if entry.added
    }
    found = []
    for collection in storage.home_calendars(user):
        view = collection.view
        target = view.target if view is not None else collection.path
        if target.partition("/")[0] == user:
            kind = "own"
        elif target.startswith("@"):
            kind = "group"
        elif target in added and collection.level <= Level.BUSY:
            kind = "other"
        else:
            kind = "shared"
        props = collection.get_meta()
        key = calendar_key(target)
        found.append(
            CalendarView(
                path=collection.path,
                target=target,
                collection_id=collection.id,
                name=str(props.get("D:displayname") or target.rpartition("/")[2]),
                colour=_colour(str(props.get("ICAL:calendar-color") or ""), key),
                level=collection.level,
                kind=kind,
            )
        )
    order = list(KINDS)
    return sorted(found, key=lambda c: (order.index(c.kind), c.name.lower(), c.path))


@dataclass(frozen=True)
class AgendaEvent:
    """One occurrence of an event of one calendar, as its viewer sees it."""

    calendar: CalendarView
    occurrence: occ.Occurrence
    #: served as a busy block (no text of the event reaches this viewer)
    busy: bool
    #: the viewer's own colour of this event (calserver.eventcolours), or ""
    colour: str

    @property
    def title(self) -> str:
        if self.busy:
            return BUSY_SUMMARY
        return self.occurrence.summary or "(no title)"

    @property
    def colour_class(self) -> str:
        return eventcolours.colour_class(self.colour) if self.colour else ""


def _sort_key(event: AgendaEvent) -> tuple[datetime, bool, datetime, str, str]:
    o = event.occurrence
    return (
        o.start.astimezone(UTC),
        not o.all_day,
        o.end.astimezone(UTC),
        event.title,
        event.calendar.path,
    )


def events(
    storage: Storage,
    user: str,
    shown: Iterable[CalendarView],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
) -> list[AgendaEvent]:
    """The occurrences overlapping [``start``, ``end``) of the calendars ``shown``, as
    ``user`` sees them, in ``tz``, in order of start (all-day first on a day). Each
    calendar is read through its occurrence index: what lies outside the window is not
    read."""
    chosen = list(shown)
    colours = eventcolours.colours_for(storage.engine, user, (c.collection_id for c in chosen))
    found: list[AgendaEvent] = []
    low, high = int(start.timestamp()), int(end.timestamp())
    for calendar in chosen:
        collection = storage.open_collection(calendar.path, user)
        if collection is None:
            continue
        busy_hrefs: set[str] = set()
        texts: list[tuple[str, str]] = []
        for item in collection.iter_window("VEVENT", low, high):
            text = item.serialize()
            href = item.href or ""
            if "PRODID:" + BUSY_PRODID in text:
                busy_hrefs.add(href)
            texts.append((href, text))
        for found_occurrence in occ.occurrences(texts, start, end, tz, limit=LIMIT):
            found.append(
                AgendaEvent(
                    calendar=calendar,
                    occurrence=found_occurrence,
                    busy=found_occurrence.href in busy_hrefs,
                    colour=colours.get((calendar.collection_id, found_occurrence.uid), ""),
                )
            )
    return sorted(found, key=_sort_key)
