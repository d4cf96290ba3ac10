"""The request scope: one database transaction per ``acquire_lock``.

Radicale wraps the storage work of every request in ``acquire_lock(mode, user)``; the
connection and transaction opened there live in the request context
(``calserver.context``), so every storage call of the request shares one snapshot
(readers) or one atomic write (writers). Parts of
PROPFIND run after the lock is released: they get a short read transaction of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from calserver import context
from calserver.db import read_transaction, write_transaction


@dataclass
class RequestScope:
    conn: Connection
    mode: str
    user: str
    #: The resource a write request names (PUT, DELETE, MOVE's source), sanitised.
    path: str = ""


#: The request's transaction scope (a field of the one request context).
current_scope = context.scope


#: The collections a request opened, by (path, viewer): a PUT's checks, Radicale's
#: handler and the answer's Schedule-Tag each open the same calendar (issue 15: one
#: collection read per request). None outside :func:`remembering_collections`;
#: forgotten whenever a write begins or ends, so a write and what follows it read the
#: collection afresh.
_opened: ContextVar[dict[Any, Any] | None] = ContextVar("calserver_opened", default=None)


@contextmanager
def remembering_collections() -> Iterator[None]:
    """Remember the collections opened in this block (a DAV request's)."""
    token = _opened.set({})
    try:
        yield
    finally:
        _opened.reset(token)


def opened() -> dict[Any, Any] | None:
    """The collections opened so far (see :data:`_opened`), or None."""
    return _opened.get()


def forget_collections() -> None:
    remembered = _opened.get()
    if remembered:
        remembered.clear()


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """The request's connection, or a short read transaction outside a request."""
    scope = current_scope.get()
    if scope is not None:
        yield scope.conn
        return
    with read_transaction(engine) as conn:
        yield conn


@contextmanager
def write_scope(engine: Engine) -> Iterator[Connection]:
    """The request's write transaction (a savepoint inside it, so that one failed
    operation leaves nothing behind even when Radicale's handler catches the error),
    or a transaction of its own outside a request (CLI, tests)."""
    scope = current_scope.get()
    forget_collections()
    try:
        if scope is not None:
            if scope.mode != "w":
                raise RuntimeError("storage write outside a write lock")
            with scope.conn.begin_nested():
                yield scope.conn
            return
        with write_transaction(engine) as conn:
            yield conn
    finally:
        forget_collections()
