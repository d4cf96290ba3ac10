"""Reminders in the web app (issue 16): the reminder choice on an event's page
(``POST /event/reminders``: add one by e-mail or SMS, or cancel one), and the page
``/.web/settings/reminders``: every reminder of the user, their phone for SMS (with its
one-time code) and their agenda by e-mail or SMS (days, local time, same or next day,
extra calendars, "send now"). Each form calls the same service as the JSON API
(``calserver.reminders``); a refusal is shown next to the form, nothing changed.

Fields: ``/event/reminders``: ``cal``, ``href``, ``rid``, ``action`` (add, cancel),
``channel``, ``minutes``, ``id``. ``/settings/reminders``: ``action`` = ``phone``
(``number``), ``verify`` (``code``), ``forget-phone``, ``agenda`` (``days`` repeated
mo..su, ``time``, ``content``, ``channel``, ``calendars`` repeated), ``send-now``,
``cancel`` (``id``).
"""

from __future__ import annotations

from typing import Any

from calserver import agenda
from calserver.errors import CalserverError
from calserver.ical import compose
from calserver.reminders import agenda_mail, sms, store
from calserver.web import eventforms as ef
from calserver.web.http import Response, WebRequest, redirect
from calserver.web.render import page
from calserver.web.routes import route

PATH = "/settings/reminders"
#: The offsets the pages offer (minutes before the start).
CHOICES = (
    (0, "At the start"),
    (5, "5 minutes before"),
    (10, "10 minutes before"),
    (15, "15 minutes before"),
    (30, "30 minutes before"),
    (60, "1 hour before"),
    (120, "2 hours before"),
    (1440, "1 day before"),
    (2880, "2 days before"),
    (10080, "1 week before"),
)
DAYS = (
    ("mo", "Monday"),
    ("tu", "Tuesday"),
    ("we", "Wednesday"),
    ("th", "Thursday"),
    ("fr", "Friday"),
    ("sa", "Saturday"),
    ("su", "Sunday"),
)
#: The notices a redirect may name (never text from the URL).
DONE = {
    "reminder-added": "The reminder is set.",
    "reminder-cancelled": "The reminder is cancelled.",
    "code-sent": "A code was sent to your phone by SMS: enter it below.",
    "verified": "Your phone number is verified: SMS may go to it.",
    "phone-forgotten": "Your phone number is removed: no SMS goes out any more.",
    "agenda": "Your agenda is saved.",
    "agenda-off": "Your agenda is off (no day is ticked).",
    "sent": "Your agenda was sent.",
    "empty": "Your agenda is empty for that day: nothing was sent.",
}


def _uid(text: str) -> str:
    return str(compose.master(compose.parse(text)).get("UID", ""))


def event_context(request: WebRequest, shown: ef.Shown) -> dict[str, Any]:
    """What the event page shows of the user's reminders of ``shown``."""
    services = request.services
    try:
        found = store.for_event(services.engine, request.user, shown.cal, _uid(shown.text))
    except CalserverError as exc:
        return {"reminders": None, "reminders_refused": exc.reason}
    with services.engine.connect() as conn:
        zone = store.zone_of(conn, services.configuration, request.user)
    return {
        "reminders": [r.as_json(zone, due) for r, due in found],
        "reminders_refused": "",
        "reminder_choices": CHOICES,
        "sms_ready": _sms_ready(request),
        "reminder_notice": DONE.get(request.arg("done"), ""),
    }


def editor_options(request: WebRequest) -> list[tuple[str, str]]:
    """The event editor's reminder choices: ``email-15`` ... (SMS with a verified phone)."""
    channels = [("email", "by e-mail")] + ([("sms", "by SMS")] if _sms_ready(request) else [])
    return [
        (f"{channel}-{minutes}", f"{label} {words}")
        for channel, words in channels
        for minutes, label in CHOICES
    ]


def check_choice(request: WebRequest, values: dict[str, Any], problems: dict[str, str]) -> None:
    choice = values.get("reminder", "")
    if choice and choice not in {key for key, _ in editor_options(request)}:
        problems["reminder"] = "Choose one of the reminders offered."


