"""CalDAV scheduling on the WebDAV side (RFC 6638): what a client sees of it.

- ``calendar-auto-schedule`` in the DAV header (RFC 6638 2): the server schedules
  implicitly (``calserver.scheduling.hooks``);
- the principal properties of RFC 6638 2.4.1 ``C:calendar-user-address-set``, 2.2.1
  ``C:schedule-inbox-URL``, 2.1.1 ``C:schedule-outbox-URL``, 2.4.2
  ``C:calendar-user-type`` and 9.2 ``C:schedule-default-calendar-URL`` (that one also
  on the inbox), completed into Radicale's PROPFIND answer as delegation completes its
  own (``calserver.dav.delegation``): the values given here replace Radicale's;
- the schedule inbox ``USER/inbox`` (RFC 6638 2.2; a calendar collection in storage,
  ``C:schedule-inbox`` to clients, never ``C:calendar``) and the schedule outbox
  ``USER/outbox`` (2.1; a plain collection), created when their owner looks at their
  home; PUT into either is refused, and their names are reserved in every home;
- POST of a VFREEBUSY request to one's own outbox (RFC 6638 5, RFC 5546 3.3.2): a
  ``C:schedule-response`` with each attendee's busy time, as the poster may see it
  (DESIGN.md, "Rules in detail": the poster's level on each of the attendee's
  calendars, free/busy for every co-member of a group; private events never,
  confidential ones only from reader up).

The protocol pieces (request checks, busy periods, the iTIP reply) are pure functions;
:func:`outbox_post` and :func:`complete_propfind` are the WSGI-side entry points
``calserver.dav.application`` calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import icalendar
from radicale import httputils, pathutils, xmlutils
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from calserver.accounts import availability as accounts_availability
from calserver.accounts import directory as accounts_directory
from calserver.dav import compat
from calserver.dav.availability import CALENDAR_AVAILABILITY, complete_inbox
from calserver.dav.xml import (
    CALENDAR_USER_ADDRESS_SET,
    CURRENT_USER_PRINCIPAL,
    CURRENT_USER_PRIVILEGE_SET,
    DISPLAYNAME,
    HREF,
    MULTISTATUS,
    PRINCIPAL_COLLECTION_SET,
    PROP,
    PROPFIND,
    PROPNAME,
    PROPSTAT,
    RESOURCETYPE,
    RESPONSE,
    STATUS,
    SUPPORTED_REPORT_SET,
    Caller,
    add_property,
    clark,
    parse_xml,
    path_of,
    remove_property,
    status_line,
)
from calserver.httpbody import read_body
from calserver.scheduling import addresses, copies
from calserver.sharing import directory
from calserver.storage.context import read_connection, write_scope

logger = logging.getLogger("calserver")

#: RFC 6638 2: the server does the scheduling of stored meetings.
DAV_FEATURES = ("calendar-auto-schedule",)

INBOX, OUTBOX = copies.INBOX, copies.OUTBOX
RESERVED = copies.RESERVED


COLLECTION = clark("D:collection")
OWNER = clark("D:owner")

SCHEDULE_INBOX_URL = clark("C:schedule-inbox-URL")
SCHEDULE_OUTBOX_URL = clark("C:schedule-outbox-URL")
CALENDAR_USER_TYPE = clark("C:calendar-user-type")
SCHEDULE_DEFAULT_CALENDAR_URL = clark("C:schedule-default-calendar-URL")
SCHEDULE_INBOX = clark("C:schedule-inbox")
SCHEDULE_OUTBOX = clark("C:schedule-outbox")

#: The scheduling properties of a user principal (all protected, RFC 6638 2.x).
PRINCIPAL_PROPS = frozenset(
    {
        CALENDAR_USER_ADDRESS_SET,
        SCHEDULE_INBOX_URL,
        SCHEDULE_OUTBOX_URL,
        CALENDAR_USER_TYPE,
        SCHEDULE_DEFAULT_CALENDAR_URL,
    }
)

#: Most attendees of one free/busy request, and the longest span it may ask about.
MAX_ATTENDEES = 100
MAX_SPAN = dt.timedelta(days=732)

SUCCESS = "2.0;Success"
INVALID_USER = "3.7;Invalid calendar user"
NO_AUTHORITY = "3.8;No authority"
TOO_MUCH = "5.1;Service unavailable: too many busy periods"

PRODID = "-//calserver//scheduling//EN"


# --- paths -------------------------------------------------------------------------


def mailbox(path: str) -> tuple[str, str] | None:
    """(owner, "inbox" | "outbox") when ``path`` names a home's schedule inbox or
    outbox (RFC 6638 2.1, 2.2), else None."""
    segments = pathutils.strip_path(pathutils.sanitize_path(path)).split("/")
    if len(segments) != 2 or segments[1] not in RESERVED:
        return None
    owner = segments[0]
    if not owner or owner.startswith("."):
        return None
    return owner, segments[1]


def reserved(path: str) -> bool:
    """Whether ``path`` names ``inbox`` or ``outbox`` in some home: not a name anyone may
    give a calendar or collection (MKCALENDAR, MKCOL)."""
    return mailbox(path) is not None


def refuses_put(path: str) -> bool:
    """Whether ``path`` is a resource in a schedule inbox or outbox: only the server
    writes there (RFC 6638 2.2: the inbox holds the server's iTIP messages; 2.1: the
    outbox takes POST only)."""
    parent = pathutils.strip_path(path).rpartition("/")[0]
    return mailbox(parent) is not None


def refuses_proppatch(path: str, body: bytes) -> bool:
    """Whether a PROPPATCH of a user principal sets or removes one of its scheduling
    properties: computed here, so protected (RFC 4918 15, RFC 6638 2.x)."""
    segments = pathutils.strip_path(path).split("/")
    if len(segments) != 1 or not segments[0]:
        return False
    root = parse_xml(body)
    return root is not None and any(element.tag in PRINCIPAL_PROPS for element in root.iter())


def announce(headers: Any) -> dict[str, str]:
    """``headers`` with ``calendar-auto-schedule`` added to the DAV header."""
    result = dict(headers)
    dav = result.get("DAV")
    if dav is not None and DAV_FEATURES[0] not in dav:
        result["DAV"] = ", ".join([dav, *DAV_FEATURES])
    return result


# --- the inbox exists when its owner looks -----------------------------------------------


def ensure_inbox(db_engine: Engine, user: str, looked_at: str) -> None:
    """Create ``user``'s schedule inbox when missing, if the PROPFIND at ``looked_at``
    is on their home or their inbox (other PROPFINDs, of calendars, pay nothing; a read
    first: nearly always it is there). Two requests racing to create it: the loser's
    insert fails on the unique path, and what it wanted exists. (The outbox is virtual:
    :func:`propfind_outbox`.)"""
    path = f"{user}/{INBOX}"
    if pathutils.strip_path(looked_at) not in (user, path):
        return
    with read_connection(db_engine) as conn:
        if directory.collection_exists(conn, path):
            return
    try:
        with write_scope(db_engine) as conn:
            copies.ensure_inbox(conn, user)
    except IntegrityError:
        logger.debug("schedule inbox of %r created by another request", user)


# --- principal properties (RFC 6638 2.1.1, 2.2.1, 2.4.1, 2.4.2, 9.2) ---------------------


def _href_element(tag: str, hrefs: Iterable[str]) -> ET.Element:
    element = ET.Element(tag)
    for href in hrefs:
        ET.SubElement(element, HREF).text = href
    return element


def principal_values(
    caller: Caller, conn: Connection, principal: str, email: str, names: Iterable[str]
) -> list[tuple[ET.Element, int]]:
    """The values (and statuses) of the scheduling properties ``names`` of the user
    principal ``principal`` (whose e-mail address is ``email``)."""
    values: list[tuple[ET.Element, int]] = []
    for name in sorted(set(names) & PRINCIPAL_PROPS):
        if name == CALENDAR_USER_ADDRESS_SET:
            hrefs = [addresses.mailto(email)] if email else []
            hrefs.append(caller.href(principal))
            values.append((_href_element(name, hrefs), 200))
        elif name == SCHEDULE_INBOX_URL:
            values.append((_href_element(name, [caller.href(f"{principal}/{INBOX}")]), 200))
        elif name == SCHEDULE_OUTBOX_URL:
            values.append((_href_element(name, [caller.href(f"{principal}/{OUTBOX}")]), 200))
        elif name == CALENDAR_USER_TYPE:
            element = ET.Element(name)
            element.text = "INDIVIDUAL"
            values.append((element, 200))
        elif name == SCHEDULE_DEFAULT_CALENDAR_URL:
            values.append(_default_calendar_value(caller, conn, principal))
    return values


def _default_calendar_value(caller: Caller, conn: Connection, owner: str) -> tuple[ET.Element, int]:
    if caller.user != owner:
        return ET.Element(SCHEDULE_DEFAULT_CALENDAR_URL), 403
    path = copies.find_default_calendar(conn, owner)
    if path is None:
        return ET.Element(SCHEDULE_DEFAULT_CALENDAR_URL), 404
    return _href_element(SCHEDULE_DEFAULT_CALENDAR_URL, [caller.href(path)]), 200


# --- PROPFIND completion -------------------------------------------------------------


def _request_kind(body: bytes) -> tuple[str, set[str]]:
    """("prop", names) / ("allprop", {}) / ("propname", {}) of a PROPFIND body (an empty
    body is allprop, RFC 4918 9.1)."""
    root = parse_xml(body)
    if root is None or root.tag != PROPFIND or not len(root):
        return "allprop", set()
    top = root[0]
    if top.tag == PROP:
        return "prop", {child.tag for child in top}
    if top.tag == PROPNAME:
        return "propname", set()
    return "allprop", set()


def _found(response: ET.Element, tag: str) -> ET.Element | None:
    """The element ``tag`` in the 200 propstat of ``response``."""
    for propstat in response.findall(PROPSTAT):
        if propstat.findtext(STATUS) != status_line(200):
            continue
        element = propstat.find(f"{PROP}/{tag}")
        if element is not None:
            return element
    return None


def complete_propfind(
    caller: Caller, path: str, body: bytes, answer: Any, request_info: dict[str, Any]
) -> Any:
    """Radicale's PROPFIND answer with ``calendar-auto-schedule`` in its DAV header,
    the scheduling properties of user principals, and the inbox and outbox shown as
    such: ``D:resourcetype`` ``collection`` + ``C:schedule-inbox`` /
    ``C:schedule-outbox`` (RFC 6638 2.1, 2.2). Only answers on a home (Depth 0: the
    principal, Depth 1: also its collections) or on a mailbox can hold them: others are
    left as they are, unparsed."""
    status, headers, content, xml_request = answer
    if status != 207 or not isinstance(content, bytes):
        return answer
    headers = announce(headers)
    segments = pathutils.strip_path(path).split("/")
    if not (len(segments) == 1 and segments[0]) and mailbox(path) is None:
        return status, headers, content, xml_request
    kind, names = _request_kind(body)
    home = segments[0] if len(segments) == 1 else ""
    listing = bool(home) and home == caller.user and caller.environ.get("HTTP_DEPTH") == "1"
    asked = PRINCIPAL_PROPS | {RESOURCETYPE, CALENDAR_AVAILABILITY}
    if not listing and kind == "prop" and not names & asked:
        return status, headers, content, xml_request
    root = parse_xml(content)
    if root is None:
        return status, headers, content, xml_request
    if listing:  # the virtual outbox is a member of its owner's home
        outbox = caller.href(f"{home}/{OUTBOX}")
        if all(r.findtext(HREF) != outbox for r in root.findall(RESPONSE)):
            root.append(outbox_response(caller, home, body))
    principals: dict[str, ET.Element] = {}
    boxes: list[tuple[ET.Element, str, str]] = []
    for response in root.findall(RESPONSE):
        found = path_of(response.findtext(HREF) or "", caller.base_prefix)
        if not found:
            continue
        if "/" not in found and not found.startswith(("@", ".")):
            principals[found] = response
        elif (box := mailbox(found)) is not None:
            boxes.append((response, *box))
    if not principals and not boxes and not listing:
        return status, headers, content, xml_request
    with read_connection(caller.engine) as conn:
        emails = accounts_directory.emails_of(conn, principals)
        for name, response in principals.items():
            if name not in emails:
                continue
            _complete_principal(caller, conn, response, name, emails[name] or "", kind, names)
        for response, owner, which in boxes:
            _complete_mailbox(caller, conn, response, owner, which, kind, names)
    return status, headers, caller.xml_response(root, request_info), xml_request


def _complete_principal(
    caller: Caller,
    conn: Connection,
    response: ET.Element,
    principal: str,
    email: str,
    kind: str,
    names: set[str],
) -> None:
    if kind == "propname":
        for name in sorted(PRINCIPAL_PROPS):
            remove_property(response, name)
            add_property(response, ET.Element(name), 200)
        return
    if kind == "allprop":
        # Radicale's allprop names calendar-user-address-set with the principal URL only
        present = _found(response, CALENDAR_USER_ADDRESS_SET) is not None
        wanted = {CALENDAR_USER_ADDRESS_SET} if present else set()
    else:
        wanted = names & PRINCIPAL_PROPS
    for element, code in principal_values(caller, conn, principal, email, wanted):
        remove_property(response, element.tag)
        add_property(response, element, code)


def _complete_mailbox(
    caller: Caller,
    conn: Connection,
    response: ET.Element,
    owner: str,
    which: str,
    kind: str,
    names: set[str],
) -> None:
    resourcetype = _found(response, RESOURCETYPE)
    if resourcetype is not None:
        for child in list(resourcetype):
            resourcetype.remove(child)
        ET.SubElement(resourcetype, COLLECTION)
        ET.SubElement(resourcetype, SCHEDULE_INBOX if which == INBOX else SCHEDULE_OUTBOX)
    if which == INBOX and (
        kind == "propname" or (kind == "prop" and SCHEDULE_DEFAULT_CALENDAR_URL in names)
    ):
        remove_property(response, SCHEDULE_DEFAULT_CALENDAR_URL)
        if kind == "propname":
            add_property(response, ET.Element(SCHEDULE_DEFAULT_CALENDAR_URL), 200)
        else:
            element, code = _default_calendar_value(caller, conn, owner)
            add_property(response, element, code)
    if which == INBOX:  # availability (RFC 7953 7.2.4)
        complete_inbox(caller, conn, response, owner, kind, names)


# --- the outbox: virtual, answered here ------------------------------------------------

#: What allprop returns of an outbox (and propname names).
_OUTBOX_PROPS = (
    RESOURCETYPE,
    DISPLAYNAME,
    OWNER,
    CURRENT_USER_PRINCIPAL,
    PRINCIPAL_COLLECTION_SET,
    CURRENT_USER_PRIVILEGE_SET,
    SUPPORTED_REPORT_SET,
)


def _outbox_value(caller: Caller, owner: str, name: str) -> tuple[ET.Element, int]:
    element = ET.Element(name)
    if name == RESOURCETYPE:
        ET.SubElement(element, COLLECTION)
        ET.SubElement(element, SCHEDULE_OUTBOX)
    elif name == DISPLAYNAME:
        element.text = "Outbox"
    elif name == OWNER:
        ET.SubElement(element, HREF).text = caller.href(owner)
    elif name == CURRENT_USER_PRINCIPAL:
        ET.SubElement(element, HREF).text = caller.href(caller.user)
    elif name == PRINCIPAL_COLLECTION_SET:
        ET.SubElement(element, HREF).text = xmlutils.make_href(caller.base_prefix, "/")
    elif name == CURRENT_USER_PRIVILEGE_SET:
        # RFC 6638 6.1.1: CALDAV:schedule-send (free/busy look-ups are what is sent)
        for privilege in ("D:read", "C:schedule-send", "C:schedule-send-freebusy"):
            ET.SubElement(ET.SubElement(element, clark("D:privilege")), clark(privilege))
    elif name == SUPPORTED_REPORT_SET:
        pass
    else:
        return element, 404
    return element, 200


def outbox_response(caller: Caller, owner: str, body: bytes) -> ET.Element:
    """The ``D:response`` of ``owner``'s outbox for a PROPFIND ``body``."""
    kind, names = _request_kind(body)
    response = ET.Element(RESPONSE)
    ET.SubElement(response, HREF).text = caller.href(f"{owner}/{OUTBOX}")
    if kind == "propname":
        for name in _OUTBOX_PROPS:
            add_property(response, ET.Element(name), 200)
        return response
    wanted = list(_OUTBOX_PROPS) if kind == "allprop" else sorted(names)
    for name in wanted:
        element, code = _outbox_value(caller, owner, name)
        add_property(response, element, code)
    return response


