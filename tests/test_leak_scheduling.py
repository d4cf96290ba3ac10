"""Scheduling changes nobody's own items (issue 12, item 1), property-based.

A hypothesis test on a live server (SQLite and PostgreSQL): Alice, Bob, Carol and Dave
(Alice, Bob and Carol are the group ``team``, Dave is not) first store events of their
own whose UIDs collide with the meetings to come -- plain ones, private ones, and ones
naming another user as ORGANIZER (as a client that imported an invitation writes
them); then a random sequence of scheduling deliveries runs over the same UIDs:
meetings organized (created and updated, with users and the group ``/@team/`` as
attendees), cancelled, answered by an attendee's client and declined by deleting the
copy; and "shadow copies" (items with a meeting's UID and ORGANIZER that Alice, the
group's administrator, writes in the group calendar). Every request must answer below
500, and afterwards:

- every user's own event is byte for byte what they stored (text and ETag);
- every other item in a user's calendars is either a meeting they organize (the text
  they last stored, still theirs) or a copy of a meeting they are invited to: its
  organizer's current meeting (same organizer, same summary), with them among its
  attendees;
- an attendee who holds an event of their own with the meeting's UID is marked
  SCHEDULE-STATUS 5.3 in the organizer's copy (their delivery refused);
- nobody outside ``team`` expanded it.

Each example draws its UIDs afresh, so examples do not see each other's items.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from calserver import db
from calserver.db.models import collections, items
from tests.conftest import LiveServer
from tests.e2e_support import ENGINES, calserver, module_server_with, send

MAX_EXAMPLES = {"sqlite": 40, "postgresql": 20}
USERS = ["alice", "bob", "carol", "dave"]
TEAM = {"alice", "bob", "carol"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
#: Where each user's own events are (sorted first: their copies arrive here too, RFC
#: 6638 9.2) and where the meetings they organize are.
OWN = "a-own"
MEET = "meet"
UIDS = 3
#: A group calendar Alice (the group's administrator) writes: she stores there items
#: with the UID and ORGANIZER of other users' meetings ("shadow copies"), sorted
#: before every user's calendars.
SHADOWS = "@team/plans"


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    for live in module_server_with(request, tmp_path_factory, USERS):
        for user in USERS:
            calserver(live, "calendar", "create", f"{user}/{OWN}", "--name", "Own")
            calserver(live, "calendar", "create", f"{user}/{MEET}", "--name", "Meetings")
        calserver(live, "group", "create", "team", "--admin", "alice")
        for member in sorted(TEAM - {"alice"}):
            calserver(live, "group", "add-member", "team", member)
        calserver(live, "calendar", "create", SHADOWS, "--name", "Team plans")
        yield live


def address(user: str) -> str:
    return f"mailto:{user}@example.org"


# --- what is generated ---------------------------------------------------------------

USER = st.sampled_from(USERS)
UID_INDEX = st.integers(0, UIDS - 1)
#: An own event: plain, private, or naming another user as organizer (and its owner
#: as an attendee, as a client that imported an invitation stores it).
KIND = st.one_of(st.sampled_from(["plain", "private"]), st.tuples(st.just("foreign"), USER))
OWN_EVENTS = st.lists(
    st.tuples(USER, UID_INDEX, KIND), max_size=5, unique_by=lambda own: (own[0], own[1])
)
INVITEES = st.sets(st.sampled_from([*USERS, "@team"]), min_size=1, max_size=3)
ACTION = st.one_of(
    st.tuples(st.just("organize"), USER, UID_INDEX, INVITEES, st.integers(0, 2)),
    st.tuples(st.just("cancel"), USER, UID_INDEX),
    st.tuples(
        st.just("answer"), USER, UID_INDEX, st.sampled_from(["ACCEPTED", "DECLINED", "TENTATIVE"])
    ),
    st.tuples(st.just("delete-copy"), USER, UID_INDEX),
    st.tuples(st.just("shadow"), USER, UID_INDEX, INVITEES),
)
ACTIONS = st.lists(ACTION, min_size=1, max_size=7)


def own_text(user: str, uid: str, kind: Any) -> str:
    lines = [f"SUMMARY:{user}'s own {uid}"]
    if kind == "private":
        lines.append("CLASS:PRIVATE")
    elif kind != "plain":
        organizer = kind[1]
        lines.append(f"ORGANIZER:{address(organizer)}")
        lines.append(f"ATTENDEE;PARTSTAT=ACCEPTED:{address(user)}")
    body = "\r\n".join(lines)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//leak//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20301201T090000Z\r\nDTEND:20301201T100000Z\r\n"
        f"{body}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def meeting_text(organizer: str, uid: str, invitees: set[str], summary: str) -> str:
    people = (
        "".join(
            "ATTENDEE;CUTYPE=GROUP:/@team/\r\n"
            if person == "@team"
            else f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:{address(person)}\r\n"
            for person in sorted(invitees - {organizer})
        )
        or f"ATTENDEE;PARTSTAT=NEEDS-ACTION:{address('dave' if organizer != 'dave' else 'bob')}\r\n"
    )
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//leak//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20301202T090000Z\r\nDTEND:20301202T100000Z\r\n"
        f"SUMMARY:{summary}\r\nORGANIZER:{address(organizer)}\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:{address(organizer)}\r\n"
        f"{people}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


# --- the server's state ----------------------------------------------------------------


@dataclass
class World:
    server: LiveServer
    uids: list[str]
    #: (user, uid) -> href of their own event, and (text, ETag) as stored
    own: dict[tuple[str, str], tuple[str, tuple[str, str]]] = field(default_factory=dict)
    #: (organizer, uid) -> the summary of what they last stored
    organized: dict[tuple[str, str], str] = field(default_factory=dict)

    def request(self, method: str, path: str, user: str, body: str = "") -> Any:
        reply = send(self.server, method, path, body, ICS if body else None, user=user)
        assert reply.status < 500, (method, path, user, reply.status, reply.text, body)
        return reply

    def home(self, user: str) -> dict[str, tuple[str, str, str]]:
        """Every item in ``user``'s calendars but the inbox: path -> (uid, text, ETag)."""
        engine = db.get_engine(self.server.database_url)
        with engine.connect() as conn:
            rows = conn.execute(
                select(collections.c.path, items.c.href, items.c.uid, items.c.text, items.c.etag)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(collections.c.parent == user, items.c.uid.in_(self.uids))
            ).all()
        return {
            f"/{row.path}/{row.href}": (row.uid, row.text, row.etag)
            for row in rows
            if row.path.rpartition("/")[2] not in ("inbox", "outbox")
        }

    def copy_of(self, user: str, uid: str) -> tuple[str, str] | None:
        """The path and text of ``user``'s copy of a meeting ``uid`` (not their own
        event, not a meeting they organize)."""
        mine = {self.own[(user, uid)][0]} if (user, uid) in self.own else set()
        for path, (item_uid, text, _etag) in self.home(user).items():
            if item_uid == uid and path not in mine and not path.startswith(f"/{user}/{MEET}/"):
                return path, text
        return None


