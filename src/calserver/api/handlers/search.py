"""Search and tags (issue 17): ``/search`` and ``/me/tags``."""

from __future__ import annotations

from typing import Any

from calserver import deletebetween, search, tags
from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.errors import InvalidInput


def _tag(tag: tags.Tag) -> dict[str, Any]:
    return {"name": tag.name, "colour": tag.colour, "count": tag.count}


class Search(Handlers):
    def op_search(self, request: Request) -> Answer:
        query = request.query
        hits = search.search(
            self._engine,
            request.user,
            query.get("q", ""),
            scope=query.get("scope", "all") or "all",
            tag=query.get("tag", ""),
            start=query.get("from"),
            end=query.get("to"),
        )
        results = []
        for hit in hits:
            found = hit.as_json()
            found["url"] = self._href(request, f"/{hit.calendar}/{hit.href}")
            found["web_url"] = f"{request.prefix}/.web/event?cal={hit.calendar}&href={hit.href}"
            results.append(found)
        return Answer(200, {"results": results, "limit": search.LIMIT})

    def op_list_tags(self, request: Request) -> Answer:
        return Answer(200, {"tags": [_tag(t) for t in tags.list_tags(self._engine, request.user)]})

    def op_create_tag(self, request: Request) -> Answer:
        body = request.body or {}
        made = tags.create_tag(
            self._engine, request.user, str(body.get("name", "")), str(body.get("colour", ""))
        )
        return Answer(201, _tag(made))

    def op_change_tag(self, request: Request) -> Answer:
        body = request.body or {}
        if "name" in body:
            raise InvalidInput("a tag cannot be renamed: make a new one")
        changed = tags.set_tag_colour(
            self._engine, request.user, request.params["tag"], str(body.get("colour", ""))
        )
        return Answer(200, _tag(changed))

    def op_delete_tag(self, request: Request) -> Answer:
        tags.delete_tag(self._storage, request.user, request.params["tag"])
        return Answer(204)

    def op_tag_event(self, request: Request) -> Answer:
        body = request.body or {}
        tags.tag_event(
            self._storage,
            request.user,
            str(body.get("calendar", "")),
            str(body.get("href", "")),
            request.params["tag"],
        )
        return Answer(204)

    def op_untag_event(self, request: Request) -> Answer:
        tags.untag_event(
            self._storage,
            request.user,
            request.query.get("calendar", ""),
            request.query.get("href", ""),
            request.params["tag"],
        )
        return Answer(204)

    def op_delete_between(self, request: Request) -> Answer:
        body = request.body or {}
        dry_run = body.get("dry_run", True)
        if not isinstance(dry_run, bool):
            raise InvalidInput("dry_run must be true or false")
        plan = deletebetween.delete_between(
            self._storage,
            request.user,
            self._calendar(request),
            str(body.get("from", "")),
            str(body.get("to", "")),
            dry_run=dry_run,
        )
        return Answer(200, plan.as_json())
