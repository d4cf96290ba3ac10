"""Search (issue 17 section 1): every rule of the query syntax against a small corpus,
with the expected answers worked out here independently of calserver's matcher, on
SQLite and PostgreSQL alike; scopes; visibility by level and class; bad input; the index
following every path that writes items (PUT, DELETE, MOVE, import, scheduling copies)
and its check and repair."""

from __future__ import annotations

import contextlib
import io
import json
import re
import unicodedata
from typing import Any

import pytest
from sqlalchemy import text

from calserver import calendars, check, cli, search
from calserver.accounts import users
from calserver.app import make_app
from calserver.db import write_transaction
from calserver.errors import InvalidInput, NotFound
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import PASSWORD, WSGIClient, event_ics

ICS = {"Content-Type": "text/calendar; charset=utf-8"}

#: uid -> (summary, description)
CORPUS = {
    "e1": ("Holiday in Hawaii", "a great holiday on the beach"),
    "e2": ("Holiday in Maui", "holiday, but the computer came along"),
    "e3": ("Great Barrier Reef", "holiday great, far away"),
    "e4": ("Information session", "informatics and INFO desk"),
    "e5": ("Café with Zoë", "CAFE near the Opéra"),
    "e6": ("Plumber visit", "fix the kitchen sink; computer off"),
    "e7": ("e-mail triage", "inbox zero"),
    "e8": ("Hawaii flights", "book flights"),
}


def _fold_words(value: str) -> list[str]:
    """The test's own word rule (written apart from calserver.ical.searchquery)."""
    plain = "".join(
        c for c in unicodedata.normalize("NFD", value.lower()) if unicodedata.category(c) != "Mn"
    )
    return re.findall(r"[a-z0-9]+", plain)


def _has(uid: str, *phrase: str, prefix: bool = False) -> bool:
    summary, description = CORPUS[uid]
    doc = _fold_words(summary) + _fold_words(description)
    n = len(phrase)
    for i in range(len(doc) - n + 1):
        head = doc[i : i + n - 1] == list(phrase[:-1])
        last = doc[i + n - 1]
        if head and (last == phrase[-1] or (prefix and last.startswith(phrase[-1]))):
            return True
    return False


def _expect(rule: Any) -> set[str]:
    return {uid for uid in CORPUS if rule(uid)}


#: query -> the UIDs it must find, computed from CORPUS by the test's own rules
CASES = {
    "holiday hawaii": _expect(lambda u: _has(u, "holiday") and _has(u, "hawaii")),
    "Maui OR Hawaii": _expect(lambda u: _has(u, "maui") or _has(u, "hawaii")),
    "holiday Maui OR Hawaii": _expect(
        lambda u: _has(u, "holiday") and (_has(u, "maui") or _has(u, "hawaii"))
    ),
    '"great holiday"': _expect(lambda u: _has(u, "great", "holiday")),
    '"holiday great"': _expect(lambda u: _has(u, "holiday", "great")),
    "info*": _expect(lambda u: _has(u, "info", prefix=True)),
    "informatics": _expect(lambda u: _has(u, "informatics")),
    "holiday -computer": _expect(lambda u: _has(u, "holiday") and not _has(u, "computer")),
    'holiday -"great holiday"': _expect(
        lambda u: _has(u, "holiday") and not _has(u, "great", "holiday")
    ),
    "HOLIDAY": _expect(lambda u: _has(u, "holiday")),
    "cafe": _expect(lambda u: _has(u, "cafe")),
    "CAFÉ zoe": _expect(lambda u: _has(u, "cafe") and _has(u, "zoe")),
    "opera": _expect(lambda u: _has(u, "opera")),
    "e-mail": _expect(lambda u: _has(u, "e", "mail")),
    "flig*": _expect(lambda u: _has(u, "flig", prefix=True)),
    "nothing-here": set(),
}


