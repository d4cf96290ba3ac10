"""WebDAV-Push (draft of bitfire.at, as DAVx5 registers): the properties, the
registration, and the worker's Web Push messages, received by a push service stand-in
(a real HTTP server on 127.0.0.1) that decrypts them with the subscription's private
key (RFC 8291) and checks the VAPID signature (RFC 8292), on every database engine."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update

from calserver import db
from calserver.accounts import users
from calserver.app import make_app
from calserver.db.models import push_subscriptions
from calserver.push import crypto, subscriptions, worker
from calserver.sharing import manage
from tests.conftest import PASSWORD, WSGIClient, make_configuration, run_cli
from tests.conftest import event_ics as event

NS = "https://bitfire.at/webdav-push"
P = "{%s}" % NS
CAL = "/alice/calendar/"


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- the push service stand-in --------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    """A Web Push service (RFC 8030) on 127.0.0.1: keeps every message; answers 201, or
    the status set for a path."""

    received: list[Received] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            service.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            self.send_response(service.status.get(self.path, 201))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()


@dataclass
class Subscriber:
    """The user agent's side of a subscription: its P-256 key and auth secret (RFC 8291 2)."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8188 2 header, RFC 8291 3.3/3.4 keys, written out with HMAC (RFC 5869)."""

        def hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
            prk = hmac.new(salt, ikm, hashlib.sha256).digest()
            return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]

        salt, record_size, id_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        sender = body[21 : 21 + id_length]
        ciphertext = body[21 + id_length :]
        assert id_length == 65 and len(ciphertext) <= record_size
        sender_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender)
        shared = self.key.exchange(ec.ECDH(), sender_key)
        ikm = hkdf(self.auth, shared, b"WebPush: info\x00" + self.public + sender, 32)
        cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
        nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
        padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
        content = padded.rstrip(b"\x00")
        assert content.endswith(b"\x02"), "the last record ends with delimiter 2"
        return content[:-1]


