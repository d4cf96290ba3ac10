"""Hidden staging collections: ``calserver import`` and ``calserver
migrate-from-radicale`` write aside into one, then swap it in or drop it.

A staging collection's name says who builds it (host and process id). A process that
is stopped (SIGTERM, Ctrl-C) drops its own; one killed outright (``kill -9``, a power
cut) leaves it behind, invisible but taking space. :func:`remove_abandoned` removes
those whose process is gone: ``calserver serve`` at start and ``calserver check
--repair``. A leftover of another host (several hosts sharing one PostgreSQL database)
cannot be asked about, and is removed once it is older than :data:`OTHER_HOST_AGE`.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, select

from calserver.db import write_connection
from calserver.db.models import STAGING, collections

#: Age after which a staging collection of another host (or of an older calserver,
#: whose names do not say who built them) counts as abandoned.
OTHER_HOST_AGE = 24 * 3600.0


def new_path(kind: str) -> str:
    """The path of a new staging collection of this process (``kind``: import,
    migrate)."""
    host = socket.gethostname().replace("/", "_").replace("~", "_")
    return f"{STAGING}/{kind}~{host}~{os.getpid()}~{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Leftover:
    id: int
    path: str
    why: str


def _process_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's process: alive
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def abandoned(conn: Connection, now: float | None = None) -> list[Leftover]:
    """The staging collections whose process is gone."""
    now = time.time() if now is None else now
    host = socket.gethostname().replace("/", "_").replace("~", "_")
    found: list[Leftover] = []
    rows = conn.execute(
        select(collections.c.id, collections.c.path, collections.c.modified).where(
            collections.c.parent == STAGING
        )
    ).all()
    for row in rows:
        parts = row.path.rpartition("/")[2].split("~")
        if len(parts) == 4 and parts[1] == host and parts[2].isdigit():
            if _process_gone(int(parts[2])):
                found.append(Leftover(row.id, row.path, f"its process {parts[2]} is gone"))
        elif now - row.modified > OTHER_HOST_AGE:
            found.append(Leftover(row.id, row.path, "older than a day, of another host"))
    return found


def remove_abandoned(engine: Engine) -> list[Leftover]:
    """Remove the abandoned staging collections (their items go by cascade)."""
    with write_connection(engine) as conn, conn.begin():
        found = abandoned(conn)
        for leftover in found:
            conn.execute(delete(collections).where(collections.c.id == leftover.id))
    return found
