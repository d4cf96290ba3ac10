"""Where the time of one operation goes, on a calendar of N events: the profile behind
each target the HTTP benchmark misses (issue 15 asks for one per miss).

The WSGI application is called in-process (no HTTP); the calendar is the benchmark's
generated one (same seed), imported as ``calserver import`` does into a SQLite file that
``--folder`` keeps between runs. Each operation runs ``--runs`` times for a median, then
once more under cProfile; the report lists the functions with the most own time, and
the calserver, Radicale, vobject, SQLAlchemy and sqlite3 shares of the total::

    PYTHONPATH=src:. python benchmarks/profiles.py --events 100000 --folder /tmp/prof100k \\
        --out benchmarks/results/profile-100k.md expand put get propfind sync import

``NAME-cold`` profiles the first call of an operation in the process (with a kept
``--folder``, a fresh process is a restarted server). ``import`` profiles the import of
``--import-events`` of the same events into a new calendar in this one process (the work
each import process does, without the split).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import davxml
from benchmarks.dataset import BENCH_WEEK_END, BENCH_WEEK_START, generate
from benchmarks.render import write_calendar_file

DEFAULT_SEED = 20250310  # the HTTP benchmark's (benchmarks/cli.py)
PACKAGES = ("calserver", "radicale", "vobject", "dateutil", "sqlalchemy", "sqlite3", "xml")


def _setup(folder: Path, events: int) -> tuple[Any, Any, Any]:
    from tests import conftest

    from calserver import calendars, db
    from calserver.accounts import users
    from calserver.app import make_app
    from calserver.storage import Storage

    folder.mkdir(parents=True, exist_ok=True)
    fresh = not (folder / "db.sqlite").exists()
    configuration = conftest.make_configuration(f"sqlite:///{folder}/db.sqlite", folder)
    application = make_app(configuration)
    if fresh:
        users.add(db.engine_for(configuration), "alice", conftest.PASSWORD, "alice@example.org")
    client = conftest.WSGIClient(application, configuration, default_user="alice")
    if fresh:
        assert client.request("MKCALENDAR", "/alice/cal/").status == 201
        path = folder / "cal.ics"
        write_calendar_file(generate(events, DEFAULT_SEED), path)
        started = time.perf_counter()
        calendars.import_file(Storage(configuration), "alice/cal", path.read_text("utf-8"))
        print(f"imported {events} events in {time.perf_counter() - started:.1f} s")
    return client, configuration, conftest.event_ics


def _operations(client: Any, configuration: Any, event_ics: Any, events: int) -> dict[str, Any]:
    from calserver import calendars
    from calserver.storage import Storage

    xml = {"Depth": "1", "Content-Type": "application/xml"}
    week = (BENCH_WEEK_START, BENCH_WEEK_END)
    query = davxml.calendar_query(*week)
    expand = davxml.calendar_query(*week, expand=True)
    counter = iter(range(int(time.time() * 1000), 10**15))  # new names in a kept folder

    def put(_: int) -> None:
        k = next(counter)
        reply = client.request("PUT", f"/alice/cal/p{k}.ics", event_ics(f"profile-{k}"))
        assert reply.status == 201, reply.status

    @functools.cache
    def import_text() -> str:  # made once, and only when ``import`` is asked for
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cal.ics"
            write_calendar_file(generate(events, DEFAULT_SEED), path)
            return path.read_text("utf-8")

    def importing(_: int) -> None:
        k = next(counter)
        text = import_text()
        assert client.request("MKCALENDAR", f"/alice/imp{k}/").status == 201
        calendars.import_file(Storage(configuration), f"alice/imp{k}", text)

    calendars.PARALLEL_THRESHOLD = 10**9  # an import's work all in this process

    def request(method: str, body: str, headers: dict[str, str]) -> Callable[[int], None]:
        def run(_: int) -> None:
            reply = client.request(method, "/alice/cal/", body, headers)
            assert reply.status in (200, 207), reply.status

        return run

    return {
        "query": request("REPORT", query, xml),
        "expand": request("REPORT", expand, xml),
        "propfind": request("PROPFIND", davxml.propfind_etags(), xml),
        "sync": request("REPORT", davxml.sync_collection(), xml),
        "get": request("GET", "", {}),
        "put": put,
        "import": importing,
    }


def _shares(stats: pstats.Stats) -> dict[str, float]:
    total = 0.0
    by_package: dict[str, float] = dict.fromkeys(PACKAGES, 0.0)
    for (filename, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        total += own
        for package in PACKAGES:
            if f"/{package}/" in filename or filename.endswith(f"/{package}.py"):
                by_package[package] += own
                break
    return {name: own / total for name, own in by_package.items() if total}


def _report(name: str, median_ms: float, runs: int, stats: pstats.Stats, top: int) -> str:
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    shares = ", ".join(f"{p} {s:.0%}" for p, s in _shares(stats).items() if s >= 0.005)
    body = buffer.getvalue()
    tables = [
        part[part.index("   ncalls") :] for part in body.split("\n\n\n") if "   ncalls" in part
    ]
    lines = "\n\n".join(table.rstrip() for table in tables)
    return (
        f"## {name}\n\nmedian of {runs}: {median_ms:.1f} ms; own time by package: {shares}\n\n"
        f"```\n{lines.rstrip()}\n```\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("operations", nargs="+")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--import-events", type=int, default=5_000)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="calserver-profile-"))
    client, configuration, event_ics = _setup(folder, args.events)
    operations = _operations(client, configuration, event_ics, args.import_events)
    sections = [
        f"# Profiles at {args.events:,} events\n\n`python benchmarks/profiles.py "
        f"{' '.join(sys.argv[1:])}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        "in-process (WSGI called directly), SQLite; per operation the functions with the "
        "most own time (tottime), then the most time including callees (cumtime).\n"
    ]
    for name in args.operations:
        # NAME-cold: the first call in this process is the one profiled (the first
        # request after a restart: run it in a fresh process on a kept --folder)
        cold = name.endswith("-cold")
        operation = operations[name.removesuffix("-cold")]
        runs = 0 if cold else 1 if name == "import" else args.runs
        times = []
        for run in range(runs):
            started = time.perf_counter()
            operation(run)
            times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        profile = cProfile.Profile()
        profile.enable()
        operation(runs)
        profile.disable()
        if cold:
            times = [(time.perf_counter() - started) * 1000]
        section = _report(
            name, statistics.median(times), max(runs, 1), pstats.Stats(profile), args.top
        )
        print(section)
        sections.append(section)
    if args.out:
        args.out.write_text("\n".join(sections), encoding="utf-8")


if __name__ == "__main__":
    main()
