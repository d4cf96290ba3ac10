"""What every handler mixin shares: the application's storage, engine and configuration
(set by :class:`calserver.api.router.Router`) and the helpers for URLs and route
parameters."""

from __future__ import annotations

from typing import Any

from radicale import app as radicale_app
from radicale import pathutils, xmlutils
from sqlalchemy import Engine

from calserver.api.answers import Request
from calserver.storage import Storage


class Handlers:
    _application: radicale_app.Application
    _storage: Storage
    _engine: Engine
    _config: Any

    @staticmethod
    def _href(request: Request, path: str) -> str:
        return xmlutils.make_href(request.prefix, pathutils.sanitize_path(path))

    @staticmethod
    def _calendar(request: Request) -> str:
        return f"{request.params['owner']}/{request.params['calendar']}"
