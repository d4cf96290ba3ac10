"""``calserver check``: integrity of the database (what a crash or a bug could break)."""

from __future__ import annotations

from radicale import item as radicale_item
from sqlalchemy import Engine, func, select

from calserver import staging
from calserver.db.models import STAGING, changes, collections, items
from calserver.ical import icsfile
from calserver.ical.icsfile import CONTROL_CHARACTERS
from calserver.storage.searchindex import problems as index_problems
from calserver.storage.searchindex import repair as repair_index


def repair_storage(engine: Engine) -> list[str]:
    """Remove what interrupted imports and migrations left behind (``calserver.staging``:
    only where the process that wrote it is gone); a line per removal."""
    done = [
        f"removed an unfinished import left behind ({leftover.id}; {leftover.why})"
        for leftover in staging.remove_abandoned(engine)
    ]
    with engine.connect() as conn, conn.begin():
        done += repair_index(conn)  # the search index out of step: rebuilt
    return done


def check_storage(engine: Engine) -> list[str]:
    problems: list[str] = []
    with engine.connect() as conn, conn.begin():
        paths = {row.path: row for row in conn.execute(select(collections))}
        for path, row in paths.items():
            if row.parent == STAGING:
                problems.append(
                    f"unfinished import left behind ({row.id}); it is not visible "
                    "('calserver check --repair' removes it once its process is gone)"
                )
                continue
            if row.parent and row.parent not in paths:
                problems.append(f"collection {path!r} has no parent {row.parent!r}")
            if path and row.parent != path.rpartition("/")[0]:
                problems.append(f"collection {path!r} has a wrong parent {row.parent!r}")
        latest = dict(
            conn.execute(
                select(changes.c.collection_id, func.max(changes.c.revision)).group_by(
                    changes.c.collection_id
                )
            ).all()
        )
        for row in paths.values():
            if latest.get(row.id, 0) > row.revision:
                problems.append(f"collection {row.path!r} is behind its change log")
        last_id = 0
        while True:
            rows = conn.execute(
                select(items.c.id, items.c.collection_id, items.c.href, items.c.etag, items.c.text)
                .where(items.c.id > last_id)
                .order_by(items.c.id)
                .limit(2000)
            ).all()
            for item in rows:
                if radicale_item.get_etag(item.text) != item.etag:
                    problems.append(f"item {item.href!r} ({item.id}): ETag does not match its data")
                if CONTROL_CHARACTERS.search(item.text):
                    # stored before they were refused: REPORTs over it are not valid XML
                    problems.append(
                        f"item {item.href!r} ({item.id}): control character in its data"
                    )
                unbounded = icsfile.evaluation_refusal(item.text)
                if unbounded is not None:
                    # stored before it was refused: evaluated as its first instance only
                    problems.append(
                        f"item {item.href!r} ({item.id}): its series is served as its first"
                        f" instance only: {unbounded}"
                    )
            if len(rows) < 2000:
                break
            last_id = rows[-1].id
        problems += index_problems(conn)
    return problems
