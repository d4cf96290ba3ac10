"""The sync half of ``calserver worker``: runs every pair that is due -- its interval
has passed, a local change has settled (``[sync] debounce``), or its back-off after a
failure is over -- each claimed with a lease so that several workers never run one
pair at once (``calserver.remotesync.store.claim``); a worker that dies mid-run leaves
a lease that runs out, and the next run continues from what was recorded."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from calserver.remotesync import engine as sync_engine
from calserver.remotesync import store

logger = logging.getLogger("calserver.remotesync")

#: Seconds between two looks for due pairs.
POLL_SECONDS = 2.0


@dataclass
class Counts:
    outcomes: list[str] = field(default_factory=list)
    failed: int = 0
    disabled: bool = False

    def summary(self) -> str:
        if self.disabled:
            return "sync is disabled ([sync] enabled = False)"
        if not self.outcomes:
            return "sync: no pair due"
        return "\n".join(self.outcomes)


def enabled(configuration: Any) -> bool:
    return bool(configuration.get("sync", "enabled"))


def has_pairs(engine: Engine) -> bool:
    return bool(store.list_pairs(engine))


def lease_of(configuration: Any) -> float:
    return 120.0 + 4 * float(configuration.get("sync", "timeout"))


def run_once(
    engine: Engine,
    storage: Any,
    configuration: Any,
    *,
    pair_ids: list[int] | None = None,
    stop: threading.Event | None = None,
) -> Counts:
    """Run the due pairs (or the pairs ``pair_ids`` now, due or not)."""
    if not enabled(configuration):
        return Counts(disabled=True)
    counts = Counts()
    lease = lease_of(configuration)
    debounce = float(configuration.get("sync", "debounce"))
    pending = list(pair_ids) if pair_ids is not None else None
    while stop is None or not stop.is_set():
        if pending is not None:
            if not pending:
                break
            pair = store.claim(engine, lease, debounce, pair_id=pending.pop(0))
            if pair is None:
                counts.outcomes.append("sync: a pair is being run by another worker")
                continue
        else:
            pair = store.claim(engine, lease, debounce)
            if pair is None:
                break
        outcome = sync_engine.run_pair(engine, storage, configuration, pair, lease)
        counts.outcomes.append(outcome.summary(pair))
        counts.failed += 0 if outcome.ok else 1
    return counts


def run_forever(
    engine: Engine,
    storage: Any,
    configuration: Any,
    stop: threading.Event,
    poll: float = POLL_SECONDS,
) -> None:
    logger.info("sync worker started")
    while not stop.is_set():
        try:
            run_once(engine, storage, configuration, stop=stop)
        except OperationalError as exc:
            logger.error("sync worker: database error: %s", exc.orig or exc)
        stop.wait(poll)
    logger.info("sync worker stopped")
