"""The URL space calserver keeps for itself, in one place (pure, L0).

Beside CalDAV (Radicale's tree ``/USER/CAL/``), the server answers under paths no user,
group or calendar can take, because every name starting with a dot is the server's:

- ``/.api/`` (:data:`API`): the management JSON API (``calserver.api``), its version
  root :data:`API_ROOT`;
- ``/.feeds/``, ``/.secret/``, ``/.public/`` (:data:`FEED_PREFIXES`): calendar.ics, RSS
  and public pages (``calserver.feeds.web``); after ``/.secret/`` and ``/.public/``
  comes a credential (a token), never logged;
- ``/.invite/`` (:data:`INVITE`): the answer links of meeting invitations
  (``calserver.scheduling.web``), a token too;
- ``/.push/`` (:data:`PUSH`): WebDAV-Push registrations (``calserver.dav.push``),
  ``/.attachments/`` (:data:`ATTACHMENTS`): RFC 8607 managed attachments
  (``calserver.dav.attachments``);
- ``/.web/`` (:data:`WEB`) and ``/.well-known/`` (:data:`WELL_KNOWN`, RFC 6764
  ``caldav`` and ``carddav``): Radicale's own;
- ``/health`` and ``/.health`` (:data:`HEALTH_PATHS`), ``/metrics`` and ``/.metrics``
  (:data:`METRICS_PATHS`): the operations endpoints (``calserver.ops``).

In every home the schedule inbox and outbox (RFC 6638 2.1, 2.2) and the caldav-proxy
groups are the server's too (:data:`RESERVED`, :func:`reserved`): one list for every
entry (CalDAV MKCALENDAR/MKCOL, ``calserver user add``, ``calserver calendar create``,
``calserver group create``, the JSON API), so that a name refused by one is refused by
all.

Last, where calserver is reached: the deployment prefix behind a proxy
(:func:`base_prefix`), the origin of absolute links (:func:`origin`) and the server's
own base URL (:func:`base_url`). DESIGN.md: every link a side endpoint prints honours
the prefix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from radicale import config as radicale_config
from radicale import pathutils

from calserver.errors import InvalidInput

# --- the side endpoints -------------------------------------------------------------

#: The management JSON API; every path under it belongs to the API.
API = "/.api"
#: The API's current version root (``/.api/v1/openapi.json`` describes it).
API_ROOT = API + "/v1"
#: Feeds read signed in with the CalDAV user name and password.
FEEDS = "/.feeds"
#: A user's secret feed URLs: ``/.secret/TOKEN/...``.
SECRET = "/.secret"
#: Published calendars, anonymous: ``/.public/TOKEN/...``.
PUBLIC = "/.public"
#: The answer links of meeting invitations: ``/.invite/TOKEN``.
INVITE = "/.invite"
#: Meeting poll voters' links: ``/.poll/TOKEN`` (``calserver.polls.web``).
POLL = "/.poll"
#: WebDAV-Push registrations: ``/.push/TOKEN`` (``calserver.dav.push``).
PUSH = "/.push"
#: Managed attachments (RFC 8607): ``/.attachments/ID/FILENAME`` (``calserver.dav.attachments``).
ATTACHMENTS = "/.attachments"
#: Radicale's web interface.
WEB = "/.web"
#: RFC 8615 well-known URIs (RFC 6764 ``/.well-known/caldav``, ``carddav``).
WELL_KNOWN = "/.well-known"
#: What ``calserver.feeds.web`` answers.
FEED_PREFIXES = (FEEDS, SECRET, PUBLIC)
#: Prefixes whose next segment is a credential: logged as ``PREFIX/…``.
TOKEN_PREFIXES = (SECRET, PUBLIC, INVITE, POLL)
#: The operations endpoints (GET and HEAD; metrics only on ``[server] metrics_hosts``).
HEALTH_PATHS = frozenset({"/health", "/.health"})
METRICS_PATHS = frozenset({"/metrics", "/.metrics"})


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` itself or a path below it (``/.api`` and
    ``/.api/x``, not ``/.apix``)."""
    return path == prefix or path.startswith(prefix + "/")


def under_any(path: str, prefixes: Iterable[str]) -> bool:
    return any(under(path, prefix) for prefix in prefixes)


def log_path(path: str, prefixes: Iterable[str] = TOKEN_PREFIXES) -> str:
    """``path`` as it may be logged: what follows one of ``prefixes`` (a token) is
    cut to ``…``."""
    for prefix in prefixes:
        if path.startswith(prefix + "/"):
            return prefix + "/…"
    return path


def secret_path(token: str) -> str:
    return f"{SECRET}/{token}"


def public_path(token: str) -> str:
    return f"{PUBLIC}/{token}"


def invite_path(token: str) -> str:
    return f"{INVITE}/{token}"


# --- names in a home ----------------------------------------------------------------

#: The schedule inbox and outbox in every home (RFC 6638 2.1, 2.2): the server's.
MAILBOXES = frozenset({"inbox", "outbox"})
#: The proxy group principals in every home (caldav-proxy, ``calserver.dav.delegation``).
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


# --- where calserver is reached -----------------------------------------------------


def base_prefix(environ: dict[str, Any]) -> str:
    """The prefix of every URL calserver prints: ``X-Script-Name`` from a proxy, else
    ``SCRIPT_NAME`` (as Radicale takes it)."""
    prefix = str(environ.get("HTTP_X_SCRIPT_NAME", environ.get("SCRIPT_NAME", "")))
    if prefix and not prefix.startswith("/"):
        raise InvalidInput("X-Script-Name must start with '/'")
    return prefix.rstrip("/")


def origin(environ: dict[str, Any], configuration: Any) -> str:
    """Scheme and host of absolute links (RSS, URLs to paste into another application):
    those of ``[server] public_url`` when set, else the request's own (the Host header
    a proxy passes on)."""
    public = configuration.get("server", "public_url")
    if public:
        parts = urlsplit(public)
        return f"{parts.scheme}://{parts.netloc}"
    host = environ.get("HTTP_HOST") or "{}:{}".format(
        environ.get("SERVER_NAME", "localhost"), environ.get("SERVER_PORT", "80")
    )
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"


def base_url(configuration: radicale_config.Configuration) -> str:
    """The server's own absolute URL, without a trailing slash: ``[server] public_url``
    when set, else the first address of ``[server] hosts`` (``calserver urls``, the
    links in invitation e-mails)."""
    public = configuration.get("server", "public_url")
    if public:
        return str(public).rstrip("/")
    host, port = configuration.get("server", "hosts")[0]
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if configuration.get("server", "ssl") else "http"
    return f"{scheme}://{host}:{port}"
