"""Availability in CalDAV (RFC 7953): the ``CALDAV:calendar-availability`` property of
the schedule inbox (§7.2.4: PROPFIND returns its owner's availability, PROPPATCH sets
or removes it; only the owner may), and the BUSY-UNAVAILABLE time it means in a
free-busy-query answer (RFC 4791 §7.10; the outbox POST, RFC 6638 §5, adds it in
``calserver.dav.scheduling``). The rules: ``calserver.ical.availability``; the stored
text: ``calserver.accounts.availability``.
"""

from __future__ import annotations

import datetime as dt
import logging
import xml.etree.ElementTree as ET
from typing import Any

import icalendar
from radicale import httputils, pathutils
from sqlalchemy import Connection

from calserver.accounts import availability
from calserver.dav.xml import (
    HREF,
    MULTISTATUS,
    PROP,
    PROPSTAT,
    RESPONSE,
    STATUS,
    Caller,
    add_property,
    clark,
    parse_xml,
    remove_property,
    status_line,
)
from calserver.errors import CalserverError
from calserver.sharing.visibility import alias_target
from calserver.storage.context import read_connection

logger = logging.getLogger("calserver")

CALENDAR_AVAILABILITY = clark("C:calendar-availability")
_SET, _REMOVE, _UPDATE = clark("D:set"), clark("D:remove"), clark("D:propertyupdate")


# --- PROPFIND of the inbox ---------------------------------------------------------


def complete_inbox(
    caller: Caller, conn: Connection, response: ET.Element, owner: str, kind: str, names: set[str]
) -> None:
    """Put ``calendar-availability`` into the inbox's PROPFIND ``response``: named by
    propname, its value (the iCalendar text) when asked by name, for its owner only
    (404 when they set none, 403 for anyone else)."""
    if kind == "propname":
        remove_property(response, CALENDAR_AVAILABILITY)
        add_property(response, ET.Element(CALENDAR_AVAILABILITY), 200)
        return
    if kind != "prop" or CALENDAR_AVAILABILITY not in names:
        return
    remove_property(response, CALENDAR_AVAILABILITY)
    element = ET.Element(CALENDAR_AVAILABILITY)
    if owner != caller.user:
        add_property(response, element, 403)
        return
    text = availability.load(conn, owner)
    if text is None:
        add_property(response, element, 404)
        return
    element.text = text
    add_property(response, element, 200)


# --- PROPPATCH of the inbox --------------------------------------------------------


def _multistatus(
    caller: Caller, path: str, statuses: dict[str, int], reason: str, request_info: dict[str, Any]
) -> Any:
    root = ET.Element(MULTISTATUS)
    response = ET.SubElement(root, RESPONSE)
    ET.SubElement(response, HREF).text = caller.href(pathutils.strip_path(path))
    for code in sorted(set(statuses.values())):
        propstat = ET.SubElement(response, PROPSTAT)
        prop = ET.SubElement(propstat, PROP)
        for name, status in statuses.items():
            if status == code:
                ET.SubElement(prop, name)
        ET.SubElement(propstat, STATUS).text = status_line(code)
        if code == 403:
            error = ET.SubElement(propstat, clark("D:error"))
            ET.SubElement(error, clark("C:valid-calendar-data"))
        if code in (403, 409) and reason:
            ET.SubElement(propstat, clark("D:responsedescription")).text = reason
    headers = {"DAV": httputils.DAV_HEADERS, "Content-Type": f"text/xml; charset={caller.encoding}"}
    return 207, headers, caller.xml_response(root, request_info), None


def proppatch_inbox(
    caller: Caller, path: str, owner: str, body: bytes, request_info: dict[str, Any]
) -> Any | None:
    """A PROPPATCH of ``owner``'s inbox that sets or removes ``calendar-availability``
    (RFC 7953 §7.2.4), answered here; None for any other PROPPATCH (Radicale's). Only
    the owner may (403); a value that is not availability gets 403 with
    ``C:valid-calendar-data`` and the reason; with other properties in the same
    request nothing is done (409 for it, 424 for the others: all or nothing,
    RFC 4918 9.2)."""
    root = parse_xml(body)
    if root is None or root.tag != _UPDATE:
        return None
    instructions: list[tuple[ET.Element, bool]] = []
    for element in root:
        if element.tag in (_SET, _REMOVE):
            for prop in element.findall(f"./{PROP}/*"):
                instructions.append((prop, element.tag == _REMOVE))
    if all(prop.tag != CALENDAR_AVAILABILITY for prop, _ in instructions):
        return None
    if owner != caller.user:
        return httputils.FORBIDDEN
    others = {prop.tag for prop, _ in instructions if prop.tag != CALENDAR_AVAILABILITY}
    if others:
        statuses = {name: 424 for name in others}
        statuses[CALENDAR_AVAILABILITY] = 409
        reason = "set calendar-availability in a PROPPATCH of its own"
        return _multistatus(caller, path, statuses, reason, request_info)
    prop, remove = instructions[-1]
    try:
        if remove:
            availability.clear(caller.engine, owner)
        else:
            availability.set_text(caller.engine, owner, "".join(prop.itertext()).strip())
    except CalserverError as exc:
        logger.info("calendar-availability of %r refused: %s", owner, exc.reason)
        return _multistatus(caller, path, {CALENDAR_AVAILABILITY: 403}, exc.reason, request_info)
    return _multistatus(caller, path, {CALENDAR_AVAILABILITY: 200}, "", request_info)


# --- free-busy-query ---------------------------------------------------------------


def complete_freebusy(caller: Caller, path: str, answer: Any) -> Any:
    """Radicale's free-busy-query answer (a VCALENDAR with one VFREEBUSY, RFC 4791
    §7.10) with the calendar owner's availability added: FREEBUSY;FBTYPE=... periods
    (BUSY-UNAVAILABLE unless the VAVAILABILITY says otherwise) inside the asked
    DTSTART/DTEND. The owner is the calendar's, also when the viewer asks through the
    alias of a shared calendar in their own home (``bob/alice~work``). Other answers
    are left as they are."""
    if not isinstance(answer, tuple) or len(answer) != 4 or answer[0] != 200:
        return answer
    status, headers, content, xml_request = answer
    if not str(headers.get("Content-Type", "")).startswith("text/calendar"):
        return answer
    segments = pathutils.strip_path(path).split("/")
    owner = segments[0]
    target = alias_target(segments[1]) if len(segments) > 1 else None
    if target is not None:  # a shared calendar seen in the viewer's home: its owner's
        owner = target.split("/")[0]
    if not owner or owner.startswith(("@", ".")):
        return answer
    text = content.decode(caller.encoding) if isinstance(content, bytes) else str(content)
    try:
        calendar = icalendar.Calendar.from_ical(text)
        component: Any = next(iter(calendar.walk("VFREEBUSY")))
        start = component["DTSTART"].dt
        end = component["DTEND"].dt
    except (ValueError, KeyError, StopIteration, AttributeError):
        return answer
    if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
        return answer
    with read_connection(caller.engine) as conn:
        periods = availability.busy_of(conn, owner, start, end)
    if not periods:
        return answer
    for begin, finish, fbtype in periods:
        component.add("FREEBUSY", (begin, finish), parameters={"FBTYPE": fbtype})
    return status, headers, calendar.to_ical().decode("utf-8"), xml_request
