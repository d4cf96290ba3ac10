"""Calendar subscriptions (issue 18): ``/subscriptions``. Each is a read-only calendar
in the signed-in user's home that the server keeps up to date from an http(s) or
webcal URL (``calserver.subscriptions``)."""

from __future__ import annotations

from typing import Any

from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.errors import InvalidInput, NotFound
from calserver.subscriptions import manage, refresh


def _interval(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("interval must be a whole number of seconds or null")
    return value


class Subscriptions(Handlers):
    @staticmethod
    def _subscription_id(request: Request) -> int:
        raw = request.params["id"]
        if not raw.isdigit() or len(raw) > 18:
            raise NotFound(f"no subscription {raw}")
        return int(raw)

    def op_list_subscriptions(self, request: Request) -> Answer:
        found = manage.list_for(self._engine, request.user)
        return Answer(200, {"subscriptions": [s.as_json() for s in found]})

    def op_create_subscription(self, request: Request) -> Answer:
        body = request.body
        sub = manage.subscribe(
            self._storage,
            self._config,
            request.user,
            body["url"],
            name=body.get("name") or None,
            calendar=body.get("calendar") or None,
            color=body.get("color") or None,
            interval=_interval(body.get("interval")),
            strip_alarms=body.get("strip_alarms", True),
            strip_attachments=body.get("strip_attachments", False),
        )
        return Answer(201, sub.as_json())

    def op_get_subscription(self, request: Request) -> Answer:
        return Answer(
            200, manage.get(self._storage, request.user, self._subscription_id(request)).as_json()
        )

    def op_patch_subscription(self, request: Request) -> Answer:
        body = request.body
        sub = manage.change(
            self._storage,
            self._config,
            request.user,
            self._subscription_id(request),
            name=body.get("name"),
            color=body.get("color"),
            interval=_interval(body["interval"]) if "interval" in body else False,
            strip_alarms=body.get("strip_alarms"),
            strip_attachments=body.get("strip_attachments"),
        )
        return Answer(200, sub.as_json())

    def op_delete_subscription(self, request: Request) -> Answer:
        manage.unsubscribe(self._storage, request.user, self._subscription_id(request))
        return Answer(204)

    def op_refresh_subscription(self, request: Request) -> Answer:
        sid = self._subscription_id(request)
        manage.get(self._storage, request.user, sid)  # 404 for another's
        [outcome] = refresh.refresh_now(
            self._storage, self._config, request.user, subscription_id=sid
        )
        sub = manage.get(self._storage, request.user, sid)
        return Answer(
            200,
            {
                "status": outcome.status,
                "error": outcome.error,
                "changes": outcome.changes,
                "subscription": sub.as_json(),
            },
        )
