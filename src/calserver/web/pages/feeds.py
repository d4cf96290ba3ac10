"""Feeds and public access (``/.web/feeds``, issue 14 item 7): per calendar the user
sees, every URL ``calserver urls`` prints (calserver.feeds.links.calendar_urls, the
function behind ``calserver urls`` and the API's ``/calendars/{owner}/{calendar}/urls``):
the CalDAV address, ``calendar.ics`` and the four RSS feeds behind the password and the
same behind the secret token, with copy buttons; publishing busy-only or with details
and the public links (HTML page, embed snippet, ``.ics``), their reset; and "reset all
my feed links" behind a confirmation that says what breaks
(calserver.feeds.access: publish, unpublish, reset_public, reset_feeds, with the
signed-in user as the actor)."""

from __future__ import annotations

from dataclasses import dataclass

from calserver.errors import CalserverError
from calserver.feeds import access, links
from calserver.urls import origin
from calserver.web.http import Response, WebRequest
from calserver.web.pages.manage_support import HomeCalendar, done, home_calendars, notice
from calserver.web.render import page
from calserver.web.routes import route

#: What each URL is, in the order shown (keys of calendar_urls).
LABELS = {
    "caldav": "CalDAV (calendar apps)",
    "ics": "calendar.ics",
    "rss_today": "RSS: today",
    "rss_week": "RSS: this week",
    "rss_month": "RSS: this month",
    "rss_30days": "RSS: next 30 days",
    "secret_ics": "Secret calendar.ics",
    "secret_rss_today": "Secret RSS: today",
    "secret_rss_week": "Secret RSS: this week",
    "secret_rss_month": "Secret RSS: this month",
    "secret_rss_30days": "Secret RSS: next 30 days",
}
PUBLIC_LABELS = {
    "public_html": "Public page",
    "public_embed": "Embeddable page",
    "public_ics": "Public calendar.ics",
}


@dataclass(frozen=True)
class CalendarFeeds:
    calendar: HomeCalendar
    #: (key, label, URL) of the URLs behind the password and the secret token
    urls: list[tuple[str, str, str]]
    public: list[tuple[str, str, str]]
    #: "off", "busy" or "details"; "" when the user may not publish it
    published: str
    may_publish: bool

    @property
    def embed(self) -> str:
        found = dict((key, url) for key, _label, url in self.public)
        if "public_embed" not in found:
            return ""
        return (
            f'<iframe src="{found["public_embed"]}" title="{self.calendar.name}" '
            'width="100%" height="500" loading="lazy"></iframe>'
        )


def _may_publish(request: WebRequest, path: str) -> bool:
    try:
        access.check_may_publish(request.services.engine, path, request.user)
    except CalserverError:
        return False
    return True


def _feeds(request: WebRequest) -> list[CalendarFeeds]:
    services = request.services
    base = origin(request.environ, services.configuration) + request.prefix
    found = []
    for calendar in home_calendars(request):
        try:
            urls = links.calendar_urls(
                services.storage, services.configuration, calendar.seen_as, base
            )
        except CalserverError:
            continue  # gone meanwhile
        allowed = _may_publish(request, calendar.path)
        level = ""
        if allowed:
            current = access.publication(services.engine, services.configuration, calendar.path)
            level = current.level if current is not None else "off"
        found.append(
            CalendarFeeds(
                calendar,
                [(key, label, urls[key]) for key, label in LABELS.items() if key in urls],
                [(key, label, urls[key]) for key, label in PUBLIC_LABELS.items() if key in urls],
                level,
                allowed,
            )
        )
    return found


@route("GET", "/feeds")
def feeds_page(request: WebRequest) -> Response:
    return page(request, "feeds.html", feeds=_feeds(request), notice=notice(request))


@route("POST", "/feeds/publish")
def publish(request: WebRequest) -> Response:
    """Publish a calendar busy-only or with details, unpublish it, or give it new
    public links (the old ones end at once)."""
    services = request.services
    path = request.field("cal")
    level = request.field("level")
    if request.field("action") == "reset":
        access.reset_public(services.engine, services.configuration, path, actor=request.user)
        return done(request, "/feeds", "public-reset")
    if level == "off":
        access.unpublish(services.engine, path, actor=request.user)
        return done(request, "/feeds", "unpublished")
    if level not in access.PUBLIC_LEVELS:
        raise CalserverError("choose off, busy only or with details", status=400)
    access.publish(services.engine, services.configuration, path, level, actor=request.user)
    return done(request, "/feeds", "published")


@route("GET", "/feeds/reset")
def reset_confirm(request: WebRequest) -> Response:
    return page(request, "feeds_reset.html", count=len(home_calendars(request)))


@route("POST", "/feeds/reset")
def reset(request: WebRequest) -> Response:
    if request.field("confirm") != "yes":
        return page(
            request,
            "feeds_reset.html",
            400,
            count=len(home_calendars(request)),
            errors={"confirm": "Tick the box to confirm that all your feed links are replaced."},
        )
    access.reset_feeds(request.services.engine, request.user)
    return done(request, "/feeds", "feeds-reset")
