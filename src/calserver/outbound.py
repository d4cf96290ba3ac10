"""Outbound HTTP to URLs that users chose (calendar subscriptions; later sync), with a
guard against server-side request forgery.

A user who may make the server fetch a URL could aim it at the server's own
neighbourhood: ``http://127.0.0.1:5432/``, an intranet host, a cloud metadata service
(``169.254.169.254``). So every hop of a fetch:

- takes only ``http`` and ``https`` (``webcal``/``webcals`` are read as ``https``);
- resolves the host name once and refuses it when ANY address it resolves to is
  loopback, private, link-local, multicast, reserved or otherwise not global, unless
  the address lies in one of the ``allowed`` networks (``[subscriptions]
  allowed_networks``);
- connects to the very address that was checked (the host name is still sent as
  ``Host`` and as the TLS server name), so a DNS answer that changes between the check
  and the connection (DNS rebinding) is never used;
- follows at most ``max_redirects`` redirects (RFC 9110 15.4), each one checked again
  as above.

The body is read up to ``max_bytes`` (more is an error, whatever ``Content-Length``
says) within ``timeout`` seconds for the whole fetch. Conditional requests (RFC 9110
13.1.1, 13.1.3): ``If-None-Match`` with the last ETag, ``If-Modified-Since`` with the
last ``Last-Modified``; a 304 answer has no body.

The name resolver is injectable so that tests can make a name resolve to a forbidden
address without touching ``/etc/hosts``.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

#: ``resolve(host, port)`` -> the addresses the host name stands for.
Resolver = Callable[[str, int], list[str]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "calserver (calendar subscription)"
CHUNK = 65536


class FetchError(Exception):
    """A fetch that failed; ``str()`` says why in words for the person who asked."""


class Forbidden(FetchError):
    """A URL whose host the guard will not reach (nothing was sent to it)."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from exc
    return [str(info[4][0]) for info in infos]


def normalise_url(url: str) -> str:
    """The URL as fetched: ``webcal(s)://`` -> ``https://``; refuses other schemes and
    URLs without a host (ValueError)."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        scheme = "https"
    if scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) or webcal URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"the URL has no host: {url!r}")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL are not supported")
    return urlunsplit((scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


def address_allowed(address: str, allowed: Sequence[Network]) -> bool:
    """A public unicast address, or one inside ``allowed``."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return True
    return ip.is_global and not ip.is_multicast


def checked_address(url: str, allowed: Sequence[Network], resolve: Resolver) -> str:
    """The address to connect to for ``url`` (every address the host resolves to must
    pass :func:`address_allowed`); :class:`Forbidden` otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
        addresses = [str(literal)]
    except ValueError:
        addresses = resolve(host, port)
    if not addresses:
        raise FetchError(f"cannot resolve {host}")
    for address in addresses:
        if not address_allowed(address, allowed):
            raise Forbidden(
                f"{host} resolves to {address}, not a public address "
                "(an administrator may allow it in [subscriptions] allowed_networks)"
            )
    return addresses[0]


class _Pinned(http.client.HTTPSConnection):
    """HTTP(S) to the checked address, with the host's name for TLS and ``Host``."""

    def __init__(
        self,
        host: str,
        port: int,
        address: str,
        tls: bool,
        timeout: float,
        context: ssl.SSLContext | None,
    ) -> None:
        super().__init__(
            host, port, timeout=timeout, context=context or ssl.create_default_context()
        )
        self._address = address
        self._tls = tls

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        if self._tls:
            self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
                self.sock, server_hostname=self.host
            )


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10_000_000
    timeout: float = 30.0
    max_redirects: int = 5


@dataclass
class Fetched:
    """A fetch's outcome: ``status`` 200 with ``body``, or 304 (not modified)."""

    status: int
    body: bytes
    etag: str
    last_modified: str
    content_type: str
    final_url: str


def fetch(
    url: str,
    *,
    allowed: Sequence[Network] = (),
    limits: Limits = Limits(),
    etag: str = "",
    last_modified: str = "",
    resolve: Resolver = system_resolver,
    tls_context: ssl.SSLContext | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Fetched:
    """GET ``url`` as the module docstring says; :class:`FetchError` when it fails."""
    try:
        current = normalise_url(url)
    except ValueError as exc:
        raise FetchError(str(exc)) from exc
    deadline = clock() + limits.timeout
    seen = {current}
    for _hop in range(limits.max_redirects + 1):
        answer = _get(
            current, allowed, limits, etag, last_modified, resolve, tls_context, deadline, clock
        )
        if isinstance(answer, Fetched):
            return answer
        location = urljoin(current, answer)
        try:
            following = normalise_url(location)
        except ValueError as exc:
            raise FetchError(f"redirected to an unusable URL: {exc}") from exc
        if following in seen:
            raise FetchError(f"redirect loop: {following} was already visited")
        seen.add(following)
        current = following
    raise FetchError(f"more than {limits.max_redirects} redirects")


def _get(
    url: str,
    allowed: Sequence[Network],
    limits: Limits,
    etag: str,
    last_modified: str,
    resolve: Resolver,
    tls_context: ssl.SSLContext | None,
    deadline: float,
    clock: Callable[[], float],
) -> Fetched | str:
    """One hop: the answer, or the ``Location`` of a redirect."""
    address = checked_address(url, allowed, resolve)
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "text/calendar, */*;q=0.5",
        "Accept-Encoding": "identity",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified

    def remaining() -> float:
        left = deadline - clock()
        if left <= 0:
            raise FetchError(f"no complete answer within {limits.timeout:g} seconds")
        return left

    connection = _Pinned(parts.hostname or "", port, address, tls, remaining(), tls_context)
    try:
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        status = response.status
        if status in REDIRECTS:
            location = response.getheader("Location", "")
            if not location:
                raise FetchError(f"HTTP {status} without a Location")
            return location
        if status == 304:
            return Fetched(304, b"", etag, last_modified, "", url)
        if status != 200:
            raise FetchError(f"HTTP {status} {response.reason}".strip())
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > limits.max_bytes:
            raise FetchError(f"the calendar is larger than {limits.max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            if connection.sock is not None:
                connection.sock.settimeout(remaining())
            chunk = response.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limits.max_bytes:
                raise FetchError(f"the calendar is larger than {limits.max_bytes} bytes")
            chunks.append(chunk)
            remaining()
        return Fetched(
            200,
            b"".join(chunks),
            response.getheader("ETag", "") or "",
            response.getheader("Last-Modified", "") or "",
            (response.getheader("Content-Type", "") or "").split(";")[0].strip().lower(),
            url,
        )
    except TimeoutError as exc:
        raise FetchError(f"no complete answer within {limits.timeout:g} seconds") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"{exc.__class__.__name__}: {exc}") from exc
    finally:
        connection.close()
