"""The request scope: one database transaction per ``acquire_lock``.

Radicale wraps the storage work of every request in ``acquire_lock(mode, user)``; the
connection and transaction opened there live in a ContextVar, so every storage call
of the request shares one snapshot (readers) or one atomic write (writers). Parts of
PROPFIND run after the lock is released: they get a short read transaction of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from calserver.db import write_connection


@dataclass
class RequestScope:
    conn: Connection
    mode: str
    user: str
    #: The resource a write request names (PUT, DELETE, MOVE's source), sanitised.
    path: str = ""


current_scope: ContextVar[RequestScope | None] = ContextVar("calserver_scope", default=None)

#: The time-range of a calendar-query with ``expand`` (Radicale drops it from the
#: filters it hands to the storage); set by the WSGI front for the current request.
expand_window: ContextVar[tuple[int, int] | None] = ContextVar(
    "calserver_expand_window", default=None
)


#: The body of the current single-resource PUT, so the storage can keep the client's
#: text instead of vobject's re-serialisation (which drops X- property values after
#: a comma) wherever Radicale's sanitising changed nothing.
put_body: ContextVar[str | None] = ContextVar("calserver_put_body", default=None)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """The request's connection, or a short read transaction outside a request."""
    scope = current_scope.get()
    if scope is not None:
        yield scope.conn
        return
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def write_scope(engine: Engine) -> Iterator[Connection]:
    """The request's write transaction (a savepoint inside it, so that one failed
    operation leaves nothing behind even when Radicale's handler catches the error),
    or a transaction of its own outside a request (CLI, tests)."""
    scope = current_scope.get()
    if scope is not None:
        if scope.mode != "w":
            raise RuntimeError("storage write outside a write lock")
        with scope.conn.begin_nested():
            yield scope.conn
        return
    with write_connection(engine) as conn, conn.begin():
        yield conn


#: Answers memoised for the current request (rights and views: PROPFIND Depth 1 asks
#: the rights plugin once per item); None outside a request: nothing is memoised.
request_memo: ContextVar[dict[object, object] | None] = ContextVar(
    "calserver_request_memo", default=None
)

#: The HTTP method of the current request (the rights plugin lets a viewer PROPPATCH
#: their own alias of a calendar they may only read: the properties are theirs).
request_method: ContextVar[str] = ContextVar("calserver_request_method", default="")
