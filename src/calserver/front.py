"""The WSGI front: request hygiene and limits before anything else sees a request
(a path that is not UTF-8, a hidden "/", a malformed Authorization header, a body over
``[server] max_content_length``, XML that is malformed or nested too deep), the routing
to the side endpoints (calserver.urls), the one request context (calserver.context), and
the error boundary: calserver errors become their answer (calserver.errors), a database
out of reach or out of space a 503 with Retry-After (calserver.outage), anything else a
logged 500.
"""

from __future__ import annotations

import base64
import binascii
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException
from radicale import config as radicale_config
from radicale import xmlutils
from radicale.item import filter as radicale_filter

from calserver import api, context, errors, outage
from calserver.errors import CalserverError
from calserver.feeds import web as feeds_web
from calserver.httpbody import read_body
from calserver.ical import icsfile
from calserver.scheduling import web as invite_web
from calserver.urls import WEB, base_prefix, origin, under
from calserver.urls import log_path as token_free_path

logger = logging.getLogger("calserver")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Methods whose request body is WebDAV XML.
XML_METHODS = frozenset({"PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR", "MKCOL"})
MAX_PATH_LENGTH = 4096


class BadRequest(CalserverError):
    """A request the front refuses before Radicale sees it; ``status`` is the WSGI status
    line ("400 Bad Request"), ``precondition`` the RFC 4791 5.3.2.1 one that failed, as
    "C:name" (a DAV:error body), when there is one."""

    def __init__(self, status: str, reason: str, precondition: str | None = None) -> None:
        super().__init__(reason, status=int(status.split()[0]), precondition=precondition or "")
        self.status_line = status


def _expand_window(root: Any) -> tuple[int, int] | None:
    """The time-range of a calendar-query that asks for ``expand`` (RFC 4791 9.6.5), when
    it is the only one and lies on a component directly inside VCALENDAR: only then is
    it the window every expanded instance must meet. Otherwise no window (slower, as
    correct)."""
    if root.find(".//" + xmlutils.make_clark("C:expand")) is None:
        return None
    time_ranges = list(root.iter(xmlutils.make_clark("C:time-range")))
    if len(time_ranges) != 1:
        return None
    comp_filter = xmlutils.make_clark("C:comp-filter")
    for calendar in root.iter(comp_filter):
        if calendar.get("name", "").upper() != "VCALENDAR":
            continue
        for component in calendar.findall(comp_filter):
            if component.find(xmlutils.make_clark("C:time-range")) is time_ranges[0]:
                try:
                    return radicale_filter.time_range_timestamps(time_ranges[0])
                except ValueError:
                    return None
    return None


def _text_path(environ: dict[str, Any]) -> str:
    """PATH_INFO as text. PEP 3333 servers (waitress, gunicorn) pass the request path's
    bytes decoded as latin-1, so "/zoë/" arrives as "/zoÃ«/"; Radicale expects the text
    (RFC 3986 2.5: UTF-8), as its own server hands it over. Such servers also pass the
    raw request target (REQUEST_URI, RAW_URI): then the path must be UTF-8, and must not
    hide a "/" in a name (RFC 3986 2.2: "%2F" is data, yet PATH_INFO decodes it into a
    separator). Without a raw target, a path that is not UTF-8 seen through latin-1 is
    text already (an in-process caller) and is left alone."""
    path: str = environ.get("PATH_INFO", "")
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw is not None and "%2f" in raw.split("?", 1)[0].lower():
        raise BadRequest("400 Bad Request", "encoded slash in the request path")
    try:
        return path.encode("latin-1").decode("utf-8")
    except UnicodeError as exc:
        if raw is None:
            return path
        raise BadRequest("400 Bad Request", "the request path is not UTF-8") from exc


def _browser_at_root(environ: dict[str, Any]) -> bool:
    """A browser opening the server's address: a GET of ``/`` that accepts HTML and
    carries none of the headers a CalDAV client sends (Depth, a DAV body)."""
    return (
        environ.get("PATH_INFO") in ("/", "")
        and environ.get("REQUEST_METHOD", "").upper() in ("GET", "HEAD")
        and "text/html" in str(environ.get("HTTP_ACCEPT", ""))
        and "HTTP_DEPTH" not in environ
    )