def remind_new(request: WebRequest, values: dict[str, Any], text: str) -> None:
    """The reminder chosen in the editor for the event just created."""
    choice = values.get("reminder", "")
    if not choice:
        return
    channel, _, minutes = choice.partition("-")
    services = request.services
    try:
        store.add(
            services.engine,
            services.configuration,
            request.user,
            values["calendar"],
            _uid(text),
            channel,
            minutes_before=int(minutes),
        )
    except CalserverError:  # e.g. the calendar refuses reminders: the event stays
        return


def _sms_ready(request: WebRequest) -> bool:
    phone = sms.get_phone(request.services.engine, request.user)
    return bool(phone and phone.verified) and (
        request.services.configuration.get("sms", "backend") != "none"
    )


@route("POST", "/event/reminders")
def event_reminders(request: WebRequest) -> Response:
    shown = ef.read_event(request, request.field("cal"), request.field("href"))
    services = request.services
    back = {"cal": shown.cal, "href": shown.href, "rid": request.field("rid")}
    try:
        if request.field("action") == "cancel":
            number = request.field("id")
            store.cancel(services.engine, request.user, int(number) if number.isdigit() else 0)
            done = "reminder-cancelled"
        else:
            minutes = request.field("minutes")
            store.add(
                services.engine,
                services.configuration,
                request.user,
                shown.cal,
                _uid(shown.text),
                request.field("channel") or "email",
                minutes_before=int(minutes) if minutes.isdigit() else -1,
            )
            done = "reminder-added"
    except CalserverError as exc:
        return _event_refused(request, shown, exc)
    return redirect(request.url("/event", **back, done=done))


def _event_refused(request: WebRequest, shown: ef.Shown, exc: CalserverError) -> Response:
    return page(
        request,
        "error.html",
        exc.status,
        message=exc.reason,
        back=request.url("/event", cal=shown.cal, href=shown.href),
    )


# --- the settings page ------------------------------------------------------------------


def _page(
    request: WebRequest,
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    services = request.services
    with services.engine.connect() as conn:
        zone = store.zone_of(conn, services.configuration, request.user)
    current = agenda_mail.get(services.engine, request.user)
    found = store.list_for(services.engine, request.user)
    extra = [c for c in agenda.calendars(services.storage, request.user) if c.kind != "own"]
    return page(
        request,
        "reminders.html",
        status,
        reminders=[r.as_json(zone, due) for r, due in found],
        phone=sms.get_phone(services.engine, request.user),
        sms_available=services.configuration.get("sms", "backend") != "none",
        agenda=form or current.as_json(zone.key),
        days=DAYS,
        extra_calendars=extra,
        zone=zone.key,
        errors=errors or {},
        notice=DONE.get(request.arg("done"), ""),
    )


@route("GET", PATH)
def show(request: WebRequest) -> Response:
    return _page(request)


@route("POST", PATH)
def save(request: WebRequest) -> Response:
    services = request.services
    engine, configuration, user = services.engine, services.configuration, request.user
    action = request.field("action")
    form: dict[str, Any] | None = None
    try:
        if action == "phone":
            sms.set_phone(engine, configuration, user, request.field("number"))
            done = "code-sent"
        elif action == "verify":
            sms.verify_phone(engine, user, request.field("code"))
            done = "verified"
        elif action == "forget-phone":
            sms.remove_phone(engine, user)
            done = "phone-forgotten"
        elif action == "agenda":
            form = {
                "days": request.fields("days"),
                "time": request.field("time"),
                "content": request.field("content") or "same",
                "channel": request.field("channel") or "email",
                "calendars": request.fields("calendars"),
            }
            saved = agenda_mail.set_agenda(engine, configuration, services.storage, user, form)
            done = "agenda" if saved.enabled else "agenda-off"
        elif action == "send-now":
            sent = agenda_mail.send_now(engine, configuration, services.storage, user)
            done = "sent" if sent["sent"] else "empty"
        elif action == "cancel":
            number = request.field("id")
            store.cancel(engine, user, int(number) if number.isdigit() else 0)
            done = "reminder-cancelled"
        else:
            return _page(request, 400, errors={action or "": "Unknown action."})
    except CalserverError as exc:
        if form is not None:
            form = {**form, "timezone": ""}
        return _page(request, exc.status, errors={action: exc.reason}, form=form)
    return redirect(request.url(PATH, done=done))
