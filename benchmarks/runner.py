"""The whole benchmark: for each size, build the data, then measure each server in turn."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks import barefetch, stock
from benchmarks.calserver_cli import CalserverCli, RunCost
from benchmarks.dataset import BENCH_WEEK_END, BENCH_WEEK_START, DatasetGenerator, generate
from benchmarks.davclient import DavClient
from benchmarks.load import drop_database, pg_database
from benchmarks.model import Event
from benchmarks.occurrences import instances_between, window_content
from benchmarks.render import write_calendar_file
from benchmarks.results import CALSERVER, STOCK, ServerResult, SizeResult
from benchmarks.servers import ServerError, ServerProcess
from benchmarks.session import (
    CALENDAR,
    PASSWORD,
    TWIN_CALENDAR,
    USER,
    CalendarUnderTest,
    ServerSession,
    SessionSettings,
)
from benchmarks.timing import Budget, CheckFailed, Measurement, repeat

TWIN_SIZE = 1000


@dataclass(frozen=True)
class Settings:
    """Everything the command line decides."""

    sizes: tuple[int, ...]
    servers: tuple[str, ...]
    seed: int
    budget: Budget
    import_runs: int  # calserver imports into fresh data folders, for sizes ≤ 10,000
    restarts: int
    request_timeout: float
    workdir: Path
    twin: bool
    calserver: Path | None
    #: calserver on PostgreSQL: a server URL (trust) on which each calserver run gets
    #: a database of its own; None for SQLite
    postgresql: str | None = None


@dataclass(frozen=True)
class DataFiles:
    """The data set of one size, in memory and as .ics files."""

    events: list[Event]
    ics: Path
    data: CalendarUnderTest
    twin_events: list[Event] | None
    twin_ics: Path | None


class Benchmark:
    """Runs every size; remembers medians to foresee what the next size would cost."""

    def __init__(self, settings: Settings, log: Callable[[str], None]) -> None:
        self.settings = settings
        self.log = log
        self._history: dict[tuple[str, str], tuple[int, float]] = {}
        self._databases: list[str] = []

    def run(self) -> list[SizeResult]:
        results = []
        for size in self.settings.sizes:
            started = time.perf_counter()
            load_before = os.getloadavg()[0]
            result = self._run_size(size)
            result.seconds = time.perf_counter() - started
            result.info.append(
                f"machine load average (1 min): {load_before:.1f} before, "
                f"{os.getloadavg()[0]:.1f} after this size"
            )
            self.log(f"[{size}] done in {result.seconds:.0f} s")
            results.append(result)
        return results

    # -- helpers -------------------------------------------------------------------------

    def _estimate(self, server: str, size: int) -> Callable[[str], float | None]:
        """Scale the previous size's median linearly (stock Radicale is O(n) per request)."""

        def estimate(op: str) -> float | None:
            previous = self._history.get((server, op))
            if previous is None:
                return None
            previous_size, median = previous
            return median * size / previous_size

        return estimate

    def _remember(self, server: str, size: int, result: ServerResult) -> None:
        for op, measurement in result.measurements.items():
            if measurement.median is not None and measurement.unit == "s":
                self._history[(server, op)] = (size, measurement.median)

    def _log_file(self, size: int, name: str) -> Path:
        folder = self.settings.workdir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{size}-{name}.log"

    def _session_settings(self, server: str, size: int) -> SessionSettings:
        return SessionSettings(
            budget=self.settings.budget,
            restarts=self.settings.restarts,
            request_timeout=self.settings.request_timeout,
            start_timeout=120,
            seed=self.settings.seed,
            estimate=self._estimate(server, size),
            log=self.log,
        )

    def _prepare(self, size: int, folder: Path) -> DataFiles:
        started = time.perf_counter()
        events = generate(size, self.settings.seed)
        week = window_content(events, BENCH_WEEK_START, BENCH_WEEK_END)
        ics = folder / "calendar.ics"
        written = write_calendar_file(events, ics)
        twin_events = twin_ics = None
        twin_content = None
        if self.settings.twin and size > TWIN_SIZE:
            twin_events = self._twin(events)
            twin_ics = folder / "twin.ics"
            write_calendar_file(twin_events, twin_ics)
            twin_content = window_content(twin_events, BENCH_WEEK_START, BENCH_WEEK_END)
        self.log(
            f"[{size}] data set: {size} events, {written / 1e6:.1f} MB as one .ics, "
            f"{len(week.hrefs)} resources / {week.instances} instances in the week "
            f"({time.perf_counter() - started:.1f} s)"
        )
        return DataFiles(
            events, ics, CalendarUnderTest(events, week, twin_content), twin_events, twin_ics
        )

    def _twin(self, events: list[Event]) -> list[Event]:
        """The events of the benchmark week plus filler elsewhere, 1,000 in all."""

        def in_week(event: Event) -> bool:
            found = instances_between(event, BENCH_WEEK_START, BENCH_WEEK_END)
            return next(found, None) is not None

        twin = [event for event in events if in_week(event)]
        filler = DatasetGenerator(self.settings.seed + 7)
        while len(twin) < TWIN_SIZE:
            event = filler.event()
            if not in_week(event):
                twin.append(event)
        return twin

    def _serve(
        self,
        name: str,
        server: ServerProcess,
        data: CalendarUnderTest,
        result: ServerResult,
        size: int,
    ) -> None:
        try:
            startup = server.start(timeout=120)
            result.info.append(f"process started in {startup:.1f} s")
            session = ServerSession(name, server, data, self._session_settings(name, size), result)
            session.measure_all()
            if not server.alive():
                result.problems.append(f"server: {name} process had exited at the end")
        except ServerError as exc:
            result.problems.append(f"server: {exc}")
            self.log(f"    {name}: {exc}")
        finally:
            server.stop()

    # -- one size ------------------------------------------------------------------------

    def _run_size(self, size: int) -> SizeResult:
        folder = self.settings.workdir / f"n{size}"
        folder.mkdir(parents=True)
        files = self._prepare(size, folder)
        result = SizeResult(
            size,
            expected={
                "week_hrefs": len(files.data.week.hrefs),
                "week_instances": files.data.week.instances,
                "events": size,
            },
        )
        if STOCK in self.settings.servers:
            result.servers[STOCK] = self._stock(size, files, folder / "stock")
            self._remember(STOCK, size, result.servers[STOCK])
        if CALSERVER in self.settings.servers:
            result.servers[CALSERVER] = self._calserver(size, files, folder / "calserver")
            self._remember(CALSERVER, size, result.servers[CALSERVER])
        shutil.rmtree(folder, ignore_errors=True)
        counts = ", ".join(
            f"{name} {server.counts.get('query_week', 'n/a')}"
            for name, server in result.servers.items()
        )
        self.log(f"[{size}] one-week query hrefs: {counts}; data set {len(files.data.week.hrefs)}")
        return result

    def _stock(self, size: int, files: DataFiles, folder: Path) -> ServerResult:
        result = ServerResult()
        self.log(f"[{size}] stock Radicale")
        result.measurements["import"] = self._stock_import(size, files, folder / "import")
        seconds = stock.load_calendar(folder / "main", USER, CALENDAR, files.events)
        result.info.append(
            f"calendar loaded by writing {size} .ics files + .Radicale.props into "
            f"collection-root/{USER}/{CALENDAR}/ directly ({seconds:.1f} s), not over HTTP"
        )
        config = stock.write_config(folder / "main", USER, PASSWORD)
        server = stock.server(config, self._log_file(size, "stock"))
        # Only calserver gets the twin calendar (the 1.5x target is calserver's).
        self._serve(STOCK, server, replace(files.data, twin=None), result, size)
        shutil.rmtree(folder, ignore_errors=True)
        return result

    def _stock_import(self, size: int, files: DataFiles, folder: Path) -> Measurement:
        """Radicale's import path: PUT of the whole calendar to a new collection URL."""
        body = files.ics.read_bytes()
        if len(body) > stock.MAX_CONTENT_LENGTH:
            return Measurement(
                skipped=f"{len(body) / 1e6:.0f} MB is over Radicale's max_content_length (100 MB)"
            )
        config = stock.write_config(folder, USER, PASSWORD)
        server = stock.server(config, self._log_file(size, "stock-import"))
        try:
            server.start(timeout=120)
        except ServerError as exc:
            server.stop()
            return Measurement(error=str(exc))
        client = DavClient(server.url, USER, PASSWORD, self.settings.request_timeout)

        def once(index: int) -> float:
            path = f"/{USER}/import-{index}/"
            response = client.request(
                "PUT", path, body, {"Content-Type": "text/calendar; charset=utf-8"}
            )
            if response.status not in (201, 204):
                raise CheckFailed(
                    f"PUT {path} (whole calendar) → {response.status}: {response.excerpt()}"
                )
            return response.seconds

        try:
            measurement = repeat(
                once, self._import_budget(size), self._estimate(STOCK, size)("import")
            )
        finally:
            client.close()
            server.stop()
            shutil.rmtree(folder, ignore_errors=True)
        measurement.note = "HTTP PUT of the whole calendar to a new collection"
        self._log_import(STOCK, measurement, size)
        return measurement

    def _import_budget(self, size: int) -> Budget:
        budget = self.settings.budget
        runs = self.settings.import_runs if size <= 10_000 else 1
        return Budget(runs, budget.seconds, budget.max_single)

    def _log_import(self, name: str, measurement: Measurement, size: int) -> None:
        median = measurement.median
        if median is None:
            self.log(f"    {name}: import: {measurement.skipped or measurement.error}")
        else:
            self.log(
                f"    {name}: import: median {median:.1f} s over "
                f"{len(measurement.samples)} runs ({size / median:.0f} events/s)"
            )

    def _calserver(self, size: int, files: DataFiles, folder: Path) -> ServerResult:
        result = ServerResult()
        self.log(f"[{size}] calserver")
        command = self.settings.calserver
        if command is None:
            result.problems.append("calserver command not found")
            return result
        import_timeout = max(300.0, size / 50)
        try:
            main = CalserverCli(command, folder / "main", self._database(result))
        except CheckFailed as exc:
            result.problems.append(f"setup: {exc}")
            return result
        target = f"{USER}/{CALENDAR}"
        try:
            main.add_user(USER, PASSWORD)
            main.create_calendar(target)
            main.import_file(files.ics, target, import_timeout)
            first_cost = main.last
            if files.twin_ics is not None:
                main.create_calendar(f"{USER}/{TWIN_CALENDAR}")
                main.import_file(files.twin_ics, f"{USER}/{TWIN_CALENDAR}", import_timeout)
                result.info.append(
                    f"a second calendar {USER}/{TWIN_CALENDAR} holds the same week in "
                    f"{len(files.twin_events or [])} events (for the 1.5x target)"
                )
        except CheckFailed as exc:
            result.problems.append(f"setup/import: {exc}")
            self.log(f"    calserver: setup/import failed: {exc}")
            return result
        result.measurements["import"] = self._calserver_imports(
            size, files, folder, first_cost, import_timeout, result
        )
        self._bare_fetch(main, result, files)
        self._serve(
            CALSERVER, main.server(self._log_file(size, "calserver")), files.data, result, size
        )
        shutil.rmtree(folder, ignore_errors=True)
        self._drop_databases()
        return result

    def _database(self, result: ServerResult) -> str | None:
        """A fresh PostgreSQL database for one calserver run (``--postgresql``), else
        None (SQLite in the run's data folder)."""
        if self.settings.postgresql is None:
            return None
        url, name = pg_database(self.settings.postgresql)
        if url is None:
            raise CheckFailed(name)
        self._databases.append(name)
        if not any("PostgreSQL" in line for line in result.info):
            result.info.append(f"calserver on PostgreSQL ({self.settings.postgresql})")
        return url

    def _drop_databases(self) -> None:
        if self.settings.postgresql is None:
            return
        for name in self._databases:
            drop_database(self.settings.postgresql, name)
        self._databases.clear()

    def _bare_fetch(self, cli: CalserverCli, result: ServerResult, files: DataFiles) -> None:
        """The floor under the week query: its rows by the indexed SELECT alone."""
        try:
            measurement, found = barefetch.measure(
                cli.database_url,
                f"{USER}/{CALENDAR}",
                BENCH_WEEK_START,
                BENCH_WEEK_END,
                self.settings.budget,
            )
        except Exception as exc:  # any driver error: reported, the run goes on
            result.measurements["bare_fetch"] = Measurement(error=f"{type(exc).__name__}: {exc}")
            return
        result.measurements["bare_fetch"] = measurement
        result.counts["bare_fetch"] = found
        median = measurement.median
        self.log(
            f"    calserver: bare fetch: {found} rows"
            + (f", median {median * 1000:.1f} ms" if median is not None else "")
        )

    def _calserver_imports(
        self,
        size: int,
        files: DataFiles,
        folder: Path,
        first: RunCost,
        timeout: float,
        result: ServerResult,
    ) -> Measurement:
        """The main import was run 1; more runs import into fresh data folders. Each
        run's CPU seconds (its worker processes included) and the peak RSS of its
        largest process are kept beside its wall time."""
        command = self.settings.calserver
        assert command is not None
        costs: list[RunCost] = []

        def once(index: int) -> float:
            if index == 0:
                costs.append(first)
                return first.seconds
            scratch = CalserverCli(command, folder / f"import-{index}", self._database(result))
            try:
                scratch.add_user(USER, PASSWORD)
                scratch.create_calendar(f"{USER}/{CALENDAR}")
                seconds = scratch.import_file(files.ics, f"{USER}/{CALENDAR}", timeout)
                costs.append(scratch.last)
                return seconds
            finally:
                shutil.rmtree(scratch.folder, ignore_errors=True)

        measurement = repeat(once, self._import_budget(size))
        measurement.cpu_samples = [cost.cpu for cost in costs]
        measurement.peak_kib = max((cost.peak_kib for cost in costs), default=None)
        cpu = measurement.cpu_median
        measurement.note = "`calserver import` wall time, CLI start-up included" + (
            f"; {size / cpu:,.0f} events per CPU-second, peak RSS "
            f"{(measurement.peak_kib or 0) / 1024:.0f} MiB (largest process)"
            if cpu
            else ""
        )
        self._log_import(CALSERVER, measurement, size)
        return measurement
