"""Search and tags in the web app (issue 17): ``/.web/search`` (the search box of every
page sends here; the last search is kept in a cookie and shown in the box again),
``/.web/tags`` (the person's tags: make, colour, delete), an event's tags
(``/.web/event/tag``, the event page's "Tags" part) and ``/.web/tags.css`` (the
colours, as classes: the Content-Security-Policy allows no inline style).

The same services as the API (calserver.search, calserver.tags)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from calserver import deletebetween, search, tags
from calserver.db import read_transaction
from calserver.errors import CalserverError, InvalidInput
from calserver.web.cookies import cookie_header, read_cookie
from calserver.web.http import Response, WebRequest, redirect
from calserver.web.pages.manage_support import done, reason
from calserver.web.render import page
from calserver.web.routes import route

#: The cookie that keeps the last search (the query only; for 30 days).
LAST_SEARCH = "calserver_last_search"
KEEP = 30 * 24 * 3600
NOTICES = {
    "tag-made": "Tag made.",
    "tag-coloured": "Colour changed.",
    "tag-deleted": "Tag deleted: it is gone from every event.",
}


def last_search(request: WebRequest) -> str:
    """The query of the signed-in person's last search ("" if none)."""
    return unquote(read_cookie(request.environ, LAST_SEARCH))[:500]


def tag_class(colour: str) -> str:
    """The class that shows a tag in its colour (``tagc-rrggbb``), "" for none."""
    return "tagc-" + colour.lstrip("#").lower() if colour else ""


@route("GET", "/search")
def search_page(request: WebRequest) -> Response:
    q = request.arg("q")
    scope = request.arg("scope", "all") or "all"
    tag = request.arg("tag")
    start, end = request.arg("from"), request.arg("to")
    values: dict[str, Any] = {"q": q, "scope": scope, "tag": tag, "start": start, "end": end}
    hits: list[search.Hit] = []
    errors: dict[str, str] = {}
    asked = bool(q.strip() or tag)
    headers: list[tuple[str, str]] = []
    if asked:
        try:
            hits = search.search(
                request.services.engine,
                request.user,
                q,
                scope=scope,
                tag=tag,
                start=start or None,
                end=end or None,
            )
        except CalserverError as exc:
            errors["q"] = reason(exc)
        if q.strip():
            headers.append(cookie_header(request, LAST_SEARCH, quote(q[:500]), KEEP))
    mine = tags.list_tags(request.services.engine, request.user)
    response = page(
        request,
        "search.html",
        400 if errors else 200,
        hits=hits,
        asked=asked,
        errors=errors,
        my_tags=mine,
        tag_class=tag_class,
        last_search=q or last_search(request),
        **values,
    )
    response.headers.extend(headers)
    return response


@route("GET", "/tags")
def tags_page(request: WebRequest) -> Response:
    return _tags_page(request)


def _tags_page(request: WebRequest, status: int = 200, **values: Any) -> Response:
    values.setdefault("name", "")
    values.setdefault("colour", "")
    return page(
        request,
        "tags.html",
        status,
        my_tags=tags.list_tags(request.services.engine, request.user),
        tag_class=tag_class,
        notice=values.pop("notice", NOTICES.get(request.arg("done"), "")),
        last_search=last_search(request),
        **values,
    )


@route("POST", "/tags/create")
def create_tag(request: WebRequest) -> Response:
    name, colour = request.field("name"), request.field("colour")
    try:
        tags.create_tag(request.services.engine, request.user, name, colour)
    except CalserverError as exc:
        return _tags_page(
            request, exc.status, errors={"name": reason(exc)}, name=name, colour=colour
        )
    return done(request, "/tags", "tag-made")


@route("POST", "/tags/colour")
def colour_tag(request: WebRequest) -> Response:
    tags.set_tag_colour(
        request.services.engine, request.user, request.field("name"), request.field("colour")
    )
    return done(request, "/tags", "tag-coloured")


@route("POST", "/tags/delete")
def delete_tag(request: WebRequest) -> Response:
    tags.delete_tag(request.services.storage, request.user, request.field("name"))
    return done(request, "/tags", "tag-deleted")


