"""SMS reminders through a real local HTTP gateway that checks the signature, the
e-mail-to-SMS backend, phone verification, and the agenda by e-mail (issue 16), with
the clock the worker reads moved by the tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from email import message_from_string
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from calserver import calendars, db
from calserver.accounts import settings, users
from calserver.app import make_app
from calserver.db.models import mail_outbox, sms_outbox
from calserver.reminders import agenda_mail, clock, sms, smstext, timing, worker
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import PASSWORD, WSGIClient, make_configuration
from tests.test_reminders import api, put, remind, series, ts

SECRET = "gateway secret"


class Sink(ThreadingHTTPServer):
    """An SMS gateway on 127.0.0.1 keeping what it accepted; it answers ``status``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.status = 202

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/sms"


class _Handler(BaseHTTPRequestHandler):
    server: Sink

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(self.headers.get("X-Calserver-Signature", ""), expected):
            self.server.bad_signatures += 1
            self.send_response(401)
        else:
            status = self.server.status
            if 200 <= status < 300:
                self.server.received.append(json.loads(body))
            self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def moved_clock() -> Iterator[dict[str, float]]:
    now = {"t": ts("2026-11-30T00:00:00Z")}
    clock.set_source(lambda: now["t"])
    yield now
    clock.set_source(None)