def organize(world: World, organizer: str, uid: str, invitees: set[str], version: int) -> None:
    summary = f"{organizer} meeting {uid} v{version}"
    path = f"/{organizer}/{MEET}/{uid}.ics"
    reply = world.request("PUT", path, organizer, meeting_text(organizer, uid, invitees, summary))
    if reply.status in (201, 204):
        world.organized[(organizer, uid)] = summary


def cancel(world: World, organizer: str, uid: str) -> None:
    if (organizer, uid) not in world.organized:
        return
    reply = world.request("DELETE", f"/{organizer}/{MEET}/{uid}.ics", organizer)
    if reply.status in (200, 204):
        del world.organized[(organizer, uid)]


def answer(world: World, user: str, uid: str, partstat: str) -> None:
    found = world.copy_of(user, uid)
    if found is None:
        return
    path, text = found
    calendar = icalendar.Calendar.from_ical(text)
    for component in calendar.walk("VEVENT"):
        values = component.get("ATTENDEE", [])
        for value in values if isinstance(values, list) else [values]:
            if str(value).lower() == address(user):
                value.params["PARTSTAT"] = partstat
    world.request("PUT", path, user, calendar.to_ical().decode())


def shadow(world: World, organizer: str, uid: str, invitees: set[str]) -> None:
    """Alice stores in the group calendar an item with ``uid`` naming ``organizer``
    (someone else) as ORGANIZER, and other attendees than Alice: nothing is scheduled
    for it, and no answer or delivery may ever take it for ``organizer``'s meeting."""
    if organizer == "alice":
        return
    text = meeting_text(organizer, uid, invitees - {"alice", "@team"}, f"shadow of {uid}")
    world.request("PUT", f"/{SHADOWS}/{uid}.ics", "alice", text)


