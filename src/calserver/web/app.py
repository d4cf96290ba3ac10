"""The WSGI application of ``/.web/``: routing to the pages, the session cookie, the
CSRF guard, the static files, the security headers and the error pages.

- **Sessions** (calserver.accounts.sessions): the cookie ``calserver_session`` is
  HttpOnly, SameSite=Lax, limited to ``/.web/``, and Secure when the request came over
  https. A page that needs a session sends a browser without one to the sign-in page,
  which sends it back to the page asked for.
- **CSRF**: a POST is refused (403) when the browser marks it as coming from another
  site (``Sec-Fetch-Site``), when its ``Origin`` is not the server's, and, signed in,
  when its ``csrf`` form field is not the session's token. SameSite=Lax already keeps the
  cookie off a cross-site POST; the token holds where the browser is older.
- **Headers**: every page is ``Cache-Control: no-store`` with a strict
  Content-Security-Policy (scripts and styles from the app's own files only, no inline
  code, no frames, forms only to the app); static files are cached for a year under a
  content hash in their URL.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

from radicale import app as radicale_app

from calserver import errors
from calserver.accounts import sessions
from calserver.dav import compat
from calserver.errors import CalserverError
from calserver.httpbody import read_body
from calserver.storage import Storage
from calserver.urls import WEB, base_prefix, origin, under
from calserver.web import pages  # noqa: F401  (the page modules fill the route table)
from calserver.web.cookies import SESSION_COOKIE, is_https, read_cookie
from calserver.web.http import (
    FormError,
    Response,
    Services,
    WebRequest,
    WSGIApp,
    parse_form,
    parse_query,
    redirect,
)
from calserver.web.render import STATIC, page, static_files
from calserver.web.routes import ROUTES, allowed

logger = logging.getLogger("calserver")

#: Content-Security-Policy of every page (CSP Level 3).
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = [
    ("Content-Security-Policy", POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
]
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
FOREIGN_SITES = frozenset({"cross-site", "same-site"})

StartResponse = Callable[..., Any]


def owns(path: str) -> bool:
    """Whether ``path`` is the web app's."""
    return under(path, WEB)


