"""Server administration (``/.web/admin``, issue 14 item 9), for the accounts marked as
server administrators (``calserver user admin NAME``): users (add with a password,
disable and enable, delete with a confirmation) and groups (create, delete), with the
rules of the CLI (calserver.accounts.users, calserver.sharing.manage with no actor: the
server's administrator). An administrator may not disable or delete their own account
here, so that the server always keeps one who can sign in."""

from __future__ import annotations

from calserver.accounts import users
from calserver.errors import CalserverError, Conflict
from calserver.sharing import manage
from calserver.web.http import Response, WebRequest
from calserver.web.pages.manage_support import done, notice, reason
from calserver.web.render import page
from calserver.web.routes import route

#: Shortest password the page accepts for a new account.
MIN_PASSWORD = 8


def _page(request: WebRequest, status: int = 200, **values: object) -> Response:
    engine = request.services.engine
    values.setdefault("newuser", {"name": "", "email": ""})
    values.setdefault("newgroup", {"name": "", "admin": ""})
    return page(
        request,
        "admin.html",
        status,
        people=users.all_users(engine),
        groups=manage.list_groups(engine),
        min_password=MIN_PASSWORD,
        notice=values.pop("notice", notice(request)),
        **values,
    )


@route("GET", "/admin", admin=True)
def admin_page(request: WebRequest) -> Response:
    return _page(request)


@route("POST", "/admin/users/add", admin=True)
def add_user(request: WebRequest) -> Response:
    name = request.field("name")
    email = request.field("email")
    password = request.field("password")
    form = {"name": name, "email": email}
    errors = {}
    if not name:
        errors["name"] = "Give the user a name."
    else:
        try:
            users.validate_name(name)
        except CalserverError as exc:
            errors["name"] = reason(exc)
    if len(password) < MIN_PASSWORD:
        errors["password"] = f"The password needs at least {MIN_PASSWORD} characters."
    if errors:
        return _page(request, 400, newuser=form, errors=errors)
    try:
        users.add(request.services.engine, name, password, email)
    except CalserverError as exc:
        if exc.status >= 500:
            raise
        field = "email" if "email" in exc.reason else "name"
        return _page(request, exc.status, newuser=form, errors={field: reason(exc)})
    return done(request, "/admin", "user-added")


def _not_me(request: WebRequest, name: str) -> None:
    if name == request.user:
        raise Conflict("you may not disable or delete your own account here")


@route("POST", "/admin/users/state", admin=True)
def user_state(request: WebRequest) -> Response:
    name = request.field("name")
    if request.field("action") == "enable":
        users.set_disabled(request.services.engine, name, False)
        return done(request, "/admin", "user-enabled")
    _not_me(request, name)
    users.set_disabled(request.services.engine, name, True)
    return done(request, "/admin", "user-disabled")


@route("GET", "/admin/users/delete", admin=True)
def delete_user_confirm(request: WebRequest) -> Response:
    name = request.arg("name")
    found = users.get(request.services.engine, name)
    if found is None:
        raise CalserverError("there is no such user", status=404)
    _not_me(request, name)
    return page(request, "admin_delete.html", person=found)


@route("POST", "/admin/users/delete", admin=True)
def delete_user(request: WebRequest) -> Response:
    name = request.field("name")
    engine = request.services.engine
    found = users.get(engine, name)
    if found is None:
        raise CalserverError("there is no such user", status=404)
    _not_me(request, name)
    if request.field("confirm") != "yes":
        return page(
            request,
            "admin_delete.html",
            400,
            person=found,
            errors={"confirm": "Tick the box to confirm that the user is to be deleted."},
        )
    users.remove(engine, name)
    return done(request, "/admin", "user-deleted")


@route("POST", "/admin/groups/create", admin=True)
def create_group(request: WebRequest) -> Response:
    name = request.field("name").lstrip("@")
    admin = request.field("admin")
    form = {"name": name, "admin": admin}
    if not name:
        return _page(request, 400, newgroup=form, errors={"group": "Give the group a name."})
    try:
        manage.create_group(request.services.engine, name, admin or None)
    except CalserverError as exc:
        if exc.status >= 500:
            raise
        field = "group_admin" if admin and "user" in exc.reason else "group"
        return _page(request, exc.status, newgroup=form, errors={field: reason(exc)})
    return done(request, "/admin", "group-created")


@route("POST", "/admin/groups/delete", admin=True)
def delete_group(request: WebRequest) -> Response:
    manage.delete_group(request.services.engine, request.field("name"))
    return done(request, "/admin", "group-deleted")
