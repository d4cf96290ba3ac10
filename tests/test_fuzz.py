"""Property-based fuzzing (hypothesis) of PUT and REPORT bodies against a live server.

Inputs are built from the grammar of what clients send -- iCalendar components,
properties, parameters and values (RFC 5545), CalDAV REPORT requests (RFC 4791 7,
RFC 6578) -- with every part drawn from valid, borderline and broken values, plus raw
text and bytes. Properties checked on every input:

- never a 500 (nor a dropped connection): the answer is 2xx/3xx or a clear 4xx;
- a PUT that is refused leaves nothing behind (its href stays 404); one that is
  accepted can be read back, and is listed;
- a 207 is well-formed XML;
- at the end, ``calserver check`` finds nothing wrong in the database.

The count of inputs tried is recorded (``record_property``, and printed). Raise it with
``CALSERVER_FUZZ_EXAMPLES`` (default 150 PUT and 150 REPORT bodies per engine).
"""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORD, LiveServer, run_cli, serve_with_users

pytestmark = pytest.mark.live

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
EXAMPLES = int(os.environ.get("CALSERVER_FUZZ_EXAMPLES", "150"))
AUTH = ("alice", PASSWORD)
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from serve_with_users(request, tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def calendar(server: LiveServer) -> str:
    path = "/alice/fuzz/"
    answer = requests.request("MKCALENDAR", server.url + path, auth=AUTH, timeout=30)
    assert answer.status_code == 201
    seed = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//fuzz//EN\r\nBEGIN:VEVENT\r\n"
        "UID:seed\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
        "DTEND:20260105T110000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:seed\r\n"
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    answer = requests.put(server.url + path + "seed.ics", data=seed, auth=AUTH, timeout=30)
    assert answer.status_code == 201
    return path


# --- iCalendar ---------------------------------------------------------------------------------

DATES = st.sampled_from(
    [
        "20260105T100000Z",
        "20260105T100000",
        "20260105",
        "19000101T000000Z",
        "99991231T235959Z",
        "00010101",
        "20261332T250000Z",
        "2026-01-05T10:00:00Z",
        "",
        "20260105T1000",
        "20260230",
    ]
)
RULE_PARTS = st.lists(
    st.sampled_from(
        [
            "FREQ=SECONDLY",
            "FREQ=MINUTELY",
            "FREQ=HOURLY",
            "FREQ=DAILY",
            "FREQ=WEEKLY",
            "FREQ=MONTHLY",
            "FREQ=YEARLY",
            "FREQ=NEVER",
            "COUNT=3",
            "COUNT=100000",
            "COUNT=-1",
            "UNTIL=20270101T000000Z",
            "UNTIL=20250101",
            "UNTIL=garbage",
            "INTERVAL=2",
            "INTERVAL=0",
            "BYDAY=MO,TU",
            "BYDAY=5FR",
            "BYDAY=-1SU",
            "BYMONTH=2",
            "BYMONTH=13",
            "BYMONTHDAY=30",
            "BYMONTHDAY=-31",
            "BYYEARDAY=366",
            "BYWEEKNO=53",
            "BYHOUR=25",
            "BYSETPOS=-1",
            "WKST=SU",
            "X-NAME=1",
        ]
    ),
    max_size=6,
).map(";".join)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60) | st.sampled_from(
    ["", "\\", "\\n", ";", ",", ":", '"', "\x00", "\x7f", "é€😀", "\u202e"]
)
PARAMS = st.lists(
    st.tuples(
        st.sampled_from(
            ["TZID", "VALUE", "CN", "X-P", "ROLE", "RELATED", "ENCODING"] * 3 + ["a b"]
        ),
        st.sampled_from(
            [
                "Europe/Brussels",
                "DATE",
                "DATE-TIME",
                "PERIOD",
                '"quoted, value"',
                "",
                "X/Y",
                "BASE64",
            ]
        ),
    ),
    max_size=3,
).map(lambda pairs: "".join(f";{name}={value}" for name, value in pairs))


VALID_DATES = st.sampled_from(["20260105T100000Z", "20260106T120000Z", "20250101T000000Z"])
VALID_RULES = st.sampled_from(
    [
        "FREQ=DAILY;COUNT=3",
        "FREQ=WEEKLY;BYDAY=MO,WE",
        "FREQ=MONTHLY;BYMONTHDAY=-1;UNTIL=20280101T000000Z",
        "FREQ=YEARLY",
        "FREQ=HOURLY;INTERVAL=5",
        "FREQ=SECONDLY",
    ]
)


