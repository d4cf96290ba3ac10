"""Load benchmark: concurrent clients with a mixed workload against calserver (SQLite, one
process; PostgreSQL with 1, 2 and 4 processes) and stock Radicale, side by side.

``python benchmarks/load.py`` (about three minutes with the defaults: 2,000 events, 8
clients, 15 s per server) writes ``benchmarks/results/load.md`` (and ``.json``).
``--events 10000 --duration 60`` for bigger figures; ``--mix query=70,get=20,put=10``
for DESIGN.md's mix (one-week queries, single GETs, updates) instead of the default
70/20/10 of one-week queries, incremental sync-collection and updates.

Each client keeps one connection open (stock Radicale's built-in server closes it after
each request, HTTP/1.0), picks its next request at random by the mix and sends it as
soon as the previous answer has arrived (a closed loop: throughput is what the server
sustains with that many clients). Requests:

- ``query``: a VEVENT time-range calendar-query (getetag + calendar-data) for a random
  week of the data set's decade (RFC 4791 7.8);
- ``sync``: sync-collection (RFC 6578) from the token of the client's previous sync;
- ``get``: GET of one random event;
- ``put``: an update of one random event (its SEQUENCE raised), unconditional.

Nothing is timed before the measured window: one client's first query and sync alone
(stock Radicale builds its item cache there), then ``--warmup`` seconds of the full load
(each client's first sync, calserver's login cache). A request still running at the
end of the window is not counted. Every answer's status is checked:
anything else than 207/200/201/204 counts as an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: import the package from the repository
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks import calserver_cli, stock
from benchmarks.dataset import DECADE_START, DECADE_WEEKS, generate
from benchmarks.davclient import DavClient
from benchmarks.davxml import calendar_query, parse_multistatus, sync_collection
from benchmarks.model import Event
from benchmarks.render import render_resource, write_calendar_file
from benchmarks.servers import ServerError, ServerProcess, free_port

REPO = Path(__file__).resolve().parent.parent
USER, PASSWORD, CALENDAR = "bench", "bench-password", "cal"
PATH = f"/{USER}/{CALENDAR}/"
OK = {"query": {207}, "sync": {207}, "get": {200}, "put": {201, 204}}
SERVERS = ("stock", "sqlite", "pg1", "pg2", "pg4")
LABELS = {
    "stock": "stock Radicale 3.9.0 (multifilesystem, 1 process)",
    "sqlite": "calserver, SQLite, 1 process",
    "pg1": "calserver, PostgreSQL, 1 process",
    "pg2": "calserver, PostgreSQL, 2 processes",
    "pg4": "calserver, PostgreSQL, 4 processes",
}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the workload ---------------------------------------------------------------------


@dataclass
class Tally:
    """Latencies (seconds) by operation, and errors, of one server's measured window."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: str, seconds: float) -> None:
        with self.lock:
            self.seconds.setdefault(op, []).append(seconds)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


class Client:
    """One simulated client: a connection, a sync token, a random stream."""

    def __init__(self, url: str, events: list[Event], mix: dict[str, int], seed: int) -> None:
        self.dav = DavClient(url, USER, PASSWORD, timeout=300)
        self.events = events
        self.rng = random.Random(seed)
        self.ops = list(mix)
        self.weights = list(mix.values())
        self.token = ""
        self.sequence = 0

    def request(self, op: str) -> tuple[int, float]:
        if op == "query":
            start = datetime.combine(DECADE_START, datetime.min.time(), UTC) + timedelta(
                weeks=self.rng.randrange(DECADE_WEEKS)
            )
            body = calendar_query(start, start + timedelta(days=7))
            answer = self.dav.request(
                "REPORT", PATH, body, {"Depth": "1", "Content-Type": "application/xml"}
            )
        elif op == "sync":
            answer = self.dav.request(
                "REPORT",
                PATH,
                sync_collection(self.token),
                {"Depth": "1", "Content-Type": "application/xml"},
            )
            if answer.status == 207:
                self.token = parse_multistatus(answer.body).sync_token or ""
        elif op == "get":
            answer = self.dav.request("GET", PATH + self.rng.choice(self.events).href)
        else:
            self.sequence += 1
            event = self.rng.choice(self.events)
            answer = self.dav.request(
                "PUT",
                PATH + event.href,
                render_resource(event, sequence=self.sequence),
                {"Content-Type": "text/calendar; charset=utf-8"},
            )
        return answer.status, answer.seconds

    def run(self, tally: Tally | None, until: float) -> int:
        done = 0
        while time.monotonic() < until:
            op = self.rng.choices(self.ops, self.weights)[0]
            try:
                status, seconds = self.request(op)
            except OSError as exc:
                if tally is not None:
                    tally.error(f"{op}: {exc.__class__.__name__}: {exc}")
                continue
            done += 1
            if tally is None:
                continue
            if status in OK[op]:
                tally.add(op, seconds)
            else:
                tally.error(f"{op}: HTTP {status}")
        return done


