"""Operations endpoints: ``/health`` for load balancers, ``/metrics`` for Prometheus.

``/health`` (alias ``/.health``), GET or HEAD, anonymous: 200 ``{"status": "ok",
"database": "ok"}`` when the database both answers and takes a write, else 503
``{"status": "unavailable", "database": WHY}`` with WHY one of ``unreachable`` (no answer
to ``SELECT 1``), ``full`` (a write failed for want of space, or less than
``MIN_FREE_BYTES`` are free beside an SQLite database) or ``not writable`` (any other
failed write: read-only file or standby, the write lock not free within the busy
timeout). The write probe (:func:`calserver.db.health.database_state`) commits one tiny
row, the heartbeat in ``calserver_meta`` (an upsert of its time stamp): one short write
transaction per probe, which waits behind a long writer like any write would, and
touches no user data. It
lives at the root beside the principals, so ``health`` and ``metrics`` are reserved user
names (``calserver.accounts.users.RESERVED_NAMES``).

``/metrics``: Prometheus' text exposition format (prometheus_client), off by default. It
is served only by a listener of its own on ``[server] metrics_hosts``, never on the
CalDAV port, where anyone could read it; there ``/metrics`` is a plain 404.

What is counted once metrics are on (per process until exposed; see below):

- ``calserver_http_requests_total{method,status}`` every request the CalDAV application
  answers (``/health`` is not counted);
- ``calserver_http_request_duration_seconds{method}`` a histogram, from the call until
  the response body is closed;
- ``calserver_database_errors_total{kind}`` every DBAPI error SQLAlchemy sees, by its
  PEP 249 class (``OperationalError`` for a lost or refused connection;
  ``IntegrityError`` also counts the races the storage resolves by design);
- ``calserver_failed_logins_total{reason}`` ``invalid`` (wrong password, unknown or
  disabled account) or ``throttled``.

Several processes (``calserver serve --workers N``): prometheus_client's multiprocess
mode. The master points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh temporary folder before
prometheus_client is first imported (``enable_multiprocess``), every worker writes its
values there, and the master's metrics listener adds them up: the figures are those of
the whole server, whichever process served a request.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref import simple_server

from radicale import config as radicale_config
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from calserver import db, urls
from calserver.db import health
from calserver.errors import CalserverError

logger = logging.getLogger("calserver")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

HEALTH_PATHS = urls.HEALTH_PATHS
METRICS_PATHS = urls.METRICS_PATHS
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable

#: Methods counted under their name; anything else is "OTHER" (bounded label values).
COUNTED_METHODS = frozenset(
    {
        "GET",
        "HEAD",
        "PUT",
        "POST",
        "DELETE",
        "OPTIONS",
        "PROPFIND",
        "PROPPATCH",
        "REPORT",
        "MKCOL",
        "MKCALENDAR",
        "MOVE",
        "COPY",
        "LOCK",
        "UNLOCK",
        "ACL",
    }
)


def metrics_enabled(configuration: radicale_config.Configuration) -> bool:
    return bool(configuration.get("server", "metrics_hosts"))


# --- the counters ---------------------------------------------------------------------


class Metrics:
    """The process's metric objects (prometheus_client is imported here, not earlier:
    in multiprocess mode its storage is chosen at import time)."""

    def __init__(self) -> None:
        # prometheus_client chooses its storage when imported (multiprocess mode or not)
        from prometheus_client import Counter, Histogram  # noqa: PLC0415

        self.requests = Counter(
            "calserver_http_requests",
            "HTTP requests answered, by method and status code",
            ["method", "status"],
        )
        self.duration = Histogram(
            "calserver_http_request_duration_seconds",
            "Time from receiving a request to the end of its response, by method",
            ["method"],
        )
        self.database_errors = Counter(
            "calserver_database_errors",
            "Errors reported by the database driver, by PEP 249 exception class",
            ["kind"],
        )
        self.failed_logins = Counter(
            "calserver_failed_logins",
            "Failed logins: invalid credentials, or refused while throttled",
            ["reason"],
        )


_metrics: Metrics | None = None
_metrics_lock = threading.Lock()


def start_counting() -> Metrics:
    """Create this process's metrics (once) and count database errors from now on."""
    global _metrics
    with _metrics_lock:
        if _metrics is None:
            _metrics = Metrics()
            event.listen(Engine, "handle_error", _count_database_error)
        return _metrics


def _count_database_error(context: ExceptionContext) -> None:
    if _metrics is not None:
        error = context.sqlalchemy_exception or context.original_exception
        _metrics.database_errors.labels(type(error).__name__).inc()


def count_failed_login(throttled: bool) -> None:
    """Called by the auth plugin beside its fail2ban log line; a no-op without metrics."""
    if _metrics is not None:
        _metrics.failed_logins.labels("throttled" if throttled else "invalid").inc()


