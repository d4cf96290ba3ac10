"""Calendars: the user's own and those shared with them, their own settings of a shared
calendar, its URLs and its publication, and the other calendars added to their home."""

from __future__ import annotations

from typing import Any

from calserver import calendars
from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.feeds import access, links
from calserver.sharing import manage
from calserver.sharing.levels import alias_name
from calserver.urls import public_path


class Calendars(Handlers):
    def _shared(self, request: Request, entry: manage.SharedCalendar) -> dict[str, Any]:
        return {
            "calendar": entry.calendar,
            "alias": entry.alias,
            "level": entry.level,
            "added": entry.added,
            "href": self._href(request, f"/{request.user}/{entry.alias}/"),
        }

    def op_list_calendars(self, request: Request) -> Answer:
        given, received = manage.shares(self._engine, request.user)
        own = []
        for info in calendars.list_calendars(self._storage, request.user):
            own.append(
                {
                    "calendar": info.path,
                    "displayname": info.name,
                    "color": info.color,
                    "href": self._href(request, f"/{info.path}/"),
                    "shares": [
                        {"grantee": g.grantee, "level": g.level}
                        for g in given
                        if g.calendar == info.path
                    ],
                }
            )
        shared = [self._shared(request, entry) for entry in received]
        return Answer(200, {"own": own, "shared": shared})

    def op_patch_settings(self, request: Request) -> Answer:
        keys = {
            "displayname": "D:displayname",
            "color": "ICAL:calendar-color",
            "order": "ICAL:calendar-order",
        }
        props = {keys[name]: str(value) for name, value in request.body.items()}
        path = self._calendar(request)
        manage.set_own_properties(self._engine, request.user, path, props)
        return Answer(200, {"calendar": path, "settings": request.body})

    def _seen_as(self, request: Request) -> str:
        """The calendar of the route as the signed-in user sees it in their home."""
        path = self._calendar(request)
        return (
            path
            if path.partition("/")[0] == request.user
            else (f"{request.user}/{alias_name(path)}")
        )

    def op_get_urls(self, request: Request) -> Answer:
        base = request.origin + request.prefix
        return Answer(
            200, links.calendar_urls(self._storage, self._config, self._seen_as(request), base)
        )

    def _publication(self, request: Request, path: str) -> dict[str, Any]:
        found = access.publication(self._engine, self._config, path)
        if found is None:
            return {"calendar": path, "level": "off"}
        base = f"{request.origin}{request.prefix}{public_path(found.token)}/"
        return {
            "calendar": path,
            "level": found.level,
            "public_html": base,
            "public_embed": base + "embed",
            "public_ics": base + "calendar.ics",
        }

    def op_get_publication(self, request: Request) -> Answer:
        path = self._calendar(request)
        access.check_may_publish(self._engine, path, request.user)
        return Answer(200, self._publication(request, path))

    def op_put_publication(self, request: Request) -> Answer:
        path = self._calendar(request)
        if request.body.get("reset"):
            access.reset_public(self._engine, self._config, path, actor=request.user)
        access.publish(self._engine, self._config, path, request.body["level"], actor=request.user)
        return Answer(200, self._publication(request, path))

    def op_delete_publication(self, request: Request) -> Answer:
        access.unpublish(self._engine, self._calendar(request), actor=request.user)
        return Answer(204)

    def op_list_other_calendars(self, request: Request) -> Answer:
        found = manage.calendars_shared_with(self._engine, request.user)
        added = [self._shared(request, entry) for entry in found if entry.added]
        return Answer(200, {"other_calendars": added})

    def op_put_other_calendar(self, request: Request) -> Answer:
        entry = manage.add_other_calendar(self._engine, request.user, self._calendar(request))
        return Answer(200, self._shared(request, entry))

    def op_delete_other_calendar(self, request: Request) -> Answer:
        manage.remove_other_calendar(self._engine, request.user, self._calendar(request))
        return Answer(204)
