"""Scheduling provenance (issue 12, item 1) in the database: which items the engine
wrote for which organizer, on SQLite and PostgreSQL, through the in-process
application -- the upgrade of a database written before it, and what a client's PUT
may and may not do to it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text, update

from calserver import db
from calserver.accounts import users
from calserver.db import migrations
from calserver.db.models import collections, items, meta
from tests.conftest import PASSWORD, WSGIClient

ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def event(uid: str, summary: str, lines: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//provenance//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20301104T100000Z\r\nDTEND:20301104T110000Z\r\n"
        f"SUMMARY:{summary}\r\n{lines}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def meeting(uid: str, summary: str) -> str:
    return event(
        uid,
        summary,
        "ORGANIZER:mailto:alice@example.org\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:carol@example.org\r\n",
    )


def provenance(engine: Any, uid: str) -> dict[str, tuple[str | None, str | None, str]]:
    """collection path -> (sched_organizer, sched_role, text) of the items with ``uid``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(collections.c.path, items.c.sched_organizer, items.c.sched_role, items.c.text)
            .join(collections, collections.c.id == items.c.collection_id)
            .where(items.c.uid == uid)
        ).all()
    return {row.path: (row.sched_organizer, row.sched_role, row.text) for row in rows}


def world(client: WSGIClient, engine: Any) -> str:
    """Alice's meeting with Bob and Carol, Carol holding an event of her own with its
    UID; the UID."""
    users.add(engine, "carol", PASSWORD, "carol@example.org")
    assert client.request("MKCALENDAR", "/alice/work/").status == 201
    assert client.request("MKCALENDAR", "/carol/personal/", user="carol").status == 201
    uid = f"prov-{uuid.uuid4().hex[:10]}"
    own = client.request(
        "PUT", f"/carol/personal/{uid}.ics", event(uid, "Carol's own"), ICS, user="carol"
    )
    assert own.status == 201, own.body
    reply = client.request("PUT", f"/alice/work/{uid}.ics", meeting(uid, "Planning"), ICS)
    assert reply.status == 201, reply.body
    return uid


def test_the_engine_alone_marks_what_it_wrote(client: WSGIClient, engine: Any) -> None:
    uid = world(client, engine)
    found = provenance(engine, uid)
    assert found["alice/work"][:2] == ("alice", "organizer")
    assert found["bob/calendar"][:2] == ("alice", "attendee")
    assert found["carol/personal"][:2] == (None, None)
    assert "Carol's own" in found["carol/personal"][2]


def test_an_attendees_answer_in_their_copy_keeps_the_mark(client: WSGIClient, engine: Any) -> None:
    """Bob answering in his copy (a client PUT) keeps it a copy (Radicale refuses
    another UID at its href: 409 no-uid-conflict)."""
    uid = world(client, engine)
    href = f"{uid}.ics"  # where the engine put it (UID + .ics)
    copy = provenance(engine, uid)["bob/calendar"][2]
    answered = copy.replace(
        "PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org",
        "PARTSTAT=ACCEPTED:mailto:bob@example.org",
    )
    assert answered != copy
    reply = client.request("PUT", f"/bob/calendar/{href}", answered, ICS, user="bob")
    assert reply.status in (201, 204), reply.body
    assert provenance(engine, uid)["bob/calendar"][:2] == ("alice", "attendee")


def test_upgrade_marks_the_meetings_written_before(client: WSGIClient, engine: Any) -> None:
    """A database from before provenance: the upgrade marks Alice's copy and Bob's copy
    (Bob is among its attendees), not Carol's own event; Alice's next change reaches
    Bob's copy, and Carol's event stays hers (5.3)."""
    uid = world(client, engine)
    before = migrations.MIGRATIONS.index(migrations._v6_scheduling_provenance)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_items_sched"))
            conn.execute(text("ALTER TABLE items DROP COLUMN sched_organizer"))
            conn.execute(text("ALTER TABLE items DROP COLUMN sched_role"))
            conn.execute(
                update(meta).where(meta.c.key == "schema_version").values(value=str(before))
            )
    finally:
        assert db.upgrade(engine) == (before, db.LATEST)
    found = provenance(engine, uid)
    assert found["alice/work"][:2] == ("alice", "organizer")
    assert found["bob/calendar"][:2] == ("alice", "attendee")
    assert found["carol/personal"][:2] == (None, None)
    carol_before = found["carol/personal"][2]

    reply = client.request("PUT", f"/alice/work/{uid}.ics", meeting(uid, "Moved"), ICS)
    assert reply.status in (201, 204), reply.body
    found = provenance(engine, uid)
    assert "SUMMARY:Moved" in found["bob/calendar"][2]
    assert found["carol/personal"][2] == carol_before
    organizer_copy = found["alice/work"][2].replace("\r\n ", "")
    assert (
        "SCHEDULE-STATUS=5.3"
        in organizer_copy.split("carol@example.org")[0].rsplit("ATTENDEE", 1)[1]
    )


def test_provenance_after_a_put() -> None:
    """Only the engine makes a copy; an edit keeps the mark, an organizer's copy only
    when its organizer (or the owner's delegate) writes it."""
    from types import SimpleNamespace

    from calserver.scheduling.copies import provenance_after_put

    copy = SimpleNamespace(uid="u", sched_organizer="alice", sched_role="attendee")
    organizer = SimpleNamespace(uid="u", sched_organizer="alice", sched_role="organizer")
    plain = SimpleNamespace(uid="u", sched_organizer=None, sched_role=None)
    assert provenance_after_put("bob/calendar", "bob", None, "u", None) == (None, None)
    assert provenance_after_put("bob/calendar", "bob", plain, "u", None) == (None, None)
    assert provenance_after_put("bob/calendar", "bob", copy, "u", None) == ("alice", "attendee")
    assert provenance_after_put("bob/calendar", "bob", copy, "v", None) == (None, None)
    assert provenance_after_put("alice/work", "alice", None, "u", "alice") == (
        "alice",
        "organizer",
    )
    # the owner's delegate writes for the owner; a group calendar's writer for themself
    assert provenance_after_put("alice/work", "dave", organizer, "u", None) == (
        "alice",
        "organizer",
    )
    assert provenance_after_put("@team/plans", "alice", organizer, "u", None) == (
        "alice",
        "organizer",
    )
    assert provenance_after_put("@team/plans", "erin", organizer, "u", None) == (None, None)
