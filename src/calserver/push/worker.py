"""The push half of ``calserver worker``: sends one Web Push message (RFC 8030 5) per
subscription with news, encrypted for it (RFC 8291) and signed by the server (VAPID,
RFC 8292).

The push resource is a URL the client chose, so the worker is careful where it goes
(an attacker could register ``http://127.0.0.1:5432/`` or a cloud metadata address):
only ``http`` and ``https``, no redirect followed, and every address the host resolves
to must be public unless it lies in ``[push] allowed_networks``; the connection goes
to the address that was checked (no second DNS look-up in between).

A subscriber who may no longer read the calendar (the share was taken back, the
calendar deleted) loses the subscription instead of a message.

Answers (RFC 8030 5, 7.3): 201/200/202 sent; 404 and 410 mean the subscription is gone
and it is removed; anything else is retried with back-off
(:func:`calserver.push.subscriptions.mark_failed`). Expired subscriptions are removed at
each run.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from calserver import keys
from calserver.db import read_transaction
from calserver.push import NAMESPACE, subscriptions
from calserver.push.crypto import (
    PushCryptoError,
    encrypt,
    subscription_keys,
    vapid_authorization,
    vapid_key,
)
from calserver.sharing import levels
from calserver.sharing.visibility import Level

logger = logging.getLogger("calserver.push")

#: Seconds between two looks at the queue when the worker runs as a service.
POLL_SECONDS = 2.0
#: How long a push message is kept by the push service for an offline device (RFC 8030 5.2).
TTL = 3600


class Refused(Exception):
    """A push resource the worker will not reach."""


@dataclass
class Counts:
    sent: int = 0
    retrying: int = 0
    removed: int = 0  # subscriptions the push service forgot
    expired: int = 0
    disabled: bool = False

    def summary(self) -> str:
        if self.disabled:
            return "push is disabled ([push] enabled = False)"
        return (
            f"push: sent {self.sent}, failed {self.retrying}, removed {self.removed} gone "
            f"and {self.expired} expired subscription(s)"
        )


def message(topic: str) -> bytes:
    """The push message of the draft: the topic of the calendar that changed."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<P:push-message xmlns:P="{NAMESPACE}">'
        f"<P:topic>{escape(topic)}</P:topic><P:content-update/></P:push-message>"
    ).encode()


def _allowed(address: str, allowed: list[Any]) -> bool:
    ip = ipaddress.ip_address(address)
    if any(ip in network for network in allowed):
        return True
    return ip.is_global and not ip.is_multicast


def checked_address(url: str, allowed: list[Any]) -> tuple[str, str, int, str]:
    """(scheme, host, port, the checked address to connect to) of a push resource."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("push resource is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"cannot resolve {parts.hostname}: {exc}") from exc
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        if not _allowed(address, allowed):
            raise Refused(
                f"{parts.hostname} resolves to {address}, not a public address "
                "(see [push] allowed_networks)"
            )
    return parts.scheme, parts.hostname, port, addresses[0]


class _Pinned(http.client.HTTPSConnection):
    """HTTP(S) to the checked address, with the host's name for TLS and Host."""

    def __init__(self, host: str, port: int, address: str, tls: bool, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address
        self._tls = tls

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        if self._tls:
            self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
                self.sock, server_hostname=self.host
            )


def post(url: str, body: bytes, headers: dict[str, str], allowed: list[Any], timeout: float) -> int:
    """POST to the push resource; its status."""
    scheme, host, port, address = checked_address(url, allowed)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _Pinned(host, port, address, scheme == "https", timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


def _subject(configuration: Any) -> str:
    contact = configuration.get("push", "contact").strip()
    if contact:
        return str(contact)
    address = parseaddr(configuration.get("smtp", "sender"))[1]
    return f"mailto:{address}" if address else ""


def _send(
    engine: Engine, configuration: Any, sub: subscriptions.Subscription, counts: Counts
) -> None:
    server_key = keys.server_key(configuration)
    try:
        ua_public, auth = subscription_keys(sub.public_key, sub.auth_secret)
        body = encrypt(
            message(subscriptions.topic(server_key, sub.collection_path)), ua_public, auth
        )
        headers = {
            "TTL": str(TTL),
            "Urgency": "normal",
            "Topic": subscriptions.topic(server_key, sub.collection_path),
            "Content-Type": "application/octet-stream",
            "Content-Encoding": "aes128gcm",
            "Authorization": vapid_authorization(
                vapid_key(server_key), sub.push_resource, _subject(configuration), time.time()
            ),
        }
        status = post(
            sub.push_resource,
            body,
            headers,
            configuration.get("push", "allowed_networks"),
            configuration.get("push", "timeout"),
        )
    except (Refused, PushCryptoError, OSError, http.client.HTTPException) as exc:
        error = f"{exc.__class__.__name__}: {exc}"
        if isinstance(exc, PushCryptoError):
            subscriptions.remove(engine, sub)
            counts.removed += 1
            logger.warning("push subscription %d removed: %s", sub.id, error)
            return
        subscriptions.mark_failed(engine, sub, error)
        counts.retrying += 1
        logger.warning("push to subscription %d failed: %s", sub.id, error)
        return
    if status in (200, 201, 202):
        subscriptions.mark_sent(engine, sub, configuration.get("push", "interval"))
        counts.sent += 1
        logger.info("push sent to subscription %d", sub.id)
    elif status in (404, 410):
        subscriptions.remove(engine, sub)
        counts.removed += 1
        logger.info("push subscription %d removed: the push service answered %d", sub.id, status)
    else:
        subscriptions.mark_failed(engine, sub, f"push service answered {status}")
        counts.retrying += 1
        logger.warning("push to subscription %d: the push service answered %d", sub.id, status)


def enabled(configuration: Any) -> bool:
    return bool(configuration.get("push", "enabled"))


def run_once(engine: Engine, configuration: Any, *, stop: threading.Event | None = None) -> Counts:
    """Send every push that is due now; remove expired subscriptions."""
    if not enabled(configuration):
        return Counts(disabled=True)
    counts = Counts(expired=subscriptions.remove_expired(engine))
    lease = 30.0 + 2 * configuration.get("push", "timeout")
    while stop is None or not stop.is_set():
        sub = subscriptions.claim(engine, lease)
        if sub is None:
            break
        with read_transaction(engine) as conn:
            level = levels.level_for(conn, sub.user, sub.collection_path)
        if level < Level.BUSY:  # no longer shared with them, or the calendar is gone
            subscriptions.remove(engine, sub)
            counts.removed += 1
            logger.info("push subscription %d removed: %s may no longer read it", sub.id, sub.user)
            continue
        _send(engine, configuration, sub, counts)
    return counts


def run_forever(
    engine: Engine, configuration: Any, stop: threading.Event, poll: float = POLL_SECONDS
) -> None:
    """Send what is due every ``poll`` seconds until ``stop`` is set."""
    logger.info("push worker started")
    while not stop.is_set():
        try:
            run_once(engine, configuration, stop=stop)
        except OperationalError as exc:
            logger.error("push worker: database error: %s", exc.orig or exc)
        stop.wait(poll)
    logger.info("push worker stopped")
