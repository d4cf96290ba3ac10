"""Schema versions: an outdated database is refused by the server and brought up to date
by 'calserver db upgrade', keeping its data."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text, update

from calserver import db, users
from calserver.db.models import login_cache, meta


def _make_version_1(engine) -> None:
    db.upgrade(engine)
    with engine.begin() as conn:
        login_cache.drop(conn)
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="1"))


def test_outdated_schema_is_refused_then_upgraded_keeping_data(configuration) -> None:
    engine = db.engine_for(configuration)
    _make_version_1(engine)
    users.add(engine, "alice", "s3cret")
    with pytest.raises(db.SchemaError, match="db upgrade"):
        db.ensure_schema(engine)
    assert db.upgrade(engine) == (1, db.LATEST)
    with engine.connect() as conn:
        assert inspect(conn).has_table("login_cache")
        assert db.schema_version(conn) == db.LATEST
    assert users.get(engine, "alice") is not None
    assert db.upgrade(engine) == (db.LATEST, db.LATEST)  # idempotent
    db.ensure_schema(engine)


def test_newer_schema_is_refused(configuration) -> None:
    engine = db.engine_for(configuration)
    db.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE calserver_meta SET value = '999' WHERE key = 'schema_version'"))
    try:
        with pytest.raises(db.SchemaError, match="newer"):
            db.ensure_schema(engine)
        with engine.connect() as conn:
            assert conn.execute(select(meta.c.value)).scalar() == "999"
    finally:  # the PostgreSQL database is shared by the whole session
        with engine.begin() as conn:
            conn.execute(
                update(meta).where(meta.c.key == "schema_version").values(value=str(db.LATEST))
            )
