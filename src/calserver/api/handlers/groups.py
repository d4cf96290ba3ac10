"""Groups: their members and their calendars, managed by the group's administrators."""

from __future__ import annotations

from typing import Any

from calserver import calendars
from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.errors import Forbidden
from calserver.sharing import manage
from calserver.sharing.levels import alias_name


class Groups(Handlers):
    def _group(self, request: Request, group: manage.Group) -> dict[str, Any]:
        admin = any(m.name == request.user and m.admin for m in group.members)
        return {
            "name": group.name,
            "admin": admin,
            "members": [{"name": m.name, "admin": m.admin} for m in group.members],
            "invited": [{"name": m.name, "admin": m.admin} for m in group.invited if admin],
            "calendars": [
                {
                    "calendar": path,
                    "href": self._href(request, f"/{request.user}/{alias_name(path)}/"),
                }
                for path in group.calendars
            ],
        }

    def _admin_group(self, request: Request) -> manage.Group:
        """The group of the request, which the signed-in user administers."""
        group = manage.get_group(self._engine, request.params["group"])
        if not any(m.name == request.user and m.admin for m in group.members):
            raise Forbidden(f"{request.user!r} is not an administrator of the group {group.name!r}")
        return group

    def op_list_groups(self, request: Request) -> Answer:
        groups = manage.list_groups(self._engine, request.user)
        return Answer(200, {"groups": [self._group(request, g) for g in groups]})

    def op_get_group(self, request: Request) -> Answer:
        group = manage.get_group(self._engine, request.params["group"])
        if not any(m.name == request.user for m in group.members):
            raise Forbidden(f"{request.user!r} is not a member of the group {group.name!r}")
        return Answer(200, self._group(request, group))

    def op_put_member(self, request: Request) -> Answer:
        admin = bool((request.body or {}).get("admin", False))
        group = manage.add_member(
            self._engine,
            request.params["group"],
            request.params["member"],
            admin=admin,
            actor=request.user,
        )
        return Answer(200, self._group(request, group))

    def op_delete_member(self, request: Request) -> Answer:
        manage.remove_member(
            self._engine, request.params["group"], request.params["member"], actor=request.user
        )
        return Answer(204)

    def op_create_group_calendar(self, request: Request) -> Answer:
        group = self._admin_group(request)
        body = request.body
        info = calendars.create(
            self._storage,
            f"@{group.name}/{body['name']}",
            body.get("displayname"),
            body.get("color"),
        )
        href = self._href(request, f"/{info.path}/")
        return Answer(
            201,
            {"calendar": info.path, "displayname": info.name, "color": info.color, "href": href},
            [("Location", href)],
        )

    def op_delete_group_calendar(self, request: Request) -> Answer:
        group = self._admin_group(request)
        calendars.delete_calendar(self._storage, f"@{group.name}/{request.params['calendar']}")
        return Answer(204)
