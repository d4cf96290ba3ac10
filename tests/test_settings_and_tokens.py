"""User settings (time zone, default duration, first weekday), secret feed tokens and
publications (issue 4) on SQLite and PostgreSQL, through the storage-level functions
and the ``calserver`` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import icalendar
import pytest
from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy import select, text

from calserver import db
from calserver.accounts import settings, users
from calserver.errors import Forbidden, InvalidInput, NotFound
from calserver.feeds import access
from calserver.ical import icsfile
from calserver.sharing import manage
from tests.conftest import make_configuration, run_cli


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> tuple[Any, Any]:
    configuration = make_configuration(database_url, tmp_path / "data")
    engine = db.get_engine(database_url)
    db.ensure_schema(engine)
    for name in ("alice", "bob"):
        users.add_with_hash(engine, name, "", f"{name}@example.org")
    from calserver import calendars
    from calserver.storage import Storage

    calendars.create(Storage(configuration), "alice/work")
    return engine, configuration


@pytest.mark.parametrize(
    ("given", "minutes"),
    [("45m", 45), ("1h30m", 90), ("2h", 120), ("90", 90), ("PT1H15M", 75), ("", 0)],
)
def test_durations(given: str, minutes: int) -> None:
    assert settings.parse_duration(given) == minutes


@pytest.mark.parametrize("given", ["0m", "-5m", "abc", "8d", "10081m", "h", "1.5h"])
def test_bad_durations(given: str) -> None:
    with pytest.raises(InvalidInput):
        settings.parse_duration(given)


def test_settings_default_to_the_server_and_change_all_or_nothing(world: Any) -> None:
    engine, configuration = world
    assert settings.get(engine, configuration, "alice").as_json() == {
        "timezone": "UTC",
        "default_duration": 60,
        "week_start": "monday",
    }
    with pytest.raises(InvalidInput):
        settings.update_settings(
            engine, configuration, "alice", timezone="Europe/Brussels", default_duration="x"
        )
    assert settings.get(engine, configuration, "alice").timezone == "UTC"  # nothing changed
    chosen = settings.update_settings(
        engine, configuration, "alice", timezone="Europe/Brussels", week_start="sunday"
    )
    assert (chosen.timezone, chosen.week_start) == ("Europe/Brussels", 6)
    with pytest.raises(NotFound):
        settings.update_settings(engine, configuration, "nobody", timezone="UTC")


def test_secret_tokens_are_stored_hashed_and_reset_at_once(world: Any) -> None:
    engine, configuration = world
    token = access.secret_token(engine, configuration, "alice", "alice/work")
    assert access.well_formed(token)
    assert access.secret_token(engine, configuration, "alice", "alice/work") == token
    with engine.connect() as conn:
        dump = json.dumps(
            [list(map(str, row)) for row in conn.execute(select(db.models.feed_tokens))]
        )
        found = access.find_secret(conn, configuration, token)
    assert token not in dump  # a database dump does not reveal the URL
    assert found == access.Secret("alice", "alice/work")
    access.reset_feeds(engine, "alice")
    with engine.connect() as conn:
        assert access.find_secret(conn, configuration, token) is None
    fresh = access.secret_token(engine, configuration, "alice", "alice/work")
    assert fresh != token
    users.set_disabled(engine, "alice", True)
    with engine.connect() as conn:
        assert access.find_secret(conn, configuration, fresh) is None


def test_publication_lifecycle_and_who_may_publish(world: Any) -> None:
    engine, configuration = world
    with pytest.raises(NotFound):  # bob sees nothing of alice/work: not even its name
        access.publish(engine, configuration, "alice/work", "busy", actor="bob")
    manage.share(engine, "alice/work", "bob", "write")
    with pytest.raises(Forbidden):  # a writer does not publish
        access.publish(engine, configuration, "alice/work", "busy", actor="bob")
    with pytest.raises(InvalidInput):
        access.publish(engine, configuration, "alice/work", "everything", actor="alice")
    first = access.publish(engine, configuration, "alice/work", "busy", actor="alice")
    again = access.publish(engine, configuration, "alice/work", "details", actor="alice")
    assert again.token == first.token  # a level change keeps the URLs
    with engine.connect() as conn:
        found = access.find_public(conn, configuration, first.token)
    assert found is not None and found.level == "details"
    access.unpublish(engine, "alice/work", actor="alice")
    assert access.publication(engine, configuration, "alice/work") is None
    with engine.connect() as conn:
        assert access.find_public(conn, configuration, first.token) is None
    later = access.publish(engine, configuration, "alice/work", "busy")
    assert later.token != first.token
    reset = access.reset_public(engine, configuration, "alice/work")
    assert reset is not None and reset.token != later.token and reset.level == "busy"


def test_group_calendars_are_published_by_group_admins(world: Any) -> None:
    engine, configuration = world
    from calserver import calendars
    from calserver.storage import Storage

    manage.create_group(engine, "team", admin="alice")
    manage.add_member(engine, "team", "bob")
    calendars.create(Storage(configuration), "@team/events")
    with pytest.raises(Forbidden):
        access.publish(engine, configuration, "@team/events", "details", actor="bob")
    published = access.publish(engine, configuration, "@team/events", "details", actor="alice")
    assert published.path == "@team/events"


def test_default_duration_for_events_without_an_end() -> None:
    source = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        "BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261121T090000Z\r\n"
        "END:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20261121\r\n"
        "END:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:c\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261121T090000Z\r\n"
        "DTEND:20261121T093000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    shaped = icalendar.Calendar.from_ical(icsfile.with_default_duration(source, 45))
    events = {str(e["UID"]): e for e in shaped.walk("VEVENT")}
    assert events["a"].decoded("DURATION").total_seconds() == 45 * 60
    assert "DURATION" not in events["b"] and "DURATION" not in events["c"]
    untouched = source.replace("DTSTART:20261121T090000Z\r\nEND", "DTSTART:x\r\nDTEND:y\r\nEND")
    assert icsfile.with_default_duration(untouched, 45) == untouched


@pytest.mark.live  # runs calserver commands
def test_cli_user_set_publish_urls_and_import(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"

    def cli(*args: str, stdin: str | None = None) -> str:
        result = run_cli(database_url, data, *args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        return result.stdout

    cli("user", "add", "alice", "--password-stdin", stdin="pw\n")
    cli("calendar", "create", "alice/work")
    out = cli("user", "set", "alice", "--timezone", "Europe/Brussels", "--default-duration", "45m")
    assert "Europe/Brussels" in out and "45" in out
    bad = run_cli(database_url, data, "user", "set", "alice", "--timezone", "Mars/Base")
    assert bad.returncode == 1 and "Mars/Base" in bad.stderr
    urls = json.loads(cli("urls", "alice/work", "--json"))
    assert "public_html" not in urls and urls["secret_ics"].endswith("/calendar.ics")
    cli("publish", "alice/work", "--level", "busy")
    published = json.loads(cli("urls", "alice/work", "--json"))
    assert {"public_html", "public_embed", "public_ics"} <= set(published)
    assert published["secret_ics"] == urls["secret_ics"]
    cli("reset-feeds", "alice")
    assert json.loads(cli("urls", "alice/work", "--json"))["secret_ics"] != urls["secret_ics"]
    cli("unpublish", "alice/work")
    assert "public_html" not in json.loads(cli("urls", "alice/work", "--json"))
    source = tmp_path / "in.ics"
    source.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:open\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART:20261121T090000Z\r\nSUMMARY:x\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n",
        encoding="utf-8",
    )
    cli("import", str(source), "alice/work")
    engine = db.get_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT text, end_ts - start_ts FROM items")).one()
    assert "DURATION:PT45M" in stored[0] and stored[1] == 45 * 60


def _legacy_token(configuration: Any, user: str, path: str, epoch: int) -> str:
    """A secret token as calserver derived it before accesses were part of it."""
    import base64
    import hashlib
    import hmac

    from calserver import keys

    message = "\x00".join(("feed", user, path, str(epoch))).encode()
    digest = hmac.new(keys.server_key(configuration), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _epochs(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.models.users.c.name, db.models.users.c.feed_epoch))
        return {row.name: row.feed_epoch for row in rows}


def test_own_calendars_keep_their_secret_urls_and_older_grants_theirs(world: Any) -> None:
    """Subscribers of the URLs shown before issue 12 keep working: a user's own
    calendar, and a grant made before grants had a feed_salt (``""``), until that
    grant is taken back."""
    engine, configuration = world
    epochs = _epochs(engine)
    own = access.secret_token(engine, configuration, "alice", "alice/work")
    assert own == _legacy_token(configuration, "alice", "alice/work", epochs["alice"])
    manage.share(engine, "alice/work", "bob", "read")
    with engine.begin() as conn:
        conn.execute(db.models.grants.update().values(feed_salt=""))  # as after the migration
    older = access.secret_token(engine, configuration, "bob", "bob/alice~work")
    assert older == _legacy_token(configuration, "bob", "bob/alice~work", epochs["bob"])
    with engine.connect() as conn:
        assert access.find_secret(conn, configuration, older) is not None
    manage.unshare(engine, "alice/work", "bob")
    manage.share(engine, "alice/work", "bob", "read")
    with engine.connect() as conn:
        assert access.find_secret(conn, configuration, older) is None
    assert access.secret_token(engine, configuration, "bob", "bob/alice~work") != older


def test_a_secret_url_lives_as_long_as_what_it_was_made_from(world: Any) -> None:
    """Bob sees alice/work through his grant and through a group grant: his URL is
    the one made from the grant he had first, shown again while it lasts; it dies
    with that grant although the group still gives him the calendar, and then the
    group's access gives a new one."""
    engine, configuration = world
    seen = "bob/alice~work"
    manage.share(engine, "alice/work", "bob", "read")
    first = access.secret_token(engine, configuration, "bob", seen)
    manage.create_group(engine, "team", admin="alice")
    manage.add_member(engine, "team", "bob")
    manage.share(engine, "alice/work", "@team", "busy")
    assert access.secret_token(engine, configuration, "bob", seen) == first
    manage.share(engine, "alice/work", "bob", "write")  # a level change keeps it
    assert access.secret_token(engine, configuration, "bob", seen) == first
    manage.add_member(engine, "team", "bob", admin=True)  # and so does a role change
    assert access.secret_token(engine, configuration, "bob", seen) == first
    manage.unshare(engine, "alice/work", "bob")
    with engine.connect() as conn:
        assert access.find_secret(conn, configuration, first) is None
    second = access.secret_token(engine, configuration, "bob", seen)
    assert second != first
    with engine.connect() as conn:
        assert access.find_secret(conn, configuration, second) == access.Secret("bob", seen)
    manage.remove_member(engine, "team", "bob")
    with engine.connect() as conn:
        assert access.find_secret(conn, configuration, second) is None
    with pytest.raises(NotFound):  # nothing gives bob the calendar any more
        access.secret_token(engine, configuration, "bob", seen)


