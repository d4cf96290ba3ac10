"""Calendars: create, list, delete, import and export (the CLI and the HTTP API use this)."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import vobject
from radicale import item as radicale_item
from sqlalchemy import bindparam, delete, func, select, update

from calserver import db, icsfile
from calserver.db.models import MAILBOXES, STAGING, collections, instances, items
from calserver.errors import Conflict, InvalidInput, NotFound
from calserver.storage import Storage
from calserver.storage.upload import (
    Change,
    bump_revision,
    insert_collection,
    insert_items,
    item_row,
    log_changes,
    safe_href_for,
    shown,
)
from calserver.users import validate_name

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")
BATCH = 1000
PARALLEL_CHUNK = 250
PARALLEL_THRESHOLD = 2000


@dataclass(frozen=True)
class CalendarInfo:
    path: str
    name: str
    color: str
    events: int


def parse_path(path: str) -> tuple[str, str]:
    """``USER/CAL`` -> (user, cal); ``@GROUP/CAL`` (a group calendar) -> ("@GROUP", cal)."""
    parts = path.strip("/").split("/")
    if len(parts) != 2:
        raise InvalidInput(f"expected USER/CAL or @GROUP/CAL, got {path!r}")
    if parts[0].startswith("@"):
        validate_name(parts[0][1:], "group name")
    else:
        validate_name(parts[0])
    validate_name(parts[1], "calendar name")
    return parts[0], parts[1]


def create(
    storage: Storage, path: str, name: str | None = None, color: str | None = None
) -> CalendarInfo:
    user, cal = parse_path(path)
    if color and not _COLOR.match(color):
        raise InvalidInput(f"invalid colour {color!r} (expected #RRGGBB)")
    if user.startswith("@"):
        from calserver.sharing.manage import get_group

        get_group(storage.engine, user)  # NotFound for an unknown group
    if storage.load_collection(f"{user}/{cal}") is not None:
        raise Conflict(f"{user}/{cal} exists already")
    props = {
        "tag": "VCALENDAR",
        "D:displayname": name or cal,
        "C:supported-calendar-component-set": "VEVENT,VTODO,VJOURNAL",
    }
    if color:
        props["ICAL:calendar-color"] = color
    storage.create_collection(f"/{user}/", props=None)
    storage.create_collection(f"/{user}/{cal}/", props=props)
    return CalendarInfo(f"{user}/{cal}", props["D:displayname"], color or "", 0)


def _calendar(storage: Storage, path: str) -> Any:
    user, cal = parse_path(path)
    collection = storage.load_collection(f"{user}/{cal}")
    if collection is None or collection.tag != "VCALENDAR":
        raise NotFound(f"no calendar {user}/{cal}")
    return collection


def list_calendars(storage: Storage, user: str) -> list[CalendarInfo]:
    with storage.engine.connect() as conn:
        rows = conn.execute(
            select(collections, func.count(items.c.id).label("events"))
            .outerjoin(items, items.c.collection_id == collections.c.id)
            .where(
                collections.c.parent == user,
                collections.c.tag == "VCALENDAR",
                # the schedule inbox is a calendar collection in storage only (RFC 6638 2.2)
                collections.c.path.notin_([f"{user}/{name}" for name in MAILBOXES]),
            )
            .group_by(collections.c.id)
            .order_by(collections.c.path)
        ).all()
    result = []
    for row in rows:
        props = json.loads(row.props)
        result.append(
            CalendarInfo(
                row.path,
                props.get("D:displayname", ""),
                props.get("ICAL:calendar-color", ""),
                row.events,
            )
        )
    return result


def delete_calendar(storage: Storage, path: str) -> None:
    _calendar(storage, path)
    storage.delete_collection("/".join(parse_path(path)))


def export(storage: Storage, path: str) -> str:
    return str(_calendar(storage, path).serialize())


@dataclass(frozen=True)
class ImportResult:
    created: int
    replaced: int


def needs_sanitising(vobject_item: Any) -> bool:
    """True where Radicale's sanitising rewrites the data (client quirks: DTEND with a
    zero DURATION, EXDATE/RDATE of another value type than DTSTART)."""
    for component in vobject_item.getChildren():
        contents = getattr(component, "contents", {})
        if ("dtend" in contents and "duration" in contents) or (
            "exdate" in contents or "rdate" in contents
        ):
            return True
    return False


def _prepare(
    storage: Any, collection_path: str, resource: icsfile.Resource, max_occurrences: int
) -> radicale_item.Item:
    """Validate one resource as Radicale's PUT does and compute its columns.

    Only the skeleton (time zones and time properties) is parsed; the stored text is the
    client's own, every property kept as it came. Where Radicale would rewrite the data,
    the whole resource is parsed and stored as Radicale stores a PUT.
    """
    try:
        skeleton = vobject.readOne(resource.skeleton)
        if needs_sanitising(skeleton):
            vobject_item = vobject.readOne(resource.text)
            radicale_item.check_and_sanitize_items(
                [vobject_item],
                max_vevent_rrule_occurrence=max_occurrences,
                is_collection=False,
                tag="VCALENDAR",
            )
            item = radicale_item.Item(collection_path=collection_path, vobject_item=vobject_item)
        else:
            radicale_item.check_and_sanitize_items(
                [skeleton],
                max_vevent_rrule_occurrence=max_occurrences,
                is_collection=False,
                tag="VCALENDAR",
            )
            item = radicale_item.Item(
                collection_path=collection_path, text=resource.text, vobject_item=skeleton
            )
        item.prepare()
    except Exception as exc:  # vobject raises many kinds on bad data
        raise InvalidInput(f"event {resource.uid!r}: {exc}") from exc
    return item


def import_file(
    storage: Storage, path: str, text: str, max_occurrences: int = 10000
) -> ImportResult:
    """Add the events of ``text`` to the calendar; an event whose UID exists replaces it.

    All or nothing, without holding the write lock for the whole import: the events are
    validated and written aside into a hidden staging collection in batches, then moved
    into the calendar in one short transaction.
    """
    target = _calendar(storage, path)
    try:
        resources = list(icsfile.split(text))
    except icsfile.IcsError as exc:
        raise InvalidInput(str(exc)) from exc
    engine = storage.engine
    staging_path = STAGING + "/import-" + secrets.token_hex(8)
    with db.write_connection(engine) as conn, conn.begin():
        staging_id = insert_collection(conn, staging_path, STAGING, "VCALENDAR")
    try:
        batch: list[Any] = []
        settings = IndexSettings(storage.index_horizon(), storage.index_max_instances)
        for rows in _prepared_rows(settings, target.path, staging_id, resources, max_occurrences):
            batch.extend(rows)
            if len(batch) >= BATCH:
                _write_batch(engine, staging_id, batch)
                batch = []
        _write_batch(engine, staging_id, batch)
        return _swap_in(storage, staging_id, target.id)
    finally:
        with db.write_connection(engine) as conn, conn.begin():
            conn.execute(delete(collections).where(collections.c.id == staging_id))


@dataclass(frozen=True)
class IndexSettings:
    """What ``item_row`` needs of the storage, small enough to send to a worker."""

    horizon: int
    index_max_instances: int

    def index_horizon(self) -> int:
        return self.horizon


def _rows_of(
    job: tuple[IndexSettings, str, int, list[icsfile.Resource], int],
) -> list[tuple[dict[str, Any], list[tuple[int, int]]]]:
    """Validate a chunk of resources and compute their rows (runs in a worker)."""
    settings, collection_path, staging_id, chunk, max_occurrences = job
    rows = []
    for resource in chunk:
        item = _prepare(settings, collection_path, resource, max_occurrences)
        try:
            rows.append(item_row(settings, staging_id, safe_href_for(item.uid, set()), item))
        except ValueError as exc:
            raise InvalidInput(f"event {resource.uid!r}: {exc}") from exc
    return rows


def _prepared_rows(
    settings: IndexSettings,
    collection_path: str,
    staging_id: int,
    resources: list[icsfile.Resource],
    max_occurrences: int,
) -> Iterator[list[tuple[dict[str, Any], list[tuple[int, int]]]]]:
    """Rows of every resource, in order. Parsing is the cost of an import; a large one
    is spread over the machine's cores."""
    jobs = [
        (settings, collection_path, staging_id, resources[i : i + PARALLEL_CHUNK], max_occurrences)
        for i in range(0, len(resources), PARALLEL_CHUNK)
    ]
    workers = min(os.cpu_count() or 1, len(jobs))
    if workers < 2 or len(resources) < PARALLEL_THRESHOLD:
        for job in jobs:
            yield _rows_of(job)
        return
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_rows_of, jobs)


