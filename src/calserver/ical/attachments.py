"""The ATTACH properties of managed attachments in a calendar object (RFC 8607), pure.

RFC 8607 3.4-3.6: the server adds, changes and removes ATTACH properties carrying
``MANAGED-ID`` (3.7.1), ``FILENAME`` (3.7.3), ``FMTTYPE`` (RFC 5545 3.2.8) and
``SIZE`` (3.7.2), whose value is the URL the server serves the attachment at. Without
a ``rid`` the change applies to every component of the resource (the master and its
overridden instances), which is all calserver supports.
"""

from __future__ import annotations

from dataclasses import dataclass

import icalendar

#: Components that may carry attachments (RFC 5545 3.8.1.1).
ATTACHABLE = ("VEVENT", "VTODO", "VJOURNAL")


@dataclass(frozen=True)
class Managed:
    managed_id: str
    url: str
    filename: str
    fmttype: str
    size: int


def _components(calendar: icalendar.Calendar) -> list[icalendar.cal.Component]:
    return [c for c in calendar.walk() if c.name in ATTACHABLE]


def _attaches(component: icalendar.cal.Component) -> list[object]:
    value = component.get("ATTACH")
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _managed_id(attach: object) -> str:
    params = getattr(attach, "params", {}) or {}
    return str(params.get("MANAGED-ID", ""))


def _set(component: icalendar.cal.Component, attaches: list[object]) -> None:
    component.pop("ATTACH", None)
    for attach in attaches:
        component.add("ATTACH", attach, encode=False)


def _attach(managed: Managed) -> object:
    value = icalendar.vUri(managed.url)
    value.params["MANAGED-ID"] = managed.managed_id
    value.params["FILENAME"] = managed.filename
    value.params["FMTTYPE"] = managed.fmttype
    value.params["SIZE"] = str(managed.size)
    return value


def parse(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def managed_ids(text: str) -> set[str]:
    """The MANAGED-ID of every ATTACH in ``text``."""
    if "MANAGED-ID" not in text.upper():
        return set()
    try:
        calendar = parse(text)
    except ValueError:
        return set()
    return {_managed_id(a) for c in _components(calendar) for a in _attaches(c) if _managed_id(a)}


def add(text: str, managed: Managed) -> str:
    """``text`` with the managed attachment added to every component (RFC 8607 3.4)."""
    calendar = parse(text)
    for component in _components(calendar):
        _set(component, [*_attaches(component), _attach(managed)])
    return calendar.to_ical().decode("utf-8")


def replace(text: str, old_id: str, managed: Managed | None) -> str | None:
    """``text`` with the attachment ``old_id`` replaced by ``managed`` (RFC 8607 3.5) or
    removed when ``managed`` is None (3.6); None when no ATTACH has ``old_id``."""
    calendar = parse(text)
    found = False
    for component in _components(calendar):
        kept: list[object] = []
        for attach in _attaches(component):
            if _managed_id(attach) == old_id:
                found = True
                if managed is not None:
                    kept.append(_attach(managed))
            else:
                kept.append(attach)
        _set(component, kept)
    if not found:
        return None
    return calendar.to_ical().decode("utf-8")
