"""One event in the web app (issue 14 section 4): see it (``/event``), create it
(``/event/new``), edit it (``/event/edit``: the whole series, one occurrence, or this
and the following ones), delete it (``/event/delete``) and duplicate it
(``/event/duplicate``).

Reads go through the storage's view of the signed-in user, so a busy-only viewer sees
"Busy" and the times, nothing else (DESIGN.md's table). Every write is an in-process
CalDAV request as the user (calserver.web.dav) with ``If-Match`` (edits, deletes) or
``If-None-Match: *`` (creates), so the rights, the checks and implicit scheduling hold
as for any client, and two editors never overwrite each other silently: a stale edit
answers 412 with both versions shown (RFC 9110 13.1.1).

The iCalendar text is made and changed by calserver.ical.compose (pure).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from calserver import errors, eventcolours
from calserver.accounts import settings as user_settings
from calserver.ical import compose
from calserver.ical.compose import EventFields
from calserver.scheduling import invitations
from calserver.scheduling import participants as people
from calserver.web import eventforms as ef
from calserver.web.http import Response, WebRequest, redirect
from calserver.web.pages.find import event_tag_values
from calserver.web.pages.reminders import check_choice, editor_options, event_context, remind_new
from calserver.web.render import page
from calserver.web.routes import route

SCOPES = ("occurrence", "following", "series")
#: Fixed notices for ``?done=`` (never text from the URL).
DONE = {
    "created": "The event was created.",
    "saved": "Your changes were saved.",
    "duplicated": "This is the copy of the event.",
    "deleted-occurrence": "That occurrence was deleted.",
    "deleted-following": "That occurrence and the following ones were deleted.",
    "reminded": "A reminder went to everyone who has not answered.",
    "removed": "The participant was removed from the meeting.",
    "answered": "Your answer was sent.",
}
PARTSTAT_NAMES = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "maybe",
    "NEEDS-ACTION": "has not answered",
    "DELEGATED": "delegated",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _zone(request: WebRequest) -> ZoneInfo:
    prefs = user_settings.get(request.services.engine, request.services.configuration, request.user)
    return prefs.zone


def _rid(request: WebRequest) -> str:
    value = request.arg("rid") or request.field("rid")
    if not value:
        return ""
    try:
        return compose.normal_rid(value)
    except compose.ComposeError as exc:
        raise errors.NotFound("there is no such occurrence") from exc


def _canonical(request: WebRequest, shown: ef.Shown, rid: str) -> str:
    """``rid`` as the stored series names its occurrences (compose.canonical_rid)."""
    try:
        return compose.canonical_rid(shown.text, rid, _zone(request).key)
    except compose.ComposeError as exc:
        raise errors.NotFound("there is no such occurrence") from exc


def _when(fields: EventFields, zone: ZoneInfo) -> str:
    start, end = fields.start, fields.end
    if fields.all_day:
        first = start.date() if isinstance(start, dt.datetime) else start
        last_day = end.date() if isinstance(end, dt.datetime) else end
        last = max(first, last_day - dt.timedelta(days=1))
        text = f"{first:%a %d %b %Y}"
        return text + (f" \u2013 {last:%a %d %b %Y}" if last != first else "") + ", all day"
    assert isinstance(start, dt.datetime) and isinstance(end, dt.datetime)
    here, there = start.astimezone(zone), end.astimezone(zone)
    text = f"{here:%a %d %b %Y, %H:%M} \u2013 "
    text += f"{there:%H:%M}" if there.date() == here.date() else f"{there:%a %d %b %Y, %H:%M}"
    return f"{text} ({zone.key})"


def _repeats(rule: compose.Recurrence | None) -> str:
    if rule is None:
        return ""
    unit = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}.get(
        rule.freq, rule.freq.lower()
    )
    text = f"Every {unit}" if rule.interval == 1 else f"Every {rule.interval} {unit}s"
    if rule.days:
        text += " on " + ", ".join(ef.DAY_NAMES.get(d, d) for d in rule.days)
    if rule.count:
        text += f", {rule.count} times"
    elif rule.until:
        text += f", until {rule.until:%d %b %Y}"
    return text


def _participants(text: str, rid: str) -> list[dict[str, str]]:
    """Each attendee's answer and reason, as the stored copy holds them."""
    calendar = compose.parse(text)
    component = compose.occurrence(calendar, rid) if rid else None
    component = component if component is not None else compose.master(calendar)
    organizer = component.get("ORGANIZER")
    shown = []
    for attendee in compose.itip.attendees(component):
        address = str(attendee)
        if organizer is not None and compose.itip.normal(address) == compose.itip.normal(
            str(organizer)
        ):
            continue
        group = str(attendee.params.get("CUTYPE", "")).upper() == "GROUP"
        partstat = str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
        comment = next(
            (str(attendee.params[p]) for p in invitations.COMMENT_PARAMS if attendee.params.get(p)),
            "",
        )
        shown.append(
            {
                "address": address,
                "name": str(attendee.params.get("CN", ""))
                or people.spelled(compose.Participant(address)),
                "partstat": "GROUP" if group else partstat,
                "answer": "group" if group else PARTSTAT_NAMES.get(partstat, partstat.lower()),
                "comment": comment,
            }
        )
    return shown