def _write_batch(engine: Any, staging_id: int, batch: list[Any]) -> None:
    if batch:
        with db.write_connection(engine) as conn, conn.begin():
            insert_items(conn, staging_id, batch)


def _swap_in(storage: Storage, staging_id: int, target_id: int) -> ImportResult:
    with db.write_connection(storage.engine) as conn, conn.begin():
        db.advisory_lock(conn, "/".join(_path_of(conn, target_id).split("/")[:2]))
        staged_rows = conn.execute(
            select(items.c.id, items.c.uid, items.c.href, items.c.klass, items.c.component).where(
                items.c.collection_id == staging_id
            )
        ).all()
        staged = {row.uid: (row.id, row.href) for row in staged_rows}
        existing = conn.execute(
            select(items.c.id, items.c.uid, items.c.href, items.c.klass, items.c.component).where(
                items.c.collection_id == target_id
            )
        ).all()
        # who saw each href before: the replaced item's href is kept (see below)
        seen_before = {row.href: shown(row) for row in existing if row.uid in staged}
        seen_after = {row.id: shown(row) for row in staged_rows}
        by_href = {row.href: row for row in existing}
        replaced_ids = [row.id for row in existing if row.uid in staged]
        renames: list[dict[str, Any]] = []
        for row in existing:
            if row.uid in staged:  # keep the href clients know
                item_id, href = staged[row.uid]
                if href != row.href:
                    renames.append({"b_id": item_id, "b_href": row.href})
        taken = {row.href for row in existing if row.uid not in staged}
        for uid, (item_id, href) in staged.items():
            if href in taken and by_href[href].uid != uid:
                new_href = radicale_item.find_available_uid(lambda h: h in taken, ".ics")
                renames.append({"b_id": item_id, "b_href": new_href})
                taken.add(new_href)
        for start in range(0, len(replaced_ids), 500):
            conn.execute(delete(items).where(items.c.id.in_(replaced_ids[start : start + 500])))
        if renames:
            conn.execute(
                update(items)
                .where(items.c.id == bindparam("b_id"))
                .values(href=bindparam("b_href")),
                renames,
            )
        conn.execute(
            update(items).where(items.c.collection_id == staging_id).values(collection_id=target_id)
        )
        conn.execute(
            update(instances)
            .where(instances.c.collection_id == staging_id)
            .values(collection_id=target_id)
        )
        ids = [item_id for item_id, _ in staged.values()]
        revision = bump_revision(conn, target_id)
        log_changes(
            conn,
            target_id,
            revision,
            (
                Change(href, seen_before.get(href), seen_after[item_id])
                for item_id, href in _hrefs_of(conn, ids)
            ),
        )
    return ImportResult(created=len(staged) - len(replaced_ids), replaced=len(replaced_ids))


def _hrefs_of(conn: Any, ids: list[int]) -> list[tuple[int, str]]:
    hrefs: list[tuple[int, str]] = []
    for start in range(0, len(ids), 500):
        hrefs.extend(
            (row.id, row.href)
            for row in conn.execute(
                select(items.c.id, items.c.href).where(items.c.id.in_(ids[start : start + 500]))
            )
        )
    return hrefs


def _path_of(conn: Any, collection_id: int) -> str:
    return str(
        conn.execute(
            select(collections.c.path).where(collections.c.id == collection_id)
        ).scalar_one()
    )
