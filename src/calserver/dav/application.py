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
from calserver.dav import (
    answers,
    carddav,
    compat,
    copy,
    cssharing,
    davheader,
    defaultalarms,
    delegation,
    expandlimit,
    freebusy,
    itemprops,
    preconditions,
    propfind,
    proppatch,
    putrepair,
    report,
    scheduletag,
    streamed,
    synclimits,
    wholeput,
)
from calserver.dav import attachments as attachments_dav
from calserver.dav import availability as availability_dav
from calserver.dav import push as push_dav
from calserver.dav import scheduling as scheduling_dav
from calserver.dav.xml import Caller
from calserver.httpbody import read_body
from calserver.ical import freebusy_objects, icsfile
from calserver.scheduling import copies as scheduling_copies
from calserver.storage import upload
from calserver.storage.base import HiddenConflict, ViewForbidden
from calserver.storage.context import remembering_collections
from calserver.subscriptions import hooks as subscription_hooks

logger = logging.getLogger("calserver")


#: Requests that open each collection once (``storage.context.remembering_collections``):
#: those whose own writes are storage writes (which forget what was opened), not those
#: that may change grants or views on the way (POST, PROPPATCH, MKCOL, MOVE, ...).
REMEMBERING = frozenset({"GET", "HEAD", "PUT", "DELETE", "PROPFIND", "REPORT", "OPTIONS"})


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
        xml_report=lambda report: synclimits.complete_sync(
            expandlimit.limit_expansion_only(report)
        ),
        put_prepare=_prepare_before_lock,
    )
    compat.set_dav_header(davheader.without_locking)  # no LOCK: no class 2 (RFC 4918 18.2)
    compat.wrap_visit_time_ranges(freebusy_objects.NAME, freebusy_objects.visit)  # RFC 4791 9.9


