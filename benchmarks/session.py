"""Measuring every operation against one running server, and checking what it answers."""

from __future__ import annotations

import math
import posixpath
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from benchmarks import davxml
from benchmarks.dataset import BENCH_WEEK_END, BENCH_WEEK_START, DECADE_START, DatasetGenerator
from benchmarks.davclient import DavClient
from benchmarks.model import Event
from benchmarks.occurrences import WindowContent
from benchmarks.render import render_vevents
from benchmarks.results import ServerResult
from benchmarks.scenario import Scenario
from benchmarks.servers import ServerProcess, process_tree, reset_peak, tree_cpu
from benchmarks.timing import Budget, CheckFailed, Measurement, repeat

USER = "bench"
PASSWORD = "bench-password"
CALENDAR = "cal"
TWIN_CALENDAR = "twin"
#: How long after an operation its "settled" VmRSS is read.
SETTLE_SECONDS = 0.5
MULTIGET_SIZE = 50
WINDOW_QUERIES_FOR_MEMORY = 10


@dataclass(frozen=True)
class CalendarUnderTest:
    """The data a server holds, and what queries over the benchmark week must return."""

    events: Sequence[Event]
    week: WindowContent
    twin: WindowContent | None = None  # the 1,000-event twin calendar, when loaded


@dataclass
class SessionSettings:
    budget: Budget
    restarts: int
    request_timeout: float
    start_timeout: float
    seed: int
    estimate: Callable[[str], float | None]  # op → expected seconds of one run
    log: Callable[[str], None]
    week: tuple[datetime, datetime] = field(default=(BENCH_WEEK_START, BENCH_WEEK_END))


def _names(hrefs: Sequence[str]) -> list[str]:
    return [posixpath.basename(href) for href in hrefs]


