"""calendar-query and calendar-multiget answered from the index (``calserver.dav.report``)
give what Radicale's handler gives (the fallback, forced by turning the fast path off):
byte for byte without ``expand``; with ``expand`` the same instances (RECURRENCE-ID,
DTSTART, DTEND in UTC, SUMMARY) per href, except where Radicale departs from RFC 4791
9.6.5 / 9.9 (an instance starting at the window's end, times left in their zone),
which the expected values here spell out.

Data: the benchmark's generated calendar (series with EXDATEs and overrides, all-day
events, four time zones) and the storage suite's fixtures, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import vobject
from benchmarks import dataset
from benchmarks.render import write_calendar_file

from calserver import calendars
from calserver.accounts import users
from calserver.dav import report
from calserver.ical import expand as expansion
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import FIXTURES, PASSWORD, WSGIClient, event_ics

CALDAV = "urn:ietf:params:xml:ns:caldav"
UTC = datetime.UTC
GENERATED = 2000
#: weeks of the generated decade that the comparisons cover
WINDOWS = [
    ("20250310T000000Z", "20250317T000000Z"),
    ("20200106T000000Z", "20200113T000000Z"),
    ("20220601T000000Z", "20220701T000000Z"),
    ("20251224T120000Z", "20251226T000000Z"),
]


def query(
    start: str | None,
    end: str | None,
    component: str = "VEVENT",
    expand: tuple[str, str] | None = None,
    props: str = "<D:getetag/>",
) -> str:
    data = ""
    if expand is not None:
        data = (
            f'<C:calendar-data><C:expand start="{expand[0]}" end="{expand[1]}"/></C:calendar-data>'
        )
    else:
        data = "<C:calendar-data/>"
    attrs = "".join(f' {k}="{v}"' for k, v in (("start", start), ("end", end)) if v)
    time_range = f"<C:time-range{attrs}/>" if (start or end) else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop>{props}{data}</D:prop>'
        f'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="{component}">'
        f"{time_range}</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


def multiget(hrefs: list[str], expand: tuple[str, str] | None = None) -> str:
    data = "<C:calendar-data/>"
    if expand is not None:
        data = (
            f'<C:calendar-data><C:expand start="{expand[0]}" end="{expand[1]}"/></C:calendar-data>'
        )
    links = "".join(f"<D:href>{href}</D:href>" for href in hrefs)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{CALDAV}">'
        f"<D:prop><D:getetag/>{data}</D:prop>{links}</C:calendar-multiget>"
    )


class Counting:
    """Counts the answers the fast path gave."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = report.answer

        def counted(*args: Any) -> Any:
            answer = original(*args)
            if answer is not None:
                self.count += 1
            return answer

        monkeypatch.setattr(report, "answer", counted)


def both(
    client: WSGIClient, body: str, path: str = "/alice/cal/", user: str = ""
) -> tuple[Any, Any]:
    fast = client.request("REPORT", path, body, {"Depth": "1"}, user=user)
    report.ENABLED = False
    try:
        slow = client.request("REPORT", path, body, {"Depth": "1"}, user=user)
    finally:
        report.ENABLED = True
    return fast, slow


