"""Sync with other CalDAV servers (issue 18 part 2): a calserver calendar kept in step
with a stock Radicale 3.9 and with a second calserver, all on 127.0.0.1, in each
direction and mode -- details and "Busy" blocks, deletes, a recurring series with an
exception, a conflict under each policy, a remote that refuses the password, a run
killed in the middle. Runs go through ``calserver sync run`` (the worker's code), the
calendars are read and written with the ``caldav`` library."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import caldav
import pytest
import requests
from sqlalchemy import select, update

from calserver import api, db
from calserver.db.models import sync_pairs
from calserver.remotesync import worker as sync_worker
from calserver.storage import Storage
from tests.conftest import (
    PASSWORD,
    LiveServer,
    free_port,
    make_configuration,
    start_server,
    wait_until_listening,
)
from tests.e2e_support import send
from tests.test_api import Client

pytestmark = pytest.mark.live

ALLOW = ("--sync-allowed-networks", "127.0.0.0/8")

SERIES = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
    "DTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\n"
    "SUMMARY:{summary}\r\nDESCRIPTION:secret notes\r\nLOCATION:Room 1\r\n"
    "CATEGORIES:{category}\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:ring\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
    "RECURRENCE-ID:20261208T090000Z\r\nDTSTART:20261208T110000Z\r\nDTEND:20261208T120000Z\r\n"
    "SUMMARY:{summary} (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def event(
    uid: str, summary: str = "Lunch", stamp: str = "20261101T000000Z", extra: str = ""
) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{stamp}\r\nLAST-MODIFIED:{stamp}\r\n"
        f"DTSTART:20261203T120000Z\r\nDTEND:20261203T130000Z\r\nSUMMARY:{summary}\r\n{extra}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def series(uid: str, summary: str = "Standup", category: str = "work") -> str:
    return SERIES.format(uid=uid, summary=summary, category=category)


# --- the servers -------------------------------------------------------------------------


@dataclass
class Site:
    """A CalDAV server and one account on it."""

    url: str
    user: str

    def calendar_url(self, name: str) -> str:
        return f"{self.url}/{self.user}/{name}/"

    def client(self) -> caldav.DAVClient:
        return caldav.DAVClient(self.url, username=self.user, password=PASSWORD)

    def make(self, name: str) -> str:
        answer = requests.request(
            "MKCALENDAR", self.calendar_url(name), auth=(self.user, PASSWORD), timeout=30
        )
        assert answer.status_code == 201, answer.text
        return self.calendar_url(name)

    def put(self, name: str, uid: str, text: str) -> None:
        """Store the event at the href it has (a copy made by a sync has its own)."""
        calendar = self.client().calendar(url=self.calendar_url(name))
        hrefs = [str(o.url) for o in calendar.events() if f"UID:{uid}" in str(o.data)]
        answer = requests.put(
            hrefs[0] if hrefs else self.calendar_url(name) + f"{uid}.ics",
            data=text.encode(),
            headers={"Content-Type": "text/calendar"},
            auth=(self.user, PASSWORD),
            timeout=30,
        )
        assert answer.status_code in (201, 204), answer.text

    def events(self, name: str) -> dict[str, str]:
        """{UID: text} of the calendar."""
        calendar = self.client().calendar(url=self.calendar_url(name))
        found = {}
        for obj in calendar.events():
            text = str(obj.data)
            uid = next(
                line[4:].strip() for line in text.splitlines() if line.upper().startswith("UID:")
            )
            found[uid] = text
        return found

    def delete(self, name: str, uid: str) -> None:
        calendar = self.client().calendar(url=self.calendar_url(name))
        calendar.object_by_uid(uid).delete()


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Stock Radicale 3.9 with the account ann."""
    base = tmp_path_factory.mktemp("radicale-sync")
    htpasswd, config, log = base / "users", base / "config", base / "radicale.log"
    htpasswd.write_text(f"ann:{PASSWORD}\n")
    port = free_port()
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n\n"
        f"[storage]\ntype = multifilesystem\nfilesystem_folder = {base / 'collections'}\n\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {htpasswd}\n"
        "htpasswd_encryption = plain\ndelay = 0\n\n"
        "[rights]\ntype = owner_only\n\n[logging]\nlevel = warning\n"
    )
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(port, process, log, "radicale")
        yield Site(f"http://127.0.0.1:{port}", "ann")
    finally:
        process.terminate()
        process.wait(10)


