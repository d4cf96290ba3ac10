"""Whole-collection answers written as strings and streamed (issue 15, part 2).

Three answers cost what the calendar costs, whatever the client asks: the initial
sync-collection (RFC 6578 3.8, an empty ``DAV:sync-token``), the Depth 1 PROPFIND of
the members' ETags (RFC 4918 9.1, ``calserver.dav.propfind``) and the GET of a whole
calendar. Radicale's handlers build an ``Item`` per member, sanitise its path eight
times, build an ElementTree and join the body in memory. Here:

- the members come from one (href, ETag) query per page, read in one snapshot (one
  read transaction for the whole answer, kept open while it is sent);
- hrefs are printed ready: the collection's quoted prefix once, each name quoted only
  when it holds a character that ``urllib.parse.quote`` changes (:func:`href_writer`);
- the multistatus is written as strings, the calendar from the stored texts with each
  VTIMEZONE once (``calserver.ical.icsfile.join_calendar``), both sent in chunks of
  about :data:`CHUNK` bytes, so the server's memory stays flat whatever the size.

What a view shows is the storage's rule, as everywhere: a busy-only viewer gets the
redacted text and ETag of what they may see (``Collection.member_pages``), nothing of
private events. Anything else (a sync from a token, a ``DAV:limit``, other
properties, no read access, an address book) goes to Radicale's handler unchanged,
which answers it as before (``calserver.dav.synclimits`` around it).

A streamed answer leaves the handler as an empty body and the chunks in
:data:`_pending`; :func:`call` (the application's ``__call__``) sends them in its
place, without Content-Length (gzip-compressed on the fly when Radicale chose gzip).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import defusedxml.ElementTree as DefusedET
from radicale import pathutils, xmlutils
from radicale.app.get import propose_filename

from calserver.dav import compat, synclimits
from calserver.ical import icsfile

#: Bytes gathered before a chunk is sent.
CHUNK = 64 * 1024
#: Members read per query of the snapshot.
PAGE = 2000

_GETETAG = xmlutils.make_clark("D:getetag")
_GETCONTENTTYPE = xmlutils.make_clark("D:getcontenttype")
#: Properties of a sync-collection answered here (RFC 6578 3.2: the client asks
#: for these, or for none at all).
SYNC_PROPS = frozenset({_GETETAG, _GETCONTENTTYPE})
_SYNC_CHILDREN = frozenset(
    xmlutils.make_clark(name) for name in ("D:sync-token", "D:sync-level", "D:prop")
)
XML_HEAD = "<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns=\"DAV:\">"
_OK = "<status>HTTP/1.1 200 OK</status>"
#: What ``urllib.parse.quote`` (safe="/") leaves unchanged.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~/-]*\Z")

_pending: ContextVar[list[Iterator[bytes]] | None] = ContextVar("calserver_streamed", default=None)


def _escape(text: str) -> str:
    """XML character data (ETags are quoted hex: nothing to escape, usually)."""
    return escape(text) if "&" in text or "<" in text or ">" in text else text


# --- hrefs ---------------------------------------------------------------------------


def href_writer(base_prefix: str, collection_path: str) -> Callable[[str], str]:
    """``name`` -> ``xmlutils.make_href(base_prefix, "/" + collection_path + "/" +
    name)``, without sanitising a path that comes sane from the database, and quoting
    only names that need it (``quote`` works character by character)."""
    prefix = quote(f"{base_prefix}/{collection_path}/")

    def href(name: str) -> str:
        return prefix + (name if _UNQUOTED.match(name) else quote(name))

    return href


# --- the streamed body -------------------------------------------------------------------


def _chunks(parts: Iterable[str], encoding: str = "utf-8") -> Iterator[bytes]:
    """``parts`` joined and encoded in chunks of about :data:`CHUNK` bytes."""
    gathered: list[str] = []
    size = 0
    for part in parts:
        gathered.append(part)
        size += len(part)
        if size >= CHUNK:
            yield "".join(gathered).encode(encoding)
            gathered, size = [], 0
    if gathered:
        yield "".join(gathered).encode(encoding)


def _byte_chunks(parts: Iterable[bytes]) -> Iterator[bytes]:
    """``parts`` joined in chunks of about :data:`CHUNK` bytes."""
    gathered: list[bytes] = []
    size = 0
    for part in parts:
        gathered.append(part)
        size += len(part)
        if size >= CHUNK:
            yield b"".join(gathered)
            gathered, size = [], 0
    if gathered:
        yield b"".join(gathered)


class Snapshot:
    """A WSGI body: ``chunks`` read from ``conn`` (one read transaction), which is
    closed when the server is done with the body, read to its end or not."""

    def __init__(self, conn: Any, chunks: Iterator[bytes]) -> None:
        self._conn = conn
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        self._conn.close()


def _streamed(
    status: int, headers: dict[str, str], body: Snapshot, request_info: dict[str, Any]
) -> Any:
    """The handler's answer for ``body``: sent by :func:`call` instead of the empty one."""
    pending = _pending.get()
    if pending is None:  # not under call(): answer whole (in-process callers)
        data = b"".join(body)
        request_info["status"] = status
        return status, headers, data, None
    pending.append(iter(body))
    request_info["status"] = status
    return status, headers, b"", None


