"""The pairs, what each saw of every item, their runs and conflicts, in the database
(``sync_pairs``, ``sync_items``, ``sync_runs``, ``sync_conflicts``; see
``calserver.db.models``). The queue is a claimed, leased job as the push worker's
(``calserver.push.subscriptions.claim``): a compare-and-set on ``claimed_until``, so
several workers never run one pair at once, and a worker that dies leaves a lease that
runs out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, delete, insert, select, update

from calserver.db import read_transaction, write_transaction
from calserver.db.models import collections, sync_conflicts, sync_items, sync_pairs, sync_runs
from calserver.errors import InvalidInput, NotFound
from calserver.remotesync.content import CONTENTS, DETAILS

DIRECTIONS = ("pull", "push", "both")
POLICIES = ("local", "remote", "newest")
AUTH_TYPES = ("basic", "oauth2")
#: Back-off after failed runs: this many seconds times 2**(attempts-1), at most MAX_BACKOFF.
BACKOFF = 60.0
MAX_BACKOFF = 6 * 3600.0
#: Runs kept per pair in the log.
KEPT_RUNS = 200


@dataclass
class Pair:
    id: int
    owner: str
    calendar: str  # OWNER/CAL
    collection_id: int
    remote_url: str
    direction: str
    pull_content: str
    push_content: str
    categories: list[str]
    policy: str
    auth_type: str
    username: str
    secret: str
    interval: float
    enabled: bool
    baseline: bool
    sync_token: str
    ctag: str
    dirty_since: float | None
    next_run: float
    attempts: int
    last_run: float | None
    last_status: str
    last_error: str
    created: float

    @property
    def pulls(self) -> bool:
        return self.direction in ("pull", "both")

    @property
    def pushes(self) -> bool:
        return self.direction in ("push", "both")

    def as_json(self) -> dict[str, Any]:
        """What a person may see of it (never the secret)."""
        return {
            "id": self.id,
            "owner": self.owner,
            "calendar": self.calendar,
            "url": self.remote_url,
            "direction": self.direction,
            "pull_content": self.pull_content,
            "push_content": self.push_content,
            "categories": self.categories,
            "policy": self.policy,
            "auth": self.auth_type,
            "username": self.username,
            "interval": self.interval,
            "enabled": self.enabled,
            "last_run": self.last_run,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "next_run": self.next_run,
        }


def _pair(row: Any) -> Pair:
    return Pair(
        id=row.id,
        owner=row.owner,
        calendar=row.path,
        collection_id=row.collection_id,
        remote_url=row.remote_url,
        direction=row.direction,
        pull_content=row.pull_content,
        push_content=row.push_content,
        categories=[c for c in (row.categories or "").split(",") if c],
        policy=row.policy,
        auth_type=row.auth_type,
        username=row.username,
        secret=row.secret,
        interval=row.interval,
        enabled=bool(row.enabled),
        baseline=bool(row.baseline),
        sync_token=row.sync_token or "",
        ctag=row.ctag or "",
        dirty_since=row.dirty_since,
        next_run=row.next_run,
        attempts=row.attempts,
        last_run=row.last_run,
        last_status=row.last_status or "",
        last_error=row.last_error or "",
        created=row.created,
    )


def _select() -> Any:
    return select(sync_pairs, collections.c.path).join(
        collections, collections.c.id == sync_pairs.c.collection_id
    )


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings a person may give, checked; InvalidInput names what is wrong."""
    out: dict[str, Any] = {}
    if "url" in settings:
        url = str(settings["url"]).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"url: not an http(s) URL: {url!r}")
        out["remote_url"] = url if url.endswith("/") else url + "/"
    for key, choices in (("direction", DIRECTIONS), ("policy", POLICIES)):
        if key in settings:
            if settings[key] not in choices:
                raise InvalidInput(f"{key}: one of {', '.join(choices)}, not {settings[key]!r}")
            out[key] = settings[key]
    for key in ("content", "pull_content", "push_content"):
        if key in settings and settings[key] not in CONTENTS:
            raise InvalidInput(f"{key}: one of {', '.join(CONTENTS)}, not {settings[key]!r}")
    if "content" in settings:
        out["pull_content"] = out["push_content"] = settings["content"]
    for key in ("pull_content", "push_content"):
        if key in settings:
            out[key] = settings[key]
    if "categories" in settings:
        values = settings["categories"]
        if isinstance(values, str):
            values = values.split(",")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidInput("categories: a list of category names")
        out["categories"] = ",".join(v.strip() for v in values if v.strip() and "," not in v)
    if "interval" in settings:
        try:
            interval = float(settings["interval"])
        except (TypeError, ValueError) as exc:
            raise InvalidInput("interval: a number of seconds") from exc
        if not 60 <= interval <= 7 * 86400:
            raise InvalidInput("interval: between 60 seconds and a week")
        out["interval"] = interval
    if "enabled" in settings:
        out["enabled"] = bool(settings["enabled"])
    return out