class ServerSession:
    """Runs the operations of the benchmark, in order, against one server process."""

    def __init__(
        self,
        name: str,
        server: ServerProcess,
        data: CalendarUnderTest,
        settings: SessionSettings,
        result: ServerResult,
    ) -> None:
        self.name = name
        self.server = server
        self.data = data
        self.settings = settings
        self.result = result
        self.calendar = f"/{USER}/{CALENDAR}/"
        self.scenario = self._connect()
        self._by_name = {event.href: event for event in data.events}
        self._created: list[str] = []

    def _connect(self) -> Scenario:
        client = DavClient(self.server.url, USER, PASSWORD, self.settings.request_timeout)
        return Scenario(client, self.calendar)

    def measure_all(self) -> None:
        """Every operation, in an order that leaves the calendar as it found it."""
        self.query_cold()
        self.query_week()
        self.query_twin()
        self.query_expand()
        self.multiget()
        self.propfind()
        self.sync_initial()
        self.sync_incremental()
        self.put_new()
        self.delete()
        self.get_calendar()
        self.memory("rss_after_run", "hwm_after_run")
        self.restarts()
        self.scenario.client.close()

    # -- bookkeeping -------------------------------------------------------------------

    def _measure(
        self, op: str, run_once: Callable[[int], float], budget: Budget | None = None
    ) -> Measurement:
        budget = budget or self.settings.budget
        pids = process_tree(self.server.pid) if self.server.alive() else []
        client = self.scenario.client
        cpu: list[float] = []

        def probe() -> float:
            if pids and pids[0] != self.server.pid:  # restarted: a new process tree
                pids[:] = process_tree(self.server.pid)
            return tree_cpu(pids)

        if pids:
            reset_peak(pids)
            client.probe = probe

        def once(index: int) -> float:
            self.scenario.client.last_cpu = None
            seconds = run_once(index)
            last = self.scenario.client.last_cpu  # a restart makes a new client
            if last is not None:
                cpu.append(last)  # the timed request: the run's last
            return seconds

        try:
            measurement = repeat(once, budget, self.settings.estimate(op))
        finally:
            self.scenario.client.probe = None
        measurement.cpu_samples = cpu
        self.result.measurements[op] = measurement
        if self.server.alive():
            now = self.server.memory()
            measurement.rss_after_kib = now.rss_kib
            measurement.peak_kib = now.hwm_kib
            time.sleep(SETTLE_SECONDS)
            measurement.settled_kib = self.server.memory().rss_kib
        median = measurement.median
        state = (
            f"median {median * 1000:.1f} ms over {len(measurement.samples)} runs"
            if median is not None
            else f"not measured: {measurement.skipped or measurement.error}"
        )
        rss = measurement.rss_after_kib
        memory = f"; VmRSS now {rss / 1024:.0f} MiB" if rss is not None else ""
        if measurement.peak_kib is not None:
            memory += f", peak {measurement.peak_kib / 1024:.0f} MiB"
        if measurement.cpu_median is not None:
            memory += f"; server CPU {measurement.cpu_median * 1000:.1f} ms/request"
        self.settings.log(f"    {self.name}: {op}: {state}{memory}")
        if measurement.error:
            self.result.problems.append(f"{op}: {measurement.error}")
        return measurement

    def _problem(self, text: str) -> None:
        if text not in self.result.problems:
            self.result.problems.append(text)
            self.settings.log(f"    {self.name}: PROBLEM {text}")

    def _describe(self, href: str) -> str:
        event = self._by_name.get(href)
        if event is None:
            return href
        lines = [
            line
            for line in render_vevents(event).splitlines()
            if line.startswith(("DTSTART", "DTEND", "RRULE", "EXDATE", "RECURRENCE-ID"))
        ]
        return f"{href} [{'; '.join(lines)}]"

    def _compare_hrefs(
        self, op: str, got: Sequence[str], expected: frozenset[str], request: str
    ) -> None:
        names = _names(got)
        self.result.counts[op] = len(names)
        if set(names) == expected and len(names) == len(expected):
            return
        missing = sorted(expected - set(names))[:5]
        extra = sorted(set(names) - expected)[:5]
        self._problem(
            f"{op}: REPORT {self.calendar} returned {len(names)} hrefs, the data set has "
            f"{len(expected)} in the window; missing (first 5): "
            f"{[self._describe(h) for h in missing]}; unexpected (first 5): "
            f"{[self._describe(h) for h in extra]}; request body: {request}"
        )

    # -- operations ----------------------------------------------------------------------

    def _week_once(self, op: str) -> Callable[[int], float]:
        start, end = self.settings.week

        def once(_: int) -> float:
            timed, hrefs = self.scenario.week_query(start, end)
            self._compare_hrefs(op, hrefs, self.data.week.hrefs, davxml.calendar_query(start, end))
            return timed.seconds

        return once

    def query_cold(self) -> None:
        """Never skipped: on stock Radicale this request builds the cache every later one uses."""
        one = Budget(1, 0, math.inf)
        self._measure("query_cold", self._week_once("query_cold"), one)

    def query_week(self) -> None:
        self._measure("query_week", self._week_once("query_week"))

    def query_twin(self) -> None:
        if self.data.twin is None:
            return
        start, end = self.settings.week
        twin = Scenario(self.scenario.client, f"/{USER}/{TWIN_CALENDAR}/")
        expected = self.data.twin.hrefs

        def once(_: int) -> float:
            timed, hrefs = twin.week_query(start, end)
            if set(_names(hrefs)) != expected:
                self._problem(
                    f"query_week_twin: {twin.calendar} returned {len(hrefs)} hrefs, "
                    f"expected {len(expected)}"
                )
            self.result.counts["query_week_twin"] = len(hrefs)
            return timed.seconds

        self._measure("query_week_twin", once)

    def query_expand(self) -> None:
        start, end = self.settings.week

        def once(_: int) -> float:
            timed, hrefs, instances = self.scenario.expand_query(start, end)
            self._compare_hrefs(
                "query_expand",
                hrefs,
                self.data.week.hrefs,
                davxml.calendar_query(start, end, expand=True),
            )
            self.result.counts["query_expand_instances"] = instances
            if instances != self.data.week.instances:
                self._problem(
                    f"query_expand: {instances} expanded VEVENTs, the data set has "
                    f"{self.data.week.instances} instances in the window"
                )
            return timed.seconds

        self._measure("query_expand", once)

    def multiget(self) -> None:
        events = self.data.events
        step = max(1, len(events) // MULTIGET_SIZE)
        hrefs = [self.calendar + event.href for event in events[::step][:MULTIGET_SIZE]]

        def once(_: int) -> float:
            timed = self.scenario.multiget(hrefs)
            self.result.counts["multiget"] = timed.count
            return timed.seconds

        self._measure("multiget", once)

    def propfind(self) -> None:
        def depth0(_: int) -> float:
            return self.scenario.propfind("0")[0].seconds

        def depth1(_: int) -> float:
            timed, _status = self.scenario.propfind("1")
            self.result.counts["propfind_d1"] = timed.count
            if timed.count != len(self.data.events):
                self._problem(
                    f"propfind_d1: PROPFIND Depth 1 {self.calendar} listed {timed.count} "
                    f"items, the calendar has {len(self.data.events)}"
                )
            return timed.seconds

        self._measure("propfind_d0", depth0)
        self._measure("propfind_d1", depth1)

    def sync_initial(self) -> None:
        def once(_: int) -> float:
            timed, _status = self.scenario.sync("")
            self.result.counts["sync_initial"] = timed.count
            if timed.count != len(self.data.events):
                self._problem(
                    f"sync_initial: sync-collection with an empty token returned "
                    f"{timed.count} hrefs, the calendar has {len(self.data.events)}"
                )
            return timed.seconds

        self._measure("sync_initial", once)

    def sync_incremental(self) -> None:
        singles = [
            event
            for event in self.data.events
            if event.rule is None and event.href not in self.data.week.hrefs
        ]
        state = {"token": ""}

        def once(index: int) -> float:
            if index == 0:
                status = self.scenario.propfind("0")[1]
                state["token"] = status.responses[0].props[davxml.clark(davxml.DAV, "sync-token")]
            changed = singles[index % len(singles)]
            self.scenario.put(changed, sequence=index + 1, create=False)
            timed, status = self.scenario.sync(state["token"])
            names = _names(status.hrefs(".ics"))
            self.result.counts["sync_incremental"] = len(names)
            if names != [changed.href]:
                self._problem(
                    f"sync_incremental: after changing {changed.href}, sync-collection "
                    f"returned {names[:5]} ({len(names)} hrefs)"
                )
            state["token"] = status.sync_token or ""
            return timed.seconds

        self._measure("sync_incremental", once)

    def put_new(self) -> None:
        generator = DatasetGenerator(self.settings.seed + 1)

        def once(index: int) -> float:
            event = generator.event(recurring=False, day=DECADE_START + timedelta(days=index))
            timed = self.scenario.put(event)
            self._created.append(self.scenario.href(event))
            return timed.seconds

        self._measure("put_new", once)

    def delete(self) -> None:
        created, self._created = self._created, []
        if not created:
            self.result.measurements["delete"] = Measurement(skipped="no event was created")
            return

        def once(index: int) -> float:
            return self.scenario.delete(created[index]).seconds

        budget = self.settings.budget
        self._measure("delete", once, Budget(len(created), budget.seconds, budget.max_single))

    def get_calendar(self) -> None:
        def once(_: int) -> float:
            timed = self.scenario.get_calendar()
            self.result.counts["get_calendar_uids"] = timed.count
            if timed.count != len(self.data.events):
                self._problem(
                    f"get_calendar: GET {self.calendar} served {timed.count} UIDs, "
                    f"the calendar has {len(self.data.events)}"
                )
            return timed.seconds

        self._measure("get_calendar", once)

    def memory(self, rss_op: str, hwm_op: str | None = None) -> None:
        try:
            memory = self.server.memory()
        except (OSError, RuntimeError) as exc:
            self.result.measurements[rss_op] = Measurement(error=str(exc), unit="KiB")
            return
        note = f"{memory.processes} process(es)"
        self.result.measurements[rss_op] = Measurement([memory.rss_kib], note=note, unit="KiB")
        if hwm_op:
            self.result.measurements[hwm_op] = Measurement([memory.hwm_kib], note=note, unit="KiB")
        self.settings.log(
            f"    {self.name}: {rss_op}: VmRSS {memory.rss_kib / 1024:.0f} MiB, "
            f"VmHWM {memory.hwm_kib / 1024:.0f} MiB"
        )

    def restarts(self) -> None:
        """Restart the process, time its first one-week query; then memory after 10 queries."""
        week = self._week_once("query_restart")

        def once(index: int) -> float:
            probe = self.scenario.client.probe
            self.scenario.client.close()
            self.server.restart(self.settings.start_timeout)
            self.scenario = self._connect()
            self.scenario.client.probe = probe
            return week(index)

        budget = self.settings.budget
        measured = self._measure(
            "query_restart", once, Budget(self.settings.restarts, budget.seconds, budget.max_single)
        )
        if not measured.samples or not self.server.alive():
            return
        try:
            for index in range(WINDOW_QUERIES_FOR_MEMORY - 1):
                week(index)
        except (CheckFailed, OSError) as exc:
            self._problem(f"rss_window_fresh: {exc}")
            return
        self.memory("rss_window_fresh")