@pytest.fixture
def corpus(configuration: Any, engine: Any) -> WSGIClient:
    for name in ("alice", "bob", "carol"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    client = WSGIClient(make_app(configuration), configuration, default_user="alice")
    calendars.create(Storage(configuration), "alice/work")
    for day, (uid, (summary, description)) in enumerate(CORPUS.items(), start=10):
        body = event_ics(
            uid,
            start=f"202611{day}T100000Z",
            end=f"202611{day}T110000Z",
            summary=summary,
            extra=f"DESCRIPTION:{description.replace(',', chr(92) + ',')}\r\n",
        )
        assert client.request("PUT", f"/alice/work/{uid}.ics", body, ICS).status == 201
    return client


def _uids(engine: Any, user: str, q: str, **options: Any) -> set[str]:
    return {hit.uid for hit in search.search(engine, user, q, **options)}


@pytest.mark.parametrize("q", sorted(CASES))
def test_every_syntax_rule_finds_what_the_corpus_says(
    corpus: WSGIClient, engine: Any, q: str
) -> None:
    # the same cases run on SQLite and PostgreSQL (the database_url fixture's engines)
    assert _uids(engine, "alice", q) == CASES[q]


@pytest.mark.parametrize(
    ("q", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("inf*", "at least 4"),
        ('"great holiday', "unbalanced quote"),
        ("-", "lone '-'"),
        ("holiday -", "lone '-'"),
        ("-computer", "at least one word"),
        ("OR holiday", "OR needs"),
        ("x" * 501, "longer than 500"),
    ],
)
def test_bad_queries_are_refused_saying_why(
    corpus: WSGIClient, engine: Any, q: str, why: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(why)):
        search.search(engine, "alice", q)


def test_results_carry_calendar_time_and_order(corpus: WSGIClient, engine: Any) -> None:
    hits = search.search(engine, "alice", "holiday", now=1_700_000_000)
    assert {h.calendar for h in hits} == {"alice/work"}
    hawaii = next(h for h in hits if h.uid == "e1")
    assert hawaii.start == "2026-11-10T10:00:00Z" and hawaii.end == "2026-11-10T11:00:00Z"
    assert hawaii.summary == "Holiday in Hawaii" and not hawaii.busy
    # a window keeps only what has an occurrence in it
    found = _uids(engine, "alice", "holiday", start="2026-11-11", end="2026-11-12")
    assert found == {"e2"}


def test_a_series_shows_its_next_occurrence(corpus: WSGIClient, engine: Any) -> None:
    body = event_ics(
        "weekly",
        start="20260105T090000Z",
        end="20260105T100000Z",
        summary="Standup",
        extra="RRULE:FREQ=WEEKLY\r\n",
    )
    assert corpus.request("PUT", "/alice/work/weekly.ics", body, ICS).status == 201
    now = 1_780_000_000  # 2026-05-28T20:26:40Z, a Thursday
    (hit,) = search.search(engine, "alice", "standup", now=now)
    assert hit.start == "2026-06-01T09:00:00Z"


def test_the_index_follows_put_delete_move_and_import(
    corpus: WSGIClient, engine: Any, configuration: Any
) -> None:
    storage = Storage(configuration)
    changed = event_ics("e8", start="20261118T100000Z", end="20261118T110000Z", summary="Ferry")
    assert corpus.request("PUT", "/alice/work/e8.ics", changed, ICS).status == 204
    assert _uids(engine, "alice", "flights") == set()
    assert _uids(engine, "alice", "ferry") == {"e8"}
    assert corpus.request("DELETE", "/alice/work/e8.ics").status == 200
    assert _uids(engine, "alice", "ferry") == set()
    calendars.create(storage, "alice/home")
    moved = corpus.request(
        "MOVE",
        "/alice/work/e6.ics",
        headers={"Destination": "/alice/home/e6.ics"},
    )
    assert moved.status in (201, 204)
    (hit,) = search.search(engine, "alice", "plumber")
    assert hit.calendar == "alice/home"
    imported = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
        "BEGIN:VEVENT\r\nUID:imp1\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261201T100000Z\r\n"
        "DTEND:20261201T110000Z\r\nSUMMARY:Imported dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    calendars.import_file(storage, "alice/home", imported)
    assert {h.calendar for h in search.search(engine, "alice", "dentist")} == {"alice/home"}
    storage_problems = check.check_storage(engine)
    assert not [p for p in storage_problems if "search index" in p]


def test_check_finds_and_repair_rebuilds_a_broken_index(corpus: WSGIClient, engine: Any) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            text("DELETE FROM search_docs WHERE item_id IN (SELECT id FROM items WHERE uid = 'e1')")
        )
    assert any("not indexed" in p for p in check.check_storage(engine))
    assert _uids(engine, "alice", "hawaii") == {"e8"}
    assert check.repair_storage(engine)
    assert not [p for p in check.check_storage(engine) if "search index" in p]
    assert _uids(engine, "alice", "hawaii") == {"e1", "e8"}


# --- scopes and visibility --------------------------------------------------------------

CLASSES = {"pub": "PUBLIC", "conf": "CONFIDENTIAL", "priv": "PRIVATE"}


