"""Default alarms of a calendar (``CALDAV:default-alarm-vevent-datetime`` and
``CALDAV:default-alarm-vevent-date``: draft-daboo-valarm-extensions section 9, the
default-alarm part that RFC 9074 left out of the published text; Apple clients read
and write them) as calserver advertises them.

A PROPFIND that names them on a calendar answers 200 for each: the value a client
stored (a dead property, kept as written), or else the e-mail reminders the signed-in
user set as the calendar's defaults for new events (``calserver.reminders``), as
``ACTION:EMAIL`` VALARMs, or an empty value (no default alarm). Group calendars take no
reminders: they advertise an empty value.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from calserver.dav.xml import (
    HREF,
    PROP,
    PROPFIND,
    RESPONSE,
    Caller,
    add_property,
    clark,
    parse_xml,
    path_of,
    remove_property,
)
from calserver.errors import CalserverError, Conflict
from calserver.reminders import store

DATETIME = clark("C:default-alarm-vevent-datetime")
DATE = clark("C:default-alarm-vevent-date")
PROPS = frozenset({DATETIME, DATE})


def valarms(offsets: list[tuple[str, int]]) -> str:
    """The e-mail defaults as VALARM components (RFC 5545 3.6.6)."""
    parts = []
    for channel, seconds in offsets:
        if channel != "email":
            continue
        trigger = f"-PT{seconds // 60}M" if seconds else "PT0S"
        parts.append(
            f"BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:{trigger}\r\n"
            "SUMMARY:Reminder\r\nDESCRIPTION:Reminder\r\nEND:VALARM\r\n"
        )
    return "".join(parts)


def _requested(body: bytes) -> set[str]:
    root = parse_xml(body)
    if root is None or root.tag != PROPFIND or not len(root) or root[0].tag != PROP:
        return set()
    return {child.tag for child in root[0]} & PROPS


def complete_propfind(
    caller: Caller, path: str, body: bytes, answer: Any, request_info: dict[str, Any]
) -> Any:
    """Radicale's PROPFIND answer with the default alarms it did not find filled in on
    the calendars it lists, when asked for by name."""
    status, headers, content, xml_request = answer
    if status != 207 or not isinstance(content, bytes) or not caller.user:
        return answer
    wanted = _requested(body)
    if not wanted:
        return answer
    root = parse_xml(content)
    if root is None:
        return answer
    changed = False
    for response in root.findall(RESPONSE):
        found = path_of(response.findtext(HREF) or "", caller.base_prefix)
        if not found or found.count("/") != 1:
            continue
        try:
            defaults = store.defaults_for(caller.engine, caller.user, found)
        except Conflict:
            defaults = []  # a group calendar: no reminders
        except CalserverError:
            continue  # not a calendar the user sees
        text = valarms(defaults)
        for tag in wanted:
            if remove_property(response, tag, only_status=404):
                element = ET.Element(tag)
                element.text = text
                add_property(response, element, 200)
                changed = True
    if not changed:
        return answer
    return status, headers, caller.xml_response(root, request_info), xml_request
