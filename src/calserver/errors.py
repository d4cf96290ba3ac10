"""calserver's one error type, and the one place that turns an error into an HTTP answer
(STYLE.md 7b, "Errors" 7).

A :class:`CalserverError` carries its answer: the HTTP status, the DAV precondition that
failed when there is one (``C:no-uid-conflict``, ``C:valid-calendar-data``, RFC 4791
5.3.2.1; RFC 6638 3.2.4.x) and the reason in words. Each layer raises its own
subclasses; the CLI turns them into an exit code and a message, the HTTP surfaces into an
answer with :func:`text_answer`, :func:`dav_error_body` or :func:`json_body`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

#: The element of a DAV:error body that holds calserver's reason in words.
REASON = "{urn:calserver}reason"

#: Reason phrases of the statuses calserver answers with (RFC 9110 15; 413 with its
#: RFC 9110 name, whatever the Python version's ``http.HTTPStatus`` calls it).
PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
    507: "Insufficient Storage",
}


class CalserverError(Exception):
    """A request that cannot be carried out (exit code 1, HTTP 4xx): its ``status``, the
    DAV ``precondition`` that failed ("" for none) and the ``reason`` in words."""

    status: int = 400
    precondition: str = ""

    def __init__(
        self, reason: str = "", *, status: int | None = None, precondition: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status
        if precondition is not None:
            self.precondition = precondition


class NotFound(CalserverError):
    status = 404


class Conflict(CalserverError):
    status = 409


class InvalidInput(CalserverError):
    status = 400


class Forbidden(CalserverError):
    status = 403


def status_line(status: int) -> str:
    """``404 Not Found``: the WSGI status of ``status``."""
    return f"{status} {PHRASES.get(status, 'Error')}"


def text_answer(reason: str) -> bytes:
    """The body of a plain-text error answer (``text/plain; charset=utf-8``)."""
    return (reason + "\n").encode("utf-8")


def dav_error_element(
    precondition: str, reason: str, webdav_error: Callable[[str], ET.Element]
) -> ET.Element:
    """A DAV:error element naming the failed ``precondition`` (RFC 4918 16, RFC 4791
    5.3.2.1) with calserver's reason in words; ``webdav_error`` builds the element of a
    "C:name" precondition (Radicale's ``xmlutils.webdav_error``, whose namespaces the
    answer is serialised with)."""
    root = webdav_error(precondition)
    ET.SubElement(root, REASON).text = reason
    return root


def json_body(reason: str) -> dict[str, str]:
    """The JSON document of an error answer of the management API (``/.api/``)."""
    return {"error": reason}
