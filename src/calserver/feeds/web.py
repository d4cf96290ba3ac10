"""The side endpoints of issue 4, one WSGI application under three reserved prefixes
(dot-prefixed: no user or calendar name can collide with them):

- ``/.feeds/OWNER/CAL/...``: signed in with the CalDAV user name and password
  (``OWNER/CAL`` is the calendar as the user sees it, ``bob/alice~work`` included);
- ``/.secret/TOKEN/...``: a user's secret URL (``calserver.feeds.access``);
- ``/.public/TOKEN/...``: a published calendar, anonymous.

Under each: ``calendar.ics``, ``today.rss``, ``week.rss``, ``month.rss``,
``30days.rss``, ``events/HREF`` (one event to download); under ``/.public/TOKEN/``
also ``""`` (the HTML agenda) and ``embed`` (for an ``<iframe>``).

Every feed serves the level of whoever asks, at most a reader's (DESIGN.md): private
events never, confidential ones as busy blocks, a busy view as "Busy". HTTP caching
follows RFC 9110 (``ETag``, ``Last-Modified``, 304 on ``If-None-Match`` /
``If-Modified-Since``, 13.1.1-2) and RFC 9111 (``Cache-Control: private`` for what
belongs to one user, 5.2.2.7). Large calendars are streamed item by item.
Paths with tokens are never logged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, cast
from urllib.parse import parse_qs, quote, urlencode
from zoneinfo import ZoneInfo

from radicale import app as radicale_app
from radicale import pathutils

from calserver import errors, httpauth
from calserver.accounts import directory, settings
from calserver.dav import compat
from calserver.errors import CalserverError, InvalidInput, NotFound
from calserver.feeds import access, html, ics, rss
from calserver.feeds.links import ICS_FILE, PREFIXES, RSS_FILES
from calserver.ical import occurrences
from calserver.sharing.levels import Level
from calserver.storage import Storage
from calserver.storage.base import http_date
from calserver.storage.collection import Collection
from calserver.urls import PUBLIC, SECRET, base_prefix, origin, under_any
from calserver.urls import log_path as token_free_path

logger = logging.getLogger("calserver")

StartResponse = Callable[..., Any]

#: Expanding parses every event: a window of two years at most.
MAX_EXPANDED_DAYS = 731
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


def owns(path: str) -> bool:
    return under_any(path, PREFIXES)


def log_path(path: str) -> str:
    """``path`` as it may be logged: never a token."""
    return token_free_path(path, (SECRET, PUBLIC))


@dataclass(frozen=True)
class Access:
    """Who reads which calendar, through which URL."""

    #: The user whose view is served (None: anonymous, a public calendar).
    viewer: str | None
    #: The calendar's path as the viewer sees it.
    path: str
    #: The most the URL may show: READ for users, the published level for the public.
    cap: Level
    #: The URL of the calendar's files under this access (with the deployment prefix).
    base: str
    #: Whose settings (time zone, first weekday) shape the feeds.
    settings_of: str | None
    public: bool = False


class Feeds:
    """The WSGI application of the side endpoints; ``application`` is the Radicale
    application whose auth plugin, storage and configuration it shares."""

    def __init__(self, application: radicale_app.Application) -> None:
        self._application = application
        self._storage = cast(Storage, compat.storage(application))
        self._configuration = application.configuration

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method not in ("GET", "HEAD"):
            return _plain(
                start_response, "405 Method Not Allowed", "read-only", [("Allow", "GET, HEAD")]
            )
        try:
            answer = self._answer(environ)
        except httpauth.Unauthorized as exc:
            return _plain(
                start_response,
                "401 Unauthorized",
                str(exc),
                [httpauth.challenge(self._application)],
            )
        except CalserverError as exc:
            status = {400: "400 Bad Request", 403: "403 Forbidden"}.get(exc.status, "404 Not Found")
            # 404 for every unknown, reset or unreadable calendar: nothing is revealed
            return _plain(start_response, status, str(exc) if exc.status == 400 else "not found")
        status, headers, body = answer
        start_response(status, headers)
        if method == "HEAD":
            if hasattr(body, "close"):
                body.close()
            return [b""]
        return body

    # --- what is asked for --------------------------------------------------------------

    def _answer(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], Any]:
        path = environ.get("PATH_INFO", "")
        prefix = base_prefix(environ)
        query = _query(environ.get("QUERY_STRING", ""))
        area, _, rest = path[1:].partition("/")
        segments = rest.split("/")
        if area == ".feeds":
            if len(segments) < 3:
                raise NotFound("not found")
            calendar = "/".join(segments[:2])
            user = httpauth.authenticate(self._application, environ)
            resource = "/".join(segments[2:])
            base = f"{prefix}/.feeds/{quote(segments[0])}/{quote(segments[1])}/"
            who = Access(user, calendar, Level.READ, base, user)
        elif area in (".secret", ".public") and len(segments) >= 2:
            token, resource = segments[0], "/".join(segments[1:])
            base = f"{prefix}/{area}/{token}/"
            engine = self._storage.engine
            if area == ".secret":
                secret = access.secret_for(engine, self._configuration, token)
                if secret is None:
                    raise NotFound("not found")
                who = Access(secret.user, secret.path, Level.READ, base, secret.user)
            else:
                published = access.public_for(engine, self._configuration, token)
                if published is None:
                    raise NotFound("not found")
                owner = published.path.partition("/")[0]
                who = Access(
                    None,
                    published.path,
                    published.view,
                    base,
                    None if owner.startswith("@") else owner,
                    public=True,
                )
        else:
            raise NotFound("not found")
        collection = self._open(who)
        return self._resource(environ, who, collection, resource, query)

    def _open(self, who: Access) -> Collection:
        if not pathutils.is_safe_path_component(who.path.partition("/")[2]):
            raise NotFound("not found")
        if who.viewer is None:
            found = self._storage.load_collection(who.path)
        else:
            found = self._storage.open_collection(who.path, who.viewer)
        if found is None or found.tag != "VCALENDAR" or found.level < Level.BUSY:
            raise NotFound("not found")
        return self._storage.capped(found, who.cap)

    def _resource(
        self,
        environ: dict[str, Any],
        who: Access,
        collection: Collection,
        resource: str,
        query: dict[str, str],
    ) -> tuple[str, list[tuple[str, str]], Any]:
        prefs = self._settings(who)
        if resource == ICS_FILE:
            return self._ics(environ, who, collection, query, prefs)
        if resource in RSS_FILES:
            return self._rss(environ, who, collection, RSS_FILES[resource], prefs)
        if resource.startswith("events/") and resource.count("/") == 1:
            return self._event(environ, who, collection, resource[len("events/") :])
        if who.public and resource in ("", "embed"):
            return self._page(environ, who, collection, query, prefs, embed=resource == "embed")
        raise NotFound("not found")

    def _settings(self, who: Access) -> settings.Settings:
        if who.settings_of is None:
            return settings.Settings(
                self._configuration.get("feeds", "timezone"),
                self._configuration.get("feeds", "default_duration"),
                0,
            )
        return settings.get(self._storage.engine, self._configuration, who.settings_of)

    # --- calendar.ics -------------------------------------------------------------------

    def _ics(
        self,
        environ: dict[str, Any],
        who: Access,
        collection: Collection,
        query: dict[str, str],
        prefs: settings.Settings,
    ) -> tuple[str, list[tuple[str, str]], Any]:
        cfg = self._configuration
        past = _days(
            query, "past_days", cfg.get("feeds", "past_days"), cfg.get("feeds", "max_past_days")
        )
        future = _days(
            query,
            "future_days",
            cfg.get("feeds", "future_days"),
            cfg.get("feeds", "max_future_days"),
        )
        utc = _flag(query, "utc", False)
        # A rule repeats in the time zone of its DTSTART: in UTC it would drift by an
        # hour across a daylight-saving change, so UTC times come with expanded series.
        expand = _flag(query, "expand", cfg.get("feeds", "expand")) or utc
        if expand and past + future > MAX_EXPANDED_DAYS:
            raise InvalidInput(
                f"expand and utc cover at most {MAX_EXPANDED_DAYS} days (past_days + future_days)"
            )
        tz = prefs.zone
        today = datetime.now(tz).date()
        start, end = occurrences.days_window(
            today - timedelta(days=past), today + timedelta(days=future), tz
        )
        shape = (past, future, expand, utc, prefs.timezone, today.isoformat())
        validators = self._validators(who, collection, ICS_FILE, shape, start)
        if _not_modified(environ, *validators):
            return _304(who, validators)
        name = _calendar_name(collection)

        def chunks() -> Iterator[bytes]:
            texts = (
                item.serialize() for item in collection.iter_window("VEVENT", _ts(start), _ts(end))
            )
            for chunk in ics.calendar_ics(
                texts,
                name=name,
                description=collection.get_meta("C:calendar-description") or "",
                window=(start, end),
                expand=expand,
                utc=utc,
                tz=tz,
            ):
                yield chunk.encode("utf-8")

        headers = [
            ("Content-Type", "text/calendar; charset=utf-8"),
            ("Content-Disposition", _disposition("inline", name, ".ics")),
            *_cache_headers(who, validators),
        ]
        return "200 OK", headers, _Stream(chunks())

    # --- RSS ----------------------------------------------------------------------------

    def _rss(
        self,
        environ: dict[str, Any],
        who: Access,
        collection: Collection,
        kind: str,
        prefs: settings.Settings,
    ) -> tuple[str, list[tuple[str, str]], Any]:
        tz = prefs.zone
        # "next 30 days" moves with the clock: an hour's steps keep caches useful
        now = datetime.now(tz).replace(minute=0, second=0, microsecond=0)
        start, end = occurrences.feed_window(kind, now, tz, prefs.week_start)
        validators = self._validators(
            who, collection, kind, (prefs.timezone, prefs.week_start), start
        )
        if _not_modified(environ, *validators):
            return _304(who, validators)
        found = self._occurrences(collection, start, end, tz)
        site = origin(environ, self._configuration)
        name = _calendar_name(collection)
        titles = {
            "today": "today",
            "week": "this week",
            "month": "this month",
            "30days": "next 30 days",
        }
        body = rss.rss(
            found,
            title=f"{name}: {titles[kind]}",
            link=site + who.base + ICS_FILE,
            self_url=site + who.base + f"{kind}.rss",
            guid_prefix=f"urn:calserver:{_guid_scope(self._configuration, collection)}:",
            tz=tz,
            event_url=lambda occ: site + who.base + "events/" + quote(occ.href),
            busy=collection.level <= Level.BUSY,
            now=datetime.now(UTC),
        )
        headers = [
            ("Content-Type", "application/rss+xml; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *_cache_headers(who, validators),
        ]
        return "200 OK", headers, [body]

    def _occurrences(
        self, collection: Collection, start: datetime, end: datetime, tz: ZoneInfo
    ) -> list[occurrences.Occurrence]:
        items = (
            (item.href or "", item.serialize())
            for item in collection.iter_window("VEVENT", _ts(start), _ts(end))
        )
        return occurrences.occurrences(items, start, end, tz)

    # --- one event ----------------------------------------------------------------------

    def _event(
        self, environ: dict[str, Any], who: Access, collection: Collection, href: str
    ) -> tuple[str, list[tuple[str, str]], Any]:
        if not pathutils.is_safe_path_component(href):
            raise NotFound("not found")
        found = dict(collection.get_multi([href])).get(href)
        if found is None or found.component_name != "VEVENT":
            raise NotFound("not found")
        validators = (found.etag, _parse_http_date(found.last_modified or ""))
        if _not_modified(environ, *validators):
            return _304(who, validators)
        body = ics.event_download(found.serialize(), self._addresses(who)).encode("utf-8")
        headers = [
            ("Content-Type", "text/calendar; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Content-Disposition", _disposition("attachment", href.removesuffix(".ics"), ".ics")),
            *_cache_headers(who, validators),
        ]
        return "200 OK", headers, [body]

    def _addresses(self, who: Access) -> list[str]:
        """The downloader's calendar addresses (their email), to leave out an organizer
        who downloads their own meeting."""
        if who.viewer is None:
            return []
        email = directory.find_email(self._storage.engine, who.viewer)
        return [email] if email else []

    # --- public pages -------------------------------------------------------------------

    def _page(
        self,
        environ: dict[str, Any],
        who: Access,
        collection: Collection,
        query: dict[str, str],
        prefs: settings.Settings,
        embed: bool,
    ) -> tuple[str, list[tuple[str, str]], Any]:
        tz = prefs.zone
        period = query.get("period", "week")
        if period not in ("week", "month"):
            raise InvalidInput("period must be week or month")
        today = datetime.now(tz).date()
        anchor = _date(query, "date", today)
        first, last = html.period_bounds(period, anchor, prefs.week_start)
        start, end = occurrences.days_window(first, last, tz)
        shape = (period, first.isoformat(), embed, prefs.timezone, today.isoformat())
        validators = self._validators(who, collection, "page", shape, start)
        if _not_modified(environ, *validators):
            return _304(who, validators)
        page = who.base + ("embed" if embed else "")
        # a day of the previous month, or the same weekday a week earlier
        previous = first - timedelta(days=7 if period == "week" else 1)

        def link(**params: str) -> str:
            return page + "?" + urlencode(params)

        links = {
            "prev": link(period=period, date=previous.isoformat()),
            "next": link(period=period, date=(last + timedelta(days=1)).isoformat()),
            "today": link(period=period, date=today.isoformat()),
            "week": link(period="week", date=anchor.isoformat()),
            "month": link(period="month", date=anchor.isoformat()),
            "ics": who.base + ICS_FILE,
        }
        busy = collection.level <= Level.BUSY
        body = html.agenda_html(
            self._occurrences(collection, start, end, tz),
            title=_calendar_name(collection),
            tz=tz,
            period=period,
            first_day=first,
            last_day=last,
            links=links,
            embed=embed,
            busy=busy,
            event_url=None if busy else (lambda occ: who.base + "events/" + quote(occ.href)),
        ).encode("utf-8")
        frames = "*" if embed else "'none'"
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            (
                "Content-Security-Policy",
                f"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors {frames}",
            ),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            *_cache_headers(who, validators),
        ]
        if not embed:
            headers.append(("X-Frame-Options", "DENY"))
        return "200 OK", headers, [body]

    # --- caching ------------------------------------------------------------------------

    def _validators(
        self,
        who: Access,
        collection: Collection,
        resource: str,
        shape: tuple[Any, ...],
        window_start: datetime,
    ) -> tuple[str, datetime]:
        """(ETag, Last-Modified) of a response: the view's ctag (its level included)
        and everything that shapes the answer; a window that moved is a change too."""
        digest = hashlib.sha256(
            repr((collection.etag, who.path, who.cap, resource, shape)).encode("utf-8")
        ).hexdigest()[:32]
        modified = datetime.fromtimestamp(collection._state.modified, UTC)
        return f'"{digest}"', max(modified, min(window_start.astimezone(UTC), _now()))


# --- helpers ----------------------------------------------------------------------------


class _Stream:
    """A WSGI body that closes the storage iterator (and its read transaction) when
    the server is done with it, even after a client went away."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _query(raw: str) -> dict[str, str]:
    try:
        parsed = parse_qs(raw, keep_blank_values=True, strict_parsing=False, max_num_fields=50)
    except ValueError as exc:
        raise InvalidInput("too many query parameters") from exc
    return {key: values[-1] for key, values in parsed.items()}


