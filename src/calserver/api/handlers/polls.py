"""Meeting polls (issue 19): ``/polls`` (create, list the user's own), one poll and its
sub-resources (options, voters, votes, reminders, close, decide), and ``/me/polls`` (the
polls the user owns and those they are invited to). The owner sees every voter, vote and
personal link; a voter with an account sees the poll, the totals and their own answers.
Every rule is the service's (``calserver.polls.service``)."""

from __future__ import annotations

from typing import Any

from calserver.api.answers import Answer, Request
from calserver.api.handlers.base import Handlers
from calserver.errors import InvalidInput, NotFound
from calserver.polls import service
from calserver.polls.model import Poll


def _id(request: Request, name: str = "poll") -> int:
    value = request.params[name]
    if not value.isdigit() or len(value) > 12:
        raise NotFound(f"no {name} {value!r}")
    return int(value)


def _voters(values: list[Any]) -> list[service.VoterInput]:
    found = []
    for value in values:
        if isinstance(value, str):
            found.append(service.VoterInput(email=value))
        else:
            found.append(
                service.VoterInput(
                    email=value.get("email", ""),
                    name=value.get("name", ""),
                    group=value.get("group", ""),
                )
            )
    return found


class Polls(Handlers):
    def _owner_json(self, request: Request, poll: Poll) -> dict[str, Any]:
        found = poll.as_json(owner_view=True)
        voters = found["voters"]
        assert isinstance(voters, list)
        for entry, voter in zip(voters, poll.voters, strict=True):
            entry["link"] = service.link_of(self._config, poll, voter)
        return found

    def _shown(self, request: Request, poll: Poll) -> dict[str, Any]:
        if poll.owner == request.user:
            return self._owner_json(request, poll)
        _poll, voter = service.seen_by(self._engine, request.user, poll.id)
        return poll.as_json(owner_view=False, me=voter)

    def op_create_poll(self, request: Request) -> Answer:
        body = request.body
        owner = body.get("owner", request.user)
        service.check_owner(owner)
        if owner != request.user:
            raise InvalidInput("a poll is created for yourself")
        poll = service.create(
            self._storage,
            request.user,
            title=body["title"],
            duration=body["duration"],
            options=body["options"],
            voters=_voters(body["voters"]),
            description=body.get("description", ""),
            location=body.get("location", ""),
            timezone=body.get("timezone", ""),
            notify=body.get("notify", "all"),
        )
        location = f"{request.prefix}/.api/v1/polls/{poll.id}"
        return Answer(201, self._owner_json(request, poll), [("Location", location)])

    def op_list_polls(self, request: Request) -> Answer:
        owned, _invited = service.polls_of(self._engine, request.user)
        return Answer(200, {"polls": [p.summary_json() for p in owned]})

    def op_list_my_polls(self, request: Request) -> Answer:
        owned, invited = service.polls_of(self._engine, request.user)
        return Answer(
            200,
            {
                "owned": [p.summary_json() for p in owned],
                "invited": [p.summary_json() for p in invited],
            },
        )

    def op_get_poll(self, request: Request) -> Answer:
        poll, _voter = service.seen_by(self._engine, request.user, _id(request))
        return Answer(200, self._shown(request, poll))

    def op_patch_poll(self, request: Request) -> Answer:
        body = request.body
        poll = service.update_poll(
            self._storage,
            request.user,
            _id(request),
            title=body.get("title"),
            description=body.get("description"),
            location=body.get("location"),
            notify=body.get("notify"),
        )
        return Answer(200, self._owner_json(request, poll))

    def op_delete_poll(self, request: Request) -> Answer:
        tell = request.query.get("tell", "false").lower() in ("1", "true", "yes")
        service.delete_poll(self._storage, request.user, _id(request), tell=tell)
        return Answer(204)

    def op_add_poll_options(self, request: Request) -> Answer:
        poll = service.add_options(
            self._storage, request.user, _id(request), request.body["options"]
        )
        return Answer(200, self._owner_json(request, poll))

    def op_delete_poll_option(self, request: Request) -> Answer:
        poll = service.remove_option(
            self._storage, request.user, _id(request), _id(request, "option")
        )
        return Answer(200, self._owner_json(request, poll))

    def op_add_poll_voters(self, request: Request) -> Answer:
        poll = service.add_voters(
            self._storage, request.user, _id(request), _voters(request.body["voters"])
        )
        return Answer(200, self._owner_json(request, poll))

    def op_delete_poll_voter(self, request: Request) -> Answer:
        poll = service.remove_voter(
            self._storage, request.user, _id(request), _id(request, "voter")
        )
        return Answer(200, self._owner_json(request, poll))

    def op_vote_poll(self, request: Request) -> Answer:
        answers: dict[int, str] = {}
        for key, value in request.body["answers"].items():
            if not str(key).isdigit():
                raise InvalidInput(f"answers are keyed by option id, not {key!r}")
            answers[int(key)] = value
        poll = service.vote_as(self._storage, request.user, _id(request), answers)
        return Answer(200, self._shown(request, poll))

    def op_remind_poll(self, request: Request) -> Answer:
        body = request.body or {}
        reminded = service.remind(
            self._storage, request.user, _id(request), leave_out=body.get("leave_out", [])
        )
        return Answer(200, {"reminded": [v.as_json() for v in reminded]})

    def op_close_poll(self, request: Request) -> Answer:
        body = request.body or {}
        poll = service.close(self._storage, request.user, _id(request), tell=body.get("tell", True))
        return Answer(200, self._owner_json(request, poll))

    def op_decide_poll(self, request: Request) -> Answer:
        poll = service.decide(self._storage, request.user, _id(request), request.body["option"])
        found = self._owner_json(request, poll)
        path = service.meeting_path(self._engine, poll)
        if path is not None:
            found["meeting"] = self._href(request, path)
        return Answer(200, found)
