"""The grants of a calendar (who may see or change it, at which level)."""

from __future__ import annotations

from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.errors import NotFound
from calserver.sharing import manage


class Shares(Handlers):
    def op_list_shares(self, request: Request) -> Answer:
        path = self._calendar(request)
        found = manage.grants_of(self._engine, path, actor=request.user)
        shares = [{"grantee": g.grantee, "level": g.level} for g in found]
        return Answer(200, {"calendar": path, "shares": shares})

    def op_get_share(self, request: Request) -> Answer:
        path, grantee = self._calendar(request), request.params["grantee"]
        for grant in manage.grants_of(self._engine, path, actor=request.user):
            if grant.grantee == grantee:
                return Answer(200, {"calendar": path, "grantee": grantee, "level": grant.level})
        raise NotFound(f"{path!r} is not shared with {grantee!r}")

    def op_put_share(self, request: Request) -> Answer:
        grant = manage.share(
            self._engine,
            self._calendar(request),
            request.params["grantee"],
            request.body["level"],
            actor=request.user,
        )
        return Answer(
            200, {"calendar": grant.calendar, "grantee": grant.grantee, "level": grant.level}
        )

    def op_delete_share(self, request: Request) -> Answer:
        manage.unshare(
            self._engine, self._calendar(request), request.params["grantee"], actor=request.user
        )
        return Answer(204)
