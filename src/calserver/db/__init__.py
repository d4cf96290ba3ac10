"""Database access: one SQLAlchemy engine per URL and process, schema versioning."""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


def _ical_value(line: str) -> str:
    """The value of one unfolded iCalendar content line (after the first colon outside
    a quoted parameter value, RFC 5545 3.1)."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[index + 1 :].strip()
    return ""


def _v6_scheduling_provenance(conn: Connection) -> None:
    """Scheduling provenance of items (``sched_organizer``, ``sched_role``): which
    items the scheduling engine wrote for which organizer. Items already there get it
    as best it can be told from the data (the engine of this schema never wrote it):
    an event in a calendar of its ORGANIZER's home (or of a group the organizer is in)
    that has other attendees is that organizer's copy; an event in a user's home whose
    ORGANIZER is another user here, whose organizer's copy lists the user, is the
    user's copy of that meeting. Self-contained: no service code."""
    import re

    columns = {column["name"] for column in inspect(conn).get_columns("items")}
    if "sched_organizer" not in columns:
        conn.execute(text("ALTER TABLE items ADD COLUMN sched_organizer VARCHAR(255)"))
        conn.execute(text("ALTER TABLE items ADD COLUMN sched_role VARCHAR(16)"))
    if "ix_items_sched" not in {index["name"] for index in inspect(conn).get_indexes("items")}:
        for index in models.items.indexes:
            if index.name == "ix_items_sched":
                index.create(conn)
    if "sched_organizer" in columns:  # a fresh database: nothing written before
        return
    by_email = {
        row.email.strip().lower(): row.name
        for row in conn.execute(select(models.users.c.name, models.users.c.email))
        if row.email
    }
    names = set(by_email.values()) | set(
        conn.execute(select(models.users.c.name)).scalars().all()
    )
    members: dict[str, set[str]] = {}
    for row in conn.execute(
        select(models.groups.c.name, models.users.c.name.label("user"))
        .join(models.group_members, models.group_members.c.group_id == models.groups.c.id)
        .join(models.users, models.users.c.id == models.group_members.c.user_id)
    ):
        members.setdefault(row.name, set()).add(row.user)

    def user_of(address: str) -> str | None:
        if address[:7].lower() == "mailto:":
            return by_email.get(address[7:].strip().lower())
        segments = [part for part in address.split("/") if part]
        return segments[-1] if segments and segments[-1] in names else None

    rows = conn.execute(
        select(
            models.items.c.id,
            models.items.c.uid,
            models.items.c.text,
            models.collections.c.path,
            models.collections.c.parent,
        )
        .join(models.collections, models.collections.c.id == models.items.c.collection_id)
        .where(
            models.collections.c.tag == "VCALENDAR",
            models.items.c.uid != "",
            models.items.c.text.ilike("%ORGANIZER%"),
        )
    ).all()
    parsed: list[tuple[Any, str, set[str | None]]] = []
    for item in rows:
        if item.path.rpartition("/")[2] in models.MAILBOXES:
            continue
        lines = re.sub(r"\r?\n[ \t]", "", item.text).splitlines()
        organizers = {
            user_of(_ical_value(line))
            for line in lines
            if line[:10].upper() in ("ORGANIZER:", "ORGANIZER;")
        }
        organizer = organizers.pop() if len(organizers) == 1 else None
        if organizer is None:
            continue
        attendees = {
            user_of(_ical_value(line))
            for line in lines
            if line[:9].upper() in ("ATTENDEE:", "ATTENDEE;")
        }
        parsed.append((item, organizer, attendees))
    invited: dict[tuple[str, str], set[str | None]] = {}
    marks = []
    for item, organizer, attendees in parsed:
        home = item.parent
        mine = home == organizer or (
            home.startswith("@") and organizer in members.get(home[1:], set())
        )
        if mine and attendees - {organizer}:
            invited.setdefault((organizer, item.uid), set()).update(attendees)
            marks.append({"item_id": item.id, "organizer": organizer, "role": "organizer"})
    for item, organizer, _attendees in parsed:
        home = item.parent
        if home != organizer and home in invited.get((organizer, item.uid), set()):
            marks.append({"item_id": item.id, "organizer": organizer, "role": "attendee"})
    if marks:
        conn.execute(
            models.items.update()
            .where(models.items.c.id == bindparam("item_id"))
            .values(sched_organizer=bindparam("organizer"), sched_role=bindparam("role")),
            marks,
        )


def _v7_group_consent(conn: Connection) -> None:
    """Group membership by consent: a membership is ``pending`` (a group administrator's
    invitation, which grants nothing) or ``accepted``; the memberships already there
    were made before consent existed and stay in force (``accepted``)."""
    columns = {column["name"] for column in inspect(conn).get_columns("group_members")}
    if "state" not in columns:
        conn.execute(
            text(
                "ALTER TABLE group_members ADD COLUMN state VARCHAR(16) NOT NULL DEFAULT 'accepted'"
            )
        )
    if "invited_by" not in columns:
        conn.execute(
            text(
                "ALTER TABLE group_members ADD COLUMN invited_by INTEGER "
                "REFERENCES users (id) ON DELETE SET NULL"
            )
        )


def _v8_feed_salts(conn: Connection) -> None:
    """A random ``feed_salt`` per grant and group membership, part of the secret feed
    URLs of calendars seen through it. Rows already there keep "" and with it the URLs
    they have today; every new grant or membership gets a fresh value."""
    for table in ("grants", "group_members"):
        columns = {column["name"] for column in inspect(conn).get_columns(table)}
        if "feed_salt" not in columns:
            conn.execute(
                text(f"ALTER TABLE {table} ADD COLUMN feed_salt VARCHAR(32) NOT NULL DEFAULT ''")
            )


def _v9_sync_visibility(conn: Connection) -> None:
    """The change log records who could see each changed item before and after the
    change. The rows logged before cannot say it: they are dropped and every
    collection's history starts at its current revision, so every older sync token
    gets valid-sync-token and its client syncs afresh once (RFC 6578 3.2); the token
    format changes too (HMAC-bound to the view)."""
    columns = {column["name"] for column in inspect(conn).get_columns("changes")}
    for name in ("before_level", "after_level"):
        if name not in columns:
            conn.execute(text(f"ALTER TABLE changes ADD COLUMN {name} SMALLINT"))
    conn.execute(
        models.changes.delete().where(
            models.changes.c.before_level.is_(None) & models.changes.c.after_level.is_(None)
        )
    )
    conn.execute(models.collections.update().values(min_revision=models.collections.c.revision))


def _v10_unique_email(conn: Connection) -> None:
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
MIGRATIONS: list[Migration] = [
    _v1,
    _v2,
    _v3,
    _v4,
    _v5,
    _v6_scheduling_provenance,
    _v7_group_consent,
    _v8_feed_salts,
    _v9_sync_visibility,
    _v10_unique_email,
]
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
