"""The WebDAV details clients trip on, as raw requests through the whole application:
the DAV header's compliance classes (RFC 4918 18), a PUT onto a calendar's own URL,
sync-collection's details (RFC 6578 3.2, 3.7), precondition elements on refusals
(RFC 4791 5.3.2.1), what is repaired instead of refused (a UTF-8 BOM, DTEND of another
value type than DTSTART, VFREEBUSY objects).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from calserver.accounts import users
from calserver.app import make_app
from calserver.dav import davheader
from calserver.ical import repair
from tests.conftest import PASSWORD, Response, WSGIClient
from tests.conftest import event_ics as event

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CS": "http://calendarserver.org/ns/"}
CAL = "/alice/cal/"
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def xml(response: Response) -> ET.Element:
    assert response.headers.get("content-type", "").startswith(("text/xml", "application/xml"))
    return ET.fromstring(response.body)


def error_elements(response: Response) -> list[str]:
    """The precondition elements of a DAV:error body."""
    root = xml(response)
    assert root.tag == "{DAV:}error", response.text
    return [child.tag for child in root]


@pytest.fixture
def cal(client: WSGIClient) -> WSGIClient:
    """``client`` with alice's calendar /alice/cal/."""
    response = client.request("MKCALENDAR", CAL)
    assert response.status == 201, response.text
    return client


def put(
    client: WSGIClient, href: str, body: str | bytes, headers: dict[str, str] | None = None
) -> Response:
    return client.request("PUT", CAL + href, body, {**ICS, **(headers or {})})


def classes(response: Response) -> list[str]:
    return [token.strip() for token in response.headers["dav"].split(",")]


# --- the DAV header: no class 2 without LOCK (RFC 4918 18.2) ------------------------------


@pytest.mark.unit
def test_without_locking_drops_only_class_2() -> None:
    assert davheader.without_locking("1, 2, 3, calendar-access, addressbook") == (
        "1, 3, calendar-access, addressbook"
    )
    assert davheader.without_locking("1,2,3") == "1, 3"


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("OPTIONS", "/", "", {}),
        ("OPTIONS", CAL, "", {}),
        ("PROPFIND", CAL, "", {"Depth": "0"}),
    ],
    ids=["options-root", "options-calendar", "propfind"],
)
def test_dav_header_does_not_claim_locking_which_is_not_implemented(
    cal: WSGIClient, method: str, path: str, body: str, headers: dict[str, str]
) -> None:
    response = cal.request(method, path, body, headers)
    assert response.status in (200, 207), response.text
    tokens = classes(response)
    assert "1" in tokens and "calendar-access" in tokens
    assert "2" not in tokens
    if method == "OPTIONS":
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert "LOCK" not in allowed and "UNLOCK" not in allowed
        assert "calendar-auto-schedule" in tokens


