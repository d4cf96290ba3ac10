"""Sync with other calendar servers (``/.web/settings/syncs``): the signed-in user's
pairs of one of their calendars with a calendar on another CalDAV server, added,
run soon and removed here; each one's runs and conflicts on ``/settings/syncs/log``.
The same service as the API and the CLI (``calserver.remotesync.service``); the
worker does the copying.

Fields of the add form: ``calendar``, ``url``, ``username``, ``password``,
``direction`` (pull, push, both), ``pull_content`` and ``push_content`` (details,
blocker), ``policy`` (local, remote, newest), ``categories`` (comma-separated).
Buttons: ``action`` = ``add``, ``run`` or ``remove`` (with ``sync``, its id).
"""

from __future__ import annotations

import time
from typing import Any

from calserver import calendars
from calserver.errors import CalserverError
from calserver.remotesync import service
from calserver.web.http import Response, WebRequest, redirect
from calserver.web.render import page
from calserver.web.routes import route

PATH = "/settings/syncs"
#: The notices a redirect may name (never text from the URL).
DONE = {
    "added": "The sync is added: the worker runs it in a moment.",
    "run": "The sync runs at the worker's next look.",
    "removed": "The sync is removed; both calendars keep what they hold.",
}
DEFAULTS = {
    "calendar": "",
    "url": "",
    "username": "",
    "direction": "both",
    "pull_content": "details",
    "push_content": "details",
    "policy": "newest",
    "categories": "",
}


def when(timestamp: float | None) -> str:
    """A moment as the page shows it (UTC: the worker's clock, not the viewer's zone)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp)) if timestamp else "never"


def _list(
    request: WebRequest,
    status: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> Response:
    services = request.services
    own = [
        c.path.partition("/")[2] for c in calendars.list_calendars(services.storage, request.user)
    ]
    return page(
        request,
        "syncs.html",
        status,
        syncs=service.list_for(services.engine, request.user),
        own=own,
        when=when,
        form=form or dict(DEFAULTS),
        errors=errors or {},
        notice=notice,
    )


@route("GET", PATH)
def show(request: WebRequest) -> Response:
    return _list(request, notice=DONE.get(request.arg("done"), ""))


def _sync_id(request: WebRequest) -> int:
    value = request.field("sync")
    return int(value) if value.isdigit() and len(value) < 12 else 0


@route("POST", PATH)
def change(request: WebRequest) -> Response:
    engine = request.services.engine
    action = request.field("action")
    if action in ("run", "remove"):
        try:
            if action == "run":
                service.run_soon(engine, _sync_id(request), request.user)
            else:
                service.remove(engine, _sync_id(request), request.user)
        except CalserverError as exc:
            return _list(request, exc.status, errors={"": exc.reason})
        return redirect(request.url(PATH, done="removed" if action == "remove" else "run"))
    form = {name: request.field(name, default) for name, default in DEFAULTS.items()}
    errors: dict[str, str] = {}
    if not form["calendar"]:
        errors["calendar"] = "Choose one of your calendars"
    if not form["url"]:
        errors["url"] = "Give the other calendar's address, e.g. https://example.org/dav/me/work/"
    if not errors:
        settings: dict[str, Any] = {
            k: form[k] for k in DEFAULTS if k not in ("calendar", "username")
        }
        auth = {
            "type": "basic",
            "username": form["username"],
            "password": request.field("password"),
        }
        try:
            service.add(
                engine,
                request.services.configuration,
                f"{request.user}/{form['calendar']}",
                settings,
                auth,
                user=request.user,
            )
        except CalserverError as exc:
            reason = exc.reason
            field = next((k for k in DEFAULTS if reason.startswith(k + ":")), "")
            errors[field] = reason
    if errors:
        return _list(request, 400, form=form, errors=errors)
    return redirect(request.url(PATH, done="added"))


@route("GET", PATH + "/log")
def log(request: WebRequest) -> Response:
    engine = request.services.engine
    value = request.arg("sync")
    try:
        pair = service.get(engine, int(value) if value.isdigit() else 0, request.user)
    except CalserverError as exc:
        return page(request, "error.html", exc.status, message=exc.reason)
    return page(
        request,
        "sync_log.html",
        sync=pair,
        runs=service.log(engine, pair.id, request.user),
        conflicts=service.conflicts(engine, pair.id, request.user),
        when=when,
    )
