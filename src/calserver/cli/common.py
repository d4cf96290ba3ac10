"""What the commands share: exit codes, the database and storage of a configuration,
and the signals that stop a long command."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from typing import Any

from radicale import config as radicale_config
from sqlalchemy import Engine

from calserver import db
from calserver.errors import CalserverError
from calserver.storage import Storage

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def engine_of(cfg: radicale_config.Configuration) -> Engine:
    """The database of ``cfg``, its schema created if the database is empty."""
    engine = db.engine_for(cfg)
    db.ensure_schema(engine)
    return engine


def storage_of(cfg: radicale_config.Configuration) -> Storage:
    engine_of(cfg)
    return Storage(cfg)


class Interrupted(CalserverError):
    """SIGTERM or SIGINT (Ctrl-C) stopped a long command; what it had written aside was
    removed on the way out."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}; nothing of this run was kept")


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`Interrupted`, so that ``finally`` blocks
    (staging collections, worker pools) run as for any error. The first signal is
    enough; further ones are ignored until the clean-up is done, so that a second
    Ctrl-C cannot cut it short (``kill -9`` still can: ``calserver check --repair`` and
    the next ``calserver serve`` remove what it leaves)."""

    def stop(signum: int, _frame: Any) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def utc_time(moment: float | None) -> str:
    """A timestamp as the queue listings print it (``2026-03-09T10:00:00Z``; "-" for none)."""
    if moment is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def next_attempt(failed: float | None, not_before: float, now: float) -> str:
    """A queued message's next attempt, as the mail and SMS queue listings say it."""
    if failed:
        return f"never (gave up {utc_time(failed)})"
    return utc_time(not_before) if not_before > now else "due now"
