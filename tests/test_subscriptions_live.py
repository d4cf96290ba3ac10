"""Calendar subscriptions end to end (issue 18): ``calserver subscribe``,
``subscriptions``, ``subscriptions refresh``, ``worker --once`` and ``unsubscribe``
against a live server, a local HTTP server as the remote calendar, and the ``caldav``
library as the client: it sees the subscription like any calendar, incremental sync
reports only what changed, writes are refused, and it can be shared and published."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import caldav
import pytest
from caldav.lib import error as caldav_error

from calserver import db
from tests.conftest import PASSWORD, LiveServer, event_ics, run_cli, start_server
from tests.subscription_support import Source, calendar, ics, source_server, vevent

ALLOW = ("--subscriptions-allowed-networks", "127.0.0.1/32")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("subscriptions")
    url = "sqlite:///" + str(folder / "live.sqlite")
    live = start_server(url, folder / "data", *ALLOW)
    try:
        for name in ("alice", "bob"):
            live.add_user(name)
        yield live
    finally:
        live.stop()
        db.dispose_engines()


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    with source_server() as remote:
        yield remote


def cli(server: LiveServer, *args: str) -> Any:
    return run_cli(server.database_url, server.data_folder, *ALLOW, *args)


def client(server: LiveServer, user: str = "alice") -> caldav.DAVClient:
    return caldav.DAVClient(server.url + "/", username=user, password=PASSWORD)


def test_subscribe_then_every_client_sees_it_and_sync_reports_only_changes(
    server: LiveServer, source: Source
) -> None:
    events = {"summer": "Summer break", "autumn": "Autumn break"}

    def body() -> bytes:
        return calendar(*(vevent(uid, text) for uid, text in events.items()))

    source.routes["/school.ics"] = lambda headers: ics(body(), etag=f'"{hash(body())}"')(headers)
    made = cli(server, "subscribe", "alice", source.url("/school.ics"), "--name", "School holidays")
    assert made.returncode == 0, made.stderr
    assert "alice/school-holidays" in made.stdout and "2 change(s)" in made.stdout
    listed = cli(server, "subscriptions", "alice")
    assert "alice/school-holidays" in listed.stdout and "2 events" in listed.stdout
    # the caldav library finds it among alice's calendars, with its events
    principal = client(server).principal()
    [subscribed] = [c for c in principal.calendars() if c.get_display_name() == "School holidays"]
    first = subscribed.objects_by_sync_token(load_objects=True)
    assert sorted(o.icalendar_component["SUMMARY"] for o in first) == sorted(events.values())
    token = first.sync_token
    # a refresh with nothing changed (304): nothing to sync
    assert "not modified" in cli(server, "subscriptions", "refresh", "alice").stdout
    assert list(subscribed.objects_by_sync_token(sync_token=token, load_objects=False)) == []
    # one event changed at the source: only it is reported
    events["autumn"] = "Autumn break (moved)"
    refreshed = cli(server, "subscriptions", "refresh", "--all")
    assert refreshed.returncode == 0 and "1 change(s)" in refreshed.stdout
    changed = subscribed.objects_by_sync_token(sync_token=token, load_objects=True)
    assert [o.icalendar_component["SUMMARY"] for o in changed] == ["Autumn break (moved)"]
    # the client may not write into it
    with pytest.raises(caldav_error.AuthorizationError):
        subscribed.save_event(event_ics("mine"))


def test_a_subscription_can_be_shared_and_published(server: LiveServer, source: Source) -> None:
    source.routes["/team.ics"] = ics(calendar(vevent("offsite", "Team offsite")))
    made = cli(server, "subscribe", "alice", source.url("/team.ics"), "--name", "Team")
    assert made.returncode == 0, made.stderr
    shared = cli(server, "share", "alice/team", "--with", "bob", "--level", "write")
    assert shared.returncode == 0, shared.stderr
    bob = client(server, "bob").principal()
    [seen] = [c for c in bob.calendars() if c.get_display_name() == "Team"]
    assert [o.icalendar_component["SUMMARY"] for o in seen.events()] == ["Team offsite"]
    # a writer's grant does not make it writable
    with pytest.raises(caldav_error.AuthorizationError):
        seen.save_event(event_ics("bobs"))
    assert cli(server, "publish", "alice/team", "--level", "details").returncode == 0
    urls = json.loads(cli(server, "urls", "alice/team", "--json").stdout)
    public = [u for u in _strings(urls) if "/.public/" in u and u.endswith(".ics")]
    assert public, urls
    path = "/" + public[0].split("/", 3)[3]  # the CLI does not know the server's port
    with urllib.request.urlopen(server.url + path) as answer:
        assert "Team offsite" in answer.read().decode()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_the_worker_fetches_what_is_due_and_errors_are_listed(
    server: LiveServer, source: Source, tmp_path: Path
) -> None:
    source.routes["/later.ics"] = ics(calendar(vevent("later")))
    made = cli(server, "subscribe", "bob", source.url("/later.ics"), "--no-fetch")
    assert made.returncode == 0, made.stderr
    before = source.hits["/later.ics"]
    worked = cli(server, "worker", "--once")
    assert worked.returncode == 0, worked.stderr
    assert "subscriptions: refreshed" in worked.stdout
    assert source.hits["/later.ics"] == before + 1
    listed = json.loads(cli(server, "subscriptions", "bob", "--json").stdout)
    [later] = [s for s in listed["subscriptions"] if s["url"].endswith("/later.ics")]
    assert later["events"] == 1 and later["last_error"] == ""
    # a source that went away: the error is listed, the content kept, exit status 1
    del source.routes["/later.ics"]
    failed = cli(server, "subscriptions", "refresh", "bob")
    assert failed.returncode == 1 and "HTTP 404" in failed.stdout
    listed = json.loads(cli(server, "subscriptions", "bob", "--json").stdout)
    [later] = [s for s in listed["subscriptions"] if s["url"].endswith("/later.ics")]
    assert later["events"] == 1 and "HTTP 404" in later["last_error"] and later["failures"] == 1
    # bad command lines are usage errors
    assert cli(server, "subscriptions", "refresh").returncode == 2
    assert cli(server, "subscribe", "bob", "ftp://example.org/x.ics").returncode == 1
    ended = cli(server, "unsubscribe", "bob", later["calendar"].split("/")[1])
    assert ended.returncode == 0, ended.stderr
    assert "bob has no subscription" in cli(server, "subscriptions", "bob").stdout
