"""What ``calserver serve`` does the same under waitress and under gunicorn."""

from __future__ import annotations

import logging

from radicale import config as radicale_config

from calserver import db, staging

logger = logging.getLogger("calserver")


def listen_spec(configuration: radicale_config.Configuration) -> str:
    hosts = configuration.get("server", "hosts")
    return " ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in hosts)


def remove_leftovers(configuration: radicale_config.Configuration) -> None:
    """What imports and migrations killed outright left behind (``calserver.staging``)."""
    for leftover in staging.remove_abandoned(db.engine_for(configuration)):
        logger.warning("removed an unfinished import left behind (%s)", leftover.why)
