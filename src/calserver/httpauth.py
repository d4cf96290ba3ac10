"""Signing in to calserver's own endpoints (the management API, feeds) exactly as
Radicale signs in a CalDAV request: HTTP Basic (RFC 7617) or the external login of
the auth plugin, the same plugin instance (throttling, login cache, the fail2ban log
line), its user name checks, and ``[auth] delay`` on failure."""

from __future__ import annotations

import base64
import binascii
import random
import time
from typing import Any

from radicale import app as radicale_app
from radicale import httputils, pathutils
from radicale.auth import AuthContext

from calserver.dav import compat
from calserver.errors import CalserverError, InvalidInput


class Unauthorized(CalserverError):
    status = 401


def challenge(application: radicale_app.Application) -> tuple[str, str]:
    """The ``WWW-Authenticate`` header of a 401 (RFC 7617 2)."""
    return ("WWW-Authenticate", f'Basic realm="{compat.auth_realm(application)}", charset="UTF-8"')


def authenticate(application: radicale_app.Application, environ: dict[str, Any]) -> str:
    """The signed-in user; :class:`Unauthorized` without (valid) credentials."""
    app = application
    external = compat.auth(app).get_external_login(environ)
    header = environ.get("HTTP_AUTHORIZATION", "")
    login = password = ""
    if external:
        login, password = external[0] or "", external[1] or ""
    elif header.startswith("Basic"):
        try:
            decoded = base64.b64decode(header[len("Basic") :].strip().encode("ascii"))
            login, _, password = httputils.decode_request(
                app.configuration, environ, decoded
            ).partition(":")
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("malformed Authorization header") from exc
    if not login:
        raise Unauthorized("sign in with your CalDAV user name and password")
    user = ""
    if compat.check_user_format(app, login):
        context = AuthContext()
        context.remote_addr = environ.get("REMOTE_ADDR")  # type: ignore[assignment]
        context.x_remote_addr = environ.get("HTTP_X_REMOTE_ADDR")  # type: ignore[assignment]
        user = (compat.auth(app).login(login, password, context) or ("", "", set()))[0]
    if not user or not pathutils.is_safe_path_component(user):
        delay = compat.auth_delay(app)
        if delay > 0:
            time.sleep(delay * (0.5 + random.random()))
        raise Unauthorized("wrong user name or password")
    return str(user)
