"""A small timed HTTP client: one persistent connection, HTTP Basic, no compression.

``http.client`` keeps the connection open when the server allows it (calserver) and opens a
new one per request when the server closes it (Radicale's built-in server speaks HTTP/1.0).
The time of a request runs from sending the request line to the last byte of the body.
"""

from __future__ import annotations

import base64
import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

_STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    seconds: float

    def excerpt(self, limit: int = 600) -> str:
        """The start of the body, for error reports."""
        return self.body[:limit].decode("utf-8", "replace")


class DavClient:
    """Sends requests to one server and times them."""

    def __init__(self, base_url: str, user: str, password: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"need host and port in {base_url!r}")
        self._host, self._port = parts.hostname, parts.port
        self._timeout = timeout
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._auth = f"Basic {token}"
        self._connection: http.client.HTTPConnection | None = None
        #: The server's CPU seconds so far (``servers.tree_cpu``), read around each
        #: request when set; ``last_cpu`` is what the last request cost the server.
        self.probe: Callable[[], float] | None = None
        self.last_cpu: float | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(
        self,
        method: str,
        path: str,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request and read the whole response; retry once on a stale connection."""
        reused = self._connection is not None
        try:
            return self._send(method, path, body, headers or {}, timeout)
        except _STALE_CONNECTION:
            self.close()
            if not reused:
                raise
            return self._send(method, path, body, headers or {}, timeout)

    def _send(
        self,
        method: str,
        path: str,
        body: str | bytes | None,
        headers: dict[str, str],
        timeout: float | None,
    ) -> Response:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                self._host, self._port, timeout=timeout or self._timeout
            )
        elif self._connection.sock is not None:
            self._connection.sock.settimeout(timeout or self._timeout)
        payload = body.encode("utf-8") if isinstance(body, str) else body
        all_headers = {"Authorization": self._auth, "Accept-Encoding": "identity", **headers}
        cpu_before = self.probe() if self.probe is not None else None
        started = time.perf_counter()
        self._connection.request(method, path, body=payload, headers=all_headers)
        response = self._connection.getresponse()
        data = response.read()
        seconds = time.perf_counter() - started
        if cpu_before is not None and self.probe is not None:
            self.last_cpu = self.probe() - cpu_before
        if response.will_close:
            self.close()
        return Response(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            data,
            seconds,
        )
