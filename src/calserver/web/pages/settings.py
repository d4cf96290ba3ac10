"""The user's settings (``/.web/settings``, issue 14 item 8): time zone (an IANA zone),
default event duration, first day of the week, the e-mail switch for meetings
(calserver.accounts.settings, as the API's ``PATCH /me/settings``), and the password.

A password change needs the current password, checked by the Radicale application's
auth plugin as the sign-in checks it (calserver.web.pages.login: the same throttling).
calserver.accounts.users.set_password bumps the account's auth epoch, which ends every
session of the user in every process; the browser that made the change gets a new
session, so it stays signed in.
"""

from __future__ import annotations

import random
import time
import zoneinfo
from functools import cache

from radicale.auth import AuthContext

from calserver.accounts import sessions, settings, users
from calserver.dav import compat
from calserver.errors import InvalidInput
from calserver.web.cookies import SESSION_COOKIE, cookie_header
from calserver.web.http import Response, WebRequest
from calserver.web.pages.manage_support import done, notice, reason
from calserver.web.render import page
from calserver.web.routes import route

#: Shortest password the page accepts for a new one.
MIN_PASSWORD = 8
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@cache
def zones() -> list[str]:
    return sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone or zone == "UTC")


def _page(request: WebRequest, status: int = 200, **values: object) -> Response:
    services = request.services
    current = settings.get(services.engine, services.configuration, request.user)
    values.setdefault(
        "form",
        {
            "timezone": current.own_timezone,
            "default_duration": str(current.own_default_duration or ""),
            "week_start": str(current.week_start),
            "email_notifications": current.email_notifications,
        },
    )
    return page(
        request,
        "settings.html",
        status,
        zones=zones(),
        days=DAYS,
        server_timezone=services.configuration.get("feeds", "timezone"),
        server_duration=services.configuration.get("feeds", "default_duration"),
        min_password=MIN_PASSWORD,
        notice=values.pop("notice", notice(request)),
        **values,
    )


@route("GET", "/settings")
def settings_page(request: WebRequest) -> Response:
    return _page(request)


@route("POST", "/settings")
def save(request: WebRequest) -> Response:
    """Check every field first (a message next to each bad one, nothing saved), then
    save them all at once."""
    form = {
        "timezone": request.field("timezone"),
        "default_duration": request.field("default_duration"),
        "week_start": request.field("week_start"),
        "email_notifications": request.field("email_notifications") == "on",
    }
    errors = {}
    checks = (
        ("timezone", settings.parse_timezone),
        ("default_duration", settings.parse_duration),
        ("week_start", settings.parse_week_start),
    )
    for name, check in checks:
        try:
            check(str(form[name]))
        except InvalidInput as exc:
            errors[name] = reason(exc)
    if form["default_duration"] and not str(form["default_duration"]).isdigit():
        errors.setdefault("default_duration", "Give the default duration in minutes (1 to 10080).")
    if errors:
        return _page(request, 400, form=form, errors=errors)
    services = request.services
    settings.update_settings(
        services.engine,
        services.configuration,
        request.user,
        timezone=str(form["timezone"]),
        default_duration=str(form["default_duration"]),
        week_start=str(form["week_start"]),
        email_notifications=bool(form["email_notifications"]),
    )
    return done(request, "/settings", "settings")


def _password_ok(request: WebRequest, password: str) -> bool:
    """The current password, checked as the sign-in checks it (calserver.auth)."""
    application = request.services.application
    context = AuthContext()
    context.remote_addr = request.environ.get("REMOTE_ADDR")  # type: ignore[assignment]
    context.x_remote_addr = request.environ.get("HTTP_X_REMOTE_ADDR")  # type: ignore[assignment]
    found = compat.auth(application).login(request.user, password, context)
    if found and found[0] == request.user:
        return True
    delay = compat.auth_delay(application)
    if delay > 0:
        time.sleep(delay * (0.5 + random.random()))
    return False


@route("POST", "/settings/password")
def password(request: WebRequest) -> Response:
    current = request.field("current_password")
    new = request.field("new_password")
    repeat = request.field("repeat_password")
    errors = {}
    if not current:
        errors["current_password"] = "Enter your current password."
    if len(new) < MIN_PASSWORD:
        errors["new_password"] = f"The new password needs at least {MIN_PASSWORD} characters."
    elif new != repeat:
        errors["repeat_password"] = "The two new passwords differ."
    if errors:
        return _page(request, 400, errors=errors)
    if not _password_ok(request, current):
        return _page(
            request, 403, errors={"current_password": "That is not your current password."}
        )
    engine = request.services.engine
    users.set_password(engine, request.user, new)  # every session of the user ends
    token, _session = sessions.begin(engine, request.user)
    response = done(request, "/settings", "password")
    response.headers.append(cookie_header(request, SESSION_COOKIE, token, None))
    return response
