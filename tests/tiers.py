"""Test tiers: every test gets exactly one of the markers ``unit``, ``storage``, ``live``,
and a test that is not ``live`` may not start a process.

- ``unit``: no server process, no database; seconds in all.
- ``storage``: SQLite and PostgreSQL in this process (storage objects, the WSGI client).
- ``live``: real ``calserver`` processes and clients, or any other subprocess
  (``calserver`` commands through :func:`tests.conftest.run_cli`, vdirsyncer, litmus).

The tier is derived at collection from the fixtures a test uses: a fixture whose code
starts a server or runs a command (``live_server``, any fixture calling ``start_server``,
``serve_with_users``, ``module_server``, ``run_cli``, ``subprocess``...) makes it ``live``;
the database fixtures (``database_url``, ``engine``, ``client``, ``configuration``,
``pg_database``) or the ``postgresql`` marker make it ``storage``; else ``unit``. A test
that starts processes by itself (calls ``run_cli`` or ``subprocess``) carries an
explicit ``live`` marker. An explicit tier marker may raise the derived tier, never
lower it, and a test may not carry two.

The guard: while a test that is not ``live`` sets up, runs and tears down, starting a
process (``subprocess``, ``os.fork``, ``os.posix_spawn``, ``os.system``,
``multiprocessing``) fails the test with "this test starts a process: mark it live",
even from another thread or when the test swallows the exception. Likewise a ``unit``
test that connects to a database (SQLAlchemy) fails with "this test opens a database:
mark it storage".

``tests/conftest.py`` imports the hooks below; ``tests/test_tiers.py`` proves the guard
catches what it should.
"""

from __future__ import annotations

import _posixsubprocess
import os
import subprocess
import threading
import types
from collections.abc import Callable, Generator
from typing import Any

import pytest
import sqlalchemy.engine

__all__ = [
    "pytest_collection_modifyitems",
    "pytest_runtest_call",
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
]

TIERS = ("unit", "storage", "live")
LIVE_FIXTURES = frozenset({"live_server"})
STORAGE_FIXTURES = frozenset({"database_url", "engine", "client", "configuration", "pg_database"})
# names that, in a fixture's code, mean it starts a process
SPAWNERS = frozenset(
    {
        "start_server",
        "serve_with_users",
        "module_server",
        "module_server_with",
        "run_cli",
        "subprocess",
        "Popen",
    }
)


# --- collection: one tier per test --------------------------------------------------


def _names(code: types.CodeType) -> set[str]:
    """Global and attribute names used by ``code`` and the functions nested in it."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _spawns(func: Callable[..., Any]) -> bool:
    code = getattr(func, "__code__", None)
    return code is not None and not SPAWNERS.isdisjoint(_names(code))


def derived_tier(item: pytest.Item) -> str:
    """The tier the fixtures and markers of ``item`` call for."""
    fixturenames = set(getattr(item, "fixturenames", ()))
    if fixturenames & LIVE_FIXTURES:
        return "live"
    fixtureinfo = getattr(item, "_fixtureinfo", None)
    if fixtureinfo is not None:
        for defs in fixtureinfo.name2fixturedefs.values():
            if any(_spawns(fixturedef.func) for fixturedef in defs):
                return "live"
    if fixturenames & STORAGE_FIXTURES or item.get_closest_marker("postgresql"):
        return "storage"
    return "unit"


def tier_of(item: pytest.Item) -> str:
    """The one tier of ``item``: its explicit marker if it has one, else the derived one.
    Raises ``pytest.UsageError`` for two explicit tiers, or one below the derived tier."""
    explicit = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
    derived = derived_tier(item)
    if len(explicit) > 1:
        raise pytest.UsageError(
            f"{item.nodeid}: marked {' and '.join(sorted(explicit))}; a test has one tier"
        )
    if not explicit:
        return derived
    (tier,) = explicit
    if TIERS.index(tier) < TIERS.index(derived):
        raise pytest.UsageError(f"{item.nodeid}: marked {tier}, but its fixtures make it {derived}")
    return tier


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(tier)


# --- the guard: no process outside the live tier --------------------------------------

MESSAGE = "this test starts a process: mark it live"
DATABASE_MESSAGE = "this test opens a database: mark it storage"


class ProcessStarted(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """Raised where a test starts a process, or opens a database, outside its tier (a
    BaseException, so an ``except Exception`` in the test does not hide it)."""


class ProcessGuard:
    """Refuses, and remembers, every attempt to start a process while installed (and,
    with ``database=True``, every new database connection)."""

    def __init__(self, nodeid: str, database: bool = False) -> None:
        self.nodeid = nodeid
        self.database = database
        self.attempts: list[str] = []
        self._lock = threading.Lock()
        self._saved: list[tuple[Any, str, Any]] = []

    def refuse(self, what: str, message: str = MESSAGE) -> None:
        with self._lock:
            self.attempts.append(f"{message} ({self.nodeid}: {what})")
        raise ProcessStarted(self.attempts[-1], pytrace=True)

    def failure(self) -> ProcessStarted:
        return ProcessStarted(self.attempts[0], pytrace=False)

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        if hasattr(owner, name):
            self._saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, replacement)

    def install(self) -> None:
        guard = self

        def popen_init(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
            guard.refuse(f"subprocess.Popen({args!r})")

        def refuser(name: str) -> Callable[..., Any]:
            def refuse(*args: Any, **kwargs: Any) -> Any:
                guard.refuse(f"{name}{tuple(args[:1])!r}")

            return refuse

        def raw_connection(self: Any, *args: Any, **kwargs: Any) -> Any:
            guard.refuse(f"a connection to {self.url!r}", DATABASE_MESSAGE)

        self._patch(subprocess.Popen, "__init__", popen_init)
        # below subprocess: multiprocessing's spawn and forkserver, os.spawn*, pty
        self._patch(_posixsubprocess, "fork_exec", refuser("_posixsubprocess.fork_exec"))
        for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
            self._patch(os, name, refuser("os." + name))
        if self.database:  # every SQLAlchemy connection, Core or ORM, starts here
            self._patch(sqlalchemy.engine.Engine, "raw_connection", raw_connection)

    def uninstall(self) -> None:
        while self._saved:
            owner, name, value = self._saved.pop()
            setattr(owner, name, value)


def guarded(item: pytest.Item, phase: str) -> Generator[None, Any, Any]:
    """Body of the setup, call and teardown wrappers: no process outside the live tier,
    no database in the unit tier (but in teardown, where the session's fixtures end
    after whichever test ran last)."""
    if item.get_closest_marker("live") is not None:
        return (yield)
    unit = item.get_closest_marker("unit") is not None
    guard = ProcessGuard(item.nodeid, database=unit and phase != "teardown")
    guard.install()
    try:
        result = yield
    except ProcessStarted:
        raise
    except BaseException as exc:  # maybe a consequence of a refusal
        if guard.attempts:
            raise guard.failure() from exc
        raise
    finally:
        guard.uninstall()
    if guard.attempts:  # swallowed by the test, or refused in another thread
        raise guard.failure()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from guarded(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from guarded(item, "call"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from guarded(item, "teardown"))