def test_lock_is_refused_as_not_allowed(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    body = (
        '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
        "<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
        "</D:lockinfo>"
    )
    response = cal.request("LOCK", CAL + "a.ics", body, {"Content-Type": "application/xml"})
    assert response.status == 405


# --- a PUT on a calendar's own URL replaces it only on its ETag ---------------------------


def whole_calendar(*uids: str) -> str:
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:20261123T100000Z\r\nDTEND:20261123T110000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
        for uid in uids
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{events}END:VCALENDAR\r\n"


def calendar_etag(client: WSGIClient) -> str:
    body = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
    response = client.request("PROPFIND", CAL, body, {"Depth": "0"})
    assert response.status == 207, response.text
    etag = xml(response).findtext(".//D:getetag", namespaces=NS)
    assert etag
    return etag


def member_hrefs(client: WSGIClient) -> set[str]:
    body = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
    response = client.request("PROPFIND", CAL, body, {"Depth": "1"})
    hrefs = {h.text or "" for h in xml(response).iterfind(".//D:href", NS)}
    return {h for h in hrefs if h != CAL}


@pytest.mark.parametrize("if_match", [None, "*", '"not-the-etag"'])
def test_put_on_a_calendars_url_without_its_etag_replaces_nothing(
    cal: WSGIClient, if_match: str | None
) -> None:
    assert put(cal, "keep.ics", event("keep")).status == 201
    before = member_hrefs(cal)
    headers = {"If-Match": if_match} if if_match else {}
    response = cal.request("PUT", CAL, whole_calendar("new1", "new2"), {**ICS, **headers})
    assert response.status == 412, response.text
    assert "If-Match" in response.text or "ETag" in response.text
    assert member_hrefs(cal) == before
    assert cal.request("GET", CAL + "keep.ics").status == 200


def test_put_on_a_calendars_url_with_its_current_etag_replaces_it(cal: WSGIClient) -> None:
    assert put(cal, "gone.ics", event("gone")).status == 201
    etag = calendar_etag(cal)
    response = cal.request("PUT", CAL, whole_calendar("new1", "new2"), {**ICS, "If-Match": etag})
    assert response.status in (201, 204), response.text
    assert cal.request("GET", CAL + "gone.ics").status == 404
    assert len(member_hrefs(cal)) == 2


def test_put_on_another_users_calendar_url_says_nothing_of_its_etag(cal: WSGIClient) -> None:
    response = cal.request("PUT", CAL, whole_calendar("x"), ICS, user="bob")
    assert response.status in (403, 404), response.text
    assert "ETag" not in response.text


# --- sync-collection (RFC 6578) -----------------------------------------------------------


def sync_body(
    token: str = "", props: str = "<D:getetag/>", level: str | None = "1", extra: str = ""
) -> str:
    token_element = f"<D:sync-token>{token}</D:sync-token>" if token else "<D:sync-token/>"
    level_element = f"<D:sync-level>{level}</D:sync-level>" if level is not None else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
        f"{token_element}{level_element}{extra}<D:prop>{props}</D:prop></D:sync-collection>"
    )


def sync(client: WSGIClient, body: str) -> Response:
    return client.request("REPORT", CAL, body, {"Content-Type": "application/xml", "Depth": "1"})


def responses(response: Response) -> dict[str, str]:
    """{href: status line or the propstat's} of a sync-collection answer."""
    assert response.status == 207, response.text
    found = {}
    for element in xml(response).findall("D:response", NS):
        href = element.findtext("D:href", namespaces=NS) or ""
        found[href] = element.findtext("D:status", namespaces=NS) or (
            element.findtext("D:propstat/D:status", namespaces=NS) or ""
        )
    return found


def test_sync_with_an_empty_prop_lists_changed_and_removed_members(cal: WSGIClient) -> None:
    for name in ("a", "b"):
        assert put(cal, f"{name}.ics", event(name)).status == 201
    first = sync(cal, sync_body(props=""))
    assert responses(first) == {CAL + "a.ics": "HTTP/1.1 200 OK", CAL + "b.ics": "HTTP/1.1 200 OK"}
    token = xml(first).findtext("D:sync-token", namespaces=NS) or ""
    assert put(cal, "c.ics", event("c")).status == 201
    assert cal.request("DELETE", CAL + "a.ics").status in (200, 204)
    later = responses(sync(cal, sync_body(token, props="")))
    assert later[CAL + "c.ics"] == "HTTP/1.1 200 OK"
    assert "404" in later[CAL + "a.ics"]
    assert CAL + "b.ics" not in later


@pytest.mark.parametrize("level", [None, "2", ""], ids=["missing", "two", "empty"])
def test_sync_without_a_valid_sync_level_is_a_bad_request(
    cal: WSGIClient, level: str | None
) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    response = sync(cal, sync_body(level=level))
    assert response.status == 400, response.text
    assert "sync-level" in response.text


