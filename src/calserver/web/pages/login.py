"""Signing in and out (``/.web/login``, ``/.web/logout``) and the app's front door.

The form's fields are ``username`` and ``password``; the password is checked by the
Radicale application's own auth plugin (calserver.auth: the same accounts, argon2,
throttling and fail2ban log line as CalDAV). The sign-in form has no session yet, so its
CSRF token is a random value in a cookie and in the form (double submit) — a foreign
page can neither read the cookie nor sign a visitor in to the attacker's account.
"""

from __future__ import annotations

import hmac
import random
import secrets
import time

from radicale import pathutils
from radicale.auth import AuthContext

from calserver.accounts import sessions
from calserver.dav import compat
from calserver.urls import WEB
from calserver.web.cookies import LOGIN_COOKIE, SESSION_COOKIE, cookie_header, read_cookie
from calserver.web.http import Response, WebRequest, redirect
from calserver.web.render import page
from calserver.web.routes import route

#: The first page after signing in.
HOME = "/calendar"


def _next(request: WebRequest, value: str) -> str:
    """Where to go after signing in: a page of the app (never another site)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return request.prefix + WEB + value
    return request.url(HOME)


@route("GET", "/")
def index(request: WebRequest) -> Response:
    return redirect(request.url(HOME))


def _form(request: WebRequest, status: int = 200, **values: object) -> Response:
    token = read_cookie(request.environ, LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        status,
        login_csrf=token,
        next=request.arg("next") or request.field("next"),
        username=values.pop("username", ""),
        **values,
    )
    response.headers.append(cookie_header(request, LOGIN_COOKIE, token, None))
    return response


@route("GET", "/login", public=True)
def login_form(request: WebRequest) -> Response:
    if request.session is not None:
        return redirect(_next(request, request.arg("next")))
    return _form(request)


@route("POST", "/login", public=True)
def login(request: WebRequest) -> Response:
    username = request.field("username")
    password = request.field("password")
    expected = read_cookie(request.environ, LOGIN_COOKIE)
    if not expected or not hmac.compare_digest(expected.encode(), request.field("csrf").encode()):
        return _form(
            request,
            403,
            username=username,
            errors={"": "The sign-in form expired. Please sign in again."},
        )
    missing = {}
    if not username:
        missing["username"] = "Enter your user name."
    if not password:
        missing["password"] = "Enter your password."
    if missing:
        return _form(request, 400, username=username, errors=missing)
    application = request.services.application
    user = ""
    if compat.check_user_format(application, username):
        context = AuthContext()
        context.remote_addr = request.environ.get("REMOTE_ADDR")  # type: ignore[assignment]
        context.x_remote_addr = request.environ.get("HTTP_X_REMOTE_ADDR")  # type: ignore[assignment]
        user = (compat.auth(application).login(username, password, context) or ("", "", set()))[0]
    if not user or not pathutils.is_safe_path_component(user):
        delay = compat.auth_delay(application)
        if delay > 0:
            time.sleep(delay * (0.5 + random.random()))
        return _form(
            request,
            403,
            username=username,
            errors={"": "Wrong user name or password."},
        )
    token, _session = sessions.begin(request.services.engine, user)
    response = redirect(_next(request, request.field("next")))
    response.headers.append(cookie_header(request, LOGIN_COOKIE, "", 0))
    response.headers.append(cookie_header(request, SESSION_COOKIE, token, None))
    return response


@route("POST", "/logout")
def logout(request: WebRequest) -> Response:
    sessions.end(request.services.engine, request.token)
    response = redirect(request.url("/login"))
    response.headers.append(cookie_header(request, SESSION_COOKIE, "", 0))
    return response
