"""``calserver migrate-from-radicale``: a storage written by stock Radicale 3.9 (run
in-process, with an htpasswd file) comes in with the same URLs, UIDs, ETags, collection
properties and passwords."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import radicale
import requests
from passlib.hash import apr_md5_crypt, bcrypt, md5_crypt, sha256_crypt, sha512_crypt
from radicale import config as radicale_config
from sqlalchemy import func, select

from calserver import calendars, db
from calserver.accounts import passwords, users
from calserver.check import check_storage
from calserver.db.models import collections, instances, items
from calserver.db.models import users as users_table
from calserver.importer.radicale import (
    MigrationError,
    account_from_htpasswd,
    locate,
    migrate,
    read_htpasswd,
    read_item,
)
from calserver.storage import Storage
from tests.conftest import FIXTURES, WSGIClient, run_cli, start_server

PASSWORDS = {
    "alice": "alice bcrypt pw",
    "bob": "bob sha512 pw",
    "dave": "dave plain pw",
    "carol": "carol pw",
}

MKCALENDAR = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"
    xmlns:I="http://apple.com/ns/ical/">
  <D:set><D:prop>
    <D:displayname>{name}</D:displayname>
    <C:calendar-description>{name} things</C:calendar-description>
    <I:calendar-color>{color}</I:calendar-color>
    <C:supported-calendar-component-set>
      <C:comp name="VEVENT"/><C:comp name="VTODO"/>
    </C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>"""

MKADDRESSBOOK = """<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>
    <D:displayname>Contacts</D:displayname>
  </D:prop></D:set>
</D:mkcol>"""

TASK = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//migrate//EN\r\nBEGIN:VTODO\r\n"
    "UID:task-1@example.org\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:File taxes\r\n"
    "DUE:20260415T170000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
)
EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//migrate//EN\r\nBEGIN:VEVENT\r\n"
    "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
    "DTEND:20260105T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
VCARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nFN:Carl Contact\r\nN:Contact;Carl;;;\r\n"
    "EMAIL:carl@example.org\r\nEND:VCARD\r\n"
)

#: (user, collection path, href, body) as clients PUT them into Radicale.
PUTS = [
    ("alice", "alice/work", "ev-1.ics", EVENT.format(uid="ev-1", summary="Standup")),
    (
        "alice",
        "alice/work",
        "Thunderbird-weekly.ics",
        (FIXTURES / "thunderbird-weekly-berlin.ics").read_text(),
    ),
    (
        "alice",
        "alice/work",
        "endless.ics",
        (FIXTURES / "thunderbird-endless-weekly.ics").read_text(),
    ),
    ("alice", "alice/work", "task", TASK),  # a name without an extension is an href too
    (
        "alice",
        "alice/personal",
        "8D4A1F2E-3B7C-4E9A-A1D2-6C5F0B3E7A91.ics",
        (FIXTURES / "apple-newyork-concert.ics").read_text(),
    ),
    (
        "alice",
        "alice/personal",
        "birthday.ics",
        (FIXTURES / "apple-allday-birthday.ics").read_text(),
    ),
    ("bob", "bob/calendar", "meeting.ics", EVENT.format(uid="bob-1", summary="Bob's meeting")),
    ("bob", "bob/contacts", "card-1.vcf", VCARD),
    ("carol", "carol/calendar", "carol-1.ics", EVENT.format(uid="carol-1", summary="Carol")),
]
BROKEN = "alice/work/broken.ics"
DUPLICATE = "alice/work/zz-same-uid.ics"


@dataclass
class RadicaleSite:
    """A storage written by stock Radicale, and what Radicale served from it."""

    folder: Path  # [storage] filesystem_folder
    config: Path
    htpasswd: Path
    #: collection path -> its .Radicale.props
    props: dict[str, dict[str, str]] = field(default_factory=dict)
    #: "path/href" -> (UID, ETag, body) as Radicale's GET answered
    items: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.folder / "collection-root"


