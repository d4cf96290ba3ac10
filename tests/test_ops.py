"""Operations: /health, /metrics and ``calserver serve --workers N``, on live servers.

Everything here runs real processes: ``calserver serve`` (waitress or gunicorn), a real
PostgreSQL (through a TCP relay the test can cut, so that the database goes away while
the server runs), prometheus_client's own parser on what the metrics listener serves.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from calserver import calendars, cli, db
from calserver.accounts import users
from calserver.errors import InvalidInput
from tests.conftest import PASSWORD, LiveServer, _reset_pg, free_port, run_cli, start_server

pytestmark = pytest.mark.live

PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>'
)


# --- helpers --------------------------------------------------------------------------


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample the metrics listener on ``port`` serves, by name and labels."""
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def listening_ports(pid: int) -> set[int]:
    """TCP ports on which process ``pid`` listens (Linux /proc)."""
    if not os.path.isdir(f"/proc/{pid}/fd"):
        pytest.skip("needs Linux /proc to list a process's sockets")
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            inodes.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table, encoding="ascii") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and f"socket:[{fields[9]}]" in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children(pid: int) -> set[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return {int(word) for word in out.split()}


def propfind(url: str, user: str, password: str) -> requests.Response:
    return requests.request(
        "PROPFIND",
        url,
        data=PROPFIND_BODY,
        auth=(user, password),
        headers={"Depth": "0", "Connection": "close", "Content-Type": "application/xml"},
        timeout=30,
    )


#: Radicale's log line at the end of a request: "[PID/thread] [LEVEL] METHOD response
#: status for 'PATH' ...: STATUS ..."
RESPONSE_LINE = re.compile(r"\[(\d+)/[^\]]*\] \[\w+\] (\w+) response status for .*: (\d{3}) ")


def answers(log_path: Path, offset: int = 0) -> list[tuple[int, str, int]]:
    """(worker pid, method, status) of every response logged after ``offset``."""
    text = log_path.read_bytes()[offset:].decode("utf-8", "replace")
    return [(int(p), m, int(s)) for p, m, s in RESPONSE_LINE.findall(text)]


class Relay:
    """A TCP relay to PostgreSQL that the test switches off and on: for the server behind
    it, the database goes away (refused connections, pooled ones cut) and comes back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._accept, args=(self._listener,), daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``calserver serve`` with the default options on a fresh SQLite database."""
    folder = tmp_path_factory.mktemp("ops")
    db.dispose_engines()
    server = start_server("sqlite:///" + str(folder / "ops.sqlite"), folder / "data")
    try:
        yield server
    finally:
        server.stop()


# --- /health --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/.health"])
def test_health_is_200_and_anonymous_while_the_database_answers(
    sqlite_server: LiveServer, path: str
) -> None:
    response = requests.get(sqlite_server.url + path, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok"}
    head = requests.head(sqlite_server.url + path, timeout=10)
    assert head.status_code == 200 and head.content == b""


@pytest.mark.postgresql
def test_health_is_503_while_postgresql_is_unreachable_and_200_once_it_is_back(
    pg_database: str, tmp_path: Path
) -> None:
    _reset_pg(pg_database)
    db.dispose_engines()
    real = make_url(pg_database)
    relay = Relay((real.host or "127.0.0.1", real.port or 5432))
    relay.start()
    relayed = real.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    metrics_port = free_port()
    server = start_server(
        relayed, tmp_path / "data", "--server-metrics-hosts", f"127.0.0.1:{metrics_port}"
    )
    try:
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
        errors_before = value(
            scrape(metrics_port), "calserver_database_errors_total", kind="OperationalError"
        )

        relay.stop()  # PostgreSQL goes away for the server
        response = requests.get(server.url + "/health", timeout=30)
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        errors_after = value(
            scrape(metrics_port), "calserver_database_errors_total", kind="OperationalError"
        )
        assert errors_after > errors_before

        relay.start()  # ... and comes back: the same process recovers
        assert requests.get(server.url + "/health", timeout=30).status_code == 200
        assert server.process.poll() is None
    finally:
        server.stop()
        relay.stop()


def test_health_and_metrics_are_reserved_user_names() -> None:
    for name in ("health", "metrics", "Health"):
        with pytest.raises(InvalidInput, match="reserved"):
            users.validate_name(name)
    users.validate_name("healthy")
    assert calendars.parse_path("alice/health") == ("alice", "health")  # calendars may


# --- /metrics -------------------------------------------------------------------------


def test_metrics_are_off_by_default(sqlite_server: LiveServer) -> None:
    for path in ("/metrics", "/.metrics"):
        response = requests.get(sqlite_server.url + path, timeout=10)
        assert response.status_code == 404
        assert "calserver_" not in response.text
    port = int(sqlite_server.url.rsplit(":", 1)[1])
    assert listening_ports(sqlite_server.process.pid) == {port}  # no metrics listener


def test_metrics_listener_counts_requests_latency_and_failed_logins(tmp_path: Path) -> None:
    db.dispose_engines()
    metrics_port = free_port()
    server = start_server(
        "sqlite:///" + str(tmp_path / "ops.sqlite"),
        tmp_path / "data",
        "--server-metrics-hosts",
        f"127.0.0.1:{metrics_port}",
    )
    try:
        users.add(db.get_engine(server.database_url), "alice", PASSWORD)
        port = int(server.url.rsplit(":", 1)[1])
        assert listening_ports(server.process.pid) == {port, metrics_port}
        # not on the CalDAV port, even when they are on
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 404

        before = scrape(metrics_port)
        assert propfind(server.url + "/alice/", "alice", "wrong password").status_code == 401
        assert propfind(server.url + "/alice/", "alice", PASSWORD).status_code == 207
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
        after = scrape(metrics_port)

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert moved("calserver_failed_logins_total", reason="invalid") == 1
        assert moved("calserver_http_requests_total", method="PROPFIND", status="401") == 1
        assert moved("calserver_http_requests_total", method="PROPFIND", status="207") == 1
        assert moved("calserver_http_request_duration_seconds_count", method="PROPFIND") == 2
        assert moved("calserver_http_request_duration_seconds_sum", method="PROPFIND") > 0
        # /health is not a request of the calendar service
        assert moved("calserver_http_requests_total", method="GET", status="200") == 0
        assert any(name == "process_cpu_seconds_total" for name, _ in after)
    finally:
        server.stop()


def test_a_taken_metrics_port_is_a_clear_error(sqlite_server: LiveServer) -> None:
    taken = sqlite_server.url.rsplit(":", 1)[1]
    result = run_cli(
        sqlite_server.database_url,
        sqlite_server.data_folder,
        "--server-hosts",
        f"127.0.0.1:{free_port()}",
        "--server-metrics-hosts",
        f"127.0.0.1:{taken}",
        "serve",
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{taken} for metrics" in result.stderr
    assert "Traceback" not in result.stderr


# --- serve --workers N ----------------------------------------------------------------


def test_workers_must_be_at_least_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--workers", "0"]) == cli.EXIT_USAGE
    assert "at least 1 server process" in capsys.readouterr().err


@pytest.mark.parametrize("metrics", [False, True])
def test_workers_on_a_taken_port_say_so_and_exit_1(
    sqlite_server: LiveServer, metrics: bool
) -> None:
    port = sqlite_server.url.rsplit(":", 1)[1]
    extra = ("--server-metrics-hosts", f"127.0.0.1:{free_port()}") if metrics else ()
    result = run_cli(
        sqlite_server.database_url,
        sqlite_server.data_folder,
        "--server-hosts",
        f"127.0.0.1:{port}",
        *extra,
        "serve",
        "--workers",
        "2",
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.postgresql
def test_two_workers_on_postgresql_share_requests_metrics_and_logins_then_stop_on_sigterm(
    pg_database: str, tmp_path: Path
) -> None:
    _reset_pg(pg_database)
    db.dispose_engines()
    metrics_port = free_port()
    server = start_server(
        pg_database,
        tmp_path / "data",
        "--logging-level",
        "info",
        "--server-metrics-hosts",
        f"127.0.0.1:{metrics_port}",
        "--auth-throttle-free-attempts",
        "1000",
        "--auth-throttle-address-free-attempts",
        "1000",
        serve_args=("--workers", "2"),
    )
    try:
        engine = db.get_engine(pg_database)
        users.add(engine, "alice", PASSWORD)
        master = server.process.pid
        deadline = time.monotonic() + 20
        while len(children(master)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = children(master)
        assert len(workers) == 2

        # New connections until both workers have answered (the kernel picks the worker)
        sent = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert propfind(server.url + "/alice/", "alice", PASSWORD).status_code == 207
            sent += 1
            if {pid for pid, _, _ in answers(server.log_path)} == workers and sent >= 4:
                break
        served = answers(server.log_path)
        assert {pid for pid, _, _ in served} == workers  # by the workers, both of them
        assert [(m, s) for _, m, s in served] == [("PROPFIND", 207)] * sent

        # the master's listener adds up what every worker counted
        samples = scrape(metrics_port)
        assert (
            value(samples, "calserver_http_requests_total", method="PROPFIND", status="207") == sent
        )

        # a password change ends the old password in every worker (each verified it before)
        offset = server.log_path.stat().st_size
        users.set_password(engine, "alice", "new secret")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert propfind(server.url + "/alice/", "alice", PASSWORD).status_code == 401
            if {pid for pid, _, _ in answers(server.log_path, offset)} == workers:
                break
        assert {pid for pid, _, _ in answers(server.log_path, offset)} == workers
        assert propfind(server.url + "/alice/", "alice", "new secret").status_code == 207

        # the folder where the workers keep their figures (prometheus_client's files
        # are named after the worker's pid)
        worker = next(iter(workers))
        (metrics_folder,) = [
            str(folder)
            for folder in Path(tempfile.gettempdir()).glob("calserver-metrics-*")
            if any(folder.glob(f"*_{worker}.db"))
        ]

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) == 0
        assert not any(alive(pid) for pid in workers)
        assert not os.path.exists(metrics_folder)
        for port in (int(server.url.rsplit(":", 1)[1]), metrics_port):
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        server.stop()


def test_gunicorn_runs_the_application_factory(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[storage]\n"
        f"database_url = sqlite:///{tmp_path / 'factory.sqlite'}\n"
        f"data_folder = {tmp_path}\n"
        "[logging]\nlevel = warning\n",
        encoding="utf-8",
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",  # gunicorn >= 25 opens one in the home folder
            "calserver.wsgi:create_app()",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "CALSERVER_CONFIG": str(config)},
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                response = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
