"""PROPPATCH (RFC 4918 9.2): all or nothing, protected properties, and limits.

RFC 4918 9.2: "the server MUST ... either all or none of the instructions are
carried out". Radicale writes the new property set and only then builds its answer,
which can still fail (a ``D:resourcetype`` instruction becomes the key ``tag``, which
it cannot turn back into an element: 400 after the write). calserver therefore runs
Radicale's handler inside a write transaction of its own and takes everything back
unless the answer is a success (``calserver.dav.application``), and refuses before anything is
written what must never be written:

- a protected property (RFC 4918 15, 16 ``cannot-modify-protected-property``): the
  resource type (a calendar does not become a folder by PROPPATCH: MKCALENDAR and
  DELETE do that), the calendar's component set and the live properties the server
  computes. The answer is a 207
  with 403 for those and 424 Failed Dependency for every other one (9.2.1), after the
  same access checks as a PROPPATCH that would succeed;
- more than the limits (:class:`PropertyLimits`, ``[storage] max_properties...``):
  a request body larger than ``max_proppatch_size`` or with more instructions than
  ``max_properties`` is refused whole with 413 (RFC 9110 15.5.14); a collection that
  would keep more than ``max_properties`` properties or ``max_properties_size`` bytes
  of them, or a value larger than ``max_property_size``, gets 507 Insufficient Storage
  for the properties that do not fit and 424 for the others (RFC 4918 9.2.1, 11.5).
  The same limits hold for the properties MKCALENDAR and a whole-calendar PUT set
  (``Storage.create_collection``). A collection already beyond a limit (from before
  it) may still shrink: only a change that adds to what is over the limit is refused.

Nothing here does I/O: the functions take the request body and property mappings.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException
from radicale import xmlutils

from calserver.storage.meta import PropertyLimits

_SET = xmlutils.make_clark("D:set")
_REMOVE = xmlutils.make_clark("D:remove")
_PROP = xmlutils.make_clark("D:prop")
_UPDATE = xmlutils.make_clark("D:propertyupdate")

#: Properties a client may not set or remove: the resource type (RFC 4918 15.9), the
#: components a calendar takes (RFC 4791 5.2.3: "it MUST be protected", set by
#: MKCALENDAR only) and the live properties calserver computes (RFC 4918 15,
#: RFC 6578 4, RFC 4791 5.2, RFC 3744 5, RFC 5397 3, CalendarServer getctag).
PROTECTED = frozenset(
    xmlutils.make_clark(name)
    for name in (
        "D:resourcetype",
        "D:getetag",
        "D:getlastmodified",
        "D:getcontenttype",
        "D:getcontentlength",
        "D:creationdate",
        "D:lockdiscovery",
        "D:supportedlock",
        "D:sync-token",
        "D:current-user-principal",
        "D:current-user-privilege-set",
        "D:supported-report-set",
        "D:owner",
        "D:principal-URL",
        "CS:getctag",
        "C:supported-calendar-component-set",
        "C:supported-calendar-data",
        "C:max-resource-size",
        "C:min-date-time",
        "C:max-date-time",
        "C:max-instances",
        "C:max-attendees-per-instance",
        "C:supported-collation-set",
    )
)


@dataclass(frozen=True)
class Instruction:
    """One ``D:set`` or ``D:remove`` of one property, in request order."""

    name: str  # Clark notation, as the request names it
    remove: bool


def instructions(body: bytes) -> list[Instruction] | None:
    """The instructions of a ``D:propertyupdate`` body, or None for anything else
    (Radicale answers a body it cannot read with 400)."""
    try:
        root = DefusedET.fromstring(body)
    except (ET.ParseError, DefusedXmlException, ValueError):
        return None
    if root.tag != _UPDATE:
        return None
    found = []
    for element in root:
        if element.tag in (_SET, _REMOVE):
            for prop in element.findall(f"./{_PROP}/*"):
                found.append(Instruction(prop.tag, element.tag == _REMOVE))
    return found


def too_large(body: bytes, found: list[Instruction] | None, limits: PropertyLimits) -> str:
    """Why the request is refused whole (413), or ""."""
    if len(body) > limits.request_size:
        return f"a PROPPATCH body may have at most {limits.request_size} bytes"
    if found is not None and len(found) > limits.count:
        return f"a PROPPATCH may change at most {limits.count} properties"
    return ""


def protected(found: Iterable[Instruction]) -> list[str]:
    return [instruction.name for instruction in found if instruction.name in PROTECTED]


def multistatus(href: str, statuses: Mapping[str, int], reason: str = "") -> bytes:
    """A 207 body for one resource: each property (Clark name) with its status; 403
    ones carry ``cannot-modify-protected-property`` (RFC 4918 9.2.1, 14.22)."""
    root = ET.Element(_clark("D:multistatus"))
    response = ET.SubElement(root, _clark("D:response"))
    ET.SubElement(response, _clark("D:href")).text = href
    for status in sorted(set(statuses.values())):
        propstat = ET.SubElement(response, _clark("D:propstat"))
        prop = ET.SubElement(propstat, _clark("D:prop"))
        for name, code in statuses.items():
            if code == status:
                ET.SubElement(prop, name)
        ET.SubElement(propstat, _clark("D:status")).text = xmlutils.make_response(status)
        if status == 403:
            error = ET.SubElement(propstat, _clark("D:error"))
            ET.SubElement(error, _clark("D:cannot-modify-protected-property"))
        elif status == 507 and reason:
            ET.SubElement(propstat, _clark("D:responsedescription")).text = reason
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _clark(name: str) -> str:
    return xmlutils.make_clark(name)