def _overall(shown: list[dict[str, str]]) -> str:
    """The meeting's pictogram: declined if someone declined, waiting if someone has
    not answered, else accepted."""
    answers = {p["partstat"] for p in shown if p["partstat"] != "GROUP"}
    if "DECLINED" in answers:
        return "DECLINED"
    if answers - {"ACCEPTED"}:
        return "NEEDS-ACTION"
    return "ACCEPTED"


def _meeting_roles(request: WebRequest, fields: EventFields) -> tuple[bool, str]:
    """(the user organizes this meeting or it is no meeting, the user's attendee
    address if they are invited by someone else)."""
    if not fields.organizer:
        return True, ""
    if people.is_me(request.services.engine, request.user, fields.organizer):
        return True, ""
    for participant in fields.participants or []:
        if people.is_me(request.services.engine, request.user, participant.address):
            return False, participant.address
    return False, ""


# --- see ------------------------------------------------------------------------------


@route("GET", "/event")
def show(request: WebRequest) -> Response:
    shown = ef.read_event(request, request.arg("cal"), request.arg("href"))
    return _show(request, shown, _canonical(request, shown, _rid(request)))


def _show(
    request: WebRequest, shown: ef.Shown, rid: str, status: int = 200, **extra: Any
) -> Response:
    zone = _zone(request)
    try:
        fields = compose.fields_of(shown.text, rid, zone.key)
    except compose.ComposeError as exc:
        raise errors.NotFound("there is no such occurrence") from exc
    organizes, my_address = _meeting_roles(request, fields)
    repeating = fields.recurrence is not None
    participants = [] if shown.busy else _participants(shown.text, rid)
    my_answer = next((p for p in participants if my_address and p["address"] == my_address), None)
    return page(
        request,
        "event.html",
        status,
        shown=shown,
        fields=fields,
        title="Busy" if shown.busy else (fields.summary or "(no title)"),
        when=_when(fields, zone),
        repeats=_repeats(fields.recurrence) if repeating else "",
        repeating=repeating,
        rid=rid,
        availability=ef.AVAILABILITY_NAMES.get(fields.availability, fields.availability),
        visibility=ef.VISIBILITY_NAMES.get(fields.visibility, fields.visibility),
        participants=participants,
        overall=_overall(participants) if participants else "",
        organizer=people.spelled(compose.Participant(fields.organizer)) if fields.organizer else "",
        organizes=organizes and bool(participants),
        may_write=shown.may_write and organizes,
        my_address=my_address,
        my_answer=my_answer,
        notice=DONE.get(request.arg("done"), ""),
        **event_context(request, shown),  # the user's e-mail/SMS reminders
        **event_tag_values(request, shown.cal, shown.href),  # the person's own tags
        **extra,
    )