def _calserver(
    tmp_path_factory: pytest.TempPathFactory, name: str, user: str
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp(name)
    server = start_server("sqlite:///" + str(folder / "live.sqlite"), folder / "data")
    try:
        server.add_user(user)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The calserver whose worker runs the syncs: alice's (and carl's)."""
    for server in _calserver(tmp_path_factory, "sync-home", "alice"):
        server.add_user("carl")
        yield server


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second calserver: bob's."""
    yield from _calserver(tmp_path_factory, "sync-other", "bob")


def alice(home: LiveServer) -> Site:
    return Site(home.url, "alice")


def add_sync(
    home: LiveServer,
    cal: str,
    remote_url: str,
    *options: str,
    password: str = PASSWORD,
    user: str = "ann",
) -> int:
    made = home.cli("calendar", "create", f"alice/{cal}")
    assert made.returncode == 0, made.stderr
    result = home.cli(
        "sync",
        "add",
        f"alice/{cal}",
        "--url",
        remote_url,
        "--username",
        user,
        "--password-stdin",
        *options,
        stdin=password + "\n",
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[1])


_workers: dict[str, tuple[Any, Any, Any]] = {}


def worker_of(home: LiveServer) -> tuple[Any, Any, Any]:
    """(engine, storage, configuration) of the server's database, as the worker has them."""
    if home.url not in _workers:
        cfg = make_configuration(
            home.database_url, home.data_folder, sync={"allowed_networks": "127.0.0.0/8"}
        )
        _workers[home.url] = (db.engine_for(cfg), Storage(cfg), cfg)
    return _workers[home.url]


def run(home: LiveServer, pair: int, ok: bool = True) -> str:
    """Run the pair now, as ``calserver sync run`` does (in this process: faster)."""
    engine, storage, cfg = worker_of(home)
    counts = sync_worker.run_once(engine, storage, cfg, pair_ids=[pair])
    assert (counts.failed == 0) == ok, counts.summary()
    return counts.summary()


def run_command(home: LiveServer, pair: int, ok: bool = True) -> str:
    result = home.cli(*ALLOW, "sync", "run", str(pair))
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result.stdout


def log(home: LiveServer, pair: int, *options: str) -> list[dict[str, Any]]:
    result = home.cli("sync", "log", str(pair), "--json", *options)
    assert result.returncode == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


# --- directions and content --------------------------------------------------------------


def test_push_details_copies_series_changes_and_deletes_and_never_pulls(
    home: LiveServer, radicale: Site
) -> None:
    remote = radicale.make("push")
    pair = add_sync(home, "push", remote, "--direction", "push", "--content", "details")
    me = alice(home)
    me.put("push", "s1", series("s1"))
    me.put("push", "e1", event("e1"))
    run(home, pair)
    there = radicale.events("push")
    assert set(there) == {"s1", "e1"}
    assert "RECURRENCE-ID:20261208T090000Z" in there["s1"]
    assert "RRULE:FREQ=WEEKLY;COUNT=5" in there["s1"] and "Standup (moved)" in there["s1"]
    me.put("push", "e1", event("e1", "Lunch with Bea"))
    me.delete("push", "s1")
    radicale.put("push", "r1", event("r1", "made there"))  # push only: stays there
    run(home, pair)
    there = radicale.events("push")
    assert set(there) == {"e1", "r1"} and "Lunch with Bea" in there["e1"]
    assert set(me.events("push")) == {"e1"}
    [last, *_] = log(home, pair)
    assert last["status"] == "ok" and last["pushed"] == 1 and last["deleted"] == 1
    assert "pushed e1" in last["details"] and "deleted remotely s1" in last["details"]


def test_pull_details_from_radicale_with_deletes_and_local_edits_stay_local(
    home: LiveServer, radicale: Site
) -> None:
    remote = radicale.make("pull")
    radicale.put("pull", "s2", series("s2"))
    radicale.put("pull", "e2", event("e2"))
    pair = add_sync(home, "pull", remote, "--direction", "pull")
    run(home, pair)
    me = alice(home)
    here = me.events("pull")
    assert set(here) == {"s2", "e2"} and "Standup (moved)" in here["s2"]
    radicale.delete("pull", "e2")
    radicale.put("pull", "s2", series("s2", "Standup v2"))
    me.put("pull", "mine", event("mine", "only here"))
    run(home, pair)
    here = me.events("pull")
    assert set(here) == {"s2", "mine"} and "Standup v2" in here["s2"]
    assert set(radicale.events("pull")) == {"s2"}