def _days(query: dict[str, str], name: str, default: int, most: int) -> int:
    if name not in query:
        return int(default)
    raw = query[name].strip()
    if not raw.isdigit() or len(raw) > 6:
        raise InvalidInput(f"{name} must be a whole number of days, not {query[name]!r}")
    value = int(raw)
    if value > most:
        raise InvalidInput(f"{name} may be at most {most} days")
    return value


def _flag(query: dict[str, str], name: str, default: bool) -> bool:
    if name not in query:
        return bool(default)
    raw = query[name].strip().lower()
    if raw in TRUE or raw == "":
        return True
    if raw in FALSE:
        return False
    raise InvalidInput(f"{name} must be 1 or 0, not {query[name]!r}")


def _date(query: dict[str, str], name: str, default: date) -> date:
    if name not in query:
        return default
    try:
        value = date.fromisoformat(query[name].strip())
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a date like 2026-11-21") from exc
    if not 1900 <= value.year <= 2200:
        raise InvalidInput(f"{name} is out of range")
    return value


def _parse_http_date(value: str) -> datetime:
    return parsedate_to_datetime(value).astimezone(UTC)


def _not_modified(environ: dict[str, Any], etag: str, modified: datetime) -> bool:
    """RFC 9110 13.2.2: If-None-Match first (weak comparison); If-Modified-Since only
    without it."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since:
        try:
            return modified.replace(microsecond=0) <= _parse_http_date(since)
        except (TypeError, ValueError, IndexError):
            return False  # an invalid date is ignored (RFC 9110 13.1.3)
    return False


def _cache_headers(who: Access, validators: tuple[str, datetime]) -> list[tuple[str, str]]:
    etag, modified = validators
    policy = "public, max-age=300" if who.public else "private, no-cache"
    return [
        ("ETag", etag),
        ("Last-Modified", http_date(modified.timestamp())),
        ("Cache-Control", policy),
        ("Vary", "Authorization") if not who.public else ("Vary", "Accept-Encoding"),
    ]


def _304(who: Access, validators: tuple[str, datetime]) -> tuple[str, list[tuple[str, str]], Any]:
    return "304 Not Modified", _cache_headers(who, validators), []


def _plain(
    start_response: StartResponse,
    status: str,
    text: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = errors.text_answer(text)
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *(extra or []),
        ],
    )
    return [body]


def _calendar_name(collection: Collection) -> str:
    return collection.get_meta("D:displayname") or collection.path.rpartition("/")[2]


def _disposition(kind: str, name: str, suffix: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name (RFC 8187)."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in " -_.") else "_" for c in name)
    fallback = fallback.strip() or "calendar"
    return f"{kind}; filename=\"{fallback}{suffix}\"; filename*=UTF-8''{quote(name + suffix)}"


def _guid_scope(configuration: Any, collection: Collection) -> str:
    """A stable name of the calendar in GUIDs that does not spell out its path."""
    target = collection.view.target if collection.view is not None else collection.path
    return hashlib.sha256(target.encode("utf-8")).hexdigest()[:16]
