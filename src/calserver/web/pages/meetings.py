"""Meetings in the web app (issue 14 section 5): the invitations waiting for the user's
answer (``/invitations``), answering one (``/invitations/answer``: accept, maybe,
decline with a reason, decline but keep the meeting), and the organizer's actions on
an event's page: remind those who have not answered (``/event/remind``) and remove a
participant (``/event/participant/remove``). Cancelling a meeting is deleting it
(``/event/delete``): scheduling sends the CANCEL (RFC 6638 3.2.2.3).

Answers are the attendee's own copy stored again through CalDAV with their PARTSTAT
and COMMENT changed (RFC 6638 3.2.2.x: the server sends the REPLY to the organizer,
calserver.scheduling.answers); "decline" then deletes the copy with
``Schedule-Reply: F`` (RFC 6638 8.1), so the organizer gets one answer, with its reason.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote
from zoneinfo import ZoneInfo

from calserver import errors
from calserver.accounts import settings as user_settings
from calserver.errors import CalserverError
from calserver.ical import compose
from calserver.scheduling import invitations
from calserver.scheduling import participants as people
from calserver.sharing.visibility import Level
from calserver.web import eventforms as ef
from calserver.web.http import Response, WebRequest, redirect
from calserver.web.pages.events import _show
from calserver.web.render import page
from calserver.web.routes import route

ANSWERS = {
    "accept": "ACCEPTED",
    "maybe": "TENTATIVE",
    "decline": "DECLINED",
    "decline-keep": "DECLINED",
}
MAX_COMMENT = 500
DONE = {
    "accept": "You accepted the invitation.",
    "maybe": "You answered maybe.",
    "decline": "You declined the invitation; it was removed from your calendar.",
    "decline-keep": "You declined the invitation; it stays in your calendar.",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _start(value: str, zone: ZoneInfo) -> str:
    """An invitation's start (ISO 8601 as the event gives it) in the user's zone."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if len(value) <= 10:
        return f"{moment:%a %d %b %Y}, all day"
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone)
        return f"{moment:%a %d %b %Y, %H:%M} ({zone.key})"
    return f"{moment:%a %d %b %Y, %H:%M}"


def _pending(request: WebRequest) -> list[dict[str, str]]:
    zone = user_settings.get(
        request.services.engine, request.services.configuration, request.user
    ).zone
    found = []
    for invitation in invitations.pending(request.services.engine, request.user):
        name = invitation.href.rpartition("/")[2]
        found.append(
            {
                "summary": invitation.summary or "(no title)",
                "start": _start(invitation.start, zone),
                "organizer": people.spelled(compose.Participant(invitation.organizer)),
                "cal": invitation.calendar,
                "href": name,
                "id": quote(name, safe="").replace("%", "_").replace(".", "_"),
            }
        )
    return found


@route("GET", "/invitations")
def pending(request: WebRequest) -> Response:
    return page(
        request,
        "invitations.html",
        invitations=_pending(request),
        notice=DONE.get(request.arg("done"), ""),
    )


@route("POST", "/invitations/answer")
def answer(request: WebRequest) -> Response:
    action = request.field("answer")
    comment = " ".join(request.field("comment").split())
    back = request.field("back")
    shown = ef.read_event(request, request.field("cal"), request.field("href"))

    def refuse(status: int, message: str) -> Response:
        if back == "event":
            return _show(request, shown, "", status, errors={"": message})
        return page(
            request,
            "invitations.html",
            status,
            invitations=_pending(request),
            errors={"": message},
        )

    if action not in ANSWERS:
        return refuse(400, "Choose accept, maybe or decline.")
    if len(comment) > MAX_COMMENT:
        return refuse(400, f"The reason may have at most {MAX_COMMENT} characters.")
    if shown.level < Level.WRITE:
        return refuse(403, "You may not change this calendar.")
    fields = compose.fields_of(shown.text)
    mine = next(
        (
            p.address
            for p in fields.participants or []
            if people.is_me(request.services.engine, request.user, p.address)
        ),
        "",
    )
    if not mine or people.is_me(request.services.engine, request.user, fields.organizer):
        return refuse(400, "You are not invited to this meeting.")
    text = compose.answered(shown.text, mine, ANSWERS[action], comment, _now())
    try:
        ef.write(request, "PUT", shown.dav_path, text, {"If-Match": shown.etag})
        if action == "decline":
            after = ef.read_event(request, shown.cal, shown.href)
            ef.write(
                request,
                "DELETE",
                shown.dav_path,
                "",
                {"If-Match": after.etag, "Schedule-Reply": "F"},
            )
    except ef.WriteRefused as exc:
        return refuse(exc.status, exc.reason)
    if back == "event" and action != "decline":
        return redirect(request.url("/event", cal=shown.cal, href=shown.href, done="answered"))
    return redirect(request.url("/invitations", done=action))


def _organized(request: WebRequest) -> tuple[ef.Shown, compose.EventFields]:
    shown = ef.read_event(request, request.field("cal"), request.field("href"))
    fields = compose.fields_of(shown.text)
    if not shown.may_write or not fields.organizer:
        raise errors.Forbidden("only the organizer may do this")
    if not people.is_me(request.services.engine, request.user, fields.organizer):
        raise errors.Forbidden("only the organizer may do this")
    return shown, fields


@route("POST", "/event/remind")
def remind(request: WebRequest) -> Response:
    shown, _fields = _organized(request)
    uid = str(compose.master(compose.parse(shown.text)).get("UID", ""))
    try:
        people.remind(request.services.storage, request.user, uid)
    except CalserverError as exc:
        return _show(request, shown, "", exc.status, errors={"": exc.reason})
    return redirect(request.url("/event", cal=shown.cal, href=shown.href, done="reminded"))


@route("POST", "/event/participant/remove")
def remove_participant(request: WebRequest) -> Response:
    shown, _fields = _organized(request)
    address = request.field("address")
    try:
        text = compose.without_participant(shown.text, address, _now())
    except compose.ComposeError:
        return _show(request, shown, "", 400, errors={"": "That person is not a participant."})
    try:
        ef.write(
            request, "PUT", shown.dav_path, text, {"If-Match": request.field("etag") or shown.etag}
        )
    except ef.WriteRefused as exc:
        latest = ef.read_event(request, shown.cal, shown.href)
        return _show(request, latest, "", exc.status, errors={"": exc.reason})
    return redirect(request.url("/event", cal=shown.cal, href=shown.href, done="removed"))
