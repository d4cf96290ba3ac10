"""The WebDAV XML toolkit of calserver's DAV extensions (RFC 4918 14: multistatus,
response, propstat), shared by delegation (``calserver.dav.delegation``) and
scheduling (``calserver.dav.scheduling``): element names in Clark notation, reading a
request body, editing Radicale's PROPFIND answers property by property, and the
:class:`Caller` of an extension (the application and the outer request).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException
from radicale import pathutils, xmlutils

from calserver.dav import compat


def clark(human: str) -> str:
    """``"D:href"`` -> ``"{DAV:}href"`` (Radicale's namespace prefixes)."""
    return xmlutils.make_clark(human)


PROPFIND = clark("D:propfind")
PROP = clark("D:prop")
ALLPROP = clark("D:allprop")
PROPNAME = clark("D:propname")
HREF = clark("D:href")
RESPONSE = clark("D:response")
PROPSTAT = clark("D:propstat")
STATUS = clark("D:status")
MULTISTATUS = clark("D:multistatus")

DISPLAYNAME = clark("D:displayname")
RESOURCETYPE = clark("D:resourcetype")
CURRENT_USER_PRINCIPAL = clark("D:current-user-principal")
PRINCIPAL_COLLECTION_SET = clark("D:principal-collection-set")
CURRENT_USER_PRIVILEGE_SET = clark("D:current-user-privilege-set")
SUPPORTED_REPORT_SET = clark("D:supported-report-set")
CALENDAR_USER_ADDRESS_SET = clark("C:calendar-user-address-set")


@dataclass(frozen=True)
class Caller:
    """What an extension (and an internal request) needs of the outer request."""

    app: Any
    environ: dict[str, Any]
    base_prefix: str
    user: str
    user_groups: set[str]

    @property
    def engine(self) -> Any:
        return compat.storage(self.app).engine

    @property
    def encoding(self) -> str:
        """The charset of the application's XML answers."""
        return compat.encoding(self.app)

    def xml_response(self, root: ET.Element, request_info: dict[str, Any]) -> bytes:
        """``root`` serialised as Radicale serialises its answers."""
        return compat.xml_response(self.app, root, request_info)

    def href(self, path: str) -> str:
        """The href of the collection at ``path`` (stripped), as Radicale writes it."""
        return xmlutils.make_href(self.base_prefix, pathutils.unstrip_path(path, True))


def parse_xml(body: bytes) -> ET.Element | None:
    if not body:
        return None
    try:
        return cast(ET.Element, DefusedET.fromstring(body, forbid_dtd=True))
    except (DefusedXmlException, SyntaxError, ValueError):  # Radicale's to refuse
        return None


def status_line(code: int) -> str:
    return xmlutils.make_response(code)


def hrefs(tag: str, caller: Caller, paths: Iterable[str]) -> ET.Element:
    """``<tag>`` holding one ``D:href`` per collection path."""
    element = ET.Element(tag)
    for path in paths:
        ET.SubElement(element, HREF).text = caller.href(path)
    return element


def path_of(href: str, base_prefix: str) -> str | None:
    """The stripped path an href of this server names, or None."""
    path = unquote(urlsplit(href.strip()).path)
    if base_prefix:
        if not path.startswith(base_prefix + "/"):
            return None
        path = path[len(base_prefix) :]
    return pathutils.strip_path(pathutils.sanitize_path(path))


def remove_property(response: ET.Element, tag: str, only_status: int | None = None) -> bool:
    """Remove ``tag`` from every propstat of ``response`` (or only from the one with
    status ``only_status``); whether it was found."""
    found = False
    for propstat in list(response.findall(PROPSTAT)):
        prop = propstat.find(PROP)
        if prop is None:
            continue
        if only_status is not None and propstat.findtext(STATUS) != status_line(only_status):
            continue
        for child in list(prop):
            if child.tag == tag:
                prop.remove(child)
                found = True
        if not len(prop):
            response.remove(propstat)
    return found


def add_property(response: ET.Element, element: ET.Element, code: int) -> None:
    status = status_line(code)
    for propstat in response.findall(PROPSTAT):
        prop = propstat.find(PROP)
        if prop is not None and propstat.findtext(STATUS) == status:
            prop.append(element)
            return
    propstat = ET.SubElement(response, PROPSTAT)
    ET.SubElement(propstat, PROP).append(element)
    ET.SubElement(propstat, STATUS).text = status
