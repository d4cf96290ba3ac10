"""Schema versions: an outdated database is refused by the server and brought up to date
by 'calserver db upgrade', keeping its data."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text, update

from calserver import db
from calserver.accounts import users
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
            version = select(meta.c.value).where(meta.c.key == "schema_version")
            assert conn.execute(version).scalar() == "999"
    finally:  # the PostgreSQL database is shared by the whole session
        with engine.begin() as conn:
            conn.execute(
                update(meta).where(meta.c.key == "schema_version").values(value=str(db.LATEST))
            )


def test_version_3_gains_user_settings_feed_tokens_and_publications(configuration) -> None:
    """A database of version 3 (sharing, before feeds) is upgraded keeping its users."""
    from calserver.db.models import feed_tokens, publications

    engine = db.engine_for(configuration)
    db.upgrade(engine)
    users.add(engine, "alice", "s3cret")
    with engine.begin() as conn:
        publications.drop(conn)
        feed_tokens.drop(conn)
        for column in ("timezone", "default_duration", "week_start", "feed_epoch"):
            conn.execute(text(f"ALTER TABLE users DROP COLUMN {column}"))
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="3"))
    assert db.upgrade(engine) == (3, db.LATEST)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("users")}
        assert {"timezone", "default_duration", "week_start", "feed_epoch"} <= columns
        assert inspect(conn).has_table("feed_tokens") and inspect(conn).has_table("publications")
        row = conn.execute(text("SELECT timezone, feed_epoch FROM users")).one()
    assert tuple(row) == ("", 0)