def test_both_ways_between_two_calservers_without_echo(home: LiveServer, other: LiveServer) -> None:
    bob = Site(other.url, "bob")
    remote = bob.make("both")
    pair = add_sync(home, "both", remote, user="bob")
    me = alice(home)
    me.put("both", "a1", series("a1"))
    bob.put("both", "b1", event("b1", "from bob"))
    run(home, pair)
    assert set(me.events("both")) == set(bob.events("both")) == {"a1", "b1"}
    bob.put("both", "a1", series("a1", "Standup at bob's"))
    run(home, pair)
    assert "Standup at bob's" in me.events("both")["a1"]
    run(home, pair)  # what came from there is not sent back, nothing else changed
    [last, *_] = log(home, pair)
    assert (last["pulled"], last["pushed"], last["deleted"]) == (0, 0, 0), last
    me.delete("both", "b1")
    bob.delete("both", "a1")
    run(home, pair)
    assert me.events("both") == {} and bob.events("both") == {}


@pytest.mark.parametrize("policy", ["local", "remote", "newest"])
def test_a_conflict_is_decided_by_the_policy_and_logged_with_both_versions(
    home: LiveServer, radicale: Site, policy: str
) -> None:
    name = f"conflict-{policy}"
    remote = radicale.make(name)
    pair = add_sync(home, name, remote, "--policy", policy)
    me = alice(home)
    me.put(name, "c1", event("c1", "first"))
    run(home, pair)
    assert "first" in radicale.events(name)["c1"]
    me.put(name, "c1", event("c1", "changed here", stamp="20261105T000000Z"))
    radicale.put(name, "c1", event("c1", "changed there", stamp="20261102T000000Z"))
    run(home, pair)
    winner = "remote" if policy == "remote" else "local"  # newest: here, on the 5th
    text = "changed there" if winner == "remote" else "changed here"
    assert text in me.events(name)["c1"] and text in radicale.events(name)["c1"]
    [conflict] = log(home, pair, "--conflicts")
    assert conflict["winner"] == winner and conflict["policy"] == policy
    assert "changed here" in conflict["local"] and "changed there" in conflict["remote"]


def test_blocker_push_shows_only_busy_time_on_the_other_side(
    home: LiveServer, radicale: Site
) -> None:
    remote = radicale.make("blocker")
    pair = add_sync(home, "blocker", remote, "--direction", "push", "--content", "blocker")
    me = alice(home)
    me.put("blocker", "s3", series("s3", "Doctor", category="private"))
    run(home, pair)
    [(uid, text)] = radicale.events("blocker").items()
    assert "s3" not in uid
    for word in ("Doctor", "secret", "Room 1", "VALARM", "CATEGORIES", "ring"):
        assert word not in text
    assert "SUMMARY:Busy" in text and "RRULE:FREQ=WEEKLY;COUNT=5" in text
    assert "RECURRENCE-ID:20261208T090000Z" in text and "DTSTART:20261208T110000Z" in text
    me.delete("blocker", "s3")
    run(home, pair)
    assert radicale.events("blocker") == {}


def test_category_filter_copies_only_matching_events(home: LiveServer, radicale: Site) -> None:
    remote = radicale.make("filtered")
    pair = add_sync(home, "filtered", remote, "--direction", "push", "--categories", "work")
    me = alice(home)
    me.put("filtered", "w1", series("w1", category="work"))
    me.put("filtered", "h1", series("h1", category="home"))
    run(home, pair)
    assert set(radicale.events("filtered")) == {"w1"}


# --- failures ---------------------------------------------------------------------------


def test_a_refused_password_fails_the_run_and_deletes_nothing(
    home: LiveServer, radicale: Site
) -> None:
    remote = radicale.make("refused")
    radicale.put("refused", "keep-there", event("keep-there"))
    pair = add_sync(home, "refused", remote)
    run(home, pair)
    me = alice(home)
    me.put("refused", "keep-here", event("keep-here"))
    assert set(me.events("refused")) == {"keep-there", "keep-here"}
    result = home.cli(
        "sync", "set", str(pair), "--username", "ann", "--password-stdin", stdin="wrong\n"
    )
    assert result.returncode == 0, result.stderr
    radicale.delete("refused", "keep-there")  # a delete there is not seen without access
    out = run_command(home, pair, ok=False)
    assert "refused the credentials" in out
    [last, *_] = log(home, pair)
    assert last["status"] == "failed" and "credentials" in last["error"]
    assert set(me.events("refused")) == {"keep-there", "keep-here"}
    listing = json.loads(home.cli("sync", "list", "alice", "--json").stdout)
    [mine] = [p for p in listing if p["id"] == pair]
    assert mine["last_status"] == "failed" and mine["next_run"] > time.time()


