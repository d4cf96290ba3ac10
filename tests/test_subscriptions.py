"""Calendar subscriptions (issue 18): a local HTTP server plays the remote calendars
(changing, with and without ETag, slow, huge, redirecting, of the wrong type) and counts
its requests; the subscribed calendars are read through the WSGI application as a
CalDAV client reads them (sync-collection, PROPFIND, PUT refused), on every engine."""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select, update

from calserver import outbound
from calserver.db.models import subscription_sources
from calserver.storage import Storage
from calserver.subscriptions import manage, refresh
from tests.conftest import WSGIClient, make_configuration
from tests.conftest import event_ics as event
from tests.subscription_support import Reply, Source, calendar, ics, source_server, vevent
from tests.test_web_core import csrf_of, get, session_of

D = "{DAV:}"


@pytest.fixture
def configuration(database_url: str, tmp_path: Any) -> Any:
    # the tests' own source server is on 127.0.0.1: the administrator allows it
    return make_configuration(
        database_url,
        tmp_path,
        subscriptions={"allowed_networks": "127.0.0.1/32", "timeout": "2"},
    )


@pytest.fixture
def source() -> Iterator[Source]:
    with source_server() as server:
        yield server


@pytest.fixture
def storage(client: WSGIClient, configuration: Any) -> Storage:
    return Storage(configuration)


def refresh_all(storage: Storage, configuration: Any, **kw: Any) -> list[refresh.Outcome]:
    return refresh.refresh_now(storage, configuration, None, **kw)