def test_sync_level_infinite_on_a_calendar_names_its_members(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    assert set(responses(sync(cal, sync_body(level="infinite")))) == {CAL + "a.ics"}


def limit(n: int | str) -> str:
    return f"<D:limit><D:nresults>{n}</D:nresults></D:limit>"


def test_sync_with_a_limit_pages_through_every_change_with_a_507_for_the_collection(
    cal: WSGIClient,
) -> None:
    for name in ("a", "b", "c", "d", "e"):
        assert put(cal, f"{name}.ics", event(name)).status == 201
    seen: set[str] = set()
    token = ""
    pages = 0
    while True:
        response = sync(cal, sync_body(token, extra=limit(2)))
        found = responses(response)
        token = xml(response).findtext("D:sync-token", namespaces=NS) or ""
        pages += 1
        members = {href for href in found if href != CAL}
        assert len(members) <= 2
        seen |= members
        if CAL not in found:
            break
        assert found[CAL] == "HTTP/1.1 507 Insufficient Storage"
        element = next(
            e
            for e in xml(response).findall("D:response", NS)
            if e.findtext("D:href", namespaces=NS) == CAL
        )
        assert element.find("D:error/D:number-of-matches-within-limits", NS) is not None
        assert pages < 10
    assert seen == {CAL + f"{name}.ics" for name in "abcde"}
    assert pages == 3
    # nothing changed since the last page's token
    assert responses(sync(cal, sync_body(token, extra=limit(2)))) == {}
    # a change after paging is named from that token
    assert put(cal, "f.ics", event("f")).status == 201
    assert set(responses(sync(cal, sync_body(token, extra=limit(2))))) == {CAL + "f.ics"}


def test_sync_with_a_limit_under_one_revisions_changes_is_a_507(cal: WSGIClient) -> None:
    etag = calendar_etag(cal)
    response = cal.request("PUT", CAL, whole_calendar("x1", "x2", "x3"), {**ICS, "If-Match": etag})
    assert response.status in (201, 204), response.text
    refused = sync(cal, sync_body(extra=limit(2)))
    assert refused.status == 507, refused.text
    assert "{DAV:}number-of-matches-within-limits" in error_elements(refused)
    assert len(responses(sync(cal, sync_body(extra=limit(3))))) == 3


@pytest.mark.parametrize("n", ["0", "-1", "many", ""])
def test_sync_with_an_invalid_limit_is_a_bad_request(cal: WSGIClient, n: str) -> None:
    response = sync(cal, sync_body(extra=limit(n)))
    assert response.status == 400, response.text


def test_sync_with_a_limit_and_a_bad_token_is_still_an_invalid_sync_token(cal: WSGIClient) -> None:
    response = sync(cal, sync_body("http://calserver.org/ns/sync/nope-1", extra=limit(2)))
    assert response.status == 403
    assert "{DAV:}valid-sync-token" in error_elements(response)


# --- precondition elements on refusals (RFC 4791 5.3.2.1, 5.3.1) ---------------------------

C = "{urn:ietf:params:xml:ns:caldav}"
REASON = "{urn:calserver}reason"


def two_uids() -> str:
    return (
        event("one").replace("END:VCALENDAR\r\n", "")
        + "BEGIN:VEVENT\r\nUID:two\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:20261124T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.mark.parametrize(
    ("body", "precondition"),
    [
        ("not a calendar at all", "valid-calendar-data"),
        (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n",
            "valid-calendar-data",
        ),
        (two_uids(), "valid-calendar-object-resource"),
        (
            event("a").replace(
                "END:VCALENDAR", "BEGIN:VTODO\r\nUID:a\r\nEND:VTODO\r\nEND:VCALENDAR"
            ),
            "valid-calendar-object-resource",
        ),
        (
            event("x", extra="RRULE:FREQ=DAILY;UNTIL=20200101T000000Z\r\n"),
            "valid-calendar-data",
        ),
    ],
    ids=["garbage", "unbalanced", "two-uids", "two-types", "rule-never-occurs"],
)
def test_refused_data_names_its_precondition_and_reason(
    cal: WSGIClient, body: str, precondition: str
) -> None:
    response = put(cal, "x.ics", body)
    assert response.status == 400, response.text
    assert C + precondition in error_elements(response)
    assert (xml(response).findtext(REASON) or "").strip()
    assert cal.request("GET", CAL + "x.ics").status == 404


def test_uid_conflict_names_the_resource_holding_the_uid(cal: WSGIClient) -> None:
    assert put(cal, "first.ics", event("same")).status == 201
    response = put(cal, "second.ics", event("same", summary="other"))
    assert response.status == 409, response.text
    element = xml(response).find(C + "no-uid-conflict")
    assert element is not None
    assert element.findtext("{DAV:}href") == CAL + "first.ics"


@pytest.mark.parametrize("content_type", ["text/vcard", "application/calendar+json"])
def test_another_format_into_a_calendar_is_unsupported_calendar_data(
    cal: WSGIClient, content_type: str
) -> None:
    response = put(cal, "v.ics", event("v"), {"Content-Type": content_type})
    assert response.status == 403, response.text
    assert C + "supported-calendar-data" in error_elements(response)


@pytest.mark.parametrize(
    "content_type", ["text/calendar", "text/plain", "application/octet-stream"]
)
def test_icalendar_under_generic_media_types_is_stored(cal: WSGIClient, content_type: str) -> None:
    assert put(cal, "g.ics", event("g"), {"Content-Type": content_type}).status == 201


def test_an_object_over_max_resource_size_is_refused_with_its_precondition(
    configuration: Any, engine: Any
) -> None:
    configuration.update({"server": {"max_resource_size": "2000"}}, "test", privileged=True)
    users.add(engine, "alice", PASSWORD, "alice@example.org")
    client = WSGIClient(make_app(configuration), configuration, default_user="alice")
    assert client.request("MKCALENDAR", CAL).status == 201
    big = event("big", extra="".join(f"X-PAD-{n}:{'p' * 60}\r\n" for n in range(60)))
    response = put(client, "big.ics", big)
    assert response.status == 403, response.text
    assert C + "max-resource-size" in error_elements(response)
    assert put(client, "small.ics", event("small")).status == 201


def test_a_calendar_inside_a_calendar_is_refused_with_location_ok(cal: WSGIClient) -> None:
    response = cal.request("MKCALENDAR", CAL + "inner/")
    assert response.status == 403, response.text
    assert C + "calendar-collection-location-ok" in error_elements(response)


def test_front_refusals_of_icalendar_are_invalid_calendar_data(cal: WSGIClient) -> None:
    many = "X-MANY" + "".join(f";P{n}=1" for n in range(150)) + ":v\r\n"
    response = put(cal, "l.ics", event("l", extra=many))
    assert response.status == 400, response.text
    assert C + "valid-calendar-data" in error_elements(response)


# --- repaired instead of refused: a byte order mark, DTEND of another type ------------------

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("start", "end", "repaired"),
    [
        ("DTSTART;VALUE=DATE:20261123", "DTEND:20261124T000000Z", "DTEND;VALUE=DATE:20261124"),
        ("DTSTART;VALUE=DATE:20261123", "DTEND:20261123T100000Z", "DTEND;VALUE=DATE:20261124"),
        ("DTSTART;VALUE=DATE:20261123", "DTEND:20261125T100000", "DTEND;VALUE=DATE:20261126"),
        ("DTSTART:20261123T100000Z", "DTEND;VALUE=DATE:20261124", "DTEND:20261124T000000Z"),
        ("DTSTART:20261123T100000Z", "DTEND;VALUE=DATE:20261123", "DTEND:20261124T000000Z"),
        (
            "DTSTART;TZID=Europe/Berlin:20261123T100000",
            "DTEND;VALUE=DATE:20261124",
            "DTEND;TZID=Europe/Berlin:20261124T000000",
        ),
        ("DTSTART:20261123T100000", "DTEND:20261123T110000Z", "DTEND:20261123T110000"),
        ("DTSTART:20261123T100000Z", "DTEND:20261123T110000", "DTEND:20261123T110000Z"),
        (
            "DTSTART:20261123T100000",
            "DTEND;TZID=Europe/Berlin:20261123T110000",
            "DTEND:20261123T110000",
        ),
    ],
)
def test_dtend_is_rewritten_in_the_type_of_dtstart(start: str, end: str, repaired: str) -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:r\r\n"
        f"{start}\r\n{end}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    fixed, repairs = repair.repair_end_types(text)
    assert fixed == text.replace(end, repaired)
    assert len(repairs) == 1 and "DTEND" in repairs[0]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("DTSTART;VALUE=DATE:20261123", "DTEND;VALUE=DATE:20261124"),
        ("DTSTART:20261123T100000Z", "DTEND;TZID=Europe/Berlin:20261123T120000"),
        ("DTSTART:20261123T100000", "DTEND:20261123T110000"),
    ],
)
def test_dtend_of_a_compatible_type_is_left_alone(start: str, end: str) -> None:
    text = f"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:r\n{start}\n{end}\nEND:VEVENT\nEND:VCALENDAR\n"
    assert repair.repair_end_types(text) == (text, [])