# --- create ---------------------------------------------------------------------------


def _start_of(value: str, zone: ZoneInfo) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(9, 0))
        except ValueError:
            return None
    return moment.replace(tzinfo=None)


def _form(
    request: WebRequest,
    mode: str,
    values: dict[str, Any],
    writable: list[ef.Writable],
    status: int = 200,
    **extra: Any,
) -> Response:
    extra.setdefault("errors", {})
    extra.setdefault("shown", None)
    extra.setdefault("rid", "")
    extra.setdefault("scope", "series")
    extra.setdefault("repeating", False)
    extra.setdefault("organizes", True)
    extra.setdefault("current", None)
    extra.setdefault("reminder_options", editor_options(request))
    return page(
        request,
        "event_form.html",
        status,
        mode=mode,
        values=values,
        writable=writable,
        weekdays=ef.DAY_NAMES,
        repeats=ef.REPEAT_NAMES,
        availabilities=ef.AVAILABILITY_NAMES,
        visibilities=ef.VISIBILITY_NAMES,
        **extra,
    )


@route("GET", "/event/new")
def new_form(request: WebRequest) -> Response:
    writable = ef.writable_calendars(request)
    if not writable:
        raise errors.Conflict("you have no calendar you may add events to; create one first")
    cal = request.arg("cal").strip("/")
    if cal not in {w.path for w in writable}:
        cal = writable[0].path
    zone = _zone(request)
    start = _start_of(request.arg("start"), zone)
    if start is None:
        start = dt.datetime.now(zone).replace(tzinfo=None, minute=0, second=0, microsecond=0)
        start += dt.timedelta(hours=1)
    values = ef.defaults(request, start, request.arg("allday") == "1", cal)
    return _form(request, "new", values, writable)


@route("POST", "/event/new")
def create(request: WebRequest) -> Response:
    writable = ef.writable_calendars(request)
    values = ef.submitted(request)
    fields, problems = ef.parse(request, values, writable, organizer=True)
    check_choice(request, values, problems)
    if fields is None or problems:
        return _form(request, "new", values, writable, 400, errors=problems)
    href = ef.new_href()
    text = compose.new_event(fields, _now())
    try:
        ef.write(request, "PUT", f"/{values['calendar']}/{href}", text, {"If-None-Match": "*"})
    except ef.WriteRefused as exc:
        return _form(request, "new", values, writable, exc.status, errors={"": exc.reason})
    if values["colour"]:
        _set_colour(request, values, values["calendar"], text)
    remind_new(request, values, text)
    return redirect(request.url("/event", cal=values["calendar"], href=href, done="created"))


def _set_colour(request: WebRequest, values: dict[str, Any], cal: str, text: str) -> None:
    """The user's own colour for the event (calserver.eventcolours: kept beside the
    event for this user only, never written into it, so a meeting's other people never
    see it); "" takes it away."""
    uid = str(compose.master(compose.parse(text)).get("UID", ""))
    eventcolours.set_colour(request.services.engine, request.user, cal, uid, values["colour"])


# --- edit -----------------------------------------------------------------------------


def _scope(request: WebRequest, rid: str) -> str:
    scope = request.field("scope") or request.arg("scope") or ("occurrence" if rid else "series")
    if scope not in SCOPES:
        raise errors.InvalidInput("choose occurrence, following or series")
    return scope if rid else "series"


def _editable(request: WebRequest) -> tuple[ef.Shown, str]:
    shown = ef.read_event(
        request,
        request.arg("cal") or request.field("cal"),
        request.arg("href") or request.field("href"),
    )
    if not shown.may_write:
        raise errors.Forbidden("you may not change this calendar")
    return shown, _canonical(request, shown, _rid(request))