def propfind_outbox(
    caller: Caller, path: str, body: bytes, request_info: dict[str, Any]
) -> Any | None:
    """The PROPFIND answer of a schedule outbox (RFC 6638 2.1: a collection with
    resourcetype ``C:schedule-outbox``, no members, only its owner's), or None when
    ``path`` is not one."""
    found = mailbox(path)
    if found is None or found[1] != OUTBOX:
        return None
    owner = found[0]
    if not caller.user:
        return httputils.NOT_ALLOWED
    with read_connection(caller.engine) as conn:
        if directory.collection_exists(conn, pathutils.strip_path(path)):
            return None  # a collection of that name (from before) is answered as such
        known = accounts_directory.user_id(conn, owner) is not None
    if not known:
        return httputils.NOT_FOUND
    if owner != caller.user:
        return httputils.NOT_ALLOWED
    multistatus = ET.Element(MULTISTATUS)
    multistatus.append(outbox_response(caller, owner, body))
    headers = announce(
        {"DAV": httputils.DAV_HEADERS, "Content-Type": f"text/xml; charset={caller.encoding}"}
    )
    return 207, headers, caller.xml_response(multistatus, request_info), None


# --- POST to the outbox: free/busy (RFC 6638 5, RFC 5546 3.3.2) ------------------------


