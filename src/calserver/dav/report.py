"""calendar-query (RFC 4791 7.8) and calendar-multiget (RFC 4791 7.9) answered from the
index, the multistatus written as text.

Radicale's REPORT handler (``radicale/app/report.py`` ``xml_report``) builds an
ElementTree node per property and serialises the whole tree; with ``expand`` it
re-parses every item in the window with vobject, walks its recurrence set with
dateutil and serialises it again. Here the storage's index finds the items (the same
``get_filtered`` Radicale calls, so the same view of the calendar: what a busy-only
viewer or a reader may see, ``calserver.sharing``), and the answer is written
directly: the stored text, or for ``expand`` the instances the time index lists
(``calserver.dav.expansion``).

Only the requests whose answer this module knows exactly are taken: a calendar-query
on a calendar with one ``C:filter`` of the form VCALENDAR > VEVENT|VTODO|VJOURNAL with
at most a ``C:time-range``, or a calendar-multiget of the calendar's own items without
a filter; properties ``D:getetag``, ``D:getcontenttype`` and ``C:calendar-data``
(plain, with ``C:expand``, or with ``C:limit-recurrence-set``, which Radicale ignores
and so does this). Everything else returns None, and Radicale's handler answers.
"""

from __future__ import annotations

import datetime
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlparse
from xml.sax.saxutils import escape

import defusedxml.ElementTree as DefusedET
from radicale import pathutils
from radicale.item import filter as radicale_filter

from calserver.dav import compat
from calserver.ical import expand as expansion
from calserver.storage import spans as index_spans

_D = "{DAV:}"
_C = "{urn:ietf:params:xml:ns:caldav}"
CALENDAR_QUERY = _C + "calendar-query"
CALENDAR_MULTIGET = _C + "calendar-multiget"
_PROP = _D + "prop"
_HREF = _D + "href"
_FILTER = _C + "filter"
_COMP_FILTER = _C + "comp-filter"
_TIME_RANGE = _C + "time-range"
_GETETAG = _D + "getetag"
_GETCONTENTTYPE = _D + "getcontenttype"
_CALENDAR_DATA = _C + "calendar-data"
_EXPAND = _C + "expand"
_LIMIT_RECURRENCE_SET = _C + "limit-recurrence-set"
_COMPONENTS = frozenset({"VEVENT", "VTODO", "VJOURNAL"})
_OK = "<status>HTTP/1.1 200 OK</status>"
_NOT_FOUND = "<status>HTTP/1.1 404 Not Found</status>"
_MULTISTATUS = '<multistatus xmlns="DAV:"'
_WITH_CALDAV = ' xmlns:C="urn:ietf:params:xml:ns:caldav"'
_DT_FORMAT = "%Y%m%dT%H%M%SZ"


#: Whether this module answers at all (tests turn it off to compare with Radicale).
ENABLED = True


class Unanswerable(Exception):
    """What this module does not answer exactly: Radicale's handler answers it."""


@dataclass(frozen=True)
class Request:
    """A REPORT this module answers: its properties (Clark names, in request order),
    the window of its time-range (UTC seconds, or None), its component, its multiget
    paths and its ``C:expand`` window."""

    kind: str
    props: tuple[str, ...]
    component: str | None
    window: tuple[int, int] | None
    filter: ET.Element | None
    hrefs: tuple[str, ...]
    expand: tuple[datetime.datetime, datetime.datetime] | None


def _only_attributes(element: ET.Element, allowed: set[str]) -> None:
    if set(element.attrib) - allowed:
        raise Unanswerable(f"attributes of {element.tag}")


def _props(root: ET.Element) -> tuple[tuple[str, ...], tuple[datetime.datetime, ...] | None]:
    props = root.findall(_PROP)
    if len(props) != 1 or len(props[0]) == 0:
        raise Unanswerable("no single D:prop")
    names: list[str] = []
    expand: tuple[datetime.datetime, ...] | None = None
    for prop in props[0]:
        _only_attributes(prop, set() if prop.tag != _CALENDAR_DATA else {"content-type", "version"})
        if prop.tag == _CALENDAR_DATA:
            if prop.get("content-type", "text/calendar") != "text/calendar":
                raise Unanswerable("another calendar-data media type")
            if prop.get("version", "2.0") != "2.0":
                raise Unanswerable("another calendar-data version")
            for child in prop:
                if child.tag == _EXPAND and expand is None:
                    _only_attributes(child, {"start", "end"})
                    expand = _expand_window(child)
                elif child.tag == _LIMIT_RECURRENCE_SET:
                    continue  # Radicale ignores it: so does this
                else:
                    raise Unanswerable("a calendar-data selection")
        elif prop.tag not in (_GETETAG, _GETCONTENTTYPE) or len(prop):
            raise Unanswerable(f"property {prop.tag}")
        if prop.tag in names:
            raise Unanswerable("a property asked twice")
        names.append(prop.tag)
    if any(child.tag == _EXPAND for child in root.iter() if child not in props[0].iter()):
        raise Unanswerable("C:expand outside calendar-data")
    return tuple(names), expand


