"""The user's calendars (``/.web/calendars``, issue 14 items 6 and 8): their own, those
shared with them, their groups' and the other calendars they added; create, rename and
recolour (an owner's own calendar through a CalDAV PROPPATCH, someone else's as the
user's own name and colour: calserver.sharing.manage.set_own_properties), delete with a
confirmation, import an ``.ics`` file (calserver.calendars.import_file, with a summary of
what was added and refused) and export one; and a calendar's access list
(``/.web/calendar/sharing``: calserver.sharing.manage share, unshare, grants_of with the
signed-in user as the actor, who must own the calendar or administer its group).

The same services and permission checks as the JSON API (calserver.api.handlers).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from xml.sax.saxutils import escape

from calserver import calendars
from calserver.accounts import settings
from calserver.errors import CalserverError, Forbidden, InvalidInput, NotFound
from calserver.feeds import access
from calserver.ical import icsfile
from calserver.sharing import manage
from calserver.sharing.visibility import GRANT_LEVELS
from calserver.subscriptions import hooks as subscription_hooks
from calserver.web import dav
from calserver.web.http import Response, WebRequest, download
from calserver.web.pages.manage_support import done, home_calendars, notice, reason
from calserver.web.render import page
from calserver.web.routes import route

COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
#: The colour a new calendar gets when none is chosen.
DEFAULT_COLOR = "#1f5fa8"
#: What each level lets a grantee do, as the sharing page says it.
LEVELS = {
    "busy": "Busy only: sees when you are busy, not what",
    "read": "Read: sees the details",
    "write": "Read and write: may also change events",
}


def _slug(name: str) -> str:
    """A calendar's path segment from its display name ("Team plans" -> "team-plans")."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60]
    return slug or "calendar"


def _managed(request: WebRequest, path: str) -> str:
    """``path`` when the signed-in user owns the calendar or administers its group: 404
    for a calendar they cannot see (its name stays secret), 403 for one they see."""
    try:
        owner, cal = calendars.parse_path(path)
    except InvalidInput as exc:
        raise NotFound("there is no such calendar") from exc
    full = f"{owner}/{cal}"
    if owner == request.user:
        return full
    if owner.startswith("@"):
        group = manage.get_group(request.services.engine, owner)
        if any(m.name == request.user and m.admin for m in group.members):
            return full
        if any(m.name == request.user for m in group.members):
            raise Forbidden("only the group's administrators may manage this calendar")
    raise NotFound("there is no such calendar")


def _page(request: WebRequest, status: int = 200, **values: object) -> Response:
    found = home_calendars(request)
    values.setdefault("create", {"name": "", "color": DEFAULT_COLOR})
    values.setdefault("other", "")
    values.setdefault("edit", {})
    values.setdefault("summary", None)
    return page(
        request,
        "calendars.html",
        status,
        own=[c for c in found if c.own],
        others=[c for c in found if not c.own],
        writable=[c for c in found if c.own],
        notice=values.pop("notice", notice(request)),
        **values,
    )


@route("GET", "/calendars")
def calendars_page(request: WebRequest) -> Response:
    return _page(request)


@route("POST", "/calendars/create")
def create(request: WebRequest) -> Response:
    name = request.field("name")
    color = request.field("color") or DEFAULT_COLOR
    form = {"name": name, "color": color}
    errors = {}
    if not name:
        errors["name"] = "Give the calendar a name."
    elif len(name) > 200:
        errors["name"] = "The name is too long (at most 200 characters)."
    if not COLOR.match(color):
        errors["color"] = "Choose a colour as #RRGGBB."
    if errors:
        return _page(request, 400, create=form, errors=errors)
    storage = request.services.storage
    taken = {info.path for info in calendars.list_calendars(storage, request.user)}
    slug = base = _slug(name)
    count = 1
    while f"{request.user}/{slug}" in taken or storage.load_collection(f"{request.user}/{slug}"):
        count += 1
        slug = f"{base}-{count}"
    try:
        calendars.create(storage, f"{request.user}/{slug}", name, color)
    except CalserverError as exc:
        return _page(request, exc.status, create=form, errors={"name": reason(exc)})
    return done(request, "/calendars", "created")


