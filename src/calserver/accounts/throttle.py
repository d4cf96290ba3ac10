"""Slowing down password guessing, per account and per client address.

The counters live in the database, so every server process (and host) sees the same
ones. After ``free`` failures within the window, each further attempt must wait
``2 ** (failures - free)`` seconds (at most ``max_delay``) after the last failure;
attempts during the wait are refused without looking at the password and are not
counted, so the real user is locked out for at most ``max_delay`` seconds.

Someone guessing one account's password without pause would keep renewing that wait.
So the account's counter does not hold back an address the account signed in from
(with its password verified) within ``KNOWN_ADDRESS_DAYS``: the real user's clients go
on working while someone guesses elsewhere; that address's own counter still applies.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from calserver.db import write_connection
from calserver.db.models import login_failures


@dataclass(frozen=True)
class ThrottlePolicy:
    free_attempts: int
    address_free_attempts: int
    max_delay: int
    window: int


def fit_key(key: str) -> str:
    """``key`` as the column holds it: an overlong one (a login no account can have, a
    forwarded address) keeps its start and a hash of the rest, so that distinct keys
    stay distinct and PostgreSQL is not handed a value too long for the column."""
    limit = getattr(login_failures.c.key.type, "length", None) or len(key)
    if len(key) <= limit:
        return key
    return key[: limit - 65] + "#" + hashlib.sha256(key.encode("utf-8")).hexdigest()


#: How long an address the account signed in from escapes the account's counter.
KNOWN_ADDRESS_DAYS = 30


def known_key(login: str, address: str) -> str:
    """The key under which a successful sign-in of ``login`` from ``address`` is kept
    (beside the failure counters: ``failures`` 0, ``last_failure`` the time of it)."""
    return f"known:{login}|{address}"


def required_wait(failures: int, free: int, max_delay: int) -> float:
    """Seconds an attempt must wait after the last failure (pure)."""
    if failures < free:
        return 0.0
    return float(min(max_delay, 2 ** min(failures - free, 30)))


class Throttle:
    def __init__(self, engine: Engine, policy: ThrottlePolicy) -> None:
        self._engine = engine
        self._policy = policy

    def _limits(self, key: str) -> int:
        if key.startswith("addr:"):
            return self._policy.address_free_attempts
        return self._policy.free_attempts

    def blocked(self, keys: list[str], now: float | None = None) -> bool:
        """True when one of ``keys`` must still wait."""
        return bool(self.waiting(keys, now))

    def waiting(
        self, keys: list[str], now: float | None = None, known: str | None = None
    ) -> set[str]:
        """The keys among ``keys`` that must still wait (as given); with ``known``, the
        key of an account and address (``known_key``), also that key when the account
        signed in from that address lately (one read for both)."""
        fitted = self.fitted(keys, known)
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(login_failures).where(login_failures.c.key.in_(list(fitted)))
            ).all()
        return self.waiting_among(rows, keys, now, known)

    @staticmethod
    def fitted(keys: list[str], known: str | None = None) -> dict[str, str]:
        """The column's form of ``keys`` (and ``known``) -> each key as given."""
        fitted = {fit_key(key): key for key in keys}
        if known is not None:
            fitted[fit_key(known)] = known
        return fitted

    def waiting_among(
        self, rows: Any, keys: list[str], now: float | None = None, known: str | None = None
    ) -> set[str]:
        """:meth:`waiting` from the ``login_failures`` rows (``key``, ``failures``,
        ``last_failure``) of :meth:`fitted` keys, read by the caller (the auth plugin
        reads them with the account, in one statement)."""
        now = time.time() if now is None else now
        fitted = self.fitted(keys, known)
        found: set[str] = set()
        for row in rows:
            if known is not None and row.key == fit_key(known):
                if now - row.last_failure <= KNOWN_ADDRESS_DAYS * 86400:
                    found.add(known)
                continue
            if now - row.last_failure > self._policy.window:
                continue
            wait = required_wait(row.failures, self._limits(row.key), self._policy.max_delay)
            if now - row.last_failure < wait:
                found.add(fitted[row.key])
        return found

    def signed_in(self, known: str, now: float | None = None) -> None:
        """Remember that an account signed in from an address (``known_key``)."""
        now = time.time() if now is None else now
        key = fit_key(known)
        with write_connection(self._engine) as conn, conn.begin():
            updated = conn.execute(
                update(login_failures)
                .where(login_failures.c.key == key)
                .values(failures=0, last_failure=now)
            ).rowcount
            if not updated:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(login_failures).values(key=key, failures=0, last_failure=now)
                        )
                except IntegrityError:  # another process remembered it first
                    pass

    def record_failure(self, keys: list[str], now: float | None = None) -> None:
        now = time.time() if now is None else now
        keys = [fit_key(key) for key in keys]
        with write_connection(self._engine) as conn, conn.begin():
            for key in keys:
                row = conn.execute(
                    select(login_failures).where(login_failures.c.key == key)
                ).first()
                if row is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(
                                insert(login_failures).values(key=key, failures=1, last_failure=now)
                            )
                        continue
                    except IntegrityError:  # another process inserted it first
                        row = conn.execute(
                            select(login_failures).where(login_failures.c.key == key)
                        ).first()
                assert row is not None
                failures = 1 if now - row.last_failure > self._policy.window else row.failures + 1
                conn.execute(
                    update(login_failures)
                    .where(login_failures.c.key == key)
                    .values(failures=failures, last_failure=now)
                )

    def clear(self, key: str) -> None:
        key = fit_key(key)
        with self._engine.connect() as conn:
            present = conn.execute(
                select(login_failures.c.key).where(login_failures.c.key == key)
            ).first()
        if present is None:
            return
        with write_connection(self._engine) as conn, conn.begin():
            conn.execute(delete(login_failures).where(login_failures.c.key == key))