def _radicale(folder: Path, htpasswd: Path) -> WSGIClient:
    configuration = radicale_config.load()
    configuration.update(
        {
            "storage": {"type": "multifilesystem", "filesystem_folder": str(folder)},
            "auth": {
                "type": "htpasswd",
                "htpasswd_filename": str(htpasswd),
                "htpasswd_encryption": "autodetect",
                "delay": "0",
            },
            "rights": {"type": "owner_only"},
        },
        "test",
    )
    configuration.update({"storage": {"_filesystem_fsync": "False"}}, "test", privileged=True)
    return WSGIClient(radicale.Application(configuration), configuration, passwords=PASSWORDS)


def _htpasswd_lines(with_carol: bool) -> str:
    lines = [
        "# Radicale users",
        "alice:" + bcrypt.using(rounds=4, ident="2y").hash(PASSWORDS["alice"]),
        "bob:" + sha512_crypt.using(rounds=1000).hash(PASSWORDS["bob"]),
        "dave:" + PASSWORDS["dave"],
    ]
    if with_carol:
        lines.append("carol:" + PASSWORDS["carol"])
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> RadicaleSite:
    """Alice (bcrypt), Bob (sha512-crypt) and Dave (plain text) use Radicale; Carol did
    too but has left the htpasswd file, her folder stays."""
    base = tmp_path_factory.mktemp("radicale")
    folder, htpasswd = base / "collections", base / "users"
    htpasswd.write_text(_htpasswd_lines(with_carol=True))
    config = base / "config"
    config.write_text(
        f"[storage]\nfilesystem_folder = {folder}\n\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {htpasswd}\n"
        "htpasswd_encryption = autodetect\n"
    )
    client = _radicale(folder, htpasswd)
    made = set()
    for user, path, href, body in PUTS:
        if path not in made:
            made.add(path)
            if path.endswith("contacts"):
                response = client.request("MKCOL", f"/{path}/", MKADDRESSBOOK, user=user)
            else:
                name = path.split("/")[1].capitalize()
                response = client.request(
                    "MKCALENDAR",
                    f"/{path}/",
                    MKCALENDAR.format(name=name, color="#3A7FC2FF"),
                    user=user,
                )
            assert response.status == 201, response.text
        content_type = "text/vcard" if href.endswith(".vcf") else "text/calendar"
        response = client.request(
            "PUT", f"/{path}/{href}", body, {"Content-Type": content_type}, user=user
        )
        assert response.status == 201, response.text
    response = client.request("PROPFIND", "/dave/", headers={"Depth": "0"}, user="dave")
    assert response.status == 207  # Radicale created Dave's principal at his login
    result = RadicaleSite(folder, config, htpasswd)
    for user, path, href, _ in PUTS:
        response = client.request("GET", f"/{path}/{href}", user=user)
        assert response.status == 200
        uid = next(line[4:] for line in response.text.splitlines() if line.startswith("UID:"))
        result.items[f"{path}/{href}"] = (uid, response.headers["etag"], response.text)
        result.props[path] = json.loads((result.root / path / ".Radicale.props").read_text())
    # What Radicale's folders also hold: a broken file, an item whose UID is taken, a
    # half-written temporary folder and an editor's backup file.
    (result.root / BROKEN).write_text("BEGIN:VCALENDAR\r\nthis is not iCalendar\r\n")
    (result.root / DUPLICATE).write_text(EVENT.format(uid="ev-1", summary="Same UID"))
    tmp = result.root / "alice/work/.Radicale.tmp-x1y2z3"
    tmp.mkdir()
    (tmp / "ev-2.ics").write_text(EVENT.format(uid="ev-2", summary="Half written"))
    (result.root / "alice/work/ev-1.ics~").write_text(EVENT.format(uid="ev-9", summary="Old"))
    htpasswd.write_text(_htpasswd_lines(with_carol=False))
    return result


def _counts(engine: Any) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (users_table, collections, items)
        )


def _hash_of(engine: Any, name: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(users_table.c.password_hash).where(users_table.c.name == name)
            ).scalar_one()
        )


# --- the source ----------------------------------------------------------------------


def test_source_is_a_config_a_storage_folder_or_collection_root(site, tmp_path):
    from_config = locate(str(site.config))
    assert from_config.collection_root == site.root
    assert from_config.htpasswd == site.htpasswd
    assert from_config.encryption == "autodetect"
    for path in (site.folder, site.root):
        found = locate(str(path))
        assert found.collection_root == site.root
        assert found.htpasswd is None
    with pytest.raises(MigrationError, match="no such file"):
        locate(str(tmp_path / "missing"))
    with pytest.raises(MigrationError, match="not a Radicale storage"):
        locate(str(tmp_path))
    other = tmp_path / "other.conf"
    other.write_text("[storage]\ntype = radicale_sql\n")
    with pytest.raises(MigrationError, match="only Radicale's file storage"):
        locate(str(other))


