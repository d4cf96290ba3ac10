"""The hot queries use their indexes (SQLite's plan), so their cost does not grow with
the calendar: a full scan here is what made a PUT slow at 100,000 events."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from calserver import db
from calserver.storage import Storage
from tests.conftest import make_configuration


def _plans_of(storage: Storage, action) -> list[str]:
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(storage.engine, "before_cursor_execute", capture)
    try:
        action()
    finally:
        event.remove(storage.engine, "before_cursor_execute", capture)
    plans = []
    with storage.engine.connect() as conn:
        for statement, parameters in statements:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            plans.append(" / ".join(str(row[-1]) for row in rows))
    return plans


@pytest.mark.storage  # SQLite through its own configuration, no database fixture
def test_uid_check_uses_the_unique_index(tmp_path: Path) -> None:
    configuration = make_configuration("sqlite:///" + str(tmp_path / "c.sqlite"), tmp_path)
    db.ensure_schema(db.engine_for(configuration))
    storage = Storage(configuration)
    storage.create_collection("/alice/", props=None)
    collection, _, _ = storage.create_collection("/alice/cal/", props={"tag": "VCALENDAR"})
    plans = _plans_of(storage, lambda: collection.has_uid("some-uid"))
    assert plans, "has_uid ran no query"
    assert all("uq_items_uid" in plan for plan in plans), plans