def create(
    engine: Engine,
    owner: str,
    collection_id: int,
    settings: dict[str, Any],
    auth_type: str,
    username: str,
    secret: str,
    interval: float,
    *,
    now: float | None = None,
) -> int:
    now = time.time() if now is None else now
    values = {
        "direction": "both",
        "pull_content": DETAILS,
        "push_content": DETAILS,
        "categories": "",
        "policy": "newest",
        "interval": interval,
        "enabled": True,
    }
    values.update(settings)
    if auth_type not in AUTH_TYPES:
        raise InvalidInput(f"auth: one of {', '.join(AUTH_TYPES)}")
    with write_transaction(engine) as conn:
        return int(
            conn.execute(
                insert(sync_pairs).values(
                    owner=owner,
                    collection_id=collection_id,
                    auth_type=auth_type,
                    username=username,
                    secret=secret,
                    baseline=False,
                    sync_token="",
                    ctag="",
                    dirty_since=None,
                    next_run=0.0,
                    claimed_until=0.0,
                    attempts=0,
                    last_status="",
                    last_error="",
                    created=now,
                    **values,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )


def get(engine: Engine, pair_id: int) -> Pair:
    with read_transaction(engine) as conn:
        row = conn.execute(_select().where(sync_pairs.c.id == pair_id)).first()
    if row is None:
        raise NotFound(f"no sync {pair_id}")
    return _pair(row)


def list_pairs(engine: Engine, owner: str | None = None) -> list[Pair]:
    query = _select().order_by(sync_pairs.c.id)
    if owner is not None:
        query = query.where(sync_pairs.c.owner == owner)
    with read_transaction(engine) as conn:
        return [_pair(row) for row in conn.execute(query)]


def change(engine: Engine, pair_id: int, values: dict[str, Any]) -> None:
    """New settings, for future changes only: the next run takes what both sides hold
    now as seen (``baseline``) when what is copied, or how, changed."""
    if not values:
        return
    shaping = {"remote_url", "direction", "pull_content", "push_content", "categories"}
    extra: dict[str, Any] = {"baseline": True} if shaping & set(values) else {}
    if "remote_url" in values:  # another calendar: nothing of the old one is known there
        extra.update(sync_token="", ctag="")
    with write_transaction(engine) as conn:
        conn.execute(update(sync_pairs).where(sync_pairs.c.id == pair_id).values(**values, **extra))
        if "remote_url" in values:
            conn.execute(delete(sync_items).where(sync_items.c.pair_id == pair_id))


def set_secret(engine: Engine, pair_id: int, secret: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(update(sync_pairs).where(sync_pairs.c.id == pair_id).values(secret=secret))


def remove(engine: Engine, pair_id: int) -> None:
    with write_transaction(engine) as conn:
        for table in (sync_conflicts, sync_runs, sync_items):
            conn.execute(delete(table).where(table.c.pair_id == pair_id))
        conn.execute(delete(sync_pairs).where(sync_pairs.c.id == pair_id))


# --- the queue ------------------------------------------------------------------------


def mark_dirty(conn: Connection, collection_id: int, now: float | None = None) -> None:
    """A local change of the calendar (the storage hook, in the write's transaction)."""
    now = time.time() if now is None else now
    conn.execute(
        update(sync_pairs)
        .where(sync_pairs.c.collection_id == collection_id, sync_pairs.c.dirty_since.is_(None))
        .values(dirty_since=now)
    )


def _due(now: float, debounce: float) -> Any:
    return (
        sync_pairs.c.enabled.is_(True)
        & (sync_pairs.c.claimed_until <= now)
        & (
            (sync_pairs.c.next_run <= now)
            | (
                sync_pairs.c.dirty_since.is_not(None)
                & (sync_pairs.c.dirty_since <= now - debounce)
                & (sync_pairs.c.attempts == 0)
            )
        )
    )


def claim(
    engine: Engine,
    lease: float,
    debounce: float,
    *,
    pair_id: int | None = None,
    now: float | None = None,
) -> Pair | None:
    """Take a due pair (or the pair ``pair_id``, due or not) for ``lease`` seconds."""
    now = time.time() if now is None else now
    if pair_id is not None:
        condition = (sync_pairs.c.id == pair_id) & (sync_pairs.c.claimed_until <= now)
    else:
        condition = _due(now, debounce)
    with read_transaction(engine) as conn:
        candidates = (
            conn.execute(
                select(sync_pairs.c.id).where(condition).order_by(sync_pairs.c.next_run).limit(20)
            )
            .scalars()
            .all()
        )
    for pid in candidates:
        with write_transaction(engine) as conn:
            taken = conn.execute(
                update(sync_pairs)
                .where((sync_pairs.c.id == pid) & condition)
                .values(claimed_until=now + lease)
            ).rowcount
        if taken == 1:
            return get(engine, pid)
    return None


def extend(engine: Engine, pair_id: int, lease: float) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            update(sync_pairs)
            .where(sync_pairs.c.id == pair_id)
            .values(claimed_until=time.time() + lease)
        )


def finish(
    engine: Engine,
    pair: Pair,
    ok: bool,
    error: str,
    *,
    sync_token: str | None = None,
    ctag: str | None = None,
    now: float | None = None,
) -> None:
    """Release the pair: the next run after its interval, or after the back-off."""
    now = time.time() if now is None else now
    values: dict[str, Any] = {"claimed_until": 0.0, "last_run": now}
    if ok:
        values.update(
            attempts=0,
            last_status="ok",
            last_error="",
            next_run=now + pair.interval,
            baseline=False,
        )
        if sync_token is not None:
            values["sync_token"] = sync_token
        if ctag is not None:
            values["ctag"] = ctag
    else:
        attempts = pair.attempts + 1
        values.update(
            attempts=attempts,
            last_status="failed",
            last_error=error[:2000],
            next_run=now + min(MAX_BACKOFF, BACKOFF * 2 ** (attempts - 1)),
        )
    with write_transaction(engine) as conn:
        conn.execute(update(sync_pairs).where(sync_pairs.c.id == pair.id).values(**values))
        if ok:  # changes made during the run are still pending
            conn.execute(
                update(sync_pairs)
                .where(
                    sync_pairs.c.id == pair.id,
                    sync_pairs.c.dirty_since.is_not(None),
                    sync_pairs.c.dirty_since <= (pair.dirty_since or 0.0),
                )
                .values(dirty_since=None)
            )


def clear_dirty(engine: Engine, pair: Pair, started: float) -> None:
    """Local changes up to ``started`` are taken by this run."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(sync_pairs)
            .where(
                sync_pairs.c.id == pair.id,
                sync_pairs.c.dirty_since.is_not(None),
                sync_pairs.c.dirty_since <= started,
            )
            .values(dirty_since=None)
        )


# --- item state -------------------------------------------------------------------


@dataclass
class ItemState:
    id: int
    local_href: str | None
    local_etag: str
    local_hash: str
    remote_href: str | None
    remote_etag: str
    remote_hash: str
    origin: str
    uid: str = ""


def item_states(engine: Engine, pair_id: int) -> list[ItemState]:
    with read_transaction(engine) as conn:
        rows = conn.execute(select(sync_items).where(sync_items.c.pair_id == pair_id)).all()
    return [
        ItemState(
            r.id,
            r.local_href,
            r.local_etag,
            r.local_hash,
            r.remote_href,
            r.remote_etag,
            r.remote_hash,
            r.origin,
            r.uid,
        )
        for r in rows
    ]


def save_state(conn: Connection, pair_id: int, state: ItemState) -> ItemState:
    values = {
        "local_href": state.local_href,
        "local_etag": state.local_etag,
        "local_hash": state.local_hash,
        "remote_href": state.remote_href,
        "remote_etag": state.remote_etag,
        "remote_hash": state.remote_hash,
        "origin": state.origin,
        "uid": state.uid,
    }
    if state.id:
        conn.execute(update(sync_items).where(sync_items.c.id == state.id).values(**values))
    else:
        result = conn.execute(insert(sync_items).values(pair_id=pair_id, **values))
        state.id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return state


def drop_state(conn: Connection, state: ItemState) -> None:
    if state.id:
        conn.execute(delete(sync_items).where(sync_items.c.id == state.id))


# --- runs and conflicts -------------------------------------------------------------


def start_run(engine: Engine, pair_id: int, now: float) -> int:
    with write_transaction(engine) as conn:
        conn.execute(  # a run whose worker died: its lease ran out, this one takes over
            update(sync_runs)
            .where(sync_runs.c.pair_id == pair_id, sync_runs.c.status == "running")
            .values(status="failed", error="interrupted: the worker stopped during the run")
        )
        return int(
            conn.execute(
                insert(sync_runs).values(
                    pair_id=pair_id,
                    started=now,
                    status="running",
                    pulled=0,
                    pushed=0,
                    deleted=0,
                    conflicts=0,
                    details="",
                    error="",
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )


def end_run(
    engine: Engine, run_id: int, status: str, counts: dict[str, int], details: list[str], error: str
) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            update(sync_runs)
            .where(sync_runs.c.id == run_id)
            .values(
                finished=time.time(),
                status=status,
                details="\n".join(details)[:100_000],
                error=error[:2000],
                **counts,
            )
        )
        pair_id = conn.execute(select(sync_runs.c.pair_id).where(sync_runs.c.id == run_id)).scalar()
        old = (
            conn.execute(
                select(sync_runs.c.id)
                .where(sync_runs.c.pair_id == pair_id)
                .order_by(sync_runs.c.id.desc())
                .offset(KEPT_RUNS)
            )
            .scalars()
            .all()
        )
        if old:
            conn.execute(delete(sync_runs).where(sync_runs.c.id.in_(old)))


def runs(engine: Engine, pair_id: int, limit: int = 50) -> list[dict[str, Any]]:
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(sync_runs)
            .where(sync_runs.c.pair_id == pair_id)
            .order_by(sync_runs.c.id.desc())
            .limit(limit)
        ).all()
    return [
        {
            "id": r.id,
            "started": r.started,
            "finished": r.finished,
            "status": r.status,
            "pulled": r.pulled,
            "pushed": r.pushed,
            "deleted": r.deleted,
            "conflicts": r.conflicts,
            "details": [line for line in r.details.split("\n") if line],
            "error": r.error,
        }
        for r in rows
    ]


def add_conflict(
    conn: Connection,
    pair_id: int,
    run_id: int,
    uid: str,
    local_text: str,
    remote_text: str,
    policy: str,
    winner: str,
) -> None:
    conn.execute(
        insert(sync_conflicts).values(
            pair_id=pair_id,
            run_id=run_id,
            at=time.time(),
            uid=uid,
            local_text=local_text,
            remote_text=remote_text,
            policy=policy,
            winner=winner,
        )
    )


def conflicts(engine: Engine, pair_id: int, limit: int = 100) -> list[dict[str, Any]]:
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(sync_conflicts)
            .where(sync_conflicts.c.pair_id == pair_id)
            .order_by(sync_conflicts.c.id.desc())
            .limit(limit)
        ).all()
    return [
        {
            "id": r.id,
            "run": r.run_id,
            "at": r.at,
            "uid": r.uid,
            "local": r.local_text,
            "remote": r.remote_text,
            "policy": r.policy,
            "winner": r.winner,
        }
        for r in rows
    ]


def due_now(engine: Engine, pair_id: int) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            update(sync_pairs).where(sync_pairs.c.id == pair_id).values(next_run=0.0, attempts=0)
        )