def call(
    handle: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]],
    environ: dict[str, Any],
    start_response: Callable[..., Any],
) -> Iterable[bytes]:
    """Radicale's ``Application.__call__`` (``handle``), sending a streamed answer's
    chunks in place of its empty body."""
    pending: list[Iterator[bytes]] = []
    token = _pending.set(pending)
    gzip = False

    def starting(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
        nonlocal gzip
        if pending:
            gzip = any(k.lower() == "content-encoding" and v == "gzip" for k, v in headers)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        return start_response(status, headers, *exc_info)

    try:
        answers = handle(environ, starting)
    finally:
        _pending.reset(token)
    if not pending:
        return answers
    body = pending[0]
    if environ.get("REQUEST_METHOD", "").upper() == "HEAD" or not answers:
        close = getattr(body, "close", None)
        if close is not None:
            close()
        return []
    return _gzipped(body) if gzip else body


def _gzipped(body: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        for chunk in body:
            data = compressor.compress(chunk)
            if data:
                yield data
        yield compressor.flush()
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


# --- the collection, read in one snapshot ---------------------------------------------------


def _open(app: Any, user: str, user_groups: set[str], path: str) -> tuple[Any, Any] | None:
    """(snapshot connection, the calendar at ``path`` as ``user`` sees it) when the
    user may read it (Radicale's own check), else None (Radicale answers)."""
    access = compat.access(app, user, user_groups, path)
    if not access.check("r"):
        return None
    storage = compat.storage(app)
    conn = storage.snapshot()
    try:
        with storage.within(conn, user):
            collection = storage.open_collection(pathutils.strip_path(path), user)
        if (
            collection is None
            or collection.tag != "VCALENDAR"
            or not path.endswith("/")
            or not access.check("r", collection)
        ):
            conn.close()
            return None
    except BaseException:
        conn.close()
        raise
    return conn, collection


# --- sync-collection (RFC 6578) ----------------------------------------------------------------


def sync_request(body: bytes) -> list[str] | None:
    """The properties of an initial sync-collection answered here (maybe none), or None:
    a token, a ``DAV:limit``, another property, a body Radicale refuses."""
    try:
        root = DefusedET.fromstring(body, forbid_dtd=True)
    except Exception:  # Radicale's own answer
        return None
    if root.tag != xmlutils.make_clark("D:sync-collection"):
        return None
    if synclimits.request_error(root) is not None:
        return None
    if any(child.tag not in _SYNC_CHILDREN for child in root):
        return None
    token = root.find(xmlutils.make_clark("D:sync-token"))
    if token is not None and (token.text or "").strip():
        return None
    prop = root.find(xmlutils.make_clark("D:prop"))
    names = [child.tag for child in prop] if prop is not None else []
    if not set(names) <= SYNC_PROPS or any(len(child) for child in prop or ()):
        return None
    return names


def initial_sync(
    app: Any,
    base_prefix: str,
    path: str,
    user: str,
    user_groups: set[str],
    body: bytes,
    request_info: dict[str, Any],
) -> Any | None:
    """RFC 6578 3.8's initial sync-collection of a calendar, streamed; None when
    Radicale's handler must answer."""
    if not user:
        return None
    names = sync_request(body)
    if names is None:
        return None
    opened = _open(app, user, user_groups, path)
    if opened is None:
        return None
    conn, collection = opened
    token, _ = collection.sync("")
    encoding = compat.encoding(app)
    href = href_writer(base_prefix, collection.path)

    def parts() -> Iterator[str]:
        yield f"{XML_HEAD}<sync-token>{escape(token)}</sync-token>"
        for page in collection.member_pages(conn, PAGE):
            for name, etag, component in page:
                url = href(name)
                if not names:  # RFC 6578 3.2: the members only (calserver.dav.synclimits)
                    yield f"<response><href>{url}</href><status>HTTP/1.1 200 OK</status></response>"
                    continue
                found = []
                for tag in names:
                    if tag == _GETETAG:
                        found.append(f"<getetag>{_escape(etag)}</getetag>")
                    else:
                        kind = f";component={component}" if component else ""
                        found.append(
                            f"<getcontenttype>text/calendar;charset={encoding}{kind}"
                            "</getcontenttype>"
                        )
                yield (
                    f"<response><href>{url}</href><propstat><prop>{''.join(found)}</prop>"
                    f"{_OK}</propstat></response>"
                )
        yield "</multistatus>"

    headers = {"Content-Type": f"text/xml; charset={encoding}"}
    return _streamed(207, headers, Snapshot(conn, _chunks(parts(), encoding)), request_info)


# --- GET of a whole calendar -----------------------------------------------------------------


def _disposition(filename: str, encoding: str) -> str:
    """Radicale's ``Content-Disposition`` of a collection's GET (``radicale/app/get.py``,
    ``_content_disposition_attachment``): RFC 6266 ``filename*``."""
    try:
        encoded = quote(filename, encoding=encoding)
    except UnicodeEncodeError:
        encoded = ""
    return f"attachment; filename*={encoding}''{encoded}" if encoded else "attachment"


def whole_calendar(
    app: Any,
    environ: dict[str, Any],
    path: str,
    user: str,
    user_groups: set[str],
    request_info: dict[str, Any],
) -> Any | None:
    """GET of a whole calendar (one VCALENDAR, each VTIMEZONE once), streamed from the
    stored texts; None when Radicale's handler must answer (a free-busy view, an
    item, a collection that is not a calendar, no read access)."""
    if not user or environ.get("QUERY_STRING"):
        return None
    opened = _open(app, user, user_groups, path)
    if opened is None:
        return None
    conn, collection = opened
    encoding = compat.encoding(app)
    headers = {
        "Content-Type": f"{xmlutils.MIMETYPES['VCALENDAR']}; charset={encoding}",
        "Last-Modified": collection.last_modified,
        "ETag": collection.etag,
        "Content-Disposition": _disposition(propose_filename(collection), encoding),
    }
    name = collection.get_meta("D:displayname") or ""
    description = collection.get_meta("C:calendar-description") or ""
    if encoding.lower().replace("-", "") == "utf8":
        data = (text for page in collection.utf8_pages(conn, PAGE) for text in page)
        chunks = _byte_chunks(icsfile.join_calendar_utf8(data, name, description))
    else:
        texts = (text for page in collection.text_pages(conn, PAGE) for text in page)
        chunks = _chunks(icsfile.join_calendar(texts, name, description), encoding)
    return _streamed(200, headers, Snapshot(conn, chunks), request_info)
