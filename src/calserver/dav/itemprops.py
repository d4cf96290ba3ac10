"""Dead properties on calendar objects (RFC 4918 4.4, 9.1, 9.2). Radicale 3.9 answers
PROPPATCH on a calendar object with 403 and keeps properties on collections only;
clients that tag events (sync tools, calendar bridges) then fail. calserver keeps
them (``calserver.storage.itemprops``):

- PROPPATCH on an item sets and removes properties in one transaction, all or nothing
  (RFC 4918 9.2): a live or protected property (DAV:, CalDAV, CalendarServer
  namespaces) is refused with 403 ``DAV:cannot-modify-protected-property`` and the
  others then fail with 424; the writer needs write access to the calendar.
- PROPFIND on an item, or Depth 1 on its calendar, answers the stored properties
  requested by name (200 instead of Radicale's 404), and with ``allprop``.
- The item's DELETE drops them; a PUT that replaces the item keeps them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import unquote, urlparse

from defusedxml import ElementTree as DefusedET
from radicale import app as radicale_app
from radicale import httputils, pathutils, xmlutils
from radicale import storage as radicale_storage

from calserver.dav import compat, proppatch
from calserver.storage import itemprops as item_properties
from calserver.storage import scheduletags
from calserver.storage.context import read_connection, write_scope

#: Namespaces whose properties the server defines (live or reserved).
LIVE_NAMESPACES = (
    "{DAV:}",
    "{urn:ietf:params:xml:ns:caldav}",
    "{http://calendarserver.org/ns/}",
    "{http://apple.com/ns/ical/}",
    "{urn:calserver}",
)
#: Most dead properties one item keeps, and the largest value (bytes of UTF-8).
MAX_PROPERTIES = 50
MAX_VALUE = 16 * 1024

#: RFC 6638 12.1, kept as ``storage.scheduletags`` (a reserved row, never listed).
SCHEDULE_TAG = "{urn:ietf:params:xml:ns:caldav}schedule-tag"
INTERNAL = "{urn:calserver}"

_SET, _REMOVE = xmlutils.make_clark("D:set"), xmlutils.make_clark("D:remove")
_PROP = xmlutils.make_clark("D:prop")


def is_dead(name: str) -> bool:
    return not name.startswith(LIVE_NAMESPACES)


def _item(application: radicale_app.Application, user: str, path: str) -> Any:
    """The calendar object at ``path``, or None (a collection, nothing there)."""
    storage = compat.storage(application)
    with storage.acquire_lock("r", user):
        found = next(iter(storage.discover(path)), None)
    if found is None or isinstance(found, radicale_storage.BaseCollection):
        return None
    return found


def _parse(body: bytes) -> list[tuple[str, str | None]] | None:
    """(Clark name, serialised element or None for remove) of a propertyupdate."""
    try:
        root = DefusedET.fromstring(body)
    except Exception:
        return None
    if root.tag != xmlutils.make_clark("D:propertyupdate"):
        return None
    found: list[tuple[str, str | None]] = []
    for action in root:
        if action.tag not in (_SET, _REMOVE):
            continue
        for prop in action.findall(f"./{_PROP}/*"):
            value = ET.tostring(prop, encoding="unicode") if action.tag == _SET else None
            found.append((prop.tag, value))
    return found


def proppatch_item(
    application: radicale_app.Application,
    base_prefix: str,
    path: str,
    user: str,
    may_write: bool,
    body: bytes,
    request_info: dict[str, Any],
) -> Any:
    """The answer to a PROPPATCH on a calendar object; None when ``path`` is none."""
    if not user or _item(application, user, path) is None:
        return None
    if not may_write:
        return httputils.NOT_ALLOWED
    changes = _parse(body)
    if changes is None:
        return httputils.BAD_REQUEST
    href = xmlutils.make_href(base_prefix, path)
    headers = {"DAV": httputils.DAV_HEADERS, "Content-Type": "text/xml; charset=utf-8"}
    live = [name for name, _ in changes if not is_dead(name)]
    too_big = [
        name for name, value in changes if value is not None and len(value.encode()) > MAX_VALUE
    ]
    if live or too_big:
        statuses = {name: 424 for name, _ in changes}
        statuses.update({name: 403 for name in live})
        statuses.update({name: 507 for name in too_big})
        reason = f"a dead property value may hold at most {MAX_VALUE} bytes" if too_big else ""
        return 207, headers, proppatch.multistatus(href, statuses, reason).decode(), None
    storage = compat.storage(application)
    parent, _, name = pathutils.strip_path(path).rpartition("/")
    with storage.acquire_lock("w", user, path=path, request="PROPPATCH"):
        collection = storage.open_collection(parent, user)
        if collection is None:
            return httputils.NOT_ALLOWED
        with write_scope(storage.engine) as conn:
            kept = item_properties.read(conn, collection.id, [name]).get(name, {})
            after = dict(kept)
            for prop, value in changes:
                if value is None:
                    after.pop(prop, None)
                else:
                    after[prop] = value
            if len(after) > MAX_PROPERTIES:
                statuses = {prop: 507 for prop, _ in changes}
                reason = f"a calendar object keeps at most {MAX_PROPERTIES} dead properties"
                return 207, headers, proppatch.multistatus(href, statuses, reason).decode(), None
            item_properties.write(conn, collection.id, name, changes)
    statuses = {prop: 200 for prop, _ in changes}
    return 207, headers, proppatch.multistatus(href, statuses).decode(), None


def _requested(body: bytes) -> tuple[list[str], bool]:
    """(dead property names asked for, allprop) of a PROPFIND body."""
    if not body:
        return [], True  # RFC 4918 9.1: no body is allprop
    try:
        root = DefusedET.fromstring(body)
    except Exception:
        return [], False
    if root.find(xmlutils.make_clark("D:allprop")) is not None:
        return [], True
    prop = root.find(_PROP)
    names = [child.tag for child in prop] if prop is not None else []
    return [n for n in names if is_dead(n) or n == SCHEDULE_TAG], False


def complete_propfind(
    application: radicale_app.Application,
    base_prefix: str,
    path: str,
    user: str,
    body: bytes,
    answer: Any,
) -> Any:
    """Radicale's PROPFIND answer with the dead properties of the items in it."""
    if not user or not isinstance(answer, tuple) or answer[0] != 207:
        return answer
    wanted, allprop = _requested(body)
    if not wanted and not allprop:
        return answer
    storage = compat.storage(application)
    stripped = pathutils.strip_path(path)
    home = stripped if path.endswith("/") else stripped.rpartition("/")[0]
    with storage.acquire_lock("r", user):
        collection = storage.open_collection(home, user) if home else None
        if collection is None or not collection.tag:
            return answer
        with read_connection(storage.engine) as conn:
            if not item_properties.any_in(conn, collection.id):
                return answer  # the common case: nothing to add, the answer as it is
    content = answer[2]
    raw = content.encode("utf-8") if isinstance(content, str) else content
    if not isinstance(raw, bytes):
        return answer
    try:
        root = DefusedET.fromstring(raw)
    except Exception:
        return answer
    by_collection: dict[str, list[tuple[ET.Element, str]]] = {}
    for response in root.findall(xmlutils.make_clark("D:response")):
        href_text = response.findtext(xmlutils.make_clark("D:href")) or ""
        local = unquote(urlparse(href_text).path)
        if base_prefix and local.startswith(base_prefix):
            local = local[len(base_prefix) :]
        if local.endswith("/"):
            continue
        parent, _, name = pathutils.strip_path(local).rpartition("/")
        by_collection.setdefault(parent, []).append((response, name))
    if not by_collection:
        return answer
    changed = False
    with storage.acquire_lock("r", user):
        for parent, responses in by_collection.items():
            collection = storage.open_collection(parent, user)
            if collection is None:
                continue
            with read_connection(storage.engine) as conn:
                stored = item_properties.read(conn, collection.id, [name for _, name in responses])
            for response, name in responses:
                props = _shown(stored.get(name, {}))
                if props:
                    changed |= _fill(response, props, wanted, allprop)
    if not changed:
        return answer
    body_out = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return (answer[0], answer[1], body_out, *answer[3:])


