"""A PUT body repaired before Radicale reads it (``calserver.ical.repair``: a UTF-8
byte order mark, a DTEND of another value type than its DTSTART), each repair
logged at info level with the path."""

from __future__ import annotations

import io
import logging
from typing import Any

from calserver.httpbody import read_body
from calserver.ical import repair

logger = logging.getLogger("calserver")


def repaired_body(environ: dict[str, Any], path: str) -> bytes:
    """The request body, repaired, and put back in ``environ`` for Radicale."""
    body = read_body(environ)
    fixed, repairs = repair.repair_body(body)
    if not repairs:
        return body
    for what in repairs:
        logger.info("PUT %r repaired: %s", path, what)
    environ["wsgi.input"] = io.BytesIO(fixed)
    environ["CONTENT_LENGTH"] = str(len(fixed))
    return fixed
