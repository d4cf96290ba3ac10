"""The signed-in user's availability (RFC 7953): ``/me/availability``. Weekly working
hours in a time zone (``timezone`` + ``weekly``) or any VAVAILABILITY text (``ics``);
the same value as the schedule inbox's ``CALDAV:calendar-availability``
(``calserver.accounts.availability``)."""

from __future__ import annotations

from calserver.accounts import availability, settings
from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.errors import InvalidInput


class Availability(Handlers):
    def op_get_my_availability(self, request: Request) -> Answer:
        return Answer(200, availability.as_json(availability.get(self._engine, request.user)))

    def op_put_my_availability(self, request: Request) -> Answer:
        body = request.body
        if "ics" in body:
            if "weekly" in body or "timezone" in body:
                raise InvalidInput("send either ics or timezone and weekly, not both")
            text = availability.set_text(self._engine, request.user, body["ics"])
            return Answer(200, availability.as_json(text))
        if "weekly" not in body:
            raise InvalidInput("the body lacks the field 'weekly' (or 'ics')")
        zone = (
            body.get("timezone") or settings.get(self._engine, self._config, request.user).timezone
        )
        hours = [(h["day"], h["start"], h["end"]) for h in body["weekly"]]
        text = availability.set_weekly(self._engine, request.user, zone, hours)
        return Answer(200, availability.as_json(text))

    def op_delete_my_availability(self, request: Request) -> Answer:
        availability.clear(self._engine, request.user)
        return Answer(204)