def test_the_feed_salt_migration_keeps_today_s_urls(world: Any) -> None:
    """A database from before the salts: the migration gives the grants and
    memberships there "" (the URLs of today keep working), and running it again
    changes nothing."""
    engine, configuration = world
    manage.share(engine, "alice/work", "bob", "read")
    manage.create_group(engine, "team", admin="alice")
    with engine.begin() as conn:
        for table in ("grants", "group_members"):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN feed_salt"))
    migration = next(m for m in db.MIGRATIONS if m.__name__.endswith("_feed_salts"))
    with engine.begin() as conn:
        migration(conn)
        migration(conn)
    with engine.connect() as conn:
        for table in ("grants", "group_members"):
            columns = {c["name"] for c in sqlalchemy_inspect(conn).get_columns(table)}
            assert "feed_salt" in columns
            salts = conn.execute(text(f"SELECT feed_salt FROM {table}")).scalars().all()
            assert salts == [""]
    token = access.secret_token(engine, configuration, "bob", "bob/alice~work")
    assert token == _legacy_token(configuration, "bob", "bob/alice~work", _epochs(engine)["bob"])


def test_a_user_or_a_calendar_made_again_under_the_same_name_gets_new_urls(world: Any) -> None:
    """Secret and public tokens are HMACs of names and an epoch: a new account named
    like a deleted one, or a calendar made again where a published one was, must not
    bring back the URLs of the one before (the first epoch is random)."""
    from calserver import calendars
    from calserver.storage import Storage

    engine, configuration = world
    storage = Storage(configuration)
    secret = access.secret_token(engine, configuration, "alice", "alice/work")
    public = access.publish(engine, configuration, "alice/work", "details").token
    calendars.delete_calendar(storage, "alice/work")
    calendars.create(storage, "alice/work")
    again = access.publish(engine, configuration, "alice/work", "details").token
    assert again != public
    with engine.connect() as conn:
        assert access.find_public(conn, configuration, public) is None
    users.remove(engine, "alice")
    users.add_with_hash(engine, "alice", "", "alice@example.org")
    calendars.create(storage, "alice/work")
    assert access.secret_token(engine, configuration, "alice", "alice/work") != secret
    with engine.connect() as conn:
        assert access.find_secret(conn, configuration, secret) is None