def verify_vapid(authorization: str, vapid_key: str, audience: str) -> dict[str, Any]:
    """RFC 8292 3: ``vapid t=JWT, k=KEY``; the ES256 signature checked with the key the
    server announced; the claims returned."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid"
    values = dict(part.strip().split("=", 1) for part in params.split(","))
    assert values["k"] == vapid_key
    header, payload, signature = values["t"].split(".")
    assert json.loads(b64d(header)) == {"typ": "JWT", "alg": "ES256"}
    raw = b64d(signature)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(vapid_key))
    public.verify(
        encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
        f"{header}.{payload}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )  # raises InvalidSignature
    claims: dict[str, Any] = json.loads(b64d(payload))
    assert claims["aud"] == audience
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    return claims


# --- the server ---------------------------------------------------------------------


@pytest.fixture
def configuration(database_url: str, tmp_path: Path) -> Any:
    return make_configuration(
        database_url,
        tmp_path,
        push={"enabled": "True", "allowed_networks": "127.0.0.1/32", "interval": "0"},
    )


@pytest.fixture
def alice(client: WSGIClient) -> WSGIClient:
    assert client.request("MKCALENDAR", CAL).status == 201
    return client


def register_body(resource: str, subscriber: Subscriber, expires: str = "") -> str:
    """What DAVx5 POSTs to a collection to subscribe (WebDAV-Push, push-register)."""
    expiry = f"<expires>{expires}</expires>" if expires else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<push-register xmlns="{NS}"><subscription><web-push-subscription>'
        f"<push-resource>{resource}</push-resource>"
        "<content-encoding>aes128gcm</content-encoding>"
        '<subscription-public-key type="p256dh">'
        f"{b64e(subscriber.public)}</subscription-public-key>"
        f"<auth-secret>{b64e(subscriber.auth)}</auth-secret>"
        "</web-push-subscription></subscription>"
        '<trigger><content-update><depth xmlns="DAV:">1</depth></content-update></trigger>'
        f"{expiry}</push-register>"
    )


def register(
    client: WSGIClient, resource: str, subscriber: Subscriber, user: str = "alice", path: str = CAL
) -> Any:
    return client.request(
        "POST",
        path,
        register_body(resource, subscriber, "Wed, 20 Dec 2028 10:03:31 GMT"),
        {"Content-Type": "application/xml; charset=utf-8"},
        user=user,
    )


def push_properties(client: WSGIClient, path: str = CAL, user: str = "alice") -> tuple[str, str]:
    """(VAPID public key, topic) from a PROPFIND as DAVx5 sends it."""
    body = (
        f'<propfind xmlns="DAV:" xmlns:P="{NS}">'
        "<prop><P:push-transports/><P:topic/></prop></propfind>"
    )
    answer = client.request("PROPFIND", path, body, {"Depth": "0"}, user=user)
    assert answer.status == 207
    root = ET.fromstring(answer.body)
    ok = [ps for ps in root.iter("{DAV:}propstat") if "200" in (ps.findtext("{DAV:}status") or "")]
    assert ok, answer.text
    key = ok[0].find(f".//{P}push-transports/{P}transport/{P}web-push/{P}vapid-public-key")
    assert key is not None and key.get("type") == "p256ecdsa", answer.text
    topic = ok[0].findtext(f".//{P}topic")
    assert topic
    return key.text or "", topic


def test_propfind_offers_web_push_with_the_vapid_key_and_a_topic_per_calendar(
    alice: WSGIClient,
) -> None:
    key, topic = push_properties(alice)
    assert len(b64d(key)) == 65 and b64d(key)[0] == 4  # an uncompressed P-256 point
    assert push_properties(alice) == (key, topic)  # stable
    assert alice.request("MKCALENDAR", "/alice/work/").status == 201
    other_key, other_topic = push_properties(alice, "/alice/work/")
    assert other_key == key and other_topic != topic


def test_a_put_yields_one_push_that_decrypts_and_carries_a_valid_vapid_signature(
    alice: WSGIClient, push_service: PushService, engine: Any, configuration: Any
) -> None:
    key, topic = push_properties(alice)
    subscriber = Subscriber()
    answer = register(alice, push_service.url("/push/davx5"), subscriber)
    assert answer.status == 201, answer.text
    assert answer.headers["location"].startswith("/.push/")
    assert "expires" in answer.headers
    assert worker.run_once(engine, configuration).sent == 0  # nothing changed yet

    assert alice.request("PUT", CAL + "one.ics", event("one")).status == 201
    assert alice.request("PUT", CAL + "two.ics", event("two")).status == 201
    counts = worker.run_once(engine, configuration)
    assert counts.sent == 1  # two changes, one message (coalesced)
    assert len(push_service.received) == 1
    message = push_service.received[0]
    assert message.path == "/push/davx5"
    assert message.headers["content-encoding"] == "aes128gcm"
    assert int(message.headers["ttl"]) > 0
    claims = verify_vapid(message.headers["authorization"], key, push_service.url(""))
    assert claims["sub"].startswith("mailto:")
    root = ET.fromstring(subscriber.decrypt(message.body))
    assert root.tag == f"{P}push-message"
    assert root.findtext(f"{P}topic") == topic

    assert worker.run_once(engine, configuration).sent == 0  # no news, no message
    assert alice.request("DELETE", CAL + "one.ics").status in (200, 204)
    assert worker.run_once(engine, configuration).sent == 1
    assert len(push_service.received) == 2


def test_registering_again_renews_instead_of_doubling(
    alice: WSGIClient, push_service: PushService, engine: Any
) -> None:
    subscriber = Subscriber()
    first = register(alice, push_service.url("/push/a"), subscriber)
    again = register(alice, push_service.url("/push/a"), subscriber)
    assert (first.status, again.status) == (201, 204)
    assert again.headers["location"] == first.headers["location"]
    assert len(subscriptions.of_user(engine, "alice")) == 1


def test_410_from_the_push_service_removes_the_subscription(
    alice: WSGIClient, push_service: PushService, engine: Any, configuration: Any
) -> None:
    push_service.status["/push/gone"] = 410
    assert register(alice, push_service.url("/push/gone"), Subscriber()).status == 201
    assert alice.request("PUT", CAL + "one.ics", event("one")).status == 201
    counts = worker.run_once(engine, configuration)
    assert (counts.sent, counts.removed) == (0, 1)
    assert len(push_service.received) == 1
    assert subscriptions.of_user(engine, "alice") == []


def test_a_failing_push_service_is_retried_later(
    alice: WSGIClient, push_service: PushService, engine: Any, configuration: Any
) -> None:
    push_service.status["/push/busy"] = 503
    assert register(alice, push_service.url("/push/busy"), Subscriber()).status == 201
    assert alice.request("PUT", CAL + "one.ics", event("one")).status == 201
    assert worker.run_once(engine, configuration).retrying == 1
    [sub] = subscriptions.of_user(engine, "alice")
    assert sub.pending_since is not None and sub.attempts == 1


def test_an_expired_subscription_is_not_pushed_and_is_removed(
    alice: WSGIClient, push_service: PushService, engine: Any, configuration: Any
) -> None:
    assert register(alice, push_service.url("/push/old"), Subscriber()).status == 201
    with db.write_transaction(engine) as conn:
        conn.execute(update(push_subscriptions).values(expires=time.time() - 1))
    assert alice.request("PUT", CAL + "one.ics", event("one")).status == 201
    counts = worker.run_once(engine, configuration)
    assert (counts.sent, counts.expired) == (0, 1)
    assert push_service.received == []
    assert subscriptions.of_user(engine, "alice") == []


def test_only_those_who_may_read_the_calendar_may_register(
    alice: WSGIClient, push_service: PushService, engine: Any, configuration: Any
) -> None:
    subscriber = Subscriber()
    assert register(alice, push_service.url("/push/bob"), subscriber, user="bob").status in (
        403,
        404,
    )
    assert subscriptions.of_user(engine, "bob") == []
    manage.share(engine, "alice/calendar", "bob", "read")
    # bob registers through his alias of alice's calendar; alice's changes reach him
    answer = register(
        alice, push_service.url("/push/bob"), subscriber, user="bob", path="/bob/alice~calendar/"
    )
    assert answer.status == 201, answer.text
    [sub] = subscriptions.of_user(engine, "bob")
    assert sub.collection_path == "alice/calendar"
    assert alice.request("PUT", CAL + "one.ics", event("one")).status == 201
    assert worker.run_once(engine, configuration).sent == 1
    assert (
        ET.fromstring(subscriber.decrypt(push_service.received[0].body)).findtext(f"{P}topic")
        == (push_properties(alice)[1])
    )


def test_a_subscriber_who_lost_access_gets_no_more_pushes(
    alice: WSGIClient, push_service: PushService, engine: Any, configuration: Any
) -> None:
    manage.share(engine, "alice/calendar", "bob", "busy")
    answer = register(
        alice, push_service.url("/push/b"), Subscriber(), user="bob", path="/bob/alice~calendar/"
    )
    assert answer.status == 201, answer.text
    manage.unshare(engine, "alice/calendar", "bob")
    assert alice.request("PUT", CAL + "one.ics", event("one")).status == 201
    counts = worker.run_once(engine, configuration)
    assert (counts.sent, counts.removed) == (0, 1)
    assert push_service.received == []
    assert subscriptions.of_user(engine, "bob") == []


def test_delete_of_the_registration_url_unregisters(
    alice: WSGIClient, push_service: PushService, engine: Any, configuration: Any
) -> None:
    location = register(alice, push_service.url("/push/x"), Subscriber()).headers["location"]
    assert alice.request("DELETE", location, user="bob").status == 404  # not bob's
    assert alice.request("DELETE", location, user=None).status == 401
    assert alice.request("DELETE", location).status == 204
    assert alice.request("DELETE", location).status == 404
    assert alice.request("PUT", CAL + "one.ics", event("one")).status == 201
    assert worker.run_once(engine, configuration).sent == 0
    assert push_service.received == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda body: body.replace("aes128gcm", "aesgcm"), "aes128gcm"),
        (lambda body: body.replace('type="p256dh">', 'type="p256dh">AAAA'), "public key"),
        (lambda body: body.replace("<auth-secret>", "<auth-secret>AAAA"), "secret"),
        (lambda body: body.replace("http://127.0.0.1", "ftp://127.0.0.1"), "http"),
        (lambda body: body.replace("2028", "2001"), "past"),
        (lambda body: body.replace("Wed, 20 Dec 2028", "tomorrow"), "HTTP-date"),
    ],
)
def test_bad_registrations_get_400_with_the_reason(
    alice: WSGIClient, push_service: PushService, engine: Any, change: Any, reason: str
) -> None:
    body = change(
        register_body(push_service.url("/p"), Subscriber(), "Wed, 20 Dec 2028 10:03:31 GMT")
    )
    answer = alice.request("POST", CAL, body, {"Content-Type": "application/xml"})
    assert answer.status == 400 and reason in answer.text, answer.text
    assert subscriptions.of_user(engine, "alice") == []


def test_the_worker_does_not_reach_loopback_unless_configured(
    alice: WSGIClient, push_service: PushService, engine: Any, database_url: str, tmp_path: Path
) -> None:
    assert register(alice, push_service.url("/push/inside"), Subscriber()).status == 201
    assert alice.request("PUT", CAL + "one.ics", event("one")).status == 201
    # [push] allowed_networks empty
    default = make_configuration(database_url, tmp_path, push={"enabled": "True"})
    counts = worker.run_once(engine, default)
    assert (counts.sent, counts.retrying) == (0, 1)
    assert push_service.received == []
    with engine.connect() as conn:
        error = conn.execute(select(push_subscriptions.c.last_error)).scalar_one()
    assert "not a public address" in error


def test_push_is_off_by_default(database_url: str, tmp_path: Path, engine: Any) -> None:
    users.add(engine, "alice", PASSWORD, "alice@example.org")
    off = make_configuration(database_url, tmp_path)
    client = WSGIClient(make_app(off), off, default_user="alice")
    assert client.request("MKCALENDAR", CAL).status == 201
    assert register(client, "http://127.0.0.1:9/p", Subscriber()).status == 403
    body = f'<propfind xmlns="DAV:" xmlns:P="{NS}"><prop><P:topic/></prop></propfind>'
    answer = client.request("PROPFIND", CAL, body, {"Depth": "0"})
    assert answer.status == 207 and "404" in answer.text and "200" not in answer.text


@pytest.mark.live  # runs calserver worker
def test_calserver_worker_once_sends_the_push(
    alice: WSGIClient, push_service: PushService, engine: Any, database_url: str, tmp_path: Path
) -> None:
    subscriber = Subscriber()
    assert register(alice, push_service.url("/push/cli"), subscriber).status == 201
    assert alice.request("PUT", CAL + "one.ics", event("one")).status == 201
    options = ["--push-enabled", "True", "--push-allowed-networks", "127.0.0.1/32"]
    result = run_cli(database_url, tmp_path, *options, "worker", "--once")
    assert result.returncode == 0, result.stderr
    assert "push: sent 1," in result.stdout
    [message] = push_service.received
    topic = ET.fromstring(subscriber.decrypt(message.body)).findtext(f"{P}topic")
    assert topic == push_properties(alice)[1]


@pytest.mark.unit
def test_rfc8291_appendix_a_test_vector_is_reproduced_byte_for_byte() -> None:
    """RFC 8291 Appendix A: the example message, with its keys and salt."""
    server = ec.derive_private_key(
        int.from_bytes(b64d("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"), "big"), ec.SECP256R1()
    )
    body = crypto.encrypt(
        b"When I grow up, I want to be a watermelon",
        b64d(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
        ),
        b64d("BTBZMqHH6r4Tts7J_aSIgg"),
        salt=b64d("DGv6ra1nlYgDCS1FRnbzlw"),
        server_key=server,
    )
    assert b64e(body) == (
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmY"
        "WAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexS"
        "gSxsj_Qulcy4a-fN"
    )


@pytest.mark.unit
def test_the_vapid_key_is_derived_from_the_server_key_and_signs_verifiably() -> None:
    key = crypto.vapid_key(b"k" * 32)
    assert crypto.vapid_public_key(b"k" * 32) == crypto.vapid_public_key(b"k" * 32)
    assert crypto.vapid_public_key(b"k" * 32) != crypto.vapid_public_key(b"j" * 32)
    header = crypto.vapid_authorization(
        key, "https://push.example.net/p/1", "mailto:a@b", time.time()
    )
    claims = verify_vapid(header, crypto.vapid_public_key(b"k" * 32), "https://push.example.net")
    assert claims["sub"] == "mailto:a@b"