@route("POST", "/event/tag")
def tag_event(request: WebRequest) -> Response:
    """Put a tag on an event, or take it off (``action=remove``)."""
    cal, href, name = request.field("cal"), request.field("href"), request.field("tag")
    if request.field("action") == "remove":
        tags.untag_event(request.services.storage, request.user, cal, href, name)
    else:
        tags.tag_event(request.services.storage, request.user, cal, href, name)
    return redirect(request.url("/event", cal=cal, href=href))


@route("GET", "/tags.css")
def tags_css(request: WebRequest) -> Response:
    """A class per colour of the person's tags (no inline style under the CSP)."""
    colours = sorted({t.colour for t in tags.list_tags(request.services.engine, request.user)})
    body = "".join(
        f".{tag_class(c)}{{background:{c};color:#fff;border-color:{c}}}\n" for c in colours if c
    )
    return Response(
        200, body.encode(), [("Cache-Control", "private, no-cache")], "text/css; charset=utf-8"
    )


def event_tag_values(request: WebRequest, cal: str, href: str) -> dict[str, Any]:
    """What the event page shows of the person's tags on the event ``href`` of ``cal``."""
    engine = request.services.engine
    mine = tags.list_tags(engine, request.user)
    with read_transaction(engine) as conn:
        on = tags.tags_on(conn, request.user, cal, href)
    return {
        "event_tags": [{"name": n, "colour": c, "class": tag_class(c)} for n, c in on],
        "other_tags": [t.name for t in mine if t.name not in {n for n, _ in on}],
        "tag_class": tag_class,
    }


# --- delete between two dates (issue 17 section 3) ------------------------------------


@route("GET", "/calendars/delete-between")
def delete_between_form(request: WebRequest) -> Response:
    """The range to delete, and once given, what a deletion would remove (a dry run:
    a GET changes nothing)."""
    cal, start, end = request.arg("cal"), request.arg("from"), request.arg("to")
    plan = None
    errors: dict[str, str] = {}
    if start or end:
        try:
            plan = deletebetween.delete_between(
                request.services.storage, request.user, cal, start, end, dry_run=True
            )
        except InvalidInput as exc:
            errors["from"] = reason(exc)
    elif cal:  # a calendar that is not there, or not writable, says so now
        deletebetween.delete_between(
            request.services.storage, request.user, cal, "2000-01-01", "2000-01-02", dry_run=True
        )
    deleted = request.arg("deleted")
    return page(
        request,
        "delete_between.html",
        400 if errors else 200,
        cal=cal,
        start=start,
        end=end,
        plan=plan,
        errors=errors,
        notice=f"Deleted: {deleted} occurrence(s)." if deleted.isdigit() else "",
        last_search=last_search(request),
    )


@route("POST", "/calendars/delete-between")
def delete_between(request: WebRequest) -> Response:
    cal, start, end = request.field("cal"), request.field("from"), request.field("to")
    if request.field("confirm") != "yes":
        plan = deletebetween.delete_between(
            request.services.storage, request.user, cal, start, end, dry_run=True
        )
        return page(
            request,
            "delete_between.html",
            400,
            cal=cal,
            start=start,
            end=end,
            plan=plan,
            errors={"confirm": "Tick the box to confirm: this cannot be undone."},
            last_search=last_search(request),
        )
    plan = deletebetween.delete_between(
        request.services.storage, request.user, cal, start, end, dry_run=False
    )
    return redirect(
        request.url("/calendars/delete-between", cal=cal, deleted=str(plan.occurrences))
    )


def tagged_only(request: WebRequest, found: list[Any], tag: str) -> list[Any]:
    """The agenda events (``calserver.agenda.AgendaEvent``) of ``found`` the signed-in
    person tagged ``tag`` (a view filtered by tag)."""
    with read_transaction(request.services.engine) as conn:
        wanted = tags.tagged(conn, request.user, tag)
    return [e for e in found if (e.calendar.collection_id, e.occurrence.uid) in wanted]
