"""The warm-up at start (issue 15, part 4): the first request after a restart is as fast
as the tenth.

What a first request pays otherwise: SQLAlchemy compiling each statement it meets
(the storage's own are compiled by ``Storage.warm_up``; the auth plugin's and the
rights plugin's here), Python importing ``_strptime`` and compiling its patterns,
vobject, dateutil and Radicale's XML and filter modules on first use, ElementTree's
namespace tables. Here the application answers a few read-only requests of its own
before the server listens: a calendar-query and a multiget that each find one item and
a Depth 0 PROPFIND of one calendar, signed in as its owner the way the web app signs in
its in-process requests (``calserver.auth.SIGNED_IN``), so that every layer
has run once. Nothing is written and nothing leaves the process; a database without
users or calendars warms the statements only.
"""

from __future__ import annotations

import io
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from radicale import item as radicale_item
from sqlalchemy import select

from calserver.accounts import passwords
from calserver.auth import SIGNED_IN
from calserver.dav import compat
from calserver.db.models import collections, items
from calserver.front import WSGIApp

logger = logging.getLogger("calserver")

_EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver//warm-up//EN\r\n"
    "BEGIN:VEVENT\r\nUID:warm-up@calserver\r\nDTSTAMP:20000101T000000Z\r\n"
    "DTSTART;TZID=Europe/Brussels:20000103T100000\r\nDURATION:PT1H\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:warm-up\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
_QUERY = (
    '<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
    '</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
    '<C:time-range start="19000101T000000Z" end="19000108T000000Z"/></C:comp-filter>'
    "</C:comp-filter></C:filter></C:calendar-query>"
)
_MULTIGET = (
    '<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
    "</D:prop><D:href>{path}{name}</D:href></C:calendar-multiget>"
)
_PROPFIND = (
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
    'xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/><D:sync-token/>'
    "</D:prop></D:propfind>"
)


def _calendar(storage: Any) -> tuple[str, str, int] | None:
    """(path ``USER/CAL``, one item's href, its start) of some user's calendar that
    holds an item, if there is one."""
    with storage.engine.connect() as conn:
        row = conn.execute(
            select(collections.c.path, items.c.href, items.c.start_ts)
            .join(items, items.c.collection_id == collections.c.id)
            .where(collections.c.tag == "VCALENDAR", collections.c.parent != "")
            .order_by(items.c.id)
            .limit(1)
        ).first()
    return (str(row.path), str(row.href), int(row.start_ts)) if row is not None else None


def _utc(timestamp: int) -> str:
    moment = datetime.fromtimestamp(min(max(timestamp, 0), 253402214400), UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _request(app: WSGIApp, user: str, method: str, path: str, body: str, depth: str) -> None:
    data = body.encode("utf-8")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "0",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/xml; charset=utf-8",
        "CONTENT_LENGTH": str(len(data)),
        "HTTP_DEPTH": depth,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr,
        SIGNED_IN: user,
    }
    answer = app(environ, lambda *_args: None)
    try:
        for _chunk in answer:
            pass
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()


def warm(app: WSGIApp, application: Any, storage: Any) -> None:
    """Run what a first request would run for the first time (see the module)."""
    datetime.strptime("20000101T000000Z", "%Y%m%dT%H%M%SZ")
    passwords.warm_up()
    item = radicale_item.Item(collection_path="warm-up", text=_EVENT)
    item.prepare()
    item.vobject_item.serialize()
    warm_auth = getattr(compat.auth(application), "warm_up", None)
    if warm_auth is not None:  # its statements (calserver.auth.Auth.warm_up)
        warm_auth()
    found = _calendar(storage)
    if found is None:
        return
    path, name, start = found
    user = path.partition("/")[0]
    href = f"/{path}/"
    # a window of one second where an item starts: the query finds it (or a few)
    query = _QUERY.replace("19000101T000000Z", _utc(start)).replace(
        "19000108T000000Z", _utc(start + 1)
    )
    try:
        _request(app, user, "REPORT", href, query, "1")
        _request(app, user, "REPORT", href, _MULTIGET.format(path=href, name=name), "1")
        _request(app, user, "PROPFIND", href, _PROPFIND, "0")
    except Exception:  # a warm-up never stops a start
        logger.warning("warm-up request failed", exc_info=True)
