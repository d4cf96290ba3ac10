"""Radicale 3.9's application with calserver's DAV extensions: what plugins cannot
reach (DESIGN.md). Each do_* override calls the module of its concern and then Radicale:

- delegation (caldav-proxy, expand-property, principal search): calserver.dav.delegation;
- scheduling (principal properties, inbox/outbox, outbox free/busy POST, implicit
  scheduling's answer to a PUT/DELETE): calserver.dav.scheduling and the request context;
- PROPFIND fast path: calserver.dav.propfind; PROPPATCH all or nothing, protected
  properties, limits: calserver.dav.proppatch;
- the wraps of Radicale functions (free/busy rules, expand limit, a PUT prepared before
  the write lock), installed once when the application is built: calserver.dav.compat.
"""

from __future__ import annotations

import functools
import io
import logging
import posixpath
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote, urlparse

from radicale import app as radicale_app
from radicale import config as radicale_config
from radicale import httputils, pathutils, types, xmlutils
from radicale import storage as radicale_storage

from calserver import context, errors, urls
from calserver.dav import compat, delegation, expandlimit, freebusy, propfind, proppatch
from calserver.dav import scheduling as scheduling_dav
from calserver.dav.xml import Caller
from calserver.httpbody import read_body
from calserver.ical import icsfile
from calserver.scheduling import copies as scheduling_copies
from calserver.storage import upload
from calserver.storage.base import HiddenConflict, ViewForbidden

logger = logging.getLogger("calserver")


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
        # RFC 4918 9.2: limits, protected properties, all or nothing (calserver.dav.proppatch)
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
        if user and urls.reserved_path(path):
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
        if user and urls.reserved_path(path):
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
