"""The page modules of the web app; importing this package fills the route table
(calserver.web.routes). One module per area."""

from __future__ import annotations

from calserver.web.pages import (
    admin,
    availability,
    calendar,
    calendars,
    contacts,
    events,
    feeds,
    find,
    groups,
    login,
    meetings,
    polls,
    printing,
    reminders,
    settings,
    subscriptions,
    syncs,
)

__all__ = [
    "admin",
    "availability",
    "calendar",
    "calendars",
    "contacts",
    "events",
    "feeds",
    "find",
    "groups",
    "login",
    "meetings",
    "polls",
    "printing",
    "reminders",
    "settings",
    "subscriptions",
    "syncs",
]
