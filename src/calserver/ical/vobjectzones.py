"""vobject's TZID registry, made per object: the one place that touches vobject's private
``vobject.icalendar.__tzidMap`` (its contract is checked in ``tests/test_vobjectzones.py``).

vobject keeps one registry per process that maps a TZID to a ``tzinfo``. Each VTIMEZONE
it reads is added unless a zone of that name is already there (the first one wins), and
every later TZID parameter it reads, in any object, is looked up there. In a server that
reads everyone's objects in one process, that is a channel from one person's data to
everyone else's: an object with a bogus VTIMEZONE named ``Asia/Tokyo`` (three hours from
UTC instead of nine), read first, made every later ``TZID=Asia/Tokyo`` time that Radicale
reads (time-range filters, ``expand``, free-busy) six hours off, until the next restart,
although each of those objects carried a correct VTIMEZONE of its own.

:func:`install` replaces the registry by one whose contents belong to the object being
read or written: each call of ``vobject.readComponents`` (``readOne`` goes through it)
reads with a registry of its own, which starts with UTC only; so does each serialisation
that is not inside such a read. A TZID therefore names the object's own VTIMEZONE, or else
the IANA zone of that name (vobject's fallback, through ``pytz``), never a zone that
another object brought. :func:`scope` gives code that reads several objects one registry
for a block (optionally seeded with zones), as the import's fast path does.

The current registry is per thread: Radicale's server answers requests in threads.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import vobject
import vobject.base
import vobject.icalendar

_REGISTRY_NAME = "__tzidMap"
_UTC = vobject.icalendar.utc
_local = threading.local()


def _current() -> dict[str, Any] | None:
    registry: dict[str, Any] | None = getattr(_local, "registry", None)
    return registry


class _PerObjectRegistry(MutableMapping[str, Any]):
    """Stands for vobject's registry dict: reads and writes go to the registry of the
    object being read or written in this thread. Outside any (a bare ``getTzid`` call)
    only UTC is known and what is written is forgotten."""

    def _registry(self) -> dict[str, Any]:
        registry = _current()
        return registry if registry is not None else {"UTC": _UTC}

    def __getitem__(self, tzid: str) -> Any:
        return self._registry()[tzid]

    def __setitem__(self, tzid: str, tzinfo: Any) -> None:
        self._registry()[tzid] = tzinfo

    def __delitem__(self, tzid: str) -> None:
        del self._registry()[tzid]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._registry()))

    def __len__(self) -> int:
        return len(self._registry())


@contextlib.contextmanager
def scope(zones: Mapping[str, Any] | None = None) -> Iterator[None]:
    """One registry for the block (UTC, then ``zones``), in this thread; the reads and
    serialisations inside it share it; the registry in use before comes back after."""
    previous = _current()
    _local.registry = {"UTC": _UTC, **(zones or {})}
    try:
        yield
    finally:
        _local.registry = previous


def _own_registry_per_read(read: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    @functools.wraps(read)
    def read_components(*args: Any, **kwargs: Any) -> Iterator[Any]:
        # inside a scope, that scope's registry; else one for this stream only
        registry = _current()
        if registry is None:
            registry = {"UTC": _UTC}
        components = read(*args, **kwargs)
        while True:
            previous = _current()
            _local.registry = registry  # only while vobject works: the generator may
            try:  # be advanced from elsewhere between components
                component = next(components)
            except StopIteration:
                return
            finally:
                _local.registry = previous
            yield component

    read_components.calserver_per_object = True  # type: ignore[attr-defined]
    return read_components


def _own_registry_per_serialisation(serialize: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(serialize)
    def serialise(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _current() is not None:
            return serialize(self, *args, **kwargs)
        with scope():
            return serialize(self, *args, **kwargs)

    serialise.calserver_per_object = True  # type: ignore[attr-defined]
    return serialise


_install_lock = threading.Lock()


def install() -> None:
    """Make vobject's TZID registry per object, once per process (idempotent)."""
    with _install_lock:
        module_vars = vars(vobject.icalendar)
        if isinstance(module_vars[_REGISTRY_NAME], _PerObjectRegistry):
            return
        module_vars[_REGISTRY_NAME] = _PerObjectRegistry()
        wrapped = _own_registry_per_read(vobject.base.readComponents)
        # readOne calls the module's global; Radicale calls the package's attribute
        vobject.base.readComponents = wrapped  # type: ignore[assignment]
        vobject.readComponents = wrapped  # type: ignore[assignment]
        vobject.base.VBase.serialize = _own_registry_per_serialisation(  # type: ignore[method-assign]
            vobject.base.VBase.serialize
        )


def installed() -> bool:
    return isinstance(vars(vobject.icalendar)[_REGISTRY_NAME], _PerObjectRegistry)