def _proppatch(request: WebRequest, path: str, name: str, color: str) -> None:
    """Set a calendar's own name and colour as a CalDAV client does (RFC 4918 9.2)."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:propertyupdate xmlns:D="DAV:" xmlns:I="http://apple.com/ns/ical/">'
        f"<D:set><D:prop><D:displayname>{escape(name)}</D:displayname>"
        f"<I:calendar-color>{escape(color)}</I:calendar-color></D:prop></D:set>"
        "</D:propertyupdate>"
    )
    answer = dav.call(
        request,
        "PROPPATCH",
        f"/{path}/",
        body.encode("utf-8"),
        {"Content-Type": "application/xml; charset=utf-8"},
    )
    if answer.status != 207 or "200 OK" not in answer.text:
        raise CalserverError(
            "the calendar could not be changed",
            status=answer.status if answer.status >= 400 else 409,
        )


@route("POST", "/calendars/properties")
def properties(request: WebRequest) -> Response:
    """The name and colour of a calendar: an owner's (or a group administrator's)
    calendar's own; for any other calendar the user's own, laid over the owner's."""
    path = request.field("cal")
    name = request.field("name")
    color = request.field("color")
    errors = {}
    if not name:
        errors["name"] = "Give the calendar a name."
    elif len(name) > 200:
        errors["name"] = "The name is too long (at most 200 characters)."
    if not COLOR.match(color):
        errors["color"] = "Choose a colour as #RRGGBB."
    edit = {"cal": path, "name": name, "color": color}
    if errors:
        return _page(request, 400, edit=edit, errors=errors)
    mine = {c.path: c for c in home_calendars(request)}
    found = mine.get(path)
    if found is None:
        raise NotFound("there is no such calendar")
    try:
        if found.own:
            _proppatch(request, _managed(request, path), name, color)
        else:
            manage.set_own_properties(
                request.services.engine,
                request.user,
                path,
                {"D:displayname": name, "ICAL:calendar-color": color},
            )
    except CalserverError as exc:
        return _page(request, exc.status, edit=edit, errors={"name": reason(exc)})
    return done(request, "/calendars", "renamed")


# --- delete --------------------------------------------------------------------------


def _what_is_lost(request: WebRequest, path: str) -> dict[str, Any]:
    engine = request.services.engine
    info = next(
        (
            c
            for c in calendars.list_calendars(request.services.storage, path.partition("/")[0])
            if c.path == path
        ),
        None,
    )
    if info is None:
        raise NotFound("there is no such calendar")
    grants = manage.grants_of(engine, path, actor=request.user)
    published = access.publication(engine, request.services.configuration, path)
    return {"info": info, "grants": grants, "published": published is not None}


@route("GET", "/calendars/delete")
def delete_confirm(request: WebRequest) -> Response:
    path = _managed(request, request.arg("cal"))
    return page(request, "calendar_delete.html", cal=path, **_what_is_lost(request, path))


@route("POST", "/calendars/delete")
def delete(request: WebRequest) -> Response:
    path = _managed(request, request.field("cal"))
    if request.field("confirm") != "yes":
        return page(
            request,
            "calendar_delete.html",
            400,
            cal=path,
            errors={"confirm": "Tick the box to confirm that the calendar is to be deleted."},
            **_what_is_lost(request, path),
        )
    calendars.delete_calendar(request.services.storage, path)
    if path.startswith("@"):
        return done(request, "/group", "deleted", name=path.partition("/")[0][1:])
    return done(request, "/calendars", "deleted")


# --- import and export ---------------------------------------------------------------


