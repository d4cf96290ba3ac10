"""The cryptography of Web Push, pure (L1): no I/O, no clock of its own.

- :func:`vapid_key` / :func:`vapid_authorization`: Voluntary Application Server
  Identification, RFC 8292. The application server key is an ECDSA P-256 key; the
  ``Authorization: vapid t=JWT, k=KEY`` header carries a JWT (RFC 7519) signed with
  ES256 (RFC 7518 3.4: the signature is ``r || s``, 32 bytes each), whose claims are
  ``aud`` (the push resource's origin), ``exp`` (at most 24 hours ahead) and ``sub``
  (a contact URI), RFC 8292 2 and 3.
- :func:`encrypt`: Message Encryption for Web Push, RFC 8291, in the ``aes128gcm``
  content coding of RFC 8188: one record, an ephemeral ECDH key of the server, the
  subscription's ``p256dh`` key and ``auth`` secret.

calserver derives its VAPID key from the server's secret key (``calserver.keys``), so
it is created once, never stored in the database, and the same on every host that
shares the key file: subscriptions survive restarts and load balancing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: The order of the P-256 group (SEC 2 2.4.2).
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

#: RFC 8188 2: the record size announced in the header (a message is one record).
RECORD_SIZE = 4096


class PushCryptoError(ValueError):
    """A subscription key or secret that cannot be used."""


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 2, RFC 8292 3.2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise PushCryptoError("not base64url") from exc


def vapid_key(server_key: bytes) -> ec.EllipticCurvePrivateKey:
    """The server's VAPID key (RFC 8292 2), derived from its secret key."""
    seed = hmac.new(server_key, b"calserver webdav-push vapid p256", hashlib.sha256).digest()
    value = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(value, ec.SECP256R1())


def public_key_bytes(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point (X9.62, 65 bytes) of a P-256 key."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def vapid_public_key(server_key: bytes) -> str:
    """The application server key as clients are given it: base64url (RFC 8292 3.2)."""
    return b64url(public_key_bytes(vapid_key(server_key)))


def audience(push_resource: str) -> str:
    """The ``aud`` claim: the origin of the push resource (RFC 8292 2)."""
    parts = urlsplit(push_resource)
    return f"{parts.scheme}://{parts.netloc}"


def vapid_authorization(
    key: ec.EllipticCurvePrivateKey, push_resource: str, subject: str, now: float
) -> str:
    """The ``Authorization`` header of a push request (RFC 8292 3): a JWT signed with
    ES256, valid for 12 hours from ``now``."""
    header = b64url(json.dumps({"typ": "JWT", "alg": "ES256"}, separators=(",", ":")).encode())
    claims: dict[str, object] = {"aud": audience(push_resource), "exp": int(now) + 12 * 3600}
    if subject:
        claims["sub"] = subject
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    token = f"{header}.{payload}.{b64url(signature)}"
    return f"vapid t={token}, k={b64url(public_key_bytes(key))}"


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def subscription_keys(public_key: str, auth_secret: str) -> tuple[bytes, bytes]:
    """The subscription's ``p256dh`` point and ``auth`` secret, checked (RFC 8291 2:
    a P-256 point in uncompressed form, a 16-byte secret)."""
    point = b64url_decode(public_key)
    secret = b64url_decode(auth_secret)
    if len(point) != 65 or point[0] != 4:
        raise PushCryptoError("the subscription public key is not an uncompressed P-256 point")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise PushCryptoError("the subscription public key is not on P-256") from exc
    if len(secret) != 16:
        raise PushCryptoError("the authentication secret must be 16 bytes")
    return point, secret


def encrypt(
    plaintext: bytes,
    ua_public: bytes,
    auth_secret: bytes,
    *,
    salt: bytes | None = None,
    server_key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """``plaintext`` as an ``aes128gcm`` body for the subscription (RFC 8291 3.4 and
    RFC 8188 2): a fresh salt and an ephemeral server key unless given (tests)."""
    if len(plaintext) + 17 > RECORD_SIZE:
        raise PushCryptoError("push message too long for one record")
    salt = salt if salt is not None else os.urandom(16)
    ephemeral = server_key if server_key is not None else ec.generate_private_key(ec.SECP256R1())
    as_public = public_key_bytes(ephemeral)
    ua_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public)
    ecdh_secret = ephemeral.exchange(ec.ECDH(), ua_key)
    # RFC 8291 3.3/3.4: IKM from the ECDH secret, keyed with the auth secret
    key_info = b"WebPush: info\x00" + ua_public + as_public
    ikm = _hkdf(auth_secret, ecdh_secret, key_info, 32)
    # RFC 8188 2.2, 2.3: content-encryption key and nonce
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    # one record, the last: padding delimiter 0x02 (RFC 8188 2)
    ciphertext = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)
    header = salt + struct.pack("!IB", RECORD_SIZE, len(as_public)) + as_public
    return header + ciphertext