@pytest.fixture
def shared(configuration: Any, engine: Any) -> WSGIClient:
    """bob's calendars "read" (shared with alice at read), "busy" (at busy), "write"
    (at write), each with one event of every class whose text says "secretword"."""
    for name in ("alice", "bob", "carol"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    client = WSGIClient(make_app(configuration), configuration, default_user="bob")
    storage = Storage(configuration)
    for level in ("read", "busy", "write"):
        calendars.create(storage, f"bob/{level}")
        for key, klass in CLASSES.items():
            body = event_ics(
                f"{level}-{key}", summary=f"secretword {level} {key}", extra=f"CLASS:{klass}\r\n"
            )
            assert client.request("PUT", f"/bob/{level}/{level}-{key}.ics", body, ICS).status == 201
        manage.share(engine, f"bob/{level}", "alice", level, actor="bob")
    calendars.create(storage, "bob/mine")
    body = event_ics("mine-pub", summary="secretword mine")
    assert client.request("PUT", "/bob/mine/mine-pub.ics", body, ICS).status == 201
    return client


def test_visibility_by_level_and_class(shared: WSGIClient, engine: Any) -> None:
    # the owner finds everything of theirs
    assert len(_uids(engine, "bob", "secretword")) == 10
    # alice: details of public events she reads or writes; nothing else by its text
    assert _uids(engine, "alice", "secretword") == {"read-pub", "write-pub"}
    assert _uids(engine, "alice", "secretword", scope="private") == set()
    # "Busy" finds the busy views: public events of busy shares, confidential ones of
    # read and write shares; private events never
    busy = search.search(engine, "alice", "busy")
    assert {h.uid for h in busy} == {"busy-pub", "read-conf", "write-conf"}
    assert all(h.summary == "Busy" and h.busy for h in busy)
    for hit in busy:
        assert "secretword" not in str(hit.as_json())
    # carol sees none of it
    assert _uids(engine, "carol", "secretword") == set()
    assert _uids(engine, "carol", "busy") == set()


def test_group_scope(configuration: Any, engine: Any) -> None:
    sharing = manage

    for name in ("alice", "bob"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    sharing.create_group(engine, "team", admin="bob")
    sharing.add_member(engine, "team", "alice")
    client = WSGIClient(make_app(configuration), configuration, default_user="bob")
    storage = Storage(configuration)
    calendars.create(storage, "@team/plans")
    calendars.create(storage, "alice/own")
    body = event_ics("g1", summary="Roadmap review")
    assert client.request("PUT", "/@team/plans/g1.ics", body, ICS).status == 201
    mine = event_ics("a1", summary="Roadmap notes")
    alice = WSGIClient(make_app(configuration), configuration, default_user="alice")
    assert alice.request("PUT", "/alice/own/a1.ics", mine, ICS).status == 201
    assert _uids(engine, "alice", "roadmap", scope="group:team") == {"g1"}
    assert _uids(engine, "alice", "roadmap", scope="all") == {"g1", "a1"}
    assert _uids(engine, "alice", "roadmap", scope="private") == {"a1"}
    with pytest.raises(NotFound):
        search.search(engine, "alice", "roadmap", scope="group:nope")
    with pytest.raises(InvalidInput):
        search.search(engine, "alice", "roadmap", scope="everything")


def _cli(database_url: str, folder: Any, *args: str) -> tuple[int, str, str]:
    """``calserver ARGS`` in this process: (exit status, output, errors)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(
            ["--storage-database-url", database_url, "--storage-data-folder", str(folder), *args]
        )
    return code, out.getvalue(), err.getvalue()


def test_cli_search_and_tags(corpus: WSGIClient, database_url: str, tmp_path: Any) -> None:
    code, out, err = _cli(database_url, tmp_path, "search", "alice", "holiday -computer", "--json")
    assert code == 0, err
    assert {hit["uid"] for hit in json.loads(out)} == CASES["holiday -computer"]
    code, out, err = _cli(database_url, tmp_path, "search", "alice", "inf*")
    assert code != 0 and "at least 4" in err
    assert (
        _cli(database_url, tmp_path, "tags", "alice", "add", "Trips", "--colour", "#00aa00")[0] == 0
    )
    code, out, err = _cli(database_url, tmp_path, "tags", "alice", "add", "trips")
    assert code != 0 and "already" in err
    code, out, err = _cli(
        database_url, tmp_path, "tags", "alice", "tag", "Trips", "alice/work", "e1.ics"
    )
    assert code == 0, err
    assert _cli(database_url, tmp_path, "tags", "alice")[1].split() == ["Trips", "#00aa00", "1"]
    code, out, err = _cli(database_url, tmp_path, "search", "alice", "", "--tag", "trips", "--json")
    assert [hit["uid"] for hit in json.loads(out)] == ["e1"]
    assert _cli(database_url, tmp_path, "tags", "alice", "delete", "Trips")[0] == 0
    assert _cli(database_url, tmp_path, "tags", "alice")[1] == ""


def test_db_upgrade_builds_the_index_of_existing_events(corpus: WSGIClient, engine: Any) -> None:
    """A database from before the search index (schema version 17 here): the migration
    makes the tables and indexes every event already there."""
    from calserver import db
    from calserver.db import migrations
    from calserver.db.models import meta

    number = migrations.MIGRATIONS.index(migrations._v22_search_and_tags)
    with write_transaction(engine) as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TABLE search_fts"))
        conn.execute(text("DROP TABLE item_tags"))
        conn.execute(text("DROP TABLE tags"))
        conn.execute(text("DROP TABLE search_docs"))
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(number)))
    before, after = db.upgrade(engine)
    assert (before, after) == (number, migrations.LATEST)
    for q in ("holiday hawaii", "info*", '"great holiday"'):
        assert _uids(engine, "alice", q) == CASES[q]
    assert not [p for p in check.check_storage(engine) if "search index" in p]