@pytest.mark.parametrize(
    ("fixture", "dtend"),
    [
        ("thunderbird-allday-zoned-end.ics", "DTEND;VALUE=DATE:20261124"),
        ("evolution-floating-start-utc-end.ics", "DTEND:20261125T093000"),
        ("evolution-zoned-start-date-end.ics", "DTEND;TZID=Europe/Berlin:20261127T000000"),
    ],
)
def test_client_events_mixing_date_types_are_stored_with_dtend_repaired(
    cal: WSGIClient, fixture: str, dtend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="calserver")
    body = (FIXTURES / fixture).read_bytes()
    response = put(cal, "mixed.ics", body)
    assert response.status == 201, response.text
    stored = cal.request("GET", CAL + "mixed.ics").text
    assert dtend in stored.splitlines()
    assert any("repaired" in r.getMessage() and "DTEND" in r.getMessage() for r in caplog.records)
    # and it is found by a time-range query of its day
    query = (
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
        '<C:comp-filter name="VEVENT"><C:time-range start="20261122T000000Z" '
        'end="20261130T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
        "</C:calendar-query>"
    )
    found = cal.request("REPORT", CAL, query, {"Depth": "1", "Content-Type": "application/xml"})
    assert CAL + "mixed.ics" in found.text


def test_a_utf8_byte_order_mark_is_stripped(cal: WSGIClient) -> None:
    body = repair.BOM + event("bom", summary="Caf\u00e9").encode("utf-8")
    response = put(cal, "bom.ics", body)
    assert response.status == 201, response.text
    got = cal.request("GET", CAL + "bom.ics")
    assert got.body.startswith(b"BEGIN:VCALENDAR")
    assert "SUMMARY:Caf\u00e9" in got.text


