"""The floor under the one-week query: the indexed SELECT of the same rows, timed
in-process against the server's own database (no HTTP, no XML, no Radicale), so that
every figure of the report has beside it what the database alone costs.

The statement is the one ``calserver.storage.get`` issues for a time range (instances
overlapping the window, short ones bounded below, long ones apart, plus series indexed
only up to before the window's end), followed by the rows' href, ETag and text.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from benchmarks.timing import Budget, Measurement, repeat

#: calserver.ical.timeindex.SHORT_SPAN
SHORT_SPAN = 8 * 24 * 3600

_WEEK_ROWS = """
SELECT items.href, items.etag, items.text FROM items
WHERE items.collection_id = :collection AND items.id IN (
    SELECT item_id FROM instances
    WHERE collection_id = :collection AND long = :no AND start_ts < :end
      AND start_ts > :start - :short AND end_ts > :start
    UNION
    SELECT item_id FROM instances
    WHERE collection_id = :collection AND long = :yes AND start_ts < :end AND end_ts > :start
    UNION
    SELECT id FROM items
    WHERE collection_id = :collection AND indexed_until IS NOT NULL
      AND indexed_until < :end AND start_ts < :end AND end_ts > :start
)
"""


def measure(
    database_url: str, collection_path: str, start: datetime, end: datetime, budget: Budget
) -> tuple[Measurement, int]:
    """Median seconds of the week's indexed fetch on a fresh connection held for the
    runs, and how many rows it returned."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    found = 0
    try:
        with engine.connect() as conn:
            collection = conn.execute(
                text("SELECT id FROM collections WHERE path = :path"), {"path": collection_path}
            ).scalar_one()
            params: dict[str, Any] = {
                "collection": collection,
                "start": int(start.timestamp()),
                "end": int(end.timestamp()),
                "short": SHORT_SPAN,
                "no": False,
                "yes": True,
            }
            statement = text(_WEEK_ROWS)

            def once(_: int) -> float:
                nonlocal found
                started = time.perf_counter()
                rows = conn.execute(statement, params).all()
                seconds = time.perf_counter() - started
                found = len(rows)
                return seconds

            measurement = repeat(once, budget)
    finally:
        engine.dispose()
    measurement.note = "indexed SELECT of the week's rows (href, etag, text), in-process"
    return measurement, found
