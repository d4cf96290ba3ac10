"""The database out of reach or out of space: 503 Service Unavailable with
``Retry-After`` (RFC 9110 15.6.4 and 10.2.3), never a 500.

An outage is a condition of the server, not of the request: the database does not
answer (refused, cut or timed-out connection, no connection left in the pool), or it
cannot write (SQLite's "database or disk is full", "disk I/O error", "unable to open
database file", "database is locked" after the busy timeout; PostgreSQL's connection
errors, transaction conflicts and exhausted resources, PEP 249 ``OperationalError``,
and a database that is read-only, SQLSTATE 25006). The same request may
succeed later, so the client is told when to try again, and nothing of it was kept:
every write runs in one transaction (``Storage.acquire_lock``), which is rolled back.

How it reaches the answer: Radicale's request handling catches every exception and
answers a bare 500 (``radicale/app/__init__.py``, ``_handle_request`` and
``__call__``), so a storage error never reaches calserver's front. Instead every
engine reports its DBAPI errors here (SQLAlchemy's ``handle_error`` event,
:func:`install`), :func:`notice` remembers an outage for the current request (a
context variable that the front opens per request, :func:`watch`), and the front
turns that request's 500 into this module's 503 (:func:`answer`). Exceptions that
reach the front themselves (the management API, the feeds) are classified by
:func:`is_outage`.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext

#: Seconds a client is asked to wait before it tries again (``Retry-After``).
RETRY_AFTER = 10

STATUS = "503 Service Unavailable"

#: SQLite messages that mean "no space" (SQLITE_FULL; a quota is EDQUOT underneath).
_FULL = ("database or disk is full", "disk quota exceeded")

#: The first outage met by the current request; None outside a request or before one.
_seen: ContextVar[list[BaseException] | None] = ContextVar("calserver_outage", default=None)

_OUTAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})

#: PostgreSQL conditions the driver does not class as OperationalError: a database that
#: takes no writes (a standby after a failover, default_transaction_read_only).
_OUTAGE_SQLSTATES = frozenset({"25006"})


def _sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL error (psycopg 3 ``sqlstate``, psycopg2 ``pgcode``)."""
    original = getattr(error, "orig", error)
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return state if isinstance(state, str) else None


def is_outage(error: BaseException | None) -> bool:
    """Whether ``error`` (or what it was raised from) is the database being out of
    reach or out of space, rather than a fault of the request or of calserver."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(
            error,
            (
                sa_exc.OperationalError,  # PEP 249: connection, disk, lock, conflict
                sa_exc.InterfaceError,  # the driver's connection is gone
                sa_exc.TimeoutError,  # every pooled connection is busy
                sa_exc.DisconnectionError,
                sqlite3.OperationalError,
            ),
        ):
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if _sqlstate(error) in _OUTAGE_SQLSTATES:
            return True
        if isinstance(error, OSError) and error.errno in _OUTAGE_ERRNOS:
            return True
        error = error.__cause__ or error.__context__
    return False


def describe(error: BaseException) -> str:
    """The outage in words for the client: out of space, or out of reach."""
    text = str(error).lower()
    if any(phrase in text for phrase in _FULL) or (
        isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    ):
        problem = "the calendar database is out of space"
    else:
        problem = "the calendar database cannot be reached or cannot write"
    return (
        f"service unavailable: {problem}; nothing was changed, try again in {RETRY_AFTER} seconds"
    )


def headers() -> list[tuple[str, str]]:
    return [("Retry-After", str(RETRY_AFTER))]


@contextmanager
def watch() -> Iterator[None]:
    """The scope of one request: outages noticed inside it are this request's."""
    token = _seen.set([])
    try:
        yield
    finally:
        _seen.reset(token)


def noticed() -> BaseException | None:
    """The outage the current request met, if any."""
    seen = _seen.get()
    return seen[0] if seen else None


def notice(error: BaseException) -> None:
    """Remember ``error`` for the current request when it is an outage."""
    seen = _seen.get()
    if seen is not None and not seen and is_outage(error):
        seen.append(error)


def _on_database_error(context: ExceptionContext) -> None:
    if context.is_pre_ping:  # the pool checks and replaces a stale connection itself
        return
    notice(context.sqlalchemy_exception or context.original_exception)


def install() -> None:
    """Listen to the DBAPI errors of every engine (once per process)."""
    if not event.contains(Engine, "handle_error", _on_database_error):
        event.listen(Engine, "handle_error", _on_database_error)