def _expand_window(element: ET.Element) -> tuple[datetime.datetime, datetime.datetime]:
    start, end = element.get("start"), element.get("end")
    if start is None or end is None:
        raise Unanswerable("C:expand without start or end")  # Radicale: 403 C:expand
    try:
        window = tuple(
            datetime.datetime.strptime(value, _DT_FORMAT).replace(tzinfo=datetime.UTC)
            for value in (start, end)
        )
    except ValueError as exc:
        raise Unanswerable("C:expand times") from exc
    return window[0], window[1]


def _filter(root: ET.Element) -> tuple[str | None, tuple[int, int] | None, ET.Element]:
    """The component and window of the one filter this module answers."""
    filters = [child for child in root if child.tag == _FILTER]
    if len(filters) != 1 or len(filters[0]) != 1 or filters[0].attrib:
        raise Unanswerable("not one simple filter")
    calendar = filters[0][0]
    if calendar.tag != _COMP_FILTER or calendar.get("name", "").upper() != "VCALENDAR":
        raise Unanswerable("not a VCALENDAR comp-filter")
    _only_attributes(calendar, {"name"})
    if len(calendar) == 0:
        return None, None, filters[0]
    if len(calendar) != 1 or calendar[0].tag != _COMP_FILTER:
        raise Unanswerable("more than one component filter")
    component = calendar[0]
    _only_attributes(component, {"name"})
    name = component.get("name", "").upper()
    if name not in _COMPONENTS or name != component.get("name"):
        raise Unanswerable(f"component {name}")
    if len(component) == 0:
        return name, None, filters[0]
    if len(component) != 1 or component[0].tag != _TIME_RANGE or len(component[0]):
        raise Unanswerable("a filter besides the time-range")
    _only_attributes(component[0], {"start", "end"})
    if component[0].get("start") is None and component[0].get("end") is None:
        raise Unanswerable("a time-range without start and end")  # RFC 4791 9.9
    try:
        start, end = radicale_filter.time_range_timestamps(component[0])
    except ValueError as exc:
        raise Unanswerable("time-range times") from exc
    return name, (start, end), filters[0]


def _multiget_paths(root: ET.Element, base_prefix: str) -> tuple[str, ...]:
    """The requested paths as Radicale reads them (``xml_report``)."""
    paths: list[str] = []
    for element in root:
        if element.tag == _HREF:
            try:
                url_path = urlparse(element.text or "").path
            except ValueError as exc:  # "http://[bad": Radicale's handler answers it
                raise Unanswerable("an href that is not a URL") from exc
            path = pathutils.sanitize_path(unquote(url_path))
            if not (path + "/").startswith(base_prefix + "/"):
                raise Unanswerable("an href outside the server")
            paths.append(path[len(base_prefix) :])
        elif element.tag != _PROP:
            raise Unanswerable(f"{element.tag} in a multiget")
    return tuple(dict.fromkeys(paths))


def parse(body: bytes, base_prefix: str) -> Request:
    """The REPORT in ``body``, or :class:`Unanswerable`."""
    try:
        root = DefusedET.fromstring(body, forbid_dtd=True)
    except Exception as exc:  # Radicale produces its own error
        raise Unanswerable("unreadable XML") from exc
    props, expand = _props(root)
    expand_window = (expand[0], expand[1]) if expand is not None else None
    if root.tag == CALENDAR_QUERY:
        if any(child.tag not in (_PROP, _FILTER) for child in root):
            raise Unanswerable("a calendar-query part besides prop and filter")
        component, window, filter_ = _filter(root)
        return Request("query", props, component, window, filter_, (), expand_window)
    if root.tag == CALENDAR_MULTIGET:
        hrefs = _multiget_paths(root, base_prefix)
        return Request("multiget", props, None, None, None, hrefs, expand_window)
    raise Unanswerable(f"report {root.tag}")


def _content_type(item: Any, encoding: str) -> str:
    content_type = f"text/calendar;charset={encoding}"
    if item.component_name:
        content_type += f";component={item.component_name}"
    return content_type


def _response(href: str, found: list[str]) -> str:
    return (
        f"<response><href>{escape(href)}</href>"
        f"<propstat><prop>{''.join(found)}</prop>{_OK}</propstat></response>"
    )


class _Answer:
    """The multistatus written piece by piece."""

    def __init__(self, request: Request, prefix: str, encoding: str) -> None:
        self.request = request
        self.prefix = prefix
        self.encoding = encoding
        self.parts: list[str] = []
        self.caldav = False

    def missing(self, path: str) -> None:
        self.parts.append(f"<response><href>{escape(quote(path))}</href>{_NOT_FOUND}</response>")

    def item(self, item: Any, expanded: str | None) -> None:
        found: list[str] = []
        for name in self.request.props:
            if name == _GETETAG:
                found.append(f"<getetag>{escape(item.etag)}</getetag>")
            elif name == _GETCONTENTTYPE:
                found.append(
                    f"<getcontenttype>{_content_type(item, self.encoding)}</getcontenttype>"
                )
            else:
                text = item.serialize() if expanded is None else expanded
                self.caldav = True
                found.append(
                    f"<C:calendar-data>{escape(text)}</C:calendar-data>"
                    if text
                    else "<C:calendar-data />"
                )
        self.parts.append(_response(quote(self.prefix + item.href), found))

    def body(self) -> bytes:
        head = f"<?xml version='1.0' encoding='{self.encoding}'?>\n{_MULTISTATUS}"
        if self.caldav:
            head += _WITH_CALDAV
        if not self.parts:
            return (head + " />").encode(self.encoding)
        return "".join((head, ">", *self.parts, "</multistatus>")).encode(self.encoding)