def drive(server: ServerProcess, events: list[Event], settings: Settings) -> tuple[Tally, float]:
    """Warm up, then run the clients for the measured window; (tally, seconds)."""
    clients = [
        Client(server.url, events, settings.mix, settings.seed + n) for n in range(settings.clients)
    ]
    # one client first, alone: stock Radicale builds its item cache at the first query
    # (seconds per thousand events), which eight clients at once would each start
    clients[0].request("query")
    clients[0].request("sync")
    tally = Tally()
    start = time.monotonic()
    warm_until = start + settings.warmup
    measure_until = warm_until + settings.duration

    def work(client: Client) -> None:
        client.request("sync")  # the first, complete sync of each client
        client.run(None, warm_until)
        client.run(tally, measure_until)
        client.dav.close()

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, settings.duration


# --- the servers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    events: int
    clients: int
    duration: float
    warmup: float
    mix: dict[str, int]
    seed: int
    servers: tuple[str, ...]
    pg_url: str
    workdir: Path


def calserver_config(folder: Path, database_url: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["[storage]", f"data_folder = {folder / 'data'}"]
    if database_url:
        lines.append(f"database_url = {database_url}")
    lines += ["[logging]", "level = warning", ""]
    config = folder / "calserver.ini"
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


def calserver(command: Path, config: Path, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        [str(command), "--config", str(config), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise ServerError(f"calserver {' '.join(args)}: {done.stderr[-1000:]}")


def load_calserver(command: Path, config: Path, ics: Path) -> float:
    started = time.perf_counter()
    calserver(command, config, "user", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
    calserver(command, config, "calendar", "create", f"{USER}/{CALENDAR}")
    calserver(command, config, "import", str(ics), f"{USER}/{CALENDAR}")
    return time.perf_counter() - started


def calserver_process(command: Path, config: Path, workers: int, log_path: Path) -> ServerProcess:
    argv = [str(command), "serve", "--config", str(config), "--server-hosts", "127.0.0.1:{port}"]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return ServerProcess(f"calserver x{workers}", argv, log_path, free_port())


def pg_database(admin_url: str) -> tuple[str | None, str]:
    """A fresh database on the PostgreSQL server of ``admin_url``: (url, name), or
    (None, reason) when none answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = "calserver_load_" + secrets.token_hex(4)
    try:
        admin = create_engine(
            admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:  # any driver or network error: no PostgreSQL here
        return None, f"no PostgreSQL at {admin_url}: {exc}"[:300]
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), name


def drop_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- the report -----------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(tally: Tally, seconds: float) -> dict[str, Any]:
    every = [s for values in tally.seconds.values() for s in values]
    ops = {
        op: {
            "n": len(values),
            "p50_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(percentile(values, 0.95) * 1000, 1),
        }
        for op, values in sorted(tally.seconds.items())
    }
    return {
        "requests": len(every),
        "throughput": round(len(every) / seconds, 1),
        "p50_ms": round(statistics.median(every) * 1000, 1) if every else None,
        "p95_ms": round(percentile(every, 0.95) * 1000, 1) if every else None,
        "errors": len(tally.errors),
        "first_errors": tally.errors[:5],
        "ops": ops,
    }


def markdown(results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    mix = ", ".join(f"{op} {weight}%" for op, weight in meta["mix"].items())
    lines = [
        "# Load benchmark",
        "",
        f"`{meta['command']}` — {meta['date']}, {meta['seconds']} s in all.",
        "",
        f"Machine: {meta['cpus']} CPUs ({meta['cpu']}), Python {meta['python']}, "
        f"Radicale {meta['radicale']}, calserver {meta['calserver']} (git {meta['git']}). "
        "Clients, servers and PostgreSQL share this machine; load average (1 min): "
        f"{meta['load']}.",
        "",
        f"Workload: {meta['events']} events in one calendar (the benchmark's seeded data "
        f"set), {meta['clients']} concurrent clients in a closed loop, {mix}; "
        f"{meta['warmup']} s warm-up, then {meta['duration']} s measured per server. "
        "`query`: one-week VEVENT calendar-query with calendar-data, a random week; "
        "`sync`: sync-collection from the client's previous token; `get`: GET of one "
        "event; `put`: update of one event. Latencies are per request, from sending it to "
        "the last byte; ratios are calserver's figure against stock Radicale's "
        "(throughput: calserver / stock; latency: stock / calserver).",
        "",
        "| server | requests/s | vs stock | p50 | p95 | p50 vs stock | errors | "
        + " | ".join(f"{op} p50 / p95" for op in meta["mix"])
        + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(meta["mix"]),
    ]
    base = results.get("stock")
    for name, result in results.items():
        if "skipped" in result:
            lines.append(f"| {LABELS[name]} | skipped: {result['skipped']} |")
            continue
        ratio_t = ratio_l = ""
        if base and base.get("requests") and result.get("requests") and name != "stock":
            ratio_t = f"{result['throughput'] / max(base['throughput'], 1e-9):.1f}x"
            ratio_l = f"{base['p50_ms'] / max(result['p50_ms'], 1e-9):.1f}x"
        ops = result["ops"]
        cells = []
        for op in meta["mix"]:
            figures = ops.get(op)
            cells.append(f"{figures['p50_ms']} / {figures['p95_ms']} ms" if figures else "n/a")
        lines.append(
            f"| {LABELS[name]} | {result['throughput']} | {ratio_t} | {result['p50_ms']} ms "
            f"| {result['p95_ms']} ms | {ratio_l} | {result['errors']} | "
            + " | ".join(cells)
            + " |"
        )
    lines.append("")
    for name, result in results.items():
        for line in result.get("notes", []):
            lines.append(f"- {LABELS[name]}: {line}")
        for error in result.get("first_errors", []):
            lines.append(f"- {LABELS[name]}: error: {error}")
    lines.append("")
    return "\n".join(lines)


def machine() -> dict[str, object]:
    from importlib import metadata

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "radicale": metadata.version("radicale"),
        "calserver": metadata.version("calserver"),
        "git": git or "no commit",
    }


# --- main -----------------------------------------------------------------------------


def parse_mix(text: str) -> dict[str, int]:
    mix: dict[str, int] = {}
    for part in text.split(","):
        op, _, weight = part.partition("=")
        if op.strip() not in OK or not weight.strip().isdigit():
            raise SystemExit(f"--mix: expected OP=WEIGHT with OP in {sorted(OK)}, got {part!r}")
        mix[op.strip()] = int(weight)
    return mix


def run(settings: Settings) -> dict[str, dict[str, Any]]:
    command = calserver_cli.executable()
    if command is None:
        raise SystemExit("calserver is not installed (pip install -e .)")
    events = generate(settings.events, settings.seed)
    ics = settings.workdir / "calendar.ics"
    write_calendar_file(events, ics)
    logs = settings.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}

    def measure(name: str, process: ServerProcess, notes: list[str]) -> None:
        log(f"{name}: starting")
        try:
            started = process.start(timeout=120)
            notes.append(f"process started in {started:.1f} s")
            tally, seconds = drive(process, events, settings)
            if not process.alive():
                notes.append("the server process had exited at the end")
        finally:
            process.stop()
        results[name] = {**summary(tally, seconds), "notes": notes}
        log(
            f"{name}: {results[name]['throughput']} requests/s, p50 {results[name]['p50_ms']} "
            f"ms, p95 {results[name]['p95_ms']} ms, {results[name]['errors']} errors"
        )

    if "stock" in settings.servers:
        folder = settings.workdir / "stock"
        config = stock.write_config(folder, USER, PASSWORD)
        loaded = stock.load_calendar(folder, USER, CALENDAR, events)
        measure(
            "stock",
            stock.server(config, logs / "stock.log"),
            [f"calendar written into its storage folder directly ({loaded:.1f} s)"],
        )
    if "sqlite" in settings.servers:
        config = calserver_config(settings.workdir / "sqlite", None)
        loaded = load_calserver(command, config, ics)
        process = calserver_process(command, config, 1, logs / "sqlite.log")
        measure("sqlite", process, [f"loaded with calserver import in {loaded:.1f} s"])
    wanted = [name for name in ("pg1", "pg2", "pg4") if name in settings.servers]
    if wanted:
        url, name = pg_database(settings.pg_url)
        if url is None:
            for server in wanted:
                results[server] = {"skipped": name}
        else:
            try:
                config = calserver_config(settings.workdir / "pg", url)
                loaded = load_calserver(command, config, ics)
                for server in wanted:
                    workers = int(server[2:])
                    process = calserver_process(command, config, workers, logs / f"{server}.log")
                    measure(server, process, [f"database loaded in {loaded:.1f} s (once)"])
            finally:
                drop_database(settings.pg_url, name)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events in the calendar")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=15, help="measured seconds per server")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds first")
    parser.add_argument("--mix", default="query=70,sync=20,put=10", help="OP=WEIGHT,...")
    parser.add_argument("--servers", default=",".join(SERVERS), help=",".join(SERVERS))
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CALSERVER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL database to create the benchmark's own database from",
    )
    parser.add_argument("--seed", type=int, default=20250310)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/load.md", help="Markdown report"
    )
    args = parser.parse_args(argv)
    servers = tuple(s.strip() for s in args.servers.split(",") if s.strip())
    unknown = set(servers) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown server(s): {', '.join(sorted(unknown))}")
    workdir = Path(tempfile.mkdtemp(prefix="calserver-load-", dir="/tmp"))
    settings = Settings(
        events=args.events,
        clients=args.clients,
        duration=args.duration,
        warmup=args.warmup,
        mix=parse_mix(args.mix),
        seed=args.seed,
        servers=servers,
        pg_url=args.pg_url,
        workdir=workdir,
    )
    log(f"work folder: {workdir}")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        results = run(settings)
    finally:
        for child in workdir.iterdir():
            if child.name != "logs":
                shutil.rmtree(child, ignore_errors=True)
        log(f"server logs kept in {workdir / 'logs'}")
    meta = {
        **machine(),
        "command": "python benchmarks/load.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started),
        "events": settings.events,
        "clients": settings.clients,
        "duration": settings.duration,
        "warmup": settings.warmup,
        "mix": settings.mix,
        "load": f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after",
    }
    text = markdown(results, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2), encoding="utf-8"
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
