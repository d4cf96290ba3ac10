"""Calendar sharing as Apple Calendar and Nextcloud clients speak it: Apple's
calendarserver-sharing (caldav-sharing, "Shared Calendars" of CalendarServer,
namespace ``http://calendarserver.org/ns/``), over calserver's grants
(``calserver.sharing.invites`` holds the mapping and says it in words).

What a client sees:

- ``calendarserver-sharing`` in the DAV header (caldav-sharing 3);
- ``POST`` of a ``CS:share`` to a calendar by whoever may manage its grants (its owner,
  a group calendar's administrators): ``CS:set`` (``D:href`` ``mailto:`` or a principal
  URL, ``CS:read-write`` or ``CS:read``, optional ``CS:summary``) shares at once and
  invites; ``CS:remove`` takes the share back (caldav-sharing 5.3.1). A sharee cannot
  share again (403). Every entry is checked before any is applied;
- the calendar properties ``CS:invite`` (the sharees, their access and answer:
  caldav-sharing 5.2.2; busy-only and group grants are left out) and
  ``CS:allowed-sharing-modes`` (``CS:can-be-shared`` for whoever may share it,
  empty for others: 5.2.1);
- the principal property ``CS:notification-URL`` (5.1.1): the notification collection
  ``/USER/.notifications/`` (a dot name: no user's calendar can take it), listed by
  PROPFIND (``D:resourcetype`` ``CS:notification``, items with
  ``CS:notificationtype``), each item ``UID.xml`` read by GET (a ``CS:notification``
  holding a ``CS:invite-notification`` for a sharee, a ``CS:invite-reply`` for an
  owner: 5.5) and dismissed by DELETE;
- ``POST`` of a ``CS:invite-reply`` (``CS:invite-accepted`` / ``CS:invite-declined``,
  ``CS:hosturl`` naming the shared calendar) to the sharee's home or notification
  collection (5.3.2): accepting answers ``CS:shared-as`` with the calendar's URL in
  the sharee's home (``/USER/OWNER~CAL/``, where every grant appears); declining
  removes the grant.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import xml.etree.ElementTree as ET
from typing import Any

from radicale import httputils, pathutils, xmlutils

from calserver import errors
from calserver.accounts import directory as accounts_directory
from calserver.dav.xml import (
    HREF,
    MULTISTATUS,
    PROP,
    PROPFIND,
    PROPNAME,
    RESPONSE,
    Caller,
    add_property,
    clark,
    parse_xml,
    path_of,
    remove_property,
)
from calserver.errors import CalserverError, Forbidden, InvalidInput
from calserver.httpbody import read_body
from calserver.scheduling import addresses
from calserver.sharing import invites
from calserver.sharing.levels import alias_name, alias_target
from calserver.sharing.manage import calendar_id, check_may_manage
from calserver.storage.context import read_connection

logger = logging.getLogger("calserver")

#: caldav-sharing 3: the server supports calendar sharing.
DAV_FEATURES = ("calendarserver-sharing",)

#: The notification collection's name in every home (a dot name: the server's).
NOTIFICATIONS = ".notifications"

CS = "http://calendarserver.org/ns/"

SHARE = clark("CS:share")
SET = clark("CS:set")
REMOVE = clark("CS:remove")
READ_WRITE = clark("CS:read-write")
READ = clark("CS:read")
SUMMARY = clark("CS:summary")
COMMON_NAME = clark("CS:common-name")
INVITE = clark("CS:invite")
ALLOWED_SHARING_MODES = clark("CS:allowed-sharing-modes")
CAN_BE_SHARED = clark("CS:can-be-shared")
NOTIFICATION_URL = clark("CS:notification-URL")
NOTIFICATION = clark("CS:notification")
NOTIFICATIONTYPE = clark("CS:notificationtype")
INVITE_NOTIFICATION = clark("CS:invite-notification")
INVITE_REPLY = clark("CS:invite-reply")
INVITE_ACCEPTED = clark("CS:invite-accepted")
INVITE_DECLINED = clark("CS:invite-declined")
HOSTURL = clark("CS:hosturl")
IN_REPLY_TO = clark("CS:in-reply-to")
SHARED_AS = clark("CS:shared-as")
ORGANIZER = clark("CS:organizer")
USER = clark("CS:user")
ACCESS = clark("CS:access")
UID = clark("CS:uid")
DTSTAMP = clark("CS:dtstamp")
GETCTAG = clark("CS:getctag")

RESOURCETYPE = clark("D:resourcetype")
DISPLAYNAME = clark("D:displayname")
GETETAG = clark("D:getetag")
GETCONTENTTYPE = clark("D:getcontenttype")
COLLECTION = clark("D:collection")
CALENDAR = clark("C:calendar")

#: The calendar properties answered here.
CALENDAR_PROPS = frozenset({INVITE, ALLOWED_SHARING_MODES})

#: Most entries of one CS:share.
MAX_ENTRIES = 100

_STATUS_ELEMENT = {
    invites.NORESPONSE: clark("CS:invite-noresponse"),
    invites.ACCEPTED: INVITE_ACCEPTED,
    invites.DECLINED: INVITE_DECLINED,
    invites.DELETED: clark("CS:invite-deleted"),
}
_ACCESS_ELEMENT = {"read-write": READ_WRITE, "read": READ}
_UID = re.compile(r"[A-Za-z0-9-]{1,64}")
_XML_MEDIA = ("text/xml", "application/xml")


def announce(headers: Any) -> dict[str, str]:
    """``headers`` with ``calendarserver-sharing`` added to the DAV header."""
    result = dict(headers)
    dav = result.get("DAV")
    if dav is not None and DAV_FEATURES[0] not in dav:
        result["DAV"] = ", ".join([dav, *DAV_FEATURES])
    return result


def notification_path(path: str) -> tuple[str, str | None] | None:
    """(owner, item UID or None for the collection) when ``path`` is in someone's
    notification collection, else None."""
    segments = pathutils.strip_path(pathutils.sanitize_path(path)).split("/")
    if len(segments) < 2 or segments[1] != NOTIFICATIONS or len(segments) > 3:
        return None
    owner = segments[0]
    if not owner or owner.startswith((".", "@")):
        return None
    if len(segments) == 2:
        return owner, None
    return owner, segments[2]


def _item_uid(name: str) -> str | None:
    uid = name[: -len(".xml")] if name.endswith(".xml") else ""
    return uid if _UID.fullmatch(uid) else None


# --- answers -----------------------------------------------------------------------------


def _error(caller: Caller, exc: CalserverError, request_info: dict[str, Any]) -> Any:
    """A refused request: DAV:error with the precondition and reason when there is
    one, else the reason in plain text."""
    reason = str(exc)
    logger.info("calendarserver-sharing request of %r refused: %s", caller.user, reason)
    if not exc.precondition:
        body = errors.text_answer(reason)
        return exc.status, {"Content-Type": "text/plain; charset=utf-8"}, body, None
    root = errors.dav_error_element(exc.precondition, reason, xmlutils.webdav_error)
    headers = {"Content-Type": f"text/xml; charset={caller.encoding}"}
    return exc.status, headers, caller.xml_response(root, request_info), None


def _xml_answer(caller: Caller, status: int, root: ET.Element, request_info: dict[str, Any]) -> Any:
    headers = announce(
        {"DAV": httputils.DAV_HEADERS, "Content-Type": f"text/xml; charset={caller.encoding}"}
    )
    return status, headers, caller.xml_response(root, request_info), None


# --- POST: CS:share and CS:invite-reply ------------------------------------------------


def post(caller: Caller, path: str, request_info: dict[str, Any]) -> Any | None:
    """The answer to a POST of a ``CS:share`` or ``CS:invite-reply``, or None when the
    POST is something else (Radicale's to answer)."""
    media = caller.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if media not in _XML_MEDIA:
        return None
    body = read_body(caller.environ)
    root = parse_xml(body)
    if root is None:
        if body.lstrip().startswith(b"<"):
            return _error(caller, InvalidInput("the body is not well-formed XML"), request_info)
        return None
    if root.tag not in (SHARE, INVITE_REPLY):
        return None
    if not caller.user:
        return httputils.NOT_ALLOWED
    stripped = pathutils.strip_path(pathutils.sanitize_path(path))
    try:
        if root.tag == SHARE:
            return _share(caller, stripped, root)
        return _reply(caller, stripped, root, request_info)
    except CalserverError as exc:
        return _error(caller, exc, request_info)


def _one_href(entry: ET.Element, what: str) -> str:
    found = [element.text or "" for element in entry.findall(HREF)]
    if len(found) != 1 or not found[0].strip():
        raise InvalidInput(f"each {what} holds exactly one DAV:href")
    return found[0].strip()


def _person(caller: Caller, conn: Any, href: str) -> str:
    """The user an href of a CS:set / CS:remove names (``mailto:`` or a principal URL)."""
    if href.lower().startswith("mailto:"):
        person = addresses.user_for(conn, href)
    else:
        found = path_of(href, caller.base_prefix)
        if not found or "/" in found or found.startswith((".", "@")):
            raise InvalidInput(
                f"{href!r} names no user: give mailto: or a user's principal URL "
                "(groups are shared with 'calserver share' or the API)"
            )
        person = addresses.user_for(conn, "/" + found + "/")
    if person is None:
        raise InvalidInput(f"no user of this server has the address {href!r}")
    return person.name


def _share(caller: Caller, path: str, root: ET.Element) -> Any:
    """caldav-sharing 5.3.1: share the calendar at ``path``, or take shares back."""
    segments = path.split("/")
    if len(segments) != 2 or not all(segments):
        raise InvalidInput("a CS:share is posted to a calendar")
    home, name = segments
    if home == caller.user and alias_target(name) is not None:
        raise Forbidden("a calendar shared with you cannot be shared again; ask its owner")
    entries: list[tuple[str, ET.Element]] = []
    for entry in root:
        if entry.tag not in (SET, REMOVE):
            raise InvalidInput(f"a CS:share holds CS:set and CS:remove only, not {entry.tag}")
        entries.append((_one_href(entry, "CS:set and CS:remove"), entry))
    if not entries:
        raise InvalidInput("the CS:share holds no CS:set or CS:remove")
    if len(entries) > MAX_ENTRIES:
        raise InvalidInput(f"at most {MAX_ENTRIES} entries per CS:share")
    # who may share first: a stranger learns nothing of the calendar or the addresses
    with read_connection(caller.engine) as conn:
        check_may_manage(conn, path, caller.user)
        calendar_id(conn, path)
        planned: list[tuple[str, str | None, str]] = []
        for href, entry in entries:
            person = _person(caller, conn, href)
            if entry.tag == REMOVE:
                planned.append((person, None, ""))
                continue
            access = [
                label
                for label, element in (("read-write", READ_WRITE), ("read", READ))
                if entry.find(element) is not None
            ]
            if len(access) != 1:
                raise InvalidInput(f"the CS:set of {href!r} needs one of CS:read-write, CS:read")
            planned.append((person, access[0], entry.findtext(SUMMARY) or ""))
    invites.change(caller.engine, path, caller.user, planned)
    return 200, {}, None, None


def _reply(caller: Caller, path: str, root: ET.Element, request_info: dict[str, Any]) -> Any:
    """caldav-sharing 5.3.2: the sharee accepts or declines, posting to their home
    (or their notification collection)."""
    segments = path.split("/")
    own = segments[0] == caller.user and (
        len(segments) == 1 or (len(segments) in (2, 3) and segments[1] == NOTIFICATIONS)
    )
    if not own:
        raise Forbidden("a CS:invite-reply is posted to your own calendar home")
    answers = [root.find(INVITE_ACCEPTED) is not None, root.find(INVITE_DECLINED) is not None]
    if sum(answers) != 1:
        raise InvalidInput("a CS:invite-reply holds one of CS:invite-accepted, CS:invite-declined")
    accepted = answers[0]
    host = root.find(HOSTURL)
    if host is None:
        raise InvalidInput("a CS:invite-reply names the shared calendar in CS:hosturl")
    href = _one_href(host, "CS:hosturl")
    calendar = path_of(href, caller.base_prefix) or ""
    parts = calendar.split("/")
    if len(parts) == 2 and parts[0] == caller.user and (target := alias_target(parts[1])):
        calendar = target  # the calendar as it appears in the sharee's home
    if len(calendar.split("/")) != 2:
        raise InvalidInput(f"CS:hosturl {href!r} names no calendar")
    shared = invites.reply(
        caller.engine, caller.user, calendar, accepted, root.findtext(SUMMARY) or ""
    )
    if not accepted:
        return 204, {}, None, None
    answer = ET.Element(SHARED_AS)
    ET.SubElement(answer, HREF).text = caller.href(f"{caller.user}/{alias_name(shared)}")
    return _xml_answer(caller, 200, answer, request_info)


# --- PROPFIND: calendar and principal properties ----------------------------------------


def _requested(body: bytes) -> set[str]:
    root = parse_xml(body)
    if root is None or root.tag != PROPFIND or not len(root) or root[0].tag != PROP:
        return set()
    return {child.tag for child in root[0]}


def _address(caller: Caller, name: str, email: str) -> str:
    return addresses.mailto(email) if email else caller.href(name)


def _invite_element(caller: Caller, owner: str, owner_email: str, found: list[Any]) -> ET.Element:
    element = ET.Element(INVITE)
    organizer = ET.SubElement(element, ORGANIZER)
    ET.SubElement(organizer, HREF).text = _address(caller, owner, owner_email)
    ET.SubElement(organizer, COMMON_NAME).text = owner
    for invitee in found:
        user = ET.SubElement(element, USER)
        ET.SubElement(user, HREF).text = _address(caller, invitee.user, invitee.email)
        ET.SubElement(user, COMMON_NAME).text = invitee.user
        ET.SubElement(user, _STATUS_ELEMENT[invitee.status])
        ET.SubElement(ET.SubElement(user, ACCESS), _ACCESS_ELEMENT[invitee.access])
    return element


def complete_propfind(
    caller: Caller, path: str, body: bytes, answer: Any, request_info: dict[str, Any]
) -> Any:
    """Radicale's PROPFIND answer with ``calendarserver-sharing`` in its DAV header and,
    when asked for by name, ``CS:invite`` and ``CS:allowed-sharing-modes`` of calendars,
    ``CS:notification-URL`` of the caller's principal, and in ``D:resourcetype`` the
    marks of shared calendars: ``CS:shared-owner`` on a calendar the caller shares,
    ``CS:shared`` on one shared with them in their home (caldav-sharing 5.2.3; on a
    home's listing and a calendar's Depth 0 only: item listings stay unparsed). Other
    answers are left as they are, unparsed."""
    status, headers, content, xml_request = answer
    if status != 207 or not isinstance(content, bytes):
        return answer
    headers = announce(headers)
    names = _requested(body)
    wanted_calendar = names & CALENDAR_PROPS
    wanted_principal = NOTIFICATION_URL in names
    looked = pathutils.strip_path(path).split("/")
    depth = caller.environ.get("HTTP_DEPTH", "0")
    marks = RESOURCETYPE in names and (len(looked) == 1 or (len(looked) == 2 and depth == "0"))
    if not caller.user or not (wanted_calendar or wanted_principal or marks):
        return status, headers, content, xml_request
    root = parse_xml(content)
    if root is None:
        return status, headers, content, xml_request
    calendars: list[tuple[ET.Element, str]] = []
    with read_connection(caller.engine) as conn:
        for response in root.findall(RESPONSE):
            found = path_of(response.findtext(HREF) or "", caller.base_prefix)
            if not found or found.startswith("."):
                continue
            segments = found.split("/")
            if len(segments) == 1 and wanted_principal:
                _complete_principal(caller, response, segments[0])
            elif len(segments) == 2:
                calendars.append((response, found))
                if wanted_calendar:
                    _complete_calendar(caller, conn, response, found, wanted_calendar)
        if marks and calendars:
            _mark_shared(caller, conn, calendars)
    return status, headers, caller.xml_response(root, request_info), xml_request


def _mark_shared(caller: Caller, conn: Any, calendars: list[tuple[ET.Element, str]]) -> None:
    own = [found for _, found in calendars if _may_manage(conn, found, caller.user)]
    shared = invites.shared_calendars(conn, own)
    for response, found in calendars:
        home, _, name = found.partition("/")
        if found in shared:
            mark = clark("CS:shared-owner")
        elif home == caller.user and alias_target(name) is not None:
            mark = clark("CS:shared")
        else:
            continue
        for propstat in response.findall(clark("D:propstat")):
            if " 200 " not in (propstat.findtext(clark("D:status")) or ""):
                continue
            resourcetype = propstat.find(f"{PROP}/{RESOURCETYPE}")
            if resourcetype is not None and resourcetype.find(CALENDAR) is not None:
                ET.SubElement(resourcetype, mark)


def _may_manage(conn: Any, path: str, user: str) -> bool:
    try:
        check_may_manage(conn, path, user)
    except CalserverError:
        return False
    return True


def _complete_principal(caller: Caller, response: ET.Element, principal: str) -> None:
    remove_property(response, NOTIFICATION_URL)
    element = ET.Element(NOTIFICATION_URL)
    if principal != caller.user:
        add_property(response, element, 404)
        return
    ET.SubElement(element, HREF).text = caller.href(f"{principal}/{NOTIFICATIONS}")
    add_property(response, element, 200)


def _complete_calendar(
    caller: Caller, conn: Any, response: ET.Element, path: str, wanted: set[str]
) -> None:
    try:
        check_may_manage(conn, path, caller.user)
        collection_id = calendar_id(conn, path)
    except CalserverError:
        collection_id = None
    for name in wanted:
        remove_property(response, name)
    if ALLOWED_SHARING_MODES in wanted:
        modes = ET.Element(ALLOWED_SHARING_MODES)
        if collection_id is not None:
            ET.SubElement(modes, CAN_BE_SHARED)
        add_property(response, modes, 200)
    if INVITE in wanted:
        if collection_id is None:
            add_property(response, ET.Element(INVITE), 404)
            return
        owner = path.partition("/")[0]
        found = invites.invitees_in(conn, collection_id)
        email = (
            ""
            if owner.startswith("@")
            else accounts_directory.emails_of(conn, [owner]).get(owner, "")
        )
        add_property(response, _invite_element(caller, owner, email or "", found), 200)


# --- the notification collection ---------------------------------------------------------


def _item_href(caller: Caller, owner: str, uid: str) -> str:
    return xmlutils.make_href(caller.base_prefix, f"/{owner}/{NOTIFICATIONS}/{uid}.xml")


def _own_collection(caller: Caller, path: str) -> tuple[str, str | None, Any]:
    """(owner, item UID or None, None) of the caller's own notification collection,
    or ("", None, the refusal to answer)."""
    found = notification_path(path)
    assert found is not None
    owner, name = found
    if not caller.user:
        return "", None, httputils.NOT_ALLOWED
    if owner != caller.user:
        return "", None, httputils.FORBIDDEN  # notifications are their owner's alone
    if name is None:
        return owner, None, None
    uid = _item_uid(name)
    if uid is None:
        return "", None, httputils.NOT_FOUND
    return owner, uid, None


def _prop_values(
    caller: Caller, owner: str, item: invites.Notification | None, names: list[str]
) -> list[tuple[ET.Element, int]]:
    values = []
    for name in names:
        element = ET.Element(name)
        code = 200
        if name == RESOURCETYPE:
            if item is None:
                ET.SubElement(element, COLLECTION)
                ET.SubElement(element, NOTIFICATION)
        elif name == DISPLAYNAME and item is None:
            element.text = "Notifications"
        elif name == GETETAG and item is not None:
            element.text = item.etag
        elif name == GETCONTENTTYPE and item is not None:
            element.text = "application/xml; charset=utf-8"
        elif name == NOTIFICATIONTYPE and item is not None:
            kind = ET.SubElement(element, clark(f"CS:{item.kind}"))
            if item.kind == invites.INVITE_NOTIFICATION:
                kind.set("shared-type", "calendar")
        elif name == GETCTAG and item is None:
            listing = invites.notifications(caller.engine, owner)
            element.text = '"' + "-".join(n.etag.strip('"')[:8] for n in listing) + '"'
        else:
            code = 404
        values.append((element, code))
    return values


_ALL_COLLECTION = [RESOURCETYPE, DISPLAYNAME, GETCTAG]
_ALL_ITEM = [RESOURCETYPE, GETETAG, GETCONTENTTYPE, NOTIFICATIONTYPE]


def propfind_notifications(
    caller: Caller, path: str, body: bytes, request_info: dict[str, Any]
) -> Any | None:
    """The PROPFIND answer of a notification collection or item (caldav-sharing 5.1),
    or None when ``path`` is not in one."""
    if notification_path(path) is None:
        return None
    owner, uid, refusal = _own_collection(caller, path)
    if refusal is not None:
        return refusal
    root = parse_xml(body) if body else None
    propname = root is not None and len(root) and root[0].tag == PROPNAME
    requested = sorted(_requested(body))
    multistatus = ET.Element(MULTISTATUS)
    listing = invites.notifications(caller.engine, owner)
    if uid is not None:
        items = [n for n in listing if n.uid == uid]
        if not items:
            return httputils.NOT_FOUND
    else:
        response = ET.SubElement(multistatus, RESPONSE)
        ET.SubElement(response, HREF).text = caller.href(f"{owner}/{NOTIFICATIONS}")
        names = requested or _ALL_COLLECTION
        for element, code in _prop_values(caller, owner, None, names):
            if propname:
                element = ET.Element(element.tag)
            add_property(response, element, code)
        items = listing if caller.environ.get("HTTP_DEPTH", "0") != "0" else []
    for item in items:
        response = ET.SubElement(multistatus, RESPONSE)
        ET.SubElement(response, HREF).text = _item_href(caller, owner, item.uid)
        for element, code in _prop_values(caller, owner, item, requested or _ALL_ITEM):
            if propname:
                element = ET.Element(element.tag)
            add_property(response, element, code)
    return _xml_answer(caller, 207, multistatus, request_info)


def notification_document(caller: Caller, owner: str, item: invites.Notification) -> ET.Element:
    """The ``CS:notification`` of one item (caldav-sharing 5.5)."""
    root = ET.Element(NOTIFICATION)
    stamp = dt.datetime.fromtimestamp(item.created, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    ET.SubElement(root, DTSTAMP).text = stamp
    data = item.data
    calendar = str(data.get("calendar", ""))
    if item.kind == invites.INVITE_NOTIFICATION:
        body = ET.SubElement(root, INVITE_NOTIFICATION, {"shared-type": "calendar"})
        ET.SubElement(body, UID).text = item.uid
        with read_connection(caller.engine) as conn:
            email = accounts_directory.emails_of(conn, [owner]).get(owner, "")
        ET.SubElement(body, HREF).text = _address(caller, owner, email or "")
        ET.SubElement(body, _STATUS_ELEMENT.get(item.status, _STATUS_ELEMENT["deleted"]))
        access = _ACCESS_ELEMENT.get(str(data.get("access")), READ)
        ET.SubElement(ET.SubElement(body, ACCESS), access)
        ET.SubElement(ET.SubElement(body, HOSTURL), HREF).text = caller.href(calendar)
        organizer = ET.SubElement(body, ORGANIZER)
        sharer = str(data.get("owner", ""))
        ET.SubElement(organizer, HREF).text = _address(
            caller, sharer, str(data.get("owner_email", ""))
        )
        ET.SubElement(organizer, COMMON_NAME).text = sharer
        ET.SubElement(body, SUMMARY).text = str(data.get("summary") or calendar)
    else:
        body = ET.SubElement(root, INVITE_REPLY)
        sharee = str(data.get("sharee", ""))
        ET.SubElement(body, HREF).text = _address(caller, sharee, str(data.get("sharee_email", "")))
        ET.SubElement(body, _STATUS_ELEMENT.get(item.status, INVITE_DECLINED))
        ET.SubElement(ET.SubElement(body, HOSTURL), HREF).text = caller.href(calendar)
        ET.SubElement(body, IN_REPLY_TO).text = str(data.get("in_reply_to", ""))
        ET.SubElement(body, SUMMARY).text = str(data.get("summary", ""))
    return root


def get_notification(caller: Caller, path: str, request_info: dict[str, Any]) -> Any | None:
    """GET of a notification item, or None when ``path`` is not in a notification
    collection."""
    if notification_path(path) is None:
        return None
    owner, uid, refusal = _own_collection(caller, path)
    if refusal is not None:
        return refusal
    if uid is None:
        return httputils.METHOD_NOT_ALLOWED
    item = invites.notification(caller.engine, owner, uid)
    if item is None:
        return httputils.NOT_FOUND
    content = caller.xml_response(notification_document(caller, owner, item), request_info)
    headers = {"Content-Type": f"application/xml; charset={caller.encoding}", "ETag": item.etag}
    return 200, headers, content, None


def delete_notification(caller: Caller, path: str) -> Any | None:
    """DELETE of a notification item (the client dismisses it), or None when ``path``
    is not in a notification collection."""
    if notification_path(path) is None:
        return None
    owner, uid, refusal = _own_collection(caller, path)
    if refusal is not None:
        return refusal
    if uid is None:
        return httputils.FORBIDDEN  # the collection itself is the server's
    if not invites.dismiss(caller.engine, owner, uid):
        return httputils.NOT_FOUND
    return 204, {}, None, None