@route("GET", "/event/edit")
def edit_form(request: WebRequest) -> Response:
    shown, rid = _editable(request)
    zone = _zone(request)
    try:
        fields = compose.fields_of(shown.text, rid, zone.key)
    except compose.ComposeError as exc:
        raise errors.NotFound("there is no such occurrence") from exc
    organizes, _mine = _meeting_roles(request, fields)
    if not organizes:
        raise errors.Forbidden("only the organizer may change this meeting")
    values = ef.values_of(fields, shown.cal)
    uid = str(compose.master(compose.parse(shown.text)).get("UID", ""))
    values["colour"] = eventcolours.colour_of(request.services.engine, request.user, shown.cal, uid)
    return _form(
        request,
        "edit",
        values,
        ef.writable_calendars(request),
        shown=shown,
        rid=rid,
        scope=_scope(request, rid),
        repeating=fields.recurrence is not None,
        etag=shown.etag,
    )


@route("POST", "/event/edit")
def save(request: WebRequest) -> Response:
    shown, rid = _editable(request)
    zone = _zone(request)
    scope = _scope(request, rid)
    writable = [w for w in ef.writable_calendars(request) if w.path == shown.cal] or [
        ef.Writable(shown.cal, shown.calendar_name)
    ]
    values = ef.submitted(request)
    values["calendar"] = shown.cal  # moving to another calendar: duplicate, then delete
    current = compose.fields_of(shown.text, rid, zone.key)
    organizes, _mine = _meeting_roles(request, current)
    if not organizes:
        raise errors.Forbidden("only the organizer may change this meeting")
    etag = request.field("etag")
    common = {
        "shown": shown,
        "rid": rid,
        "scope": scope,
        "repeating": current.recurrence is not None,
        "etag": etag,
    }
    fields, problems = ef.parse(request, values, writable, organizer=True)
    if fields is None:
        return _form(request, "edit", values, writable, 400, errors=problems, **common)
    if etag and etag != shown.etag:
        return _conflict(request, values, writable, shown, common, zone)
    now = _now()
    try:
        if scope == "occurrence" or (scope == "following" and not rid):
            text = compose.edit(shown.text, fields, now, rid=rid)
            ef.write(request, "PUT", shown.dav_path, text, {"If-Match": etag or shown.etag})
            target = shown.href
        elif scope == "following" and not compose.is_first(shown.text, rid):
            old, new = compose.split(shown.text, rid, fields, now)
            ef.write(request, "PUT", shown.dav_path, old, {"If-Match": etag or shown.etag})
            target = ef.new_href()
            ef.write(request, "PUT", f"/{shown.cal}/{target}", new, {"If-None-Match": "*"})
            _set_colour(request, values, shown.cal, new)
            rid = ""
        else:
            series = _series_fields(shown.text, rid, fields, zone)
            text = compose.edit(shown.text, series, now)
            ef.write(request, "PUT", shown.dav_path, text, {"If-Match": etag or shown.etag})
            target, rid = shown.href, ""
    except ef.WriteRefused as exc:
        if exc.status == 412:
            return _conflict(
                request,
                values,
                writable,
                ef.read_event(request, shown.cal, shown.href),
                common,
                zone,
            )
        return _form(
            request, "edit", values, writable, exc.status, errors={"": exc.reason}, **common
        )
    except compose.ComposeError as exc:
        return _form(request, "edit", values, writable, 400, errors={"": str(exc)}, **common)
    _set_colour(request, values, shown.cal, shown.text)
    return redirect(request.url("/event", cal=shown.cal, href=target, rid=rid, done="saved"))


def _series_fields(text: str, rid: str, fields: EventFields, zone: ZoneInfo) -> EventFields:
    """A change of the whole series made from one occurrence's form: the series moves by
    as much as that occurrence moved; its length becomes the form's."""
    if not rid:
        return fields
    before = compose.fields_of(text, rid, zone.key)
    base = compose.fields_of(text, "", zone.key)
    if before.all_day != fields.all_day or isinstance(base.start, dt.datetime) != isinstance(
        fields.start, dt.datetime
    ):
        return fields
    shift = fields.start - before.start  # type: ignore[operator]
    length = fields.end - fields.start  # type: ignore[operator]
    start = base.start + shift
    return EventFields(**{**fields.__dict__, "start": start, "end": start + length})