def test_a_remote_gone_away_fails_the_run_and_deletes_nothing(home: LiveServer) -> None:
    gone = f"http://127.0.0.1:{free_port()}/ann/gone/"
    pair = add_sync(home, "gone", gone)
    me = alice(home)
    me.put("gone", "stays", event("stays"))
    run(home, pair, ok=False)
    assert set(me.events("gone")) == {"stays"}
    assert log(home, pair)[0]["status"] == "failed"


def test_loopback_is_refused_unless_allowed(home: LiveServer, radicale: Site) -> None:
    remote = radicale.make("guarded")
    pair = add_sync(home, "guarded", remote)
    result = home.cli("sync", "run", str(pair))  # no [sync] allowed_networks
    assert result.returncode == 1
    assert "not a public address" in log(home, pair)[0]["error"]


# --- the API ------------------------------------------------------------------------------


def test_api_adds_lists_runs_and_logs_a_sync_that_only_its_owner_sees(
    home: LiveServer, radicale: Site
) -> None:
    document = json.loads(send(home, "GET", api.ROOT + "/openapi.json", user=None).body)
    client = Client(home, document)
    remote = radicale.make("by-api")
    made = home.cli("calendar", "create", "alice/by-api")
    assert made.returncode == 0, made.stderr
    body = {
        "calendar": "by-api",
        "url": remote,
        "direction": "both",
        "policy": "remote",
        "auth": {"type": "basic", "username": "ann", "password": PASSWORD},
    }
    reply = client.call("POST", "/syncs", body)
    assert reply.status == 201, reply.text
    sync = json.loads(reply.body)
    assert PASSWORD not in reply.text and sync["policy"] == "remote"
    ident = str(sync["id"])
    bad = client.call("POST", "/syncs", {**body, "direction": "sideways"})
    assert bad.status == 400 and "direction" in bad.text
    assert client.call("POST", "/syncs", {**body, "calendar": "nope"}).status == 404
    radicale.put("by-api", "x1", event("x1", "from ann"))
    run(home, sync["id"])
    assert "from ann" in alice(home).events("by-api")["x1"]
    runs = json.loads(client.call("GET", "/syncs/{sync}/log", sync=ident).body)["runs"]
    assert runs[0]["pulled"] == 1 and runs[0]["details"] == ["pulled x1"]
    assert json.loads(client.call("GET", "/syncs/{sync}/conflicts", sync=ident).body) == {
        "conflicts": []
    }
    listing = json.loads(client.call("GET", "/syncs").body)["syncs"]
    assert [s["id"] for s in listing if s["calendar"] == "alice/by-api"] == [sync["id"]]
    for method, template in (
        ("GET", "/syncs/{sync}"),
        ("DELETE", "/syncs/{sync}"),
        ("GET", "/syncs/{sync}/log"),
    ):
        assert client.call(method, template, user="carl", sync=ident).status == 404
    assert json.loads(client.call("GET", "/syncs", user="carl").body) == {"syncs": []}
    changed = client.call("PATCH", "/syncs/{sync}", {"content": "blocker"}, sync=ident)
    assert changed.status == 200 and json.loads(changed.body)["push_content"] == "blocker"
    assert client.call("POST", "/syncs/{sync}/run", {}, sync=ident).status == 202
    assert client.call("DELETE", "/syncs/{sync}", sync=ident).status == 204
    assert client.call("GET", "/syncs/{sync}", sync=ident).status == 404
    assert "from ann" in alice(home).events("by-api")["x1"]  # the calendar keeps it


# --- a remote behind a proxy: OAuth2, and a run killed in the middle ----------------------