def _world(database_url: str, tmp_path: Path, **sections: dict[str, str]) -> WSGIClient:
    configuration = make_configuration(database_url, tmp_path, **sections)
    engine = db.engine_for(configuration)
    db.ensure_schema(engine)
    for name in ("alice", "bob"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    client = WSGIClient(make_app(configuration), configuration, default_user="alice")
    calendars.create(Storage(configuration), "alice/work")
    return client


@pytest.fixture
def http_world(database_url: str, tmp_path: Path, sink: Sink, moved_clock: Any) -> WSGIClient:
    return _world(
        database_url,
        tmp_path,
        sms={"backend": "http", "url": sink.url, "secret": SECRET, "timeout": "2"},
    )


def _engine(client: WSGIClient) -> Any:
    return db.engine_for(client.configuration)


def _verify(client: WSGIClient, sink: Sink, number: str = "+32470123456") -> None:
    status, body = api(client, "PUT", "/me/phone", {"number": number})
    assert (status, body["verified"]) == (200, False), body
    sms.send_due(_engine(client), client.configuration)
    code = re.search(r"\d{6}", sink.received[-1]["text"]).group(0)  # type: ignore[union-attr]
    assert (
        api(
            client, "POST", "/me/phone/verify", {"code": "000000" if code != "000000" else "111111"}
        )[0]
        == 400
    )
    status, body = api(client, "POST", "/me/phone/verify", {"code": code})
    assert (status, body["verified"]) == (200, True), body


def test_an_sms_reminder_goes_to_the_verified_phone_signed_and_once(
    http_world: WSGIClient, sink: Sink
) -> None:
    client, engine = http_world, _engine(http_world)
    put(client, "/alice/work/weekly.ics", series(rule=""))
    status, body = remind(client, "alice/work", "weekly", channel="sms", minutes_before=15)
    assert status == 409 and "verified phone" in body["error"]
    assert api(client, "PUT", "/me/phone", {"number": "0470 12 34 56"})[0] == 400
    _verify(client, sink)
    assert remind(client, "alice/work", "weekly", channel="sms", minutes_before=15)[0] == 201
    counts = worker.run_once(engine, client.configuration, now=ts("2026-12-01T09:45:00Z"))
    assert (counts.sent, counts.sms) == (1, 1)
    worker.run_once(engine, client.configuration, now=ts("2026-12-01T09:46:00Z"))
    [reminder] = sink.received[1:]
    assert reminder["to"] == "+32470123456" and reminder["id"].startswith("calserver-sms-")
    assert "Team meeting" in reminder["text"] and "10:00-11:00" in reminder["text"]
    assert sink.bad_signatures == 0


def test_a_failing_gateway_is_retried_with_back_off_then_given_up_never_twice(
    http_world: WSGIClient, sink: Sink
) -> None:
    client, engine = http_world, _engine(http_world)
    _verify(client, sink)
    sink.status = 500
    with db.write_transaction(engine) as conn:
        sms.enqueue(conn, client.configuration, "+32470123456", "hello", now=0.0)
    now = 0.0
    for attempt in range(1, sms.MAX_ATTEMPTS + 1):
        counts = sms.send_due(engine, client.configuration, now=now)
        assert counts.sent == 0
        assert sms.send_due(engine, client.configuration, now=now).retrying == 0  # backed off
        now += sms.retry_delay(attempt)
    [given_up] = sms.unsent(engine)
    assert given_up.failed is not None and "answered 500" in given_up.last_error
    sink.status = 202
    assert sms.send_due(engine, client.configuration, now=now + 10**6).sent == 0
    assert len(sink.received) == 1  # the verification code only


def test_a_slow_gateway_does_not_hold_the_reminders(http_world: WSGIClient, sink: Sink) -> None:
    client, engine = http_world, _engine(http_world)
    _verify(client, sink)
    put(client, "/alice/work/weekly.ics", series(rule=""))
    remind(client, "alice/work", "weekly", channel="sms", minutes_before=15)
    remind(client, "alice/work", "weekly", channel="email", minutes_before=15)
    # the reminders loop only queues: it never waits for the gateway
    counts = worker.deliver_due(engine, client.configuration, now=ts("2026-12-01T09:45:00Z"))
    assert counts.sent == 2
    with engine.connect() as conn:
        assert conn.execute(select(sms_outbox.c.sent)).scalars().all()[-1] is None
        assert len(conn.execute(select(mail_outbox.c.id)).all()) == 1


def test_the_smtp_backend_mails_the_gateway_address(
    database_url: str, tmp_path: Path, moved_clock: Any
) -> None:
    client = _world(
        database_url, tmp_path, sms={"backend": "smtp", "smtp_address": "{number}@sms.example.org"}
    )
    engine = _engine(client)
    assert api(client, "PUT", "/me/phone", {"number": "+32470123456"})[0] == 200
    with engine.connect() as conn:
        [row] = conn.execute(select(mail_outbox)).all()
    assert row.recipients == "32470123456@sms.example.org"
    assert (
        "Your calserver code"
        in message_from_string(row.message, policy=default_policy).get_content()
    )


def test_sms_texts_fit_three_parts_of_gsm_7_with_n_more() -> None:
    lines = [f"10:00-11:00 Meeting number {n} (Work)" for n in range(40)]
    text = smstext.fit(lines)
    assert smstext.septets(text) <= 459 and text.endswith(" more")
    kept = text.count("Meeting number")
    assert text.endswith(f"+{40 - kept} more")
    assert smstext.fit(["Caf\u00e9 \u2615 \u2013 r\u00e9union"]) == "Caf\u00e9 ? - r\u00e9union"
    assert smstext.septets("{}") == 4
    alone = smstext.fit(["x" * 600])
    assert smstext.septets(alone) <= 459 and alone.endswith("...")


def test_email_valarms_are_read_as_offsets_or_instants() -> None:
    text = series(
        rule="",
        extra=(
            "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"
            "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER;VALUE=DATE-TIME:20261201T080000Z\r\n"
            "END:VALARM\r\n"
            "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER;RELATED=END:-PT5M\r\nEND:VALARM\r\n"
            "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:PT5M\r\nEND:VALARM\r\n"
        ),
    )
    assert timing.email_alarms(text) == [(900, None), (None, ts("2026-12-01T08:00:00Z"))]


# --- the agenda ---------------------------------------------------------------------------


@pytest.fixture
def mail_world(database_url: str, tmp_path: Path, moved_clock: Any) -> WSGIClient:
    client = _world(database_url, tmp_path)
    settings.update_settings(
        _engine(client), client.configuration, "alice", timezone="Europe/Brussels"
    )
    return client


def _agendas(client: WSGIClient) -> list[Any]:
    with _engine(client).connect() as conn:
        rows = conn.execute(select(mail_outbox).order_by(mail_outbox.c.id)).all()
    return [message_from_string(r.message, policy=default_policy) for r in rows]


def test_agenda_empty_day_sends_nothing_next_day_content_and_send_now_equal(
    mail_world: WSGIClient, moved_clock: Any
) -> None:
    client, engine = mail_world, _engine(mail_world)
    put(client, "/alice/work/weekly.ics", series(rule="FREQ=WEEKLY;COUNT=3"))  # Tuesdays
    calendars.create(Storage(client.configuration), "bob/team")
    put(
        client,
        "/bob/team/standup.ics",
        series(
            uid="standup",
            rule="",
            summary="Standup",
            start="20261201T080000Z",
            end="20261201T081500Z",
        ),
        user="bob",
    )
    manage.share(engine, "bob/team", "alice", "busy")
    status, body = api(
        client,
        "PUT",
        "/me/agenda",
        {"days": ["mo", "tu"], "time": "07:00", "content": "next", "calendars": ["alice/bob~team"]},
    )
    assert status == 200 and body["enabled"] and body["timezone"] == "Europe/Brussels", body
    assert api(client, "PUT", "/me/agenda", {"calendars": ["carol/x"]})[0] == 400
    assert api(client, "PUT", "/me/agenda", {"days": ["xx"]})[0] == 400
    # Monday 30 Nov, 07:00 in Brussels = 06:00 UTC: the agenda of Tuesday
    assert agenda_mail.send_due(engine, client.configuration, now=ts("2026-11-30T05:59:00Z")) == 0
    assert agenda_mail.send_due(engine, client.configuration, now=ts("2026-11-30T06:00:00Z")) == 1
    assert agenda_mail.send_due(engine, client.configuration, now=ts("2026-11-30T06:05:00Z")) == 0
    [scheduled] = _agendas(client)
    assert scheduled["Subject"] == "Agenda for Tue 01 Dec 2026"
    content = scheduled.get_content()
    assert "09:00\u201309:15 Busy (" in content  # bob's standup as a busy block
    assert "11:00\u201312:00 Team meeting (work)" in content
    assert "Standup" not in content
    # Tuesday: Wednesday is empty, nothing goes out
    assert agenda_mail.send_due(engine, client.configuration, now=ts("2026-12-01T06:00:00Z")) == 0
    # send now on Monday sends what the scheduled one sent
    moved_clock["t"] = ts("2026-11-30T06:30:00Z")
    status, sent = api(client, "POST", "/me/agenda/send-now")
    assert status == 200 and sent["sent"] and sent["day"] == "2026-12-01", sent
    now_sent = _agendas(client)[-1]
    assert now_sent["Subject"] == scheduled["Subject"]
    assert now_sent.get_content() == scheduled.get_content()
    assert api(client, "POST", "/me/agenda/send-now")[0] == 409  # rate-limited
    # unticking every day turns it off
    status, body = api(client, "PUT", "/me/agenda", {"days": []})
    assert status == 200 and not body["enabled"]
    assert agenda_mail.send_due(engine, client.configuration, now=ts("2026-12-07T06:00:00Z")) == 0


def test_agenda_follows_brussels_local_time_over_daylight_saving_and_skips_stale_days(
    mail_world: WSGIClient, moved_clock: Any
) -> None:
    client, engine = mail_world, _engine(mail_world)
    moved_clock["t"] = ts("2027-03-20T00:00:00Z")
    put(
        client,
        "/alice/work/daily.ics",
        series(
            uid="daily",
            rule="FREQ=DAILY;COUNT=300",
            start="20270320T090000Z",
            end="20270320T100000Z",
        ),
    )
    api(
        client,
        "PUT",
        "/me/agenda",
        {"days": ["sa", "su", "mo"], "time": "07:00", "content": "same"},
    )
    cfg = client.configuration
    # Saturday 27 March: 07:00 CET = 06:00 UTC; Sunday 28 (last of March): 07:00 CEST = 05:00 UTC
    assert agenda_mail.send_due(engine, cfg, now=ts("2027-03-27T06:00:00Z")) == 1
    assert agenda_mail.send_due(engine, cfg, now=ts("2027-03-28T04:59:00Z")) == 0
    assert agenda_mail.send_due(engine, cfg, now=ts("2027-03-28T05:00:00Z")) == 1
    # the worker was down on Monday morning: two hours late, that day is skipped
    assert agenda_mail.send_due(engine, cfg, now=ts("2027-03-29T07:00:00Z")) == 0
    # Sunday 31 October (last of October): 07:00 CET = 06:00 UTC again
    assert agenda_mail.send_due(engine, cfg, now=ts("2027-10-31T05:00:00Z")) == 0
    assert agenda_mail.send_due(engine, cfg, now=ts("2027-10-31T06:00:00Z")) == 1
    subjects = [m["Subject"] for m in _agendas(client)]
    assert subjects == [
        "Agenda for Sat 27 Mar 2027",
        "Agenda for Sun 28 Mar 2027",
        "Agenda for Sun 31 Oct 2027",
    ]
    assert "11:00\u201312:00" in _agendas(client)[1].get_content()  # 09:00 UTC in summer