def sync(
    client: WSGIClient, path: str, token: str = "", user: str = "alice"
) -> tuple[str, dict[str, str | None]]:
    """RFC 6578 sync-collection: (new token, {href: etag or None for deleted})."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
        f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
    reply = client.request("REPORT", path, body, {"Content-Type": "application/xml"}, user=user)
    assert reply.status == 207, reply.text
    root = ET.fromstring(reply.body)
    found: dict[str, str | None] = {}
    for response in root.findall(D + "response"):
        href = response.findtext(D + "href") or ""
        etag = response.findtext(f"{D}propstat/{D}prop/{D}getetag")
        found[href.rsplit("/", 1)[1]] = etag
    return root.findtext(D + "sync-token") or "", found


def etags(client: WSGIClient, path: str) -> dict[str, str | None]:
    return sync(client, path)[1]


# --- one fetch for many, conditional requests ------------------------------------------


def test_many_subscribers_one_fetch_then_conditional_requests(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    source.routes["/holidays.ics"] = ics(
        calendar(vevent("xmas"), vevent("ny", "New year", "20270101")), etag='"v1"'
    )
    url = source.url("/holidays.ics")
    subs = [
        manage.subscribe(storage, configuration, "alice", url, name=f"Holidays {n}")
        for n in range(3)
    ]
    subs.append(
        manage.subscribe(
            storage,
            configuration,
            "bob",
            url.replace("http://", "webcal://").replace("webcal", "http"),
            name="Holidays",
        )
    )
    [outcome] = refresh_all(storage, configuration)
    assert outcome.status == "changed" and outcome.changes == 8
    assert source.hits["/holidays.ics"] == 1  # one fetch, four calendars
    for sub in subs:
        assert manage.get(storage, sub.owner, sub.id).events == 2
    [outcome] = refresh_all(storage, configuration)
    assert outcome.status == "not modified"
    assert source.hits["/holidays.ics"] == 2
    assert source.requests[-1][1].get("if-none-match") == '"v1"'
    # a new subscriber needs the body: the next fetch is unconditional, once for all
    late = manage.subscribe(storage, configuration, "bob", url, name="Late")
    [outcome] = refresh_all(storage, configuration)
    assert "if-none-match" not in source.requests[-1][1]
    assert manage.get(storage, "bob", late.id).events == 2
    assert source.hits["/holidays.ics"] == 3


def test_last_modified_is_sent_back(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    stamp = "Mon, 07 Dec 2026 10:00:00 GMT"

    def route(headers: dict[str, str]) -> Reply:
        if headers.get("if-modified-since") == stamp:
            return Reply(304)
        return Reply(200, calendar(vevent("a")), {"Last-Modified": stamp})

    source.routes["/lm.ics"] = route
    manage.subscribe(storage, configuration, "alice", source.url("/lm.ics"), name="LM")
    assert refresh_all(storage, configuration)[0].status == "changed"
    assert refresh_all(storage, configuration)[0].status == "not modified"


# --- stable hrefs and ETags ---------------------------------------------------------


def test_unchanged_events_keep_href_and_etag_and_sync_reports_only_changes(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    """No ETag from the source, and a DTSTAMP of "now" at every export (as generators
    do): still only what changed is written."""
    state = {"stamp": 1, "events": ["a", "b", "c"], "summary_b": "Bee"}

    def route(headers: dict[str, str]) -> Reply:
        stamp = f"20261201T0000{state['stamp']:02d}Z"
        events = [
            vevent(
                uid,
                state["summary_b"] if uid == "b" else uid.upper(),
                stamp=stamp,
                extra="BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM\r\n",
            )
            for uid in state["events"]
        ]
        state["stamp"] += 1
        return Reply(200, calendar(*events), {"Content-Type": "text/calendar"})

    source.routes["/changing.ics"] = route
    sub = manage.subscribe(
        storage, configuration, "alice", source.url("/changing.ics"), name="School"
    )
    path = f"/{sub.calendar}/"
    refresh_all(storage, configuration)
    token, first = sync(client, path)
    assert len(first) == 3 and all(first.values())
    # alarms are left out by default
    for href in first:
        text = client.request("GET", path + href).text
        assert "VALARM" not in text and "SUMMARY" in text
    # an export with nothing changed but DTSTAMP: nothing to report
    [outcome] = refresh_all(storage, configuration)
    assert outcome.status == "unchanged" and outcome.changes == 0
    same_token, nothing = sync(client, path, token)
    assert nothing == {} and etags(client, path) == first
    # b changed, c removed, d added: exactly these three are reported
    state.update(summary_b="Bee changed", events=["a", "b", "d"])
    refresh_all(storage, configuration)
    _, changed = sync(client, path, same_token)
    a_href = next(h for h in first if h.startswith("a"))
    b_href = next(h for h in first if h.startswith("b"))
    c_href = next(h for h in first if h.startswith("c"))
    assert set(changed) == {b_href, c_href, "d.ics"}
    assert changed[c_href] is None and changed[b_href] != first[b_href]
    assert etags(client, path)[a_href] == first[a_href]


def test_a_source_that_changes_every_uid_keeps_hrefs_and_etags(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    counter = {"n": 0}

    def route(headers: dict[str, str]) -> Reply:
        counter["n"] += 1
        n = counter["n"]
        events = [vevent(f"gen-{n}-{i}@x", f"Day {i}", f"202612{10 + i}") for i in range(19)]
        # and one without a UID at all: it gets one made from its text
        events.append(vevent("", "No UID", "20261231").replace("UID:\r\n", ""))
        return Reply(200, calendar(*events), {"Content-Type": "text/calendar"})

    source.routes["/uids.ics"] = route
    sub = manage.subscribe(storage, configuration, "alice", source.url("/uids.ics"), name="Gen")
    path = f"/{sub.calendar}/"
    refresh_all(storage, configuration)
    token, first = sync(client, path)
    assert len(first) == 20
    for _ in range(3):
        refresh_all(storage, configuration)
    _, changes = sync(client, path, token)
    assert changes == {} and etags(client, path) == first


# --- read-only for clients -------------------------------------------------------------


def test_clients_may_not_write_into_a_subscription(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    source.routes["/ro.ics"] = ics(calendar(vevent("ro")))
    sub = manage.subscribe(storage, configuration, "alice", source.url("/ro.ics"), name="RO")
    refresh_all(storage, configuration)
    path = f"/{sub.calendar}/"
    reply = client.request("PUT", path + "new.ics", event("new"), {"Content-Type": "text/calendar"})
    assert reply.status == 403 and "read-only" in reply.text and "ro.ics" in reply.text
    [href] = etags(client, path)
    reply = client.request("PUT", path + href, event("ro"), {"Content-Type": "text/calendar"})
    assert reply.status == 403
    assert client.request("DELETE", path + href).status == 403
    assert list(etags(client, path)) == [href]
    # nothing moves out of it or into it, and it is not replaced as a whole
    assert client.request("MKCALENDAR", "/alice/own/").status == 201
    moved = client.request("MOVE", path + href, headers={"Destination": "/alice/own/x.ics"})
    assert moved.status == 403 and "read-only" in moved.text
    put = client.request("PUT", "/alice/own/m.ics", event("m"), {"Content-Type": "text/calendar"})
    assert put.status == 201
    moved = client.request("MOVE", "/alice/own/m.ics", headers={"Destination": path + "m.ics"})
    assert moved.status == 403 and "read-only" in moved.text
    whole = client.request("PUT", path, event("w"), {"Content-Type": "text/calendar"})
    assert whole.status == 403 and "read-only" in whole.text
    assert list(etags(client, path)) == [href]
    # someone it is not shared with learns nothing about it
    for method, target, extra in (
        ("PUT", path, {}),
        ("PUT", path + "b.ics", {}),
        ("MOVE", path + href, {"Destination": "/bob/x.ics"}),
    ):
        other = client.request(
            method, target, event("b"), {"Content-Type": "text/calendar", **extra}, user="bob"
        )
        assert other.status in (403, 404) and "ro.ics" not in other.text, (method, target)
    # an ordinary calendar of hers is writable as before
    assert (
        client.request(
            "PUT", "/alice/own/e.ics", event("e"), {"Content-Type": "text/calendar"}
        ).status
        == 201
    )


# --- bad sources --------------------------------------------------------------------------


def test_bad_sources_keep_the_last_good_content_and_show_the_error(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    good = calendar(vevent("keep"))
    mode = {"now": "good"}
    hold = threading.Event()
    huge = b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"x" * 3_000_000 + b"\r\nEND:VCALENDAR\r\n"
    answers = {
        "good": lambda: Reply(200, good, {"Content-Type": "text/calendar"}),
        "404": lambda: Reply(404, b"gone"),
        "html": lambda: Reply(
            200, b"<!doctype html><html>login</html>", {"Content-Type": "text/html"}
        ),
        "html-typed-ics": lambda: Reply(200, good, {"Content-Type": "text/html"}),
        "huge": lambda: Reply(200, huge, {"Content-Type": "text/calendar"}),
        "huge-chunked": lambda: Reply(
            200, huge, {"Content-Type": "text/calendar", "Content-Length": "10"}
        ),
        "slow": lambda: Reply(200, good, {"Content-Type": "text/calendar"}, hold=hold),
        "loop": lambda: Reply(302, b"", {"Location": "/bad.ics?again"}),
        "broken": lambda: Reply(200, b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n", {}),
    }
    source.routes["/bad.ics"] = lambda headers: answers[mode["now"]]()
    source.routes["/bad.ics?again"] = lambda headers: Reply(302, b"", {"Location": "/bad.ics"})

    def limited(timeout: str) -> Any:
        return make_configuration(
            str(configuration.get("storage", "database_url")),
            configuration.get("storage", "data_folder"),
            subscriptions={
                "allowed_networks": "127.0.0.1/32",
                "timeout": timeout,
                "max_size": "1000000",
            },
        )

    # only the slow source meets the short limit: a redirect loop is six requests, which
    # a loaded CI machine did not finish within 0.5 seconds
    small, hasty = limited("30"), limited("0.5")
    sub = manage.subscribe(storage, small, "alice", source.url("/bad.ics"), name="Bad")
    refresh_all(storage, small)
    path = f"/{sub.calendar}/"
    kept = etags(client, path)
    assert len(kept) == 1
    expected = {
        "404": "HTTP 404",
        "html": "did not answer with an iCalendar file (text/html)",
        "html-typed-ics": "text/html",
        "huge": "larger than 1000000 bytes",
        "huge-chunked": "",  # a lying Content-Length: the calendar it announces is cut short
        "slow": "within 0.5 seconds",
        "loop": "redirect loop",
        "broken": "not a valid iCalendar file",
    }
    for failures, (name, words) in enumerate(expected.items(), 1):
        mode["now"] = name
        [outcome] = refresh_all(storage, hasty if name == "slow" else small)
        assert outcome.status == "failed", (name, outcome)
        assert words in outcome.error, (name, outcome.error)
        shown = manage.get(storage, "alice", sub.id)
        assert shown.last_error == outcome.error and shown.failures == failures
        assert shown.events == 1 and etags(client, path) == kept
    hold.set()
    # back-off: the next attempt waits longer after each failure in a row
    with storage.engine.connect() as conn:
        row = conn.execute(select(subscription_sources)).one()
    assert row.next_fetch - row.last_attempt == refresh.backoff(
        refresh.Settings.from_configuration(small), len(expected)
    )
    mode["now"] = "good"
    [outcome] = refresh_all(storage, small)
    assert outcome.status in ("unchanged", "changed") and outcome.error == ""
    assert manage.get(storage, "alice", sub.id).failures == 0


def test_unreachable_source_and_too_many_events(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    with source_server() as gone:
        dead_url = gone.url("/x.ics")
    sub = manage.subscribe(storage, configuration, "alice", dead_url, name="Dead")
    [outcome] = refresh_all(storage, configuration)
    assert outcome.status == "failed" and "Connection" in outcome.error
    assert manage.get(storage, "alice", sub.id).last_error == outcome.error
    manage.unsubscribe(storage, "alice", sub.id)
    source.routes["/many.ics"] = ics(calendar(*(vevent(f"e{i}") for i in range(6))))
    few = make_configuration(
        str(configuration.get("storage", "database_url")),
        configuration.get("storage", "data_folder"),
        subscriptions={"allowed_networks": "127.0.0.1/32", "max_events": "5"},
    )
    manage.subscribe(storage, few, "alice", source.url("/many.ics"), name="Many")
    [outcome] = refresh_all(storage, few)
    assert outcome.status == "failed" and "6 events, more than 5" in outcome.error


# --- the SSRF guard -------------------------------------------------------------------------


def test_names_resolving_to_forbidden_addresses_are_never_contacted(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    """The guard checks the addresses a name resolves to, before any connection and
    on every redirect; 127.0.0.2 (loopback, not allowed) runs a server that counts."""
    names = {
        "calendar.example": "127.0.0.1",
        "inside.example": "127.0.0.2",
        "intranet.example": "10.1.2.3",
        "metadata.example": "169.254.169.254",
    }

    def resolve(host: str, port: int) -> list[str]:
        return [names[host]]

    with source_server("127.0.0.2") as forbidden:
        forbidden.routes["/secret.ics"] = ics(calendar(vevent("secret")))
        source.routes["/to-inside.ics"] = lambda h: Reply(
            301, b"", {"Location": forbidden.url("/secret.ics", "inside.example")}
        )
        source.routes["/ok.ics"] = ics(calendar(vevent("ok")))
        urls = [
            forbidden.url("/secret.ics", "inside.example"),
            forbidden.url("/secret.ics"),  # a literal address
            "http://intranet.example/x.ics",
            "http://metadata.example/latest/meta-data/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.2]:%d/secret.ics" % forbidden.port,
            source.url("/to-inside.ics", "calendar.example"),
        ]
        for number, url in enumerate(urls):
            manage.subscribe(storage, configuration, "alice", url, name=f"S{number}")
        outcomes = refresh_all(storage, configuration, resolve=resolve)
        assert len(outcomes) == len(urls)
        for outcome in outcomes:
            assert outcome.status == "failed", outcome
            assert "not a public address" in outcome.error
            assert "allowed_networks" in outcome.error
        assert sum(forbidden.hits.values()) == 0
        assert source.hits["/to-inside.ics"] == 1  # the allowed hop was made
        # the allowed name works through the same resolver
        manage.subscribe(
            storage, configuration, "alice", source.url("/ok.ics", "calendar.example"), name="OK"
        )
        outcomes = refresh_all(storage, configuration, resolve=resolve)
        assert [o.status for o in outcomes].count("changed") == 1
        assert source.requests[-1][1]["host"] == f"calendar.example:{source.port}"


def test_the_checked_address_is_the_one_connected_to() -> None:
    """No DNS rebinding: the name is resolved once per hop and the connection goes to
    the address that passed the check."""
    calls: list[str] = []
    with source_server() as good, source_server("127.0.0.2") as evil:
        good.routes["/c.ics"] = ics(calendar(vevent("c")))
        evil.routes["/c.ics"] = ics(calendar(vevent("evil")))

        def resolve(host: str, port: int) -> list[str]:
            calls.append(host)
            return ["127.0.0.1"] if len(calls) == 1 else ["127.0.0.2"]

        fetched = outbound.fetch(
            f"http://rebind.example:{good.port}/c.ics",
            allowed=[ipaddress.ip_network("127.0.0.1/32")],
            resolve=resolve,
        )
        assert b"UID:c" in fetched.body and calls == ["rebind.example"]
        assert sum(evil.hits.values()) == 0


def test_too_many_redirects(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    for hop in range(7):
        source.routes[f"/hop{hop}.ics"] = lambda h, hop=hop: Reply(
            307, b"", {"Location": f"/hop{hop + 1}.ics"}
        )
    source.routes["/hop7.ics"] = ics(calendar(vevent("far")))
    manage.subscribe(storage, configuration, "alice", source.url("/hop3.ics"), name="Near")
    manage.subscribe(storage, configuration, "alice", source.url("/hop0.ics"), name="Far")
    outcomes = {o.url.rsplit("/", 1)[1]: o for o in refresh_all(storage, configuration)}
    assert outcomes["hop3.ics"].status == "changed"  # 4 redirects
    assert outcomes["hop0.ics"].status == "failed"
    assert "more than 5 redirects" in outcomes["hop0.ics"].error


# --- the worker's queue, intervals -------------------------------------------------------------


def test_workers_claim_a_source_once_and_honour_the_refresh_interval(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    hint = "REFRESH-INTERVAL;VALUE=DURATION:PT2H\r\n"
    source.routes["/hint.ics"] = ics(calendar(vevent("h"), extra=hint))
    source.routes["/fast.ics"] = ics(
        calendar(vevent("f"), extra="REFRESH-INTERVAL;VALUE=DURATION:PT1M\r\n")
    )
    manage.subscribe(storage, configuration, "alice", source.url("/hint.ics"), name="Hint")
    manage.subscribe(storage, configuration, "alice", source.url("/fast.ics"), name="Fast")
    mine = refresh.claim_due(storage.engine, 60)
    theirs = refresh.claim_due(storage.engine, 60)
    assert mine is not None and theirs is not None and mine != theirs
    assert refresh.claim_due(storage.engine, 60) is None  # both held
    assert refresh.refresh_now(storage, configuration, "alice")[0].status == "busy"
    settings = refresh.Settings.from_configuration(configuration)
    for source_id in (mine, theirs):
        refresh.refresh_source(storage, settings, source_id)
    with storage.engine.connect() as conn:
        rows = {r.url.rsplit("/", 1)[1]: r for r in conn.execute(select(subscription_sources))}
    assert rows["hint.ics"].next_fetch - rows["hint.ics"].last_success == 7200
    assert rows["fast.ics"].next_fetch - rows["fast.ics"].last_success == 300  # the minimum
    assert refresh.claim_due(storage.engine, 60) is None  # nothing due
    counts = refresh.run_once(storage, configuration)
    assert counts.outcomes == []
    with storage.engine.begin() as conn:
        conn.execute(update(subscription_sources).values(next_fetch=0))
    assert len(refresh.run_once(storage, configuration).outcomes) == 2


# --- the API --------------------------------------------------------------------------------


def api(client: WSGIClient, method: str, path: str, body: Any = None, user: str = "alice") -> Any:
    headers = {"Content-Type": "application/json"} if body is not None or method == "POST" else {}
    reply = client.request(
        method, "/.api/v1" + path, json.dumps(body) if body is not None else b"", headers, user=user
    )
    return reply.status, (json.loads(reply.body) if reply.body else None)


def test_api_subscribe_change_refresh_and_end(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    source.routes["/api.ics"] = ics(
        calendar(vevent("api", extra="ATTACH:http://x.example/a.pdf\r\n"))
    )
    status, sub = api(
        client,
        "POST",
        "/subscriptions",
        {"url": source.url("/api.ics"), "name": "Team days", "color": "#336699"},
    )
    assert status == 201, sub
    assert (
        sub["calendar"] == "alice/team-days" and sub["name"] == "Team days" and sub["events"] == 0
    )
    assert sub["strip_alarms"] is True and sub["interval"] is None
    status, done = api(client, "POST", f"/subscriptions/{sub['id']}/refresh")
    assert status == 200 and done["status"] == "changed" and done["subscription"]["events"] == 1
    assert "ATTACH" in client.request("GET", "/alice/team-days/api.ics").text
    status, changed = api(
        client,
        "PATCH",
        f"/subscriptions/{sub['id']}",
        {"strip_attachments": True, "interval": 900, "name": "Team"},
    )
    assert status == 200 and changed["interval"] == 900 and changed["name"] == "Team"
    api(client, "POST", f"/subscriptions/{sub['id']}/refresh")
    assert "ATTACH" not in client.request("GET", "/alice/team-days/api.ics").text
    # bad input: a clear 400, nothing made
    for body in (
        {"url": "ftp://x.example/a.ics"},
        {"url": source.url("/a"), "interval": 10},
        {"url": "http:///nohost"},
    ):
        status, error = api(client, "POST", "/subscriptions", body)
        assert status == 400 and error["error"], body
    # bob sees none of it
    assert api(client, "GET", "/subscriptions", user="bob") == (200, {"subscriptions": []})
    assert api(client, "GET", f"/subscriptions/{sub['id']}", user="bob")[0] == 404
    assert api(client, "DELETE", f"/subscriptions/{sub['id']}", user="bob")[0] == 404
    status, listed = api(client, "GET", "/subscriptions")
    assert [s["id"] for s in listed["subscriptions"]] == [sub["id"]]
    assert api(client, "DELETE", f"/subscriptions/{sub['id']}")[0] == 204
    assert client.request("PROPFIND", "/alice/team-days/", headers={"Depth": "0"}).status == 404
    with storage.engine.connect() as conn:
        assert conn.execute(select(subscription_sources)).all() == []
    assert re.match(r"^\d+$", str(sub["id"]))


# --- the web page ---------------------------------------------------------------------------


def test_web_page_subscribes_shows_errors_refreshes_and_unsubscribes(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source
) -> None:
    source.routes["/web.ics"] = ics(calendar(vevent("w1"), vevent("w2")))
    session = session_of(client)
    page = get(client, "/.web/subscriptions", session)
    assert page.status == 200 and "You have no subscription yet." in page.text
    assert 'href="/.web/subscriptions"' in get(client, "/.web/calendars", session).text
    # bad input: the message next to the field, the input kept, nothing made
    bad = web_post(
        client, session, "/subscriptions", {"url": "ftp://x.example/c.ics", "name": "Mine"}
    )
    assert bad.status == 400 and "not an http(s) or webcal URL" in bad.text
    assert 'value="ftp://x.example/c.ics"' in bad.text and 'value="Mine"' in bad.text
    short = web_post(
        client, session, "/subscriptions", {"url": source.url("/web.ics"), "interval": "1"}
    )
    assert short.status == 400 and "interval must be between" in short.text
    assert manage.list_for(storage.engine, "alice") == []
    # subscribe: fetched at once, listed with its events
    made = web_post(
        client,
        session,
        "/subscriptions",
        {"url": source.url("/web.ics"), "name": "Web cal", "interval": "120"},
    )
    assert made.status == 303 and "done=added" in made.headers["location"]
    [sub] = manage.list_for(storage.engine, "alice")
    assert sub.events == 2 and sub.interval == 7200 and sub.name == "Web cal"
    assert "2 events" in get(client, "/.web/subscriptions", session).text
    # the source fails: the page shows the error, the events stay
    source.routes["/web.ics"] = lambda headers: Reply(500, b"oops")
    failed = web_post(client, session, "/subscriptions/refresh", {"id": str(sub.id)})
    assert "done=failed" in failed.headers["location"]
    listing = get(client, "/.web/subscriptions", session).text
    assert "Last fetch failed: HTTP 500" in listing and "2 events" in listing
    # edit, then unsubscribe; bob cannot touch alice's
    edited = web_post(
        client,
        session,
        "/subscriptions/edit",
        {"id": str(sub.id), "name": "Renamed", "color": "#aa0000", "interval": ""},
    )
    assert edited.status == 303, edited.text
    assert manage.get(storage, "alice", sub.id).name == "Renamed"
    bob = session_of(client, "bob")
    assert web_post(client, bob, "/subscriptions/delete", {"id": str(sub.id)}).status == 404
    ended = web_post(client, session, "/subscriptions/delete", {"id": str(sub.id)})
    assert ended.status == 303 and manage.list_for(storage.engine, "alice") == []


def web_post(client: WSGIClient, session: str, path: str, fields: dict[str, str]) -> Any:
    data = {**fields, "csrf": csrf_of(client, session)}
    return client.request(
        "POST",
        "/.web" + path,
        urlencode(data),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"calserver_session={session}",
        },
        user=None,
    )


def test_an_import_into_a_subscription_is_refused(
    client: WSGIClient, storage: Storage, configuration: Any, source: Source, tmp_path: Any
) -> None:
    """An import writes no hooked item (it swaps the whole calendar), so the command and
    the web page ask first: the imported events would vanish at the next refresh."""
    from calserver.cli import transfer
    from calserver.errors import CalserverError
    from tests.test_web_manage import post_file

    source.routes["/imp.ics"] = ics(calendar(vevent("kept")))
    sub = manage.subscribe(storage, configuration, "alice", source.url("/imp.ics"), name="Imp")
    refresh_all(storage, configuration)
    before = etags(client, f"/{sub.calendar}/")
    file = tmp_path / "mine.ics"
    file.write_text(event("mine"), encoding="utf-8")
    args = argparse.Namespace(file=str(file), path=sub.calendar, skip_invalid=False)
    with pytest.raises(CalserverError, match="read-only"):
        transfer.cmd_import(configuration, args)
    session = session_of(client)
    page = post_file(
        client,
        "/.web/calendars/import",
        session,
        {"cal": sub.calendar},
        "x.ics",
        event("web").encode(),
    )
    assert page.status == 400 and "read-only" in page.text
    assert etags(client, f"/{sub.calendar}/") == before
    # an ordinary calendar of hers still imports
    assert client.request("MKCALENDAR", "/alice/mine/").status == 201
    assert (
        transfer.cmd_import(
            configuration, argparse.Namespace(file=str(file), path="alice/mine", skip_invalid=False)
        )
        == 0
    )
