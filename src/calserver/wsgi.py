"""WSGI entry point for a WSGI server of your own choice, e.g.

    gunicorn --workers 4 --worker-class gthread --threads 8 \\
        --bind 127.0.0.1:5232 'calserver.wsgi:create_app()'

The configuration is read as ``calserver`` reads it ($CALSERVER_CONFIG, else the default
paths). The WSGI server's own settings decide where it listens and how many processes
run: ``[server] hosts``, ``workers`` and ``metrics_hosts`` apply to ``calserver serve``
only. Call ``create_app()`` in each worker (no ``--preload``), so that no database
connection crosses a fork.
"""

from __future__ import annotations

from calserver import config as calserver_config
from calserver.app import make_app
from calserver.front import WSGIApp


def create_app() -> WSGIApp:
    configuration = calserver_config.load_default()
    calserver_config.setup_logging(configuration)
    return make_app(configuration)
