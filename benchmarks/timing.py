"""Repeated measurements with a time budget, and their medians."""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class CheckFailed(RuntimeError):
    """A server answered, but not what the benchmark expected (status, count)."""


@dataclass
class Measurement:
    """The samples of one operation on one server at one size, in seconds."""

    samples: list[float] = field(default_factory=list)
    skipped: str | None = None  # why it was not measured
    error: str | None = None  # what went wrong (request, response)
    note: str = ""  # counts and other observations
    unit: str = "s"  # "s", or "KiB" for memory figures
    rss_after_kib: int | None = None  # the server's VmRSS right after the runs
    #: server CPU seconds of the timed request of each run (``/proc/PID/stat``)
    cpu_samples: list[float] = field(default_factory=list)
    peak_kib: int | None = None  # the server's VmHWM over the runs (peak RSS)
    settled_kib: int | None = None  # its VmRSS a moment after the runs

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu_samples) if self.cpu_samples else None

    def to_json(self) -> dict[str, object]:
        return {
            "cpu_samples": self.cpu_samples,
            "cpu_median": self.cpu_median,
            "peak_kib": self.peak_kib,
            "settled_kib": self.settled_kib,
            "samples": self.samples,
            "median": self.median,
            "runs": len(self.samples),
            "unit": self.unit,
            "skipped": self.skipped,
            "error": self.error,
            "note": self.note,
            "rss_after_kib": self.rss_after_kib,
        }


@dataclass(frozen=True)
class Budget:
    """How often to repeat an operation and how long to spend on it."""

    repetitions: int  # at most this many runs
    seconds: float  # stop repeating once the runs so far took this long
    max_single: float  # do not start when one run is expected to take longer


def repeat(
    run_once: Callable[[int], float],
    budget: Budget,
    expected_single: float | None = None,
) -> Measurement:
    """Call ``run_once(i)`` (which returns the seconds of the timed part) within ``budget``.

    ``expected_single`` is an estimate of one run, e.g. scaled from a smaller size; when it
    exceeds ``budget.max_single`` the operation is skipped and the estimate is reported.
    A failed check, a network error or a timeout stops the repetitions and is recorded.
    """
    measurement = Measurement()
    if expected_single is not None and expected_single > budget.max_single:
        measurement.skipped = (
            f"expected ~{expected_single:.0f} s per run, over the {budget.max_single:.0f} s cap"
        )
        return measurement
    spent_since = time.perf_counter()
    for index in range(budget.repetitions):
        try:
            measurement.samples.append(run_once(index))
        except (CheckFailed, OSError, http.client.HTTPException) as exc:
            measurement.error = f"{type(exc).__name__}: {exc}"
            break
        if time.perf_counter() - spent_since > budget.seconds:
            break
    return measurement
