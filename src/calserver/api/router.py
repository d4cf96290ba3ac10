"""The dispatcher: the routes of the OpenAPI document, the CSRF guard, the login, the
JSON body, and one answer (or one JSON error) per request.

No cross-site request changes anything (CSRF, :func:`refuse_cross_site`); see the
docstring of :mod:`calserver.api`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl

from radicale import app as radicale_app
from radicale import pathutils

from calserver import errors, httpauth
from calserver.api.answers import Answer, Refusal, Request, StartResponse, respond
from calserver.api.document import METHODS, OPENAPI, ROOT
from calserver.api.handlers.base import Handlers
from calserver.api.schema import check_body
from calserver.dav import compat
from calserver.errors import CalserverError, InvalidInput
from calserver.storage import Storage
from calserver.urls import base_prefix, origin

#: Methods that change nothing (RFC 9110 9.2.1): no CSRF guard.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Content-Types a page of another site may send without a CORS preflight (Fetch,
#: "CORS-safelisted request-header"): a form's and text.
SIMPLE_MEDIA_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
#: Sec-Fetch-Site values of a request that a page of another origin caused.
FOREIGN_SITES = frozenset({"cross-site", "same-site"})


@dataclass(frozen=True)
class Route:
    template: str
    method: str  # upper case
    operation_id: str
    anonymous: bool
    body: dict[str, Any] | None  # the requestBody object

    @property
    def segments(self) -> list[str]:
        return self.template.strip("/").split("/")


def routes() -> list[Route]:
    """Every operation of ``OPENAPI``: what the dispatcher knows."""
    found = []
    for template, item in OPENAPI["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            found.append(
                Route(
                    template,
                    method.upper(),
                    operation["operationId"],
                    operation.get("security", OPENAPI["security"]) == [],
                    operation.get("requestBody"),
                )
            )
    return found


def refuse_cross_site(environ: dict[str, Any], method: str) -> None:
    """Refuse a state-changing request that a page of another site could have made a
    browser send with the user's cached credentials (CSRF; see the module docstring)."""
    if method in SAFE_METHODS:
        return
    site = str(environ.get("HTTP_SEC_FETCH_SITE", "")).strip().lower()
    if site in FOREIGN_SITES:
        raise Refusal(403, f"a {site} request may not change anything here")
    media = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
    if media in SIMPLE_MEDIA_TYPES:
        raise Refusal(415, f"a change must be sent as application/json, not {media}")
    if method == "POST" and media != "application/json" and not media.endswith("+json"):
        raise Refusal(415, "a POST must be application/json (even without a body)")


class Router(Handlers):
    """The WSGI application of ``/.api/`` without its handlers (``op_<operationId>``
    methods, :class:`calserver.api.Api` adds them); ``application`` is the Radicale
    application whose auth plugin and storage it shares."""

    def __init__(self, application: radicale_app.Application) -> None:
        self._application = application
        self._storage = cast(Storage, compat.storage(application))
        self._engine = self._storage.engine
        self._config = application.configuration
        self._routes = routes()
        missing = [
            r.operation_id for r in self._routes if not hasattr(self, "op_" + r.operation_id)
        ]
        unrouted = {name[3:] for name in dir(self) if name.startswith("op_")} - {
            r.operation_id for r in self._routes
        }
        if missing or unrouted:  # the document and the handlers must agree
            raise RuntimeError(f"API handlers missing: {missing}, undocumented: {unrouted}")

    @property
    def routes(self) -> list[Route]:
        return list(self._routes)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        head = method == "HEAD"
        try:
            route, params = self._match(environ.get("PATH_INFO", ""), "GET" if head else method)
            # before the login: a forged request gets no further, not even a 401
            refuse_cross_site(environ, method)
            prefix = base_prefix(environ)
            user = "" if route.anonymous else httpauth.authenticate(self._application, environ)
            request = Request(user, prefix, params, origin=origin(environ, self._config))
            request.query = query_of(environ)
            request.body = self._read_body(environ, route)
            answer: Answer = getattr(self, "op_" + route.operation_id)(request)
        except httpauth.Unauthorized as exc:
            challenge = httpauth.challenge(self._application)
            return respond(start_response, 401, errors.json_body(str(exc)), [challenge], head)
        except Refusal as exc:
            return respond(
                start_response, exc.status, errors.json_body(str(exc)), exc.headers, head
            )
        except CalserverError as exc:
            return respond(start_response, exc.status, errors.json_body(str(exc)), (), head)
        return respond(start_response, answer.status, answer.payload, answer.headers, head)

    # --- dispatch ---------------------------------------------------------------------

    def _match(self, path: str, method: str) -> tuple[Route, dict[str, str]]:
        if not path.startswith(ROOT + "/"):
            raise Refusal(404, f"no such API route; see {ROOT}/openapi.json")
        segments = path[len(ROOT) + 1 :].split("/")
        methods: set[str] = set()
        for route in self._routes:
            params = match_segments(route.segments, segments)
            if params is not None and route.method == method:
                return route, params
            if params is not None:
                methods.add(route.method)
        if not methods:
            raise Refusal(404, f"no such API route; see {ROOT}/openapi.json")
        if "GET" in methods:
            methods.add("HEAD")
        names = ", ".join(sorted(methods))
        raise Refusal(405, f"{method} is not allowed here (allowed: {names})", [("Allow", names)])

    @staticmethod
    def _read_body(environ: dict[str, Any], route: Route) -> Any:
        """The JSON body (None when there is none), checked against the route's schema.
        Front has refused a Content-Length above [server] max_content_length."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        if route.body is None:
            return None
        if not raw.strip():
            if route.body.get("required"):
                raise InvalidInput("this request needs a JSON body")
            return None
        media = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise Refusal(415, "the body must be application/json")
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
        check_body(route.body["content"]["application/json"]["schema"], value)
        return value


def query_of(environ: dict[str, Any]) -> dict[str, str]:
    """The query string's parameters, the first value of each (RFC 3986 3.4, form
    encoded as browsers send it)."""
    query: dict[str, str] = {}
    for name, value in parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True):
        query.setdefault(name, value)
    return query


def match_segments(template: list[str], segments: list[str]) -> dict[str, str] | None:
    if len(template) != len(segments):
        return None
    params = {}
    for pattern, segment in zip(template, segments, strict=True):
        if pattern.startswith("{"):
            if not pathutils.is_safe_path_component(segment):
                return None
            params[pattern[1:-1]] = segment
        elif pattern != segment:
            return None
    return params
