"""Reminders, the phone for SMS and the agenda (issue 16): ``/me/reminders``, per-event
reminders, per-calendar defaults, ``/me/phone``, ``/me/agenda`` and
``/me/agenda/send-now``, all through :mod:`calserver.reminders`."""

from __future__ import annotations

from typing import Any

from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.errors import NotFound
from calserver.reminders import agenda_mail, sms, store


class Reminders(Handlers):
    def _zone(self, request: Request) -> Any:
        with self._engine.connect() as conn:
            return store.zone_of(conn, self._config, request.user)

    def _listing(
        self, request: Request, found: list[tuple[store.Reminder, float | None]]
    ) -> Answer:
        tz = self._zone(request)
        return Answer(200, {"reminders": [r.as_json(tz, due) for r, due in found]})

    @staticmethod
    def _reminder_id(request: Request) -> int:
        value = request.params["reminder"]
        if not value.isdigit():
            raise NotFound(f"no reminder {value!r}")
        return int(value)

    def op_list_my_reminders(self, request: Request) -> Answer:
        return self._listing(request, store.list_for(self._engine, request.user))

    def op_add_my_reminder(self, request: Request) -> Answer:
        body = request.body
        reminder = store.add(
            self._engine,
            self._config,
            request.user,
            body["calendar"],
            body["uid"],
            body.get("channel", "email"),
            minutes_before=body.get("minutes_before"),
            at=body.get("at"),
        )
        with self._engine.connect() as conn:
            due = store.next_due(conn, reminder.id)
        return Answer(201, reminder.as_json(self._zone(request), due))

    def op_change_my_reminder(self, request: Request) -> Answer:
        body = request.body
        reminder = store.change(
            self._engine,
            self._config,
            request.user,
            self._reminder_id(request),
            channel=body.get("channel"),
            minutes_before=body.get("minutes_before"),
            at=body.get("at"),
        )
        with self._engine.connect() as conn:
            due = store.next_due(conn, reminder.id)
        return Answer(200, reminder.as_json(self._zone(request), due))

    def op_delete_my_reminder(self, request: Request) -> Answer:
        store.cancel(self._engine, request.user, self._reminder_id(request))
        return Answer(204)

    def op_get_event_reminders(self, request: Request) -> Answer:
        found = store.for_event(
            self._engine, request.user, self._calendar(request), request.params["uid"]
        )
        return self._listing(request, found)

    def op_put_event_reminders(self, request: Request) -> Answer:
        store.replace_for_event(
            self._engine,
            self._config,
            request.user,
            self._calendar(request),
            request.params["uid"],
            request.body["reminders"],
        )
        return self.op_get_event_reminders(request)

    def op_get_reminder_defaults(self, request: Request) -> Answer:
        found = store.defaults_for(self._engine, request.user, self._calendar(request))
        return Answer(
            200,
            {
                "reminders": [
                    {"channel": channel, "minutes_before": offset // 60}
                    for channel, offset in found
                ]
            },
        )

    def op_put_reminder_defaults(self, request: Request) -> Answer:
        store.set_defaults(
            self._engine,
            self._config,
            request.user,
            self._calendar(request),
            request.body["reminders"],
        )
        return self.op_get_reminder_defaults(request)

    def _phone(self, phone: sms.Phone | None) -> dict[str, Any]:
        return {
            "number": phone.number if phone else None,
            "verified": bool(phone and phone.verified),
            "sms_available": self._config.get("sms", "backend") != "none",
        }

    def op_get_my_phone(self, request: Request) -> Answer:
        return Answer(200, self._phone(sms.get_phone(self._engine, request.user)))

    def op_put_my_phone(self, request: Request) -> Answer:
        phone = sms.set_phone(self._engine, self._config, request.user, request.body["number"])
        return Answer(200, self._phone(phone))

    def op_delete_my_phone(self, request: Request) -> Answer:
        sms.remove_phone(self._engine, request.user)
        return Answer(204)

    def op_verify_my_phone(self, request: Request) -> Answer:
        phone = sms.verify_phone(self._engine, request.user, request.body["code"])
        return Answer(200, self._phone(phone))

    def _agenda(self, request: Request, found: agenda_mail.Agenda) -> Answer:
        return Answer(200, found.as_json(self._zone(request).key))

    def op_get_my_agenda(self, request: Request) -> Answer:
        return self._agenda(request, agenda_mail.get(self._engine, request.user))

    def op_put_my_agenda(self, request: Request) -> Answer:
        found = agenda_mail.set_agenda(
            self._engine, self._config, self._storage, request.user, request.body
        )
        return self._agenda(request, found)

    def op_send_my_agenda_now(self, request: Request) -> Answer:
        return Answer(
            200, agenda_mail.send_now(self._engine, self._config, self._storage, request.user)
        )
