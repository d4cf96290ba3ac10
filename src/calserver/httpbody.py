"""The request body, read once and left in place: several layers look at it before
Radicale's handler reads it (the WSGI front checks XML, PUT keeps the client's text,
the PROPFIND fast path and delegation read the requested properties)."""

from __future__ import annotations

import io
from typing import Any, cast


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body (``CONTENT_LENGTH`` bytes, checked by the front), put back as a
    fresh stream for whoever reads it next."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    return cast(bytes, body)