class CalserverApplication(radicale_app.Application):
    """Radicale's application; calserver extends it here where plugins cannot."""

    def __init__(self, configuration: radicale_config.Configuration) -> None:
        install_radicale_extensions()
        super().__init__(configuration)

    def __call__(self, environ: types.WSGIEnviron, start_response: Any) -> Any:
        # whole-collection answers are sent in chunks (calserver.dav.streamed)
        if environ.get("REQUEST_METHOD", "").upper() not in REMEMBERING:
            return streamed.call(super().__call__, cast(dict[str, Any], environ), start_response)
        with remembering_collections():  # one collection read per request
            return streamed.call(super().__call__, cast(dict[str, Any], environ), start_response)

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
            carddav.ensure_contacts(compat.storage(self).engine, user, path)
        answer = delegation.propfind_proxy_group(caller, path, body, request_info)
        if answer is None:  # scheduling: the schedule outbox answers itself
            answer = scheduling_dav.propfind_outbox(caller, path, body, request_info)
        if answer is None:  # calendarserver-sharing: the notification collection
            answer = cssharing.propfind_notifications(caller, path, body, request_info)
        if answer is not None:
            return answer
        answer = propfind.fast_propfind(
            self, cast(dict[str, Any], environ), base_prefix, path, user, user_groups, body, depth0
        )
        if answer is None:
            answer = super().do_PROPFIND(
                environ, base_prefix, path, user, user_groups, request_info
            )
        answer = itemprops.complete_propfind(self, base_prefix, path, user, body, answer)
        answer = delegation.complete_propfind(caller, path, body, answer, request_info)
        answer = carddav.complete_propfind(caller, path, body, answer, request_info)
        # WebDAV-Push: P:push-transports and P:topic of calendars
        answer = push_dav.complete_propfind(caller, path, body, answer, request_info)
        # managed attachments: RFC 8607 6 limits and server URL
        answer = attachments_dav.complete_propfind(caller, path, body, answer, request_info)
        # scheduling: principal properties, inbox/outbox resourcetypes (RFC 6638 2)
        answer = scheduling_dav.complete_propfind(caller, path, body, answer, request_info)
        # default alarms of calendars: the user's e-mail reminder defaults (issue 16)
        answer = defaultalarms.complete_propfind(caller, path, body, answer, request_info)
        # calendarserver-sharing: CS:invite, allowed-sharing-modes, notification-URL
        return cssharing.complete_propfind(caller, path, body, answer, request_info)

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
        if answer is None:  # CardDAV: RFC 6352 8.3 supported-collation
            answer = carddav.check_report(caller, read_body(caller.environ), request_info)
        if answer is None:  # calendar-query and multiget from the index (dav.report)
            body = read_body(caller.environ)
            answer = report.answer(
                self, caller.environ, base_prefix, path, user, user_groups, body, request_info
            )
        if answer is None:  # RFC 6578 initial sync, streamed (calserver.dav.streamed)
            answer = streamed.initial_sync(
                self, base_prefix, path, user, user_groups, read_body(caller.environ), request_info
            )
        if answer is not None:
            return answer
        answer = super().do_REPORT(environ, base_prefix, path, user, user_groups, request_info)
        # availability: the owner's unavailable time in a free-busy-query (RFC 7953 4)
        return availability_dav.complete_freebusy(caller, path, answer)

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
        # scheduling: "calendar-auto-schedule" (RFC 6638 2); RFC 8607 managed attachments
        headers = scheduling_dav.announce(delegation.announce(headers))
        headers = cssharing.announce(headers)  # calendarserver-sharing
        headers = attachments_dav.announce(self.configuration, headers)
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
        # calendarserver-sharing: CS:share to a calendar, CS:invite-reply to a home;
        # managed attachments (RFC 8607 3); WebDAV-Push registrations
        caller = self._caller(environ, base_prefix, user, user_groups)
        answer = cssharing.post(caller, path, request_info)
        if answer is None:
            answer = attachments_dav.post(caller, path, request_info)
        if answer is None:
            answer = push_dav.register(caller, path, read_body(caller.environ), request_info)
        if answer is not None:
            return answer
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
        box = scheduling_dav.mailbox(path) if user else None
        if box is not None and box[1] == scheduling_dav.INBOX:  # RFC 7953 7.2.4
            caller = self._caller(environ, base_prefix, user, user_groups)
            answer = availability_dav.proppatch_inbox(caller, path, box[0], body, request_info)
            if answer is not None:
                return answer
        # dead properties of calendar objects (calserver.dav.itemprops)
        parent = pathutils.strip_path(path).rpartition("/")[0]
        may_write = self._may_write(user, user_groups, parent)
        answer = itemprops.proppatch_item(
            self, base_prefix, path, user, may_write, body, request_info
        )
        if answer is not None:
            return answer
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
        parent = pathutils.strip_path(path).rpartition("/")[0]
        nested = preconditions.location_refusal(compat.storage(self), user, path)
        if nested is not None and self._may_write(user, user_groups, parent):
            return answers.refusal(self, nested, request_info)  # RFC 4791 5.3.1
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
        stripped = pathutils.strip_path(path)  # a whole subscribed calendar: refused
        whole_calendar = stripped.count("/") == 1 and self._may_write(user, user_groups, stripped)
        store = compat.storage(self)
        if whole_calendar and (read_only := subscription_hooks.refusal(store, path)):
            return self._scheduling_refusal(read_only, request_info)
        if self._may_write(user, user_groups, pathutils.strip_path(path)):
            # a whole calendar is replaced only on its ETag (calserver.dav.wholeput)
            etag = environ.get("HTTP_IF_MATCH", "")
            if whole := wholeput.refusal(compat.storage(self), user, path, etag):
                return answers.refusal(self, whole, request_info)
        # a byte order mark, DTEND of another type than DTSTART (calserver.ical.repair)
        if stale := scheduletag.unmatched(self, environ, user, path, request_info):
            return stale  # RFC 6638 3.3 If-Schedule-Tag-Match
        body = putrepair.repaired_body(cast(dict[str, Any], environ), path)
        try:
            text: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        parent = pathutils.strip_path(path).rpartition("/")[0]
        media = preconditions.unsupported_data(compat.storage(self), user, parent, dict(environ))
        if media is not None and self._may_write(user, user_groups, parent):
            return answers.refusal(self, media, request_info)  # RFC 4791 5.3.2.1
        if text is not None and self._may_write(user, user_groups, parent):
            refusal = self._check_components(parent, icsfile.component_names(text), user)
            if refusal is not None:
                return refusal
        if self._may_write(user, user_groups, parent):  # RFC 6352 preconditions
            refusal = carddav.check_put(self, base_prefix, path, text, user, request_info)
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
            # an address book's own precondition (RFC 6352 6.3.2.1 valid-address-data)
            precondition = carddav.bad_request_precondition(self, path, user)
            if precondition != "C:valid-calendar-data":
                return compat.webdav_error_response(self, 400, precondition, request_info)
        # Radicale refuses with bare statuses; RFC 4791 5.3.2.1 names the precondition
        answer = preconditions.complete_put_answer(
            self, answer, text, len(body), user, parent, request_info, base_prefix
        )
        return scheduletag.with_header(self, answer, user, path, text or "")  # RFC 6638 8.3

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
        caller = self._caller(environ, base_prefix, user, user_groups)
        answer = cssharing.delete_notification(caller, path)  # calendarserver-sharing
        if answer is not None:
            return answer
        if stale := scheduletag.unmatched(self, environ, user, path, request_info):
            return stale  # RFC 6638 3.3 If-Schedule-Tag-Match
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
            # nothing moves into or out of a subscribed calendar (calserver.subscriptions)
            ends = [path, destination[len(base_prefix) :]]
            writable = [p for p in ends if self._may_write(user, user_groups, _parent(p))]
            if moved := subscription_hooks.refusal(compat.storage(self), *writable):
                return self._scheduling_refusal(moved, request_info)
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

    def do_GET(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        caller = self._caller(environ, base_prefix, user, user_groups)
        answer = cssharing.get_notification(caller, path, request_info)  # calendarserver-sharing
        if answer is None:  # a whole calendar, streamed (calserver.dav.streamed)
            answer = streamed.whole_calendar(
                self, caller.environ, path, user, user_groups, request_info
            )
        if answer is not None:
            return answer
        answer = super().do_GET(environ, base_prefix, path, user, user_groups, request_info)
        return scheduletag.with_header(self, answer, user, path)  # RFC 6638 8.3

    def do_COPY(
        self,
        environ: types.WSGIEnviron,
        base_prefix: str,
        path: str,
        user: str,
        user_groups: set[str],
        request_info: dict[str, Any],
    ) -> Any:
        # RFC 4918 9.8: a GET of the source and a PUT to the destination (calserver.dav.copy)
        def get(env: dict[str, Any], source: str) -> Any:
            return self.do_GET(env, base_prefix, source, user, user_groups, request_info)

        def put(env: dict[str, Any], target: str) -> Any:
            return self.do_PUT(env, base_prefix, target, user, user_groups, request_info)

        return copy.copy(dict(environ), base_prefix, path, get, put)

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


def _parent(path: str) -> str:
    return pathutils.strip_path(path).rpartition("/")[0]


def _schedule_reply(environ: Any) -> bool:
    """RFC 6638 8.1: ``Schedule-Reply: F`` asks for no answer to the organizer."""
    return str(environ.get("HTTP_SCHEDULE_REPLY", "T")).strip().upper() != "F"
