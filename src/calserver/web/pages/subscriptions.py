"""Subscriptions (``/.web/subscriptions``, issue 18): the signed-in user's calendars kept
from an http(s) or webcal URL, with the state of each (events, last fetch, last error,
next fetch), a form to subscribe, per subscription a form for its name, colour,
interval and options, "Refresh now" and "Unsubscribe". Through the same service as the
API and the CLI (``calserver.subscriptions``).

Fields of ``POST /subscriptions``: ``url``, ``name``, ``color``, ``interval``
(minutes, empty: the default), ``keep_alarms``, ``strip_attachments``. Of
``POST /subscriptions/edit``: ``id`` and the same but ``url``. ``POST
/subscriptions/refresh`` and ``POST /subscriptions/delete``: ``id``.
"""

from __future__ import annotations

from typing import Any

from calserver.errors import CalserverError, InvalidInput, NotFound
from calserver.subscriptions import manage, refresh
from calserver.web.http import Response, WebRequest, redirect
from calserver.web.render import page
from calserver.web.routes import route

PATH = "/subscriptions"
#: The notices a redirect may name (never text from the URL).
DONE = {
    "added": "Subscribed. The calendar appears in your calendar apps like any other.",
    "saved": "The subscription is saved.",
    "refreshed": "Fetched.",
    "failed": "The fetch failed: the calendar keeps its last good content (see its error).",
    "ended": "The subscription is ended and its calendar deleted.",
}


def _interval(text: str) -> int | None:
    """Minutes in the form, seconds in the service; empty: the default."""
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput("give the interval in whole minutes, or leave it empty")
    return int(text) * 60


def _show(
    request: WebRequest,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    edit: dict[str, Any] | None = None,
) -> Response:
    services = request.services
    found = manage.list_for(services.engine, request.user)
    return page(
        request,
        "subscriptions.html",
        status,
        subscriptions=found,
        form=form
        or {
            "url": "",
            "name": "",
            "color": "#1f5fa8",
            "interval": "",
            "keep_alarms": False,
            "strip_attachments": False,
        },
        edit=edit or {},
        errors=errors or {},
        notice=DONE.get(request.arg("done"), ""),
        default_minutes=services.configuration.get("subscriptions", "default_interval") // 60,
        min_minutes=services.configuration.get("subscriptions", "min_interval") // 60,
    )


def _field_of(exc: CalserverError) -> str:
    reason = exc.reason.lower()
    for word, name in (("interval", "interval"), ("colour", "color"), ("name", "name")):
        if word in reason:
            return name
    return "url"


@route("GET", PATH)
def show(request: WebRequest) -> Response:
    return _show(request)


@route("POST", PATH)
def subscribe(request: WebRequest) -> Response:
    services = request.services
    form: dict[str, Any] = {
        "url": request.field("url"),
        "name": request.field("name"),
        "color": request.field("color"),
        "interval": request.field("interval"),
        "keep_alarms": bool(request.field("keep_alarms")),
        "strip_attachments": bool(request.field("strip_attachments")),
    }
    if not form["url"]:
        return _show(request, 400, errors={"url": "Give the calendar's address"}, form=form)
    try:
        sub = manage.subscribe(
            services.storage,
            services.configuration,
            request.user,
            form["url"],
            name=form["name"] or None,
            color=form["color"] or None,
            interval=_interval(form["interval"]),
            strip_alarms=not form["keep_alarms"],
            strip_attachments=form["strip_attachments"],
        )
    except CalserverError as exc:
        return _show(request, 400, errors={_field_of(exc): exc.reason}, form=form)
    outcomes = refresh.refresh_now(
        services.storage, services.configuration, request.user, subscription_id=sub.id
    )
    failed = any(o.status == "failed" for o in outcomes)
    return redirect(request.url(PATH, done="failed" if failed else "added"))


def _id(request: WebRequest) -> int:
    raw = request.field("id")
    if not raw.isdigit():
        raise NotFound("no such subscription")
    manage.get(request.services.storage, request.user, int(raw))  # 404 for another's
    return int(raw)


@route("POST", PATH + "/edit")
def edit(request: WebRequest) -> Response:
    services = request.services
    sid = _id(request)
    values: dict[str, Any] = {
        "id": sid,
        "name": request.field("name"),
        "color": request.field("color"),
        "interval": request.field("interval"),
    }
    try:
        manage.change(
            services.storage,
            services.configuration,
            request.user,
            sid,
            name=values["name"],
            color=values["color"],
            interval=_interval(values["interval"]),
            strip_alarms=not request.field("keep_alarms"),
            strip_attachments=bool(request.field("strip_attachments")),
        )
    except CalserverError as exc:
        return _show(request, 400, errors={_field_of(exc): exc.reason}, edit=values)
    return redirect(request.url(PATH, done="saved"))


@route("POST", PATH + "/refresh")
def refresh_now(request: WebRequest) -> Response:
    services = request.services
    outcomes = refresh.refresh_now(
        services.storage, services.configuration, request.user, subscription_id=_id(request)
    )
    failed = any(o.status == "failed" for o in outcomes)
    return redirect(request.url(PATH, done="failed" if failed else "refreshed"))


@route("POST", PATH + "/delete")
def unsubscribe(request: WebRequest) -> Response:
    manage.unsubscribe(request.services.storage, request.user, _id(request))
    return redirect(request.url(PATH, done="ended"))
