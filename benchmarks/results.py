"""What one benchmark run found: measurements, counts and problems per size and server."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.timing import Measurement

STOCK = "stock"
CALSERVER = "calserver"
SERVER_LABELS = {STOCK: "stock Radicale 3.9.0", CALSERVER: "calserver"}

OPERATIONS: dict[str, str] = {
    "import": "bulk import",
    "query_cold": "first one-week query after loading (cold)",
    "query_week": "one-week calendar-query (calendar-data)",
    "query_expand": "one-week calendar-query with expand",
    "multiget": "calendar-multiget, 50 hrefs",
    "propfind_d0": "PROPFIND Depth 0 (getctag + sync-token)",
    "propfind_d1": "PROPFIND Depth 1 (getetag of all)",
    "sync_initial": "sync-collection, initial (empty token)",
    "sync_incremental": "sync-collection, after one change",
    "put_new": "PUT of a new event",
    "delete": "DELETE of an event",
    "get_calendar": "GET of the whole calendar",
    "query_restart": "first one-week query after a restart",
    "query_week_twin": "one-week query, 1,000-event calendar holding the same week",
    "bare_fetch": "bare fetch: the week's rows by the indexed SELECT, in-process (the floor)",
    "rss_after_run": "server VmRSS after the run",
    "hwm_after_run": "server VmHWM (peak) after the run",
    "rss_window_fresh": "server VmRSS, fresh process after 10 one-week queries",
}
"""Operation key → label, in report order."""


@dataclass
class ServerResult:
    """One server at one size."""

    measurements: dict[str, Measurement] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # what each check counted
    problems: list[str] = field(default_factory=list)  # wrong answers, with request/response
    info: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "measurements": {op: m.to_json() for op, m in self.measurements.items()},
            "counts": self.counts,
            "problems": self.problems,
            "info": self.info,
        }


@dataclass
class SizeResult:
    """Both servers at one calendar size."""

    size: int
    expected: dict[str, int]  # counts the generator predicts
    servers: dict[str, ServerResult] = field(default_factory=dict)
    info: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "size": self.size,
            "expected": self.expected,
            "servers": {name: result.to_json() for name, result in self.servers.items()},
            "info": self.info,
            "seconds": self.seconds,
        }
