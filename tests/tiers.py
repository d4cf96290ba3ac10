"""Test tiers: every test gets exactly one of the markers ``unit``, ``storage``, ``live``.

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

``tests/conftest.py`` imports the hook below.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["pytest_collection_modifyitems"]

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
