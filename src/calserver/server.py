"""``calserver serve``: the WSGI application under waitress (threads, keep-alive,
request bodies buffered before a worker thread sees them, so slow clients hold no
thread)."""

from __future__ import annotations

import logging
import sys

from radicale import config as radicale_config
from radicale import log as radicale_log

from calserver.app import make_app
from calserver.errors import CalserverError
from calserver.ops import start_metrics_server
from calserver.prefix import base_url

logger = logging.getLogger("calserver")


def setup_logging(configuration: radicale_config.Configuration) -> None:
    radicale_log.setup()
    radicale_log.set_level(
        configuration.get("logging", "level"), configuration.get("logging", "backtrace_on_debug")
    )


def listen_spec(configuration: radicale_config.Configuration) -> str:
    hosts = configuration.get("server", "hosts")
    return " ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in hosts)


def remove_leftovers(configuration: radicale_config.Configuration) -> None:
    """What imports and migrations killed outright left behind (``calserver.staging``)."""
    from calserver import db, staging

    for leftover in staging.remove_abandoned(db.engine_for(configuration)):
        logger.warning("removed an unfinished import left behind (%s)", leftover.why)


def serve(configuration: radicale_config.Configuration) -> None:
    """One process under waitress; with ``[server] workers`` > 1, gunicorn
    (``calserver.workers``)."""
    from waitress.server import create_server

    if configuration.get("server", "workers") > 1:
        from calserver import workers

        workers.serve(configuration)
        return
    application = make_app(configuration)
    remove_leftovers(configuration)
    try:
        server = create_server(
            application,
            listen=listen_spec(configuration),
            threads=max(2, configuration.get("server", "max_connections")),
            channel_timeout=int(configuration.get("server", "timeout")),
            max_request_body_size=configuration.get("server", "max_content_length"),
            ident="calserver",
            clear_untrusted_proxy_headers=False,
        )
    except OSError as exc:
        raise CalserverError(f"cannot listen on {listen_spec(configuration)}: {exc}") from exc
    try:
        metrics = start_metrics_server(configuration)
    except CalserverError:
        server.close()
        raise
    print(f"calserver listening on {base_url(configuration)}/", flush=True)
    sys.stdout.flush()
    try:
        server.run()
    except KeyboardInterrupt:
        logger.info("stopping")
    finally:
        server.close()
        if metrics is not None:
            metrics.close()
