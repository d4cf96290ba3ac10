"""The one place the reminders worker reads "now" from (issue 16: tests move the clock).

:func:`now` is POSIX seconds. A test (or a tool replaying a day) sets another source
with :func:`set_source` and restores the system clock with ``set_source(None)``; every
function of :mod:`calserver.reminders` that needs the time also takes an explicit
``now`` and falls back to this one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_source: Callable[[], float] | None = None


def now() -> float:
    """The current time, POSIX seconds."""
    return _source() if _source is not None else time.time()


def set_source(source: Callable[[], float] | None) -> None:
    """Take the time from ``source`` from now on (None: the system clock)."""
    global _source
    _source = source