def test_htpasswd_hashes_are_kept_and_plain_text_is_hashed():
    for handler in (bcrypt, sha512_crypt, sha256_crypt, apr_md5_crypt, md5_crypt):
        digest = handler.hash("secret")
        account = account_from_htpasswd("u", digest, "autodetect")
        assert account.password_hash == digest
        assert passwords.verify("secret", account.password_hash)[0]
    plain = account_from_htpasswd("u", "secret", "autodetect")
    assert plain.password_hash.startswith("$argon2")
    assert passwords.verify("secret", plain.password_hash) == (True, None)
    # A "plain" file holds passwords, whatever they look like.
    odd = "$2y$04$" + "a" * 53
    assert passwords.verify(odd, account_from_htpasswd("u", odd, "plain").password_hash)[0]
    # Radicale's autodetect takes a malformed hash for a plain-text password ...
    assert passwords.verify(
        "$6$abc", account_from_htpasswd("u", "$6$abc", "autodetect").password_hash
    )[0]
    # ... a file declared as bcrypt does not: no usable password.
    assert account_from_htpasswd("u", "not-a-hash", "bcrypt").password_hash == ""


def test_htpasswd_comments_duplicates_and_bad_lines(tmp_path):
    path = tmp_path / "users"
    path.write_text(
        "# comment\n\nann:one\nno-colon-here\nann:two\nben:"
        + sha512_crypt.using(rounds=1000).hash("x")
        + "\n"
    )
    accounts, problems = read_htpasswd(path, "autodetect", "utf-8")
    assert [a.name for a in accounts] == ["ann", "ben"]
    assert passwords.verify("one", accounts[0].password_hash)[0]
    assert any("line 4" in p and "not NAME:PASSWORD" in p for p in problems)
    assert any("line 5" in p and "ann again" in p for p in problems)


# --- the migration, in process, on every engine --------------------------------------


def test_migration_keeps_paths_hrefs_uids_etags_and_props(site, configuration, engine):
    storage = Storage(configuration)
    report = migrate(storage, str(site.config))
    assert report[-1].startswith("summary: 4 users created (1 without a password)"), report
    for path, props in site.props.items():
        collection = storage.load_collection(path)
        assert collection is not None, path
        assert dict(collection.get_meta()) == props
        migrated = {item.href: item for item in collection.get_all()}
        expected = {
            key.rpartition("/")[2]: value
            for key, value in site.items.items()
            if key.rpartition("/")[0] == path
        }
        assert set(migrated) == set(expected), path
        for href, (uid, etag, text) in expected.items():
            assert migrated[href].uid == uid
            assert migrated[href].etag == etag  # clients keep their cached copies
            assert migrated[href].serialize() == text
    assert storage.load_collection("alice/work").get_meta("tag") == "VCALENDAR"
    assert storage.load_collection("bob/contacts").get_meta("tag") == "VADDRESSBOOK"
    assert storage.load_collection("dave") is not None  # a principal without collections
    assert any(line == "collection alice/work: created (VCALENDAR, 4 items)" for line in report)


def test_users_keep_their_hashes_and_carol_has_no_password(site, configuration, engine):
    report = migrate(Storage(configuration), str(site.config))
    assert _hash_of(engine, "alice").startswith("$2y$")
    assert _hash_of(engine, "bob").startswith("$6$")
    assert _hash_of(engine, "dave").startswith("$argon2")
    for name in ("alice", "bob", "dave"):
        assert passwords.verify(PASSWORDS[name], _hash_of(engine, name))[0], name
    assert _hash_of(engine, "carol") == ""
    assert not passwords.verify(PASSWORDS["carol"], _hash_of(engine, "carol"))[0]
    assert users.get(engine, "carol") == users.User("carol", "", False)
    assert storage_paths(engine) >= {"carol", "carol/calendar"}
    carol = [line for line in report if line.startswith("user carol:")]
    assert carol and "WITHOUT a password" in carol[0]
    assert "calserver user passwd carol" in carol[0]


