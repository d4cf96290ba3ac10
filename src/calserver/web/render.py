"""Pages from Jinja2 templates (``templates/``), autoescaped: what every page gets (the
request, the signed-in user, the CSRF token, links into the app and to its static files)
and the answer it makes."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from calserver.web.http import Response, WebRequest

STATIC = "static"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("calserver.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


@cache
def static_files() -> dict[str, tuple[bytes, str]]:
    """Every asset of ``static/``: its bytes and a short hash of them (the cache key in
    its URL, so a new release's asset is fetched anew)."""
    found = {}
    for entry in resources.files("calserver.web").joinpath(STATIC).iterdir():
        if entry.is_file() and not entry.name.startswith("."):
            data = entry.read_bytes()
            found[entry.name] = (data, hashlib.sha256(data).hexdigest()[:12])
    return found


def static_url(request: WebRequest, name: str) -> str:
    return request.url(f"/{STATIC}/{name}", v=static_files()[name][1])


def page(request: WebRequest, template: str, status: int = 200, **values: Any) -> Response:
    """The page ``template`` filled with ``values`` and what every page shows."""
    body = (
        environment()
        .get_template(template)
        .render(
            request=request,
            user=request.user,
            session=request.session,
            csrf=request.session.csrf if request.session is not None else "",
            url=request.url,
            static=lambda name: static_url(request, name),
            errors=values.pop("errors", {}),
            notice=values.pop("notice", ""),
            **values,
        )
    )
    return Response(status, body.encode("utf-8"))