def _matching(collection: Any, request: Request) -> Iterator[Any]:
    """The items of the view that match the request's filter, as Radicale's handler
    finds them (``get_filtered``, then its exact filter where the index proved
    nothing)."""
    filter_ = request.filter
    assert filter_ is not None
    if request.expand is not None:
        # the time-range of an expanded query applies to each instance (RFC 4791
        # 9.6.5): the items are those with an instance in it
        if request.window is None:
            raise Unanswerable("expand without a time-range")
        # every item with an instance in the window: what the index proved and the
        # candidates it could not (their instances come from the index or Radicale's
        # handler answers: calserver.storage.spans)
        for item, _ in collection.get_filtered([filter_]):
            yield item
        return
    for item, matched in collection.get_filtered([filter_]):
        if matched or not len(filter_) or radicale_filter.comp_match(item, filter_[0]):
            yield item


def answer(
    app: Any,
    environ: dict[str, Any],
    base_prefix: str,
    path: str,
    user: str,
    user_groups: set[str],
    body: bytes,
    request_info: dict[str, Any],
) -> Any | None:
    """The answer to a calendar-query or calendar-multiget, or None when Radicale's
    handler must answer (anything this module does not answer exactly, no access,
    not a calendar)."""
    if not ENABLED or not user or environ.get("HTTP_DEPTH", "0") not in ("0", "1"):
        return None
    try:
        request = parse(body, base_prefix)
    except Unanswerable:
        return None
    access = compat.access(app, user, user_groups, path)
    if not access.check("r"):
        return None
    storage = compat.storage(app)
    encoding = compat.encoding(app)
    try:
        with storage.acquire_lock("r", user):
            collection = storage.open_collection(pathutils.strip_path(path), user)
            if (
                collection is None
                or collection.tag != "VCALENDAR"
                or not access.check("r", collection)
            ):
                return None
            prefix = base_prefix + pathutils.unstrip_path(collection.path, True)
            answer_ = _Answer(request, prefix, encoding)
            limit = int(app.configuration.get("reporting", "max_expand_occurrence"))
            if request.kind == "multiget":
                _multiget(collection, request, answer_, limit)
            else:
                _query(collection, request, answer_, limit)
    except (Unanswerable, expansion.Unexpandable, index_spans.NotIndexed):
        return None
    except (ValueError, AttributeError, TypeError):
        # an item Radicale's filter cannot evaluate: its handler says what is wrong
        return None
    request_info["status"] = 207
    headers = {"Content-Type": f"text/xml; charset={encoding}"}
    return 207, headers, answer_.body(), None


def _timestamp(moment: datetime.datetime) -> int:
    return int(moment.timestamp())


def _serve(
    collection: Any, items: list[Any], request: Request, answer_: _Answer, limit: int
) -> None:
    """The responses of ``items``; with ``expand``, each VEVENT's instances from the
    index (Radicale expands VEVENTs only, and serves the other components whole)."""
    expand = request.expand
    if expand is None:
        for item in items:
            answer_.item(item, None)
        return
    window = (_timestamp(expand[0]), _timestamp(expand[1]))
    time_range = request.window if request.kind == "query" else None
    events = [item.href for item in items if item.component_name == "VEVENT"]
    spans = index_spans.instance_spans(collection, events, *window)
    total = 0
    for item in items:
        if item.component_name != "VEVENT":
            answer_.item(item, None)
            continue
        if limit and total + len(spans[item.href]) >= limit:
            # hostile series stay bounded: Radicale's handler refuses them as today
            raise Unanswerable("the expansion limit")
        text, count = expansion.expand(item.serialize(), spans[item.href], window, time_range)
        total += count
        if limit and total >= limit:
            raise Unanswerable("the expansion limit: Radicale's handler says so")
        if count:
            answer_.item(item, text)


def _query(collection: Any, request: Request, answer_: _Answer, limit: int) -> None:
    _serve(collection, list(_matching(collection, request)), request, answer_, limit)


def _multiget(collection: Any, request: Request, answer_: _Answer, limit: int) -> None:
    names: list[str] = []
    own = pathutils.unstrip_path(collection.path, True)
    for path in request.hrefs:
        name = path[len(own) :] if path.startswith(own) else ""
        if not name or "/" in name or posixpath.join(own, name) != path:
            raise Unanswerable("an href that is not an item of the calendar")
        names.append(name)
    found = []
    for name, item in collection.get_multi(names):
        if item is None:
            answer_.missing(answer_.prefix + name)
        else:
            found.append(item)
    _serve(collection, found, request, answer_, limit)