def storage_paths(engine: Any) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(collections.c.path)).scalars())


def test_broken_and_conflicting_items_are_reported_and_skipped(site, configuration, engine):
    storage = Storage(configuration)
    report = migrate(storage, str(site.config))
    broken = [line for line in report if line.startswith(f"item {BROKEN}:")]
    assert len(broken) == 1 and "skipped, not valid" in broken[0]
    duplicate = [line for line in report if line.startswith(f"item {DUPLICATE}:")]
    assert len(duplicate) == 1 and "'ev-1' is used by ev-1.ics" in duplicate[0]
    assert report[-1].endswith("9 items migrated, 2 skipped"), report
    hrefs = {item.href for item in storage.load_collection("alice/work").get_all()}
    assert hrefs == {"ev-1.ics", "Thunderbird-weekly.ics", "endless.ics", "task"}
    # Radicale's own leftovers are neither migrated nor reported.
    assert not any("tmp-x1y2z3" in line or "ev-1.ics~" in line for line in report)


def test_dry_run_writes_nothing_and_reports_the_same(site, configuration, engine):
    storage = Storage(configuration)
    report = migrate(storage, str(site.config), dry_run=True)
    assert _counts(engine) == (0, 0, 0)
    assert report[0] == "dry run: nothing is written"
    assert report[-1] == "dry run: nothing was written"
    assert "collection alice/work: would be created (VCALENDAR, 4 items)" in report
    assert any(line.startswith(f"item {BROKEN}: skipped") for line in report)
    real = migrate(storage, str(site.config))
    assert [line.replace("would be ", "") for line in report[1:-1]] == real


def test_existing_users_and_collections_are_not_overwritten(site, configuration, engine):
    storage = Storage(configuration)
    users.add(engine, "alice", "calserver pw")
    calendars.create(storage, "alice/work", "Mine")
    mine = read_item(EVENT.format(uid="mine", summary="Mine"), "VCALENDAR", "alice/work", 100)
    storage.load_collection("alice/work").upload("mine.ics", mine)
    report = migrate(storage, str(site.config))
    assert "user alice: exists in calserver, kept as it is (password unchanged)" in report
    assert any(
        line.startswith("collection alice/work: exists in calserver, skipped") for line in report
    )
    assert passwords.verify("calserver pw", _hash_of(engine, "alice"))[0]
    work = storage.load_collection("alice/work")
    assert [item.uid for item in work.get_all()] == ["mine"]
    assert work.get_meta("D:displayname") == "Mine"
    assert storage.load_collection("alice/personal") is not None  # hers, not there yet
    # Running it again changes nothing: what exists is skipped.
    before = _counts(engine)
    again = migrate(storage, str(site.config))
    assert _counts(engine) == before
    assert again[-1].startswith(
        "summary: 0 users created (0 without a password), 4 kept; 0 collections created, 5 skipped"
    )


def test_a_path_taken_during_the_migration_is_not_overwritten(
    site, configuration, engine, monkeypatch
):
    """The collection is filled aside and takes its path only if nothing has meanwhile:
    a calendar a client creates during the migration wins, nothing is left behind."""
    storage = Storage(configuration)
    calendars.create(storage, "bob/calendar", "Created meanwhile")
    real_load = storage.load_collection
    monkeypatch.setattr(
        storage, "load_collection", lambda path: None if path == "bob/calendar" else real_load(path)
    )
    report = migrate(storage, str(site.config))
    assert "collection bob/calendar: exists in calserver, skipped (not overwritten)" in report
    monkeypatch.undo()
    calendar = storage.load_collection("bob/calendar")
    assert calendar.get_meta("D:displayname") == "Created meanwhile"
    assert list(calendar.get_all()) == []
    assert check_storage(engine) == []  # no staging collection left behind


def test_collection_root_alone_brings_users_without_passwords(site, configuration, engine):
    report = migrate(Storage(configuration), str(site.root))
    assert "users: no htpasswd file (pass Radicale's config file to bring passwords)" in report
    assert {u.name for u in users.all_users(engine)} == {"alice", "bob", "carol", "dave"}
    assert all(_hash_of(engine, name) == "" for name in ("alice", "bob", "carol", "dave"))


