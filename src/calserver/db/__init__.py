"""Database access (L2): one SQLAlchemy engine per URL and process, the connection
helpers every layer above uses (:func:`write_connection`, :func:`read_transaction`,
:func:`write_transaction`, :func:`advisory_lock`, :func:`upsert`,
:func:`insert_missing`, :func:`claim_row` for the work queues), schema versioning.

This package imports only what is below it (``calserver.config``, ``calserver.urls``
through :mod:`calserver.db.models`) and nothing of the store or the services, at module
level. Schema migrations live in :mod:`calserver.db.migrations` and never import today's
code: each carries a frozen copy of the logic it needs (see there).
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from calserver.config import database_url
from calserver.db import models
from calserver.db.migrations import LATEST, MIGRATIONS, SchemaError

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


def get_engine(url: str, *, busy_timeout: float = 30.0, pool_size: int = 10) -> Engine:
    """The process-wide engine for ``url`` (Radicale instantiates plugins twice)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_engine(url, busy_timeout, pool_size)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _create_engine(url: str, busy_timeout: float, pool_size: int) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size * 2,
        )
        _configure_sqlite(engine, busy_timeout)
        return engine
    if os.environ.get("CALSERVER_NULLPOOL"):  # forked workers in tests
        return create_engine(url, poolclass=NullPool)
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    """WAL, a busy timeout, foreign keys, and transactions we begin ourselves.

    pysqlite's own implicit transactions do not cover SELECTs, so readers would not see
    one snapshot; we take over BEGIN (the SQLAlchemy pysqlite recipe) and use
    BEGIN IMMEDIATE for writers so that two writers never deadlock on a lock upgrade.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=%d" % int(busy_timeout * 1000))
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("calserver_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def write_connection(engine: Engine) -> Connection:
    """A connection whose next transaction takes the write lock at once on SQLite."""
    return engine.connect().execution_options(calserver_write=True)


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A short read transaction of its own (one snapshot on SQLite and PostgreSQL)."""
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction of its own, committed on leaving, rolled back on an error
    (on SQLite it takes the write lock at once: :func:`write_connection`)."""
    with write_connection(engine) as conn, conn.begin():
        yield conn


def advisory_lock(conn: Connection, name: str) -> None:
    """Serialise writers of ``name`` for this transaction (PostgreSQL only; SQLite has a
    single writer anyway)."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(name.encode("utf-8"))
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def claim_row(
    engine: Engine, table: Table, due: ColumnElement[bool], order: tuple[Any, ...], until: float
) -> Any | None:
    """Lease one row of the work queue ``table`` (columns ``id`` and ``claimed_until``):
    the first row, in ``order`` (columns), that ``due`` selects and that no other worker took
    meanwhile; its ``claimed_until`` is set to ``until``. The row as it is after the
    lease, or None.

    A plain read of up to 20 candidates first, so that an idle worker never takes
    SQLite's write lock; then a compare-and-set per candidate (an UPDATE whose WHERE
    repeats ``due``), so that several workers, in several processes on PostgreSQL,
    never take the same row. ``due`` must hold no longer once the lease is set (it
    includes ``claimed_until <= now``)."""
    with engine.connect() as conn:
        candidates = (
            conn.execute(select(table.c.id).where(due).order_by(*order).limit(20)).scalars().all()
        )
    if not candidates:
        return None
    with write_transaction(engine) as conn:
        for row_id in candidates:
            taken = conn.execute(
                update(table).where((table.c.id == row_id) & due).values(claimed_until=until)
            ).rowcount
            if taken == 1:
                return conn.execute(select(table).where(table.c.id == row_id)).one()
    return None


def _insert(conn: Connection, table: Table, values: dict[str, Any]) -> Any:
    """INSERT with ON CONFLICT: SQLite and PostgreSQL spell it alike."""
    if conn.dialect.name == "postgresql":
        return postgresql_insert(table).values(**values)
    return sqlite_insert(table).values(**values)


def upsert(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> None:
    """Insert a row, or update the row that has the same ``keys`` (one statement, so two
    transactions writing the same row never collide into a unique violation: the later
    one waits for the earlier and then updates)."""
    statement = _insert(conn, table, values)
    changes = {name: statement.excluded[name] for name in values if name not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))


def insert_missing(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> bool:
    """Insert a row unless one with the same ``keys`` exists or is being inserted by
    another transaction (which this one then waits for); whether this one inserted it."""
    statement = _insert(conn, table, values).on_conflict_do_nothing(index_elements=keys)
    return bool(conn.execute(statement).rowcount)


def schema_version(conn: Connection) -> int:
    if not inspect(conn).has_table(models.meta.name):
        return 0
    value = conn.execute(
        select(models.meta.c.value).where(models.meta.c.key == "schema_version")
    ).scalar()
    return int(value) if value else 0


def upgrade(engine: Engine) -> tuple[int, int]:
    """Apply the missing migrations in one transaction; returns (before, after)."""
    with write_transaction(engine) as conn:
        advisory_lock(conn, "calserver-schema")
        before = schema_version(conn)
        if before > LATEST:
            raise SchemaError(
                f"database schema version {before} is newer than this calserver ({LATEST})"
            )
        for number in range(before, LATEST):
            MIGRATIONS[number](conn)
        if before != LATEST:
            conn.execute(models.meta.delete().where(models.meta.c.key == "schema_version"))
            conn.execute(models.meta.insert().values(key="schema_version", value=str(LATEST)))
    return before, LATEST


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse an outdated one."""
    with engine.connect() as conn:
        version = schema_version(conn)
    if version == 0:
        upgrade(engine)
    elif version < LATEST:
        raise SchemaError(
            f"database schema version {version} is older than {LATEST}: "
            "run 'calserver db upgrade' (after a backup)"
        )
    elif version > LATEST:
        raise SchemaError(f"database schema version {version} is newer than this calserver")


def engine_for(configuration: Any) -> Engine:
    """The engine of a Radicale ``Configuration`` built by ``calserver.config``."""
    return get_engine(
        database_url(configuration),
        busy_timeout=configuration.get("storage", "sqlite_busy_timeout"),
        pool_size=configuration.get("storage", "pool_size"),
    )
