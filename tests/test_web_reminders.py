"""Reminders in the web app (issue 16) over the in-process WSGI client: the reminder
choice of the event editor, the event page's reminders (add, cancel, refusals), and the
settings page (agenda, send now, phone without a gateway)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from calserver import calendars
from calserver.db.models import mail_outbox, reminders
from calserver.reminders import clock
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import WSGIClient
from tests.test_web_core import get, session_of
from tests.test_web_events import event_form, post

pytestmark = pytest.mark.storage


@pytest.fixture
def web(client: WSGIClient) -> Any:
    clock.set_source(lambda: datetime.fromisoformat("2026-03-01T00:00:00+00:00").timestamp())
    storage = Storage(client.configuration)
    calendars.create(storage, "alice/work", "Work")
    yield client
    clock.set_source(None)


def _engine(client: WSGIClient) -> Any:
    return Storage(client.configuration).engine


def test_the_editor_sets_a_reminder_and_the_event_page_lists_and_cancels_it(web: Any) -> None:
    session = session_of(web)
    page = get(web, "/.web/event/new", session)
    assert 'name="reminder"' in page.text and 'value="email-15"' in page.text
    bad = post(web, session, "/.web/event/new", event_form(reminder="email-99999"))
    assert bad.status == 400 and "Choose one of the reminders offered" in bad.text
    answer = post(web, session, "/.web/event/new", event_form(reminder="email-15"))
    assert answer.status == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    cal, href = query["cal"][0], query["href"][0]
    shown = get(web, f"/.web/event?cal={cal}&href={href}", session)
    assert "E-mail, 15 minutes before" in shown.text
    assert "next: 2026-03-02T08:45:00Z" in shown.text  # 10:00 in Paris
    with _engine(web).connect() as conn:
        [rid] = conn.execute(select(reminders.c.id)).scalars().all()
    more = post(
        web,
        session,
        "/.web/event/reminders",
        {"cal": cal, "href": href, "action": "add", "minutes": "1440", "channel": "email"},
    )
    assert more.status == 303 and "done=reminder-added" in more.headers["location"]
    refused = post(
        web,
        session,
        "/.web/event/reminders",
        {"cal": cal, "href": href, "action": "add", "minutes": "1440", "channel": "sms"},
    )
    assert refused.status == 409 and "SMS" in refused.text
    gone = post(
        web,
        session,
        "/.web/event/reminders",
        {"cal": cal, "href": href, "action": "cancel", "id": str(rid)},
    )
    assert gone.status == 303
    shown = get(web, f"/.web/event?cal={cal}&href={href}", session)
    assert "E-mail, 1 day before" in shown.text and "E-mail, 15 minutes" not in shown.text
    # without the CSRF token nothing changes
    forged = post(
        web,
        session,
        "/.web/event/reminders",
        {"cal": cal, "href": href, "action": "add", "minutes": "5"},
        csrf=False,
    )
    assert forged.status == 403


def test_a_group_calendars_event_page_says_why_it_has_no_reminders(web: Any) -> None:
    engine = _engine(web)
    manage.create_group(engine, "staff", admin="alice")
    calendars.create(Storage(web.configuration), "@staff/board")
    session = session_of(web)
    answer = post(web, session, "/.web/event/new", event_form(calendar="@staff/board"))
    assert answer.status == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    shown = get(web, f"/.web/event?cal={query['cal'][0]}&href={query['href'][0]}", session)
    assert "reminders are not set on group calendars" in shown.text


def test_the_settings_page_saves_the_agenda_and_sends_it_now(web: Any) -> None:
    session = session_of(web)
    page = get(web, "/.web/settings/reminders", session)
    assert page.status == 200 and "This server sends no SMS" in page.text
    bad = post(
        web,
        session,
        "/.web/settings/reminders",
        {"action": "agenda", "days": ["mo"], "time": "25:00"},
    )
    assert bad.status == 400 and "HH:MM" in bad.text
    saved = post(
        web,
        session,
        "/.web/settings/reminders",
        {"action": "agenda", "days": ["mo", "tu"], "time": "07:30", "content": "next"},
    )
    assert saved.status == 303 and "done=agenda" in saved.headers["location"]
    page = get(web, "/.web/settings/reminders", session)
    assert re.search(r'value="mo" checked', page.text) and 'value="07:30"' in page.text
    empty = post(web, session, "/.web/settings/reminders", {"action": "send-now"})
    assert "done=empty" in empty.headers["location"]  # tomorrow is empty: nothing sent
    with _engine(web).connect() as conn:
        assert conn.execute(select(mail_outbox.c.id)).first() is None
    again = post(web, session, "/.web/settings/reminders", {"action": "send-now"})
    assert again.status == 409 and "try again later" in again.text
    off = post(web, session, "/.web/settings/reminders", {"action": "agenda", "time": "07:30"})
    assert "done=agenda-off" in off.headers["location"]
    phone = post(
        web, session, "/.web/settings/reminders", {"action": "phone", "number": "+32470123456"}
    )
    assert phone.status == 409
