"""Your calendars' syncs with other CalDAV servers: ``/syncs``, with each one's runs
(``/log``) and conflicts (``/conflicts``) (``calserver.remotesync.service``). Only the
calendar's owner sees a sync; another person's is "not found"."""

from __future__ import annotations

from typing import Any

from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.errors import NotFound
from calserver.remotesync import service


def _id(request: Request) -> int:
    value = request.params["sync"]
    if not value.isdigit() or len(value) > 12:
        raise NotFound(f"no sync {value}")
    return int(value)


def _settings(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("calendar", "auth")}


class Syncs(Handlers):
    def op_list_syncs(self, request: Request) -> Answer:
        pairs = service.list_for(self._engine, request.user)
        return Answer(200, {"syncs": [p.as_json() for p in pairs]})

    def op_add_sync(self, request: Request) -> Answer:
        body = request.body
        calendar = f"{request.user}/{body['calendar']}"
        pair = service.add(
            self._engine,
            self._config,
            calendar,
            _settings(body),
            body.get("auth") or {},
            user=request.user,
        )
        return Answer(201, pair.as_json())

    def op_get_sync(self, request: Request) -> Answer:
        return Answer(200, service.get(self._engine, _id(request), request.user).as_json())

    def op_change_sync(self, request: Request) -> Answer:
        body = request.body
        pair = service.change(
            self._engine,
            self._config,
            _id(request),
            _settings(body),
            body.get("auth"),
            user=request.user,
        )
        return Answer(200, pair.as_json())

    def op_remove_sync(self, request: Request) -> Answer:
        service.remove(self._engine, _id(request), request.user)
        return Answer(204)

    def op_run_sync(self, request: Request) -> Answer:
        return Answer(202, service.run_soon(self._engine, _id(request), request.user).as_json())

    def op_get_sync_log(self, request: Request) -> Answer:
        return Answer(200, {"runs": service.log(self._engine, _id(request), request.user)})

    def op_get_sync_conflicts(self, request: Request) -> Answer:
        found = service.conflicts(self._engine, _id(request), request.user)
        return Answer(200, {"conflicts": found})
