"""The signed-in user: who they are, their settings, their secret URLs, their memberships of
groups."""

from __future__ import annotations

import copy
from typing import Any

from calserver.accounts import settings
from calserver.api.answers import Answer, Request
from calserver.api.document import OPENAPI, ROOT
from calserver.api.handlers.base import Handlers
from calserver.feeds import access
from calserver.sharing import manage


class Me(Handlers):
    def op_get_openapi(self, request: Request) -> Answer:
        document = copy.deepcopy(OPENAPI)
        document["servers"] = [{"url": request.prefix + ROOT}]
        return Answer(200, document)

    def op_get_me(self, request: Request) -> Answer:
        groups = manage.list_groups(self._engine, request.user)
        return Answer(
            200,
            {
                "user": request.user,
                "href": self._href(request, f"/{request.user}/"),
                "groups": [
                    {
                        "name": g.name,
                        "admin": any(m.name == request.user and m.admin for m in g.members),
                    }
                    for g in groups
                ],
            },
        )

    def op_get_my_settings(self, request: Request) -> Answer:
        return Answer(200, settings.get(self._engine, self._config, request.user).as_json())

    def op_patch_my_settings(self, request: Request) -> Answer:
        chosen = settings.update_settings(self._engine, self._config, request.user, **request.body)
        return Answer(200, chosen.as_json())

    def op_reset_feeds(self, request: Request) -> Answer:
        access.reset_feeds(self._engine, request.user)
        return Answer(204)

    @staticmethod
    def _membership(entry: manage.Membership) -> dict[str, Any]:
        return {
            "group": entry.group,
            "admin": entry.admin,
            "state": entry.state,
            "invited_by": entry.invited_by,
        }

    def op_list_my_groups(self, request: Request) -> Answer:
        found = manage.memberships(self._engine, request.user)
        return Answer(200, {"groups": [self._membership(entry) for entry in found]})

    def op_accept_group(self, request: Request) -> Answer:
        entry = manage.accept(self._engine, request.params["group"], request.user)
        return Answer(200, self._membership(entry))

    def op_decline_group(self, request: Request) -> Answer:
        manage.decline(self._engine, request.params["group"], request.user)
        return Answer(204)

    def op_leave_group(self, request: Request) -> Answer:
        manage.remove_member(
            self._engine, request.params["group"], request.user, actor=request.user
        )
        return Answer(204)
