"""Names the server keeps for itself: no user, group or calendar may take them.

One list for every entry (CalDAV MKCALENDAR/MKCOL, ``calserver user add``, ``calserver
calendar create``, ``calserver group create``, the JSON API's group calendars), so that
a name refused by one is refused by all. Pure.
"""

from __future__ import annotations

from radicale import pathutils

#: The schedule inbox and outbox in every home (RFC 6638 2.1, 2.2): the server's.
MAILBOXES = frozenset({"inbox", "outbox"})
#: The proxy group principals in every home (caldav-proxy, ``calserver.delegation``).
PROXY_GROUPS = ("calendar-proxy-read", "calendar-proxy-write")
#: Names of collections in a home that belong to the server.
RESERVED = MAILBOXES | frozenset(PROXY_GROUPS)


def reserved(name: str) -> str | None:
    """Why ``name`` may not name a user, a group or a calendar, or None: a dot name
    (the server's side endpoints, ``/.web``, ``/.well-known``, the hidden staging
    collections) or one of :data:`RESERVED`."""
    if name.startswith("."):
        return "names starting with a dot are the server's"
    if name in MAILBOXES:
        return f"{name!r} is the schedule {name} of every home (RFC 6638 2.1, 2.2)"
    if name in PROXY_GROUPS:
        return f"{name!r} is a proxy group of every home (caldav-proxy)"
    return None


def reserved_path(path: str) -> bool:
    """Whether ``path`` names a collection in a home (``/USER/NAME/``) whose name is
    reserved: what MKCALENDAR and MKCOL refuse with 403."""
    segments = pathutils.strip_path(pathutils.sanitize_path(path)).split("/")
    return len(segments) == 2 and bool(segments[0]) and reserved(segments[1]) is not None
