"""Protocol details and bad input, through the whole WSGI application in-process.

What a client sees: PROPFIND properties (RFC 4918, RFC 6578, CalendarServer getctag),
calendar-query with expand (RFC 4791 7.8, 9.6.5), sync-collection (RFC 6578),
PUT preconditions (RFC 4791 5.3.2, RFC 9110 13.1), and every kind of malformed request,
which must get a 4xx that says what was wrong and leave nothing behind - never a 500.
"""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import vobject
from sqlalchemy import func, select, update

from calserver import db
from calserver.accounts import users
from calserver.app import make_app
from calserver.db.models import collections, items
from calserver.storage.collection import Collection
from tests.conftest import PASSWORD, Response, WSGIClient, make_configuration
from tests.conftest import event_ics as event

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CS": "http://calendarserver.org/ns/"}
CAL = "/alice/cal/"
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def xml(response: Response) -> ET.Element:
    assert response.headers.get("content-type", "").startswith(("text/xml", "application/xml"))
    return ET.fromstring(response.body)


def propfind_body(*props: str) -> str:
    names = "".join(f"<{p}/>" for p in props)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
        f'xmlns:CS="http://calendarserver.org/ns/"><D:prop>{names}</D:prop></D:propfind>'
    )


def props_by_href(response: Response, *props: str) -> dict[str, dict[str, str | None]]:
    """{href: {prop: text}} of a 207 multistatus (props with status 200 only)."""
    assert response.status == 207, response.text
    result: dict[str, dict[str, str | None]] = {}
    for resp in xml(response).findall("D:response", NS):
        href = resp.findtext("D:href", namespaces=NS)
        assert href is not None
        found: dict[str, str | None] = {}
        for propstat in resp.findall("D:propstat", NS):
            if "200" not in (propstat.findtext("D:status", namespaces=NS) or ""):
                continue
            for prop in props:
                element = propstat.find(f"D:prop/{prop}", NS)
                if element is not None:
                    found[prop] = element.text
        result[href] = found
    return result


def error_elements(response: Response) -> list[str]:
    """The precondition elements of a DAV:error body."""
    root = xml(response)
    assert root.tag == "{DAV:}error"
    return [child.tag for child in root]


def stored_hrefs(engine: Any) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(items.c.href)).scalars())


@pytest.fixture
def cal(client: WSGIClient) -> WSGIClient:
    """``client`` with alice's calendar /alice/cal/."""
    response = client.request("MKCALENDAR", CAL)
    assert response.status == 201, response.text
    return client


def put(
    client: WSGIClient, href: str, body: str, headers: dict[str, str] | None = None
) -> Response:
    return client.request("PUT", CAL + href, body, {**ICS, **(headers or {})})


# --- PROPFIND ---------------------------------------------------------------------------


def test_propfind_depth0_getctag_sync_token_and_getetag_follow_writes_only(
    cal: WSGIClient,
) -> None:
    props = ("CS:getctag", "D:sync-token", "D:getetag")

    def depth0() -> dict[str, str | None]:
        response = cal.request("PROPFIND", CAL, propfind_body(*props), {"Depth": "0"})
        by_href = props_by_href(response, *props)
        assert list(by_href) == [CAL]
        return by_href[CAL]

    empty = depth0()
    assert all(empty[p] for p in props), empty
    assert empty["CS:getctag"] == empty["D:getetag"]
    assert put(cal, "a.ics", event("a")).status == 201
    after_put = depth0()
    assert after_put["CS:getctag"] != empty["CS:getctag"]
    assert after_put["D:sync-token"] != empty["D:sync-token"]
    # reads do not move them
    assert cal.request("GET", CAL + "a.ics").status == 200
    assert cal.request("PROPFIND", CAL, propfind_body("D:getetag"), {"Depth": "1"}).status == 207
    assert depth0() == after_put
    assert cal.request("DELETE", CAL + "a.ics").status in (200, 204)
    after_delete = depth0()
    assert after_delete["CS:getctag"] not in (empty["CS:getctag"], after_put["CS:getctag"])


@pytest.mark.parametrize(
    "props",
    [("D:getetag",), ("D:getetag", "D:displayname"), ("D:getetag", "D:getcontenttype")],
    ids=["getetag", "getetag-displayname", "getetag-contenttype"],
)
def test_propfind_depth1_lists_each_item_with_the_etag_put_returned(
    cal: WSGIClient, props: tuple[str, ...]
) -> None:
    etags = {}
    for name in ("a", "b", "ü c"):
        response = put(cal, f"{name}.ics", event(name))
        assert response.status == 201
        etags[f"{name}.ics"] = response.headers["etag"]
    response = cal.request("PROPFIND", CAL, propfind_body(*props), {"Depth": "1"})
    by_href = props_by_href(response, *props)
    from urllib.parse import unquote

    item_etags = {unquote(h)[len(CAL) :]: p["D:getetag"] for h, p in by_href.items() if h != CAL}
    assert item_etags == etags
    assert CAL in by_href
    if "D:getcontenttype" in props:
        types_ = {p["D:getcontenttype"] for h, p in by_href.items() if h != CAL}
        assert len(types_) == 1
        assert types_.pop().startswith("text/calendar")
    depth0 = cal.request("PROPFIND", CAL, propfind_body(*props), {"Depth": "0"})
    assert list(props_by_href(depth0, *props)) == [CAL]


def test_propfind_of_a_missing_collection_is_404(cal: WSGIClient) -> None:
    response = cal.request(
        "PROPFIND", "/alice/nothing/", propfind_body("D:getetag"), {"Depth": "0"}
    )
    assert response.status == 404


