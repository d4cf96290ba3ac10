"""``calserver migrate-from-radicale``: bring in a stock Radicale 3 file storage and its
users, keeping every URL, UID and collection property.

Radicale's ``multifilesystem`` layout: ``<filesystem_folder>/collection-root/`` holds one
folder per collection (``USER/`` principals, ``USER/CAL/`` calendars and address books);
a collection's WebDAV properties are the JSON object in its ``.Radicale.props`` (``tag``
among them: ``VCALENDAR``, ``VADDRESSBOOK``, ``VSUBSCRIBED``), and each item is one file
whose name is its href. Dot files (``.Radicale.cache/``, ``.Radicale.tmp-*``, locks) and
names ending in ``~`` are Radicale's bookkeeping, skipped as Radicale skips them.

Users come from Radicale's htpasswd file: crypt-style hashes (bcrypt, sha512-crypt,
sha256-crypt, apr1, md5-crypt, argon2) are stored as they are, verified by
``calserver.accounts.passwords`` and replaced by argon2 at the user's next login;
plain-text entries are hashed with argon2 now. A principal folder without an htpasswd
entry becomes an account without a usable password, and the report says so.

Items are validated as a PUT of them would be (``icsfile.resource_refusal``: size,
over-long lines, rules that never occur, an end before the start, an unknown TZID;
then Radicale's ``read_components``, ``check_and_sanitize_items``, ``Item.prepare``, and
the time index); an item that does not pass is reported and skipped, never fatal.
Each collection is written aside, into a hidden staging collection, in batches of short
transactions, and takes its path in one short transaction at the end: a running server
never waits behind the migration, and an interrupted run leaves no half-filled
collection (run it again: what exists is skipped).
Nothing that exists in calserver is overwritten.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from configparser import Error as ConfigParserError
from configparser import RawConfigParser
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import pathutils
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from calserver import db, staging, urls
from calserver.accounts import users
from calserver.accounts.passwords import context as password_context
from calserver.accounts.passwords import hash_password
from calserver.db.models import STAGING, collections
from calserver.errors import CalserverError, InvalidInput
from calserver.ical import icsfile
from calserver.storage import Storage, lock_name
from calserver.storage.rows import insert_collection, insert_items, item_row

BATCH = 1000
ITEM_TAGS = ("VCALENDAR", "VADDRESSBOOK")

_SCHEME_NAMES = {
    "argon2": "argon2",
    "bcrypt": "bcrypt",
    "sha512_crypt": "sha512-crypt",
    "sha256_crypt": "sha256-crypt",
    "apr_md5_crypt": "apr1 (MD5)",
    "md5_crypt": "md5-crypt",
}
_HTPASSWD_ENCRYPTIONS = ("plain", "md5", "sha256", "sha512", "bcrypt", "argon2", "autodetect")


class MigrationError(CalserverError):
    """The source cannot be migrated at all (a missing folder, an unreadable config)."""


# --- the source ----------------------------------------------------------------------


@dataclass(frozen=True)
class RadicaleSource:
    """Where a Radicale installation keeps its data, as its configuration says."""

    collection_root: Path
    htpasswd: Path | None = None
    encryption: str = "autodetect"
    encoding: str = "utf-8"
    #: Radicale's ``[group] group_collections_folder``: collections of groups, not a user.
    group_folder: str = ""


def _radicale_default(section: str, option: str) -> Any:
    spec = radicale_config.DEFAULT_CONFIG_SCHEMA[section][option]
    return spec["type"](spec["value"])


def read_radicale_config(path: Path) -> RadicaleSource:
    """The storage folder and htpasswd file of a Radicale config file (Radicale's own
    defaults and path conversion for the options it leaves out)."""
    parser = RawConfigParser()
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, UnicodeDecodeError, ConfigParserError) as exc:
        raise MigrationError(f"cannot read the Radicale config {path}: {exc}") from exc

    def option(section: str, name: str) -> Any:
        if parser.has_option(section, name):
            spec = radicale_config.DEFAULT_CONFIG_SCHEMA[section][name]
            try:
                return spec["type"](parser.get(section, name))
            except ValueError as exc:
                raise MigrationError(f"{path}: [{section}] {name}: {exc}") from exc
        return _radicale_default(section, name)

    storage_type = str(option("storage", "type"))
    if storage_type not in ("multifilesystem", "multifilesystem_nolock"):
        raise MigrationError(
            f"{path}: [storage] type = {storage_type}: only Radicale's file storage "
            "(multifilesystem) can be migrated"
        )
    folder = Path(option("storage", "filesystem_folder"))
    htpasswd: Path | None = None
    encryption = "autodetect"
    if str(option("auth", "type")) == "htpasswd":
        htpasswd = Path(option("auth", "htpasswd_filename"))
        encryption = str(option("auth", "htpasswd_encryption"))
        if encryption not in _HTPASSWD_ENCRYPTIONS:
            raise MigrationError(f"{path}: unsupported htpasswd_encryption {encryption!r}")
    root = folder / "collection-root"
    if not root.is_dir():
        raise MigrationError(f"{path}: no Radicale storage at {folder} (no collection-root)")
    return RadicaleSource(
        collection_root=root,
        htpasswd=htpasswd,
        encryption=encryption,
        encoding=str(option("encoding", "stock")),
        group_folder=str(option("group", "group_collections_folder")),
    )


def locate(source: str) -> RadicaleSource:
    """A Radicale config file, a storage folder (holding ``collection-root``) or the
    ``collection-root`` folder itself."""
    path = Path(source).expanduser()
    if path.is_file():
        return read_radicale_config(path)
    if not path.is_dir():
        raise MigrationError(f"{source}: no such file or folder")
    group_folder = str(_radicale_default("group", "group_collections_folder"))
    if (path / "collection-root").is_dir():
        return RadicaleSource(path / "collection-root", group_folder=group_folder)
    if path.name == "collection-root" or any(_entries(path, folders=True)):
        return RadicaleSource(path, group_folder=group_folder)
    raise MigrationError(f"{source}: not a Radicale storage (no collection-root, no collections)")


def _entries(folder: Path, folders: bool) -> Iterator[str]:
    """Names in ``folder`` that Radicale treats as collections (``folders``) or items,
    in a stable order."""
    with os.scandir(folder) as scan:
        names = sorted(
            entry.name for entry in scan if (entry.is_dir() if folders else entry.is_file())
        )
    for name in names:
        if pathutils.is_safe_filesystem_path_component(name):
            yield name


def _is_utf8(name: str) -> bool:
    """False for a file name that is not UTF-8 (Python holds it with surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- users ---------------------------------------------------------------------------


def _is_user_name(name: str) -> bool:
    try:
        users.validate_name(name)
    except InvalidInput:
        return False
    return _is_utf8(name)


@dataclass(frozen=True)
class Account:
    name: str
    #: What calserver stores; "" when the entry gives no usable password.
    password_hash: str
    #: How the hash came about, for the report.
    origin: str


def _crypt_scheme(digest: str) -> str | None:
    """The passlib scheme of a complete crypt-style hash, None for anything else."""
    scheme = password_context.identify(digest)
    if scheme is None:
        return None
    try:
        parsed = password_context.handler(scheme).from_string(digest)
    except ValueError:
        return None
    return scheme if parsed.checksum else None


def account_from_htpasswd(name: str, digest: str, encryption: str) -> Account:
    """The account of one htpasswd entry under Radicale's ``htpasswd_encryption``.

    ``plain`` files hold passwords; ``autodetect`` (Radicale's default) takes what is not
    a well-formed hash as a plain-text password, as Radicale does; the other methods
    hold hashes only, and a malformed one gives an account without a usable password.
    """
    if encryption == "plain":
        return Account(name, hash_password(digest), "plain-text password hashed")
    scheme = _crypt_scheme(digest.strip())
    if scheme is not None:
        kind = _SCHEME_NAMES.get(scheme, scheme)
        if scheme == "argon2":
            return Account(name, digest.strip(), "argon2 hash kept")
        return Account(name, digest.strip(), f"{kind} hash kept, argon2 from the next login")
    if encryption == "autodetect":
        return Account(name, hash_password(digest), "plain-text password hashed")
    return Account(name, "", f"no usable password (not a {encryption} hash)")


def read_htpasswd(path: Path, encryption: str, encoding: str) -> tuple[list[Account], list[str]]:
    """The accounts of an htpasswd file, and a report line per entry left out."""
    accounts: dict[str, Account] = {}
    problems: list[str] = []
    try:
        with open(path, encoding=encoding) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrationError(f"cannot read the htpasswd file {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, digest = line.partition(":")
        if not sep or not name or not digest:
            problems.append(f"htpasswd {path.name} line {number}: not NAME:PASSWORD, skipped")
        elif name in accounts:
            problems.append(
                f"htpasswd {path.name} line {number}: {name} again, skipped "
                "(the first entry counts, as in Radicale)"
            )
        else:
            accounts[name] = account_from_htpasswd(name, digest, encryption)
    return list(accounts.values()), problems


# --- items ---------------------------------------------------------------------------


def read_item(
    text: str, tag: str, collection_path: str, max_occurrences: int
) -> radicale_item.Item:
    """One item file, checked as Radicale checks it when it reads the file."""
    vobject_items = radicale_item.read_components(text)
    radicale_item.check_and_sanitize_items(
        vobject_items, max_vevent_rrule_occurrence=max_occurrences, tag=tag
    )
    item = radicale_item.Item(collection_path=collection_path, vobject_item=vobject_items[0])
    item.prepare()
    return item


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text if len(text) <= 200 else text[:197] + "..."


# --- the migration -------------------------------------------------------------------


@dataclass
class _Tally:
    users_created: int = 0
    users_without_password: int = 0
    users_kept: int = 0
    collections_created: int = 0
    collections_skipped: int = 0
    items: int = 0
    items_skipped: int = 0


@dataclass
class _Folder:
    """A Radicale collection: its path, folder and properties (None: unreadable)."""

    path: str
    folder: Path
    props: dict[str, str] | None
    problem: str = ""
    item_files: list[str] = field(default_factory=list)


class _Migration:
    def __init__(self, storage: Storage, source: RadicaleSource, dry_run: bool) -> None:
        self.storage = storage
        self.engine = storage.engine
        self.source = source
        self.dry_run = dry_run
        self.max_occurrences = int(
            storage.configuration.get("server", "max_vevent_rrule_occurrence")
        )
        self.max_bytes = int(storage.configuration.get("server", "max_content_length"))
        self.lines: list[str] = []
        self.tally = _Tally()

    def done(self, verb: str) -> str:
        return f"would be {verb}" if self.dry_run else verb

    def say(self, line: str) -> None:
        self.lines.append(line)

    # --- the whole run ---------------------------------------------------------------

    def run(self) -> list[str]:
        src = self.source
        if self.dry_run:
            self.say("dry run: nothing is written")
        self.say(f"source: {src.collection_root}")
        accounts: dict[str, Account] = {}
        if src.htpasswd is not None:
            found, problems = read_htpasswd(src.htpasswd, src.encryption, src.encoding)
            accounts = {a.name: a for a in found}
            self.say(f"users: {src.htpasswd} ({src.encryption}, {len(accounts)} entries)")
            self.lines.extend(problems)
        else:
            self.say("users: no htpasswd file (pass Radicale's config file to bring passwords)")
        try:
            top = list(_entries(src.collection_root, folders=True))
        except OSError as exc:
            raise MigrationError(f"cannot read {src.collection_root}: {exc}") from exc
        principals = [
            name
            for name in top
            if name in accounts or (name != src.group_folder and not self._props(name).get("tag"))
        ]
        skipped_users = self._users(accounts, principals)
        for name in top:
            if name in skipped_users:
                self.say(f"collection {name}: skipped with its user")
            elif name == src.group_folder and name not in accounts:
                self.say(
                    f"collection {name}: skipped, Radicale's group collections "
                    "([group] group_collections_folder) are not migrated"
                )
            else:
                self._tree(name, src.collection_root / name, set())
        self._summary()
        return self.lines

    def _props(self, path: str) -> dict[str, str]:
        try:
            return self._read_props(self.source.collection_root / path)
        except ValueError:
            return {}

    def _read_props(self, folder: Path) -> dict[str, str]:
        props_path = folder / ".Radicale.props"
        try:
            with open(props_path, encoding=self.source.encoding) as f:
                props = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read .Radicale.props: {_reason(exc)}") from exc
        if not isinstance(props, dict):
            raise ValueError(".Radicale.props is not a JSON object")
        return dict(radicale_item.check_and_sanitize_props(props))

    # --- users -----------------------------------------------------------------------

    def _users(self, accounts: dict[str, Account], principals: list[str]) -> set[str]:
        """Create the accounts; returns the principals skipped with their user."""
        skipped: set[str] = set()
        for name in sorted(set(accounts) | set(principals)):
            account = accounts.get(name) or Account(
                name, "", "no htpasswd entry, only a Radicale folder"
            )
            if not _is_user_name(name):
                self.say(f"user {name!r}: skipped, not a valid calserver user name")
                skipped.add(name)
                continue
            if users.get(self.engine, name) is not None:
                self.tally.users_kept += 1
                self.say(f"user {name}: exists in calserver, kept as it is (password unchanged)")
                continue
            if not self.dry_run:
                users.add_with_hash(self.engine, name, account.password_hash)
            self.tally.users_created += 1
            if account.password_hash:
                self.say(f"user {name}: {self.done('created')}, {account.origin}")
            else:
                self.tally.users_without_password += 1
                self.say(
                    f"user {name}: {self.done('created')} WITHOUT a password "
                    f"({account.origin}): set one with 'calserver user passwd {name}'"
                )
        return skipped

    # --- collections -----------------------------------------------------------------

    def _tree(self, path: str, folder: Path, seen: set[str]) -> None:
        """The collection at ``path`` and, after it, every collection below it."""
        if not _is_utf8(path):
            self.tally.collections_skipped += 1
            self.say(f"collection {path!r}: skipped with what it holds, the name is not UTF-8")
            return
        why = urls.reserved(path.rpartition("/")[2]) if path.count("/") == 1 else None
        if why is not None:  # a calendar CalDAV's MKCALENDAR would refuse
            self.tally.collections_skipped += 1
            self.say(f"collection {path}: skipped with what it holds, the name is reserved: {why}")
            return
        real = os.path.realpath(folder)
        if real in seen:
            self.say(f"collection {path}: skipped, a symbolic link loop")
            return
        seen = seen | {real}
        try:
            props: dict[str, str] | None = self._read_props(folder)
            problem = ""
        except ValueError as exc:
            props, problem = None, str(exc)
        try:
            files = list(_entries(folder, folders=False))
            children = list(_entries(folder, folders=True))
        except OSError as exc:
            self.tally.collections_skipped += 1
            self.say(f"collection {path}: skipped, cannot read the folder: {_reason(exc)}")
            return
        self._collection(_Folder(path, folder, props, problem, files))
        for child in children:
            self._tree(f"{path}/{child}", folder / child, seen)

    def _collection(self, src: _Folder) -> None:
        tag = (src.props or {}).get("tag", "")
        if src.props is None:
            self.tally.collections_skipped += 1
            self.tally.items_skipped += len(src.item_files)
            self.say(
                f"collection {src.path}: skipped, {src.problem}"
                + (f" ({len(src.item_files)} files not migrated)" if src.item_files else "")
            )
            return  # not even a plain placeholder: a run after a fix brings it in
        if tag not in ITEM_TAGS and src.item_files:
            self.tally.items_skipped += len(src.item_files)
            self.say(
                f"collection {src.path}: {len(src.item_files)} files skipped, "
                "a collection without a calendar or address book tag holds no items"
            )
        if self.storage.load_collection(src.path) is not None:
            if src.props:
                items = len(src.item_files) if tag in ITEM_TAGS else 0
                self.tally.collections_skipped += 1
                self.say(
                    f"collection {src.path}: exists in calserver, skipped (not overwritten"
                    + (f", {items} items not migrated)" if items else ")")
                )
            return
        if not src.props:  # a plain folder, such as a principal
            self._ensure(src.path)
            return
        self._write(src, tag)

    def _ensure(self, path: str) -> None:
        """The plain collection at ``path`` (and its parents), created where missing."""
        if not self.dry_run:
            self.storage.create_collection("/" + path + "/")

    def _rows(self, src: _Folder, tag: str, collection_id: int) -> Iterator[Any]:
        """The rows of the valid items of ``src``; every other one is reported."""
        if tag not in ITEM_TAGS:
            return
        uids: dict[str, str] = {}
        for href in src.item_files:
            where = f"item {src.path}/{href}"
            if not _is_utf8(href):
                self._skip_item(f"item {src.path}/{href!r}", "the file name is not UTF-8")
                continue
            try:
                text = (src.folder / href).read_bytes().decode(self.source.encoding)
            except (OSError, UnicodeDecodeError) as exc:
                self._skip_item(where, f"cannot read it: {_reason(exc)}")
                continue
            problem = icsfile.resource_refusal(text, self.max_bytes)
            if problem is not None:  # what a PUT of it would be refused for
                self._skip_item(where, f"not valid: {problem}")
                continue
            try:
                item = read_item(text, tag, src.path, self.max_occurrences)
                row = item_row(self.storage, collection_id, href, item)
            except Exception as exc:  # vobject and dateutil raise many kinds on bad data
                self._skip_item(where, f"not valid: {_reason(exc)}")
                continue
            uid = item.uid or ""
            if uid and uid in uids:
                self._skip_item(where, f"its UID {uid!r} is used by {uids[uid]} already")
                continue
            if uid:
                uids[uid] = href
            yield row

    def _skip_item(self, where: str, why: str) -> None:
        self.tally.items_skipped += 1
        self.say(f"{where}: skipped, {why}")

    def _write(self, src: _Folder, tag: str) -> None:
        """Create the collection with its items, or report what would be created."""
        assert src.props is not None
        what = tag or "plain collection with properties"
        count: int | None
        if self.dry_run:
            count = sum(1 for _ in self._rows(src, tag, 0))
        else:
            try:
                count = self._write_aside(src, tag)
            except SQLAlchemyError as exc:
                raise MigrationError(
                    f"the database failed while writing {src.path} ({_reason(exc)}); "
                    "what was migrated before stays: run the migration again to continue"
                ) from exc
        if count is None:
            self.tally.collections_skipped += 1
            self.say(f"collection {src.path}: exists in calserver, skipped (not overwritten)")
            return
        self.tally.collections_created += 1
        self.tally.items += count
        noun = "item" if count == 1 else "items"
        self.say(f"collection {src.path}: {self.done('created')} ({what}, {count} {noun})")

    def _write_aside(self, src: _Folder, tag: str) -> int | None:
        """Fill a hidden staging collection in batches, then give it its path; None when
        the path was taken meanwhile (the staging collection is dropped)."""
        assert src.props is not None
        props_json = json.dumps(dict(src.props), sort_keys=True, ensure_ascii=False)
        with db.write_connection(self.engine) as conn, conn.begin():
            staging_id = insert_collection(
                conn, staging.new_path("migrate"), STAGING, tag, props_json
            )
        placed = False
        try:
            count = 0
            rows = self._rows(src, tag, staging_id)
            while batch := list(islice(rows, BATCH)):
                with db.write_connection(self.engine) as conn, conn.begin():
                    insert_items(conn, staging_id, batch)
                count += len(batch)
            placed = self._place(staging_id, src.path)
        finally:
            if not placed:
                with db.write_connection(self.engine) as conn, conn.begin():
                    conn.execute(delete(collections).where(collections.c.id == staging_id))
        return count if placed else None

    def _place(self, staging_id: int, path: str) -> bool:
        """Give the staging collection its path, unless something has taken it."""
        parent = path.rpartition("/")[0]
        if parent:
            self._ensure(parent)
        with db.write_connection(self.engine) as conn, conn.begin():
            db.advisory_lock(conn, lock_name("/" + path + "/"))
            taken = conn.execute(select(collections.c.id).where(collections.c.path == path)).first()
            if taken is not None:
                return False
            # A new collection has no history: its first sync token is the oldest valid.
            conn.execute(
                update(collections)
                .where(collections.c.id == staging_id)
                .values(path=path, parent=parent, revision=1, min_revision=1, modified=time.time())
            )
        return True

    def _summary(self) -> None:
        t = self.tally
        self.say(
            f"summary: {t.users_created} users {self.done('created')}"
            f" ({t.users_without_password} without a password), {t.users_kept} kept; "
            f"{t.collections_created} collections {self.done('created')}, "
            f"{t.collections_skipped} skipped; {t.items} items {self.done('migrated')}, "
            f"{t.items_skipped} skipped"
        )
        if self.dry_run:
            self.say("dry run: nothing was written")


def migrate(storage: Storage, source: str, dry_run: bool = False) -> list[str]:
    """Bring the Radicale storage (and users) at ``source`` into ``storage``; returns the
    report, one line per user, collection and problem, and a summary."""
    return _Migration(storage, locate(source), dry_run).run()
