"""Calendars: create, list, delete, import and export (the CLI and the HTTP API use this)."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import multiprocessing
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import vobject
from radicale import item as radicale_item
from sqlalchemy import bindparam, delete, func, select, update

from calserver import db, staging
from calserver.accounts.users import validate_name
from calserver.db.models import MAILBOXES, STAGING, collections, instances, items
from calserver.errors import Conflict, InvalidInput, NotFound
from calserver.ical import fastrow, icsfile, vobjectzones
from calserver.ical.icsfile import needs_sanitising
from calserver.ical.timeindex import index_and_range, mixed_times
from calserver.sharing.manage import get_group
from calserver.sharing.redact import item_class
from calserver.storage import Storage
from calserver.storage.rows import (
    Change,
    bump_revision,
    check_fits,
    insert_collection,
    insert_items,
    item_row,
    log_changes,
    safe_href_for,
    shown,
)

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")
BATCH = 1000
PARALLEL_CHUNK = 250
PARALLEL_THRESHOLD = 2000
#: The longest UID a row holds (``items.uid``).
UID_LENGTH = int(getattr(items.c.uid.type, "length", 0) or 0)


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
    #: One line per item left out (``skip_invalid``): its UID and why.
    skipped: tuple[str, ...] = ()


#: Most refused items an import names before it counts the rest.
REPORTED_PROBLEMS = 50


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


def _one_walk_row(
    settings: IndexSettings, collection_path: str, resource: icsfile.Resource
) -> tuple[dict[str, Any], list[tuple[int, int]]] | None:
    """The row of a resource that is not a plain event (a series, a task), computed as
    :func:`_prepare` and ``prepare_row`` do but with the IANA zones of its VTIMEZONEs
    read through ``zoneinfo`` (where they agree, ``fastrow.iana_skeleton``) and one walk
    over its instances for both the index and the enclosing time range; None where
    anything differs from the plain case (the caller takes the general path, which
    also words any refusal)."""
    found = fastrow.iana_skeleton(resource.skeleton)
    if found is None:
        return None
    text, zones = found
    try:
        with fastrow.iana_registry(zones):
            skeleton = vobject.readOne(text)
        stored = resource.text
        if needs_sanitising(skeleton):
            # Radicale rewrites the data: the text is stored as _prepare stores it
            full = vobject.readOne(resource.text)
            _check(full, settings.max_occurrences)
            stored = radicale_item.Item(
                collection_path=collection_path, vobject_item=full
            ).serialize()
        _check(skeleton, settings.max_occurrences)  # sanitised alike
        if mixed_times(skeleton) is not None:
            return None
        component = radicale_item.find_tag(skeleton)
        index, time_range = index_and_range(
            skeleton,
            component,
            settings.horizon,
            settings.index_max_instances,
            fastrow.instant_check(zones),
        )
        item = radicale_item.Item(
            collection_path=collection_path,
            text=stored,
            vobject_item=skeleton,
            component_name=component,
            time_range=time_range,
        )
        item.prepare()
    except Exception:  # vobject raises many kinds on bad data: the general path words it
        return None
    if icsfile.CONTROL_CHARACTERS.search(stored) or len(item.uid) > UID_LENGTH:
        return None
    row = {
        "klass": item_class(stored),
        "uid": item.uid or "",
        "etag": item.etag,
        "name": item.name,
        "component": component,
        "start_ts": time_range[0],
        "end_ts": time_range[1],
        "indexed_until": index.indexed_until,
        "text": stored,
    }
    return row, list(index.spans)


def _check(vobject_item: Any, max_occurrences: int) -> None:
    radicale_item.check_and_sanitize_items(
        [vobject_item],
        max_vevent_rrule_occurrence=max_occurrences,
        is_collection=False,
        tag="VCALENDAR",
    )


def import_file(
    storage: Storage,
    path: str,
    text: str,
    max_occurrences: int = 10000,
    max_bytes: int = 0,
    skip_invalid: bool = False,
) -> ImportResult:
    """Add the events of ``text`` to the calendar; an event whose UID exists replaces it.

    Each event passes what a PUT of it would pass (``icsfile.resource_refusal``, at most
    ``max_bytes`` like a PUT body, Radicale's checks, the time index's). All or nothing:
    an invalid event refuses the whole import with every refused event named, unless
    ``skip_invalid`` leaves those out (and lists them in the result). Without holding
    the write lock for the whole import: the events are validated and written aside
    into a hidden staging collection in batches, then moved into the calendar in one
    short transaction. Stopped by an exception (a signal turned into one by the CLI),
    it leaves neither the staging collection nor a parsing worker behind.
    """
    target = _calendar(storage, path)
    try:
        resources = list(icsfile.split(text))
    except icsfile.IcsError as exc:
        raise InvalidInput(str(exc)) from exc
    engine = storage.engine
    with db.write_connection(engine) as conn, conn.begin():
        staging_id = insert_collection(conn, staging.new_path("import"), STAGING, "VCALENDAR")
    try:
        batch: list[Any] = []
        problems: list[str] = []
        supported = target.get_meta("C:supported-calendar-component-set") or ""
        settings = IndexSettings(
            storage.index_horizon(),
            storage.index_max_instances,
            max_occurrences,
            max_bytes,
            frozenset(name.strip().upper() for name in supported.split(",") if name.strip()),
        )
        for rows, refused in _prepared_rows(settings, target.path, staging_id, resources):
            problems.extend(refused)
            if problems and not skip_invalid:
                continue  # validate the rest, to name every refused event at once
            batch.extend(rows)
            if len(batch) >= BATCH:
                _write_batch(engine, staging_id, batch)
                batch = []
        if problems and not skip_invalid:
            raise InvalidInput(_refused(problems, len(resources)))
        _write_batch(engine, staging_id, batch)
        result = _swap_in(storage, staging_id, target.id)
        return dataclasses.replace(result, skipped=tuple(problems))
    finally:
        with db.write_connection(engine) as conn, conn.begin():
            conn.execute(delete(collections).where(collections.c.id == staging_id))


def _refused(problems: list[str], total: int) -> str:
    named = problems[:REPORTED_PROBLEMS]
    more = len(problems) - len(named)
    return "\n".join(
        [
            f"{len(problems)} of {total} items refused, nothing imported "
            "(--skip-invalid imports the others):",
            *("  " + problem for problem in named),
            *([f"  ... and {more} more"] if more else []),
        ]
    )


@dataclass(frozen=True)
class IndexSettings:
    """What ``item_row`` needs of the storage, and the limits of a PUT (``[server]
    max_vevent_rrule_occurrence``, ``max_content_length``), small enough to send to a
    worker."""

    horizon: int
    index_max_instances: int
    max_occurrences: int = 10000
    max_bytes: int = 0
    #: The calendar's supported-calendar-component-set (empty: any).
    components: frozenset[str] = frozenset()

    def index_horizon(self) -> int:
        return self.horizon


Rows = list[tuple[dict[str, Any], list[tuple[int, int]]]]


def _rows_of(job: tuple[IndexSettings, str, int, list[icsfile.Resource]]) -> tuple[Rows, list[str]]:
    """Validate a chunk of resources and compute their rows (runs in a worker); the
    rows of the valid ones, and a line per refused one."""
    settings, collection_path, staging_id, chunk = job
    rows: Rows = []
    problems: list[str] = []
    for resource in chunk:
        with vobjectzones.scope():  # its TZIDs name its own VTIMEZONEs
            _add_row(settings, collection_path, staging_id, resource, rows, problems)
    return rows, problems


def _add_row(
    settings: IndexSettings,
    collection_path: str,
    staging_id: int,
    resource: icsfile.Resource,
    rows: Rows,
    problems: list[str],
) -> None:
    """Append the row of one resource to ``rows``, or why it is refused to ``problems``."""
    problem = icsfile.resource_refusal(resource.text, settings.max_bytes)
    outside = set()
    if problem is None and settings.components:
        outside = icsfile.component_names(resource.text) - settings.components
    if outside:  # RFC 4791 5.3.2.1, as a PUT is refused (calserver.dav.application, 403)
        problem = (
            f"{', '.join(sorted(outside))} is not in the calendar's "
            f"supported-calendar-component-set ({', '.join(sorted(settings.components))})"
        )
    if problem is not None:
        problems.append(f"event {resource.uid!r}: {problem}")
        return
    fast = fastrow.plain_event_row(
        resource.text, resource.skeleton, settings.horizon, settings.index_max_instances
    )
    try:
        if fast is not None and len(fast[0]["uid"]) <= UID_LENGTH:
            row, spans = fast
            href = safe_href_for(row["uid"], set())
            check_fits(items.c.href, href, "the resource name")
            row = {"klass": item_class(resource.text), **row}
            row.update(collection_id=staging_id, href=href, modified=time.time())
            rows.append((row, spans))
            return
        prepared = _one_walk_row(settings, collection_path, resource)
        if prepared is not None:
            href = safe_href_for(prepared[0]["uid"], set())
            check_fits(items.c.href, href, "the resource name")
            prepared[0].update(collection_id=staging_id, href=href, modified=time.time())
            rows.append(prepared)
            return
        item = _prepare(settings, collection_path, resource, settings.max_occurrences)
        rows.append(item_row(settings, staging_id, safe_href_for(item.uid, set()), item))
    except InvalidInput as exc:
        problems.append(str(exc))
    except ValueError as exc:
        problems.append(f"event {resource.uid!r}: {exc}")


def _prepared_rows(
    settings: IndexSettings,
    collection_path: str,
    staging_id: int,
    resources: list[icsfile.Resource],
) -> Iterator[tuple[Rows, list[str]]]:
    """Rows and refusals of every resource, in order. Parsing is the cost of an
    import; a large one is spread over the machine's cores, in worker processes that
    end with the import: when the caller stops iterating (an exception, a signal turned
    into one), the pool is terminated, and a worker whose parent is killed outright
    gets SIGKILL from the kernel (Linux's parent-death signal)."""
    jobs = [
        (settings, collection_path, staging_id, resources[i : i + PARALLEL_CHUNK])
        for i in range(0, len(resources), PARALLEL_CHUNK)
    ]
    workers = min(os.cpu_count() or 1, len(jobs))
    if workers < 2 or len(resources) < PARALLEL_THRESHOLD:
        for job in jobs:
            yield _rows_of(job)
        return
    _warm_zones(resources)  # once here rather than in every worker
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    # no signal handler may run while the workers are forked: an exception it raises in
    # an at-fork hook is printed and lost, and the import would go on
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        pool = context.Pool(workers, initializer=_worker_start, initargs=(os.getpid(),))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    with pool:
        yield from pool.imap(_rows_of, jobs)
    # leaving the block (normally or not) terminates the workers


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _warm_zones(resources: list[icsfile.Resource]) -> None:
    """Check each distinct set of VTIMEZONEs against the IANA zones (``fastrow``'s
    memo) before the workers are forked, which inherit the memo."""
    seen: set[str] = set()
    for resource in resources:
        head, found, _ = resource.skeleton.rpartition("END:VTIMEZONE")
        if found and head not in seen:
            seen.add(head)
            fastrow.iana_skeleton(head + found)


def _worker_start(parent: int) -> None:
    """A parsing worker: the parent alone answers Ctrl-C and SIGTERM (it terminates the
    pool), and the worker dies with its parent even when that is killed outright."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # blocked by the fork
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


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
