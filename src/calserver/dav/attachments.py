"""Managed attachments on the DAV surface (RFC 8607).

- ``POST EVENT.ics?action=attachment-add`` (3.4): the body is the attachment, its
  Content-Type the FMTTYPE, the filename from Content-Disposition (RFC 6266); the
  server stores it (``calserver.attachments``), adds an ATTACH with MANAGED-ID,
  FILENAME, FMTTYPE, SIZE and the URL it serves it at, and answers 201 with
  ``Cal-Managed-ID`` (3.8) and the new calendar data;
- ``?action=attachment-update&managed-id=ID`` (3.5): new content, a new MANAGED-ID,
  200; ``?action=attachment-remove&managed-id=ID`` (3.6): 204;
- preconditions (3.11): ``CALDAV:max-attachment-size`` (413),
  ``CALDAV:max-attachments-per-resource`` (403), ``CALDAV:valid-managed-id`` (403), and
  the owner's quota ``DAV:quota-not-exceeded`` (507, RFC 4331 6);
- properties (6): ``CALDAV:managed-attachments-server-URL`` (empty: this server),
  ``CALDAV:max-attachment-size``, ``CALDAV:max-attachments-per-resource``;
- ``calendar-managed-attachments`` in the DAV header of OPTIONS (2);
- downloads, ``GET /.attachments/ID/FILENAME`` (:class:`Downloads`): only for viewers
  who see the event in full (reader level and above, and the owner for non-public
  events); busy-only viewers and anyone else get 404, as for an unknown ID.

Only the POSTer's writes of the whole resource are supported (no ``rid``: the ATTACH
goes to every component of the resource).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, quote

import vobject
from radicale import item as radicale_item
from radicale import pathutils
from radicale import storage as radicale_storage

from calserver import errors, httpauth, urls
from calserver.attachments import store
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
from calserver.db import read_transaction
from calserver.httpbody import read_body
from calserver.ical import attachments as ical_attachments
from calserver.sharing import levels
from calserver.sharing.visibility import Level
from calserver.storage.base import HiddenConflict, ViewForbidden
from calserver.storage.context import write_scope

ACTIONS = frozenset({"attachment-add", "attachment-update", "attachment-remove"})
DAV_FEATURE = "calendar-managed-attachments"
SERVER_URL = clark("C:managed-attachments-server-URL")
MAX_SIZE = clark("C:max-attachment-size")
MAX_PER_RESOURCE = clark("C:max-attachments-per-resource")
PROPS = frozenset({SERVER_URL, MAX_SIZE, MAX_PER_RESOURCE})
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")

StartResponse = Any


def enabled(configuration: Any) -> bool:
    return bool(configuration.get("attachments", "enabled"))


def owns(path: str) -> bool:
    return urls.under(path, urls.ATTACHMENTS)


def announce(configuration: Any, headers: Any) -> dict[str, str]:
    """``headers`` with ``calendar-managed-attachments`` in DAV (RFC 8607 2) when on."""
    result = dict(headers)
    if enabled(configuration) and result.get("DAV") is not None:
        result["DAV"] = ", ".join([result["DAV"], DAV_FEATURE])
    return result


def filename_of(disposition: str) -> str:
    """The filename of a Content-Disposition header (RFC 6266 4.3: ``filename*`` wins),
    reduced to a safe last path segment; "attachment" when there is none."""
    message = Message()
    message["Content-Disposition"] = disposition or "attachment"
    name = message.get_filename() or ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"').strip().strip(".")
    return name[:200] or "attachment"


def _media_type(environ: dict[str, Any]) -> str:
    value = str(environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
    return value if _MEDIA_TYPE.match(value) else "application/octet-stream"


def _plain(status: int, reason: str, headers: dict[str, str] | None = None) -> Any:
    return (
        status,
        {"Content-Type": "text/plain; charset=utf-8", **(headers or {})},
        reason + "\n",
        None,
    )


def _error(caller: Caller, error: errors.CalserverError, request_info: dict[str, Any]) -> Any:
    if not error.precondition:
        return _plain(error.status, error.reason)
    root = errors.dav_error_element(error.precondition, error.reason, _webdav_error)
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    return error.status, headers, caller.xml_response(root, request_info), None


def _webdav_error(human_tag: str) -> ET.Element:
    root = ET.Element(clark("D:error"))
    root.append(ET.Element(clark(human_tag)))
    return root


def _url(caller: Caller, managed_id: str, filename: str) -> str:
    base = urls.origin(caller.environ, caller.app.configuration) + caller.base_prefix
    return f"{base}{urls.ATTACHMENTS}/{managed_id}/{quote(filename, safe='')}"


def post(caller: Caller, path: str, request_info: dict[str, Any]) -> Any:
    """The answer to ``POST ...?action=attachment-*``, or None for any other POST."""
    query = parse_qs(str(caller.environ.get("QUERY_STRING", "")))
    action = (query.get("action") or [""])[0]
    configuration = caller.app.configuration
    if not action.startswith("attachment-") or not enabled(configuration):
        return None
    if action not in ACTIONS:
        return _plain(400, f"unknown action {action!r} (RFC 8607 3.3)")
    if not caller.user:
        return _plain(401, "sign in to change attachments", dict([httpauth.challenge(caller.app)]))
    stripped = pathutils.strip_path(path)
    parent, _, href = stripped.rpartition("/")
    if parent.count("/") != 1 or not href:
        return _plain(403, "attachments belong to calendar object resources (RFC 8607 3.3)")
    rights = compat.rights(caller.app)
    if "w" not in rights.authorization(caller.user, caller.user_groups, "/" + parent + "/"):
        return _plain(403, "you may not change this calendar")
    managed_id = (query.get("managed-id") or [""])[0]
    if action != "attachment-add" and not managed_id:
        return _error(
            caller,
            errors.CalserverError(
                "managed-id is missing", status=400, precondition="C:valid-managed-id"
            ),
            request_info,
        )
    body = b"" if action == "attachment-remove" else read_body(caller.environ)
    if action != "attachment-remove" and not body:
        return _plain(400, "the request body (the attachment) is empty")
    filename = filename_of(str(caller.environ.get("HTTP_CONTENT_DISPOSITION", "")))
    media_type = _media_type(caller.environ)
    storage = compat.storage(caller.app)
    limits = store.Limits.from_configuration(configuration)
    try:
        with storage.acquire_lock("w", caller.user, path=path, request="POST"):
            item = next(iter(storage.discover(path)), None)
            if item is None or isinstance(item, radicale_storage.BaseCollection):
                return _plain(404, "no such calendar object resource")
            if_match = caller.environ.get("HTTP_IF_MATCH", "")
            if if_match and if_match not in ("*", item.etag):
                return _plain(412, "the resource changed (If-Match)")
            collection = next(iter(storage.discover("/" + parent + "/")), None)
            text = item.serialize()
            new_id = store.new_id()
            with write_scope(storage.engine) as conn:
                target = levels.resolve(conn, caller.user, parent).target
                calendar_id = store.calendar_id(conn, target)
                if calendar_id is None or collection is None:
                    return _plain(404, "no such calendar")
                owner = target.split("/", 1)[0]
                held = ical_attachments.managed_ids(text)
                managed = ical_attachments.Managed(
                    new_id, _url(caller, new_id, filename), filename, media_type, len(body)
                )
                new_text: str | None
                if action == "attachment-add":
                    store.check(conn, limits, owner, len(body), len(held) + 1)
                    store.add(conn, new_id, calendar_id, href, owner, filename, media_type, body)
                    new_text = ical_attachments.add(text, managed)
                else:
                    old_size = store.size_of(conn, managed_id, calendar_id, href)
                    if old_size is None or managed_id not in held:
                        raise errors.CalserverError(
                            "no attachment of this resource has that managed-id",
                            status=403,
                            precondition="C:valid-managed-id",
                        )
                    store.remove(conn, managed_id, calendar_id, href)
                    if action == "attachment-update":
                        store.check(conn, limits, owner, len(body), len(held), old_size)
                        store.add(
                            conn, new_id, calendar_id, href, owner, filename, media_type, body
                        )
                        new_text = ical_attachments.replace(text, managed_id, managed)
                    else:
                        new_text = ical_attachments.replace(text, managed_id, None)
                assert new_text is not None
            vobject_item = vobject.readOne(new_text)
            new_item = radicale_item.Item(
                collection_path=collection.path, vobject_item=vobject_item
            )
            uploaded = collection.upload(href, new_item)
            if isinstance(uploaded, tuple):  # (the stored item, the replaced one)
                uploaded = uploaded[0]
            etag, answer_text = uploaded.etag, uploaded.serialize()
    except errors.CalserverError as exc:
        return _error(caller, exc, request_info)
    except ViewForbidden:
        return _plain(403, "you may not change this event")
    except HiddenConflict:
        return _plain(404, "no such calendar object resource")
    headers = {"ETag": etag}
    if action == "attachment-remove":
        return 204, headers, b"", None
    headers.update(
        {
            "Cal-Managed-ID": new_id,
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Location": caller.href(stripped).rstrip("/"),
        }
    )
    return (201 if action == "attachment-add" else 200), headers, answer_text, None


def _requested(body: bytes) -> set[str]:
    root = parse_xml(body)
    if root is None or root.tag != PROPFIND or not len(root) or root[0].tag != PROP:
        return set()
    return {child.tag for child in root[0]} & PROPS


def complete_propfind(
    caller: Caller, path: str, body: bytes, answer: Any, request_info: dict[str, Any]
) -> Any:
    """Radicale's PROPFIND answer with the RFC 8607 6 properties on homes and
    calendars, when asked for by name."""
    status, headers, content, xml_request = answer
    if status != 207 or not isinstance(content, bytes) or not enabled(caller.app.configuration):
        return answer
    wanted = _requested(body)
    if not wanted:
        return answer
    root = parse_xml(content)
    if root is None:
        return answer
    configuration = caller.app.configuration
    values = {
        MAX_SIZE: str(configuration.get("attachments", "max_size")),
        MAX_PER_RESOURCE: str(configuration.get("attachments", "max_per_resource")),
    }
    changed = False
    for response in root.findall(RESPONSE):
        found = path_of(response.findtext(HREF) or "", caller.base_prefix)
        if not found or found.count("/") > 1 or found.startswith("."):
            continue
        for tag in wanted:
            if not remove_property(response, tag, 404):
                continue
            element = ET.Element(tag)
            element.text = values.get(tag)
            add_property(response, element, 200)
            changed = True
    if not changed:
        return answer
    return status, headers, caller.xml_response(root, request_info), xml_request


class Downloads:
    """``GET /.attachments/ID/FILENAME``: the attachment, to those who see its event."""

    def __init__(self, application: Any) -> None:
        self._application = application

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "").upper()
        if method not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", b"", [("Allow", "GET, HEAD")])
        try:
            user = httpauth.authenticate(self._application, environ)
        except httpauth.Unauthorized:
            challenge = httpauth.challenge(self._application)
            return _answer(start_response, "401 Unauthorized", b"sign in\n", [challenge])
        managed_id = environ.get("PATH_INFO", "")[len(urls.ATTACHMENTS) + 1 :].split("/", 1)[0]
        engine = compat.storage(self._application).engine
        found = None
        if managed_id:
            with read_transaction(engine) as conn:
                found = store.get(conn, managed_id)
                level = (
                    levels.resolve(conn, user, found.calendar_path).level if found else Level.NONE
                )
        # the event in full: the owner, or readers of a public event (sharing.redact)
        if found is None or not (
            level >= Level.OWNER or (level >= Level.READ and found.klass == "PUBLIC")
        ):
            return _answer(start_response, "404 Not Found", b"no such attachment\n", [])
        headers = [
            ("Content-Type", found.content_type),
            (
                "Content-Disposition",
                "attachment; filename*=UTF-8''" + quote(found.filename, safe=""),
            ),
            ("ETag", f'"{found.managed_id}"'),
            ("Cache-Control", "private, max-age=3600"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "sandbox"),
        ]
        body = b"" if method == "HEAD" else found.data
        start_response("200 OK", [*headers, ("Content-Length", str(found.size))])
        return [body]


def _answer(
    start_response: StartResponse, status: str, body: bytes, headers: list[tuple[str, str]]
) -> list[bytes]:
    start_response(
        status,
        [
            *headers,
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]