def test_unreadable_props_and_group_collections_are_reported(site, configuration, engine, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(site.folder, copy)
    (copy / "collection-root/bob/calendar/.Radicale.props").write_text("{not json")
    group_calendar = copy / "collection-root/GROUPS/c3RhZmY"  # base64 of "staff"
    group_calendar.mkdir(parents=True)
    (group_calendar / ".Radicale.props").write_text('{"tag": "VCALENDAR"}')
    storage = Storage(configuration)
    report = migrate(storage, str(copy))
    assert any(
        line.startswith("collection bob/calendar: skipped, cannot read .Radicale.props")
        for line in report
    )
    assert storage.load_collection("bob/calendar") is None  # a rerun after a fix brings it
    assert storage.load_collection("bob/contacts") is not None
    assert any(line.startswith("collection GROUPS: skipped") for line in report)
    assert users.get(engine, "GROUPS") is None
    assert storage.load_collection("GROUPS") is None


@pytest.mark.timeout(120)
def test_an_override_with_an_endless_rule_of_its_own_does_not_hang_the_migration(
    site, configuration, engine, tmp_path
):
    """Radicale stored it (it stops at the override's endless rule); indexing it walked
    the override's own series without end. Issue 12 item 5: an overridden instance is
    one instance (calserver.ical.timeindex), or the item is reported and skipped.
    (Before: some 30 seconds and three million instance rows, up to the year 9999.)"""
    copy = tmp_path / "copy"
    shutil.copytree(site.folder, copy)
    (copy / "collection-root/alice/work/override.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:override\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260105T100000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:override\r\nDTSTAMP:20260101T000000Z\r\n"
        "RECURRENCE-ID:20260106T100000Z\r\nDTSTART:20260106T110000Z\r\nDURATION:PT1H\r\n"
        "RRULE:FREQ=DAILY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    storage = Storage(configuration)
    report = migrate(storage, str(copy))
    hrefs = {item.href for item in storage.load_collection("alice/work").get_all()}
    skipped = [line for line in report if line.startswith("item alice/work/override.ics:")]
    assert "override.ics" in hrefs or len(skipped) == 1, report
    with engine.connect() as conn:
        indexed = conn.execute(
            select(func.count())
            .select_from(instances)
            .join(items, items.c.id == instances.c.item_id)
            .where(items.c.uid == "override")
        ).scalar_one()
    # the master up to the index's limit, and the one overridden instance
    assert indexed <= storage.index_max_instances + 1


# --- end to end: the command, then a live server -------------------------------------


@pytest.mark.live  # runs calserver commands and a server
def test_migrated_users_log_in_with_old_passwords_and_get_the_same_items(
    site, database_url, tmp_path
):
    data = tmp_path / "data"
    result = run_cli(database_url, data, "migrate-from-radicale", str(site.config))
    assert result.returncode == 0, result.stderr
    assert f"item {BROKEN}: skipped" in result.stdout
    db.dispose_engines()
    server = start_server(database_url, data)
    try:
        for key, (_, etag, text) in site.items.items():
            user = key.split("/")[0]
            if user == "carol":
                continue
            response = requests.get(f"{server.url}/{key}", auth=(user, PASSWORDS[user]), timeout=30)
            assert response.status_code == 200, key
            assert response.headers["ETag"] == etag
            assert response.text == text
        response = requests.request(
            "PROPFIND",
            f"{server.url}/dave/",
            auth=("dave", PASSWORDS["dave"]),
            headers={"Depth": "0"},
            timeout=30,
        )
        assert response.status_code == 207
        response = requests.get(
            f"{server.url}/carol/calendar/carol-1.ics",
            auth=("carol", PASSWORDS["carol"]),
            timeout=30,
        )
        assert response.status_code == 401  # no password until an admin sets one
        response = requests.get(
            f"{server.url}/alice/work/ev-1.ics", auth=("alice", "wrong"), timeout=30
        )
        assert response.status_code == 401
    finally:
        server.stop()
    engine = db.get_engine(database_url)
    for name in ("alice", "bob", "dave"):
        assert _hash_of(engine, name).startswith("$argon2"), name
