"""Signed link tokens, the shape the answer links of meetings
(``calserver.scheduling.links``) and the voter links of polls (``calserver.polls.links``)
share: ``base64url(payload) "." base64url(HMAC-SHA256(key, DOMAIN || payload))`` without
padding, the payload a compact JSON list. Each kind of link signs under a domain of its
own, so that no token of one kind can pass for another. A token has one spelling: any
other text that base64 would decode to the same bytes is refused. Pure functions: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any


class Malformed(ValueError):
    """Not a token of this shape (too long, not base64url, not a JSON list)."""


class Forged(ValueError):
    """The right shape, but this key did not sign it under this domain."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or not all(c.isascii() and (c.isalnum() or c in "-_") for c in text):
        raise Malformed("malformed link")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Malformed("malformed link") from exc
    if _b64(data) != text:  # one spelling per token: no other text passes for it
        raise Malformed("malformed link")
    return data


def _mac(key: bytes, domain: bytes, payload: bytes) -> bytes:
    return hmac.new(key, domain + payload, hashlib.sha256).digest()


def sign(key: bytes, domain: bytes, values: list[Any]) -> str:
    """The token of ``values`` (JSON-serialisable) under ``domain``."""
    payload = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_mac(key, domain, payload))}"


def verify(key: bytes, domain: bytes, token: str, max_length: int) -> list[Any]:
    """The values ``token`` carries; :class:`Malformed` or :class:`Forged` otherwise.
    The signature is checked before anything of the payload is parsed."""
    if len(token) > max_length or token.count(".") != 1:
        raise Malformed("malformed link")
    encoded, _, signature = token.partition(".")
    payload, mac = _unb64(encoded), _unb64(signature)
    if not hmac.compare_digest(mac, _mac(key, domain, payload)):
        raise Forged("the link is not valid (altered, or from another server)")
    try:
        values = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed("malformed link") from exc
    if not isinstance(values, list):
        raise Malformed("malformed link")
    return values