class BadSchedulingRequest(ValueError):
    """A POST the outbox refuses; ``precondition`` names the failed RFC 6638 / RFC 4791
    precondition (as ``C:name``), ``status`` the HTTP status."""

    def __init__(self, reason: str, precondition: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.precondition = precondition
        self.status = status


@dataclass(frozen=True)
class FreeBusyRequest:
    """A VFREEBUSY REQUEST (RFC 5546 3.3.2) as the outbox takes it."""

    component: Any  # the icalendar VFREEBUSY
    organizer: str
    attendees: list[str]
    start: dt.datetime  # UTC
    end: dt.datetime  # UTC


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # floating: read as UTC
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), dt.UTC)
    raise TypeError(value)


def parse_request(body: bytes) -> FreeBusyRequest:
    """The free/busy request of a POST body, or :class:`BadSchedulingRequest`: RFC 6638
    5 takes a VCALENDAR with METHOD:REQUEST and one VFREEBUSY holding DTSTART, DTEND,
    ORGANIZER and at least one ATTENDEE (RFC 5546 3.3.2)."""
    try:
        text = body.decode("utf-8")
        calendar = icalendar.Calendar.from_ical(text)
    except (UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise BadSchedulingRequest(
            "the body is not an iCalendar object", "C:valid-calendar-data"
        ) from exc
    if getattr(calendar, "name", "") != "VCALENDAR":
        raise BadSchedulingRequest("the body is not a VCALENDAR", "C:valid-calendar-data")
    method = str(calendar.get("METHOD", "")).strip().upper()
    found = [c for c in calendar.subcomponents if getattr(c, "name", "") != "VTIMEZONE"]
    if method != "REQUEST" or len(found) != 1 or found[0].name != "VFREEBUSY":
        raise BadSchedulingRequest(
            "the outbox takes a METHOD:REQUEST with one VFREEBUSY (free/busy look-ups); "
            "meetings are scheduled by storing them in a calendar",
            "C:valid-scheduling-message",
        )
    component: Any = found[0]
    organizer = component.get("ORGANIZER")
    if organizer is None or isinstance(organizer, list) or not str(organizer).strip():
        raise BadSchedulingRequest(
            "the VFREEBUSY needs one ORGANIZER", "C:valid-scheduling-message"
        )
    raw = component.get("ATTENDEE")
    attendees = [str(a).strip() for a in (raw if isinstance(raw, list) else [raw]) if a]
    attendees = [a for a in dict.fromkeys(attendees) if a]
    if not attendees:
        raise BadSchedulingRequest("the VFREEBUSY names no ATTENDEE", "C:valid-scheduling-message")
    if len(attendees) > MAX_ATTENDEES:
        raise BadSchedulingRequest(
            f"at most {MAX_ATTENDEES} attendees per request", "C:valid-scheduling-message"
        )
    try:
        start = _utc(component["DTSTART"].dt)
        end = _utc(component["DTEND"].dt)
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise BadSchedulingRequest(
            "the VFREEBUSY needs DTSTART and DTEND", "C:valid-scheduling-message"
        ) from exc
    if end <= start:
        raise BadSchedulingRequest("DTEND is not after DTSTART", "C:valid-scheduling-message")
    if end - start > MAX_SPAN:
        raise BadSchedulingRequest(
            f"at most {MAX_SPAN.days} days per request", "C:valid-scheduling-message"
        )
    return FreeBusyRequest(component, str(organizer).strip(), attendees, start, end)


Period = tuple[dt.datetime, dt.datetime, str]


def merge(periods: Iterable[Period]) -> list[Period]:
    """Busy periods merged per FBTYPE, sorted; FREE ones dropped (they block nothing)."""
    grouped: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
    for start, end, fbtype in periods:
        if fbtype != "FREE" and end > start:
            grouped.setdefault(fbtype, []).append((start, end))
    merged: list[Period] = []
    for fbtype, ranges in grouped.items():
        ranges.sort()
        current_start, current_end = ranges[0]
        for start, end in ranges[1:]:
            if start <= current_end:
                current_end = max(current_end, end)
            else:
                merged.append((current_start, current_end, fbtype))
                current_start, current_end = start, end
        merged.append((current_start, current_end, fbtype))
    return sorted(merged)


def reply(request: FreeBusyRequest, attendee: str, periods: Iterable[Period]) -> str:
    """The METHOD:REPLY VFREEBUSY of one attendee (RFC 5546 3.3.3): DTSTAMP, DTSTART,
    DTEND, ORGANIZER, ATTENDEE, UID, and FREEBUSY per busy period (RFC 5545 3.8.2.6)."""
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", "REPLY")
    component = icalendar.FreeBusy()
    uid = request.component.get("UID")
    if uid:
        component.add("UID", str(uid))
    component.add("DTSTAMP", dt.datetime.now(dt.UTC).replace(microsecond=0))
    component.add("DTSTART", request.start)
    component.add("DTEND", request.end)
    component.add("ORGANIZER", request.component.get("ORGANIZER"))
    component.add("ATTENDEE", icalendar.vCalAddress(attendee))
    for start, end, fbtype in merge(periods):
        component.add("FREEBUSY", (start, end), parameters={"FBTYPE": fbtype})
    calendar.add_component(component)
    return str(calendar.to_ical().decode("utf-8"))


def _busy_of(
    storage: Any, poster: str, owner: str, request: FreeBusyRequest, max_occurrence: int
) -> tuple[str, list[Period]]:
    """(request-status, busy periods) of ``owner`` as ``poster`` sees them. Each
    calendar is read as the poster's view of it (the storage leaves out what their
    level may not see, and serves busy views below reader), and Radicale's own
    free/busy evaluation (with calserver's FBTYPE rules installed) gives the periods."""
    with read_connection(storage.engine) as conn:
        calendars = directory.calendars_for(conn, poster, owner)
    if not calendars and poster != owner:
        return NO_AUTHORITY, []
    start_ts, end_ts = int(request.start.timestamp()), int(request.end.timestamp())
    periods: list[Period] = []
    for path, _level in calendars:
        collection = storage.open_collection(path, poster)
        if collection is None:
            continue
        for item in collection.iter_window("VEVENT", start_ts, end_ts):
            try:
                periods.extend(
                    compat.freebusy_periods(item, request.start, request.end, max_occurrence)
                )
            except ValueError:
                return TOO_MUCH, []
    with read_connection(storage.engine) as conn:  # availability (RFC 7953 4)
        periods.extend(accounts_availability.busy_of(conn, owner, request.start, request.end))
    return SUCCESS, periods


def _schedule_response(results: list[tuple[str, str, str]]) -> ET.Element:
    root = ET.Element(clark("C:schedule-response"))
    for recipient, request_status, data in results:
        response = ET.SubElement(root, clark("C:response"))
        ET.SubElement(ET.SubElement(response, clark("C:recipient")), HREF).text = recipient
        ET.SubElement(response, clark("C:request-status")).text = request_status
        if data:
            ET.SubElement(response, clark("C:calendar-data")).text = data
    return root


def outbox_post(caller: Caller, path: str, request_info: dict[str, Any]) -> Any:
    """POST to a schedule outbox (RFC 6638 5): a free/busy request answered with a
    ``C:schedule-response`` (RFC 6638 5.2 / 10.1), one ``C:response`` per attendee.
    Only the outbox's owner posts to it, as its ORGANIZER (``C:organizer-allowed``)."""
    app = caller.app
    if not caller.user:
        return httputils.NOT_ALLOWED
    found = mailbox(path)
    assert found is not None
    owner, which = found
    if which != OUTBOX:
        return httputils.METHOD_NOT_ALLOWED
    if owner != caller.user:
        return httputils.FORBIDDEN
    media = caller.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if media != "text/calendar":
        return compat.webdav_error_response(app, 415, "C:supported-calendar-data", request_info)
    try:
        request = parse_request(read_body(caller.environ))
    except BadSchedulingRequest as exc:
        logger.info("free/busy request of %r refused: %s", caller.user, exc.reason)
        return compat.webdav_error_response(app, exc.status, exc.precondition, request_info)
    storage = compat.storage(app)
    max_occurrence = app.configuration.get("reporting", "max_freebusy_occurrence")
    results: list[tuple[str, str, str]] = []
    with storage.acquire_lock("r", caller.user):
        with read_connection(storage.engine) as conn:
            if not addresses.me(conn, caller.user)(request.organizer):
                return compat.webdav_error_response(app, 403, "C:organizer-allowed", request_info)
            people = {a: addresses.user_for(conn, a) for a in request.attendees}
        for attendee in request.attendees:
            person = people[attendee]
            if person is None:
                results.append((attendee, INVALID_USER, ""))
                continue
            request_status, periods = _busy_of(
                storage, caller.user, person.name, request, max_occurrence
            )
            data = reply(request, attendee, periods) if request_status == SUCCESS else ""
            results.append((attendee, request_status, data))
    headers = announce(
        {"DAV": httputils.DAV_HEADERS, "Content-Type": f"text/xml; charset={caller.encoding}"}
    )
    return 200, headers, caller.xml_response(_schedule_response(results), request_info), None