class _Observed:
    """A response body that reports when the server closes it (PEP 3333)."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done()


class RequestMetrics:
    """WSGI middleware: counts every response by method and status, and its latency."""

    def __init__(self, application: WSGIApp, metrics: Metrics) -> None:
        self._application = application
        self._metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method = str(environ.get("REQUEST_METHOD", "")).upper()
        if method not in COUNTED_METHODS:
            method = "OTHER"
        status = ["500"]

        def recording_start_response(status_line: str, headers: Any, *exc_info: Any) -> Any:
            status[0] = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, *exc_info)

        def done() -> None:
            self._metrics.requests.labels(method, status[0]).inc()
            self._metrics.duration.labels(method).observe(time.perf_counter() - started)

        try:
            body = self._application(environ, recording_start_response)
        except BaseException:
            done()
            raise
        return _Observed(body, done)


# --- /health ------------------------------------------------------------------------


def _respond(
    start_response: StartResponse, status: str, content_type: str, body: bytes, head: bool
) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [] if head else [body]


class Ops:
    """WSGI front of the operations endpoints; everything else goes to ``application``."""

    def __init__(self, application: WSGIApp, engine: Engine) -> None:
        self._application = application
        self._engine = engine

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "")).upper()
        path = environ.get("PATH_INFO", "")
        if method in ("GET", "HEAD"):
            head = method == "HEAD"
            if path in HEALTH_PATHS:
                return self._health(start_response, head)
            if path in METRICS_PATHS:  # only on [server] metrics_hosts
                return _respond(
                    start_response,
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    b"not found\n",
                    head,
                )
        return self._application(environ, start_response)

    def _health(self, start_response: StartResponse, head: bool) -> list[bytes]:
        state = health.database_state(self._engine)
        if state == "ok":
            status, answer = "200 OK", {"status": "ok", "database": "ok"}
        else:
            status, answer = "503 Service Unavailable", {"status": "unavailable", "database": state}
        body = (json.dumps(answer) + "\n").encode("utf-8")
        return _respond(start_response, status, "application/json", body, head)


def mount(application: WSGIApp, configuration: radicale_config.Configuration) -> WSGIApp:
    """``application`` behind /health, and counted when metrics are on."""
    if metrics_enabled(configuration):
        application = RequestMetrics(application, start_counting())
    return Ops(application, db.engine_for(configuration))


# --- the /metrics listener ----------------------------------------------------------


def enable_multiprocess() -> str:
    """Make this process and the workers it forks share their metrics through a fresh
    folder (returned; the caller removes it at the end). Must run before prometheus_client
    is first imported."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before multiprocess mode was set")
    folder = tempfile.mkdtemp(prefix="calserver-metrics-")
    os.environ[MULTIPROCESS_ENV] = folder
    return folder


def _exposition_app(folder: str | None) -> WSGIApp:
    """The metrics of this process, or the sum of those kept in the multiprocess
    ``folder``."""
    # imported late, as in Metrics: after enable_multiprocess() has set the mode
    from prometheus_client import (  # noqa: PLC0415
        REGISTRY,
        CollectorRegistry,
        make_wsgi_app,
        multiprocess,
    )

    if folder:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        metrics_app = make_wsgi_app(registry)
    else:
        metrics_app = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in ("/", "/metrics"):
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        return _respond(start_response, "404 Not Found", "text/plain", b"not found\n", False)

    return app


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics: " + format, *args)


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's: no reverse DNS lookup
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """The listener of ``[server] metrics_hosts``: a small threaded HTTP server of its own
    (stdlib wsgiref), bound at once so that a taken port is a clear error at start-up."""

    def __init__(
        self, hosts: list[tuple[str, int]], multiprocess_folder: str | None = None
    ) -> None:
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        spec = ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in hosts)
        app = _exposition_app(multiprocess_folder)
        try:
            for host, port in hosts:
                server_class = _Server6 if ":" in host else _Server
                self._servers.append(
                    simple_server.make_server(
                        host, port, app, server_class=server_class, handler_class=_QuietHandler
                    )
                )
        except OSError as exc:
            self.close()
            raise CalserverError(f"cannot listen on {spec} for metrics: {exc}") from exc
        self.spec = spec

    def start(self) -> None:
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever, name="calserver-metrics", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def forget(self) -> None:
        """In a forked worker: close the inherited listening sockets (the thread that
        serves them lives in the master only)."""
        for server in self._servers:
            server.socket.close()
        self._servers = []

    def close(self) -> None:
        for server in self._servers:
            if self._threads:
                server.shutdown()
            server.server_close()
        self._servers = []
        self._threads = []


def start_metrics_server(configuration: radicale_config.Configuration) -> MetricsServer | None:
    """The running /metrics listener, or None when metrics are off."""
    if not metrics_enabled(configuration):
        return None
    server = MetricsServer(configuration.get("server", "metrics_hosts"))
    server.start()
    logger.info("metrics on http://%s/metrics", server.spec)
    return server
