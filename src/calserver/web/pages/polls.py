"""Meeting polls in the web app (issue 19): the user's polls (``/polls``), the wizard
that creates one (``/poll/new``: what, when, who), the owner's table of voters by
options with totals and every action (``/poll?id=N``: remind, edit, add and remove
options and voters, choose the date, close, delete, export as VPOLL), and, for a voter
with an account, the same poll with their answers to change while signed in.

Every action is a form POST (CSRF token) that calls one function of
``calserver.polls.service`` and redirects back (POST-redirect-GET); the service's
refusals (400, 404, 409 on a closed or decided poll, 429 for a reminder too soon) are
the web app's error page with the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from email.utils import getaddresses

from calserver.accounts import settings as user_settings
from calserver.accounts.directory import find_email
from calserver.errors import InvalidInput, NotFound
from calserver.polls import service, vpoll
from calserver.polls.model import ANSWERS, Poll
from calserver.web.http import FormError, Response, WebRequest, download, redirect
from calserver.web.render import page
from calserver.web.routes import route

#: How many date fields the wizard offers (more are added on the poll's page).
TIMED_FIELDS = 6
DAY_FIELDS = 3
DONE = {
    "created": "The poll is created; every voter gets an e-mail with their link.",
    "voted": "Your answers are saved.",
    "reminded": "The reminders are on their way.",
    "edited": "The poll is changed.",
    "options": "The dates are changed; the voters are told.",
    "voters": "The voters are changed; those added or removed are told.",
    "decided": "The date is chosen: the meeting is in your calendar and the voters are invited.",
    "closed": "The poll is closed.",
    "deleted": "The poll is deleted.",
}


def _id(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise NotFound("there is no such poll")
    return int(value)


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit() and len(v) <= 12]


@route("GET", "/polls")
def list_polls(request: WebRequest) -> Response:
    owned, invited = service.polls_of(request.services.engine, request.user)
    return page(
        request,
        "polls.html",
        owned=owned,
        invited=invited,
        notice=DONE.get(request.arg("done"), ""),
    )


def _wizard(
    request: WebRequest, values: dict[str, object], errors: dict[str, str], status: int = 200
) -> Response:
    zone = user_settings.get(
        request.services.engine, request.services.configuration, request.user
    ).timezone
    return page(
        request,
        "poll_new.html",
        status,
        values=values,
        errors=errors,
        known=service.known_people(request.services.engine, request.user),
        zone=values.get("timezone") or zone,
        timed_fields=TIMED_FIELDS,
        day_fields=DAY_FIELDS,
    )


@route("GET", "/poll/new")
def new_poll(request: WebRequest) -> Response:
    return _wizard(request, {"duration": "60", "notify": "all"}, {})


def _typed(text: str) -> list[service.VoterInput]:
    """Addresses typed one per line or separated by commas (``Name <a@b>`` or ``a@b``)."""
    found = []
    for name, address in getaddresses([line for line in re.split(r"[\n,;]", text) if line.strip()]):
        if address or name:
            found.append(service.VoterInput(email=address, name=name))
    return found


@route("POST", "/poll/new")
def create_poll(request: WebRequest) -> Response:
    values: dict[str, object] = {
        name: request.field(name)
        for name in ("title", "description", "location", "duration", "timezone", "typed", "notify")
    }
    values["timed"] = request.fields("timed")
    values["days"] = request.fields("day")
    values["people"] = request.fields("person")
    options = [v.strip().replace(" ", "T") for v in request.fields("timed") if v.strip()]
    options += [v.strip() for v in request.fields("day") if v.strip()]
    voters = [service.VoterInput(email=e) for e in request.fields("person") if e.strip()]
    voters += _typed(request.field("typed"))
    duration = request.field("duration")
    try:
        if not duration.isdigit():
            raise InvalidInput("the duration is a number of minutes")
        poll = service.create(
            request.services.storage,
            request.user,
            title=request.field("title"),
            duration=int(duration),
            options=options,
            voters=voters,
            description=request.field("description").replace("\r\n", "\n"),
            location=request.field("location"),
            timezone=request.field("timezone"),
            notify=request.field("notify") or "all",
        )
    except InvalidInput as exc:
        return _wizard(request, values, {"": exc.reason}, 400)
    return redirect(request.url("/poll", id=poll.id, done="created"))


def _table(poll: Poll) -> list[dict[str, object]]:
    return [
        {"voter": voter, "cells": [voter.votes.get(option.id, "") for option in poll.options]}
        for voter in poll.voters
    ]


@route("GET", "/poll")
def show_poll(request: WebRequest) -> Response:
    poll, me = service.seen_by(request.services.engine, request.user, _id(request.arg("id")))
    links = {}
    if me is None:
        links = {
            v.id: service.link_of(request.services.configuration, poll, v) for v in poll.voters
        }
    return page(
        request,
        "poll.html",
        poll=poll,
        me=me,
        rows=_table(poll),
        totals=poll.totals(),
        links=links,
        answers=ANSWERS,
        chosen=poll.option(poll.decided_option) if poll.decided_option is not None else None,
        meeting=service.meeting_path(request.services.engine, poll),
        notice=DONE.get(request.arg("done"), ""),
    )


def _back(request: WebRequest, poll_id: int, done: str) -> Response:
    return redirect(request.url("/poll", id=poll_id, done=done))


@route("POST", "/poll/vote")
def vote(request: WebRequest) -> Response:
    poll_id = _id(request.field("id"))
    poll, _me = service.seen_by(request.services.engine, request.user, poll_id)
    answers = {}
    for option in poll.options:
        value = request.field(f"o{option.id}")
        if value:
            answers[option.id] = value
    service.vote_as(request.services.storage, request.user, poll_id, answers)
    return _back(request, poll_id, "voted")


@route("POST", "/poll/remind")
def remind(request: WebRequest) -> Response:
    poll_id = _id(request.field("id"))
    poll = service.owned_by(request.services.engine, request.user, poll_id)
    chosen = set(_ids(request.fields("voter")))
    leave_out = [v.id for v in poll.voters if v.answered is None and v.id not in chosen]
    service.remind(request.services.storage, request.user, poll_id, leave_out=leave_out)
    return _back(request, poll_id, "reminded")


@route("POST", "/poll/edit")
def edit(request: WebRequest) -> Response:
    poll_id = _id(request.field("id"))
    service.update_poll(
        request.services.storage,
        request.user,
        poll_id,
        title=request.field("title"),
        description=request.field("description").replace("\r\n", "\n"),
        location=request.field("location"),
        notify=request.field("notify") or None,
    )
    return _back(request, poll_id, "edited")


@route("POST", "/poll/options/add")
def add_options(request: WebRequest) -> Response:
    poll_id = _id(request.field("id"))
    starts = [v.strip().replace(" ", "T") for v in request.fields("timed") if v.strip()]
    starts += [v.strip() for v in request.fields("day") if v.strip()]
    service.add_options(request.services.storage, request.user, poll_id, starts)
    return _back(request, poll_id, "options")


@route("POST", "/poll/options/remove")
def remove_option(request: WebRequest) -> Response:
    poll_id = _id(request.field("id"))
    option = _id(request.field("option"))
    service.remove_option(request.services.storage, request.user, poll_id, option)
    return _back(request, poll_id, "options")


@route("POST", "/poll/voters/add")
def add_voters(request: WebRequest) -> Response:
    poll_id = _id(request.field("id"))
    voters = _typed(request.field("typed"))
    service.add_voters(request.services.storage, request.user, poll_id, voters)
    return _back(request, poll_id, "voters")


@route("POST", "/poll/voters/remove")
def remove_voter(request: WebRequest) -> Response:
    poll_id = _id(request.field("id"))
    voter = _id(request.field("voter"))
    service.remove_voter(request.services.storage, request.user, poll_id, voter)
    return _back(request, poll_id, "voters")


@route("POST", "/poll/decide")
def decide(request: WebRequest) -> Response:
    poll_id = _id(request.field("id"))
    option = request.field("option")
    if not option:
        raise FormError({"": "Choose one of the dates."})
    service.decide(request.services.storage, request.user, poll_id, _id(option))
    return _back(request, poll_id, "decided")


@route("POST", "/poll/close")
def close(request: WebRequest) -> Response:
    poll_id = _id(request.field("id"))
    service.close(request.services.storage, request.user, poll_id)
    return _back(request, poll_id, "closed")


@route("POST", "/poll/delete")
def delete(request: WebRequest) -> Response:
    poll_id = _id(request.field("id"))
    tell = request.field("tell") == "1"
    service.delete_poll(request.services.storage, request.user, poll_id, tell=tell)
    return redirect(request.url("/polls", done="deleted"))


@route("GET", "/poll/export")
def export(request: WebRequest) -> Response:
    poll = service.owned_by(request.services.engine, request.user, _id(request.arg("id")))
    email = find_email(request.services.engine, request.user) or ""
    text = vpoll.export(poll, email, dt.datetime.now(dt.UTC))
    return download(text.encode("utf-8"), "text/calendar; charset=utf-8", f"poll-{poll.id}.ics")