@route("POST", "/calendars/import")
def import_ics(request: WebRequest) -> Response:
    """Add the events of an uploaded ``.ics`` file to one of the user's calendars:
    the valid ones are imported, each refused one is named (``skip_invalid``)."""
    path = request.field("cal")
    upload = request.files.get("file")
    edit = {"import_cal": path}
    if upload is None or not upload.data:
        return _page(request, 400, edit=edit, errors={"file": "Choose an .ics file to import."})
    try:
        target = _managed(request, path)
    except NotFound:
        return _page(
            request, 400, edit=edit, errors={"import_cal": "Choose one of your calendars."}
        )
    refused = subscription_hooks.refusal(request.services.storage, f"/{target}/")
    if refused is not None:  # its events come from the source; a refresh would drop these
        return _page(request, 400, edit=edit, errors={"import_cal": refused.reason})
    configuration = request.services.configuration
    try:
        text = upload.data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _page(request, 400, edit=edit, errors={"file": "The file is not UTF-8 text."})
    if target.startswith("@"):
        minutes = configuration.get("feeds", "default_duration")
    else:
        minutes = settings.get(
            request.services.engine, configuration, request.user
        ).default_duration
    try:
        text = icsfile.with_default_duration(text, minutes)
        result = calendars.import_file(
            request.services.storage,
            target,
            text,
            configuration.get("server", "max_vevent_rrule_occurrence"),
            max_bytes=configuration.get("server", "max_content_length"),
            skip_invalid=True,
        )
    except (CalserverError, icsfile.IcsError) as exc:
        message = reason(exc) if isinstance(exc, CalserverError) else str(exc)
        return _page(request, 400, edit=edit, errors={"file": f"Nothing was imported: {message}"})
    summary = {
        "cal": target,
        "filename": upload.filename,
        "created": result.created,
        "replaced": result.replaced,
        "skipped": list(result.skipped),
    }
    return _page(request, 200, summary=summary)


@route("GET", "/calendars/export")
def export(request: WebRequest) -> Response:
    path = _managed(request, request.arg("cal"))
    text = calendars.export(request.services.storage, path)
    return download(
        text.encode("utf-8"), "text/calendar; charset=utf-8", path.replace("/", "-") + ".ics"
    )


# --- other calendars -------------------------------------------------------------------


@route("POST", "/calendars/other")
def other(request: WebRequest) -> Response:
    """Add a group member's or a group's calendar to the user's calendars, or remove
    one they added (calserver.sharing.manage.add_other_calendar / remove_...)."""
    path = request.field("calendar")
    engine = request.services.engine
    if request.field("action") == "remove":
        manage.remove_other_calendar(engine, request.user, path)
        return done(request, "/calendars", "removed")
    if not path:
        return _page(
            request,
            400,
            other=path,
            errors={"other": "Name a calendar as USER/CALENDAR or @GROUP/CALENDAR."},
        )
    try:
        manage.add_other_calendar(engine, request.user, path)
    except CalserverError as exc:
        if exc.status >= 500:
            raise
        return _page(request, exc.status, other=path, errors={"other": reason(exc)})
    return done(request, "/calendars", "added")


# --- sharing ---------------------------------------------------------------------------


def _sharing(request: WebRequest, path: str, status: int = 200, **values: object) -> Response:
    engine = request.services.engine
    grants = manage.grants_of(engine, path, actor=request.user)
    info = next(
        (
            c
            for c in calendars.list_calendars(request.services.storage, path.partition("/")[0])
            if c.path == path
        ),
        None,
    )
    values.setdefault("form", {"grantee": "", "level": "busy"})
    return page(
        request,
        "sharing.html",
        status,
        cal=path,
        name=info.name if info is not None else path,
        grants=grants,
        levels=LEVELS,
        notice=values.pop("notice", notice(request)),
        **values,
    )


@route("GET", "/calendar/sharing")
def sharing(request: WebRequest) -> Response:
    return _sharing(request, _managed(request, request.arg("cal")))


@route("POST", "/calendar/sharing")
def share(request: WebRequest) -> Response:
    path = _managed(request, request.field("cal"))
    engine = request.services.engine
    grantee = request.field("grantee")
    level = request.field("level")
    action = request.field("action") or "share"
    if action == "revoke":
        manage.unshare(engine, path, grantee, actor=request.user)
        return done(request, "/calendar/sharing", "revoked", cal=path)
    form = {"grantee": grantee, "level": level}
    errors = {}
    if not grantee:
        errors["grantee"] = "Name a user, or a group as @GROUP."
    if level not in GRANT_LEVELS:
        errors["level"] = "Choose busy only, read, or read and write."
    if errors:
        return _sharing(request, path, 400, form=form, errors=errors)
    known = {g.grantee for g in manage.grants_of(engine, path, actor=request.user)}
    try:
        manage.share(engine, path, grantee, level, actor=request.user)
    except (InvalidInput, NotFound) as exc:
        message = reason(exc)
        if isinstance(exc, NotFound):
            message = f"There is no user or group {grantee!r}."
        return _sharing(request, path, 400, form=form, errors={"grantee": message})
    return done(request, "/calendar/sharing", "changed" if grantee in known else "shared", cal=path)
