"""Whole-collection answers written as strings and streamed (``calserver.dav.streamed``,
issue 15 part 2) answer exactly what Radicale's handlers answer, for every view; the
GET of a large calendar leaves the server in chunks; the sign-in's one read still ends
a login at a password change; ``calserver serve`` limits glibc's arenas."""

from __future__ import annotations

import base64
import io
import os
import sys
from typing import Any

import pytest
import sqlalchemy

from calserver.accounts import users
from calserver.dav import streamed
from calserver.ical import icsfile
from calserver.run import memory
from calserver.sharing import manage
from tests.conftest import PASSWORD, WSGIClient, event_ics

TZ = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Brussels\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
)
ALARM = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"
SYNC = (
    '<?xml version="1.0"?><sync-collection xmlns="DAV:"><sync-token/>'
    "<sync-level>1</sync-level>{prop}</sync-collection>"
)
PROPS = ["<prop><getetag/></prop>", "<prop><getetag/><getcontenttype/></prop>", "<prop/>", ""]


def _event(uid: str, klass: str = "PUBLIC", zoned: bool = False) -> str:
    body = event_ics(uid, summary=f"Secret {uid}", extra=f"CLASS:{klass}\r\n{ALARM}")
    if zoned:
        body = body.replace("BEGIN:VEVENT", TZ + "BEGIN:VEVENT").replace(
            "DTSTART:20261123T100000Z", "DTSTART;TZID=Europe/Brussels:20261123T100000"
        )
    return body


@pytest.fixture
def calendar(client: WSGIClient, engine: Any) -> WSGIClient:
    """Alice's calendar with public, confidential and private events (names that need
    quoting, VTIMEZONEs shared), shared with Bob at the busy level."""
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    for n, klass in enumerate(["PUBLIC", "CONFIDENTIAL", "PRIVATE", "PUBLIC", "PUBLIC"]):
        body = _event(f"u{n}", klass, zoned=n % 2 == 1)
        assert client.request("PUT", f"/alice/cal/e {n}&é.ics", body).status == 201
    users.add(engine, "carol", PASSWORD, "carol@example.org")
    manage.share(engine, "alice/cal", "bob", "busy")
    manage.share(engine, "alice/cal", "carol", "read")
    return client


def _fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Radicale's handlers answer (what calserver answered before issue 15)."""
    monkeypatch.setattr(streamed, "initial_sync", lambda *args, **kwargs: None)
    monkeypatch.setattr(streamed, "whole_calendar", lambda *args, **kwargs: None)


@pytest.mark.parametrize("prop", PROPS)
@pytest.mark.parametrize("viewer", ["alice", "bob", "carol"])
def test_initial_sync_equals_radicale_answer(
    calendar: WSGIClient, monkeypatch: pytest.MonkeyPatch, prop: str, viewer: str
) -> None:
    body = SYNC.format(prop=prop)
    fast = calendar.request("REPORT", "/alice/cal/", body, {"Depth": "1"}, user=viewer)
    _fallback(monkeypatch)
    slow = calendar.request("REPORT", "/alice/cal/", body, {"Depth": "1"}, user=viewer)
    assert fast.status == slow.status == 207
    assert fast.body == slow.body
    assert b"<response>" in fast.body


def test_initial_sync_shows_each_view_its_members(calendar: WSGIClient) -> None:
    def members(viewer: str) -> int:
        body = SYNC.format(prop=PROPS[0])
        answer = calendar.request("REPORT", "/alice/cal/", body, {"Depth": "1"}, user=viewer)
        return answer.body.count(b"<response>")

    # busy: the public events only; read: also the confidential one; never the private one
    assert (members("alice"), members("carol"), members("bob")) == (5, 4, 3)


def test_sync_limit_and_token_stay_on_radicale_path(calendar: WSGIClient) -> None:
    limited = SYNC.format(prop=PROPS[0]).replace(
        "</sync-collection>", "<limit><nresults>2</nresults></limit></sync-collection>"
    )
    assert streamed.sync_request(limited.encode()) is None
    answer = calendar.request("REPORT", "/alice/cal/", limited, {"Depth": "1"})
    assert answer.status == 207 and answer.body.count(b"<response>") == 3  # 2 + the 507
    assert b"number-of-matches-within-limits" in answer.body
    no_level = SYNC.format(prop=PROPS[0]).replace("<sync-level>1</sync-level>", "")
    assert calendar.request("REPORT", "/alice/cal/", no_level, {"Depth": "1"}).status == 400


def test_initial_sync_refuses_who_may_not_read(calendar: WSGIClient, engine: Any) -> None:
    users.add(engine, "dave", PASSWORD, "dave@example.org")
    body = SYNC.format(prop=PROPS[0])
    answer = calendar.request("REPORT", "/alice/cal/", body, {"Depth": "1"}, user="dave")
    assert answer.status in (403, 404)
    assert b"getetag" not in answer.body


@pytest.mark.parametrize("viewer", ["alice", "bob", "carol"])
def test_whole_get_equals_radicale_answer(
    calendar: WSGIClient, monkeypatch: pytest.MonkeyPatch, viewer: str
) -> None:
    fast = calendar.request("GET", "/alice/cal/", user=viewer)
    _fallback(monkeypatch)
    slow = calendar.request("GET", "/alice/cal/", user=viewer)
    assert fast.status == slow.status == 200
    assert fast.body == slow.body
    assert {k: v for k, v in slow.headers.items() if k != "content-length"} == fast.headers
    assert fast.body.count(b"BEGIN:VTIMEZONE") == 1
    if viewer != "alice":
        assert b"Secret u2" not in fast.body  # the private event
    if viewer == "bob":
        assert b"Secret" not in fast.body  # busy blocks only


