"""CardDAV (RFC 6352) over Radicale's handlers: what they do not say or do themselves.

Radicale serves address books (collections tagged ``VADDRESSBOOK``) with its own
PROPFIND, REPORT (addressbook-query, addressbook-multiget, sync-collection) and PUT;
calserver's storage keeps them in SQL (``calserver.storage.vcards``). This module adds:

- the checks of a PUT into an address book with the RFC 6352 6.3.2.1 precondition that
  failed (``CARDDAV:valid-address-data``, ``supported-address-data``,
  ``max-resource-size``, ``no-uid-conflict`` with the href that holds the UID), before
  Radicale's handler answers a bare 400 or a 409 without the href; and a vCard PUT
  into a calendar refused with ``CALDAV:supported-calendar-data`` (RFC 4791 5.3.2.1);
- the PROPFIND properties of an address book Radicale leaves out: vCard 4.0 in
  ``CARDDAV:supported-address-data`` (RFC 6352 6.2.2; calserver stores the client's
  own text, so 4.0 is kept as sent) and ``CARDDAV:max-resource-size`` (6.2.3);
- the user's default address book ``contacts``, made when the home is looked at
  (:func:`ensure_contacts`), as the schedule inbox is.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from radicale import pathutils, xmlutils
from radicale.log import logger
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from calserver import errors
from calserver.dav import compat
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
from calserver.ical import vcard
from calserver.ical.vcard import VCardError
from calserver.storage import addressbooks
from calserver.storage.context import read_connection, write_scope
from calserver.storage.vcards import ADDRESSBOOK

SUPPORTED_ADDRESS_DATA = clark("CR:supported-address-data")
ADDRESSBOOK_QUERY = clark("CR:addressbook-query")
TEXT_MATCH = clark("CR:text-match")
#: The collations of text-match (RFC 6352 8.3: i;ascii-casemap and i;unicode-casemap
#: are required; i;octet is what Radicale's filter compares exactly).
COLLATIONS = frozenset({"i;ascii-casemap", "i;unicode-casemap", "i;octet"})
ADDRESS_DATA_TYPE = clark("CR:address-data-type")
MAX_RESOURCE_SIZE = clark("CR:max-resource-size")


def max_resource_size(app: Any) -> int:
    """``[server] max_resource_size``, capped as Radicale caps it (80% of
    ``max_content_length``, ``radicale/app/__init__.py``)."""
    configuration = app.configuration
    size = int(configuration.get("server", "max_resource_size"))
    return min(size, int(int(configuration.get("server", "max_content_length")) * 0.8))


def _error(
    app: Any, error: errors.CalserverError, request_info: dict[str, Any], href: str = ""
) -> Any:
    """A DAV:error answer naming the precondition, the reason in words, and for
    no-uid-conflict the href of the resource that holds the UID (RFC 6352 6.3.2.1)."""
    root = errors.dav_error_element(error.precondition, error.reason, xmlutils.webdav_error)
    if href:
        ET.SubElement(root[0], HREF).text = href
    request_info["status"] = error.status
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    return error.status, headers, compat.xml_response(app, root, request_info), None


def check_put(
    app: Any,
    base_prefix: str,
    path: str,
    text: str | None,
    user: str,
    request_info: dict[str, Any],
) -> Any:
    """The answer refusing a PUT of ``text`` at ``path`` (a resource in an address
    book, or a vCard into a calendar), or None to let Radicale's handler go on.
    Called only when ``user`` may write the parent collection."""
    parent_path, _, href = pathutils.strip_path(path).rpartition("/")
    storage = compat.storage(app)
    with storage.acquire_lock("r", user):
        parent = storage.open_collection(parent_path, user) if parent_path else None
        if parent is None or parent.tag not in (ADDRESSBOOK, "VCALENDAR"):
            return None
        if parent.tag == "VCALENDAR":
            if text is not None and vcard.begins_with(text) == "VCARD":
                refusal = errors.CalserverError(
                    "a calendar takes iCalendar objects (text/calendar), not vCards",
                    status=400,  # as every other PUT of data a calendar cannot take
                    precondition="C:supported-calendar-data",
                )
                return _error(app, refusal, request_info)
            return None
        if text is None:
            return _error(app, VCardError("the vCard is not UTF-8"), request_info)
        limit = max_resource_size(app)
        if len(text.encode("utf-8")) > limit:
            too_big = VCardError(
                f"the vCard is larger than this server's limit of {limit} bytes",
                status=403,
                precondition=vcard.MAX_RESOURCE_SIZE,
            )
            return _error(app, too_big, request_info)
        try:
            info = vcard.check(text)
        except VCardError as exc:
            return _error(app, exc, request_info)
        holder = addressbooks.href_of_uid(storage, parent.id, info.uid)
    if holder is not None and holder != href:
        conflict = VCardError(
            f"the UID {info.uid!r} is already used by another vCard of this address book",
            status=409,
            precondition=vcard.NO_UID_CONFLICT,
        )
        where = xmlutils.make_href(base_prefix, f"/{parent_path}/{holder}")
        return _error(app, conflict, request_info, where)
    return None


def bad_request_precondition(app: Any, path: str, user: str) -> str:
    """The precondition a bare 400 of Radicale's PUT handler failed: RFC 6352
    6.3.2.1 ``CARDDAV:valid-address-data`` in an address book, RFC 4791 5.3.2.1
    ``CALDAV:valid-calendar-data`` elsewhere."""
    parent_path = pathutils.strip_path(path).rpartition("/")[0]
    storage = compat.storage(app)
    with storage.acquire_lock("r", user):
        parent = storage.open_collection(parent_path, user) if parent_path else None
    if parent is not None and parent.tag == ADDRESSBOOK:
        return vcard.VALID_ADDRESS_DATA
    return "C:valid-calendar-data"


# --- REPORT ----------------------------------------------------------------------------


def check_report(caller: Caller, body: bytes, request_info: dict[str, Any]) -> Any:
    """The answer refusing an addressbook-query that asks for a collation calserver
    does not have (RFC 6352 8.3: CARDDAV:supported-collation, 403), or None."""
    if b"collation" not in body:
        return None
    root = parse_xml(body)
    if root is None or root.tag != ADDRESSBOOK_QUERY:
        return None
    for match in root.iter(TEXT_MATCH):
        collation = match.get("collation", "i;unicode-casemap")
        if collation not in COLLATIONS:
            refusal = errors.CalserverError(
                f"the collation {collation!r} is not supported"
                f" (supported: {', '.join(sorted(COLLATIONS))})",
                status=403,
                precondition="CR:supported-collation",
            )
            return _error(caller.app, refusal, request_info)
    return None


# --- PROPFIND ----------------------------------------------------------------------


def _wanted(body: bytes) -> set[str]:
    """The properties a ``prop`` PROPFIND names (empty for allprop/propname)."""
    root = parse_xml(body)
    if root is None or root.tag != PROPFIND:
        return set()
    prop = root.find(PROP)
    return {child.tag for child in prop} if prop is not None else set()


def complete_propfind(
    caller: Caller, path: str, body: bytes, answer: Any, request_info: dict[str, Any]
) -> Any:
    """Radicale's PROPFIND answer with vCard 4.0 in ``supported-address-data`` and a
    value for ``CARDDAV:max-resource-size`` on address books, when the request names
    them; other answers are left as they are, unparsed."""
    status, headers, content, xml_request = answer
    if status != 207 or not isinstance(content, bytes):
        return answer
    wanted = _wanted(body) & {SUPPORTED_ADDRESS_DATA, MAX_RESOURCE_SIZE}
    if not wanted:
        return answer
    root = parse_xml(content)
    if root is None:
        return answer
    storage = compat.storage(caller.app)
    changed = False
    with storage.acquire_lock("r", caller.user):
        for response in root.findall(RESPONSE):
            found = path_of(response.findtext(HREF) or "", caller.base_prefix)
            if not found:
                continue
            collection = storage.open_collection(found, caller.user)
            if collection is None or collection.tag != ADDRESSBOOK:
                continue
            changed = True
            if SUPPORTED_ADDRESS_DATA in wanted:
                remove_property(response, SUPPORTED_ADDRESS_DATA)
                element = ET.Element(SUPPORTED_ADDRESS_DATA)
                for version in reversed(vcard.SUPPORTED_VERSIONS):
                    ET.SubElement(
                        element,
                        ADDRESS_DATA_TYPE,
                        {"content-type": "text/vcard", "version": version},
                    )
                add_property(response, element, 200)
            if MAX_RESOURCE_SIZE in wanted:
                remove_property(response, MAX_RESOURCE_SIZE)
                element = ET.Element(MAX_RESOURCE_SIZE)
                element.text = str(max_resource_size(caller.app))
                add_property(response, element, 200)
    if not changed:
        return answer
    return status, headers, caller.xml_response(root, request_info), xml_request


# --- the default address book ----------------------------------------------------------


def ensure_contacts(db_engine: Engine, user: str, looked_at: str) -> None:
    """Create ``user``'s default address book ``USER/contacts`` when the PROPFIND at
    ``looked_at`` is on their home and they have no address book (iOS and DAVx5 list
    the books of the addressbook-home-set; an empty home shows no account to sync). A
    read first: nearly always there is one. Two requests racing: the loser's insert
    fails on the unique path, and what it wanted exists."""
    if pathutils.strip_path(looked_at) != user:
        return
    with read_connection(db_engine) as conn:
        if addressbooks.has_addressbook(conn, user):
            return
    try:
        with write_scope(db_engine) as conn:
            addressbooks.create_default(conn, user)
    except IntegrityError:
        logger.debug("default address book of %r created by another request", user)