def _utc(prop: Any) -> Any:
    if prop is None:
        return None
    value = prop.value
    if isinstance(value, str):  # Radicale writes its expanded times as text
        if len(value) == 8:
            return datetime.datetime.strptime(value, "%Y%m%d").date()
        return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if isinstance(value, datetime.datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value


def instances(body: bytes) -> dict[str, tuple[str | None, frozenset[Any]]]:
    """href -> (ETag, {(RECURRENCE-ID, DTSTART, DTEND, SUMMARY) in UTC})."""
    found: dict[str, tuple[str | None, frozenset[Any]]] = {}
    for response in ET.fromstring(body).findall("{DAV:}response"):
        href = response.findtext("{DAV:}href") or ""
        etag = response.findtext(".//{DAV:}getetag")
        data = response.findtext(f".//{{{CALDAV}}}calendar-data")
        seen: set[Any] = set()
        if data:
            calendar = vobject.readOne(data)
            for event in calendar.contents.get("vevent", []):
                summary = event.contents.get("summary")
                seen.add(
                    (
                        _utc(event.contents.get("recurrence-id", [None])[0]),
                        _utc(event.dtstart),
                        _utc(event.contents.get("dtend", [None])[0]),
                        summary[0].value if summary else None,
                    )
                )
        found[href] = (etag, frozenset(seen))
    return found


def _stamp(text: str) -> int:
    moment = datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return int(moment.timestamp())


def rfc_instances(
    found: dict[str, tuple[str | None, frozenset[Any]]], start: str, end: str
) -> dict[str, tuple[str | None, frozenset[Any]]]:
    """Radicale's expanded instances as RFC 4791 9.9 would keep them: not those that
    start at (or after) the window's end, an item left without instances dropped."""
    low, high = _stamp(start), _stamp(end)
    kept: dict[str, tuple[str | None, frozenset[Any]]] = {}
    for href, (etag, seen) in found.items():
        inside = set()
        for rid, begin, finish, summary in seen:
            begin_ts = expansion._timestamp(begin)
            finish_ts = expansion._timestamp(finish) if finish is not None else begin_ts
            if begin_ts < high and (finish_ts > low or begin_ts == finish_ts >= low):
                inside.add((rid, begin, finish, summary))
        if inside:
            kept[href] = (etag, frozenset(inside))
    return kept


@pytest.fixture
def generated(
    client: WSGIClient, configuration: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> WSGIClient:
    """alice/cal with the generated events (2020-2029, dense enough that each window
    holds series, overrides, all-day and zoned events), imported as ``calserver
    import`` does."""
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    write_calendar_file(dataset.generate(GENERATED, 11), tmp_path / "cal.ics")
    text = (tmp_path / "cal.ics").read_text(encoding="utf-8")
    monkeypatch.setattr(calendars, "PARALLEL_THRESHOLD", 10**9)  # parsed in this process
    calendars.import_file(Storage(configuration), "alice/cal", text)
    return client


def test_generated_calendar_answers_as_radicales_handler(
    generated: WSGIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One import of the generated calendar, then each comparison (the import is the
    cost of this test)."""
    counting = Counting(monkeypatch)
    week_query_is_byte_for_byte_radicales(generated)
    expanded_week_has_radicales_instances_within_the_window(generated)
    multiget_matches_radicale(generated)
    assert counting.count == 3 * len(WINDOWS) + 1 + len(WINDOWS) + 2


def week_query_is_byte_for_byte_radicales(generated: WSGIClient) -> None:
    for start, end in WINDOWS:
        for component in ("VEVENT", "VTODO"):
            fast, slow = both(generated, query(start, end, component))
            assert fast.status == slow.status == 207
            assert fast.body == slow.body
        fast, slow = both(generated, query(start, None))  # open-ended (RFC 4791 9.9)
        assert fast.body == slow.body
    fast, slow = both(generated, query(None, None, props="<D:getcontenttype/><D:getetag/>"))
    assert fast.body == slow.body


def expanded_week_has_radicales_instances_within_the_window(generated: WSGIClient) -> None:
    total = 0
    for start, end in WINDOWS:
        fast, slow = both(generated, query(start, end, expand=(start, end)))
        assert fast.status == slow.status == 207
        mine = instances(fast.body)
        assert mine == rfc_instances(instances(slow.body), start, end)
        total += sum(len(seen) for _, seen in mine.values())
        assert all(
            "TZID" not in line and not line.startswith(("RRULE", "EXDATE", "RDATE"))
            for line in fast.text.splitlines()
        )
    assert total > 20


def multiget_matches_radicale(generated: WSGIClient) -> None:
    events = dataset.generate(GENERATED, 11)
    hrefs = [f"/alice/cal/{event.uid}.ics" for event in events[::37]]
    hrefs.append("/alice/cal/missing.ics")
    fast, slow = both(generated, multiget(hrefs))
    assert fast.status == slow.status == 207

    def responses(body: bytes) -> set[bytes]:
        return {ET.tostring(r) for r in ET.fromstring(body)}

    assert responses(fast.body) == responses(slow.body)
    start, end = WINDOWS[2]
    fast, slow = both(generated, multiget(hrefs, (start, end)))
    mine = instances(fast.body)
    radicales = rfc_instances(instances(slow.body), start, end)
    # Radicale's expand without a time-range drops every event that is not a series
    assert {h: v for h, v in mine.items() if h in radicales} == radicales


def test_storage_fixtures_expand_like_radicale(
    client: WSGIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client-made fixtures: floating times and zones of their own fall back."""
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    stored = 0
    for path in sorted(FIXTURES.glob("*.ics")):
        if path.name.startswith("bad-"):
            continue
        answer = client.request(
            "PUT",
            f"/alice/cal/{path.stem}.ics",
            path.read_text(),
            {"Content-Type": "text/calendar"},
        )
        stored += answer.status == 201
    assert stored > 5
    for start, end in (
        ("20240101T000000Z", "20300101T000000Z"),
        ("20261101T000000Z", "20261201T000000Z"),
    ):
        fast, slow = both(client, query(start, end))
        assert fast.body == slow.body
        fast, slow = both(client, query(start, end, expand=(start, end)))
        assert fast.status == slow.status == 207
        assert instances(fast.body) == rfc_instances(instances(slow.body), start, end)


def _series(uid: str, rule: str = "RRULE:FREQ=DAILY;COUNT=10\r\n", extra: str = "") -> str:
    return event_ics(uid, "20261102T100000Z", "20261102T110000Z", "series", rule + extra)


def test_instance_starting_at_the_window_end_is_outside(client: WSGIClient) -> None:
    """RFC 4791 9.9: [start, end); Radicale's expand keeps an instance starting at end."""
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    client.request("PUT", "/alice/cal/s.ics", _series("s"), {"Content-Type": "text/calendar"})
    start, end = "20261103T000000Z", "20261105T100000Z"
    fast, slow = both(client, query(start, end, expand=(start, end)))
    mine = instances(fast.body)["/alice/cal/s.ics"][1]
    assert sorted(begin.day for _, begin, _, _ in mine) == [3, 4]
    radicales = instances(slow.body)["/alice/cal/s.ics"][1]
    assert sorted(begin.day for _, begin, _, _ in radicales) == [3, 4, 5]


def test_override_moved_into_and_out_of_the_window(client: WSGIClient) -> None:
    """An override counts where it is, not where its RECURRENCE-ID was."""
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    text = _series("o").replace(
        "END:VEVENT\r\nEND:VCALENDAR",
        "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:o\r\nDTSTAMP:20261101T000000Z\r\n"
        "RECURRENCE-ID:20261104T100000Z\r\nDTSTART;TZID=Europe/Berlin:20261110T090000\r\n"
        "DTEND;TZID=Europe/Berlin:20261110T100000\r\nSUMMARY:moved\r\nEND:VEVENT\r\n"
        "END:VCALENDAR",
    )
    assert (
        client.request("PUT", "/alice/cal/o.ics", text, {"Content-Type": "text/calendar"}).status
        == 201
    )
    start, end = "20261104T000000Z", "20261105T000000Z"
    fast, _ = both(client, query(start, end, expand=(start, end)))
    assert "/alice/cal/o.ics" not in instances(fast.body)
    start, end = "20261110T000000Z", "20261111T000000Z"
    fast, _ = both(client, query(start, end, expand=(start, end)))
    found = instances(fast.body)["/alice/cal/o.ics"][1]
    moved = datetime.datetime(2026, 11, 10, 8, tzinfo=UTC)
    rid = datetime.datetime(2026, 11, 4, 10, tzinfo=UTC)
    assert (rid, moved, moved + datetime.timedelta(hours=1), "moved") in found
    assert len(found) == 2  # and the series' own instance of November 10
    assert "DTSTART:20261110T080000Z" in fast.text


def test_an_all_day_override_replaces_its_instance(client: WSGIClient) -> None:
    """A weekly all-day series overridden on the date of one of its instances gives that
    date once, the override's (RFC 5545 3.8.4.4): the index lists the series' own
    instance too there (Radicale's walk compares the DATE RECURRENCE-ID with datetimes),
    and so does Radicale's expand. Found by the benchmark at 100,000 events."""
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:day\r\n"
        "DTSTAMP:20261101T000000Z\r\nDTSTART;VALUE=DATE:20261102\r\n"
        "DTEND;VALUE=DATE:20261103\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\nSUMMARY:training\r\n"
        "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:day\r\nDTSTAMP:20261101T000000Z\r\n"
        "RECURRENCE-ID;VALUE=DATE:20261109\r\nDTSTART;VALUE=DATE:20261109\r\n"
        "DTEND;VALUE=DATE:20261110\r\nSUMMARY:training (moved)\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    headers = {"Content-Type": "text/calendar"}
    assert client.request("PUT", "/alice/cal/day.ics", text, headers).status == 201
    start, end = "20261101T000000Z", "20261115T000000Z"
    fast, _ = both(client, query(start, end, expand=(start, end)))
    body = fast.body.decode()
    assert body.count("BEGIN:VEVENT") == 2, body
    assert body.count("SUMMARY:training (moved)") == 1, body
    assert body.count("SUMMARY:training\r") == 1, body


def test_what_the_index_cannot_answer_falls_back(
    client: WSGIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    client.request("PUT", "/alice/cal/a.ics", event_ics("a"), {"Content-Type": "text/calendar"})
    counting = Counting(monkeypatch)
    text_match = query("20261101T000000Z", "20261201T000000Z").replace(
        "</C:comp-filter></C:comp-filter>",
        '<C:prop-filter name="SUMMARY"><C:text-match>Ev</C:text-match></C:prop-filter>'
        "</C:comp-filter></C:comp-filter>",
    )
    for body in (
        text_match,
        query("20261101T000000Z", "20261201T000000Z", props="<D:displayname/>"),
        query(None, None, component="VAVAILABILITY"),
        multiget(["/alice/"]),
        "<D:sync-collection xmlns:D='DAV:'><D:sync-token/><D:prop><D:getetag/></D:prop>"
        "</D:sync-collection>",
    ):
        fast, slow = both(client, body)
        assert (fast.status, fast.body) == (slow.status, slow.body)
    assert counting.count == 0


def test_busy_viewer_and_reader_see_what_radicales_handler_shows_them(
    client: WSGIClient, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Visibility as before: bob (busy level) gets busy views of the public events,
    carol (reader) busy views of the confidential ones, nobody the private one."""
    users.add(engine, "carol", PASSWORD, "carol@example.org")
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    for uid, klass in (("pub", "PUBLIC"), ("conf", "CONFIDENTIAL"), ("priv", "PRIVATE")):
        text = _series(uid, extra=f"CLASS:{klass}\r\nDESCRIPTION:secret {uid}\r\n")
        put = client.request(
            "PUT", f"/alice/cal/{uid}.ics", text, {"Content-Type": "text/calendar"}
        )
        assert put.status == 201
    manage.share(engine, "alice/cal", "bob", "busy")
    manage.share(engine, "alice/cal", "carol", "read")
    counting = Counting(monkeypatch)
    start, end = "20261101T000000Z", "20261201T000000Z"
    hrefs = [f"/alice/cal/{uid}.ics" for uid in ("pub", "conf", "priv")]
    seen = {"bob": {"/alice/cal/pub.ics"}, "carol": {"/alice/cal/pub.ics", "/alice/cal/conf.ics"}}
    for user in ("bob", "carol"):
        fast, slow = both(client, query(start, end), user=user)
        assert fast.status == 207 and fast.body == slow.body
        assert set(instances(fast.body)) == seen[user]
        fast, slow = both(client, multiget(hrefs), user=user)
        assert {ET.tostring(r) for r in ET.fromstring(fast.body)} == {
            ET.tostring(r) for r in ET.fromstring(slow.body)
        }
        fast, slow = both(client, query(start, end, expand=(start, end)), user=user)
        assert instances(fast.body) == rfc_instances(instances(slow.body), start, end)
        assert set(instances(fast.body)) == seen[user]
        if user == "bob":
            assert "secret" not in fast.text
        assert "secret conf" not in fast.text and "secret priv" not in fast.text
    assert counting.count == 6


def test_hostile_series_stays_bounded(client: WSGIClient) -> None:
    """An endless hourly series (the index lists 5,000 instances): a day of it is
    expanded from the index as Radicale expands it; a week past the indexed instances,
    and two years (over ``max_expand_occurrence``, 10,000), go to Radicale's handler
    and get exactly its answer (its 400 for the two years)."""
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    rule = "RRULE:FREQ=HOURLY\r\n"
    text = event_ics("m", "20261102T000000Z", "20261102T003000Z", "hourly", rule)
    put = client.request("PUT", "/alice/cal/m.ics", text, {"Content-Type": "text/calendar"})
    assert put.status == 201, put.text
    start, end = "20261102T000000Z", "20261103T000000Z"
    fast, slow = both(client, query(start, end, expand=(start, end)))
    assert fast.status == slow.status == 207
    mine = instances(fast.body)
    assert mine == rfc_instances(instances(slow.body), start, end)
    assert len(mine["/alice/cal/m.ics"][1]) == 24
    for start, end in (
        ("20271102T000000Z", "20271109T000000Z"),
        ("20261102T000000Z", "20281102T000000Z"),
    ):
        fast, slow = both(client, query(start, end, expand=(start, end)))
        assert (fast.status, fast.body) == (slow.status, slow.body)
    assert fast.status == 400