@st.composite
def properties(draw: st.DrawFn, valid: bool = False) -> str:
    name = draw(
        st.sampled_from(
            [
                "DTSTART",
                "DTEND",
                "DUE",
                "DURATION",
                "RRULE",
                "EXRULE",
                "RDATE",
                "EXDATE",
                "RECURRENCE-ID",
                "UID",
                "SUMMARY",
                "DESCRIPTION",
                "CLASS",
                "TRANSP",
                "STATUS",
                "ATTENDEE",
                "ORGANIZER",
                "TRIGGER",
                "X-MICROSOFT-CDO-BUSYSTATUS",
                "X-WR-CALNAME",
                "SEQUENCE",
                "GEO",
                "ATTACH",
            ]
        )
    )
    if valid and name in ("DTSTART", "DUE", "RECURRENCE-ID"):
        name = "X-" + name  # one DTSTART is there already
    if name in ("DTSTART", "DTEND", "DUE", "RDATE", "EXDATE", "RECURRENCE-ID"):
        dates = VALID_DATES if valid else DATES
        value = draw(st.lists(dates, min_size=1, max_size=3).map(",".join))
    elif name in ("RRULE", "EXRULE"):
        value = draw(VALID_RULES if valid else RULE_PARTS)
    elif name in ("DURATION", "TRIGGER"):
        value = draw(st.sampled_from(["PT1H", "-PT15M", "P1D", "PT0S", "P", "-P1W", "1 hour"]))
    elif name == "CLASS":
        value = draw(st.sampled_from(["PUBLIC", "PRIVATE", "CONFIDENTIAL", "X-ODD", ""]))
    else:
        value = draw(TEXT)
    params = "" if valid and name not in ("ATTENDEE", "SUMMARY", "X-WR-CALNAME") else draw(PARAMS)
    return f"{name}{params}:{value}"


GOOD_STARTS = [
    ":20260105T100000Z",
    ":20260105T100000",
    ";VALUE=DATE:20260105",
    ";TZID=Europe/Brussels:20260105T100000",
]
COMPONENTS = st.sampled_from(["VEVENT", "VTODO", "VJOURNAL", "VALARM", "VTIMEZONE", "X-THING"])


@st.composite
def components(draw: st.DrawFn, depth: int = 0) -> list[str]:
    name = draw(COMPONENTS if depth else st.sampled_from(["VEVENT", "VEVENT", "VTODO", "VJOURNAL"]))
    lines = [f"BEGIN:{name}"]
    if not depth and draw(st.integers(0, 3)):  # most items start well-formed
        lines.append(f"UID:{draw(st.uuids())}")
        lines.append("DTSTAMP:20260101T000000Z")
        lines.append("DTSTART" + draw(st.sampled_from(GOOD_STARTS)))
        lines.extend(draw(st.lists(properties(valid=draw(st.integers(0, 3)) > 0), max_size=4)))
    else:
        if draw(st.booleans()) or not depth:
            lines.append("UID:" + draw(st.sampled_from(["fuzz", "seed", "other", "", "é"])))
        lines.extend(draw(st.lists(properties(), max_size=8)))
    if depth < 3 and draw(st.integers(0, 3)) == 0:
        lines.extend(draw(components(depth + 1)))
    if draw(st.integers(0, 19)):  # now and then a component left open
        lines.append(f"END:{name}")
    return lines


@st.composite
def icalendar_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN"]
    if kind >= 6:  # a well-formed event with one or two fuzzed properties
        lines.extend(
            [
                "BEGIN:VEVENT",
                f"UID:{draw(st.uuids())}",
                "DTSTAMP:20260101T000000Z",
                "DTSTART" + draw(st.sampled_from(GOOD_STARTS)),
                draw(st.sampled_from(["DURATION:PT1H", "DTEND:20260105T120000Z", "SUMMARY:x"])),
            ]
        )
        if draw(st.booleans()):
            lines.append("RRULE:" + draw(VALID_RULES))
        lines.extend(draw(st.lists(properties(valid=draw(st.booleans())), max_size=2)))
        if draw(st.booleans()):
            lines.extend(["BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT5M", "END:VALARM"])
        lines.append("END:VEVENT")
    for _ in range(draw(st.sampled_from([1, 1, 1, 2])) if kind < 6 else 0):
        lines.extend(draw(components()))
    if draw(st.integers(0, 19)):
        lines.append("END:VCALENDAR")
    # shuffle a line or two, drop one, fold or break endings now and then
    if draw(st.integers(0, 9)) == 0 and len(lines) > 2:
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    newline = draw(st.sampled_from(["\r\n", "\r\n", "\n", "\r"]))
    text = newline.join(lines) + newline
    if draw(st.booleans()):
        text = text.replace("UID:", "UID:\r\n ", 1)
    encoding = draw(st.sampled_from(["utf-8"] * 8 + ["latin-1", "utf-16"]))
    return text.encode(encoding, "replace")