def delete_copy(world: World, user: str, uid: str) -> None:
    found = world.copy_of(user, uid)
    if found is not None:
        world.request("DELETE", found[0], user)


# --- what must hold ------------------------------------------------------------------


def attendee_params(text: str) -> dict[str, dict[str, str]]:
    """address (lower case) -> parameters, of the first VEVENT's attendees."""
    calendar = icalendar.Calendar.from_ical(text)
    [event] = list(calendar.walk("VEVENT"))[:1]
    values = event.get("ATTENDEE", [])
    found = {}
    for value in values if isinstance(values, list) else [values]:
        found[str(value).lower()] = {k.upper(): str(v) for k, v in value.params.items()}
    return found


def summary_and_organizer(text: str) -> tuple[str, str]:
    event = next(iter(icalendar.Calendar.from_ical(text).walk("VEVENT")))
    return str(event.get("SUMMARY", "")), str(event.get("ORGANIZER", "")).lower()


def check(world: World) -> None:
    for user in USERS:
        home = world.home(user)
        own_paths = set()
        # 1. own events: byte for byte as stored
        for (owner, _uid), (path, before) in world.own.items():
            if owner != user:
                continue
            own_paths.add(path)
            assert path in home, f"{user}'s own event {path} is gone"
            assert home[path][1:] == before, f"{user}'s own event {path} changed"
        for path, (uid, text, _etag) in home.items():
            if path in own_paths:
                continue
            summary, organizer = summary_and_organizer(text)
            if path.startswith(f"/{user}/{MEET}/"):
                # 2a. a meeting they organize: what they stored last, still theirs
                assert organizer == address(user), (path, organizer)
                assert summary == world.organized.get((user, uid)), (path, summary)
                continue
            # 2b. a copy: of a live meeting of its organizer, who invites them
            owner = organizer.removeprefix("mailto:").partition("@")[0]
            assert (owner, uid) in world.organized, f"{path}: no meeting of {owner}"
            assert summary == world.organized[(owner, uid)], (path, summary)
            invited = attendee_params(home_of(world, owner, uid))
            assert address(user) in invited, f"{path}: {user} is not invited by {owner}"
    # 3. an attendee holding an own event with the UID was refused; 4. no outsider
    # expanded the group
    for (organizer, uid), _summary in world.organized.items():
        invited = attendee_params(home_of(world, organizer, uid))
        for user in USERS:
            params = invited.get(address(user))
            if params is None or user == organizer:
                continue
            if (user, uid) in world.own:
                assert params.get("SCHEDULE-STATUS") == "5.3", (organizer, uid, user, params)
            if params.get("MEMBER") and organizer not in TEAM:
                raise AssertionError(f"{organizer} expanded the group: {params}")


def home_of(world: World, organizer: str, uid: str) -> str:
    path = f"/{organizer}/{MEET}/{uid}.ics"
    return world.home(organizer)[path][1]


# --- the test ------------------------------------------------------------------------


@pytest.mark.live
def test_scheduling_changes_no_ones_own_items(server: LiveServer) -> None:
    engine = "postgresql" if server.database_url.startswith("postgresql") else "sqlite"
    wanted = MAX_EXAMPLES[engine]
    examples: list[int] = []

    @settings(
        max_examples=wanted,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(own_events=OWN_EVENTS, actions=ACTIONS)
    def run(own_events: list[tuple[str, int, Any]], actions: list[tuple[Any, ...]]) -> None:
        examples.append(len(actions))
        prefix = uuid.uuid4().hex[:8]
        world = World(server, [f"leak-{prefix}-{i}" for i in range(UIDS)])
        for user, index, kind in own_events:
            uid = world.uids[index]
            path = f"/{user}/{OWN}/{uid}-own.ics"
            reply = world.request("PUT", path, user, own_text(user, uid, kind))
            assert reply.status == 201, (reply.status, reply.text)
            _uid, text, etag = world.home(user)[path]
            world.own[(user, uid)] = (path, (text, etag))
        for action in actions:
            name, user, index, *rest = action
            uid = world.uids[index]
            if name == "organize":
                organize(world, user, uid, *rest)
            elif name == "cancel":
                cancel(world, user, uid)
            elif name == "answer":
                answer(world, user, uid, *rest)
            elif name == "shadow":
                shadow(world, user, uid, *rest)
            else:
                delete_copy(world, user, uid)
            check(world)

    run()
    assert len(examples) >= wanted
    print(f"{len(examples)} generated sequences, {sum(examples)} scheduling actions")
