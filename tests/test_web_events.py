"""Events in the web app (issue 14 section 4) over the in-process WSGI client: create,
edit (series, one occurrence, this and following), delete, duplicate; defaults from the
user's settings; stale edits (412), rights (read-only, busy-only), bad input and CSRF.
Every write goes through CalDAV, so each test reads back what a CalDAV client gets."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import icalendar
import pytest

from calserver import calendars
from calserver.accounts import settings as user_settings
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import Response, WSGIClient
from tests.test_web_core import FORM, csrf_of, get, session_of

pytestmark = pytest.mark.storage


@pytest.fixture
def web(client: WSGIClient) -> WSGIClient:
    storage = Storage(client.configuration)
    calendars.create(storage, "alice/work", "Work")
    calendars.create(storage, "alice/home", "Home")
    return client


def post(
    client: WSGIClient, session: str, path: str, fields: dict[str, Any], csrf: bool = True
) -> Response:
    data = dict(fields)
    if csrf:
        data["csrf"] = csrf_of(client, session)
    return client.request(
        "POST",
        path,
        urlencode(data, doseq=True),
        {"Content-Type": FORM, "Cookie": f"calserver_session={session}"},
        user=None,
    )


def event_form(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": "Planning",
        "calendar": "alice/work",
        "start_date": "2026-03-02",
        "start_time": "10:00",
        "end_date": "2026-03-02",
        "end_time": "11:00",
        "timezone": "Europe/Paris",
        "repeat": "none",
        "interval": "1",
        "ends": "never",
        "availability": "busy",
        "visibility": "PUBLIC",
        "location": "Room 4",
        "description": "Quarterly plan",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def created(client: WSGIClient, session: str, **changes: Any) -> tuple[str, str]:
    """(cal, href) of a new event made through the form."""
    answer = post(client, session, "/.web/event/new", event_form(**changes))
    assert answer.status == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["done"] == ["created"]
    return query["cal"][0], query["href"][0]


def stored(client: WSGIClient, cal: str, href: str) -> icalendar.Calendar:
    answer = client.request("GET", f"/{cal}/{href}", user="alice")
    assert answer.status == 200, answer.text
    return icalendar.Calendar.from_ical(answer.text)


def events_of(calendar: icalendar.Calendar) -> list[Any]:
    return list(calendar.walk("VEVENT"))


def etag_in(page: Response) -> str:
    found = re.search(r'name="etag" value="([^"]*)"', page.text)
    assert found is not None
    return found.group(1).replace("&#34;", '"').replace("&quot;", '"')


def test_a_new_event_is_stored_through_caldav_and_shown(web: WSGIClient) -> None:
    session = session_of(web)
    form = get(web, "/.web/event/new?cal=alice/work&start=2026-03-02T10:00", session)
    assert form.status == 200
    minutes = user_settings.get(
        Storage(web.configuration).engine, web.configuration, "alice"
    ).default_duration
    end = f"{10 + minutes // 60:02d}:{minutes % 60:02d}"
    assert f'name="end_time" type="time" value="{end}"' in form.text
    assert '<label for="title">' in form.text and 'value="alice/work" selected' in form.text
    cal, href = created(web, session)
    event = events_of(stored(web, cal, href))[0]
    assert str(event["SUMMARY"]) == "Planning" and str(event["LOCATION"]) == "Room 4"
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert event["DTSTART"].dt.hour == 10 and str(event["TRANSP"]) == "OPAQUE"
    page = get(web, f"/.web/event?cal={cal}&href={href}&done=created", session)
    assert page.status == 200
    assert (
        "Planning" in page.text and "Room 4" in page.text and "The event was created." in page.text
    )
    assert "/.web/event/edit?" in page.text and "/.web/event/duplicate?" in page.text


def test_all_day_events_are_free_by_default(web: WSGIClient) -> None:
    session = session_of(web)
    form = get(web, "/.web/event/new?cal=alice/work&start=2026-03-02&allday=1", session)
    assert '<option value="free" selected>' in form.text
    assert 'id="allday" name="allday" value="1" checked' in form.text
    cal, href = created(
        web,
        session,
        allday="1",
        availability="free",
        end_date="2026-03-03",
        start_time="",
        end_time="",
    )
    event = events_of(stored(web, cal, href))[0]
    assert str(event["DTSTART"].dt) == "2026-03-02" and str(event["DTEND"].dt) == "2026-03-04"
    assert str(event["TRANSP"]) == "TRANSPARENT"
    assert str(event["X-MICROSOFT-CDO-BUSYSTATUS"]) == "FREE"


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        (
            {"repeat": "DAILY", "interval": "2", "ends": "count", "count": "4"},
            {"FREQ": ["DAILY"], "INTERVAL": [2], "COUNT": [4]},
        ),
        ({"repeat": "WEEKLY", "days": ["MO", "WE"]}, {"FREQ": ["WEEKLY"], "BYDAY": ["MO", "WE"]}),
        ({"repeat": "MONTHLY", "ends": "until", "until": "2026-12-31"}, {"FREQ": ["MONTHLY"]}),
        ({"repeat": "YEARLY"}, {"FREQ": ["YEARLY"]}),
    ],
)
def test_recurrence_rules_from_the_form(
    web: WSGIClient, changes: dict[str, Any], rule: dict[str, Any]
) -> None:
    session = session_of(web)
    cal, href = created(web, session, **changes)
    found = events_of(stored(web, cal, href))[0]["RRULE"]
    for key, value in rule.items():
        assert [str(v) if isinstance(v, str) else v for v in found[key]] == value
    if changes.get("ends") == "until":
        assert found["UNTIL"][0].year == 2026 and found["UNTIL"][0].month == 12


def test_the_suggested_weekly_day_follows_a_changed_start_date(web: WSGIClient) -> None:
    # A form opened at 23:30 suggests tomorrow (Tuesday 3 March) and ticks Tuesday;
    # the person moves the start to Monday 2 March and leaves the days alone
    session = session_of(web)
    form = get(web, "/.web/event/new?cal=alice/work&start=2026-03-03T00:00", session)
    assert 'name="days_for" value="TU"' in form.text
    assert 'name="days" value="TU" checked' in form.text
    cal, href = created(web, session, repeat="WEEKLY", days=["TU"], days_for="TU")
    assert [str(d) for d in events_of(stored(web, cal, href))[0]["RRULE"]["BYDAY"]] == ["MO"]
    # a day the person chose stays, alone or with others
    for days in (["WE"], ["TU", "TH"]):
        cal, href = created(web, session, repeat="WEEKLY", days=days, days_for="TU")
        assert [str(d) for d in events_of(stored(web, cal, href))[0]["RRULE"]["BYDAY"]] == days
    # a forged days_for is no weekday: the ticked day stays, and the form shows it escaped
    cal, href = created(web, session, repeat="WEEKLY", days=["TU"], days_for="<b>TU")
    assert [str(d) for d in events_of(stored(web, cal, href))[0]["RRULE"]["BYDAY"]] == ["TU"]
    page = post(web, session, "/.web/event/new", event_form(start_date="bad", days_for="<b>"))
    assert page.status == 400 and "<b>" not in page.text
    # the edit form says which day its ticks were shown for
    page = get(web, f"/.web/event/edit?cal={cal}&href={href}", session)
    assert 'name="days_for" value="MO"' in page.text


def _weekly(web: WSGIClient, session: str) -> tuple[str, str]:
    return created(web, session, repeat="WEEKLY", days=["MO"])


def test_edit_the_whole_series(web: WSGIClient) -> None:
    session = session_of(web)
    cal, href = _weekly(web, session)
    form = get(web, f"/.web/event/edit?cal={cal}&href={href}", session)
    assert form.status == 200 and 'value="Planning"' in form.text
    answer = post(
        web,
        session,
        "/.web/event/edit",
        {
            **event_form(title="Renamed", repeat="WEEKLY", days=["MO"]),
            "cal": cal,
            "href": href,
            "etag": etag_in(form),
        },
    )
    assert answer.status == 303, answer.text
    found = events_of(stored(web, cal, href))
    assert len(found) == 1 and str(found[0]["SUMMARY"]) == "Renamed"


def test_edit_one_occurrence_adds_an_override(web: WSGIClient) -> None:
    session = session_of(web)
    cal, href = _weekly(web, session)
    rid = "20260309T090000Z"  # Monday 9 March, 10:00 in Paris
    form = get(web, f"/.web/event/edit?cal={cal}&href={href}&rid={rid}", session)
    assert form.status == 200 and 'value="2026-03-09"' in form.text
    answer = post(
        web,
        session,
        "/.web/event/edit",
        {
            **event_form(
                title="Moved once",
                start_date="2026-03-09",
                end_date="2026-03-09",
                start_time="14:00",
                end_time="15:00",
            ),
            "cal": cal,
            "href": href,
            "rid": rid,
            "scope": "occurrence",
            "etag": etag_in(form),
        },
    )
    assert answer.status == 303, answer.text
    assert "rid=20260309T090000Z" in answer.headers["location"]
    found = {
        str(e.get("RECURRENCE-ID").to_ical().decode()) if e.get("RECURRENCE-ID") else "": e
        for e in events_of(stored(web, cal, href))
    }
    assert str(found[""]["SUMMARY"]) == "Planning"
    override = next(e for k, e in found.items() if k)
    assert str(override["SUMMARY"]) == "Moved once" and override["DTSTART"].dt.hour == 14
    page = get(web, f"/.web/event?cal={cal}&href={href}&rid={rid}", session)
    assert "Moved once" in page.text and "14:00" in page.text


def test_edit_this_and_following_splits_the_series(web: WSGIClient) -> None:
    session = session_of(web)
    cal, href = _weekly(web, session)
    rid = "20260316T090000Z"
    form = get(web, f"/.web/event/edit?cal={cal}&href={href}&rid={rid}", session)
    answer = post(
        web,
        session,
        "/.web/event/edit",
        {
            **event_form(
                title="New phase",
                start_date="2026-03-16",
                end_date="2026-03-16",
                repeat="WEEKLY",
                days=["MO"],
            ),
            "cal": cal,
            "href": href,
            "rid": rid,
            "scope": "following",
            "etag": etag_in(form),
        },
    )
    assert answer.status == 303, answer.text
    new_href = parse_qs(urlsplit(answer.headers["location"]).query)["href"][0]
    assert new_href != href
    old = events_of(stored(web, cal, href))[0]
    assert old["RRULE"]["UNTIL"][0].date().isoformat() == "2026-03-16"
    assert str(old["SUMMARY"]) == "Planning"
    new = events_of(stored(web, cal, new_href))[0]
    assert str(new["SUMMARY"]) == "New phase" and new["DTSTART"].dt.day == 16
    assert str(new["UID"]) != str(old["UID"])


def test_delete_an_occurrence_the_following_and_the_series(web: WSGIClient) -> None:
    session = session_of(web)
    cal, href = _weekly(web, session)
    answer = post(
        web,
        session,
        "/.web/event/delete",
        {"cal": cal, "href": href, "rid": "20260309T090000Z", "scope": "occurrence"},
    )
    assert answer.status == 303, answer.text
    master = events_of(stored(web, cal, href))[0]
    assert master["EXDATE"].dts[0].dt.day == 9
    answer = post(
        web,
        session,
        "/.web/event/delete",
        {"cal": cal, "href": href, "rid": "20260323T090000Z", "scope": "following"},
    )
    assert answer.status == 303, answer.text
    master = events_of(stored(web, cal, href))[0]
    assert master["RRULE"]["UNTIL"][0].day == 23 and master["RRULE"]["UNTIL"][0].hour == 8
    answer = post(web, session, "/.web/event/delete", {"cal": cal, "href": href, "scope": "series"})
    assert answer.status == 303
    assert web.request("GET", f"/{cal}/{href}", user="alice").status == 404
    assert get(web, f"/.web/event?cal={cal}&href={href}", session).status == 404


def test_duplicate_into_another_calendar(web: WSGIClient) -> None:
    session = session_of(web)
    cal, href = created(web, session)
    form = get(web, f"/.web/event/duplicate?cal={cal}&href={href}", session)
    assert form.status == 200 and 'value="alice/home"' in form.text
    answer = post(
        web, session, "/.web/event/duplicate", {"cal": cal, "href": href, "calendar": "alice/home"}
    )
    assert answer.status == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["cal"] == ["alice/home"] and query["href"][0] != href
    copy = events_of(stored(web, "alice/home", query["href"][0]))[0]
    original = events_of(stored(web, cal, href))[0]
    assert str(copy["SUMMARY"]) == "Planning" and str(copy["UID"]) != str(original["UID"])
    refused = post(
        web, session, "/.web/event/duplicate", {"cal": cal, "href": href, "calendar": "bob/x"}
    )
    assert refused.status == 400 and 'id="calendar-error"' in refused.text


def test_a_stale_edit_answers_412_and_keeps_the_input(web: WSGIClient) -> None:
    session = session_of(web)
    cal, href = created(web, session)
    form = get(web, f"/.web/event/edit?cal={cal}&href={href}", session)
    old_etag = etag_in(form)
    text = web.request("GET", f"/{cal}/{href}", user="alice").text.replace(
        "SUMMARY:Planning", "SUMMARY:Changed by phone"
    )
    assert web.request(
        "PUT", f"/{cal}/{href}", text, {"Content-Type": "text/calendar"}, user="alice"
    ).status in (201, 204)
    answer = post(
        web,
        session,
        "/.web/event/edit",
        {**event_form(title="My new title"), "cal": cal, "href": href, "etag": old_etag},
    )
    assert answer.status == 412
    assert "Someone changed this event" in answer.text
    assert 'value="My new title"' in answer.text and "Changed by phone" in answer.text
    assert str(events_of(stored(web, cal, href))[0]["SUMMARY"]) == "Changed by phone"
    again = post(
        web,
        session,
        "/.web/event/edit",
        {**event_form(title="My new title"), "cal": cal, "href": href, "etag": etag_in(answer)},
    )
    assert again.status == 303
    assert str(events_of(stored(web, cal, href))[0]["SUMMARY"]) == "My new title"


def test_a_reader_gets_no_edit_form_and_may_not_post(web: WSGIClient) -> None:
    alice = session_of(web)
    cal, href = created(web, alice)
    manage.share(Storage(web.configuration).engine, "alice/work", "bob", "read")
    bob = session_of(web, "bob")
    page = get(web, f"/.web/event?cal={cal}&href={href}", bob)
    assert page.status == 200 and "Planning" in page.text and "Room 4" in page.text
    assert "/.web/event/edit?" not in page.text and "/.web/event/delete" not in page.text
    assert get(web, f"/.web/event/edit?cal={cal}&href={href}", bob).status == 403
    changed = post(
        web, bob, "/.web/event/edit", {**event_form(title="Bob was here"), "cal": cal, "href": href}
    )
    assert changed.status == 403
    assert post(web, bob, "/.web/event/delete", {"cal": cal, "href": href}).status == 403
    new = post(web, bob, "/.web/event/new", event_form())
    assert new.status == 400 and 'id="calendar-error"' in new.text
    assert str(events_of(stored(web, cal, href))[0]["SUMMARY"]) == "Planning"


def test_a_writer_edits_a_shared_calendar_through_caldav(web: WSGIClient) -> None:
    alice = session_of(web)
    cal, href = created(web, alice)
    manage.share(Storage(web.configuration).engine, "alice/work", "bob", "write")
    bob = session_of(web, "bob")
    form = get(web, f"/.web/event/edit?cal={cal}&href={href}", bob)
    assert form.status == 200
    answer = post(
        web,
        bob,
        "/.web/event/edit",
        {**event_form(title="Bob's title"), "cal": cal, "href": href, "etag": etag_in(form)},
    )
    assert answer.status == 303, answer.text
    assert str(events_of(stored(web, cal, href))[0]["SUMMARY"]) == "Bob's title"


def test_a_busy_only_viewer_sees_busy_and_nothing_else(web: WSGIClient) -> None:
    alice = session_of(web)
    cal, href = created(
        web, alice, title="Secret interview", location="Room 9", description="About Carol"
    )
    manage.share(Storage(web.configuration).engine, "alice/work", "bob", "busy")
    bob = session_of(web, "bob")
    page = get(web, f"/.web/event?cal={cal}&href={href}", bob)
    assert page.status == 200 and "Busy" in page.text
    for hidden in (
        "Secret interview",
        "Room 9",
        "About Carol",
        "/.web/event/edit?",
        "/.web/event/duplicate?",
    ):
        assert hidden not in page.text
    assert get(web, f"/.web/event/duplicate?cal={cal}&href={href}", bob).status == 403
    private = created(web, alice, title="Private thing", visibility="PRIVATE")
    assert get(web, f"/.web/event?cal={private[0]}&href={private[1]}", bob).status == 404
    assert get(web, f"/.web/event?cal={cal}&href={href}", session_of(web, "bob")).status == 200


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"end_time": "09:00"}, "end_date", "The end must be after the start."),
        ({"start_date": "2026-02-30"}, "start_date", "Enter the start date as YYYY-MM-DD."),
        ({"calendar": "alice/nothing"}, "calendar", "Choose one of the calendars you may change."),
        ({"title": "x" * 256}, "title", "The title may have at most 255 characters."),
        ({"timezone": "Mars/Olympus"}, "timezone", "Choose a time zone"),
        ({"repeat": "DAILY", "ends": "count", "count": "0"}, "count", "Enter a number of times"),
        ({"participants": "nobody-here"}, "participants", "there is no user or group named"),
    ],
)
def test_bad_input_is_a_400_with_the_message_by_the_field(
    web: WSGIClient, changes: dict[str, Any], field: str, message: str
) -> None:
    session = session_of(web)
    answer = post(web, session, "/.web/event/new", event_form(**changes))
    assert answer.status == 400
    found = re.search(rf'<span class="field-error" id="{field}-error">([^<]*)</span>', answer.text)
    assert found is not None and message in found.group(1).replace("&#39;", "'")
    assert f'aria-describedby="{field}-error"' in answer.text or f'{field}-error"' in answer.text
    assert 'value="Room 4"' in answer.text  # the input is kept
    assert web.request("REPORT", "/alice/work/", user="alice").status != 500


def test_unknown_events_and_calendars_are_404(web: WSGIClient) -> None:
    session = session_of(web)
    assert get(web, "/.web/event?cal=alice/work&href=nothing.ics", session).status == 404
    assert get(web, "/.web/event?cal=bob/private&href=x.ics", session).status == 404
    assert get(web, "/.web/event?cal=../etc&href=x.ics", session).status == 404
    cal, href = created(web, session)
    assert get(web, f"/.web/event?cal={cal}&href={href}&rid=tomorrow", session).status == 404


def test_a_post_without_csrf_is_refused(web: WSGIClient) -> None:
    session = session_of(web)
    answer = post(web, session, "/.web/event/new", event_form(), csrf=False)
    assert answer.status == 403
    cal, href = created(web, session)
    assert (
        post(web, session, "/.web/event/delete", {"cal": cal, "href": href}, csrf=False).status
        == 403
    )
    assert web.request("GET", f"/{cal}/{href}", user="alice").status == 200


def test_a_stale_delete_answers_412_and_deletes_nothing(web: WSGIClient) -> None:
    session = session_of(web)
    cal, href = created(web, session)
    page = get(web, f"/.web/event?cal={cal}&href={href}", session)
    old_etag = etag_in(page)
    text = web.request("GET", f"/{cal}/{href}", user="alice").text.replace("Room 4", "Room 5")
    web.request("PUT", f"/{cal}/{href}", text, {"Content-Type": "text/calendar"}, user="alice")
    answer = post(web, session, "/.web/event/delete", {"cal": cal, "href": href, "etag": old_etag})
    assert answer.status == 412 and "Someone changed this event" in answer.text
    assert "Room 5" in answer.text
    assert web.request("GET", f"/{cal}/{href}", user="alice").status == 200
