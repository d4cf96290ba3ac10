"""The route table of the web app: ``@route("GET", "/calendar")`` on a page function
registers it. Paths are relative to ``/.web`` and exact (parameters go in the query
string or the form)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from calserver.web.http import Response, WebRequest

Handler = Callable[[WebRequest], Response]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    #: reachable without a session (the sign-in page)
    public: bool
    #: only for server administrators
    admin: bool


ROUTES: dict[tuple[str, str], Route] = {}


def route(
    method: str, path: str, *, public: bool = False, admin: bool = False
) -> Callable[[Handler], Handler]:
    """Register the decorated page function for ``method`` and ``path``."""

    def register(handler: Handler) -> Handler:
        key = (method.upper(), path)
        if key in ROUTES:
            raise RuntimeError(f"two pages for {method} {path}")
        ROUTES[key] = Route(method.upper(), path, handler, public, admin)
        return handler

    return register


def allowed(path: str) -> list[str]:
    """The methods registered for ``path``."""
    return sorted(method for method, known in ROUTES if known == path)
