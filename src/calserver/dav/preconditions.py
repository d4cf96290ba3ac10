"""The precondition elements of a refused PUT or MKCALENDAR (RFC 4791 5.3.2.1, 5.3.1;
RFC 4918 16), where Radicale 3.9 answers with a bare status:

- ``CALDAV:supported-calendar-data``: a body declared as another format than
  iCalendar (a vCard, JSON, xCal) PUT into a calendar;
- ``CALDAV:valid-calendar-data`` / ``CALDAV:valid-calendar-object-resource``: Radicale's
  bare 400 for a body it cannot take, told apart by ``calserver.ical.objectrules``;
- ``CALDAV:no-uid-conflict`` with the ``DAV:href`` of the resource that holds the UID,
  when the writer's view shows it (a hidden item is not named: ``storage.get.has_uid``);
- ``CALDAV:max-resource-size``: Radicale answers a body over ``[server]
  max_resource_size`` with 412, which a client takes for an ETag mismatch;
- ``CALDAV:calendar-collection-location-ok``: MKCALENDAR (or MKCOL) inside a calendar.

Each answer carries the reason in words (``calserver.errors``).
"""

from __future__ import annotations

import re
from typing import Any

from radicale import app as radicale_app
from radicale import httputils, pathutils, xmlutils
from radicale import storage as radicale_storage

from calserver import errors
from calserver.dav import answers, compat
from calserver.ical import objectrules
from calserver.ical.icsfile import unfold

#: Media types a calendar takes: iCalendar, and the generic ones clients and scripts
#: send it as. Anything else (text/vcard, application/calendar+json, ...) is refused.
CALENDAR_MEDIA_TYPES = frozenset(
    {
        "",
        "text/calendar",
        "application/ics",
        "text/x-vcalendar",
        "text/plain",
        "application/octet-stream",
    }
)
_UID = re.compile(r"UID(;[^:]*)?:(.*)\Z", re.IGNORECASE)


def media_type(environ: dict[str, Any]) -> str:
    return str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()


def unsupported_data(
    storage: Any, user: str, parent: str, environ: dict[str, Any]
) -> errors.CalserverError | None:
    """RFC 4791 5.3.2.1 ``supported-calendar-data`` for a PUT into the calendar at
    ``parent`` (nothing to say of a PUT anywhere else)."""
    kind = media_type(environ)
    if kind in CALENDAR_MEDIA_TYPES:
        return None
    with storage.acquire_lock("r", user):
        found = next(iter(storage.discover("/" + parent)), None) if parent else None
    if not isinstance(found, radicale_storage.BaseCollection) or found.tag != "VCALENDAR":
        return None
    return errors.CalserverError(
        f"a calendar stores text/calendar (iCalendar), not {kind}",
        status=403,
        precondition="C:supported-calendar-data",
    )


def first_uid(text: str) -> str | None:
    for line in unfold(text):
        match = _UID.match(line)
        if match:
            return match.group(2).strip()
    return None


def complete_put_answer(
    application: radicale_app.Application,
    answer: Any,
    text: str | None,
    body_length: int,
    user: str,
    parent: str,
    request_info: dict[str, Any],
    base_prefix: str,
) -> Any:
    """Radicale's answer to ``user``'s PUT into the collection at ``parent`` with the
    precondition it failed named."""
    if answer == httputils.BAD_REQUEST:
        precondition = objectrules.precondition(text)
        reason = (
            objectrules.object_resource_problem(text or "")
            if precondition == objectrules.VALID_OBJECT
            else "the body is not iCalendar data the server can store (RFC 5545)"
        ) or ""
        error = errors.CalserverError(reason, status=400, precondition=precondition)
        return answers.refusal(application, error, request_info)
    status = answer[0] if isinstance(answer, tuple) else None
    limit = compat.max_resource_size(application)
    if status == 412 and limit and body_length > limit:
        error = errors.CalserverError(
            f"the object is larger than the server's limit of {limit} bytes "
            "([server] max_resource_size)",
            status=403,
            precondition="C:max-resource-size",
        )
        return answers.refusal(application, error, request_info)
    if status == 409 and text is not None and b"no-uid-conflict" in _bytes(answer[2]):
        uid = first_uid(text)
        holder = None
        storage = compat.storage(application)
        with storage.acquire_lock("r", user):
            collection = storage.open_collection(parent, user)
            if uid and collection is not None:
                holder = collection.href_of_uid(uid)
        if holder is None:  # hidden from the writer: Radicale's answer, byte for byte
            return answer
        error = errors.CalserverError(
            f"UID {uid} is already in use in this calendar (RFC 4791 5.3.2.1)",
            status=409,
            precondition="C:no-uid-conflict",
        )
        href = xmlutils.make_href(base_prefix, f"/{parent}/{holder}")
        return answers.refusal(application, error, request_info, href=href)
    return answer


def _bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return b""


def location_refusal(storage: Any, user: str, path: str) -> errors.CalserverError | None:
    """RFC 4791 5.3.1 ``calendar-collection-location-ok``: no calendar (nor any
    collection) inside a calendar or address book."""
    parent = pathutils.strip_path(path).rpartition("/")[0]
    if not parent:
        return None
    with storage.acquire_lock("r", user):
        found = next(iter(storage.discover("/" + parent)), None)
    if not isinstance(found, radicale_storage.BaseCollection) or not found.tag:
        return None
    return errors.CalserverError(
        "a calendar cannot be created inside a calendar or address book",
        status=403,
        precondition="C:calendar-collection-location-ok",
    )
