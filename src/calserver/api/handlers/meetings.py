"""Meetings: invitations waiting for an answer, the meetings the user is in, and whether they
get them by e-mail."""

from __future__ import annotations

from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.scheduling import invitations, organize


class Meetings(Handlers):
    def op_list_invitations(self, request: Request) -> Answer:
        found = [
            {**entry.as_json(), "href": self._href(request, entry.href)}
            for entry in invitations.pending(self._engine, request.user)
        ]
        return Answer(200, {"invitations": found})

    def op_patch_meeting(self, request: Request) -> Answer:
        organize.set_email(
            self._storage, request.user, request.params["uid"], request.body["email"]
        )
        return Answer(204)

    def op_list_meetings(self, request: Request) -> Answer:
        found = [
            {**entry.as_json(), "href": self._href(request, entry.href)}
            for entry in invitations.meetings(self._engine, request.user)
        ]
        return Answer(200, {"meetings": found})