def _to_web(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """The browser at ``/`` goes to the web app (RFC 9110 15.4.4)."""
    start_response(
        "303 See Other",
        [("Location", base_prefix(environ) + WEB + "/"), ("Content-Length", "0")],
    )
    return []


class Front:
    """WSGI front of the Radicale application: refuses malformed requests with a clear
    4xx before Radicale sees them, and is the one place that turns an unexpected
    exception into a logged 500."""

    def __init__(
        self,
        application: WSGIApp,
        configuration: radicale_config.Configuration,
        management_api: WSGIApp | None = None,
        side_endpoints: WSGIApp | None = None,
        invitations: WSGIApp | None = None,
        web: WSGIApp | None = None,
        mounted: Sequence[tuple[Callable[[str], bool], WSGIApp]] = (),
    ):
        self._application = application
        self._api = management_api  # /.api/ (calserver.api)
        self._feeds = side_endpoints  # /.feeds/, /.secret/, /.public/ (calserver.feeds)
        self._invitations = invitations  # /.invite/ (calserver.scheduling.web)
        self._web = web  # /.web/ (calserver.web)
        # more side endpoints: (owns(path), application), e.g. /.push/, /.attachments/
        self._mounted = tuple(mounted)
        self._configuration = configuration
        self._max_content_length = configuration.get("server", "max_content_length")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        # the one request context (calserver.context), fresh for each request
        token = context.begin(
            method=environ.get("REQUEST_METHOD", "").upper(),
            memo={},
            link_base=self._link_base(environ),
        )
        try:
            with outage.watch():
                try:
                    self._check(environ)
                except BadRequest as exc:
                    return self._render(environ, start_response, exc, exc.status_line)
                return self._answer(self._route(environ), environ, start_response)
        except Exception as exc:
            where = (
                environ.get("REQUEST_METHOD"),
                token_free_path(environ.get("PATH_INFO", "")),
            )
            if outage.is_outage(exc):
                logger.error("database unavailable on %s %r: %s", *where, exc)
                return self._unavailable(environ, start_response, exc)
            logger.exception("unexpected error on %s %r", *where)
            return self._render(
                environ, start_response, CalserverError("internal error", status=500)
            )
        finally:
            context.end(token)

    def _route(self, environ: dict[str, Any]) -> WSGIApp:
        path = environ["PATH_INFO"]
        if self._api is not None and api.owns(path):
            return self._api
        if self._feeds is not None and feeds_web.owns(path):
            return self._feeds
        if self._invitations is not None and invite_web.owns(path):
            return self._invitations
        if self._web is not None and under(path, WEB):
            return self._web
        if self._web is not None and _browser_at_root(environ):
            return _to_web
        for owns, mounted in self._mounted:
            if owns(path):
                return mounted
        return self._application

    def _answer(
        self, application: WSGIApp, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """``application``'s answer; its 500 becomes a 503 when the request met a
        database outage (Radicale answers every exception with a bare 500:
        calserver.outage)."""
        failed: list[BaseException] = []

        def answering(status: str, headers: Any, *exc_info: Any) -> Any:
            error = outage.noticed() if status.startswith("500") else None
            if error is None:
                return start_response(status, headers, *exc_info)
            failed.append(error)
            return lambda _data: None

        body = application(environ, answering)
        if not failed:
            return body
        close = getattr(body, "close", None)
        if close is not None:
            close()
        logger.error(
            "database unavailable on %s %r: %s",
            environ.get("REQUEST_METHOD"),
            token_free_path(environ.get("PATH_INFO", "")),
            failed[0],
        )
        return self._unavailable(environ, start_response, failed[0])

    def _unavailable(
        self, environ: dict[str, Any], start_response: StartResponse, error: BaseException
    ) -> list[bytes]:
        """RFC 9110 15.6.4: 503 with Retry-After (10.2.3), the reason in words."""
        reason = outage.describe(error)
        if self._api is not None and api.owns(environ.get("PATH_INFO", "")):
            return api.respond(
                start_response, outage.STATUS, errors.json_body(reason), outage.headers()
            )
        body = (reason + "\n").encode("utf-8")
        start_response(
            outage.STATUS,
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                *outage.headers(),
            ],
        )
        return [] if environ.get("REQUEST_METHOD", "").upper() == "HEAD" else [body]

    def _link_base(self, environ: dict[str, Any]) -> str:
        """Origin and prefix of the answer links the request's meetings send
        (calserver.scheduling.links); a bad X-Script-Name is refused later, by whoever
        reads it."""
        try:
            return origin(environ, self._configuration) + base_prefix(environ)
        except CalserverError:
            return origin(environ, self._configuration)

    def _check(self, environ: dict[str, Any]) -> None:
        path = environ["PATH_INFO"] = _text_path(environ)
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
            root = self._parse_xml(read_body(environ))
            # Radicale's handlers and logging recurse over the tree: a RecursionError
            # (a 500) long before expat's own limits
            deepest, stack = 0, [(root, 1)]
            while stack:
                element, depth = stack.pop()
                deepest = max(deepest, depth)
                stack.extend((child, depth + 1) for child in element)
            if deepest > 100:
                raise BadRequest("400 Bad Request", "XML body nested deeper than 100 levels")
            self._check_xml_structure(method, root)
            if method == "REPORT":
                context.expand_window.set(_expand_window(root))
        elif method == "PUT" and length:
            # limits of what the iCalendar parser is given (over-long lines, rules that
            # can never occur: icsfile.refusal)
            text = read_body(environ).decode("utf-8", "replace")
            problem = icsfile.refusal(text)
            if problem is not None:  # RFC 4791 5.3.2.1 for iCalendar data
                # the refusal's own precondition (valid-calendar-object-resource for
                # the limits of a series), else valid-calendar-data for iCalendar data
                calendar = "BEGIN:VCALENDAR" in text[:2000].upper()
                precondition = getattr(problem, "precondition", None) or (
                    "C:valid-calendar-data" * calendar
                )
                raise BadRequest("400 Bad Request", problem, precondition)

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
    def _check_xml_structure(method: str, root: Any) -> None:
        """What Radicale's handlers take for granted in a well-formed body (they fail
        with a 500 otherwise)."""
        propfind = xmlutils.make_clark("D:propfind")
        if method == "PROPFIND" and (root.tag != propfind or not len(root)):
            # RFC 4918 14.20: propfind holds propname, allprop or prop
            raise BadRequest("400 Bad Request", "expected DAV:propfind with a child element")
        if method != "REPORT":
            return
        if (
            root.tag == xmlutils.make_clark("C:free-busy-query")
            and root.find(xmlutils.make_clark("C:time-range")) is None
        ):
            # RFC 4791 7.10: the request MUST contain exactly one CALDAV:time-range
            raise BadRequest("400 Bad Request", "free-busy-query without CALDAV:time-range")
        for href in root.iter(xmlutils.make_clark("D:href")):
            if not (href.text or "").strip():
                raise BadRequest("400 Bad Request", "empty DAV:href")

    def _render(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        error: CalserverError,
        status: str | None = None,
    ) -> list[bytes]:
        """The front's answer to ``error`` (calserver.errors): a DAV:error body naming
        the failed precondition (RFC 4918 16, RFC 4791 5.3.2.1) with the reason in
        words; else JSON under /.api/, plain text elsewhere."""
        status = status or errors.status_line(error.status)
        if error.precondition:
            root = errors.dav_error_element(error.precondition, error.reason, xmlutils.webdav_error)
            body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
            content_type = "application/xml; charset=utf-8"
        elif self._api is not None and api.owns(environ.get("PATH_INFO", "")):
            return api.error(start_response, status, error.reason)  # the JSON API: JSON
        else:
            body = errors.text_answer(error.reason)
            content_type = "text/plain; charset=utf-8"
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]
