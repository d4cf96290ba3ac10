"""The composition root: what calserver mounts, on one screen.

Ops (/health, /.health; request metrics when [server] metrics_hosts is set: calserver.ops)
-> Front (request hygiene, limits, error boundary; a database out of reach or out of
   space is 503 + Retry-After: calserver.outage)
  -> /.api/v1/: the management JSON API (calserver.api; same auth plugin and storage)
  -> /.feeds/, /.secret/, /.public/: calendar.ics, RSS, public pages (calserver.feeds.web)
  -> /.invite/: answer links of meeting invitations (calserver.scheduling.web)
  -> CalserverApplication (Radicale 3.9 with calserver's plugins)
       storage = calserver.storage   (SQL, time index, change log)
       auth    = calserver.auth      (users table, argon2, throttling)
       rights  = calserver.rights    (owner-only)
       + Apple delegation: caldav-proxy, expand-property, principal search
         (calserver.dav.delegation, the do_* overrides marked "delegation")
       + free/busy availability rules (calserver.dav.freebusy, installed below)
       + [reporting] max_expand_occurrence on expand only (calserver.dav.expandlimit, below)
       + a PUT's items indexed before the write lock (_prepare_before_lock, below)
       + scheduling DAV: principal properties, inbox/outbox, outbox free/busy POST
         (calserver.dav.scheduling, the lines marked "scheduling")
       + PROPPATCH all or nothing, protected properties, limits (calserver.dav.proppatch)
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import logging
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote, urlparse

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException
from radicale import app as radicale_app
from radicale import config as radicale_config
from radicale import httputils, pathutils, types, xmlutils
from radicale import storage as radicale_storage
from radicale.item import filter as radicale_filter

from calserver import api, context, db, errors, icsfile, names, ops, outage
from calserver.dav import compat, delegation, expandlimit, freebusy, propfind, proppatch
from calserver.dav import scheduling as scheduling_dav
from calserver.dav.xml import Caller
from calserver.errors import CalserverError
from calserver.feeds import web as feeds_web
from calserver.httpbody import read_body
from calserver.scheduling import copies as scheduling_copies
from calserver.scheduling import hooks as scheduling_hooks
from calserver.scheduling import web as invite_web
from calserver.storage import upload
from calserver.storage.base import HiddenConflict, ViewForbidden
from calserver.urls import base_prefix, origin

logger = logging.getLogger("calserver")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Methods whose request body is WebDAV XML.
XML_METHODS = frozenset({"PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR", "MKCOL"})
MAX_PATH_LENGTH = 4096

# A database out of reach or out of space is a 503, not a 500 (calserver.outage).
outage.install()


class _TakeBack(Exception):
    """Leaves a request's write transaction, taking back what it wrote, with the
    answer to give."""

    def __init__(self, answer: Any) -> None:
        super().__init__("taken back")
        self.answer = answer


def _prepare_before_lock(original: Callable[..., Any]) -> Callable[..., Any]:
    """Radicale's PUT prepares the items of a body before it takes the write lock
    (``radicale.app.put.prepare``); this adds what storing them computes (the time
    index with its recurrence expansion, the checks, the client's text:
    ``storage.upload.prepared``), so that a slow object never holds the database's
    write lock while other writers wait (SQLite has one writer at a time)."""

    @functools.wraps(original)
    def prepare(vobject_items: Any, path: str, *args: Any, **kwargs: Any) -> Any:
        items, tag, whole, props, failure = original(vobject_items, path, *args, **kwargs)
        storage = context.put_storage.get()
        if storage is None or failure is not None or tag != "VCALENDAR":
            return items, tag, whole, props, failure
        parent = None if whole else posixpath.dirname(pathutils.strip_path(path))
        ready = [upload.prepared(storage, item, parent) for item in items]
        return iter(ready), tag, whole, props, failure

    return prepare


def install_radicale_extensions() -> None:
    """What calserver changes of Radicale's own functions (``calserver.dav.compat``),
    each wrapped once, when the application is built:

    - free-busy-query with calserver's availability rules (all-day events free by
      default, X-MICROSOFT-CDO-BUSYSTATUS: ``calserver.dav.freebusy``);
    - ``[reporting] max_expand_occurrence`` on expand only, and saying so
      (``calserver.dav.expandlimit``);
    - a PUT's items prepared before the write lock (:func:`_prepare_before_lock`).
    """
    compat.install(
        fbtype=freebusy.fbtype,
        xml_report=expandlimit.limit_expansion_only,
        put_prepare=_prepare_before_lock,
    )


class CalserverApplication(radicale_app.Application):
    """Radicale's application; calserver extends it here where plugins cannot."""

    def __init__(self, configuration: radicale_config.Configuration) -> None:
        install_radicale_extensions()
        super().__init__(configuration)

    def do_PROPFIND(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        def depth0(env: types.WSGIEnviron) -> Any:
            return super(CalserverApplication, self).do_PROPFIND(
                env, base_prefix, path, user, user_groups, request_info
            )

        # delegation: proxy group principals answer themselves; user principals get
        # the proxy properties filled in after Radicale answered
        caller = self._caller(environ, base_prefix, user, user_groups)
        body = read_body(caller.environ)
        if user:  # scheduling: the inbox exists when its owner looks (RFC 6638 2.2)
            scheduling_dav.ensure_inbox(compat.storage(self).engine, user, path)
        answer = delegation.propfind_proxy_group(caller, path, body, request_info)
        if answer is None:  # scheduling: the schedule outbox answers itself
            answer = scheduling_dav.propfind_outbox(caller, path, body, request_info)
        if answer is not None:
            return answer
        answer = propfind.fast_propfind(
            self, cast(dict[str, Any], environ), base_prefix, path, user, user_groups, body, depth0
        )
        if answer is None:
            answer = super().do_PROPFIND(
                environ, base_prefix, path, user, user_groups, request_info
            )
        answer = delegation.complete_propfind(caller, path, body, answer, request_info)
        # scheduling: principal properties, inbox/outbox resourcetypes (RFC 6638 2)
        return scheduling_dav.complete_propfind(caller, path, body, answer, request_info)

    def do_REPORT(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        # delegation: expand-property, principal-property-search and
        # principal-search-property-set (Radicale answers them with nothing)
        caller = self._caller(environ, base_prefix, user, user_groups)
        depth = environ.get("HTTP_DEPTH", "0")
        answer = delegation.report(caller, path, depth, request_info)
        if answer is not None:
            return answer
        return super().do_REPORT(environ, base_prefix, path, user, user_groups, request_info)

    def do_OPTIONS(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        # delegation: "calendar-proxy" in the DAV header (Apple's Delegation tab)
        status, headers, answer, xml_request = super().do_OPTIONS(
            environ, base_prefix, path, user, user_groups, request_info
        )
        # scheduling: "calendar-auto-schedule" (RFC 6638 2)
        headers = scheduling_dav.announce(delegation.announce(headers))
        return status, headers, answer, xml_request

    def do_POST(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        # scheduling: free/busy requests to the schedule outbox (RFC 6638 5)
        if scheduling_dav.mailbox(path) is not None:
            caller = self._caller(environ, base_prefix, user, user_groups)
            return scheduling_dav.outbox_post(caller, path, request_info)
        return super().do_POST(environ, base_prefix, path, user, user_groups, request_info)

    def do_PROPPATCH(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        # delegation is read-only: proxies follow from grants (calserver share, the API)
        body = read_body(cast(dict[str, Any], environ))
        if user and (
            delegation.refuses_write(path, body) or scheduling_dav.refuses_proppatch(path, body)
        ):
            return compat.webdav_error_response(
                self, 403, "D:cannot-modify-protected-property", request_info
            )
        # RFC 4918 9.2: limits, protected properties, all or nothing (calserver.proppatch)
        found = proppatch.instructions(body)
        limits = compat.storage(self).property_limits
        too_large = proppatch.too_large(body, found, limits)
        if too_large:
            return 413, {"Content-Type": "text/plain; charset=utf-8"}, too_large, None
        protected = proppatch.protected(found or [])
        if protected:  # a dry run: the access checks of Radicale's handler, nothing to set
            empty = b'<propertyupdate xmlns="DAV:"/>'
            environ = {**environ, "wsgi.input": io.BytesIO(empty)}
            environ["CONTENT_LENGTH"] = str(len(empty))
        context.refused_properties.set(None)
        try:
            with compat.storage(self).acquire_lock("w", user, path=path, request="PROPPATCH"):
                answer = super().do_PROPPATCH(
                    environ, base_prefix, path, user, user_groups, request_info
                )
                if answer[0] != 207 or protected:
                    raise _TakeBack(answer)  # whatever was written: not a success
        except _TakeBack as back:
            answer = back.answer
        statuses: dict[str, int] = {}
        reason = ""
        if protected and answer[0] == 207:
            statuses = {i.name: 403 if i.name in protected else 424 for i in found or []}
        elif answer[0] == 507 and (refused := context.refused_properties.get()) is not None:
            keys, reason = refused
            names = {xmlutils.make_clark(key) for key in keys}
            statuses = {i.name: 507 if i.name in names else 424 for i in found or []}
        if not statuses:
            return answer
        href = xmlutils.make_href(base_prefix, path)
        headers = {"DAV": httputils.DAV_HEADERS, "Content-Type": "text/xml; charset=utf-8"}
        content = proppatch.multistatus(href, statuses, reason).decode("utf-8")
        return 207, headers, content, None

    def do_MKCALENDAR(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        if user and names.reserved_path(path):
            return httputils.FORBIDDEN  # mailboxes, proxy groups, dot names
        return super().do_MKCALENDAR(environ, base_prefix, path, user, user_groups, request_info)

    def do_MKCOL(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        if user and names.reserved_path(path):
            return httputils.FORBIDDEN  # mailboxes, proxy groups, dot names
        return super().do_MKCOL(environ, base_prefix, path, user, user_groups, request_info)

    def _caller(
        self, environ: types.WSGIEnviron, base_prefix: str, user: str, user_groups: set[str]
    ) -> Caller:
        return Caller(self, cast(dict[str, Any], environ), base_prefix, user, user_groups)

    def do_PUT(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        if user and scheduling_dav.refuses_put(path):
            return httputils.FORBIDDEN  # scheduling: only the server writes to mailboxes
        body = read_body(cast(dict[str, Any], environ))
        try:
            text: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        parent = pathutils.strip_path(path).rpartition("/")[0]
        if text is not None and self._may_write(user, user_groups, parent):
            refusal = self._check_components(parent, icsfile.component_names(text), user)
            if refusal is not None:
                return refusal
        token = context.put_body.set(text)
        storage = context.put_storage.set(compat.storage(self))
        refused = context.refusal.set(None)
        rewritten = context.rewritten.set(False)
        replying = context.send_reply.set(_schedule_reply(environ))
        try:
            try:
                answer = super().do_PUT(environ, base_prefix, path, user, user_groups, request_info)
            except HiddenConflict:
                return self._uid_conflict(request_info)
            except ViewForbidden:
                # a writer changing an event they cannot fully see (calserver.sharing)
                return httputils.FORBIDDEN
            refusal = context.refusal.get()
            changed = context.rewritten.get()
        finally:
            context.put_body.reset(token)
            context.put_storage.reset(storage)
            context.refusal.reset(refused)
            context.rewritten.reset(rewritten)
            context.send_reply.reset(replying)
        if refusal is not None:  # scheduling: RFC 6638 3.2.x preconditions
            return self._scheduling_refusal(refusal, request_info)
        if changed and isinstance(answer, tuple) and isinstance(answer[1], dict):
            # RFC 4791 5.3.4 / RFC 6638 3.2: the stored meeting differs from the body
            # (SEQUENCE, answers, SCHEDULE-STATUS): no ETag, so the client fetches it
            answer = (answer[0], {k: v for k, v in answer[1].items() if k != "ETag"}, *answer[2:])
        if answer == httputils.BAD_REQUEST:
            # Radicale refuses data it cannot parse or accept with a bare 400; RFC 4791
            # 5.3.2.1 names the precondition that failed.
            return compat.webdav_error_response(self, 400, "C:valid-calendar-data", request_info)
        return answer

    def do_DELETE(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        if user and scheduling_dav.mailbox(path) is not None:
            return httputils.FORBIDDEN  # scheduling: the inbox and outbox are the server's
        replying = context.send_reply.set(_schedule_reply(environ))
        try:
            return super().do_DELETE(environ, base_prefix, path, user, user_groups, request_info)
        except ViewForbidden:
            # a writer deleting an event they cannot fully see (calserver.sharing)
            return httputils.FORBIDDEN
        except HiddenConflict:
            # an event the writer's view hides: for them there is nothing there
            return httputils.NOT_FOUND
        except scheduling_copies.Refused as exc:
            return self._scheduling_refusal(exc, request_info)
        finally:
            context.send_reply.reset(replying)

    def _scheduling_refusal(
        self, refusal: scheduling_copies.Refused, request_info: dict[str, Any]
    ) -> Any:
        """A refused scheduling change: its RFC 6638 precondition (3.2.4.x, e.g.
        CALDAV:allowed-attendee-scheduling-object-change) with the reason in words."""
        if not refusal.precondition:
            body = errors.text_answer(refusal.reason)
            return refusal.status, {"Content-Type": "text/plain; charset=utf-8"}, body, None
        root = errors.dav_error_element(refusal.precondition, refusal.reason, xmlutils.webdav_error)
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        return refusal.status, headers, compat.xml_response(self, root, request_info), None

    def do_MOVE(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        destination = pathutils.sanitize_path(
            urlparse(unquote(environ.get("HTTP_DESTINATION", ""))).path
        )
        if destination.startswith(base_prefix + "/"):
            target = pathutils.strip_path(destination[len(base_prefix) :]).rpartition("/")[0]
            if self._may_write(user, user_groups, target):
                storage = compat.storage(self)
                with storage.acquire_lock("r", user):
                    item = next(iter(storage.discover(path)), None)
                if item is not None and not isinstance(item, radicale_storage.BaseCollection):
                    refusal = self._check_components(target, {item.component_name}, user)
                    if refusal is not None:
                        return refusal
        try:
            return super().do_MOVE(environ, base_prefix, path, user, user_groups, request_info)
        except HiddenConflict:
            return self._uid_conflict(request_info)
        except ViewForbidden:
            return httputils.FORBIDDEN  # a move out of or into a calendar the writer may not change

    def _uid_conflict(self, request_info: dict[str, Any]) -> Any:
        """A write onto an item the writer's view hides (calserver.sharing): the same
        answer, byte for byte, as Radicale's for a UID already in use (RFC 4791
        5.3.2.1), which a writer may get for a hidden item's UID anyway."""
        request_info["status"] = HTTPStatus.CONFLICT
        return compat.webdav_error_response(
            self, HTTPStatus.CONFLICT, "C:no-uid-conflict", request_info
        )

    def _may_write(self, user: str, user_groups: set[str], collection_path: str) -> bool:
        if not user or not collection_path:
            return False
        rights = compat.rights(self)
        return "w" in rights.authorization(user, user_groups, "/" + collection_path + "/")

    def _check_components(self, collection_path: str, names: set[str], user: str) -> Any:
        """RFC 4791 5.3.2.1: a calendar refuses components outside its
        supported-calendar-component-set with 403 (CALDAV:supported-calendar-component)."""
        storage = compat.storage(self)
        with storage.acquire_lock("r", user):
            collection = storage.open_collection(collection_path, user)
        if collection is None or collection.tag != "VCALENDAR":
            return None
        supported = collection.get_meta("C:supported-calendar-component-set")
        if not supported or not names:
            return None
        allowed = {name.strip().upper() for name in supported.split(",")}
        if names <= allowed:
            return None
        return compat.webdav_error_response(self, 403, "C:supported-calendar-component", {})


def _schedule_reply(environ: Any) -> bool:
    """RFC 6638 8.1: ``Schedule-Reply: F`` asks for no answer to the organizer."""
    return str(environ.get("HTTP_SCHEDULE_REPLY", "T")).strip().upper() != "F"


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
    ):
        self._application = application
        self._api = management_api  # /.api/ (calserver.api)
        self._feeds = side_endpoints  # /.feeds/, /.secret/, /.public/ (calserver.feeds)
        self._invitations = invitations  # /.invite/ (calserver.scheduling.web)
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
                invite_web.log_path(feeds_web.log_path(environ.get("PATH_INFO", ""))),
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
            invite_web.log_path(feeds_web.log_path(environ.get("PATH_INFO", ""))),
            failed[0],
        )
        return self._unavailable(environ, start_response, failed[0])

    def _unavailable(
        self, environ: dict[str, Any], start_response: StartResponse, error: BaseException
    ) -> list[bytes]:
        """RFC 9110 15.6.4: 503 with Retry-After (10.2.3), the reason in words."""
        reason = outage.describe(error)
        if self._api is not None and api.owns(environ.get("PATH_INFO", "")):
            return api.respond(start_response, outage.STATUS, {"error": reason}, outage.headers())
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
            problem = icsfile.refusal(read_body(environ).decode("utf-8", "replace"))
            if problem is not None:
                raise BadRequest("400 Bad Request", problem, getattr(problem, "precondition", None))

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


def make_app(
    configuration: radicale_config.Configuration, *, create_schema: bool = True
) -> WSGIApp:
    """The whole calserver WSGI application for ``configuration``."""
    if create_schema:
        db.ensure_schema(db.engine_for(configuration))
    application = CalserverApplication(configuration)
    storage = compat.storage(application)
    # what the storage's writes set off, inside their transaction (calserver.storage.hooks)
    scheduling_hooks.register(storage)  # implicit scheduling, RFC 6638 3.2
    storage.warm_up()  # type: ignore[attr-defined]
    front = Front(
        application,
        configuration,
        api.Api(application),
        feeds_web.Feeds(application),
        invite_web.Invitations(application),
    )
    return ops.mount(front, configuration)
