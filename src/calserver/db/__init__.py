"""Database access: one SQLAlchemy engine per URL and process, schema versioning."""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from calserver.db import models

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


class SchemaError(Exception):
    """The database schema is missing or older than this calserver."""


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


def advisory_lock(conn: Connection, name: str) -> None:
    """Serialise writers of ``name`` for this transaction (PostgreSQL only; SQLite has a
    single writer anyway)."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(name.encode("utf-8"))
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


# --- schema versions -----------------------------------------------------------------

Migration = Callable[[Connection], None]


def _v1(conn: Connection) -> None:
    """The first schema (a fresh database gets every current table here, so each later
    migration must also be a no-op where its change is already there)."""
    models.metadata.create_all(conn)


def _v2(conn: Connection) -> None:
    """The shared cache of verified logins."""
    models.login_cache.create(conn, checkfirst=True)


def _v3(conn: Connection) -> None:
    """Sharing: groups, grants, the viewer's own calendar settings, and each item's
    CLASS (computed from the stored text for the items already there)."""
    from calserver.sharing.redact import item_class

    for table in (models.groups, models.group_members, models.grants, models.calendar_views):
        table.create(conn, checkfirst=True)
    columns = {column["name"] for column in inspect(conn).get_columns("items")}
    if "klass" in columns:
        return
    conn.execute(text("ALTER TABLE items ADD COLUMN klass VARCHAR(16) NOT NULL DEFAULT 'PUBLIC'"))
    rows = conn.execute(
        select(models.items.c.id, models.items.c.text).where(models.items.c.text.ilike("%CLASS%"))
    ).all()
    updates = [
        {"item_id": row.id, "value": klass}
        for row in rows
        if (klass := item_class(row.text)) != "PUBLIC"
    ]
    if updates:
        conn.execute(
            models.items.update()
            .where(models.items.c.id == bindparam("item_id"))
            .values(klass=bindparam("value")),
            updates,
        )


def _v4(conn: Connection) -> None:
    """Feeds and settings: the user's time zone, default duration, week start and feed
    epoch; secret feed tokens (hashed) and publications."""
    for table in (models.feed_tokens, models.publications):
        table.create(conn, checkfirst=True)
    columns = {column["name"] for column in inspect(conn).get_columns("users")}
    for name, kind, default in (
        ("timezone", "VARCHAR(64)", "''"),
        ("default_duration", "INTEGER", "0"),
        ("week_start", "INTEGER", "0"),
        ("feed_epoch", "INTEGER", "0"),
    ):
        if name not in columns:
            conn.execute(
                text(f"ALTER TABLE users ADD COLUMN {name} {kind} NOT NULL DEFAULT {default}")
            )


def _v5(conn: Connection) -> None:
    """The outbox of email waiting for ``calserver worker``."""
    models.mail_outbox.create(conn, checkfirst=True)


def _v6_unique_email(conn: Connection) -> None:
    """One account per e-mail address, case-insensitive (``ix_users_email_lower``).

    Accounts that share an address already are not changed behind their owners' backs:
    the upgrade stops (nothing of it is applied) and names them, so that the
    administrator gives each its own address (``calserver user set NAME --email ...``,
    or ``--email ''``) and runs ``calserver db upgrade`` again."""
    shared = conn.execute(
        text(
            "SELECT lower(email) AS address, name FROM users WHERE email <> '' "
            "AND lower(email) IN (SELECT lower(email) FROM users WHERE email <> '' "
            "GROUP BY lower(email) HAVING count(*) > 1) ORDER BY lower(email), name"
        )
    ).all()
    if shared:
        by_address: dict[str, list[str]] = {}
        for row in shared:
            by_address.setdefault(row.address, []).append(row.name)
        listing = "; ".join(f"{address}: {', '.join(who)}" for address, who in by_address.items())
        raise SchemaError(
            "several accounts share an e-mail address, which must now be unique: "
            f"{listing}. Give each its own ('calserver user set NAME --email ADDRESS', "
            "or --email '' for none), then run 'calserver db upgrade' again"
        )
    conn.execute(
        text(
            "CREATE UNIQUE INDEX IF NOT EXISTS ix_users_email_lower "
            "ON users (lower(email)) WHERE email <> ''"
        )
    )


#: Ordered migrations; the schema version is the number of migrations applied.
MIGRATIONS: list[Migration] = [_v1, _v2, _v3, _v4, _v5, _v6_unique_email]
LATEST = len(MIGRATIONS)


def schema_version(conn: Connection) -> int:
    if not inspect(conn).has_table(models.meta.name):
        return 0
    value = conn.execute(
        select(models.meta.c.value).where(models.meta.c.key == "schema_version")
    ).scalar()
    return int(value) if value else 0


def upgrade(engine: Engine) -> tuple[int, int]:
    """Apply the missing migrations in one transaction; returns (before, after)."""
    with write_connection(engine) as conn, conn.begin():
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
    from calserver.config import database_url

    return get_engine(
        database_url(configuration),
        busy_timeout=configuration.get("storage", "sqlite_busy_timeout"),
        pool_size=configuration.get("storage", "pool_size"),
    )
