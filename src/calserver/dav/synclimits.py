"""The details of sync-collection (RFC 6578) that Radicale 3.9's ``xml_report`` leaves
out, around it (``calserver.dav.compat.wrap_xml_report``):

- ``DAV:sync-level`` MUST be present (RFC 6578 3.2, 6.3): without it, or with another
  value than ``1`` or ``infinite``, the REPORT is a 400 that says so. A calendar has
  no member collections, so ``infinite`` names the same members as ``1``.
- An empty ``DAV:prop`` (RFC 6578 3.2: "the client ... is only interested in the
  change") lists each changed member with its href and ``200`` status; Radicale
  listed nobody (only the removed members, with 404), so the client never learnt what
  changed.
- ``DAV:limit`` / ``DAV:nresults`` (RFC 6578 3.6, 3.7; RFC 5323 5.17) is honoured: at
  most that many members, the multistatus then ending with a ``507`` response for the
  request-URI that carries ``DAV:number-of-matches-within-limits``, and a sync token
  from which the next REPORT names the rest (``storage.sync.SyncMixin.sync_page``).
  When the page cannot be cut at the limit (more members changed in one revision,
  an import), RFC 6578 3.6: the request fails with 507 and
  ``DAV:number-of-matches-within-limits``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any

from radicale import pathutils, xmlutils

from calserver.dav import compat
from calserver.storage.sync import TooMany

REASON = "{urn:calserver}reason"
SYNC_LEVELS = ("1", "infinite")
#: RFC 4918 11.5 / RFC 6578 3.6.
INSUFFICIENT_STORAGE = 507


def _error(status: int, reason: str, precondition: str = "") -> tuple[int, ET.Element]:
    root = (
        xmlutils.webdav_error(precondition)
        if precondition
        else ET.Element(xmlutils.make_clark("D:error"))
    )
    ET.SubElement(root, REASON).text = reason
    return status, root


def request_error(request: ET.Element) -> tuple[int, ET.Element] | None:
    """The 400 of a sync-collection body without a valid ``DAV:sync-level`` or with an
    invalid ``DAV:limit`` (RFC 6578 6.3, RFC 5323 5.17); ``None`` if it is valid."""
    level = request.find(xmlutils.make_clark("D:sync-level"))
    if level is None:
        return _error(400, "sync-collection needs DAV:sync-level (1 or infinite), RFC 6578 3.2")
    if (level.text or "").strip() not in SYNC_LEVELS:
        return _error(400, f"DAV:sync-level must be 1 or infinite, not {level.text!r}")
    limit = request.find(xmlutils.make_clark("D:limit"))
    if limit is not None and nresults(request) is None:
        return _error(400, "DAV:limit needs DAV:nresults, a positive integer (RFC 5323 5.17)")
    return None


def nresults(request: ET.Element) -> int | None:
    """The ``DAV:limit``'s ``DAV:nresults`` of the body, if it is a positive integer."""
    found = request.find(f"{xmlutils.make_clark('D:limit')}/{xmlutils.make_clark('D:nresults')}")
    text = (found.text or "").strip() if found is not None else ""
    if not text.isdigit() or int(text) < 1:
        return None
    return int(text)


def empty_prop(request: ET.Element) -> bool:
    prop = request.find(xmlutils.make_clark("D:prop"))
    return prop is None or len(prop) == 0


def truncated_response(href: str) -> ET.Element:
    """RFC 6578 3.7: the request-URI's 507 response of a truncated result."""
    response = ET.Element(xmlutils.make_clark("D:response"))
    ET.SubElement(response, xmlutils.make_clark("D:href")).text = href
    status = ET.SubElement(response, xmlutils.make_clark("D:status"))
    status.text = xmlutils.make_response(INSUFFICIENT_STORAGE)
    response.append(xmlutils.webdav_error("D:number-of-matches-within-limits"))
    return response


def member_response(href: str) -> ET.Element:
    """A changed member listed for an empty ``DAV:prop``: its href and 200."""
    response = ET.Element(xmlutils.make_clark("D:response"))
    ET.SubElement(response, xmlutils.make_clark("D:href")).text = href
    ET.SubElement(response, xmlutils.make_clark("D:status")).text = xmlutils.make_response(200)
    return response


def complete_sync(original: compat.XmlReport) -> compat.XmlReport:
    """Radicale's ``xml_report`` with the sync-collection details above."""

    def wrapped(
        base_prefix: str,
        path: str,
        xml_request: ET.Element | None,
        collection: Any,
        encoding: str,
        unlock_storage_fn: Callable[[], None],
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, ET.Element]:
        def run() -> tuple[int, ET.Element]:
            return original(
                base_prefix,
                path,
                xml_request,
                collection,
                encoding,
                unlock_storage_fn,
                *args,
                **kwargs,
            )

        if (
            xml_request is None
            or xml_request.tag != xmlutils.make_clark("D:sync-collection")
            or collection.tag not in ("VCALENDAR", "VADDRESSBOOK")
            or not hasattr(collection, "sync_page")
        ):
            return run()
        refused = request_error(xml_request)
        if refused is not None:
            return refused
        token_element = xml_request.find(xmlutils.make_clark("D:sync-token"))
        old_token = (token_element.text or "").strip() if token_element is not None else ""
        limit = nresults(xml_request)
        real_sync = collection.sync
        named: list[str] = []
        truncated = False
        if limit is not None:
            try:
                page_token, page, truncated = collection.sync_page(old_token, limit)
            except TooMany as exc:
                return _error(
                    INSUFFICIENT_STORAGE,
                    f"{exc}: sync without DAV:limit or with a larger one",
                    "D:number-of-matches-within-limits",
                )
            except ValueError:
                page = None  # an invalid token: Radicale's answer (DAV:valid-sync-token)
            if page is not None:
                real_sync = _fixed(page_token, page)

        def sync(token: str = "") -> tuple[str, Iterable[str]]:
            new_token, names = real_sync(token)
            named[:] = list(names)
            return new_token, list(named)

        setattr(collection, "sync", sync)  # noqa: B010 - this request's collection only
        try:
            status, multistatus = run()
        finally:
            vars(collection).pop("sync", None)
        if status != 207:
            return status, multistatus
        if empty_prop(xml_request):
            listed = {element.text for element in multistatus.iter(xmlutils.make_clark("D:href"))}
            for name in named:
                uri = pathutils.unstrip_path(f"{collection.path}/{name}")
                href = xmlutils.make_href(base_prefix, uri)
                if href not in listed:
                    multistatus.append(member_response(href))
        if truncated:
            multistatus.append(truncated_response(xmlutils.make_href(base_prefix, path)))
        return status, multistatus

    return wrapped


def _fixed(token: str, hrefs: list[str]) -> Callable[[str], tuple[str, Iterable[str]]]:
    def sync(_old_token: str = "") -> tuple[str, Iterable[str]]:
        return token, hrefs

    return sync