def _shown(props: dict[str, str]) -> dict[str, str]:
    """The stored rows of one item as properties: dead ones as they were set, the
    Schedule-Tag as ``CALDAV:schedule-tag``, nothing else of calserver's own."""
    shown = {name: value for name, value in props.items() if not name.startswith(INTERNAL)}
    tag = props.get(scheduletags.NAME)
    if tag is not None:
        element = ET.Element(SCHEDULE_TAG)
        element.text = tag
        shown[SCHEDULE_TAG] = ET.tostring(element, encoding="unicode")
    return shown


def _fill(response: ET.Element, props: dict[str, str], wanted: list[str], allprop: bool) -> bool:
    """Move the stored properties of one response from its 404 propstat into a 200 one
    (or add them, for allprop)."""
    if allprop:
        names = [name for name in props if name != SCHEDULE_TAG]  # live: not in allprop
    else:
        names = [name for name in wanted if name in props]
    if not names:
        return False
    ok = None
    for propstat in response.findall(xmlutils.make_clark("D:propstat")):
        status = propstat.findtext(xmlutils.make_clark("D:status")) or ""
        prop = propstat.find(_PROP)
        if prop is None:
            continue
        if " 200 " in status and ok is None:
            ok = prop
        if " 404 " in status:
            for child in list(prop):
                if child.tag in names:
                    prop.remove(child)
            if not len(prop):
                response.remove(propstat)
    if ok is None:
        propstat = ET.SubElement(response, xmlutils.make_clark("D:propstat"))
        ok = ET.SubElement(propstat, _PROP)
        ET.SubElement(propstat, xmlutils.make_clark("D:status")).text = xmlutils.make_response(200)
    for name in names:
        ok.append(DefusedET.fromstring(props[name]))
    return True