# --- REPORT bodies -------------------------------------------------------------------------------

TIMES = st.sampled_from(
    [
        "20260101T000000Z",
        "20260201T000000Z",
        "20270101T000000Z",
        "19700101T000000Z",
        "99991231T235959Z",
        "20260101",
        "garbage",
        "",
    ]
)


def element(tag: str, children: str = "", **attributes: str) -> str:
    attrs = "".join(f' {name.rstrip("_")}="{value}"' for name, value in attributes.items())
    return f"<{tag}{attrs}>{children}</{tag}>"


@st.composite
def time_ranges(draw: st.DrawFn) -> str:
    attributes = {}
    if draw(st.booleans()):
        attributes["start"] = draw(TIMES)
    if draw(st.booleans()):
        attributes["end"] = draw(TIMES)
    return element("C:time-range", **attributes)


@st.composite
def prop_filters(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["SUMMARY", "UID", "DTSTART", "ATTENDEE", "CLASS", "X-Y", ""]))
    inner = draw(
        st.lists(
            st.one_of(
                st.builds(
                    lambda text, negate, collation: element(
                        "C:text-match",
                        text,
                        collation=collation,
                        **{"negate-condition": negate},
                    ),
                    st.sampled_from(["seed", "", "é", "&amp;", "%"]),
                    st.sampled_from(["yes", "no", "maybe"]),
                    st.sampled_from(["i;ascii-casemap", "i;octet", "i;unicode-casemap", "x"]),
                ),
                st.just("<C:is-not-defined/>"),
                time_ranges(),
                st.just(
                    '<C:param-filter name="CN"><C:text-match>x</C:text-match></C:param-filter>'
                ),
            ),
            max_size=2,
        )
    )
    return element("C:prop-filter", "".join(inner), name=name)


@st.composite
def comp_filters(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(
        st.sampled_from(["VCALENDAR", "VEVENT", "VTODO", "VALARM", "VJOURNAL", "VFREEBUSY", "X"])
    )
    children: list[str] = []
    if draw(st.booleans()):
        children.append(draw(time_ranges()))
    children.extend(draw(st.lists(prop_filters(), max_size=2)))
    if depth < 3 and draw(st.booleans()):
        children.extend(draw(st.lists(comp_filters(depth + 1), max_size=2)))
    if draw(st.integers(0, 7)) == 0:
        children = ["<C:is-not-defined/>"]
    return element("C:comp-filter", "".join(children), name=name, test=draw(TEST))


TEST = st.sampled_from(["anyof", "allof", "odd"])
NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"'


@st.composite
def props(draw: st.DrawFn) -> str:
    wanted = draw(
        st.lists(
            st.sampled_from(
                [
                    "<D:getetag/>",
                    "<C:calendar-data/>",
                    element(
                        "C:calendar-data", element("C:expand", start=draw(TIMES), end=draw(TIMES))
                    ),
                    element(
                        "C:calendar-data",
                        element("C:limit-recurrence-set", start=draw(TIMES), end=draw(TIMES)),
                    ),
                    '<C:calendar-data><C:comp name="VCALENDAR"><C:prop name="UID"/></C:comp>'
                    "</C:calendar-data>",
                    "<D:displayname/>",
                    "<CS:getctag/>",
                    "<D:sync-token/>",
                    "<D:current-user-privilege-set/>",
                    "<X:unknown xmlns:X='urn:x'/>",
                ]
            ),
            max_size=3,
        )
    )
    return element("D:prop", "".join(wanted))


@st.composite
def report_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))
    prop = draw(props()) if draw(st.integers(0, 5)) else "<D:allprop/>"
    if kind in (1, 2, 3, 4):
        body = element(
            "C:calendar-query",
            prop
            + element("C:filter", draw(comp_filters()))
            + draw(st.sampled_from(["", "<C:timezone>x</C:timezone>"])),
        )
    elif kind == 5:
        hrefs = draw(
            st.lists(
                st.sampled_from(
                    [
                        "/alice/fuzz/seed.ics",
                        "/alice/fuzz/none.ics",
                        "/bob/x.ics",
                        "/alice/fuzz/../../bob/",
                        "seed.ics",
                        "/alice/fuzz/%00.ics",
                        "http://elsewhere/alice/fuzz/seed.ics",
                        "/alice/fuzz/" + "a" * 300 + ".ics",
                    ]
                ),
                max_size=4,
            )
        )
        body = element("C:calendar-multiget", prop + "".join(element("D:href", h) for h in hrefs))
    elif kind == 6:
        token = draw(
            st.sampled_from(
                [
                    "",
                    "http://calserver.org/ns/sync/zz-1",
                    "http://calserver.org/ns/sync/-99999999999999999999",
                    "garbage",
                    "http://calserver.org/ns/sync/" + "f" * 16 + "-0",
                ]
            )
        )
        level = draw(st.sampled_from(["1", "infinite", "0", "x"]))
        body = element(
            "D:sync-collection",
            element("D:sync-token", token) + element("D:sync-level", level) + prop,
        )
    elif kind == 7:
        body = element("C:free-busy-query", draw(time_ranges()))
    elif kind == 8:
        body = element(
            "D:expand-property",
            '<D:property name="current-user-principal"/><D:property name="x" namespace="y"/>',
        )
    else:
        body = element(
            draw(st.sampled_from(["D:unknown-report", "C:calendar-query", "D:prop"])), prop
        )
    body = body.replace(">", f" {NS}>", 1)
    return ('<?xml version="1.0" encoding="utf-8"?>' + body).encode("utf-8")


