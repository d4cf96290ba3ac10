"""Radicale storage plugin on SQLAlchemy (``[storage] type = calserver.storage``).

Implements Radicale 3.9's whole storage contract (``radicale.storage.BaseStorage`` and
``BaseCollection``) over the tables of ``calserver.db.models``. Everything the file
storage does by scanning (time-range pre-filter, UID check, ctag, sync, Last-Modified,
multiget) is an index lookup or a counter here. One transaction per ``acquire_lock``:
readers see one snapshot; writers lock only the collection they change (PostgreSQL
advisory lock; SQLite has one writer at a time, and WAL keeps readers going).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager as ContextManager
from typing import Any

from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import pathutils, types
from radicale import storage as radicale_storage
from radicale.log import logger
from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from calserver import db
from calserver.check import check_storage
from calserver.db import models
from calserver.db.models import calendar_views, changes, collections, instances, items, users
from calserver.ical.timeindex import SCAN_LIMIT, TIMESTAMP_MAX
from calserver.sharing import levels
from calserver.sharing.levels import Level
from calserver.storage.base import View
from calserver.storage.collection import Collection, CollectionState
from calserver.storage.context import (
    RequestScope,
    current_scope,
    forget_collections,
    opened,
    read_connection,
    write_scope,
)
from calserver.storage.hooks import WriteHooks
from calserver.storage.meta import PropertyLimits, check_property_limits
from calserver.storage.rows import (
    Change,
    bump_revision,
    check_fits,
    delete_collections,
    ensure_collection_row,
    insert_items,
    item_row,
    log_changes,
    safe_href_for,
    shown,
)
from calserver.storage.vcards import is_card

__all__ = ["Collection", "Storage"]

IMPORT_BATCH = 1000


#: A collection by its path (built once: building a statement costs more than running it).
_LOAD = select(collections).where(collections.c.path == bindparam("path"))


def lock_name(path: str) -> str:
    """The unit a writer locks: the calendar (first two path segments)."""
    return "/".join(pathutils.strip_path(path).split("/")[:2])


class Storage(radicale_storage.BaseStorage):
    # Names live in a database column, not on a file system: every name Radicale's
    # validation lets through can be stored, and no two names collide.
    _is_collision_free = True
    _supports_unicode = True
    _supports_trailing_whitespace = True
    _supports_problematic_chars = True

    def __init__(self, configuration: radicale_config.Configuration) -> None:
        super().__init__(configuration)
        self.engine = db.engine_for(configuration)
        self._horizon_days = configuration.get("storage", "index_horizon_days")
        self.index_max_instances = configuration.get("storage", "index_max_instances")
        self.property_limits = PropertyLimits.from_configuration(configuration)
        #: Instances a query may walk per stored series (timeindex.cap_recurrences).
        self.scan_limit = max(SCAN_LIMIT, self.index_max_instances)
        self._max_sync_token_age = configuration.get("storage", "max_sync_token_age")
        self._hook_enabled = configuration.get("hook", "type") != "none"
        #: Who hears about the items written (calserver.storage.hooks); the composition
        #: root registers them (calserver.app.make_app).
        self.hooks = WriteHooks()

    def warm_up(self) -> None:
        """Compile the statements of the hot paths before the first request, so that
        the first request after a start is as fast as the tenth."""
        probe = Collection(self, CollectionState(-1, ".probe", "VCALENDAR", {}, 0, 0, "p", 0.0))
        list(probe._get_window("VEVENT", 0, TIMESTAMP_MAX - 1, True))
        list(probe.get_multi(["probe.ics"]))
        list(probe.get_all())
        list(probe.etag_listing())
        probe.has_uid("probe")
        self.load_collection(".probe")
        self._children(".probe")

    def index_horizon(self) -> int:
        return int(time.time()) + self._horizon_days * 86400

    # --- request scope -------------------------------------------------------------

    @types.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any, **kwargs: Any) -> Iterator[None]:
        if current_scope.get() is not None:  # nested: the outer scope decides
            yield
            return
        if mode == "w":
            forget_collections()  # what the write will change is read afresh under the lock
        conn = db.write_connection(self.engine) if mode == "w" else self._read_connection()
        try:
            with conn.begin():
                if mode == "w":
                    # in one order, so two MOVEs in opposite directions cannot deadlock
                    names = {lock_name(kwargs[k]) for k in ("path", "to_path") if kwargs.get(k)}
                    for name in sorted(names):
                        db.advisory_lock(conn, name)
                written = pathutils.strip_path(kwargs.get("path") or "/")
                token = current_scope.set(RequestScope(conn, mode, user, written))
                try:
                    yield
                finally:
                    current_scope.reset(token)
        finally:
            conn.close()

    def _read_connection(self) -> Connection:
        if self.engine.dialect.name == "postgresql":
            return self.engine.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        return self.engine.connect()

    def snapshot(self) -> Connection:
        """A read connection in a transaction of its own (one snapshot), for an answer
        streamed after its handler returned (``calserver.dav.streamed``); the caller
        closes it."""
        conn = self._read_connection()
        try:
            conn.begin()
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def within(self, conn: Connection, user: str) -> Iterator[None]:
        """Storage calls made in this block read through ``conn`` (a :meth:`snapshot`)."""
        token = current_scope.set(RequestScope(conn, "r", user, ""))
        try:
            yield
        finally:
            current_scope.reset(token)

    # --- discovery -----------------------------------------------------------------

    def _load(self, conn: Connection, path: str) -> CollectionState | None:
        row = conn.execute(_LOAD, {"path": path}).first()
        return CollectionState.from_row(row) if row is not None else None

    def load_collection(self, path: str) -> Collection | None:
        """The collection at its own path, as its owner sees it (management code)."""
        with read_connection(self.engine) as conn:
            state = self._load(conn, path)
        return Collection(self, state) if state is not None else None

    @staticmethod
    def viewer() -> str | None:
        """Who the current request is for; None outside a request (management code,
        which acts for the owner)."""
        scope = current_scope.get()
        return scope.user if scope is not None else None

    def open_collection(self, path: str, viewer: str | None) -> Collection | None:
        """The collection at ``path`` as ``viewer`` sees it: their own, a calendar of
        someone else's at the viewer's level, or an alias in the viewer's home. Read
        once per request where the request remembers what it opened
        (``storage.context.remembering_collections``)."""
        remembered = opened()
        if remembered is None:
            return self._open_collection(path, viewer)
        key = (path, viewer)
        if key not in remembered:
            found = self._open_collection(path, viewer)
            remembered[key] = (
                None if found is None else (dataclasses.replace(found._state), found.view)
            )
        entry = remembered[key]
        if entry is None:
            return None
        return Collection(self, dataclasses.replace(entry[0]), entry[1])

    def _open_collection(self, path: str, viewer: str | None) -> Collection | None:
        with read_connection(self.engine) as conn:
            state = self._load(conn, path)
            if state is not None:
                return self._bind(conn, state, viewer)
            home, _, name = path.partition("/")
            if viewer is None or home != viewer or not name or "/" in name:
                return None
            resolved = levels.resolve(conn, viewer, path)
            if not resolved.alias or resolved.level < Level.BUSY:
                return None
            target = self._load(conn, resolved.target)
            if target is None:
                return None
            return self._view_of(conn, target, viewer, resolved.level, path)

    def _bind(self, conn: Connection, state: CollectionState, viewer: str | None) -> Collection:
        if viewer is None or not state.tag or state.path.partition("/")[0] == viewer:
            return Collection(self, state)
        level = levels.resolve(conn, viewer, state.path).level
        return self._view_of(conn, state, viewer, level, state.path)

    def _view_of(
        self, conn: Connection, state: CollectionState, viewer: str, level: Level, path: str
    ) -> Collection:
        assert state.id is not None
        own = conn.execute(
            select(calendar_views.c.props)
            .join(users, users.c.id == calendar_views.c.user_id)
            .where(users.c.name == viewer, calendar_views.c.collection_id == state.id)
        ).scalar()
        props = {**state.props, **json.loads(own or "{}")}
        view_state = dataclasses.replace(
            state, path=path, props={k: v for k, v in props.items() if v != ""}
        )
        view = View(viewer, level, state.path, path != state.path, state.id)
        return Collection(self, view_state, view)

    def capped(self, collection: Collection, level: Level) -> Collection:
        """``collection`` seen at no more than ``level``: feeds and public pages serve a
        reader's view even to the owner (private events never, confidential ones as
        busy blocks), and a busy view to a busy-only viewer."""
        view = collection.view
        return Collection(
            self,
            collection._state,
            View(
                view.viewer if view is not None else collection.owner,
                min(collection.level, level),
                view.target if view is not None else collection.path,
                view.alias if view is not None else False,
                collection.id,
            ),
        )

    def _children(self, path: str, viewer: str | None = None) -> list[Collection]:
        with read_connection(self.engine) as conn:
            rows = conn.execute(
                select(collections)
                .where(collections.c.parent == path, collections.c.path != "")
                .order_by(collections.c.path)
            ).all()
            children = [self._bind(conn, CollectionState.from_row(row), viewer) for row in rows]
            if viewer is not None and path == viewer:
                # calendars shared with the viewer appear in their home (RFC 4791 6.2.1)
                taken = {child.path for child in children}
                for shared in levels.shared_with(conn, viewer):
                    alias = f"{viewer}/{shared.alias}"
                    target = self._load(conn, shared.target)
                    if alias not in taken and target is not None:
                        children.append(self._view_of(conn, target, viewer, shared.level, alias))
        return children

    def home_calendars(self, viewer: str) -> list[Collection]:
        """The calendars of ``viewer``'s home as a Depth 1 PROPFIND of ``/VIEWER/`` lists
        them, each at the viewer's level: their own, then those shared with them, of
        their groups and added by them (aliases); not the scheduling mailboxes."""
        return [
            child
            for child in self._children(viewer, viewer)
            if child.tag == "VCALENDAR" and child.path.rpartition("/")[2] not in models.MAILBOXES
        ]

    def discover(
        self,
        path: str,
        depth: str = "0",
        child_context_manager: Callable[[str, str | None], ContextManager[None]] | None = None,
        user_groups: set[str] = set(),  # noqa: B006 - Radicale's signature
    ) -> Iterator[types.CollectionOrItem]:
        if child_context_manager is None:

            def child_context_manager(_path: str, _href: str | None) -> ContextManager[None]:
                return contextlib.nullcontext()

        sane_path = pathutils.strip_path(path)
        viewer = self.viewer()
        if not sane_path:
            collection: Collection | None = Collection(self, CollectionState.root())
        else:
            collection = self.open_collection(sane_path, viewer)
        if collection is None:
            parent_path, _, href = sane_path.rpartition("/")
            parent = self.open_collection(parent_path, viewer) if parent_path else None
            if parent is None or not parent.tag:
                return
            for _, item in parent.get_multi([href]):
                if item is not None:
                    yield item
            return
        yield collection
        if depth == "0":
            return
        if collection.tag:
            for item in collection.get_all():
                with child_context_manager(sane_path, item.href):
                    yield item
        for child in self._children(sane_path, viewer):
            with child_context_manager(child.path, None):
                yield child

    # --- collections ---------------------------------------------------------------

    def _ensure(self, conn: Connection, path: str) -> CollectionState:
        """The plain collection at ``path`` and its ancestors, created where missing."""
        state = self._load(conn, path)
        if state is not None:
            return state
        parent = path.rpartition("/")[0]
        if parent:
            self._ensure(conn, parent)
        ensure_collection_row(conn, path, parent)
        state = self._load(conn, path)
        assert state is not None
        return state

    def create_collection(
        self,
        href: str,
        items: Iterable[radicale_item.Item] | None = None,
        props: Mapping[str, str] | None = None,
    ) -> tuple[Collection, dict[str, radicale_item.Item], list[str]]:
        sane_path = pathutils.strip_path(href)
        if not sane_path:
            raise ValueError("cannot create the root collection")
        check_fits(collections.c.path, sane_path, "the collection path")
        with write_scope(self.engine) as conn:
            if not props:
                return Collection(self, self._ensure(conn, sane_path)), {}, []
            replaced: dict[str, radicale_item.Item] = {}
            existing = self._load(conn, sane_path)
            old_props = existing.props if existing is not None else {}
            check_property_limits(self.property_limits, old_props, props)
            if existing is None:
                state = self._ensure(conn, sane_path)
                old_revision = 0
            else:
                state = existing
                old_revision = existing.revision
                if self._hook_enabled:
                    replaced = {i.href: i for i in Collection(self, existing).get_all() if i.href}
                delete_collections(conn, sane_path, include_self=False)
                conn.execute(delete(models.items).where(models.items.c.collection_id == state.id))
                conn.execute(delete(changes).where(changes.c.collection_id == state.id))
            tag = props.get("tag", "")
            conn.execute(
                update(collections)
                .where(collections.c.id == state.id)
                .values(
                    tag=tag,
                    props=Collection(self, state)._props_json(props),
                    sync_key=secrets.token_hex(8),
                    revision=old_revision,
                    min_revision=old_revision + 1,
                )
            )
            assert state.id is not None
            revision = bump_revision(conn, state.id)
            new_hrefs: list[str] = []
            if items is not None and tag:
                new_hrefs = self._import_items(conn, state.id, items, revision)
            final = self._load(conn, sane_path)
        assert final is not None
        return Collection(self, final), replaced, new_hrefs

    def _import_items(
        self,
        conn: Connection,
        collection_id: int,
        new_items: Iterable[radicale_item.Item],
        revision: int,
    ) -> list[str]:
        taken: set[str] = set()
        batch: list[tuple[dict[str, Any], list[tuple[int, int]]]] = []
        hrefs: list[str] = []
        logged: list[Change] = []
        try:
            for item in new_items:
                suffix = ".vcf" if is_card(item) else ".ics"
                href = item.href or safe_href_for(item.uid, taken, suffix)
                taken.add(href)
                hrefs.append(href)
                batch.append(item_row(self, collection_id, href, item))
                logged.append(Change(href, None, shown(batch[-1][0])))
                if len(batch) >= IMPORT_BATCH:
                    insert_items(conn, collection_id, batch)
                    batch = []
            insert_items(conn, collection_id, batch)
        except IntegrityError as exc:
            raise ValueError("duplicate UID or href in the imported items") from exc
        log_changes(conn, collection_id, revision, logged)
        return hrefs

    def delete_collection(self, path: str) -> None:
        with write_scope(self.engine) as conn:
            delete_collections(conn, path)

    def move(
        self,
        item: radicale_item.Item,
        to_collection: radicale_storage.BaseCollection,
        to_href: str,
    ) -> None:
        source = item.collection
        if not isinstance(source, Collection) or not isinstance(to_collection, Collection):
            raise ValueError("cannot move between foreign collections")
        check_fits(items.c.href, to_href, "the resource name")
        src_id, dst_id = source.id, to_collection.id
        try:
            with write_scope(self.engine) as conn:
                source.check_write(conn, item.href or "")
                to_collection.check_write(conn, to_href)
                moved = conn.execute(
                    select(items.c.id, items.c.klass, items.c.component).where(
                        items.c.collection_id == src_id, items.c.href == item.href
                    )
                ).first()
                if moved is None:
                    raise radicale_storage.ComponentNotFoundError(item.href or "")
                item_id = moved.id
                overwritten = conn.execute(
                    delete(items)
                    .where(
                        items.c.collection_id == dst_id,
                        items.c.href == to_href,
                        items.c.id != item_id,
                    )
                    .returning(items.c.klass, items.c.component)
                ).first()
                conn.execute(
                    update(items)
                    .where(items.c.id == item_id)
                    .values(collection_id=dst_id, href=to_href, modified=time.time())
                )
                conn.execute(
                    update(instances)
                    .where(instances.c.item_id == item_id)
                    .values(collection_id=dst_id)
                )
                revision = bump_revision(conn, src_id)
                log_changes(conn, src_id, revision, [Change(item.href or "", shown(moved), None)])
                if dst_id != src_id:
                    revision = bump_revision(conn, dst_id)
                log_changes(
                    conn, dst_id, revision, [Change(to_href, shown(overwritten), shown(moved))]
                )
        except IntegrityError as exc:
            raise ValueError(f"UID {item.uid!r} already exists in the target") from exc

    def prune_changes(self) -> int:
        """Forget changes older than ``[storage] max_sync_token_age``; older tokens then
        get valid-sync-token errors. Returns the number of rows removed."""
        cutoff = time.time() - self._max_sync_token_age
        with write_scope(self.engine) as conn:
            rows = conn.execute(
                select(changes.c.collection_id, changes.c.revision).where(
                    changes.c.created < cutoff
                )
            ).all()
            latest: dict[int, int] = {}
            for cid, revision in rows:
                latest[cid] = max(latest.get(cid, 0), revision)
            for cid, revision in latest.items():
                conn.execute(
                    update(collections)
                    .where(collections.c.id == cid, collections.c.min_revision < revision)
                    .values(min_revision=revision)
                )
            result = conn.execute(delete(changes).where(changes.c.created < cutoff))
            return int(result.rowcount or 0)

    def verify(self) -> bool:
        problems = check_storage(self.engine)
        for problem in problems:
            logger.error("storage check: %s", problem)
        return not problems
