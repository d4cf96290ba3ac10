"""A :class:`calserver.errors.CalserverError` as the answer of one of Radicale's
``do_*`` handlers: a ``DAV:error`` body naming the failed precondition (RFC 4918 16,
RFC 4791 5.3.2.1, RFC 6578 3.2) with the reason in words, else plain text.

Radicale's application answers any exception of a handler with a bare 500, so a
calserver extension that refuses a request returns this answer instead of raising.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from radicale import app as radicale_app
from radicale import xmlutils

from calserver import errors
from calserver.dav import compat


def refusal(
    application: radicale_app.Application,
    error: errors.CalserverError,
    request_info: dict[str, Any],
    href: str | None = None,
) -> tuple[int, dict[str, str], bytes, None]:
    """``error`` as a Radicale handler's answer (status, headers, body, xml); ``href``
    goes into the precondition element (RFC 4791 5.3.2.1 ``no-uid-conflict``)."""
    request_info["status"] = error.status
    if not error.precondition:
        body = errors.text_answer(error.reason)
        return error.status, {"Content-Type": "text/plain; charset=utf-8"}, body, None
    root = errors.dav_error_element(error.precondition, error.reason, xmlutils.webdav_error)
    if href is not None:
        ET.SubElement(root[0], xmlutils.make_clark("D:href")).text = href
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    return error.status, headers, compat.xml_response(application, root, request_info), None