class Web:
    """``/.web/``; ``application`` is the Radicale application whose auth plugin and
    storage the pages share, ``dav`` the whole server (for in-process CalDAV requests:
    calserver.web.dav), given once it exists."""

    def __init__(self, application: radicale_app.Application) -> None:
        self._application = application
        self._storage = cast(Storage, compat.storage(application))
        self._dav: WSGIApp | None = None

    def mount(self, dav: WSGIApp) -> None:
        self._dav = dav

    def _services(self) -> Services:
        if self._dav is None:
            raise RuntimeError("the web app is not mounted")
        return Services(
            self._application,
            self._storage,
            self._storage.engine,
            self._application.configuration,
            self._dav,
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", ""))[len(WEB) :]
        prefix = ""
        try:
            prefix = base_prefix(environ)
            if path == "":
                response = redirect(prefix + WEB + "/", 301)
            elif path.startswith(f"/{STATIC}/"):
                response = self._static(environ, path[len(STATIC) + 2 :])
                return self._send(start_response, method, response, static=True)
            else:
                response = self._page(environ, method, path, prefix)
        except CalserverError as exc:
            response = self._error(environ, prefix, exc)
        return self._send(start_response, method, response)

    # --- dispatch ---------------------------------------------------------------------

    def _page(self, environ: dict[str, Any], method: str, path: str, prefix: str) -> Response:
        lookup = "GET" if method == "HEAD" else method
        found = ROUTES.get((lookup, path))
        if found is None:
            methods = allowed(path)
            if methods:
                names = ", ".join(methods + (["HEAD"] if "GET" in methods else []))
                refusal = CalserverError(f"{method} is not allowed here", status=405)
                refusal.headers = [("Allow", names)]  # type: ignore[attr-defined]
                raise refusal
            raise errors.NotFound("there is no such page")
        request = WebRequest(
            environ,
            method,
            path,
            prefix,
            self._services(),
            query=parse_query(str(environ.get("QUERY_STRING", ""))),
        )
        if method == "POST":
            self._refuse_cross_site(environ)
            request.form, request.files = parse_form(environ, read_body(environ))
        request.token = read_cookie(environ, SESSION_COOKIE)
        request.session = sessions.find(request.services.engine, request.token)
        if not found.public:
            if request.session is None:
                return self._to_login(request)
            if method == "POST" and not hmac.compare_digest(
                request.field("csrf").encode(), request.session.csrf.encode()
            ):
                raise errors.Forbidden(
                    "this form has expired or did not come from this site; reload the page "
                    "and send it again"
                )
            if found.admin and not request.session.is_admin:
                raise errors.Forbidden("only server administrators may open this page")
        try:
            return found.handler(request)
        except FormError as exc:  # a page that did not catch its own form's errors
            raise CalserverError(exc.reason, status=exc.status) from exc

    def _refuse_cross_site(self, environ: dict[str, Any]) -> None:
        site = str(environ.get("HTTP_SEC_FETCH_SITE", "")).strip().lower()
        if site in FOREIGN_SITES:
            raise errors.Forbidden(f"a {site} form may not change anything here")
        sender = str(environ.get("HTTP_ORIGIN", "")).strip()
        if sender and sender != "null":
            # the server's published origin ([server] public_url) or the request's own
            own = {origin(environ, self._application.configuration), _request_origin(environ)}
            if sender.rstrip("/") not in own:
                raise errors.Forbidden("a form of another site may not change anything here")

    def _to_login(self, request: WebRequest) -> Response:
        wanted = request.path
        raw = str(request.environ.get("QUERY_STRING", ""))
        if request.method in ("GET", "HEAD") and raw:
            wanted += "?" + raw
        if request.method not in ("GET", "HEAD"):
            wanted = "/"
        return redirect(request.url("/login", next=wanted))

    # --- answers ----------------------------------------------------------------------

    def _static(self, environ: dict[str, Any], name: str) -> Response:
        found = static_files().get(name)
        if found is None:
            raise errors.NotFound("no such file")
        data, digest = found
        suffix = name[name.rfind(".") :] if "." in name else ""
        headers = [("ETag", f'"{digest}"')]
        if environ.get("HTTP_IF_NONE_MATCH", "") == f'"{digest}"':
            return Response(304, b"", headers, "")
        return Response(200, data, headers, STATIC_TYPES.get(suffix, "application/octet-stream"))

    def _error(self, environ: dict[str, Any], prefix: str, error: CalserverError) -> Response:
        request = WebRequest(
            environ, str(environ.get("REQUEST_METHOD", "GET")), "", prefix, self._services()
        )
        request.session = sessions.find(
            request.services.engine, read_cookie(environ, SESSION_COOKIE)
        )
        response = page(request, "error.html", error.status, message=error.reason)
        response.headers.extend(getattr(error, "headers", []) or [])
        return response

    @staticmethod
    def _send(
        start_response: StartResponse, method: str, response: Response, static: bool = False
    ) -> list[bytes]:
        headers = list(response.headers)
        if response.content_type and response.status != 304:
            headers.append(("Content-Type", response.content_type))
        if static:
            headers.append(("Cache-Control", "public, max-age=31536000, immutable"))
            headers.append(("X-Content-Type-Options", "nosniff"))
        else:
            if not any(name.lower() == "cache-control" for name, _ in headers):
                headers.append(("Cache-Control", "no-store"))  # unless the page says
            headers.extend(PAGE_HEADERS)
        body = b"" if response.status in (204, 304) else response.body
        headers.append(("Content-Length", str(len(body))))
        start_response(errors.status_line(response.status), headers)
        return [] if method == "HEAD" else [body]


def _request_origin(environ: dict[str, Any]) -> str:
    """The origin the browser asked (scheme as a proxy passes it on, and the Host)."""
    scheme = "https" if is_https(environ) else "http"
    host = environ.get("HTTP_HOST") or "{}:{}".format(
        environ.get("SERVER_NAME", "localhost"), environ.get("SERVER_PORT", "80")
    )
    return f"{scheme}://{host}"
