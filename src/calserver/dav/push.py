"""WebDAV-Push on the DAV surface (draft "WebDAV-Push" of bitfire.at, namespace
``https://bitfire.at/webdav-push``, as DAVx5 and Xandikos speak it):

- PROPFIND on a calendar: ``P:push-transports`` (one ``P:transport`` holding
  ``P:web-push`` with the server's VAPID key, ``P:vapid-public-key type="p256ecdsa"``:
  RFC 8292 3.2) and ``P:topic`` (the calendar's opaque topic);
- POST of ``P:push-register`` to a calendar: ``P:subscription`` / ``P:web-push-subscription``
  (``P:push-resource``, ``P:content-encoding`` aes128gcm, ``P:subscription-public-key``
  type p256dh, ``P:auth-secret``: RFC 8291 2) and ``P:expires`` (an HTTP-date); answered
  201 with the registration's URL in Location (``/.push/TOKEN``) and the granted expiry
  in Expires, or 204 when the same push resource renews its registration;
- DELETE of that URL unregisters (:class:`Registrations`, mounted by the front).

Only a user who may read the calendar (busy level and above) may register; what a push
says is only that the calendar changed.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from radicale import pathutils
from sqlalchemy import Connection, select

from calserver import httpauth, keys, urls
from calserver.dav import compat
from calserver.dav.xml import (
    HREF,
    PROP,
    PROPFIND,
    RESPONSE,
    Caller,
    add_property,
    parse_xml,
    path_of,
    remove_property,
)
from calserver.db import read_transaction, write_transaction
from calserver.db.models import MAILBOXES, collections
from calserver.push import NAMESPACE, subscriptions
from calserver.push.crypto import PushCryptoError, subscription_keys, vapid_public_key
from calserver.sharing import levels
from calserver.sharing.visibility import Level


def _p(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


PUSH_TRANSPORTS = _p("push-transports")
TOPIC = _p("topic")
PUSH_REGISTER = _p("push-register")
PROPS = frozenset({PUSH_TRANSPORTS, TOPIC})

StartResponse = Any


def owns(path: str) -> bool:
    return urls.under(path, urls.PUSH)


def _calendar(conn: Connection, user: str, path: str) -> str | None:
    """The calendar's own path when ``user`` may read the calendar at ``path``
    (stripped; an alias counts as its target), else None."""
    segments = path.split("/")
    if len(segments) != 2 or not all(segments) or segments[1] in MAILBOXES:
        return None
    resolved = levels.resolve(conn, user, path)
    if resolved.level < Level.BUSY:
        return None
    tag = conn.execute(
        select(collections.c.tag).where(collections.c.path == resolved.target)
    ).scalar()
    return resolved.target if tag == "VCALENDAR" else None


def _requested(body: bytes) -> set[str]:
    root = parse_xml(body)
    if root is None or root.tag != PROPFIND or not len(root) or root[0].tag != PROP:
        return set()
    return {child.tag for child in root[0]} & PROPS


def _transports(server_key: bytes) -> ET.Element:
    element = ET.Element(PUSH_TRANSPORTS)
    transport = ET.SubElement(element, _p("transport"))
    web_push = ET.SubElement(transport, _p("web-push"))
    key = ET.SubElement(web_push, _p("vapid-public-key"), {"type": "p256ecdsa"})
    key.text = vapid_public_key(server_key)
    return element


def complete_propfind(
    caller: Caller, path: str, body: bytes, answer: Any, request_info: dict[str, Any]
) -> Any:
    """Radicale's PROPFIND answer with ``P:push-transports`` and ``P:topic`` filled in
    on the calendars it lists, when asked for by name."""
    status, headers, content, xml_request = answer
    if status != 207 or not isinstance(content, bytes) or not caller.user:
        return answer
    if not caller.app.configuration.get("push", "enabled"):
        return answer
    wanted = _requested(body)
    if not wanted:
        return answer
    root = parse_xml(content)
    if root is None:
        return answer
    server_key = keys.server_key(caller.app.configuration)
    changed = False
    with read_transaction(caller.engine) as conn:
        for response in root.findall(RESPONSE):
            found = path_of(response.findtext(HREF) or "", caller.base_prefix)
            target = _calendar(conn, caller.user, found) if found else None
            if target is None:
                continue
            for tag in wanted:
                remove_property(response, tag)
                if tag == TOPIC:
                    element = ET.Element(TOPIC)
                    element.text = subscriptions.topic(server_key, target)
                else:
                    element = _transports(server_key)
                add_property(response, element, 200)
            changed = True
    if not changed:
        return answer
    return status, headers, caller.xml_response(root, request_info), xml_request


class _Invalid(Exception):
    pass


def _text(parent: ET.Element, *names: str) -> str:
    element = parent.find("/".join(_p(name) for name in names))
    if element is None or not (element.text or "").strip():
        raise _Invalid(f"P:{names[-1]} is missing")
    return (element.text or "").strip()


def _plain(status: int, reason: str) -> Any:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, reason + "\n", None


def register(caller: Caller, path: str, body: bytes, request_info: dict[str, Any]) -> Any:
    """The answer to a POST of ``P:push-register``, or None for any other POST."""
    root = parse_xml(body)
    if root is None or root.tag != PUSH_REGISTER:
        return None
    configuration = caller.app.configuration
    if not configuration.get("push", "enabled"):
        return _plain(403, "WebDAV-Push is disabled on this server")
    if not caller.user:
        return _plain(401, "sign in to register for push messages")
    stripped = pathutils.strip_path(path)
    with read_transaction(caller.engine) as conn:
        target = _calendar(conn, caller.user, stripped)
    if target is None:
        return _plain(403, "push registration needs a calendar you may read")
    try:
        subscription = root.find(f"{_p('subscription')}/{_p('web-push-subscription')}")
        if subscription is None:
            raise _Invalid("P:subscription holds no P:web-push-subscription")
        resource = _text(subscription, "push-resource")
        if urlsplit(resource).scheme not in ("http", "https") or not urlsplit(resource).hostname:
            raise _Invalid("P:push-resource must be an http(s) URL")
        encoding = subscription.find(_p("content-encoding"))
        if encoding is not None and (encoding.text or "").strip() not in ("", "aes128gcm"):
            raise _Invalid("only the aes128gcm content encoding is supported (RFC 8291)")
        public_key = _text(subscription, "subscription-public-key")
        key_type = subscription.find(_p("subscription-public-key"))
        if key_type is not None and key_type.get("type", "p256dh") != "p256dh":
            raise _Invalid("P:subscription-public-key must be of type p256dh")
        auth_secret = _text(subscription, "auth-secret")
        subscription_keys(public_key, auth_secret)
    except (_Invalid, PushCryptoError) as exc:
        return _plain(400, str(exc))
    now = time.time()
    longest = now + configuration.get("push", "max_expiry")
    expires = longest
    requested = root.findtext(_p("expires"))
    if requested and requested.strip():
        try:
            expires = min(longest, parsedate_to_datetime(requested.strip()).timestamp())
        except (TypeError, ValueError):
            return _plain(400, "P:expires is not an HTTP-date (RFC 9110 5.6.7)")
        if expires <= now:
            return _plain(400, "P:expires lies in the past")
    with write_transaction(caller.engine) as conn:
        token, created = subscriptions.register(
            conn, caller.user, target, resource, public_key, auth_secret, expires, now=now
        )
    headers = {
        "Location": caller.base_prefix + f"{urls.PUSH}/{token}",
        "Expires": formatdate(expires, usegmt=True),
    }
    return (201 if created else 204), headers, b"", None


class Registrations:
    """``/.push/TOKEN``: DELETE ends the registration (its owner only)."""

    def __init__(self, application: Any) -> None:
        self._application = application

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "").upper()
        token = environ.get("PATH_INFO", "")[len(urls.PUSH) + 1 :]
        if method != "DELETE":
            return _answer(start_response, "405 Method Not Allowed", [("Allow", "DELETE")])
        try:
            user = httpauth.authenticate(self._application, environ)
        except httpauth.Unauthorized:
            return _answer(
                start_response, "401 Unauthorized", [httpauth.challenge(self._application)]
            )
        engine = compat.storage(self._application).engine
        with write_transaction(engine) as conn:
            gone = bool(token) and "/" not in token and subscriptions.unregister(conn, user, token)
        return _answer(start_response, "204 No Content" if gone else "404 Not Found", [])


def _answer(
    start_response: StartResponse, status: str, headers: list[tuple[str, str]]
) -> list[bytes]:
    start_response(status, [*headers, ("Content-Length", "0")])
    return []
