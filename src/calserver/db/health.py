"""Whether the database can serve: it answers (``SELECT 1``), it takes a write (the
heartbeat row of ``calserver_meta``), and, for SQLite, the disk beside it has room.
``/health`` (calserver.ops) asks :func:`database_state`; see calserver.outage for what a
request does when the answer is no."""

from __future__ import annotations

import logging
import os
import shutil
import time

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from calserver import db
from calserver.db import models

logger = logging.getLogger("calserver")


def database_answers(engine: Engine) -> bool:
    """Whether the database answers ``SELECT 1`` now (a pooled connection is checked
    first on PostgreSQL: pool_pre_ping)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning(
            "health check: the database does not answer: %s",
            (str(exc).splitlines() or [exc.__class__.__name__])[0],
        )
        return False
    return True


#: The row of ``calserver_meta`` that /health's write probe updates.
HEARTBEAT_KEY = "health_heartbeat"

#: Less free space than this beside an SQLite database, and /health reports "full":
#: the next write that needs new pages would fail.
MIN_FREE_BYTES = 1 << 20


def database_state(engine: Engine) -> str:
    """``ok``, or why the database cannot serve writes: ``unreachable``, ``full`` or
    ``not writable`` (see the module's docstring)."""
    if not database_answers(engine):
        return "unreachable"
    try:
        with db.write_connection(engine) as conn, conn.begin():
            db.upsert(
                conn,
                models.meta,
                {"key": HEARTBEAT_KEY, "value": "%.3f" % time.time()},
                ["key"],
            )
    except SQLAlchemyError as exc:
        first_line = (str(exc).splitlines() or [exc.__class__.__name__])[0]
        logger.warning("health check: the database does not take a write: %s", first_line)
        return "full" if "full" in first_line.lower() else "not writable"
    folder = _sqlite_folder(engine)
    if folder is not None:
        free = shutil.disk_usage(folder).free
        if free < MIN_FREE_BYTES:
            logger.warning("health check: %d bytes free beside the database", free)
            return "full"
    return "ok"


def _sqlite_folder(engine: Engine) -> str | None:
    """The folder of the SQLite database file, None for PostgreSQL or in memory."""
    if not db.is_sqlite(engine):
        return None
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.dirname(os.path.abspath(database))
