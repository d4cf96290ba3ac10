"""COPY of calendar objects (RFC 4918 9.8, RFC 4791 5.3.2), within a calendar and
across calendars. Radicale 3.9 has no COPY (405).

A COPY is the source's GET (what the caller may read of it, with the source's rights)
followed by a PUT of that text to the destination (with the destination's rights and
every precondition of a PUT: supported-calendar-component, valid-calendar-data,
no-uid-conflict: a copy in the same calendar keeps its UID, so it conflicts with its
source, RFC 4791 5.3.2.1). ``Overwrite: F`` (RFC 4918 10.6) becomes ``If-None-Match:
*`` on the PUT, so that an existing destination gives 412 (9.8.5). Only calendar
objects are copied: a collection answers 403.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

from radicale import pathutils

from calserver import errors

WSGIAnswer = Any
Handler = Callable[[dict[str, Any], str], WSGIAnswer]


def destination(environ: dict[str, Any], base_prefix: str) -> str | None:
    """The sanitised path of the Destination header inside this server, or None."""
    header = environ.get("HTTP_DESTINATION", "")
    if not header:
        return None
    target = pathutils.sanitize_path(unquote(urlparse(header).path))
    if not target.startswith(base_prefix + "/"):
        return None
    return target[len(base_prefix) :]


def copy(
    environ: dict[str, Any], base_prefix: str, path: str, get: Handler, put: Handler
) -> WSGIAnswer:
    """The answer to a COPY of ``path``; ``get`` and ``put`` are the application's
    handlers (with the caller's identity bound)."""
    target = destination(environ, base_prefix)
    if target is None:
        return _refused(400, "COPY needs a Destination on this server (RFC 4918 10.3)")
    if pathutils.strip_path(target) == pathutils.strip_path(path):
        return _refused(403, "the source and destination of a COPY are the same")
    if path.endswith("/") or target.endswith("/"):
        return _refused(403, "only calendar objects are copied, not collections")
    overwrite = environ.get("HTTP_OVERWRITE", "T").strip().upper()
    if overwrite not in ("T", "F"):
        return _refused(400, "Overwrite must be T or F (RFC 4918 10.6)")
    read_environ = {**environ, "REQUEST_METHOD": "GET", "CONTENT_LENGTH": "0"}
    read_environ["wsgi.input"] = io.BytesIO(b"")
    status, headers, body, *_ = get(read_environ, path)
    if status != 200:
        return status, headers, body, None
    if isinstance(body, str):
        data = body.encode("utf-8")
    elif isinstance(body, bytes):
        data = body
    else:
        data = b"".join(body)
    write_environ = {
        key: value
        for key, value in environ.items()
        if key not in ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_DESTINATION")
    }
    write_environ.update(
        {
            "REQUEST_METHOD": "PUT",
            "CONTENT_TYPE": "text/calendar; charset=utf-8",
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data),
        }
    )
    if overwrite == "F":
        write_environ["HTTP_IF_NONE_MATCH"] = "*"
    return put(write_environ, target)


def _refused(status: int, reason: str) -> WSGIAnswer:
    error = errors.CalserverError(reason, status=status)
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    return error.status, headers, errors.text_answer(error.reason), None
