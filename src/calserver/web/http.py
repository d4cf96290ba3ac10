"""One request of the web app and its answer: the query and the form (URL-encoded or
multipart, for file uploads), the session, the services a page uses, and the answers
(a page, a redirect, a file download)."""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import cookies
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from radicale import app as radicale_app
from sqlalchemy import Engine

from calserver.accounts.sessions import Session
from calserver.errors import CalserverError, InvalidInput
from calserver.storage import Storage
from calserver.urls import WEB

#: Most form fields or query parameters a request may carry.
MAX_FIELDS = 1000

WSGIApp = Callable[..., Iterable[bytes]]


@dataclass(frozen=True)
class Services:
    """What pages work with: the Radicale application (its auth plugin), the storage and
    its engine, the configuration, and the whole server as a WSGI application for
    in-process CalDAV requests (calserver.web.dav)."""

    application: radicale_app.Application
    storage: Storage
    engine: Engine
    configuration: Any
    dav: WSGIApp


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class WebRequest:
    environ: dict[str, Any]
    method: str
    #: the path below ``/.web`` ("/calendar")
    path: str
    #: the deployment prefix behind a proxy (calserver.urls.base_prefix)
    prefix: str
    services: Services
    query: dict[str, list[str]] = field(default_factory=dict)
    form: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)
    session: Session | None = None
    #: the session cookie's token (to sign out)
    token: str = ""

    @property
    def user(self) -> str:
        """The signed-in user ("" on a public page)."""
        return self.session.user if self.session is not None else ""

    def arg(self, name: str, default: str = "") -> str:
        """The query parameter ``name`` (its first value)."""
        values = self.query.get(name)
        return values[0] if values else default

    def field(self, name: str, default: str = "") -> str:
        """The form field ``name`` (its first value), stripped of surrounding blanks
        except for passwords."""
        values = self.form.get(name)
        if not values:
            return default
        return values[0] if "password" in name else values[0].strip()

    def fields(self, name: str) -> list[str]:
        """Every value of the form field ``name`` (checkboxes, multiple selects)."""
        return list(self.form.get(name, []))

    def cookie(self, name: str) -> str:
        """The cookie ``name``, percent-decoded ("" when there is none)."""
        jar: cookies.SimpleCookie = cookies.SimpleCookie()
        try:
            jar.load(str(self.environ.get("HTTP_COOKIE", "")))
        except cookies.CookieError:
            return ""
        morsel = jar.get(name)
        return unquote(morsel.value) if morsel is not None else ""

    def url(self, path: str, **query: str | int) -> str:
        """A link to the web app's ``path`` ("/calendar") with ``query``."""
        link = self.prefix + WEB + path
        pairs = {name: str(value) for name, value in query.items() if value not in ("", None)}
        return link + ("?" + urlencode(pairs) if pairs else "")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "text/html; charset=utf-8"


def redirect(location: str, status: int = 303) -> Response:
    """RFC 9110 15.4.4: after a form POST, see the page at ``location`` with a GET."""
    return Response(status, b"", [("Location", location)])


def download(data: bytes, content_type: str, filename: str) -> Response:
    safe = "".join(c for c in filename if c.isalnum() or c in "-_.") or "download"
    return Response(
        200,
        data,
        [("Content-Disposition", f'attachment; filename="{safe}"')],
        content_type,
    )


class FormError(CalserverError):
    """A form the page must show again: ``errors`` by field name ("" for the whole form)."""

    def __init__(self, errors: dict[str, str], status: int = 400) -> None:
        super().__init__(next(iter(errors.values()), "invalid input"), status=status)
        self.errors = errors


def parse_query(raw: str) -> dict[str, list[str]]:
    try:
        parsed = parse_qs(raw, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise InvalidInput("too many query parameters") from exc
    return parsed


def parse_form(
    environ: dict[str, Any], body: bytes
) -> tuple[dict[str, list[str]], dict[str, Upload]]:
    """The fields and files of a form POST (``application/x-www-form-urlencoded`` or
    ``multipart/form-data``, HTML "form submission"); 415 for anything else."""
    content_type = str(environ.get("CONTENT_TYPE", ""))
    media = content_type.split(";")[0].strip().lower()
    if not body and not media:
        return {}, {}
    if media == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("the form is not UTF-8") from exc
        return parse_query(text), {}
    if media == "multipart/form-data":
        return _parse_multipart(content_type, body)
    raise CalserverError(f"a form must be sent as a form, not {media or 'nothing'}", status=415)


def _parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, list[str]], dict[str, Upload]]:
    head = f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise InvalidInput("malformed multipart form")
    fields: dict[str, list[str]] = {}
    files: dict[str, Upload] = {}
    for count, part in enumerate(message.iter_parts()):
        if count >= MAX_FIELDS:
            raise InvalidInput("too many form fields")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = Upload(filename, part.get_content_type(), bytes(data))
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            fields.setdefault(name, []).append(bytes(data).decode(charset))
        except (LookupError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"the form field {name!r} is not text") from exc
    return fields, files
