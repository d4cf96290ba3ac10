"""A local HTTP server that plays the remote calendars of subscription tests: each path
answers as the test says (an .ics with or without ETag, changing, slow, huge,
redirecting, of the wrong type), and every request is counted and kept."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: set: the answer waits for it before it is sent (a slow source)
    hold: threading.Event | None = None


Route = Callable[[dict[str, str]], Reply]


@dataclass
class Source:
    host: str
    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"


def calendar(*events: str, extra: str = "") -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//remote//EN\r\n"
        + extra
        + "".join(events)
        + "END:VCALENDAR\r\n"
    ).encode()


def vevent(
    uid: str,
    summary: str = "Holiday",
    start: str = "20261224",
    stamp: str = "20261101T000000Z",
    extra: str = "",
) -> str:
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{stamp}\r\nDTSTART;VALUE=DATE:{start}\r\n"
        f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\n"
    )


@contextmanager
def source_server(host: str = "127.0.0.1") -> Iterator[Source]:
    source = Source(host, 0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            source.hits[self.path] += 1
            source.requests.append((self.path, headers))
            route = source.routes.get(self.path)
            reply = route(headers) if route else Reply(404, b"not here")
            if reply.hold is not None:
                reply.hold.wait(30)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up (too slow, too big)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    source.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield source
    finally:
        server.shutdown()
        server.server_close()


def ics(body: bytes, etag: str = "", content_type: str = "text/calendar") -> Route:
    """A route answering ``body``; with ``etag``, 304 to a matching If-None-Match."""

    def route(headers: dict[str, str]) -> Reply:
        if etag and headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        extra = {"ETag": etag} if etag else {}
        return Reply(200, body, {"Content-Type": content_type, **extra})

    return route
