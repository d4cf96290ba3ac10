"""Command line of the benchmark: ``python benchmarks/run.py [--quick | --sizes ...]``."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType

from benchmarks import calserver_cli
from benchmarks.dataset import BENCH_WEEK_END, BENCH_WEEK_START
from benchmarks.report import markdown, write_json
from benchmarks.results import CALSERVER, SERVER_LABELS, STOCK
from benchmarks.runner import Benchmark, Settings
from benchmarks.timing import Budget

REPO = Path(__file__).resolve().parent.parent


DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compare calserver with stock Radicale 3.9.0 over HTTP on 127.0.0.1."
    )
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="calendar sizes, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 events only, 7 repetitions")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks/results/latest.md",
        help="Markdown report (a .json with raw timings is written beside it)",
    )
    parser.add_argument(
        "--servers",
        default=f"{STOCK},{CALSERVER}",
        help="which servers to measure (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=20250310, help="data set seed")
    parser.add_argument(
        "--reps", type=int, default=None, help="repetitions per operation (default: 11, quick: 7)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=60,
        help="seconds per operation and server before repeating stops",
    )
    parser.add_argument(
        "--max-single",
        type=float,
        default=600,
        help="skip an operation expected to take longer than this per run",
    )
    parser.add_argument(
        "--restarts", type=int, default=3, help="restarts for the first-query-after-restart figure"
    )
    parser.add_argument(
        "--import-runs", type=int, default=3, help="bulk import repetitions at sizes up to 10,000"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="HTTP timeout per request, seconds"
    )
    parser.add_argument(
        "--no-twin", action="store_true", help="skip the 1,000-event calendar holding the same week"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data under /tmp")
    parser.add_argument(
        "--postgresql",
        nargs="?",
        const=DEFAULT_PG,
        default=None,
        metavar="URL",
        help="run calserver on PostgreSQL: each run gets a database of its own on the "
        f"server of URL (default {DEFAULT_PG}); stock Radicale is unchanged",
    )
    return parser


def _settings(args: argparse.Namespace, workdir: Path) -> Settings:
    sizes = (1000,) if args.quick else tuple(int(s) for s in args.sizes.split(","))
    servers = tuple(name.strip() for name in args.servers.split(","))
    unknown = set(servers) - {STOCK, CALSERVER}
    if unknown:
        raise SystemExit(f"unknown server(s): {', '.join(sorted(unknown))}")
    command = calserver_cli.executable()
    if CALSERVER in servers and command is None:
        raise SystemExit(
            "calserver is not installed (pip install -e /work/main); "
            f"use --servers {STOCK} to measure stock Radicale alone"
        )
    return Settings(
        sizes=sizes,
        servers=servers,
        seed=args.seed,
        budget=Budget(args.reps or (7 if args.quick else 11), args.budget, args.max_single),
        import_runs=args.import_runs,
        restarts=args.restarts,
        request_timeout=args.timeout,
        workdir=workdir,
        twin=not args.no_twin,
        calserver=command,
        postgresql=args.postgresql,
    )


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else "no commit"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _meta(settings: Settings, argv: list[str], seconds: float) -> dict[str, object]:
    return {
        "command": "python benchmarks/run.py " + shlex.join(argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "cpus": os.cpu_count(),
        "cpu": _cpu(),
        "python": platform.python_version(),
        "radicale": _version("radicale"),
        "calserver": _version("calserver"),
        "git": _git_revision(),
        "seed": settings.seed,
        "sizes": list(settings.sizes),
        "servers": list(settings.servers),
        "repetitions": settings.budget.repetitions,
        "budget_seconds": settings.budget.seconds,
        "max_single_seconds": settings.budget.max_single,
        "week": [BENCH_WEEK_START.isoformat(), BENCH_WEEK_END.isoformat()],
    }


def _header(meta: dict[str, object], settings: Settings) -> list[str]:
    servers = ", ".join(SERVER_LABELS[name] for name in settings.servers)
    return [
        "# calserver benchmark",
        "",
        f"`{meta['command']}` — {meta['date']}, {meta['seconds']} s; {servers}.",
        "",
        f"Machine: {meta['cpus']} CPUs ({meta['cpu']}), Python {meta['python']}, "
        f"Radicale {meta['radicale']}, calserver {meta['calserver']} (git {meta['git']}).",
        "",
        "How it was measured:",
        "",
        f"- Data: seeded generator (seed {settings.seed}), N events over 2020-2029, 5% "
        "recurring series (daily/weekly, COUNT/UNTIL, some endless, EXDATEs, overridden "
        "instances), all-day and timed in Europe/Brussels, America/New_York, Asia/Tokyo, UTC.",
        f"- The week: {BENCH_WEEK_START:%Y-%m-%d} to {BENCH_WEEK_END:%Y-%m-%d} (UTC), "
        "a VEVENT time-range calendar-query asking for getetag + calendar-data.",
        "- Stock Radicale: `python -m radicale` (built-in server, HTTP/1.0: one connection "
        "per request), multifilesystem, htpasswd (plain), owner_only. Its calendar is loaded by "
        "writing one .ics file per event plus .Radicale.props into collection-root directly, "
        "not over HTTP; its first query builds its item cache (the cold row). Its bulk import "
        "is a PUT of the whole calendar to a new collection on an empty storage.",
        "- calserver: `calserver serve`, SQLite in the data folder; loaded with "
        "`calserver import` (wall time, CLI start-up included).",
        "- Client: Python http.client on 127.0.0.1, connection kept alive when the server "
        "allows, HTTP Basic, no compression; a time runs from the request to the last byte.",
        f"- Medians over n runs: at most {settings.budget.repetitions} per operation, fewer "
        f"once an operation has used {settings.budget.seconds:.0f} s; an operation expected "
        f"to take over {settings.budget.max_single:.0f} s per run (scaled from the previous "
        "size) is skipped. Memory is VmRSS/VmHWM from /proc/PID/status.",
        "",
    ]


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="calserver-bench-", dir="/tmp"))
    settings = _settings(args, workdir)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    log(f"work folder: {workdir}")
    started = time.perf_counter()
    try:
        results = Benchmark(settings, log).run()
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            for child in workdir.iterdir():
                if child.name != "logs":
                    shutil.rmtree(child, ignore_errors=True)
            log(f"server logs kept in {workdir / 'logs'}")
    meta = _meta(settings, argv, time.perf_counter() - started)
    text = markdown(results, _header(meta, settings))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    write_json(args.out.with_suffix(".json"), results, meta)
    print(text)
    log(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0
