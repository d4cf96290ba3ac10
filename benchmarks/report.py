"""The Markdown report (per size: operation | stock | calserver | ratio | target) and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.results import CALSERVER, OPERATIONS, STOCK, SizeResult
from benchmarks.timing import Measurement

RESTART_TOLERANCE = 1.5  # "first request after a restart as fast as the tenth"
TWIN_TOLERANCE = 1.5  # "no more than 1.5x faster" on a 1,000-event calendar
MEMORY_TOLERANCE = 1.25  # fresh-process RSS after window reads, largest vs smallest size

Check = Callable[[float, SizeResult], bool | None]  # calserver median → met, None = n/a


@dataclass(frozen=True)
class Target:
    text: str
    check: Check


def _at_most(limit: float, max_size: int | None = None) -> Check:
    def check(median: float, result: SizeResult) -> bool | None:
        if max_size is not None and result.size > max_size:
            return None
        return median <= limit

    return check


def _import_rate(median: float, result: SizeResult) -> bool | None:
    return result.size / median >= 2000


def _calserver_median(result: SizeResult, op: str) -> float | None:
    server = result.servers.get(CALSERVER)
    return server.measurements[op].median if server and op in server.measurements else None


def _restart(median: float, result: SizeResult) -> bool | None:
    warm = _calserver_median(result, "query_week")
    return None if warm is None else median <= RESTART_TOLERANCE * warm


def _twin(median: float, result: SizeResult) -> bool | None:
    full = _calserver_median(result, "query_week")
    return None if full is None else full <= TWIN_TOLERANCE * median


TARGETS: dict[str, Target] = {
    "import": Target("≥ 2,000 events/s", _import_rate),
    "query_week": Target("≤ 50 ms", _at_most(0.050)),
    "query_expand": Target("≤ 100 ms", _at_most(0.100)),
    "propfind_d0": Target("≤ 10 ms", _at_most(0.010)),
    "propfind_d1": Target("≤ 150 ms (at ≤ 10k)", _at_most(0.150, 10_000)),
    "sync_incremental": Target("≤ 30 ms", _at_most(0.030)),
    "put_new": Target("≤ 30 ms", _at_most(0.030)),
    "get_calendar": Target("≤ 1 s (at ≤ 10k)", _at_most(1.0, 10_000)),
    "query_restart": Target(f"≤ {RESTART_TOLERANCE}x warm query", _restart),
    "query_week_twin": Target(f"full-size query ≤ {TWIN_TOLERANCE}x this", _twin),
}


def format_value(value: float, unit: str) -> str:
    if unit == "KiB":
        return f"{value / 1024:.0f} MiB"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


class _Footnotes:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def mark(self, text: str) -> str:
        if text not in self.notes:
            self.notes.append(text)
        return f"[{self.notes.index(text) + 1}]"


def _cell(measurement: Measurement | None, op: str, size: int, notes: _Footnotes) -> str:
    if measurement is None:
        return "—"
    median = measurement.median
    if median is None:
        reason = measurement.skipped or measurement.error or "not measured"
        return ("skipped " if measurement.skipped else "error ") + notes.mark(reason)
    text = format_value(median, measurement.unit)
    if op == "import":
        text += f" ({size / median:,.0f} ev/s)"
    if measurement.unit == "s":
        text += f" (n={len(measurement.samples)})"
    if measurement.error:
        text += " " + notes.mark(measurement.error)
    return text


def _ratio(stock: Measurement | None, mine: Measurement | None) -> str:
    if stock is None or mine is None or stock.median is None or not mine.median:
        return "—"
    return f"{stock.median / mine.median:,.1f}x"


def size_table(result: SizeResult) -> list[str]:
    notes = _Footnotes()
    lines = [
        f"### {result.size:,} events",
        "",
        "| operation | stock Radicale median | calserver median | ratio stock/calserver "
        "| calserver target | met |",
        "|---|---|---|---|---|---|",
    ]
    stock_m = result.servers[STOCK].measurements if STOCK in result.servers else {}
    mine_m = result.servers[CALSERVER].measurements if CALSERVER in result.servers else {}
    for op, label in OPERATIONS.items():
        stock, mine = stock_m.get(op), mine_m.get(op)
        if stock is None and mine is None:
            continue
        target = TARGETS.get(op)
        met = ""
        if target and mine is not None and mine.median is not None:
            verdict = target.check(mine.median, result)
            met = "" if verdict is None else ("✓" if verdict else "✗")
        lines.append(
            f"| {label} | {_cell(stock, op, result.size, notes)} "
            f"| {_cell(mine, op, result.size, notes)} | {_ratio(stock, mine)} "
            f"| {target.text if target else ''} | {met} |"
        )
    lines.append("")
    lines += [f"[{index}] {text}" for index, text in enumerate(notes.notes, 1)]
    if notes.notes:
        lines.append("")
    return lines


_CHECKS = (
    ("one-week query: hrefs", "week_hrefs", "query_week"),
    ("first query after restart: hrefs", "week_hrefs", "query_restart"),
    ("expand query: hrefs", "week_hrefs", "query_expand"),
    ("expand query: VEVENT instances", "week_instances", "query_expand_instances"),
    ("calendar-multiget: items with data", "multiget", "multiget"),
    ("PROPFIND Depth 1: items", "events", "propfind_d1"),
    ("sync-collection initial: hrefs", "events", "sync_initial"),
    ("sync-collection after one change: hrefs", "one", "sync_incremental"),
    ("GET whole calendar: distinct UIDs", "events", "get_calendar_uids"),
)


def checks_table(result: SizeResult) -> list[str]:
    expected = dict(result.expected, multiget=50, one=1)
    lines = [
        f"Answers checked at {result.size:,} events (data set = what the generator predicts):",
        "",
        "| check | data set | stock Radicale | calserver |",
        "|---|---|---|---|",
    ]
    for label, expected_key, count_key in _CHECKS:
        cells = []
        for name in (STOCK, CALSERVER):
            server = result.servers.get(name)
            value = server.counts.get(count_key) if server else None
            want = expected.get(expected_key)
            mark = "" if value is None or value == want else " ✗"
            cells.append("—" if value is None else f"{value}{mark}")
        lines.append(f"| {label} | {expected.get(expected_key)} | {cells[0]} | {cells[1]} |")
    lines.append("")
    lines += [f"- {info}" for info in result.info]
    for name in (STOCK, CALSERVER):
        server = result.servers.get(name)
        if server is None:
            continue
        for info in server.info:
            lines.append(f"- {name}: {info}")
        for problem in server.problems:
            lines.append(f"- **{name} problem**: {problem}")
    lines.append("")
    return lines


def memory_summary(results: Sequence[SizeResult]) -> list[str]:
    """Does calserver's memory, reading a window, grow with the calendar's size?"""
    points = [
        (r.size, m.median)
        for r in results
        if CALSERVER in r.servers
        and (m := r.servers[CALSERVER].measurements.get("rss_window_fresh")) is not None
        and m.median is not None
    ]
    if len(points) < 2:
        return []
    (small, small_rss), (large, large_rss) = points[0], points[-1]
    verdict = "✓" if large_rss <= MEMORY_TOLERANCE * small_rss else "✗"
    return [
        "Memory when a client reads a window (fresh calserver process, 10 one-week queries): "
        f"{format_value(small_rss, 'KiB')} at {small:,} events, "
        f"{format_value(large_rss, 'KiB')} at {large:,} events — target: does not grow with "
        f"calendar size (≤ {MEMORY_TOLERANCE}x): {verdict}",
        "",
    ]


def _cost_cells(measurement: Measurement | None) -> tuple[str, str]:
    if measurement is None:
        return "—", "—"
    cpu = measurement.cpu_median
    cpu_text = f"{cpu * 1000:.1f} ms" if cpu is not None else "—"
    if measurement.peak_kib is None:
        return cpu_text, "—"
    settled = measurement.settled_kib
    memory = (
        format_value(measurement.peak_kib, "KiB")
        + " / "
        + (format_value(settled, "KiB") if settled is not None else "—")
    )
    return cpu_text, memory


def costs_table(result: SizeResult) -> list[str]:
    """What each operation cost the server: CPU seconds of its process tree per timed
    request (median; ``/proc/PID/stat`` before and after, so other load on the machine
    does not count), and its resident memory: peak during the operation's runs (VmHWM,
    reset before them) and settled (VmRSS half a second after)."""
    servers = [name for name in (STOCK, CALSERVER) if name in result.servers]
    if not servers:
        return []
    head = " | ".join(f"{name} CPU/request | {name} peak / settled RSS" for name in servers)
    lines = [
        f"Server costs at {result.size:,} events (the server's own CPU, and its memory):",
        "",
        f"| operation | {head} |",
        "|---|" + "---|---|" * len(servers),
    ]
    for op, label in OPERATIONS.items():
        found = [result.servers[name].measurements.get(op) for name in servers]
        if all(m is None or (m.cpu_median is None and m.peak_kib is None) for m in found):
            continue
        cells = " | ".join(" | ".join(_cost_cells(m)) for m in found)
        lines.append(f"| {label} | {cells} |")
    lines.append("")
    return lines


def markdown(results: Sequence[SizeResult], header: Sequence[str]) -> str:
    lines = list(header)
    for result in results:
        lines += size_table(result)
        lines += costs_table(result)
        lines += checks_table(result)
    lines += memory_summary(results)
    return "\n".join(lines).rstrip() + "\n"


def write_json(path: Path, results: Sequence[SizeResult], meta: dict[str, object]) -> None:
    payload = {"meta": meta, "results": [result.to_json() for result in results]}
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
