"""End to end: subscriptions and feeds (issue 4) against a live ``calserver serve`` on
SQLite and PostgreSQL: calendar.ics behind the password, secret URLs and their reset,
the four RSS feeds (parsed with feedparser), public pages (HTML, embed, ics) and
their unpublishing, one event's download, HTTP caching, the deployment prefix.

The world: Alice (Europe/Brussels) has a calendar with one event of each kind, most of
them today in her time zone; she shares it with Bob at the busy level and with Dave
at the read level; Carol sees nothing. Management goes through ``calserver``
commands on the server's database (in this process).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import pytest

from tests.conftest import LiveServer
from tests.e2e_support import ENGINES, calserver, module_server_with, send

pytestmark = pytest.mark.live

TZ = ZoneInfo("Europe/Brussels")
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
PEOPLE = ["alice", "bob", "carol", "dave"]
#: Texts only a reader may see: never in a busy view, a public busy page, a feed.
SECRET_TEXTS = ("Lunch talk", "Room 12", "Agenda details", "Secret merger", "Doctor")


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _event(uid: str, start: dt.datetime, extra: str = "", hours: int = 1) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//feeds//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{_utc(start)}\r\n"
        f"DTEND:{_utc(start + dt.timedelta(hours=hours))}\r\n{extra}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def _today_at(hour: int, days: int = 0) -> dt.datetime:
    today = dt.datetime.now(TZ).date() + dt.timedelta(days=days)
    return dt.datetime.combine(today, dt.time(hour), TZ)


ALARM = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:wake up\r\nEND:VALARM\r\n"
EVENTS = {
    "lunch": (
        _today_at(12),
        "SUMMARY:Lunch talk\r\nLOCATION:Room 12\r\nDESCRIPTION:Agenda details\r\n" + ALARM,
    ),
    "merger": (_today_at(14), "SUMMARY:Secret merger\r\nCLASS:CONFIDENTIAL\r\n"),
    "doctor": (_today_at(16), "SUMMARY:Doctor\r\nCLASS:PRIVATE\r\n"),
    "xss": (_today_at(18), "SUMMARY:<script>alert(1)</script> & co\r\n"),
    "old": (_today_at(10, -100), "SUMMARY:Long ago\r\n"),
    "past": (_today_at(10, -10), "SUMMARY:Ten days ago\r\n"),
    "far": (_today_at(10, 40), "SUMMARY:Far ahead\r\n"),
    "series": (_today_at(8, -2), "SUMMARY:Standup\r\nRRULE:FREQ=DAILY;COUNT=10\r\n"),
    "meeting": (
        _today_at(9, 1),
        "SUMMARY:Planning\r\nORGANIZER:mailto:alice@example.org\r\n"
        "ATTENDEE;CN=Bob:mailto:bob@example.org\r\n"
        "ATTENDEE;CN=Bob again:MAILTO:Bob@Example.org\r\n"
        "ATTENDEE:mailto:carol@example.org\r\n",
    ),
}


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live server logging at level info (to check that no token is logged), with
    Alice's calendar ``cal`` full of events."""
    for live in module_server_with(request, tmp_path_factory, PEOPLE, "--logging-level", "info"):
        calserver(live, "calendar", "create", "alice/cal")
        calserver(live, "user", "set", "alice", "--timezone", "Europe/Brussels")
        calserver(live, "share", "alice/cal", "--with", "bob", "--level", "busy")
        calserver(live, "share", "alice/cal", "--with", "dave", "--level", "read")
        for uid, (start, extra) in EVENTS.items():
            put = send(live, "PUT", f"/alice/cal/{uid}.ics", _event(uid, start, extra), ICS)
            assert put.status == 201, put.body
        yield live


