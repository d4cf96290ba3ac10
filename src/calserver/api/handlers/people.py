"""The people directory for pickers (``GET /me/people?q=``): the signed-in user's
contacts, their groups' members and the accounts (``calserver.contacts.people``)."""

from __future__ import annotations

from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.contacts import people


class People(Handlers):
    def op_find_people(self, request: Request) -> Answer:
        found = people.search(self._engine, request.user, request.query.get("q", ""))
        return Answer(200, {"people": [entry.as_json() for entry in found]})
