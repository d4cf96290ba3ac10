"""A pair's credentials, encrypted under the server key (``calserver.keys``): AES-256-GCM
(NIST SP 800-38D) with a key derived from the server key by HMAC-SHA256 under a label
of its own, so the server key itself never encrypts anything and a database dump alone
reveals no password or token. The owner's name is the associated data: a secret copied
onto another person's pair does not open."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

LABEL = b"calserver remotesync credentials v1"


class CredentialError(Exception):
    """A stored secret that does not decrypt (another server key, or tampered with)."""


def _key(server_key: bytes) -> bytes:
    return hmac.new(server_key, LABEL, hashlib.sha256).digest()


def seal(server_key: bytes, owner: str, values: dict[str, Any]) -> str:
    """``values`` (password, tokens) as stored text."""
    nonce = os.urandom(12)
    data = AESGCM(_key(server_key)).encrypt(
        nonce, json.dumps(values, sort_keys=True).encode(), owner.encode()
    )
    return base64.b64encode(nonce + data).decode("ascii")


def open_sealed(server_key: bytes, owner: str, text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        raw = base64.b64decode(text)
        plain = AESGCM(_key(server_key)).decrypt(raw[:12], raw[12:], owner.encode())
    except (InvalidTag, ValueError) as exc:
        raise CredentialError(
            "the stored credentials do not decrypt under this server key"
        ) from exc
    values = json.loads(plain)
    return values if isinstance(values, dict) else {}