def _urls(server: LiveServer, path: str) -> dict[str, str]:
    return json.loads(calserver(server, "urls", path, "--json"))


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _calendar(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def _uids(body: bytes) -> set[str]:
    return {str(c["UID"]) for c in _calendar(body).walk("VEVENT")}


def _feed(body: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


# --- calendar.ics behind the password ---------------------------------------------------


def test_owner_ics_is_a_windowed_reader_view_without_alarms(server: LiveServer) -> None:
    reply = send(server, "GET", "/.feeds/alice/cal/calendar.ics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/calendar")
    assert reply.headers["cache-control"].startswith("private")
    assert 'filename="cal.ics"' in reply.headers["content-disposition"]
    calendar = _calendar(reply.body)
    # 45 days back, 60 ahead by default; private never, even for the owner
    assert _uids(reply.body) == {"lunch", "merger", "xss", "past", "far", "series", "meeting"}
    assert not list(calendar.walk("VALARM"))
    merger = next(c for c in calendar.walk("VEVENT") if c["UID"] == "merger")
    assert str(merger["SUMMARY"]) == "Busy"  # confidential: a busy block
    series = next(c for c in calendar.walk("VEVENT") if c["UID"] == "series")
    assert "RRULE" in series  # rules kept by default


def test_ics_shaping_parameters(server: LiveServer) -> None:
    base = "/.feeds/alice/cal/calendar.ics"
    narrow = send(server, "GET", base + "?past_days=0&future_days=0")
    assert _uids(narrow.body) == {"lunch", "merger", "xss", "series"}
    wide = send(server, "GET", base + "?past_days=200")
    assert "old" in _uids(wide.body)
    expanded = _calendar(send(server, "GET", base + "?utc=1").body)  # utc expands
    standups = [c for c in expanded.walk("VEVENT") if c["UID"] == "series"]
    assert len(standups) == 10 and all("RECURRENCE-ID" in c for c in standups)
    assert not any("RRULE" in c for c in expanded.walk("VEVENT"))
    assert not list(expanded.walk("VTIMEZONE"))
    assert all(c.decoded("DTSTART").tzinfo is not None for c in standups)


@pytest.mark.parametrize(
    "query",
    [
        "past_days=-1",
        "past_days=abc",
        "future_days=99999999",
        "future_days=1.5",
        "expand=perhaps",
        "utc=2",
        "expand=1&past_days=1000",
    ],
)
def test_bad_window_parameters_get_400_with_the_reason(server: LiveServer, query: str) -> None:
    reply = send(server, "GET", "/.feeds/alice/cal/calendar.ics?" + query)
    assert reply.status == 400
    name = query.partition("=")[0]
    assert name.encode() in reply.body


def test_feeds_need_a_login_and_a_visible_calendar(server: LiveServer) -> None:
    anonymous = send(server, "GET", "/.feeds/alice/cal/calendar.ics", user=None)
    assert anonymous.status == 401 and "basic" in anonymous.headers["www-authenticate"].lower()
    wrong = send(server, "GET", "/.feeds/alice/cal/calendar.ics", password="wrong")
    assert wrong.status == 401
    stranger = send(server, "GET", "/.feeds/alice/cal/calendar.ics", user="carol")
    missing = send(server, "GET", "/.feeds/alice/nothing/calendar.ics")
    assert stranger.status == missing.status == 404
    assert stranger.body == missing.body  # nothing revealed
    assert send(server, "GET", "/.feeds/alice/cal/other.txt").status == 404
    assert send(server, "PUT", "/.feeds/alice/cal/calendar.ics", "x").status == 405


def test_busy_viewer_gets_busy_blocks_only(server: LiveServer) -> None:
    for path in ("/.feeds/bob/alice~cal/calendar.ics", "/.feeds/alice/cal/calendar.ics"):
        reply = send(server, "GET", path, user="bob")
        assert reply.status == 200
        assert _uids(reply.body) == {"lunch", "xss", "past", "far", "series", "meeting"}
        for text in (*SECRET_TEXTS, "Planning", "ATTENDEE", "ORGANIZER"):
            assert text.encode() not in reply.body
    rss = send(server, "GET", "/.feeds/bob/alice~cal/today.rss", user="bob")
    entries = _feed(rss.body).entries
    assert entries and all(e.title.startswith("Busy") for e in entries)
    for text in SECRET_TEXTS:
        assert text.encode() not in rss.body


def test_reader_sees_details_but_not_private_and_confidential_as_busy(server: LiveServer) -> None:
    reply = send(server, "GET", "/.feeds/dave/alice~cal/calendar.ics", user="dave")
    assert b"Lunch talk" in reply.body and b"Doctor" not in reply.body
    assert b"Secret merger" not in reply.body


# --- RSS ------------------------------------------------------------------------------


def test_four_rss_feeds_parse_and_hold_todays_events(server: LiveServer) -> None:
    urls = _urls(server, "alice/cal")
    seen: dict[str, list[str]] = {}
    for kind in ("today", "week", "month", "30days"):
        reply = send(server, "GET", _path(urls[f"rss_{kind}"]))
        assert reply.status == 200
        assert reply.headers["content-type"].startswith("application/rss+xml")
        feed = _feed(reply.body)
        titles = [entry.title for entry in feed.entries]
        seen[kind] = titles
        # "next 30 days" starts now: tomorrow's meeting is in it whatever the hour
        expected = "Planning" if kind == "30days" else "Lunch talk"
        assert any(expected in t for t in titles), (kind, titles)
        assert not any("Doctor" in t for t in titles)  # private: never
        assert not any("Far ahead" in t or "Long ago" in t for t in titles)
        if kind != "month":  # ten days ago may be this month
            assert not any("Ten days ago" in t for t in titles)
    # the series occurs once a day: one entry per occurrence in today's feed
    assert sum("Standup" in t for t in seen["today"]) == 1
    assert sum("Standup" in t for t in seen["30days"]) >= 2
    lunch = next(
        e
        for e in _feed(send(server, "GET", _path(urls["rss_today"])).body).entries
        if "Lunch talk" in e.title
    )
    assert "Room 12" in lunch.summary and "Agenda details" in lunch.summary
    assert "Europe/Brussels" in lunch.summary  # times in the user's time zone


def test_rss_guids_are_stable_and_unique(server: LiveServer) -> None:
    path = _path(_urls(server, "alice/cal")["rss_30days"])
    first = [e.id for e in _feed(send(server, "GET", path).body).entries]
    second = [e.id for e in _feed(send(server, "GET", path).body).entries]
    assert first == second and len(set(first)) == len(first)


def test_rss_escapes_event_text(server: LiveServer) -> None:
    reply = send(server, "GET", "/.feeds/alice/cal/today.rss")
    assert b"<script>" not in reply.body
    titles = [e.title for e in _feed(reply.body).entries]
    assert any("<script>alert(1)</script> & co" in t for t in titles)


# --- secret URLs -------------------------------------------------------------------------


def test_secret_urls_work_without_a_login_until_reset(server: LiveServer) -> None:
    urls = _urls(server, "dave/alice~cal")
    assert set(urls) >= {
        "caldav",
        "ics",
        "rss_today",
        "rss_week",
        "rss_month",
        "rss_30days",
        "secret_ics",
        "secret_rss_today",
        "secret_rss_week",
        "secret_rss_month",
        "secret_rss_30days",
    }
    token = _path(urls["secret_ics"]).split("/")[2]
    assert len(token) >= 43  # 256 bits, base64url
    assert _urls(server, "dave/alice~cal")["secret_ics"] == urls["secret_ics"]  # shown again
    reply = send(server, "GET", _path(urls["secret_ics"]), user=None)
    assert reply.status == 200 and b"Lunch talk" in reply.body  # Dave's view: a reader's
    assert reply.headers["cache-control"].startswith("private")
    rss = send(server, "GET", _path(urls["secret_rss_week"]), user=None)
    assert rss.status == 200 and _feed(rss.body).entries
    calserver(server, "reset-feeds", "dave")
    gone = send(server, "GET", _path(urls["secret_ics"]), user=None)
    unknown = send(server, "GET", "/.secret/" + "A" * 43 + "/calendar.ics", user=None)
    assert gone.status == unknown.status == 404 and gone.body == unknown.body
    assert send(server, "GET", _path(urls["secret_rss_week"]), user=None).status == 404
    fresh = _urls(server, "dave/alice~cal")["secret_ics"]
    assert fresh != urls["secret_ics"]
    assert send(server, "GET", _path(fresh), user=None).status == 200
    # an ungranted calendar's secret URL stops working too
    calserver(server, "unshare", "alice/cal", "--with", "dave")
    try:
        assert send(server, "GET", _path(fresh), user=None).status == 404
    finally:
        calserver(server, "share", "alice/cal", "--with", "dave", "--level", "read")
    log = server.log_path.read_text(errors="replace")
    assert token not in log and _path(fresh).split("/")[2] not in log


def _secret_ics(server: LiveServer, path: str) -> str:
    return _path(_urls(server, path)["secret_ics"])


def test_a_share_granted_again_gets_a_new_secret_url_and_the_old_one_stays_dead(
    server: LiveServer,
) -> None:
    """Issue 12 item 4: Alice takes back Bob's grant and gives it again; the URL Bob
    had (and might have passed on) must not come back to life. A level change keeps
    the URL, which serves the level Bob has now."""
    cal = f"regrant{uuid.uuid4().hex[:8]}"
    calserver(server, "calendar", "create", f"alice/{cal}")
    uid = "regrant-" + cal
    put = send(
        server,
        "PUT",
        f"/alice/{cal}/{uid}.ics",
        _event(uid, _today_at(11), "SUMMARY:Regrant talk\r\n"),
        ICS,
    )
    assert put.status == 201, put.body
    calserver(server, "share", f"alice/{cal}", "--with", "carol", "--level", "read")
    seen = f"carol/alice~{cal}"
    first = _secret_ics(server, seen)
    reply = send(server, "GET", first, user=None)
    assert reply.status == 200 and b"Regrant talk" in reply.body
    # a level change keeps the URL; the feed serves the new level
    calserver(server, "share", f"alice/{cal}", "--with", "carol", "--level", "busy")
    assert _secret_ics(server, seen) == first
    busy = send(server, "GET", first, user=None)
    assert busy.status == 200 and uid.encode() in busy.body and b"Regrant talk" not in busy.body
    calserver(server, "unshare", f"alice/{cal}", "--with", "carol")
    assert send(server, "GET", first, user=None).status == 404
    calserver(server, "share", f"alice/{cal}", "--with", "carol", "--level", "read")
    assert send(server, "GET", first, user=None).status == 404  # dead for good
    second = _secret_ics(server, seen)
    assert second != first
    again = send(server, "GET", second, user=None)
    assert again.status == 200 and b"Regrant talk" in again.body
    assert send(server, "GET", first, user=None).status == 404


def test_a_group_member_added_again_or_a_group_granted_again_gets_a_new_secret_url(
    server: LiveServer,
) -> None:
    """The same through a group: the grant to the group taken back and given again,
    and the member removed from the group and added again."""
    cal = f"teamcal{uuid.uuid4().hex[:8]}"
    group = f"team{uuid.uuid4().hex[:8]}"
    calserver(server, "calendar", "create", f"alice/{cal}")
    calserver(server, "group", "create", group, "--admin", "alice")
    calserver(server, "group", "add-member", group, "carol")
    calserver(server, "share", f"alice/{cal}", "--with", f"@{group}", "--level", "read")
    seen = f"carol/alice~{cal}"
    urls = [_secret_ics(server, seen)]
    assert send(server, "GET", urls[-1], user=None).status == 200
    for change in (
        [("unshare", f"alice/{cal}", "--with", f"@{group}")],
        [("group", "remove-member", group, "carol")],
    ):
        for args in change:
            calserver(server, *args)
        assert send(server, "GET", urls[-1], user=None).status == 404
        calserver(server, "share", f"alice/{cal}", "--with", f"@{group}", "--level", "read")
        calserver(server, "group", "add-member", group, "carol")
        assert all(send(server, "GET", url, user=None).status == 404 for url in urls)
        urls.append(_secret_ics(server, seen))
        assert urls[-1] not in urls[:-1]
        assert send(server, "GET", urls[-1], user=None).status == 200
    # a group calendar, seen through the membership alone
    calserver(server, "calendar", "create", f"@{group}/plan")
    seen = f"carol/@{group}~plan"
    plan = _secret_ics(server, seen)
    assert send(server, "GET", plan, user=None).status == 200
    calserver(server, "group", "remove-member", group, "carol")
    calserver(server, "group", "add-member", group, "carol")
    assert send(server, "GET", plan, user=None).status == 404
    fresh = _secret_ics(server, seen)
    assert fresh != plan and send(server, "GET", fresh, user=None).status == 200


@pytest.mark.parametrize("token", ["short", "A" * 43, "%2e%2e", "A" * 400])
def test_unknown_tokens_are_404(server: LiveServer, token: str) -> None:
    for area in (".secret", ".public"):
        assert send(server, "GET", f"/{area}/{token}/calendar.ics", user=None).status == 404


# --- public calendars ----------------------------------------------------------------------


def test_public_busy_calendar_shows_no_details_anywhere(server: LiveServer) -> None:
    calserver(server, "publish", "alice/cal", "--level", "busy")
    try:
        urls = _urls(server, "alice/cal")
        for key in ("public_html", "public_embed", "public_ics"):
            reply = send(server, "GET", _path(urls[key]), user=None)
            assert reply.status == 200, key
            assert reply.headers["cache-control"].startswith("public")
            for text in (*SECRET_TEXTS, "Planning", "alert(1)", "Standup", "example.org"):
                assert text.encode() not in reply.body, (key, text)
        page = send(server, "GET", _path(urls["public_html"]), user=None)
        assert b"Busy" in page.body and b"Europe/Brussels" in page.body
        assert page.headers["x-frame-options"] == "DENY"
        embed = send(server, "GET", _path(urls["public_embed"]), user=None)
        assert "frame-ancestors *" in embed.headers["content-security-policy"]
        assert "x-frame-options" not in embed.headers
    finally:
        calserver(server, "unpublish", "alice/cal")


def test_public_details_escape_html_and_unpublish_cuts_off(server: LiveServer) -> None:
    calserver(server, "publish", "alice/cal", "--level", "details")
    urls = _urls(server, "alice/cal")
    page = send(server, "GET", _path(urls["public_html"]), user=None)
    assert b"Lunch talk" in page.body
    assert b"<script>alert(1)</script>" not in page.body
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page.body
    assert b"Doctor" not in page.body and b"Secret merger" not in page.body
    month = send(server, "GET", _path(urls["public_html"]) + "?period=month", user=None)
    assert month.status == 200 and b"Lunch talk" in month.body
    assert send(server, "GET", _path(urls["public_html"]) + "?period=year", user=None).status == 400
    assert (
        send(server, "GET", _path(urls["public_html"]) + "?date=2026-13-01", user=None).status
        == 400
    )
    ics = send(server, "GET", _path(urls["public_ics"]), user=None)
    assert "lunch" in _uids(ics.body) and "doctor" not in _uids(ics.body)
    calserver(server, "unpublish", "alice/cal")
    for key in ("public_html", "public_embed", "public_ics"):
        assert send(server, "GET", _path(urls[key]), user=None).status == 404
    assert "public_html" not in _urls(server, "alice/cal")
    calserver(server, "publish", "alice/cal", "--level", "details")
    try:
        again = _urls(server, "alice/cal")["public_html"]
        assert again != urls["public_html"]  # a new publication, new URLs
        assert send(server, "GET", _path(again), user=None).status == 200
    finally:
        calserver(server, "unpublish", "alice/cal")


def test_only_owner_or_group_admin_publishes(server: LiveServer) -> None:
    reply = send(
        server,
        "PUT",
        "/.api/v1/calendars/alice/cal/publication",
        '{"level": "details"}',
        {"Content-Type": "application/json"},
        user="dave",
    )
    assert reply.status == 403
    reply = send(
        server,
        "PUT",
        "/.api/v1/calendars/alice/cal/publication",
        '{"level": "busy"}',
        {"Content-Type": "application/json"},
    )
    assert reply.status == 200, reply.body
    body = json.loads(reply.body)
    assert body["level"] == "busy" and "/.public/" in body["public_html"]
    assert send(server, "DELETE", "/.api/v1/calendars/alice/cal/publication").status == 204
    assert send(server, "GET", _path(body["public_html"]), user=None).status == 404


# --- one event, caching, prefix, settings ----------------------------------------------------


def test_event_download_dedupes_attendees_and_drops_own_organizer(server: LiveServer) -> None:
    mine = _calendar(send(server, "GET", "/.feeds/alice/cal/events/meeting.ics").body)
    event = next(iter(mine.walk("VEVENT")))
    assert "ORGANIZER" not in event  # Alice organises it: Outlook refuses such a file
    attendees = event.get("ATTENDEE")
    assert len(attendees) == 2
    theirs = send(server, "GET", "/.feeds/dave/alice~cal/events/meeting.ics", user="dave")
    assert theirs.status == 200 and "attachment" in theirs.headers["content-disposition"]
    assert "ORGANIZER" in next(iter(_calendar(theirs.body).walk("VEVENT")))
    assert send(server, "GET", "/.feeds/alice/cal/events/doctor.ics").status == 404
    assert send(server, "GET", "/.feeds/alice/cal/events/nothing.ics").status == 404


def test_conditional_requests_get_304(server: LiveServer) -> None:
    for path in ("/.feeds/alice/cal/calendar.ics", "/.feeds/alice/cal/week.rss"):
        first = send(server, "GET", path)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        again = send(server, "GET", path, headers={"If-None-Match": etag})
        assert again.status == 304 and again.body == b""
        since = send(server, "GET", path, headers={"If-Modified-Since": modified})
        assert since.status == 304
        other = send(server, "GET", path, headers={"If-None-Match": '"other"'})
        assert other.status == 200
    before = send(server, "GET", "/.feeds/alice/cal/calendar.ics").headers["etag"]
    uid = "new-" + uuid.uuid4().hex[:8]
    send(server, "PUT", f"/alice/cal/{uid}.ics", _event(uid, _today_at(20)), ICS)
    try:
        changed = send(
            server, "GET", "/.feeds/alice/cal/calendar.ics", headers={"If-None-Match": before}
        )
        assert changed.status == 200 and uid.encode() in changed.body
    finally:
        send(server, "DELETE", f"/alice/cal/{uid}.ics")


def test_links_honour_the_deployment_prefix(server: LiveServer) -> None:
    reply = send(server, "GET", "/.feeds/alice/cal/week.rss", headers={"X-Script-Name": "/cal"})
    feed = _feed(reply.body)
    assert feed.entries and all("/cal/.feeds/alice/cal/events/" in e.link for e in feed.entries)
    assert feed.feed.link.endswith("/cal/.feeds/alice/cal/calendar.ics")  # the calendar
    calserver(server, "publish", "alice/cal", "--level", "details")
    try:
        page = send(
            server,
            "GET",
            _path(_urls(server, "alice/cal")["public_html"]),
            headers={"X-Script-Name": "/cal"},
            user=None,
        )
        hrefs = re.findall(rb'href="([^"]+)"', page.body)
        assert hrefs and all(h.startswith(b"/cal/.public/") for h in hrefs)
    finally:
        calserver(server, "unpublish", "alice/cal")


def test_user_settings_through_the_api(server: LiveServer) -> None:
    reply = send(
        server,
        "PATCH",
        "/.api/v1/me/settings",
        '{"timezone": "America/New_York", "default_duration": "45m"}',
        {"Content-Type": "application/json"},
        user="carol",
    )
    assert reply.status == 200, reply.body
    assert json.loads(reply.body) == {
        "timezone": "America/New_York",
        "default_duration": 45,
        "week_start": "monday",
    }
    bad = send(
        server,
        "PATCH",
        "/.api/v1/me/settings",
        '{"timezone": "Mars/Base"}',
        {"Content-Type": "application/json"},
        user="carol",
    )
    assert bad.status == 400 and b"Mars/Base" in bad.body
    shown = json.loads(send(server, "GET", "/.api/v1/me/settings", user="carol").body)
    assert shown["timezone"] == "America/New_York"
    urls = json.loads(send(server, "GET", "/.api/v1/calendars/alice/cal/urls", user="dave").body)
    assert "/.feeds/dave/alice~cal/calendar.ics" in urls["ics"]
    assert send(server, "GET", "/.api/v1/calendars/alice/cal/urls", user="carol").status == 404
    # a POST is application/json even without a body (the CSRF guard, calserver.api)
    json_type = {"Content-Type": "application/json"}
    reset = send(server, "POST", "/.api/v1/me/reset-feeds", "", json_type, user="carol")
    assert reset.status == 204


def test_chromium_shows_the_public_page_and_the_embed(server: LiveServer, tmp_path: Path) -> None:
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    calserver(server, "publish", "alice/cal", "--level", "details")
    try:
        urls = _urls(server, "alice/cal")
        origin = server.url
        for key in ("public_html", "public_embed"):
            result = subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    f"--user-data-dir={tmp_path / key}",
                    "--dump-dom",
                    origin + _path(urls[key]),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            dom = result.stdout
            assert "Lunch talk" in dom, (key, result.stderr[-2000:])
            # what a person sees: the script is text, it did not run
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
            assert "Doctor" not in dom
    finally:
        calserver(server, "unpublish", "alice/cal")
