"""Every URL of a calendar as one viewer sees it (``calserver urls``, the API): the
CalDAV collection, ``calendar.ics`` and the four RSS feeds behind the user's password,
the same behind the user's secret token, and the public pages when published."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from calserver.errors import NotFound
from calserver.feeds import access
from calserver.ical import occurrences
from calserver.sharing.levels import Level
from calserver.storage import Storage
from calserver.urls import FEED_PREFIXES, FEEDS, public_path, secret_path

#: The URL space of the feeds: behind the user's password, behind a secret token, public.
PREFIXES = FEED_PREFIXES
#: The files of a calendar's feed: its iCalendar file and one RSS feed of each kind.
RSS_FILES = {f"{kind}.rss": kind for kind in occurrences.FEED_KINDS}
ICS_FILE = "calendar.ics"

#: Keys of the files behind each kind of access (promises: ``urls --json``).
FILES = {"ics": ICS_FILE, **{f"rss_{kind}": name for name, kind in RSS_FILES.items()}}


def calendar_urls(storage: Storage, configuration: Any, path: str, base: str) -> dict[str, str]:
    """``path`` is the calendar as its viewer sees it: ``USER/CAL``, a calendar shared
    with the user (``bob/alice~work``), or ``@GROUP/CAL`` (no viewer: no feed URLs).
    ``base`` is the server's URL with the deployment prefix, without a final slash."""
    home, _, cal = path.strip("/").partition("/")
    if not home or not cal or "/" in cal:
        raise NotFound(f"no calendar {path}")
    calendar = f"{home}/{cal}"
    viewer = None if home.startswith("@") else home
    if viewer is None:
        found = storage.load_collection(calendar)
    else:
        found = storage.open_collection(calendar, viewer)
    if found is None or found.tag != "VCALENDAR" or found.level < Level.BUSY:
        raise NotFound(f"no calendar {calendar}")
    where = f"{quote(home)}/{quote(cal)}/"
    urls = {"caldav": f"{base}/{where}"}
    if viewer is not None:
        for key, name in FILES.items():
            urls[key] = f"{base}{FEEDS}/{where}{name}"
        token = access.secret_token(storage.engine, configuration, viewer, calendar)
        for key, name in FILES.items():
            urls[f"secret_{key}"] = f"{base}{secret_path(token)}/{name}"
    target = found.view.target if found.view is not None else calendar
    published = access.publication(storage.engine, configuration, target)
    if published is not None:
        urls["public_html"] = f"{base}{public_path(published.token)}/"
        urls["public_embed"] = f"{base}{public_path(published.token)}/embed"
        urls["public_ics"] = f"{base}{public_path(published.token)}/{ICS_FILE}"
    return urls
