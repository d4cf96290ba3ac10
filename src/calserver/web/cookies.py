"""The web app's cookies (RFC 6265): the session's and the sign-in form's CSRF token.
Both are HttpOnly, SameSite=Lax, limited to ``/.web/``, and Secure when the request came
over https (directly or through a proxy that says so in ``X-Forwarded-Proto``)."""

from __future__ import annotations

from http import cookies
from typing import Any

from calserver.urls import WEB
from calserver.web.http import WebRequest

SESSION_COOKIE = "calserver_session"
LOGIN_COOKIE = "calserver_login"


def is_https(environ: dict[str, Any]) -> bool:
    forwarded = str(environ.get("HTTP_X_FORWARDED_PROTO", "")).lower()
    return environ.get("wsgi.url_scheme") == "https" or forwarded == "https"


def cookie_header(
    request: WebRequest, name: str, value: str, max_age: int | None
) -> tuple[str, str]:
    """A ``Set-Cookie`` (RFC 6265 4.1); ``max_age`` 0 deletes the cookie, None keeps it
    for the browser's session."""
    morsel: cookies.Morsel[str] = cookies.Morsel()
    morsel.set(name, value, value)
    morsel["path"] = request.prefix + WEB + "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    if is_https(request.environ):
        morsel["secure"] = True
    if max_age is not None:
        morsel["max-age"] = max_age
    return ("Set-Cookie", morsel.OutputString())


def read_cookie(environ: dict[str, Any], name: str) -> str:
    jar: cookies.SimpleCookie = cookies.SimpleCookie()
    try:
        jar.load(str(environ.get("HTTP_COOKIE", "")))
    except cookies.CookieError:
        return ""
    morsel = jar.get(name)
    return morsel.value if morsel is not None else ""
