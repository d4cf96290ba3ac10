"""Groups (``/.web/groups``, ``/.web/group``; issue 14 item 6): the user's groups and
invitations (accept, decline, leave), creating a group (server administrators only, as
``calserver group create`` is the administrator's: the group is created with them as
its administrator), and a group's page for its administrators: invite members (an
invitation counts only once accepted: calserver.sharing.manage's consent), make
co-administrators, remove members, the group's calendars (create; share through the
calendar's access list).

The same services and checks as the JSON API (calserver.api.handlers.groups, .me):
``actor`` is the signed-in user."""

from __future__ import annotations

from calserver import calendars
from calserver.errors import CalserverError, Forbidden, NotFound
from calserver.sharing import manage
from calserver.web.http import Response, WebRequest
from calserver.web.pages.calendars import COLOR, DEFAULT_COLOR, _slug
from calserver.web.pages.manage_support import cal_class, done, notice, reason
from calserver.web.render import page
from calserver.web.routes import route


def _groups_page(request: WebRequest, status: int = 200, **values: object) -> Response:
    engine = request.services.engine
    found = manage.memberships(engine, request.user)
    values.setdefault("create", "")
    return page(
        request,
        "groups.html",
        status,
        memberships=[m for m in found if m.state == "accepted"],
        invitations=[m for m in found if m.state != "accepted"],
        may_create=bool(request.session and request.session.is_admin),
        notice=values.pop("notice", notice(request)),
        **values,
    )


@route("GET", "/groups")
def groups_page(request: WebRequest) -> Response:
    return _groups_page(request)


@route("POST", "/groups/answer")
def answer(request: WebRequest) -> Response:
    """Accept or decline an invitation, or leave a group."""
    engine = request.services.engine
    group = request.field("group")
    action = request.field("action")
    if action == "accept":
        manage.accept(engine, group, request.user)
        return done(request, "/groups", "accepted")
    if action == "decline":
        manage.decline(engine, group, request.user)
        return done(request, "/groups", "declined")
    if action == "leave":
        manage.remove_member(engine, group, request.user, actor=request.user)
        return done(request, "/groups", "left")
    raise CalserverError("unknown action", status=400)


@route("POST", "/groups/create")
def create(request: WebRequest) -> Response:
    """A new group with the signed-in server administrator as its administrator."""
    if request.session is None or not request.session.is_admin:
        raise Forbidden("only server administrators may create groups")
    name = request.field("name").lstrip("@")
    if not name:
        return _groups_page(request, 400, create=name, errors={"name": "Give the group a name."})
    try:
        manage.create_group(request.services.engine, name, request.user)
    except CalserverError as exc:
        if exc.status >= 500:
            raise
        return _groups_page(request, exc.status, create=name, errors={"name": reason(exc)})
    return done(request, "/group", "group-created", name=name)


# --- one group -------------------------------------------------------------------------


def _member_group(request: WebRequest, spelling: str) -> tuple[manage.Group, bool]:
    """The group and whether the user administers it; 404 for a group they are not in
    (as for a group that does not exist)."""
    try:
        group = manage.get_group(request.services.engine, spelling)
    except CalserverError as exc:
        raise NotFound("there is no such group") from exc
    me = next((m for m in group.members if m.name == request.user), None)
    if me is None:
        raise NotFound("there is no such group")
    return group, me.admin


def _admin_group(request: WebRequest, spelling: str) -> manage.Group:
    group, admin = _member_group(request, spelling)
    if not admin:
        raise Forbidden("only the group's administrators may change it")
    return group


def _group_page(
    request: WebRequest, spelling: str, status: int = 200, **values: object
) -> Response:
    group, admin = _member_group(request, spelling)
    storage = request.services.storage
    names = {info.path: info for info in calendars.list_calendars(storage, "@" + group.name)}
    values.setdefault("invite", {"user": "", "admin": False})
    values.setdefault("newcal", {"name": "", "color": DEFAULT_COLOR})
    return page(
        request,
        "group.html",
        status,
        group=group,
        admin=admin,
        group_calendars=[
            names.get(path) or calendars.CalendarInfo(path, path, "", 0) for path in group.calendars
        ],
        notice=values.pop("notice", notice(request)),
        cal_class=cal_class,
        **values,
    )


@route("GET", "/group")
def group_page(request: WebRequest) -> Response:
    return _group_page(request, request.arg("name"))


@route("POST", "/group/members")
def members(request: WebRequest) -> Response:
    """Invite someone (pending until they accept), change a member's role, or remove
    a member or an invitation."""
    group = _admin_group(request, request.field("group"))
    engine = request.services.engine
    user = request.field("user")
    action = request.field("action") or "invite"
    if action == "remove":
        manage.remove_member(engine, group.name, user, actor=request.user)
        return done(request, "/group", "member-removed", name=group.name)
    if action == "role":
        manage.add_member(
            engine, group.name, user, admin=request.field("admin") == "yes", actor=request.user
        )
        return done(request, "/group", "role", name=group.name)
    as_admin = request.field("admin") == "yes"
    form = {"user": user, "admin": as_admin}
    if not user:
        return _group_page(
            request, group.name, 400, invite=form, errors={"user": "Name the user to invite."}
        )
    known = {m.name for m in group.members} | {m.name for m in group.invited}
    if user in known:
        return _group_page(
            request,
            group.name,
            409,
            invite=form,
            errors={"user": f"{user} is in the group or invited already."},
        )
    try:
        manage.add_member(engine, group.name, user, admin=as_admin, actor=request.user)
    except NotFound:
        return _group_page(
            request, group.name, 400, invite=form, errors={"user": f"There is no user {user!r}."}
        )
    return done(request, "/group", "invited", name=group.name)


@route("POST", "/group/calendars")
def group_calendar(request: WebRequest) -> Response:
    """A new calendar of the group (its members read it, its administrators write)."""
    group = _admin_group(request, request.field("group"))
    name = request.field("name")
    color = request.field("color") or DEFAULT_COLOR
    form = {"name": name, "color": color}
    errors = {}
    if not name:
        errors["calname"] = "Give the calendar a name."
    elif len(name) > 200:
        errors["calname"] = "The name is too long (at most 200 characters)."
    if not COLOR.match(color):
        errors["calcolor"] = "Choose a colour as #RRGGBB."
    if errors:
        return _group_page(request, group.name, 400, newcal=form, errors=errors)
    storage = request.services.storage
    slug = base = _slug(name)
    count = 1
    while storage.load_collection(f"@{group.name}/{slug}") is not None:
        count += 1
        slug = f"{base}-{count}"
    try:
        calendars.create(storage, f"@{group.name}/{slug}", name, color)
    except CalserverError as exc:
        if exc.status >= 500:
            raise
        return _group_page(
            request, group.name, exc.status, newcal=form, errors={"calname": reason(exc)}
        )
    return done(request, "/group", "created", name=group.name)