def test_propfind_of_another_users_calendar_is_refused(cal: WSGIClient) -> None:
    response = cal.request("PROPFIND", CAL, propfind_body("D:getetag"), {"Depth": "1"}, user="bob")
    assert response.status == 403
    assert b"a.ics" not in response.body


# --- calendar-query with expand ---------------------------------------------------------


def calendar_query(start: str, end: str, expand: bool) -> str:
    data = (
        f'<C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data>'
        if expand
        else "<C:calendar-data/>"
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:prop><D:getetag/>{data}</D:prop>"
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{start}" end="{end}"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


def calendar_data(response: Response) -> dict[str, str]:
    assert response.status == 207, response.text
    result = {}
    for resp in xml(response).findall("D:response", NS):
        href = resp.findtext("D:href", namespaces=NS)
        data = resp.findtext("D:propstat/D:prop/C:calendar-data", namespaces=NS)
        assert href is not None and data is not None
        result[href.rsplit("/", 1)[1]] = data
    return result


@pytest.fixture
def busy_calendar(cal: WSGIClient) -> WSGIClient:
    """300 events outside the week of 2026-11-23, three inside, and a daily series
    that began years ago (with an exception in the week)."""
    base = datetime(2025, 1, 6, 9, tzinfo=UTC)
    for n in range(300):
        start = base + timedelta(days=n)
        if datetime(2026, 11, 16, tzinfo=UTC) <= start <= datetime(2026, 12, 7, tzinfo=UTC):
            continue
        stamp = start.strftime("%Y%m%dT%H%M%SZ")
        end = (start + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
        assert put(cal, f"out-{n}.ics", event(f"out-{n}", stamp, end)).status == 201
    for n, day in enumerate((23, 25, 29)):
        assert (
            put(
                cal, f"in-{n}.ics", event(f"in-{n}", f"202611{day}T100000Z", f"202611{day}T110000Z")
            ).status
            == 201
        )
    series = event(
        "daily",
        "20200101T070000Z",
        "20200101T073000Z",
        "Stand-up",
        "RRULE:FREQ=DAILY\r\nEXDATE:20261125T070000Z\r\n",
    )
    assert put(cal, "daily.ics", series).status == 201
    return cal


@pytest.fixture
def get_filtered_spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many items the storage hands to Radicale per get_filtered call."""
    counts: list[int] = []
    original = Collection.get_filtered

    def spy(self: Collection, filters: Any) -> Iterator[Any]:
        counts.append(0)
        for result in original(self, filters):
            counts[-1] += 1
            yield result

    monkeypatch.setattr(Collection, "get_filtered", spy)
    return counts


def test_rfc4791_expand_returns_only_instances_inside_the_window(
    busy_calendar: WSGIClient, get_filtered_spy: list[int]
) -> None:
    start, end = "20261123T000000Z", "20261130T000000Z"
    response = busy_calendar.request(
        "REPORT", CAL, calendar_query(start, end, expand=True), {"Depth": "1"}
    )
    data = calendar_data(response)
    assert sorted(data) == ["daily.ics", "in-0.ics", "in-1.ics", "in-2.ics"]
    window = (datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
    daily = vobject.readOne(data["daily.ics"])
    starts = sorted(v.dtstart.value for v in daily.vevent_list)
    assert starts == [datetime(2026, 11, d, 7, tzinfo=UTC) for d in (23, 24, 26, 27, 28, 29)]
    for v in daily.vevent_list:
        assert not hasattr(v, "rrule")  # expanded: no recurrence rule left
        assert v.recurrence_id.value == v.dtstart.value
    for name in ("in-0.ics", "in-1.ics", "in-2.ics"):
        (only,) = vobject.readOne(data[name]).vevent_list
        assert window[0] <= only.dtstart.value < window[1]
    # The storage was asked with the window, not for all 300 events.
    assert get_filtered_spy and max(get_filtered_spy) < 10


def test_calendar_query_without_expand_finds_the_same_resources(
    busy_calendar: WSGIClient, get_filtered_spy: list[int]
) -> None:
    start, end = "20261123T000000Z", "20261130T000000Z"
    response = busy_calendar.request(
        "REPORT", CAL, calendar_query(start, end, expand=False), {"Depth": "1"}
    )
    data = calendar_data(response)
    assert sorted(data) == ["daily.ics", "in-0.ics", "in-1.ics", "in-2.ics"]
    assert "RRULE:FREQ=DAILY" in data["daily.ics"]  # not expanded
    assert max(get_filtered_spy) < 10


def test_expand_of_an_empty_window_answers_an_empty_multistatus(busy_calendar: WSGIClient) -> None:
    response = busy_calendar.request(
        "REPORT",
        CAL,
        calendar_query("20191201T000000Z", "20191202T000000Z", expand=True),
        {"Depth": "1"},
    )
    assert calendar_data(response) == {}


# --- sync-collection (RFC 6578) --------------------------------------------------------


def sync_collection(token: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
        f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )


def sync_result(response: Response) -> tuple[str, dict[str, str]]:
    """(new token, {href: status or etag})."""
    assert response.status == 207, response.text
    root = xml(response)
    token = root.findtext("D:sync-token", namespaces=NS)
    assert token
    result = {}
    for resp in root.findall("D:response", NS):
        href = (resp.findtext("D:href", namespaces=NS) or "").rsplit("/", 1)[1]
        status = resp.findtext("D:status", namespaces=NS)
        if status:
            result[href] = status
        else:
            result[href] = resp.findtext("D:propstat/D:prop/D:getetag", namespaces=NS) or ""
    return token, result


def test_rfc6578_sync_reports_changed_and_deleted_hrefs(cal: WSGIClient) -> None:
    for name in ("keep", "change", "gone"):
        assert put(cal, f"{name}.ics", event(name)).status == 201
    token, first = sync_result(cal.request("REPORT", CAL, sync_collection("")))
    assert set(first) == {"keep.ics", "change.ics", "gone.ics"}
    changed = put(cal, "change.ics", event("change", summary="Changed"))
    assert changed.status == 204
    assert cal.request("DELETE", CAL + "gone.ics").status in (200, 204)
    new_token, delta = sync_result(cal.request("REPORT", CAL, sync_collection(token)))
    assert set(delta) == {"change.ics", "gone.ics"}
    assert delta["change.ics"] == changed.headers["etag"]
    assert "404" in delta["gone.ics"]
    assert new_token != token
    _, nothing = sync_result(cal.request("REPORT", CAL, sync_collection(new_token)))
    assert nothing == {}


@pytest.mark.parametrize(
    "token",
    [
        "bogus",
        "http://calserver.org/ns/sync/0000-1",
        "http://radicale.org/ns/sync/abc",
        "http://calserver.org/ns/sync/" + "9" * 40,
    ],
)
def test_rfc6578_invalid_sync_token_is_403_valid_sync_token(cal: WSGIClient, token: str) -> None:
    response = cal.request("REPORT", CAL, sync_collection(token))
    assert response.status == 403
    assert error_elements(response) == ["{DAV:}valid-sync-token"]


def test_rfc6578_sync_token_of_another_calendar_is_refused(cal: WSGIClient) -> None:
    assert cal.request("MKCALENDAR", "/alice/other/").status == 201
    foreign, _ = sync_result(cal.request("REPORT", "/alice/other/", sync_collection("")))
    response = cal.request("REPORT", CAL, sync_collection(foreign))
    assert response.status == 403
    assert error_elements(response) == ["{DAV:}valid-sync-token"]


# --- PUT: malformed data and preconditions -------------------------------------------


BROKEN_CALENDARS = {
    "broken-line": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nTHIS IS NOT A CONTENT LINE\r\n"
    "END:VCALENDAR\r\n",
    "unterminated": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n",
    "no-uid": event("x").replace("UID:x\r\n", ""),
    "two-uids": event("one").replace(
        "END:VCALENDAR",
        "BEGIN:VEVENT\r\nUID:two\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:20261124T100000Z\r\nSUMMARY:Two\r\nEND:VEVENT\r\nEND:VCALENDAR",
    ),
    "mixed-components": event("mixed").replace(
        "END:VCALENDAR",
        "BEGIN:VTODO\r\nUID:mixed\r\nDTSTAMP:20261101T000000Z\r\n"
        "SUMMARY:Todo\r\nEND:VTODO\r\nEND:VCALENDAR",
    ),
    "two-calendars": event("c1") + event("c2"),
    "vcard": "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card\r\nFN:Someone\r\nEND:VCARD\r\n",
    "empty": "",
    "not-text": "\x00\x01\x02garbage",
    "bad-date": event("bad", start="2026-11-23 10:00"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_CALENDARS))
def test_put_of_malformed_icalendar_is_400_and_stores_nothing(
    cal: WSGIClient, engine: Any, name: str
) -> None:
    response = put(cal, "bad.ics", BROKEN_CALENDARS[name])
    assert response.status == 400, (response.status, response.text)
    assert stored_hrefs(engine) == set()
    assert cal.request("GET", CAL + "bad.ics").status == 404


def test_put_of_a_uid_used_under_another_href_is_409_no_uid_conflict(
    cal: WSGIClient, engine: Any
) -> None:
    assert put(cal, "a.ics", event("taken")).status == 201
    response = put(cal, "b.ics", event("taken", summary="Copy"))
    assert response.status == 409
    # the precondition, with the href holding the UID (RFC 4791 5.3.2.1), and the reason
    assert error_elements(response) == [
        "{urn:ietf:params:xml:ns:caldav}no-uid-conflict",
        "{urn:calserver}reason",
    ]
    assert xml(response).findtext(".//D:href", namespaces=NS) == CAL + "a.ics"
    assert stored_hrefs(engine) == {"a.ics"}


def test_put_changing_the_uid_of_a_resource_is_409_and_keeps_it(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("first")).status == 201
    response = put(cal, "a.ics", event("second"))
    assert response.status == 409
    assert error_elements(response) == ["{urn:ietf:params:xml:ns:caldav}no-uid-conflict"]
    assert "UID:first" in cal.request("GET", CAL + "a.ics").text


def test_put_if_match_with_a_stale_etag_is_412_and_changes_nothing(cal: WSGIClient) -> None:
    etag = put(cal, "a.ics", event("a")).headers["etag"]
    newer = put(cal, "a.ics", event("a", summary="Newer"), {"If-Match": etag})
    assert newer.status == 204
    stale = put(cal, "a.ics", event("a", summary="Lost update"), {"If-Match": etag})
    assert stale.status == 412
    got = cal.request("GET", CAL + "a.ics")
    assert "Newer" in got.text and got.headers["etag"] == newer.headers["etag"]


def test_put_if_match_on_a_missing_resource_is_412(cal: WSGIClient, engine: Any) -> None:
    response = put(cal, "new.ics", event("new"), {"If-Match": '"whatever"'})
    assert response.status == 412
    assert stored_hrefs(engine) == set()


def test_put_if_none_match_star_refuses_to_overwrite(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("a"), {"If-None-Match": "*"}).status == 201
    response = put(cal, "a.ics", event("a", summary="Overwrite"), {"If-None-Match": "*"})
    assert response.status == 412
    assert "Overwrite" not in cal.request("GET", CAL + "a.ics").text


def test_delete_if_match_with_a_stale_etag_is_412_and_keeps_the_resource(
    cal: WSGIClient,
) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    response = cal.request("DELETE", CAL + "a.ics", headers={"If-Match": '"stale"'})
    assert response.status == 412
    assert cal.request("GET", CAL + "a.ics").status == 200


# --- request limits and malformed requests ----------------------------------------------


def test_body_over_max_content_length_is_413(
    database_url: str, tmp_path: Path, engine: Any
) -> None:
    configuration = make_configuration(
        database_url, tmp_path, server={"max_content_length": "1000"}
    )
    users.add(engine, "alice", PASSWORD)
    small = WSGIClient(make_app(configuration), configuration, default_user="alice")
    assert small.request("MKCALENDAR", CAL).status == 201
    big = event("big", summary="x" * 2000)
    response = small.request("PUT", CAL + "big.ics", big, ICS)
    assert response.status == 413
    assert stored_hrefs(engine) == set()
    assert small.request("PUT", CAL + "ok.ics", event("ok"), ICS).status == 201


@pytest.mark.parametrize("length", ["abc", "-5", "1e3"])
def test_invalid_content_length_is_400(cal: WSGIClient, length: str) -> None:
    response = cal.request("PUT", CAL + "a.ics", event("a"), {**ICS, "Content-Length": length})
    assert response.status == 400


BAD_XML = {
    "not-xml": "<D:propfind xmlns:D='DAV:'><D:prop>",
    "garbage": "\xff\xfe not xml at all",
    "billion-laughs": (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol3;</D:displayname>'
        "</D:prop></D:propfind>"
    ),
    "external-entity": (
        '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&xxe;</D:displayname>'
        "</D:prop></D:propfind>"
    ),
    "doctype-only": '<?xml version="1.0"?><!DOCTYPE propfind>'
    '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
}


@pytest.mark.parametrize("method", ["PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR"])
@pytest.mark.parametrize("name", sorted(BAD_XML))
def test_invalid_or_dangerous_xml_is_400(cal: WSGIClient, method: str, name: str) -> None:
    path = "/alice/new/" if method == "MKCALENDAR" else CAL
    response = cal.request(method, path, BAD_XML[name], {"Depth": "0"})
    assert response.status == 400, (response.status, response.text)
    assert b"root:" not in response.body
    if method == "MKCALENDAR":
        assert (
            cal.request("PROPFIND", path, propfind_body("D:getetag"), {"Depth": "0"}).status == 404
        )


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"alice-without-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(b"alice:" + PASSWORD.encode()).decode()[:-3],
        "Basic",
    ],
    ids=["bad-base64", "no-colon", "not-utf8", "truncated", "empty"],
)
def test_malformed_authorization_header_is_400_not_500(cal: WSGIClient, header: str) -> None:
    response = cal.request(
        "PROPFIND",
        CAL,
        propfind_body("D:getetag"),
        {"Depth": "0", "Authorization": header},
        user=None,
    )
    assert response.status == 400, (response.status, response.text)


def test_wrong_password_and_unknown_user_get_identical_401s(cal: WSGIClient) -> None:
    answers = [
        cal.request(
            "PROPFIND", CAL, propfind_body("D:getetag"), {"Depth": "0"}, user=login, password=secret
        )
        for login, secret in (("alice", "wrong"), ("nobody", "wrong"), ("nobody", PASSWORD))
    ]
    assert {a.status for a in answers} == {401}
    assert answers[0].headers == answers[1].headers == answers[2].headers
    assert answers[0].body == answers[1].body == answers[2].body
    assert answers[0].headers["www-authenticate"].startswith("Basic realm=")


def test_no_credentials_is_a_401_challenge(cal: WSGIClient) -> None:
    response = cal.request("PROPFIND", CAL, propfind_body("D:getetag"), {"Depth": "0"}, user=None)
    assert response.status == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_overlong_login_name_is_refused_with_401(cal: WSGIClient) -> None:
    response = cal.request(
        "PROPFIND", CAL, propfind_body("D:getetag"), {"Depth": "0"}, user="u" * 1000, password="x"
    )
    assert response.status == 401


HOSTILE = [
    ("PROPFIND", "/alice/../bob/"),
    ("PROPFIND", "/alice/%2e%2e/bob/"),
    ("PROPFIND", "/alice/cal/%00.ics"),
    ("GET", "/alice/cal/\x00.ics"),
    ("PUT", "/alice/cal/\x00.ics"),
    ("GET", "/" + "a" * 5000 + "/"),
    ("PROPFIND", "/alice/" + "b" * 5000 + "/"),
    ("PUT", "/alice/cal/" + "c" * 5000 + ".ics"),
    ("PUT", "/alice/cal/" + "d" * 1500 + ".ics"),
    ("MKCALENDAR", "/alice/" + "e" * 1500 + "/"),
    ("MKCALENDAR", "/alice/" + "f" * 5000 + "/"),
    ("PUT", "/alice/cal/../../bob/x.ics"),
    ("DELETE", "/alice/cal/../../bob/"),
    ("PUT", "/alice/cal/%2e%2e/%2e%2e/bob/x.ics"),
    ("GET", "/alice/cal/a.ics/../../../../etc/passwd"),
    ("PROPFIND", "/.well-known/../bob/"),
]


@pytest.mark.parametrize(("method", "path"), HOSTILE, ids=[f"{m} {p[:40]}" for m, p in HOSTILE])
def test_hostile_paths_get_4xx_never_500_and_touch_no_other_user(
    cal: WSGIClient, engine: Any, method: str, path: str
) -> None:
    assert cal.request("MKCALENDAR", "/bob/cal/", user="bob").status == 201
    assert cal.request("PUT", "/bob/cal/b.ics", event("b"), ICS, user="bob").status == 201
    body = event("hostile") if method == "PUT" else ""
    response = cal.request(method, path, body, {**ICS, "Depth": "1"})
    if method == "PROPFIND" and response.status == 207:
        # the path resolves to bob's principal, which any signed-in user may read
        # (calserver.rights); it lists nothing of bob's that alice may not see
        assert "/bob/cal/" not in response.text and "b.ics" not in response.text
    else:
        assert 400 <= response.status < 500, (response.status, response.text)
    assert stored_hrefs(engine) == {"b.ics"}
    with engine.connect() as conn:
        paths = set(conn.execute(select(collections.c.path)).scalars())
    # the inboxes are the server's (RFC 6638 2.2), made when their owner looks
    assert paths - {"", "alice/inbox", "bob/inbox"} == {"alice", "alice/cal", "bob", "bob/cal"}


def test_overlong_uid_is_4xx_not_500(cal: WSGIClient, engine: Any) -> None:
    response = put(cal, "long-uid.ics", event("u" * 1500))
    assert 400 <= response.status < 500, (response.status, response.text)
    assert stored_hrefs(engine) == set()


def test_move_to_an_overlong_name_is_4xx_not_500(cal: WSGIClient, engine: Any) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    destination = "http://127.0.0.1:5232" + CAL + "m" * 1500 + ".ics"
    response = cal.request("MOVE", CAL + "a.ics", headers={"Destination": destination})
    assert 400 <= response.status < 500, (response.status, response.text)
    assert stored_hrefs(engine) == {"a.ics"}


XMLNS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
TIME_RANGE = '<C:time-range start="20261101T000000Z" end="20261201T000000Z"/>'


def _query(inner: str, prop: str = "<D:getetag/>") -> str:
    return (
        f"<C:calendar-query {XMLNS}><D:prop>{prop}</D:prop><C:filter>"
        f'<C:comp-filter name="VCALENDAR">{inner}</C:comp-filter></C:filter>'
        "</C:calendar-query>"
    )


#: Well-formed XML that is not what the method expects: 400 (RFC 4918 14.20,
#: RFC 4791 7.10), where Radicale's handlers alone fail with a 500.
WRONG_BODIES_400 = {
    "propfind-other-root": ("PROPFIND", "<x/>"),
    "propfind-empty-element": ("PROPFIND", f"<D:propfind {XMLNS}/>"),
    "free-busy-without-time-range": ("REPORT", f"<C:free-busy-query {XMLNS}/>"),
    "multiget-empty-href": (
        "REPORT",
        f"<C:calendar-multiget {XMLNS}><D:prop><D:getetag/></D:prop><D:href></D:href>"
        "</C:calendar-multiget>",
    ),
}

#: More of the same kind: whatever the answer, it is not a 500.
ODD_BODIES = {
    "propfind-empty-prop": ("PROPFIND", f"<D:propfind {XMLNS}><D:prop/></D:propfind>"),
    "propfind-unknown-child": ("PROPFIND", f"<D:propfind {XMLNS}><D:bogus/></D:propfind>"),
    "report-other-root": ("REPORT", "<x/>"),
    "query-empty": ("REPORT", f"<C:calendar-query {XMLNS}/>"),
    "query-bad-time": (
        "REPORT",
        _query('<C:comp-filter name="VEVENT"><C:time-range start="garbage"/></C:comp-filter>'),
    ),
    "query-bad-month": (
        "REPORT",
        _query(
            '<C:comp-filter name="VEVENT"><C:time-range start="20261301T000000Z"/></C:comp-filter>'
        ),
    ),
    "query-expand-without-end": (
        "REPORT",
        _query(
            f'<C:comp-filter name="VEVENT">{TIME_RANGE}</C:comp-filter>',
            '<C:calendar-data><C:expand start="20261101T000000Z"/></C:calendar-data>',
        ),
    ),
    "query-expand-garbage": (
        "REPORT",
        _query(
            f'<C:comp-filter name="VEVENT">{TIME_RANGE}</C:comp-filter>',
            '<C:calendar-data><C:expand start="x" end="y"/></C:calendar-data>',
        ),
    ),
    "query-two-filters": (
        "REPORT",
        _query('<C:comp-filter name="VEVENT"/>').replace(
            "</C:filter>", '<C:comp-filter name="VCALENDAR"/></C:filter>'
        ),
    ),
    "query-unknown-collation": (
        "REPORT",
        _query(
            '<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY">'
            '<C:text-match collation="i;bogus">x</C:text-match></C:prop-filter></C:comp-filter>'
        ),
    ),
    "query-deep-comp-filters": (
        "REPORT",
        _query(
            '<C:comp-filter name="VEVENT"><C:comp-filter name="VALARM"><C:comp-filter name="X">'
            '<C:comp-filter name="Y"/></C:comp-filter></C:comp-filter></C:comp-filter>'
        ),
    ),
    "multiget-odd-hrefs": (
        "REPORT",
        f"<C:calendar-multiget {XMLNS}><D:prop><D:getetag/></D:prop>"
        "<D:href>/bob/cal/x.ics</D:href><D:href>/alice/cal/../../etc</D:href>"
        "<D:href>http://[bad</D:href><D:href>/alice/cal/%00</D:href>"
        "<D:href>/alice/cal/x%00y.ics</D:href></C:calendar-multiget>",
    ),
    "sync-without-token": ("REPORT", f"<D:sync-collection {XMLNS}/>"),
    "free-busy-bad-range": (
        "REPORT",
        f'<C:free-busy-query {XMLNS}><C:time-range start="x" end="y"/></C:free-busy-query>',
    ),
    "proppatch-other-root": ("PROPPATCH", "<x/>"),
    "proppatch-empty-set": ("PROPPATCH", f"<D:propertyupdate {XMLNS}><D:set/></D:propertyupdate>"),
    "mkcalendar-other-root": ("MKCALENDAR", "<x/>"),
    "mkcol-other-root": ("MKCOL", "<x/>"),
}


@pytest.mark.parametrize("name", sorted(WRONG_BODIES_400))
def test_well_formed_but_invalid_request_bodies_are_400(cal: WSGIClient, name: str) -> None:
    method, body = WRONG_BODIES_400[name]
    response = cal.request(method, CAL, body, {"Depth": "1"})
    assert response.status == 400, (response.status, response.text)


@pytest.mark.parametrize("name", sorted(ODD_BODIES))
def test_odd_request_bodies_never_get_a_500(cal: WSGIClient, name: str) -> None:
    assert put(cal, "a.ics", event("a", extra="RRULE:FREQ=DAILY\r\n")).status == 201
    method, body = ODD_BODIES[name]
    for depth in ("0", "1", "infinity"):
        path = f"/alice/new-{depth}/" if method in ("MKCALENDAR", "MKCOL") else CAL
        response = cal.request(method, path, body, {"Depth": depth})
        assert response.status < 500, (depth, response.status, response.text)


def test_multiget_of_an_href_with_nul_is_404_for_that_href(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    body = (
        f"<C:calendar-multiget {XMLNS}><D:prop><D:getetag/></D:prop>"
        "<D:href>/alice/cal/a.ics</D:href><D:href>/alice/cal/a%00.ics</D:href>"
        "</C:calendar-multiget>"
    )
    response = cal.request("REPORT", CAL, body, {"Depth": "1"})
    assert response.status == 207
    statuses = {
        resp.findtext("D:href", namespaces=NS): resp.findtext("D:status", namespaces=NS)
        or resp.findtext("D:propstat/D:status", namespaces=NS)
        for resp in xml(response).findall("D:response", NS)
    }
    assert "200" in (statuses["/alice/cal/a.ics"] or "")
    assert "404" in (statuses["/alice/cal/a%00.ics"] or "")


# --- MKCALENDAR and PROPPATCH leave nothing half-written ------------------------------


def proppatch_body(displayname: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:">'
        f"<D:set><D:prop><D:displayname>{displayname}</D:displayname></D:prop></D:set>"
        "</D:propertyupdate>"
    )


def displayname(client: WSGIClient, path: str = CAL) -> str | None:
    response = client.request("PROPFIND", path, propfind_body("D:displayname"), {"Depth": "0"})
    return props_by_href(response, "D:displayname")[path].get("D:displayname")


def test_proppatch_sets_displayname(cal: WSGIClient) -> None:
    response = cal.request("PROPPATCH", CAL, proppatch_body("Wörk"))
    assert response.status == 207
    assert displayname(cal) == "Wörk"


def test_failed_proppatch_leaves_properties_and_ctag_unchanged(
    cal: WSGIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The property row is written, then the revision bump fails: the savepoint must
    take the written row back although Radicale answers and the request commits."""
    assert cal.request("PROPPATCH", CAL, proppatch_body("Before")).status == 207
    before = cal.request("PROPFIND", CAL, propfind_body("CS:getctag"), {"Depth": "0"}).body

    def failing_bump(*_: Any) -> int:
        raise ValueError("injected failure after the props were written")

    monkeypatch.setattr("calserver.storage.meta.bump_revision", failing_bump)
    response = cal.request("PROPPATCH", CAL, proppatch_body("Half-written"))
    assert 400 <= response.status < 500
    monkeypatch.undo()
    assert displayname(cal) == "Before"
    assert cal.request("PROPFIND", CAL, propfind_body("CS:getctag"), {"Depth": "0"}).body == before


DAV_NS = (
    'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
    'xmlns:CS="http://calendarserver.org/ns/" xmlns:A="http://apple.com/ns/ical/" '
    'xmlns:X="urn:example:dead"'
)
#: Every kind of property a client keeps on a calendar, with text that a careless
#: round trip would change (non-ASCII, markup, spaces, line breaks).
KEPT_PROPS = (
    "<D:displayname>Équipe &amp; co</D:displayname>"
    "<A:calendar-color>#3A7BD5FF</A:calendar-color>"
    "<C:calendar-description>  Two lines\nof &lt;text&gt;  </C:calendar-description>"
    "<A:calendar-order>3</A:calendar-order>"
    "<X:dead>kept ✓</X:dead>"
    '<X:nested><X:child a="1">x</X:child></X:nested>'
)


def propertyupdate(set_props: str = "", remove_props: str = "") -> str:
    parts = [f'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate {DAV_NS}>']
    if set_props:
        parts.append(f"<D:set><D:prop>{set_props}</D:prop></D:set>")
    if remove_props:
        parts.append(f"<D:remove><D:prop>{remove_props}</D:prop></D:remove>")
    parts.append("</D:propertyupdate>")
    return "".join(parts)


def collection_row(engine: Any, path: str = "alice/cal") -> tuple[Any, ...]:
    """Everything stored of a collection: type, properties (as text), revision, sync
    key, what its change log holds."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                collections.c.id,
                collections.c.tag,
                collections.c.props,
                collections.c.revision,
                collections.c.min_revision,
                collections.c.sync_key,
                collections.c.modified,
            ).where(collections.c.path == path)
        ).one()
    return tuple(row)


def everything_seen(client: WSGIClient, path: str = CAL) -> bytes:
    response = client.request(
        "PROPFIND", path, '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>', {"Depth": "0"}
    )
    assert response.status == 207, response.text
    return response.body


def propstat_statuses(response: Response) -> dict[str, int]:
    """{property (Clark name): status} of a PROPPATCH 207 answer."""
    assert response.status == 207, response.text
    found = {}
    for propstat in xml(response).iter("{DAV:}propstat"):
        status = int((propstat.findtext("D:status", namespaces=NS) or "").split()[1])
        prop = propstat.find("D:prop", NS)
        assert prop is not None
        for element in prop:
            found[element.tag] = status
    return found


D_, C_, X_ = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}", "{urn:example:dead}"
#: Refused PROPPATCHes (RFC 4918 9.2: all or nothing) and the status each property
#: gets: 403 protected (cannot-modify-protected-property), 424 Failed Dependency.
REFUSED_PROPPATCHES = {
    "set-resourcetype-folder": (
        propertyupdate(
            "<D:displayname>New</D:displayname><X:other>new</X:other>"
            "<D:resourcetype><D:collection/></D:resourcetype>"
        ),
        {D_ + "displayname": 424, X_ + "other": 424, D_ + "resourcetype": 403},
    ),
    "set-resourcetype-calendar": (
        propertyupdate(
            "<D:displayname>New</D:displayname>"
            "<D:resourcetype><D:collection/><C:calendar/></D:resourcetype>"
        ),
        {D_ + "displayname": 424, D_ + "resourcetype": 403},
    ),
    "remove-resourcetype": (
        propertyupdate("<X:dead>changed</X:dead>", "<D:resourcetype/><D:displayname/>"),
        {X_ + "dead": 424, D_ + "resourcetype": 403, D_ + "displayname": 424},
    ),
    "set-getetag": (
        propertyupdate('<D:getetag>"forged"</D:getetag><D:displayname>New</D:displayname>'),
        {D_ + "getetag": 403, D_ + "displayname": 424},
    ),
    "set-component-set": (
        propertyupdate(
            '<C:supported-calendar-component-set><C:comp name="VTODO"/>'
            "</C:supported-calendar-component-set><D:displayname>New</D:displayname>"
        ),
        {C_ + "supported-calendar-component-set": 403, D_ + "displayname": 424},
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED_PROPPATCHES))
def test_a_refused_proppatch_leaves_the_collection_exactly_as_it_was(
    cal: WSGIClient, engine: Any, name: str
) -> None:
    """RFC 4918 9.2: a PROPPATCH is carried out whole or not at one. One that sets or
    removes a protected property (the resource type above all: a calendar would
    become a plain folder) gets 207 with 403 for it and 424 for every other property,
    and the collection keeps every property byte for byte, its type, revision and
    sync state."""
    assert cal.request("PROPPATCH", CAL, propertyupdate(KEPT_PROPS)).status == 207
    assert put(cal, "a.ics", event("a")).status == 201
    before, seen = collection_row(engine), everything_seen(cal)
    body, expected = REFUSED_PROPPATCHES[name]
    response = cal.request("PROPPATCH", CAL, body)
    assert propstat_statuses(response) == expected
    assert b"cannot-modify-protected-property" in response.body
    assert collection_row(engine) == before
    assert everything_seen(cal) == seen
    assert cal.request("GET", CAL + "a.ics").status == 200
    # and the same request without the protected property is carried out
    allowed = propertyupdate("<D:displayname>Allowed</D:displayname>")
    assert cal.request("PROPPATCH", CAL, allowed).status == 207
    assert displayname(cal) == "Allowed"


def test_a_refused_proppatch_of_someone_else_s_calendar_says_nothing_more(
    cal: WSGIClient, engine: Any
) -> None:
    """The protected-property answer comes after the access checks: bob learns no
    more about alice's calendar than from any other PROPPATCH."""
    before = collection_row(engine)
    body = REFUSED_PROPPATCHES["set-resourcetype-folder"][0]
    response = cal.request("PROPPATCH", CAL, body, user="bob")
    assert response.status in (403, 404)
    assert cal.request("PROPPATCH", "/alice/missing/", body).status == 404
    assert collection_row(engine) == before


@pytest.fixture
def small(database_url: str, tmp_path: Path) -> tuple[WSGIClient, Any]:
    """Alice's calendar on a server with small property limits."""
    limits = {
        "max_properties": "6",
        "max_property_size": "100",
        "max_properties_size": "300",
        "max_proppatch_size": "2000",
    }
    configuration = make_configuration(database_url, tmp_path, storage=limits)
    application = make_app(configuration)  # creates the schema
    engine = db.engine_for(configuration)
    users.add(engine, "alice", PASSWORD)
    client = WSGIClient(application, configuration, default_user="alice")
    assert client.request("MKCALENDAR", CAL).status == 201
    return client, engine


def dead(*pairs: tuple[str, str]) -> str:
    return "".join(f"<X:{name}>{value}</X:{name}>" for name, value in pairs)


def test_proppatch_limits_refuse_what_does_not_fit_and_keep_the_rest(
    small: tuple[WSGIClient, Any],
) -> None:
    """``[storage] max_properties`` / ``max_property_size`` / ``max_properties_size``:
    the properties that do not fit get 507 Insufficient Storage, the others of the
    request 424, and nothing is stored (RFC 4918 9.2.1); ``max_proppatch_size`` and
    more instructions than ``max_properties`` refuse the request whole (413)."""
    client, engine = small
    kept = dead(("p1", "a"), ("p2", "b"), ("p3", "c"), ("p4", "d"))
    assert client.request("PROPPATCH", CAL, propertyupdate(kept)).status == 207
    # 4 properties of 6 (the MKCALENDAR of the fixture set none): two more fit
    before = collection_row(engine)
    too_many = propertyupdate(dead(("n1", "x"), ("n2", "y"), ("n3", "z")))
    response = client.request("PROPPATCH", CAL, too_many)
    assert propstat_statuses(response) == {X_ + "n1": 507, X_ + "n2": 507, X_ + "n3": 507}
    assert collection_row(engine) == before
    big = propertyupdate(dead(("p1", "changed"), ("huge", "x" * 101)))
    response = client.request("PROPPATCH", CAL, big)
    assert propstat_statuses(response) == {X_ + "p1": 424, X_ + "huge": 507}
    assert collection_row(engine) == before
    heavy = propertyupdate(dead(("w1", "x" * 100), ("w2", "y" * 100)))
    response = client.request("PROPPATCH", CAL, heavy)  # 300 bytes of properties at most
    assert set(propstat_statuses(response).values()) == {507}
    assert collection_row(engine) == before
    many = propertyupdate("", dead(*((f"r{i}", "") for i in range(7))))
    assert client.request("PROPPATCH", CAL, many).status == 413
    huge_body = propertyupdate(dead(("p1", "x" * 50)) + "<!--" + "." * 2000 + "-->")
    assert client.request("PROPPATCH", CAL, huge_body).status == 413
    assert collection_row(engine) == before
    # what fits is stored, and a collection over a limit may always shrink
    fits = propertyupdate(dead(("n1", "x"), ("n2", "y")))
    assert client.request("PROPPATCH", CAL, fits).status == 207
    with engine.begin() as conn:  # as a calendar from before the limits could be
        crowded = {f"{{urn:example:dead}}old{i}": "v" for i in range(10)}
        conn.execute(
            update(collections)
            .where(collections.c.path == "alice/cal")
            .values(props=json.dumps({"tag": "VCALENDAR", **crowded}))
        )
    shrink = propertyupdate("", dead(("old0", ""), ("old1", "")))
    assert client.request("PROPPATCH", CAL, shrink).status == 207
    grow = propertyupdate(dead(("new", "v")))
    assert propstat_statuses(client.request("PROPPATCH", CAL, grow)) == {X_ + "new": 507}


def test_mkcalendar_with_more_properties_than_the_limits_creates_nothing(
    small: tuple[WSGIClient, Any],
) -> None:
    client, engine = small
    body = (
        f'<?xml version="1.0"?><C:mkcalendar {DAV_NS}><D:set><D:prop>'
        + dead(*((f"m{i}", "v") for i in range(7)))
        + "</D:prop></D:set></C:mkcalendar>"
    )
    assert client.request("MKCALENDAR", "/alice/crowded/", body).status == 507
    with engine.connect() as conn:
        paths = set(conn.execute(select(collections.c.path)).scalars())
    assert "alice/crowded" not in paths


def test_proppatch_of_a_missing_collection_is_404_and_creates_nothing(
    cal: WSGIClient, engine: Any
) -> None:
    response = cal.request("PROPPATCH", "/alice/missing/", proppatch_body("X"))
    assert response.status == 404
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(collections)
                .where(collections.c.path == "alice/missing")
            ).scalar_one()
            == 0
        )


