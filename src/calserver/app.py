"""The composition root: what calserver mounts, on one screen.

Front (request hygiene, limits, error boundary)
  -> CalserverApplication (Radicale 3.9 with calserver's plugins)
       storage = calserver.storage   (SQL, time index, change log)
       auth    = calserver.auth      (users table, argon2, throttling)
       rights  = calserver.rights    (owner-only)
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException
from radicale import app as radicale_app
from radicale import config as radicale_config
from radicale import xmlutils
from radicale.item import filter as radicale_filter

from calserver import db, propfind
from calserver.storage.context import expand_window

logger = logging.getLogger("calserver")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Methods whose request body is WebDAV XML.
XML_METHODS = frozenset({"PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR", "MKCOL"})
MAX_PATH_LENGTH = 4096


class CalserverApplication(radicale_app.Application):
    """Radicale's application; calserver extends it here where plugins cannot."""

    def do_PROPFIND(
        self,
        environ: dict[str, Any],
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        def depth0(env: dict[str, Any]) -> Any:
            return super(CalserverApplication, self).do_PROPFIND(
                env, base_prefix, path, user, user_groups, request_info
            )

        answer = propfind.fast_propfind(self, environ, base_prefix, path, user, user_groups, depth0)
        if answer is not None:
            return answer
        return super().do_PROPFIND(environ, base_prefix, path, user, user_groups, request_info)


class BadRequest(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _expand_window(root: Any) -> tuple[int, int] | None:
    """The time-range of a calendar-query that asks for ``expand`` (RFC 4791 9.6.5)."""
    if root.find(".//" + xmlutils.make_clark("C:expand")) is None:
        return None
    for comp_filter in root.iter(xmlutils.make_clark("C:comp-filter")):
        if comp_filter.get("name", "").upper() == "VCALENDAR":
            continue
        time_range = comp_filter.find(xmlutils.make_clark("C:time-range"))
        if time_range is not None:
            try:
                return radicale_filter.time_range_timestamps(time_range)
            except ValueError:
                return None
    return None


def _text_path(path: str) -> str:
    """PATH_INFO as text. PEP 3333 servers (waitress, gunicorn) pass the request path's
    bytes decoded as latin-1, so "/zoë/" arrives as "/zoÃ«/"; Radicale expects the text
    (RFC 3986 2.5: UTF-8), as its own server hands it over. A path that is not UTF-8
    seen through latin-1 is text already (an in-process caller) and is left alone."""
    try:
        return path.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return path


class Front:
    """WSGI front of the Radicale application: refuses malformed requests with a clear
    4xx before Radicale sees them, and is the one place that turns an unexpected
    exception into a logged 500."""

    def __init__(self, application: WSGIApp, configuration: radicale_config.Configuration):
        self._application = application
        self._max_content_length = configuration.get("server", "max_content_length")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        token = expand_window.set(None)
        try:
            try:
                self._check(environ)
            except BadRequest as exc:
                return self._error(start_response, exc.status, exc.reason)
            return self._application(environ, start_response)
        except Exception:
            logger.exception(
                "unexpected error on %s %r",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
            )
            return self._error(start_response, "500 Internal Server Error", "internal error")
        finally:
            expand_window.reset(token)

    def _check(self, environ: dict[str, Any]) -> None:
        path = environ["PATH_INFO"] = _text_path(environ.get("PATH_INFO", ""))
        if "\x00" in path or len(path) > MAX_PATH_LENGTH:
            raise BadRequest("400 Bad Request", "invalid request path")
        self._check_authorization(environ.get("HTTP_AUTHORIZATION", ""))
        raw_length = environ.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw_length)
        except ValueError as exc:
            raise BadRequest("400 Bad Request", "invalid Content-Length") from exc
        if length < 0:
            raise BadRequest("400 Bad Request", "invalid Content-Length")
        if self._max_content_length and length > self._max_content_length:
            raise BadRequest("413 Content Too Large", "request body too large")
        method = environ.get("REQUEST_METHOD", "").upper()
        if method in XML_METHODS and length:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            root = self._parse_xml(body)
            if method == "REPORT":
                expand_window.set(_expand_window(root))

    @staticmethod
    def _check_authorization(header: str) -> None:
        if not header.startswith("Basic"):
            return
        try:
            decoded = base64.b64decode(header[len("Basic") :].strip(), validate=True)
            text = decoded.decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("400 Bad Request", "malformed Authorization header") from exc
        if ":" not in text:
            raise BadRequest("400 Bad Request", "malformed Authorization header")

    @staticmethod
    def _parse_xml(body: bytes) -> Any:
        try:
            return DefusedET.fromstring(body, forbid_dtd=True)
        except (DefusedXmlException, SyntaxError, ValueError) as exc:
            # SyntaxError covers xml.etree's ParseError
            raise BadRequest("400 Bad Request", "invalid XML request body") from exc

    @staticmethod
    def _error(start_response: StartResponse, status: str, reason: str) -> list[bytes]:
        body = (reason + "\n").encode("utf-8")
        start_response(
            status,
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]


def make_app(configuration: radicale_config.Configuration, *, create_schema: bool = True) -> Front:
    """The whole calserver WSGI application for ``configuration``."""
    if create_schema:
        db.ensure_schema(db.engine_for(configuration))
    application = CalserverApplication(configuration)
    application._storage.warm_up()  # type: ignore[attr-defined]
    return Front(application, configuration)
