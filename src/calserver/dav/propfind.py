"""PROPFIND Depth 1 of a calendar asking only for item ETags (RFC 4918 9.1).

The request every client sends to see which events changed: for each item Radicale's
handler builds an Item, asks the rights plugin, builds ElementTree nodes and serialises
them, which dominates at thousands of events. Here the collection's own response still
comes from Radicale (Depth 0); the item responses are written from one index query.
Anything else (other properties, other depths, no access) goes to Radicale unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

import defusedxml.ElementTree as DefusedET
from radicale import pathutils, xmlutils

from calserver.dav import compat, streamed

#: Item properties answered here, and how.
_GETETAG = xmlutils.make_clark("D:getetag")
_GETCONTENTTYPE = xmlutils.make_clark("D:getcontenttype")
_RESOURCETYPE = xmlutils.make_clark("D:resourcetype")
FAST_PROPS = frozenset({_GETETAG, _GETCONTENTTYPE, _RESOURCETYPE})
_OK = "<status>HTTP/1.1 200 OK</status>"


def _escape(text: str) -> str:
    """XML character data (ETags are quoted hex: nothing to escape, usually)."""
    return escape(text) if "&" in text or "<" in text or ">" in text else text


def requested_props(body: bytes) -> list[str] | None:
    """The property names of a ``<propfind><prop>`` body when all are answered here."""
    try:
        root = DefusedET.fromstring(body, forbid_dtd=True)
    except Exception:  # let Radicale produce its own error
        return None
    if root.tag != xmlutils.make_clark("D:propfind") or len(root) != 1:
        return None
    prop = root[0]
    if prop.tag != xmlutils.make_clark("D:prop") or len(prop) == 0:
        return None
    names = [child.tag for child in prop]
    if not set(names) <= FAST_PROPS:
        return None
    return names


def item_responses(
    base_prefix: str,
    collection_path: str,
    listing: Iterable[tuple[str, str, str]],
    names: list[str],
    encoding: str,
) -> Iterable[str]:
    """``<response>`` elements (DAV: is the default namespace of Radicale's answers)."""
    # what xmlutils.make_href(base_prefix, path) returns, without re-sanitising paths
    # that come sane from the database, quoting only the names that need it
    href_of = streamed.href_writer(base_prefix, collection_path)
    for href, etag, component in listing:
        url = href_of(href)
        parts = []
        for name in names:
            if name == _GETETAG:
                parts.append(f"<getetag>{_escape(etag)}</getetag>")
            elif name == _GETCONTENTTYPE:
                content_type = f"text/calendar;charset={encoding}"
                if component:
                    content_type += f";component={component}"
                parts.append(f"<getcontenttype>{content_type}</getcontenttype>")
            else:
                parts.append("<resourcetype />")
        yield (
            f"<response><href>{url}</href>"
            f"<propstat><prop>{''.join(parts)}</prop>{_OK}</propstat></response>"
        )


def fast_propfind(
    app: Any,
    environ: dict[str, Any],
    base_prefix: str,
    path: str,
    user: str,
    user_groups: set[str],
    body: bytes,
    depth0: Callable[[dict[str, Any]], Any],
) -> Any | None:
    """The answer, or None when Radicale's own handler must answer."""
    if environ.get("HTTP_DEPTH") != "1" or not user:
        return None
    names = requested_props(body)
    if names is None:
        return None
    access = compat.access(app, user, user_groups, path)
    storage = compat.storage(app)
    with storage.acquire_lock("r", user):
        collection = storage.open_collection(pathutils.strip_path(path), user)
    if collection is None or collection.tag != "VCALENDAR" or not access.check("r", collection):
        return None
    environ_depth0 = dict(environ, HTTP_DEPTH="0", **{"wsgi.input": io.BytesIO(body)})
    status, headers, answer, xml_request = depth0(environ_depth0)
    if status != 207 or not isinstance(answer, bytes):
        return status, headers, answer, xml_request
    closing = answer.rindex(b"</multistatus>")
    items = "".join(
        item_responses(
            base_prefix, collection.path, collection.etag_listing(), names, compat.encoding(app)
        )
    )
    return (
        status,
        headers,
        answer[:closing] + items.encode(compat.encoding(app)) + answer[closing:],
        (xml_request),
    )