def test_proppatch_of_a_live_property_of_an_item_is_refused(cal: WSGIClient) -> None:
    # an item keeps dead properties only (calserver.dav.itemprops): DAV:displayname is
    # refused with 403 in the 207 (RFC 4918 9.2) and nothing is stored
    assert put(cal, "a.ics", event("a")).status == 201
    response = cal.request("PROPPATCH", CAL + "a.ics", proppatch_body("X"))
    assert response.status == 207
    statuses = [s.text for s in xml(response).iter("{DAV:}status")]
    assert statuses == ["HTTP/1.1 403 Forbidden"]


def test_failed_mkcalendar_leaves_no_collection(
    cal: WSGIClient, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_bump(*_: Any) -> int:
        raise ValueError("injected failure after the collection row was written")

    monkeypatch.setattr("calserver.storage.bump_revision", failing_bump)
    response = cal.request("MKCALENDAR", "/alice/half/")
    assert 400 <= response.status < 500
    monkeypatch.undo()
    with engine.connect() as conn:
        paths = set(conn.execute(select(collections.c.path)).scalars())
    assert "alice/half" not in paths
    assert (
        cal.request("PROPFIND", "/alice/half/", propfind_body("D:getetag"), {"Depth": "0"}).status
        == 404
    )
    assert cal.request("MKCALENDAR", "/alice/half/").status == 201


def test_mkcalendar_on_an_existing_calendar_is_refused_and_keeps_it(cal: WSGIClient) -> None:
    assert cal.request("PROPPATCH", CAL, proppatch_body("Original")).status == 207
    assert put(cal, "a.ics", event("a")).status == 201
    response = cal.request(
        "MKCALENDAR",
        CAL,
        '<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
        "<D:displayname>Replacement</D:displayname></D:prop></D:set></C:mkcalendar>",
    )
    assert response.status in (405, 409)
    assert displayname(cal) == "Original"
    assert cal.request("GET", CAL + "a.ics").status == 200


def test_mkcalendar_without_a_parent_or_inside_a_calendar_creates_nothing(
    cal: WSGIClient, engine: Any
) -> None:
    assert cal.request("MKCALENDAR", "/alice/no/such/parent/").status in (403, 409)
    assert cal.request("MKCALENDAR", CAL + "nested/").status in (403, 409)
    with engine.connect() as conn:
        paths = set(conn.execute(select(collections.c.path)).scalars())
    assert paths - {""} == {"alice", "alice/cal"}


def test_no_response_ever_leaks_a_traceback(cal: WSGIClient) -> None:
    for method in (
        "PROPFIND",
        "REPORT",
        "PROPPATCH",
        "MKCALENDAR",
        "PUT",
        "DELETE",
        "MOVE",
        "GET",
        "OPTIONS",
        "HEAD",
        "POST",
        "BREW",
    ):
        response = cal.request(method, CAL, "<x/>", {"Depth": "infinity"})
        assert response.status < 500, (method, response.status)
        assert not re.search(rb"Traceback|File \"", response.body)