class Proxy(ThreadingHTTPServer):
    """Forwards to Radicale as ann. With ``bearer``, asks for that OAuth2 bearer token
    instead (401 otherwise) and serves a token endpoint at ``/token`` (RFC 6749 6);
    with ``hold`` = N, answers the Nth PUT only once ``release`` is set (after Radicale
    stored it), having set ``arrived``."""

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.target = target
        self.bearer = ""
        self.hold = 0
        self.puts = 0
        self.refreshed: list[dict[str, str]] = []
        self.arrived = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: Proxy

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        proxy = self.server
        if self.path == "/token":
            form = dict(parse_qsl(body.decode()))
            proxy.refreshed.append(form)
            if form.get("refresh_token") != "refresh-8c1f" or form.get("client_id") != "app":
                self._answer(400, b'{"error": "invalid_grant"}')
                return
            token = json.dumps({"access_token": "access-new-5d2e", "expires_in": 3600})
            self._answer(200, token.encode(), {"Content-Type": "application/json"})
            return
        if proxy.bearer and self.headers.get("Authorization") != f"Bearer {proxy.bearer}":
            self._answer(401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() in ("depth", "content-type", "if-match", "if-none-match")
        }
        answer = requests.request(
            self.command,
            proxy.target + self.path,
            data=body,
            headers=headers,
            auth=("ann", PASSWORD),
            timeout=30,
        )
        if self.command == "PUT":
            proxy.puts += 1
            if proxy.puts == proxy.hold:
                proxy.arrived.set()
                proxy.release.wait(60)
        kept = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "etag")}
        self._answer(answer.status_code, answer.content, kept)

    do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_POST = _forward