# --- VFREEBUSY objects (RFC 4791 4.1, 9.9) ---------------------------------------------------

VFREEBUSY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//EN\r\n"
    "BEGIN:VFREEBUSY\r\nUID:fb-1\r\nDTSTAMP:20261101T000000Z\r\n"
    "DTSTART:20261123T000000Z\r\nDTEND:20261130T000000Z\r\n"
    "ORGANIZER:mailto:alice@example.org\r\n"
    "FREEBUSY;FBTYPE=BUSY:20261123T100000Z/20261123T110000Z\r\n"
    "END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
)


def query_component(client: WSGIClient, path: str, component: str, start: str, end: str) -> str:
    body = (
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
        f'<C:comp-filter name="{component}"><C:time-range start="{start}" end="{end}"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )
    response = client.request(
        "REPORT", path, body, {"Depth": "1", "Content-Type": "application/xml"}
    )
    assert response.status == 207, response.text
    return response.text


def test_a_vfreebusy_object_is_stored_and_found_in_its_time_range(cal: WSGIClient) -> None:
    response = put(cal, "fb.ics", VFREEBUSY)
    assert response.status == 201, response.text
    assert "BEGIN:VFREEBUSY" in cal.request("GET", CAL + "fb.ics").text
    inside = query_component(cal, CAL, "VFREEBUSY", "20261125T000000Z", "20261126T000000Z")
    assert CAL + "fb.ics" in inside
    # (outside its range it is listed too: Radicale 3.9's comp-filter does not filter
    # VFREEBUSY components, "Filtering VFREEBUSY is not supported": more, never less)
    # events of the same calendar are still queried as before
    assert put(cal, "e.ics", event("e")).status == 201
    events = query_component(cal, CAL, "VEVENT", "20261123T000000Z", "20261124T000000Z")
    assert CAL + "e.ics" in events and CAL + "fb.ics" not in events


def test_a_vfreebusy_object_is_refused_where_the_component_set_excludes_it(
    client: WSGIClient,
) -> None:
    body = (
        '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
        '<C:supported-calendar-component-set><C:comp name="VEVENT"/>'
        "</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"
    )
    assert client.request("MKCALENDAR", "/alice/events/", body).status == 201
    response = client.request("PUT", "/alice/events/fb.ics", VFREEBUSY, ICS)
    assert response.status == 403, response.text
    assert C + "supported-calendar-component" in error_elements(response)


# --- dead properties on calendar objects (RFC 4918 9.2) --------------------------------------

X = "{urn:example:tags}"


def proppatch_body(set_: str = "", remove: str = "") -> str:
    parts = ""
    if set_:
        parts += f"<D:set><D:prop>{set_}</D:prop></D:set>"
    if remove:
        parts += f"<D:remove><D:prop>{remove}</D:prop></D:remove>"
    return (
        '<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
        f'xmlns:X="urn:example:tags">{parts}</D:propertyupdate>'
    )


def prop_statuses(response: Response) -> dict[str, str]:
    assert response.status == 207, response.text
    found = {}
    for propstat in xml(response).iter("{DAV:}propstat"):
        status = propstat.findtext("D:status", namespaces=NS) or ""
        for prop in propstat.find("D:prop", NS) or []:
            found[prop.tag] = status
    return found


def item_props(client: WSGIClient, path: str, *names: str, depth: str = "0") -> dict[str, Any]:
    props = "".join(f'<X:{n} xmlns:X="urn:example:tags"/>' for n in names) + "<D:getetag/>"
    body = f'<D:propfind xmlns:D="DAV:"><D:prop>{props}</D:prop></D:propfind>'
    response = client.request("PROPFIND", path, body, {"Depth": depth})
    assert response.status == 207, response.text
    result: dict[str, Any] = {}
    for element in xml(response).findall("D:response", NS):
        href = element.findtext("D:href", namespaces=NS)
        for propstat in element.findall("D:propstat", NS):
            if "200" in (propstat.findtext("D:status", namespaces=NS) or ""):
                for prop in propstat.find("D:prop", NS) or []:
                    if prop.tag.startswith(X):
                        result.setdefault(href, {})[prop.tag[len(X) :]] = prop
    return result


def test_dead_properties_on_an_item_are_kept_and_returned(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    etag = cal.request("GET", CAL + "a.ics").headers["etag"]
    response = cal.request(
        "PROPPATCH",
        CAL + "a.ics",
        proppatch_body('<X:color>blue</X:color><X:tag><X:v lang="en">work</X:v></X:tag>'),
    )
    assert prop_statuses(response) == {X + "color": "HTTP/1.1 200 OK", X + "tag": "HTTP/1.1 200 OK"}
    found = item_props(cal, CAL + "a.ics", "color", "tag", "missing")
    assert found[CAL + "a.ics"]["color"].text == "blue"
    assert found[CAL + "a.ics"]["tag"].find(X + "v").get("lang") == "en"
    # depth 1 on the calendar too, and the object's ETag is unchanged
    assert item_props(cal, CAL, "color", depth="1")[CAL + "a.ics"]["color"].text == "blue"
    assert cal.request("GET", CAL + "a.ics").headers["etag"] == etag
    # a PUT that replaces the object keeps them; remove drops one
    assert put(cal, "a.ics", event("a", summary="changed")).status in (201, 204)
    assert item_props(cal, CAL + "a.ics", "color")[CAL + "a.ics"]["color"].text == "blue"
    removed = cal.request("PROPPATCH", CAL + "a.ics", proppatch_body(remove="<X:color/>"))
    assert prop_statuses(removed) == {X + "color": "HTTP/1.1 200 OK"}
    assert "color" not in item_props(cal, CAL + "a.ics", "color", "tag").get(CAL + "a.ics", {})


def test_dead_properties_go_with_a_deleted_item(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    cal.request("PROPPATCH", CAL + "a.ics", proppatch_body("<X:color>red</X:color>"))
    assert cal.request("DELETE", CAL + "a.ics").status in (200, 204)
    assert put(cal, "a.ics", event("a")).status == 201
    assert item_props(cal, CAL + "a.ics", "color") == {}


def test_a_protected_property_on_an_item_fails_the_whole_proppatch(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    response = cal.request(
        "PROPPATCH",
        CAL + "a.ics",
        proppatch_body("<X:color>red</X:color><D:getetag>forged</D:getetag>"),
    )
    statuses = prop_statuses(response)
    assert statuses["{DAV:}getetag"].startswith("HTTP/1.1 403")
    assert statuses[X + "color"].startswith("HTTP/1.1 424")
    assert item_props(cal, CAL + "a.ics", "color") == {}


def test_another_user_cannot_set_properties_on_an_item(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    response = cal.request(
        "PROPPATCH", CAL + "a.ics", proppatch_body("<X:color>red</X:color>"), user="bob"
    )
    assert response.status in (403, 404)
    assert item_props(cal, CAL + "a.ics", "color") == {}


# --- COPY of calendar objects (RFC 4918 9.8) --------------------------------------------------


def copy_to(
    client: WSGIClient, source: str, target: str, user: str | None = "", **headers: str
) -> Response:
    dest = {"Destination": "http://127.0.0.1:5232" + target}
    return client.request("COPY", source, headers={**dest, **headers}, user=user)


def test_copy_to_another_calendar_stores_the_object_there(cal: WSGIClient) -> None:
    assert cal.request("MKCALENDAR", "/alice/other/").status == 201
    assert put(cal, "a.ics", event("a", summary="Copied")).status == 201
    response = copy_to(cal, CAL + "a.ics", "/alice/other/a.ics")
    assert response.status == 201, response.text
    assert "SUMMARY:Copied" in cal.request("GET", "/alice/other/a.ics").text
    assert cal.request("GET", CAL + "a.ics").status == 200  # the source stays
    # Overwrite: F onto the existing copy: 412, nothing changed (RFC 4918 9.8.5)
    assert put(cal, "a.ics", event("a", summary="Changed")).status in (201, 204)
    refused = copy_to(cal, CAL + "a.ics", "/alice/other/a.ics", Overwrite="F")
    assert refused.status == 412, refused.text
    assert "SUMMARY:Copied" in cal.request("GET", "/alice/other/a.ics").text
    # Overwrite: T (the default) replaces it
    assert copy_to(cal, CAL + "a.ics", "/alice/other/a.ics").status == 204
    assert "SUMMARY:Changed" in cal.request("GET", "/alice/other/a.ics").text


def test_copy_within_a_calendar_is_a_uid_conflict(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    response = copy_to(cal, CAL + "a.ics", CAL + "b.ics")
    assert response.status == 409, response.text
    assert C + "no-uid-conflict" in error_elements(response)
    assert cal.request("GET", CAL + "b.ics").status == 404


def test_copy_needs_write_rights_in_the_target(cal: WSGIClient) -> None:
    assert put(cal, "a.ics", event("a")).status == 201
    assert cal.request("MKCALENDAR", "/bob/cal/", user="bob").status == 201
    into_bobs = copy_to(cal, CAL + "a.ics", "/bob/cal/a.ics")
    assert into_bobs.status in (403, 404), into_bobs.text
    assert cal.request("GET", "/bob/cal/a.ics", user="bob").status == 404
    # nor may bob copy alice's event out of her calendar
    out_of_alices = copy_to(cal, CAL + "a.ics", "/bob/cal/a.ics", user="bob")
    assert out_of_alices.status in (403, 404), out_of_alices.text
    assert cal.request("GET", "/bob/cal/a.ics", user="bob").status == 404


def test_copy_into_a_calendar_refusing_the_component_is_refused(cal: WSGIClient) -> None:
    body = (
        '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
        '<C:supported-calendar-component-set><C:comp name="VTODO"/>'
        "</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"
    )
    assert cal.request("MKCALENDAR", "/alice/tasks/", body).status == 201
    assert put(cal, "a.ics", event("a")).status == 201
    response = copy_to(cal, CAL + "a.ics", "/alice/tasks/a.ics")
    assert response.status == 403, response.text
    assert C + "supported-calendar-component" in error_elements(response)


def test_copy_of_a_collection_or_without_destination_is_refused(cal: WSGIClient) -> None:
    assert copy_to(cal, CAL, "/alice/copy/").status == 403
    assert cal.request("COPY", CAL + "a.ics").status == 400


# --- Schedule-Tag (RFC 6638 3.2.10, 3.3, 8.2, 8.3) ---------------------------------------------


def meeting_ics(uid: str, summary: str = "Planning", bob: str = "NEEDS-ACTION") -> str:
    return event(
        uid,
        summary=summary,
        extra=(
            "ORGANIZER:mailto:alice@example.org\r\n"
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"
            f"ATTENDEE;PARTSTAT={bob};RSVP=TRUE:mailto:bob@example.org\r\n"
        ),
    )


def schedule_tag_property(client: WSGIClient, path: str, user: str | None = "") -> str | None:
    body = (
        '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        "<D:prop><C:schedule-tag/><D:getetag/></D:prop></D:propfind>"
    )
    response = client.request("PROPFIND", path, body, {"Depth": "0"}, user=user)
    assert response.status == 207, response.text
    for propstat in xml(response).iter("{DAV:}propstat"):
        if "200" in (propstat.findtext("D:status", namespaces=NS) or ""):
            value = propstat.findtext("D:prop/C:schedule-tag", namespaces=NS)
            if value:
                return value
    return None


def bobs_copy(client: WSGIClient, uid: str) -> str:
    body = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
    response = client.request("PROPFIND", "/bob/", body, {"Depth": "1"}, user="bob")
    for href in [h.text or "" for h in xml(response).iter("{DAV:}href")]:
        if not href.endswith("/") or href in ("/bob/", "/bob/inbox/", "/bob/outbox/"):
            continue
        listing = client.request("PROPFIND", href, body, {"Depth": "1"}, user="bob")
        for item in [h.text or "" for h in xml(listing).iter("{DAV:}href")]:
            if item.endswith(".ics"):
                text = client.request("GET", item, user="bob").text
                if f"UID:{uid}" in text:
                    return item
    raise AssertionError(f"bob has no copy of {uid}")


def test_schedule_tag_changes_with_the_organizer_not_with_a_reply(cal: WSGIClient) -> None:
    assert cal.request("MKCALENDAR", "/bob/cal/", user="bob").status == 201
    created = put(cal, "m.ics", meeting_ics("meet-1"))
    assert created.status == 201, created.text
    tag = created.headers.get("schedule-tag")
    assert tag
    got = cal.request("GET", CAL + "m.ics")
    assert got.headers.get("schedule-tag") == tag
    assert schedule_tag_property(cal, CAL + "m.ics") == tag
    # bob accepts in his copy: the organizer's copy gets his PARTSTAT, not a new tag
    copy = bobs_copy(cal, "meet-1")
    bob_text = cal.request("GET", copy, user="bob").text
    accepted = bob_text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    assert accepted != bob_text
    answer = cal.request("PUT", copy, accepted, ICS, user="bob")
    assert answer.status in (201, 204), answer.text
    organizer_copy = cal.request("GET", CAL + "m.ics")
    assert "ACCEPTED" in organizer_copy.text.split("mailto:bob@example.org")[0].rsplit("\n", 1)[-1]
    assert organizer_copy.headers.get("schedule-tag") == tag
    # so the organizer's client may still write on the tag it has (RFC 6638 3.3)
    updated = put(
        cal, "m.ics", meeting_ics("meet-1", summary="Moved"), {"If-Schedule-Tag-Match": tag}
    )
    assert updated.status in (201, 204), updated.text
    new_tag = cal.request("GET", CAL + "m.ics").headers.get("schedule-tag")
    assert new_tag and new_tag != tag
    # and a write on the old tag is refused, nothing changed
    stale = put(
        cal, "m.ics", meeting_ics("meet-1", summary="Stale"), {"If-Schedule-Tag-Match": tag}
    )
    assert stale.status == 412, stale.text
    assert "SUMMARY:Moved" in cal.request("GET", CAL + "m.ics").text
    refused = cal.request("DELETE", CAL + "m.ics", headers={"If-Schedule-Tag-Match": tag})
    assert refused.status == 412
    assert cal.request("GET", CAL + "m.ics").status == 200


def test_plain_events_have_no_schedule_tag(cal: WSGIClient) -> None:
    created = put(cal, "p.ics", event("plain"))
    assert created.status == 201
    assert "schedule-tag" not in created.headers
    assert "schedule-tag" not in cal.request("GET", CAL + "p.ics").headers
    assert schedule_tag_property(cal, CAL + "p.ics") is None
