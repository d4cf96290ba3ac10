"""What the management pages (calendars, sharing, groups, feeds, settings,
administration) share: the success notices behind a fixed key in the query
(``?done=shared``, never text from the URL), the redirect after a form, and the
calendars of the signed-in user's home as they see them."""

from __future__ import annotations

from dataclasses import dataclass

from calserver import agenda, calendars
from calserver.errors import CalserverError
from calserver.sharing import manage
from calserver.web.http import Response, WebRequest, redirect

#: The success notices of the management pages, by key.
NOTICES = {
    "created": "The calendar was created.",
    "renamed": "The calendar's name and colour were saved.",
    "deleted": "The calendar was deleted.",
    "added": "The calendar was added to your calendars.",
    "removed": "The calendar was removed from your calendars.",
    "shared": "The calendar is shared.",
    "changed": "The access was changed.",
    "revoked": "The access was taken back.",
    "accepted": "You are now a member of the group.",
    "declined": "The invitation was declined.",
    "left": "You left the group.",
    "group-created": "The group was created.",
    "group-deleted": "The group and its calendars were deleted.",
    "invited": "The invitation was sent; it counts once it is accepted.",
    "role": "The member's role was changed.",
    "member-removed": "The member was removed.",
    "published": "The calendar's publication was saved.",
    "unpublished": "The calendar is no longer public; its public links no longer work.",
    "public-reset": "The calendar has new public links; the old ones no longer work.",
    "feeds-reset": "All your feed links were replaced; the old ones no longer work.",
    "settings": "Your settings were saved.",
    "password": "Your password was changed; every other session was signed out.",
    "user-added": "The user was created.",
    "user-disabled": "The user was disabled and signed out everywhere.",
    "user-enabled": "The user may sign in again.",
    "user-deleted": "The user and their calendars were deleted.",
}


def notice(request: WebRequest) -> str:
    return NOTICES.get(request.arg("done"), "")


def done(request: WebRequest, path: str, key: str, **query: str) -> Response:
    """POST-redirect-GET (RFC 9110 15.4.4) to ``path`` with the notice ``key``."""
    return redirect(request.url(path, done=key, **query))


def reason(exc: CalserverError) -> str:
    """An error's message as a sentence for a page."""
    text = exc.reason.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


@dataclass(frozen=True)
class HomeCalendar:
    """A calendar in the user's home as they see it."""

    #: the calendar's own path (``alice/work``, ``@team/plans``)
    path: str
    #: where it is in the user's home (``alice/work``, ``bob/alice~work``)
    seen_as: str
    name: str
    color: str
    #: "owner", or the level the user sees it at (busy, read, write)
    level: str
    #: an "other calendar" the user added
    added: bool = False
    events: int = 0

    @property
    def own(self) -> bool:
        return self.level == "owner"

    @property
    def group(self) -> bool:
        return self.path.startswith("@")

    @property
    def css_class(self) -> str:
        """The class of /.web/colours.css that gives this calendar the colour the user
        sees (calserver.agenda.calendar_key of its own path, as on the calendar page)."""
        return cal_class(self.path)


def cal_class(path: str) -> str:
    """The colour class (``cal-KEY``) of the calendar whose own path is ``path``."""
    return "cal-" + agenda.calendar_key(path)


def home_calendars(request: WebRequest) -> list[HomeCalendar]:
    """The user's own calendars, then those shared with them, of their groups and the
    other calendars they added, each with the name and colour the user sees."""
    storage = request.services.storage
    user = request.user
    found = [
        HomeCalendar(
            info.path, info.path, info.name or info.path, info.color, "owner", False, info.events
        )
        for info in calendars.list_calendars(storage, user)
    ]
    for entry in manage.calendars_shared_with(request.services.engine, user):
        seen_as = f"{user}/{entry.alias}"
        name, color = entry.calendar, ""
        collection = storage.open_collection(seen_as, user)
        if collection is not None:
            name = collection.get_meta("D:displayname") or entry.calendar
            color = collection.get_meta("ICAL:calendar-color") or ""
        found.append(HomeCalendar(entry.calendar, seen_as, name, color, entry.level, entry.added))
    return found