# --- the properties -----------------------------------------------------------------------


def checked(answer: requests.Response, what: str) -> requests.Response:
    assert answer.status_code < 500, (what, answer.status_code, answer.text[:500])
    if answer.status_code == 207:
        ET.fromstring(answer.content)  # well-formed
    return answer


def test_fuzzed_put_bodies_never_500_and_never_leave_a_half_written_item(
    server: LiveServer, calendar: str, record_property: Callable[[str, object], None]
) -> None:
    tried = [0]
    statuses: Counter[int] = Counter()
    session = requests.Session()
    session.auth = AUTH
    stored: list[str] = []

    @FUZZ_SETTINGS
    @given(body=icalendar_bodies(), if_none_match=st.booleans())
    def put(body: bytes, if_none_match: bool) -> None:
        tried[0] += 1
        href = f"{calendar}{uuid.uuid4().hex}.ics"
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if if_none_match:
            headers["If-None-Match"] = "*"
        answer = checked(
            session.put(server.url + href, data=body, headers=headers, timeout=60), body[:300]
        )
        statuses[answer.status_code] += 1
        read = checked(session.get(server.url + href, timeout=60), href)
        if answer.status_code >= 400:
            assert read.status_code == 404, (body[:300], answer.status_code)
        else:
            assert read.status_code == 200, (body[:300], answer.status_code)
            assert "BEGIN:VCALENDAR" in read.text
            stored.append(href)

    put()
    record_property("fuzz_put_inputs", tried[0])
    print(f"\nfuzz: {tried[0]} PUT bodies tried, statuses {dict(statuses)}")
    assert tried[0] >= EXAMPLES
    listing = checked(
        session.request(
            "PROPFIND",
            server.url + calendar,
            data='<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>',
            headers={"Depth": "1", "Content-Type": "application/xml"},
            timeout=60,
        ),
        "listing",
    )
    listed = {e.text for e in ET.fromstring(listing.content).iter("{DAV:}href")}
    assert set(stored) <= listed
    full = checked(session.get(server.url + calendar, timeout=60), "whole calendar")
    assert full.status_code == 200
    check = run_cli(server.database_url, server.data_folder, "check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_fuzzed_report_bodies_never_500(
    server: LiveServer, calendar: str, record_property: Callable[[str, object], None]
) -> None:
    tried = [0]
    statuses: Counter[int] = Counter()
    session = requests.Session()
    session.auth = AUTH

    @FUZZ_SETTINGS
    @given(
        body=report_bodies(),
        depth=st.sampled_from(["0", "1", "infinity", "x"]),
        path=st.sampled_from([calendar, "/alice/", calendar + "seed.ics", "/bob/"]),
    )
    def report(body: bytes, depth: str, path: str) -> None:
        tried[0] += 1
        headers = {"Content-Type": "application/xml; charset=utf-8", "Depth": depth}
        answer = checked(
            session.request("REPORT", server.url + path, data=body, headers=headers, timeout=60),
            body[:500],
        )
        statuses[answer.status_code] += 1

    report()
    record_property("fuzz_report_inputs", tried[0])
    print(f"\nfuzz: {tried[0]} REPORT bodies tried, statuses {dict(statuses)}")
    assert tried[0] >= EXAMPLES
    check = run_cli(server.database_url, server.data_folder, "check")
    assert check.returncode == 0, check.stdout + check.stderr
