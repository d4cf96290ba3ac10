"""Request bodies and multistatus parsing for the WebDAV/CalDAV reports the benchmark sends.

RFC 4918 (PROPFIND, multistatus), RFC 4791 §7.8-7.9 (calendar-query, calendar-multiget,
expand), RFC 6578 §3 (sync-collection), CalendarServer ``getctag``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from benchmarks.ical import format_utc

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
_NS = f'xmlns:D="{DAV}" xmlns:C="{CALDAV}" xmlns:CS="{CS}"'
_XML_DECL = '<?xml version="1.0" encoding="utf-8"?>\n'


def _time_range_filter(start: datetime, end: datetime) -> str:
    return (
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{format_utc(start)}" end="{format_utc(end)}"/>'
        "</C:comp-filter></C:comp-filter></C:filter>"
    )


def calendar_query(start: datetime, end: datetime, *, expand: bool = False) -> str:
    """A VEVENT time-range calendar-query asking for ETags and calendar data."""
    data = (
        f'<C:calendar-data><C:expand start="{format_utc(start)}" end="{format_utc(end)}"/>'
        "</C:calendar-data>"
        if expand
        else "<C:calendar-data/>"
    )
    return (
        f"{_XML_DECL}<C:calendar-query {_NS}><D:prop><D:getetag/>{data}</D:prop>"
        f"{_time_range_filter(start, end)}</C:calendar-query>"
    )


def calendar_multiget(hrefs: Iterable[str]) -> str:
    """A calendar-multiget of the given absolute hrefs."""
    refs = "".join(f"<D:href>{href}</D:href>" for href in hrefs)
    return (
        f"{_XML_DECL}<C:calendar-multiget {_NS}><D:prop><D:getetag/><C:calendar-data/>"
        f"</D:prop>{refs}</C:calendar-multiget>"
    )


def propfind_ctag() -> str:
    """PROPFIND for the collection's CS:getctag and DAV:sync-token (used with Depth 0)."""
    return (
        f"{_XML_DECL}<D:propfind {_NS}><D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>"
    )


def propfind_etags() -> str:
    """PROPFIND for DAV:getetag (used with Depth 1)."""
    return f"{_XML_DECL}<D:propfind {_NS}><D:prop><D:getetag/></D:prop></D:propfind>"


def sync_collection(token: str = "") -> str:
    """An RFC 6578 sync-collection report; the empty token asks for everything."""
    return (
        f"{_XML_DECL}<D:sync-collection {_NS}><D:sync-token>{token}</D:sync-token>"
        "<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"
    )


@dataclass(frozen=True)
class DavResponse:
    """One ``D:response`` of a multistatus."""

    href: str
    status: int | None  # the response-level status, for removed members in sync reports
    props: dict[str, str]  # Clark name → text, for properties reported with 200


@dataclass(frozen=True)
class Multistatus:
    responses: tuple[DavResponse, ...]
    sync_token: str | None

    def hrefs(self, suffix: str = "") -> list[str]:
        return [r.href for r in self.responses if r.href.endswith(suffix)]


def _status_code(element: Element | None) -> int | None:
    if element is None or not element.text:
        return None
    return int(element.text.split()[1])


def parse_multistatus(body: bytes) -> Multistatus:
    """Parse a 207 body into its responses and sync token."""
    root = ElementTree.fromstring(body)
    responses: list[DavResponse] = []
    for response in root.iter(f"{{{DAV}}}response"):
        props: dict[str, str] = {}
        for propstat in response.iter(f"{{{DAV}}}propstat"):
            if _status_code(propstat.find(f"{{{DAV}}}status")) != 200:
                continue
            for prop in propstat.iter(f"{{{DAV}}}prop"):
                for child in prop:
                    props[child.tag] = child.text or ""
        responses.append(
            DavResponse(
                href=response.findtext(f"{{{DAV}}}href", ""),
                status=_status_code(response.find(f"{{{DAV}}}status")),
                props=props,
            )
        )
    token = root.findtext(f"{{{DAV}}}sync-token")
    return Multistatus(tuple(responses), token)


def clark(namespace: str, name: str) -> str:
    """``{namespace}name``."""
    return f"{{{namespace}}}{name}"