def test_big_calendar_get_is_streamed_in_chunks(client: WSGIClient) -> None:
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    filler = "X-FILLER:" + "x" * 60 + "\r\n"
    for n in range(120):
        body = _event(f"big{n}", zoned=n % 3 == 0).replace("END:VEVENT", filler * 15 + "END:VEVENT")
        assert client.request("PUT", f"/alice/cal/big{n}.ics", body).status == 201
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/alice/cal/",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "5232",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": "0",
        "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
    }
    started: list[Any] = []
    body = client.app(environ, lambda status, headers, *_: started.append((status, headers)))
    assert not isinstance(body, list | tuple | bytes)  # an iterator, not a joined answer
    chunks = list(body)
    body.close()
    status, headers = started[0]
    assert status.startswith("200")
    assert "content-length" not in {name.lower() for name, _ in headers}
    assert len(chunks) > 1 and max(len(chunk) for chunk in chunks) < 2 * streamed.CHUNK
    whole = b"".join(chunks)
    assert whole.startswith(b"BEGIN:VCALENDAR\r\n") and whole.endswith(b"END:VCALENDAR\r\n")
    assert whole.count(b"BEGIN:VEVENT") == 120 and whole.count(b"BEGIN:VTIMEZONE") == 1


def test_head_of_a_calendar_sends_no_body(calendar: WSGIClient) -> None:
    answer = calendar.request("HEAD", "/alice/cal/")
    assert answer.status == 200 and answer.body == b""


# --- the stored items cut whole equal the walk line by line ---------------------------------

TEXTS = [
    _event("a"),
    _event("b", zoned=True),
    _event("c", zoned=True),  # its VTIMEZONE already sent
    _event("d").replace("BEGIN:VEVENT", "X-WR-CALNAME:late\r\nBEGIN:VEVENT"),
    _event("e").replace("END:VEVENT\r\n", "END:VEVENT\r\nX-AFTER:1\r\n"),  # a property after
    _event("f").replace("BEGIN:VALARM", "begin:VALARM"),  # another case
    _event("g").replace("SUMMARY:", "SUMMARY:long\r\n folded\r\n\r\nSUMMARY:"),  # empty line
    _event("h").replace("BEGIN:VEVENT", TZ + TZ + "BEGIN:VEVENT"),  # the same zone twice
    _event("i").replace("TZID", "X").replace("END:VALARM", "END:VALARM\r\nBEGIN:VALARM"),
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
    "BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n",  # LF only
    _event("j").replace(
        "BEGIN:VEVENT", "BEGIN:VTIMEZONE\r\nTZID:Zoné/Ünïcode\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT"
    ),
    _event("k").replace("SUMMARY:Secret k", "SUMMARY:Café ☕ 😀"),
]


def test_ready_components_equal_the_walk() -> None:
    walked = "".join(icsfile.join_calendar(TEXTS, "Name", "Description"))
    seen: set[str] = set()
    parts = []
    for text in TEXTS:
        parts.append("".join(icsfile._components(text, seen)))
    assert walked.count("BEGIN:VTIMEZONE") == 2
    assert "".join(parts) in walked
    utf8 = b"".join(icsfile.join_calendar_utf8((t.encode() for t in TEXTS), "Name", "Description"))
    assert utf8 == walked.encode("utf-8")
    seen_walk: set[str] = set()
    seen_ready: set[str] = set()
    for text in TEXTS:
        ready = icsfile._ready_components(text, seen_ready)
        walk = "".join(icsfile._components(text, seen_walk))
        if ready is None:  # the walk answered: it must not have changed what was seen
            seen_ready = set(seen_walk)
        else:
            assert "".join(ready) == walk
        assert seen_ready == seen_walk


# --- per request -------------------------------------------------------------------------------


def test_password_change_ends_a_cached_login_at_once(client: WSGIClient, engine: Any) -> None:
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    assert client.request("PROPFIND", "/alice/cal/", headers={"Depth": "0"}).status == 207
    users.set_password(engine, "alice", "another password")
    assert client.request("PROPFIND", "/alice/cal/", headers={"Depth": "0"}).status == 401
    answer = client.request(
        "PROPFIND", "/alice/cal/", headers={"Depth": "0"}, password="another password"
    )
    assert answer.status == 207


def test_serve_limits_malloc_arenas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    memory.limit_arenas(2)
    assert os.environ["MALLOC_ARENA_MAX"] == "2"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.limit_arenas(2) and os.environ["MALLOC_ARENA_MAX"] == "4"


def test_plain_put_reads_its_calendar_once_before_and_once_under_the_lock(
    client: WSGIClient, engine: Any
) -> None:
    """Issue 15: the PUT's checks share one read of the calendar; Radicale's handler
    reads it again under the write lock; the answer reads no Schedule-Tag of a plain
    event. (Radicale also reads the principal, and the resource's own path.)"""
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    assert client.request("PUT", "/alice/cal/a.ics", event_ics("a")).status == 201
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    sqlalchemy.event.listen(engine, "before_cursor_execute", seen)
    try:
        assert client.request("PUT", "/alice/cal/b.ics", event_ics("b")).status == 201
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", seen)
    reads = [s for s in statements if s.startswith("SELECT collections.id")]
    assert len(reads) == 4, reads  # alice, alice/cal, alice/cal/b.ics, alice/cal
    assert not any("item_properties.value" in s for s in statements)