@pytest.fixture
def proxy(radicale: Site) -> Iterator[Proxy]:
    server = Proxy(radicale.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def test_oauth2_bearer_token_is_refreshed_on_401_and_stored_sealed(
    home: LiveServer, radicale: Site, proxy: Proxy
) -> None:
    radicale.make("oauth")
    radicale.put("oauth", "o1", event("o1", "via OAuth2"))
    proxy.bearer = "access-new-5d2e"
    made = home.cli("calendar", "create", "alice/oauth")
    assert made.returncode == 0, made.stderr
    secrets = {
        "access_token": "access-old-77aa",
        "refresh_token": "refresh-8c1f",
        "client_secret": "client-secret-3b9d",
    }
    result = home.cli(
        "sync",
        "add",
        "alice/oauth",
        "--url",
        f"{proxy.url}/ann/oauth/",
        "--direction",
        "pull",
        "--oauth2",
        "--token-url",
        f"{proxy.url}/token",
        "--client-id",
        "app",
        "--secrets-stdin",
        stdin=json.dumps(secrets),
    )
    assert result.returncode == 0, result.stderr
    pair = int(result.stdout.split()[1])
    run(home, pair)
    assert "via OAuth2" in alice(home).events("oauth")["o1"]
    [form] = proxy.refreshed
    assert form["grant_type"] == "refresh_token" and form["client_secret"] == "client-secret-3b9d"
    run(home, pair)  # the new token was kept: no second refresh
    assert len(proxy.refreshed) == 1
    stored = Path(home.database_url.removeprefix("sqlite:///")).read_bytes()
    for secret in ("access-new-5d2e", "refresh-8c1f", "client-secret-3b9d", PASSWORD):
        assert secret.encode() not in stored


def test_a_run_killed_in_the_middle_is_completed_by_the_next_without_doubles(
    home: LiveServer, radicale: Site, proxy: Proxy
) -> None:
    radicale.make("restart")
    pair = add_sync(home, "restart", f"{proxy.url}/ann/restart/", "--direction", "push")
    me = alice(home)
    for number in range(4):
        me.put("restart", f"k{number}", event(f"k{number}", f"event {number}"))
    proxy.hold = 3  # the third PUT is stored there, its answer never reaches the worker
    command = [
        sys.executable,
        "-m",
        "calserver",
        "--storage-database-url",
        home.database_url,
        "--storage-data-folder",
        str(home.data_folder),
        *ALLOW,
        "sync",
        "run",
        str(pair),
    ]
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert proxy.arrived.wait(120)
    finally:
        worker.kill()
        worker.wait(30)
    proxy.release.set()
    assert len(radicale.events("restart")) == 3
    engine, _storage, _cfg = worker_of(home)
    with engine.begin() as conn:  # as if its lease had run out
        conn.execute(update(sync_pairs).where(sync_pairs.c.id == pair).values(claimed_until=0.0))
    run(home, pair)
    there = radicale.events("restart")
    assert sorted(there) == ["k0", "k1", "k2", "k3"]
    runs = log(home, pair)
    assert runs[1]["status"] == "failed" and "interrupted" in runs[1]["error"]
    assert runs[0]["status"] == "ok" and runs[0]["pushed"] == 1, runs[0]
    run(home, pair)
    assert log(home, pair)[0]["pushed"] == 0 and sorted(radicale.events("restart")) == sorted(there)


def test_blocker_pull_from_another_calserver_and_details_push_back(
    home: LiveServer, other: LiveServer
) -> None:
    """Both ways with pull as blocker: bob's events come as Busy blocks that are never
    sent back; alice's own events go to bob with their details."""
    bob = Site(other.url, "bob")
    remote = bob.make("mixed")
    bob.put("mixed", "b2", series("b2", "Therapy"))
    pair = add_sync(home, "mixed", remote, "--pull-content", "blocker", user="bob")
    run(home, pair)
    me = alice(home)
    [(uid, text)] = me.events("mixed").items()
    assert uid != "b2" and "Therapy" not in text and "secret" not in text
    assert "SUMMARY:Busy" in text and "RECURRENCE-ID:20261208T090000Z" in text
    me.put("mixed", "a2", event("a2", "Team lunch"))
    run(home, pair)
    there = bob.events("mixed")
    assert set(there) == {"b2", "a2"} and "Team lunch" in there["a2"]
    assert "Therapy" in there["b2"]  # the blocker did not overwrite the original
    bob.delete("mixed", "b2")
    run(home, pair)
    assert set(me.events("mixed")) == {"a2"}


def test_settings_changes_apply_to_future_changes_only(home: LiveServer, radicale: Site) -> None:
    remote = radicale.make("later")
    pair = add_sync(home, "later", remote, "--direction", "pull")
    me = alice(home)
    me.put("later", "old", event("old", "before the change"))
    run(home, pair)
    assert radicale.events("later") == {}
    result = home.cli("sync", "set", str(pair), "--direction", "both")
    assert result.returncode == 0, result.stderr
    run(home, pair)
    assert radicale.events("later") == {}  # what was there before is not copied now
    me.put("later", "old", event("old", "changed after"))
    me.put("later", "new", event("new", "new after"))
    run(home, pair)
    assert set(radicale.events("later")) == {"old", "new"}


def test_a_local_write_marks_the_pair_for_the_worker(home: LiveServer, radicale: Site) -> None:
    remote = radicale.make("hooked")
    pair = add_sync(home, "hooked", remote, "--direction", "push", "--interval", "86400")
    engine, storage, _cfg = worker_of(home)
    run(home, pair)  # the first run: next one in a day
    alice(home).put("hooked", "h1", event("h1", "written through CalDAV"))
    with engine.connect() as conn:
        dirty = conn.execute(
            select(sync_pairs.c.dirty_since).where(sync_pairs.c.id == pair)
        ).scalar()
    assert dirty is not None  # the storage hook of the server heard the PUT
    soon = make_configuration(
        home.database_url,
        home.data_folder,
        sync={"allowed_networks": "127.0.0.0/8", "debounce": "0.001"},
    )
    counts = sync_worker.run_once(engine, storage, soon)
    assert any(f"sync {pair} " in line and "pushed 1" in line for line in counts.outcomes)
    assert set(radicale.events("hooked")) == {"h1"}
    counts = sync_worker.run_once(engine, storage, soon)
    assert not any(f"sync {pair} " in line for line in counts.outcomes)


def test_the_worker_process_runs_a_pair_after_a_local_change_and_stops_on_sigterm(
    home: LiveServer, radicale: Site
) -> None:
    remote = radicale.make("worker")
    pair = add_sync(home, "worker", remote, "--direction", "push", "--interval", "86400")
    run(home, pair)  # the first run: the next one by interval only in a day
    command = [
        sys.executable,
        "-m",
        "calserver",
        "--storage-database-url",
        home.database_url,
        "--storage-data-folder",
        str(home.data_folder),
        *ALLOW,
        "--sync-debounce",
        "0.01",
        "worker",
    ]
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        alice(home).put("worker", "w9", event("w9", "sent by the worker"))
        deadline = time.monotonic() + 120
        while "w9" not in radicale.events("worker") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "sent by the worker" in radicale.events("worker")["w9"]
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
