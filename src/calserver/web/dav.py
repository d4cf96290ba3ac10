"""CalDAV on behalf of the signed-in user, in process: the web app writes events (and
reads what it shows of one) through the same code a CalDAV client's request takes —
the front's checks, Radicale's handler, the rights, the storage's write hooks (implicit
scheduling), ``If-Match`` — so that no rule holds for a client and not for a browser.

The request carries the user in the WSGI environ key :data:`calserver.auth.SIGNED_IN`,
which no client can set (a header becomes ``HTTP_*``); the auth plugin takes it as a
signed-in login of that account while it is enabled.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from calserver.auth import SIGNED_IN
from calserver.web.http import WebRequest

#: What an in-process request copies from the browser's request.
COPIED = (
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SCRIPT_NAME",
    "HTTP_HOST",
    "HTTP_X_SCRIPT_NAME",
    "HTTP_X_FORWARDED_PROTO",
    "REMOTE_ADDR",
    "wsgi.url_scheme",
    "wsgi.errors",
    "wsgi.version",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
)


@dataclass(frozen=True)
class DavAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def call(
    request: WebRequest,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> DavAnswer:
    """The answer to ``method`` on the CalDAV ``path`` ("/alice/work/x.ics", without the
    deployment prefix) made as the signed-in user."""
    environ: dict[str, Any] = {
        name: request.environ[name] for name in COPIED if name in request.environ
    }
    environ.update(
        {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            SIGNED_IN: request.user,
            "HTTP_USER_AGENT": "calserver-web",
        }
    )
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
    found: dict[str, Any] = {}

    def start_response(status: str, answer_headers: Any, *_exc: Any) -> Any:
        found["status"] = int(status.split()[0])
        found["headers"] = {name.lower(): value for name, value in answer_headers}
        return lambda _data: None

    chunks = request.services.dav(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return DavAnswer(found.get("status", 500), found.get("headers", {}), data)