def _conflict(
    request: WebRequest,
    values: dict[str, Any],
    writable: list[ef.Writable],
    latest: ef.Shown,
    common: dict[str, Any],
    zone: ZoneInfo,
) -> Response:
    """RFC 9110 13.1.1: the event changed since the form was opened. The user's input
    stays in the form and the stored version is shown beside it; sending again (with
    the new ETag) replaces that version on purpose."""
    current = compose.fields_of(latest.text, common["rid"], zone.key)
    common = {**common, "etag": latest.etag, "shown": latest}
    return _form(
        request,
        "edit",
        values,
        writable,
        412,
        errors={
            "": "Someone changed this event while you were editing it. Their version is "
            "shown below and your changes are kept in the form: check both, then save "
            "again to replace their version with yours."
        },
        current={
            "title": current.summary,
            "when": _when(current, zone),
            "location": current.location,
            "description": current.description,
        },
        **common,
    )


# --- delete ---------------------------------------------------------------------------


@route("POST", "/event/delete")
def delete(request: WebRequest) -> Response:
    shown, rid = _editable(request)
    scope = _scope(request, rid)
    etag = request.field("etag") or shown.etag
    now = _now()
    try:
        if scope == "occurrence":
            ef.write(
                request,
                "PUT",
                shown.dav_path,
                compose.exclude(shown.text, rid, now),
                {"If-Match": etag},
            )
            done = "deleted-occurrence"
        elif scope == "following" and not compose.is_first(shown.text, rid):
            text = compose.end_before(shown.text, rid, now)
            ef.write(request, "PUT", shown.dav_path, text, {"If-Match": etag})
            done = "deleted-following"
        else:
            ef.write(request, "DELETE", shown.dav_path, "", {"If-Match": etag})
            return redirect(request.url("/calendar", done="deleted"))
    except ef.WriteRefused as exc:
        return _show(
            request,
            ef.read_event(request, shown.cal, shown.href),
            rid,
            exc.status,
            errors={"": exc.reason},
        )
    except compose.ComposeError as exc:
        return _show(request, shown, rid, 400, errors={"": str(exc)})
    return redirect(request.url("/event", cal=shown.cal, href=shown.href, done=done))


# --- duplicate ------------------------------------------------------------------------


def _copyable(request: WebRequest) -> ef.Shown:
    shown = ef.read_event(
        request,
        request.arg("cal") or request.field("cal"),
        request.arg("href") or request.field("href"),
    )
    if shown.busy:
        raise errors.Forbidden("you may not copy an event whose details you cannot see")
    return shown


@route("GET", "/event/duplicate")
def duplicate_form(request: WebRequest) -> Response:
    shown = _copyable(request)
    writable = ef.writable_calendars(request)
    fields = compose.fields_of(shown.text, "", _zone(request).key)
    target = (
        shown.cal
        if shown.cal in {w.path for w in writable}
        else (writable[0].path if writable else "")
    )
    return page(
        request,
        "event_duplicate.html",
        shown=shown,
        title=fields.summary,
        writable=writable,
        target=target,
    )


@route("POST", "/event/duplicate")
def duplicate(request: WebRequest) -> Response:
    shown = _copyable(request)
    writable = ef.writable_calendars(request)
    target = request.field("calendar")
    fields = compose.fields_of(shown.text, "", _zone(request).key)

    def again(status: int, problems: dict[str, str]) -> Response:
        return page(
            request,
            "event_duplicate.html",
            status,
            shown=shown,
            title=fields.summary,
            writable=writable,
            target=target,
            errors=problems,
        )

    if target not in {w.path for w in writable}:
        return again(400, {"calendar": "Choose one of the calendars you may change."})
    href = ef.new_href()
    try:
        ef.write(
            request,
            "PUT",
            f"/{target}/{href}",
            compose.duplicate(shown.text, _now()),
            {"If-None-Match": "*"},
        )
    except ef.WriteRefused as exc:
        return again(exc.status, {"": exc.reason})
    return redirect(request.url("/event", cal=target, href=href, done="duplicated"))
