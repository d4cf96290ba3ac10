"""``calserver serve --workers N``: N server processes under gunicorn (pre-fork).

The master process:

1. binds the listening sockets of ``[server] hosts`` itself, so that a taken port is one
   clear error (exit 1), and hands them to gunicorn as ``fd://N``;
2. checks the database schema and creates the server key (once, not in a race between
   workers), then closes every database connection it opened: no engine, pool or
   connection crosses the fork;
3. with ``[server] metrics_hosts``, switches prometheus_client to multiprocess mode and
   serves the sum of the workers' metrics (``calserver.ops``);
4. runs gunicorn's arbiter: it forks the workers, restarts one that dies, and on SIGTERM
   stops them gracefully and exits 0.

Each worker builds its own application with ``make_app(configuration)`` after the fork
and opens its own connection pool. gthread workers: ``[server] max_connections`` threads
each, keep-alive connections wait in a poller without holding a thread. Nothing a worker
keeps can go stale: logins, rights and sync tokens are read from the database (a
worker's login cache is checked against the account's epoch in the database on every
request).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from typing import Any

from gunicorn.app.base import BaseApplication
from radicale import config as radicale_config

from calserver import db, keys, ops
from calserver.app import make_app
from calserver.errors import CalserverError
from calserver.run.listen import listen_spec, remove_leftovers
from calserver.urls import base_url

logger = logging.getLogger("calserver")


def bind_listeners(configuration: radicale_config.Configuration) -> list[socket.socket]:
    """One listening socket per ``[server] hosts`` address (as waitress: an IPv6 address
    is IPv6 only, so ``0.0.0.0`` and ``::`` can share a port)."""
    listeners: list[socket.socket] = []
    try:
        for host, port in configuration.get("server", "hosts"):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            listeners.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen(2048)
    except OSError as exc:
        for sock in listeners:
            sock.close()
        raise CalserverError(f"cannot listen on {listen_spec(configuration)}: {exc}") from exc
    return listeners


def gunicorn_settings(
    configuration: radicale_config.Configuration, fds: list[int]
) -> dict[str, Any]:
    """gunicorn's settings for ``configuration``, listening on the sockets ``fds`` (the
    hooks are added by ``serve``)."""
    return {
        "bind": [f"fd://{fd}" for fd in fds],
        "workers": configuration.get("server", "workers"),
        "worker_class": "gthread",
        "threads": max(2, configuration.get("server", "max_connections")),
        "keepalive": max(1, int(configuration.get("server", "timeout"))),
        "proc_name": "calserver",
        "errorlog": "-",
        "accesslog": None,  # Radicale logs each request at level info
        "loglevel": configuration.get("logging", "level"),
        "preload_app": False,  # make_app runs in each worker, after the fork
        # gunicorn >= 25 opens a control socket in the home folder by default
        "control_socket_disable": True,
    }


def serve(configuration: radicale_config.Configuration) -> None:
    listeners = bind_listeners(configuration)
    master = os.getpid()
    metrics_folder: str | None = None
    metrics: ops.MetricsServer | None = None
    try:
        try:
            db.ensure_schema(db.engine_for(configuration))
            keys.server_key(configuration)
            remove_leftovers(configuration)
        finally:
            db.dispose_engines()  # the workers open their own connections
        if ops.metrics_enabled(configuration):
            metrics_folder = ops.enable_multiprocess()
            metrics = ops.MetricsServer(
                configuration.get("server", "metrics_hosts"), metrics_folder
            )
        # gunicorn takes the sockets over (and closes these descriptors)
        settings = gunicorn_settings(configuration, [sock.detach() for sock in listeners])

        def when_ready(_arbiter: Any) -> None:
            if metrics is not None:
                metrics.start()

        def post_fork(_arbiter: Any, _worker: Any) -> None:
            if metrics is not None:
                metrics.forget()

        class Gunicorn(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                values = {**settings, "when_ready": when_ready, "post_fork": post_fork}
                for name, value in values.items():
                    if name in self.cfg.settings:
                        self.cfg.set(name, value)

            def load(self) -> Any:
                return make_app(configuration)

        print(
            f"calserver listening on {base_url(configuration)}/ "
            f"({configuration.get('server', 'workers')} worker processes)",
            flush=True,
        )
        try:
            Gunicorn().run()
        except SystemExit as exc:
            if os.getpid() != master:  # a worker leaving: not the master's business
                raise
            if exc.code not in (None, 0):
                raise CalserverError(
                    f"the server stopped with status {exc.code} (see the log above)"
                ) from exc
    finally:
        if os.getpid() == master:
            for sock in listeners:
                sock.close()  # those not handed over yet
            if metrics is not None:
                metrics.close()
            if metrics_folder is not None:
                shutil.rmtree(metrics_folder, ignore_errors=True)
