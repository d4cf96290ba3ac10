"""Apple delegation against a live server, with the requests Apple Calendar sends
(CalendarServer's recorded macOS request bodies): the caldav-proxy properties and
proxy group principals, the expand-property REPORT, principal-property-search and
principal-search-property-set. Proxies come from grants made with the CLI.

The world of this module (one server per engine):

- alice/work shared with bob (read) and with @team (read: dave and erin);
  alice/home shared with bob (write);
- carol/cal shared with bob (read) and with dave (busy: makes no proxy).

So alice's write proxies are [bob], her read proxies [dave, erin] (through the group;
bob is a write proxy only); carol's read proxies are [bob].
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import unquote

import pytest

from tests.conftest import PASSWORD, LiveServer
from tests.e2e_support import ENGINES, NS, module_server, send

pytestmark = pytest.mark.live

XML = {"Content-Type": "application/xml; charset=utf-8", "Depth": "0"}

#: Apple Calendar's principal PROPFIND (OS X 10.11) with the proxy properties.
APPLE_PRINCIPAL_PROPFIND = """<?xml version="1.0" encoding="UTF-8"?>
<A:propfind xmlns:A="DAV:">
  <A:prop>
    <C:calendar-home-set xmlns:C="urn:ietf:params:xml:ns:caldav"/>
    <C:calendar-user-address-set xmlns:C="urn:ietf:params:xml:ns:caldav"/>
    <A:current-user-principal/>
    <A:displayname/>
    <B:email-address-set xmlns:B="http://calendarserver.org/ns/"/>
    <A:principal-collection-set/>
    <A:principal-URL/>
    <A:group-membership/>
    <B:calendar-proxy-read-for xmlns:B="http://calendarserver.org/ns/"/>
    <B:calendar-proxy-write-for xmlns:B="http://calendarserver.org/ns/"/>
    <A:supported-report-set/>
  </A:prop>
</A:propfind>
"""

#: Apple Calendar's start-up expand-property REPORT on its own principal (OS X 10.11).
APPLE_PRINCIPAL_EXPAND = """<?xml version="1.0" encoding="UTF-8"?>
<A:expand-property xmlns:A="DAV:">
  <A:property name="calendar-proxy-read-for" namespace="http://calendarserver.org/ns/">
    <A:property name="calendar-user-address-set" namespace="urn:ietf:params:xml:ns:caldav"/>
    <A:property name="email-address-set" namespace="http://calendarserver.org/ns/"/>
    <A:property name="displayname" namespace="DAV:"/>
  </A:property>
  <A:property name="calendar-proxy-write-for" namespace="http://calendarserver.org/ns/">
    <A:property name="calendar-user-address-set" namespace="urn:ietf:params:xml:ns:caldav"/>
    <A:property name="email-address-set" namespace="http://calendarserver.org/ns/"/>
    <A:property name="displayname" namespace="DAV:"/>
    <A:property name="principal-URL" namespace="DAV:"/>
  </A:property>
</A:expand-property>
"""

#: Apple Calendar's people search (OS X 10.7 user list), TEXT filled in per test.
APPLE_PEOPLE_SEARCH = """<?xml version="1.0" encoding="utf-8" ?>
<x0:principal-property-search xmlns:x2="urn:ietf:params:xml:ns:caldav" xmlns:x0="DAV:" \
xmlns:x1="http://calendarserver.org/ns/" test="anyof"><x0:property-search><x0:prop>\
<x0:displayname/></x0:prop><x0:match match-type="starts-with">TEXT</x0:match>\
</x0:property-search><x0:property-search><x0:prop><x1:email-address-set/></x0:prop>\
<x0:match match-type="starts-with">TEXT</x0:match></x0:property-search>\
<x0:property-search><x0:prop><x1:first-name/></x0:prop><x0:match match-type="starts-with">\
TEXT</x0:match></x0:property-search><x0:property-search><x0:prop><x1:last-name/></x0:prop>\
<x0:match match-type="starts-with">TEXT</x0:match></x0:property-search><x0:prop>\
<x1:email-address-set/><x2:calendar-user-address-set/><x2:calendar-user-type/>\
<x0:displayname/><x1:last-name/><x1:first-name/><x1:record-type/><x0:principal-URL/>\
</x0:prop></x0:principal-property-search>"""


def cli(server: LiveServer, *args: str) -> None:
    result = server.cli(*args)
    assert result.returncode == 0, (args, result.stderr)


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    for live in module_server(request, tmp_path_factory):
        for name in ("carol", "dave", "erin"):
            result = live.cli(
                "user",
                "add",
                name,
                "--email",
                f"{name}@example.org",
                "--password-stdin",
                stdin=PASSWORD + "\n",
            )
            assert result.returncode == 0, result.stderr
        for name in ("alice", "bob", "carol", "dave", "erin"):
            # each signs in once, as a client would (that makes their principal)
            assert send(live, "PROPFIND", f"/{name}/", b"", XML, user=name).status == 207
        for path in ("alice/work", "alice/home", "carol/cal"):
            cli(live, "calendar", "create", path)
        cli(live, "group", "create", "team", "--admin", "dave")
        cli(live, "group", "add-member", "team", "erin")
        cli(live, "share", "alice/work", "--with", "bob", "--level", "read")
        cli(live, "share", "alice/home", "--with", "bob", "--level", "write")
        cli(live, "share", "alice/work", "--with", "@team", "--level", "read")
        cli(live, "share", "carol/cal", "--with", "bob", "--level", "read")
        cli(live, "share", "carol/cal", "--with", "dave", "--level", "busy")
        yield live


# --- reading the answers ----------------------------------------------------------------


def multistatus(server: LiveServer, method: str, path: str, body: str, user: str) -> ET.Element:
    reply = send(server, method, path, body, XML, user=user)
    assert reply.status == 207, (reply.status, reply.text)
    return reply.xml()


def only_response(root: ET.Element, href: str) -> ET.Element:
    responses = root.findall("D:response", NS)
    assert [unquote(r.findtext("D:href", namespaces=NS) or "") for r in responses] == [href]
    return responses[0]


def prop(response: ET.Element, name: str, status: int = 200) -> ET.Element:
    """The property ``name`` ("CS:calendar-proxy-read-for") in the propstat of
    ``status``; fails when it is elsewhere."""
    for propstat in response.findall("D:propstat", NS):
        element = propstat.find(f"D:prop/{name}", NS)
        if element is not None:
            found = int((propstat.findtext("D:status", namespaces=NS) or "").split()[1])
            assert found == status, (name, found, ET.tostring(response))
            return element
    raise AssertionError(f"{name} not in {ET.tostring(response)!r}")


def hrefs(element: ET.Element) -> list[str]:
    return [unquote(h.text or "") for h in element.findall("D:href", NS)]


def propfind_body(*names: str) -> str:
    return (
        '<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
        "<D:prop>" + "".join(f"<{n}/>" for n in names) + "</D:prop></D:propfind>"
    )


# --- feature discovery ------------------------------------------------------------------


def test_dav_header_announces_calendar_proxy(server: LiveServer) -> None:
    reply = send(server, "OPTIONS", "/bob/", user="bob")
    features = [token.strip() for token in reply.headers["dav"].split(",")]
    assert reply.status == 200
    assert {"calendar-access", "calendar-proxy", "calendarserver-principal-property-search"} <= (
        set(features)
    )


# --- user principals ----------------------------------------------------------------------


def test_principal_lists_who_granted_read_and_write(server: LiveServer) -> None:
    bob = only_response(
        multistatus(server, "PROPFIND", "/bob/", APPLE_PRINCIPAL_PROPFIND, "bob"), "/bob/"
    )
    assert hrefs(prop(bob, "CS:calendar-proxy-read-for")) == ["/carol/"]
    assert hrefs(prop(bob, "CS:calendar-proxy-write-for")) == ["/alice/"]
    assert hrefs(prop(bob, "D:group-membership")) == [
        "/alice/calendar-proxy-write/",
        "/carol/calendar-proxy-read/",
    ]
    assert prop(bob, "D:displayname").text == "bob"
    assert hrefs(prop(bob, "D:principal-URL")) == ["/bob/"]

    # a grant to a group counts for its members; a busy grant makes no proxy
    dave = only_response(
        multistatus(server, "PROPFIND", "/dave/", APPLE_PRINCIPAL_PROPFIND, "dave"), "/dave/"
    )
    assert hrefs(prop(dave, "CS:calendar-proxy-read-for")) == ["/alice/"]
    assert hrefs(prop(dave, "CS:calendar-proxy-write-for")) == []
    assert hrefs(prop(dave, "D:group-membership")) == ["/alice/calendar-proxy-read/"]
    emails = prop(dave, "CS:email-address-set").findall("CS:email-address", NS)
    assert [e.text for e in emails] == ["dave@example.org"]

    alice = only_response(
        multistatus(server, "PROPFIND", "/alice/", APPLE_PRINCIPAL_PROPFIND, "alice"), "/alice/"
    )
    assert hrefs(prop(alice, "CS:calendar-proxy-read-for")) == []
    assert hrefs(prop(alice, "CS:calendar-proxy-write-for")) == []


def test_whom_someone_acts_for_only_they_read(server: LiveServer) -> None:
    bob = only_response(
        multistatus(server, "PROPFIND", "/bob/", APPLE_PRINCIPAL_PROPFIND, "carol"), "/bob/"
    )
    for name in ("CS:calendar-proxy-read-for", "CS:calendar-proxy-write-for", "D:group-membership"):
        assert hrefs(prop(bob, name, status=403)) == []
    # what any signed-in user may see of a principal
    assert prop(bob, "D:displayname").text == "bob"
    assert hrefs(prop(bob, "D:principal-URL")) == ["/bob/"]


# --- proxy group principals -----------------------------------------------------------------


def test_proxy_groups_answer_propfind_with_their_members(server: LiveServer) -> None:
    body = propfind_body("D:resourcetype", "D:group-member-set", "D:principal-URL")
    for group, members in (
        ("calendar-proxy-write", ["/bob/"]),
        (
            "calendar-proxy-read",
            [
                "/dave/",
                "/erin/",
            ],
        ),
    ):
        href = f"/alice/{group}/"
        response = only_response(multistatus(server, "PROPFIND", href, body, "alice"), href)
        kinds = [child.tag for child in prop(response, "D:resourcetype")]
        assert kinds == ["{DAV:}principal", "{http://calendarserver.org/ns/}" + group]
        assert hrefs(prop(response, "D:group-member-set")) == members
        assert hrefs(prop(response, "D:principal-URL")) == [href]

    carol_read = only_response(
        multistatus(server, "PROPFIND", "/carol/calendar-proxy-read/", body, "carol"),
        "/carol/calendar-proxy-read/",
    )
    assert hrefs(prop(carol_read, "D:group-member-set")) == ["/bob/"]


def test_proxy_group_members_only_the_owner_reads(server: LiveServer) -> None:
    body = propfind_body("D:resourcetype", "D:group-member-set")
    href = "/alice/calendar-proxy-write/"
    response = only_response(multistatus(server, "PROPFIND", href, body, "bob"), href)
    assert hrefs(prop(response, "D:group-member-set", status=403)) == []
    assert len(prop(response, "D:resourcetype")) == 2
    assert send(server, "PROPFIND", "/nobody/calendar-proxy-read/", body, XML).status == 404
    assert send(server, "PROPFIND", href, body, XML, user=None).status == 401


# --- expand-property (RFC 3253 3.8) ---------------------------------------------------------


def expanded(response: ET.Element, name: str) -> dict[str, ET.Element]:
    """The D:response elements that replaced the hrefs of property ``name``."""
    return {
        unquote(r.findtext("D:href", namespaces=NS) or ""): r
        for r in prop(response, name).findall("D:response", NS)
    }


def test_expand_property_as_apple_calendar_sends_it(server: LiveServer) -> None:
    root = multistatus(server, "REPORT", "/bob/", APPLE_PRINCIPAL_EXPAND, "bob")
    bob = only_response(root, "/bob/")

    read_for = expanded(bob, "CS:calendar-proxy-read-for")
    assert list(read_for) == ["/carol/"]
    carol = read_for["/carol/"]
    assert prop(carol, "D:displayname").text == "carol"
    emails = prop(carol, "CS:email-address-set").findall("CS:email-address", NS)
    assert [e.text for e in emails] == ["carol@example.org"]
    prop(carol, "C:calendar-user-address-set")  # present (scheduling fills it in later)

    write_for = expanded(bob, "CS:calendar-proxy-write-for")
    assert list(write_for) == ["/alice/"]
    alice = write_for["/alice/"]
    assert prop(alice, "D:displayname").text == "alice"
    assert hrefs(prop(alice, "D:principal-URL")) == ["/alice/"]
    assert prop(alice, "CS:email-address-set").findall("CS:email-address", NS) == []


def test_expand_property_behind_a_path_prefix(server: LiveServer) -> None:
    """Behind nginx under /dav (X-Script-Name), every href carries the prefix and is
    followed as such."""
    headers = {**XML, "X-Script-Name": "/dav"}
    reply = send(server, "REPORT", "/bob/", APPLE_PRINCIPAL_EXPAND, headers, user="bob")
    assert reply.status == 207, reply.text
    bob = only_response(reply.xml(), "/dav/bob/")
    alice = expanded(bob, "CS:calendar-proxy-write-for")["/dav/alice/"]
    assert hrefs(prop(alice, "D:principal-URL")) == ["/dav/alice/"]
    assert prop(alice, "D:displayname").text == "alice"
    assert list(expanded(bob, "CS:calendar-proxy-read-for")) == ["/dav/carol/"]


def test_expand_property_of_a_proxy_group_lists_the_delegates(server: LiveServer) -> None:
    body = (
        '<A:expand-property xmlns:A="DAV:"><A:property name="group-member-set">'
        '<A:property name="displayname"/>'
        '<A:property name="email-address-set" namespace="http://calendarserver.org/ns/"/>'
        "</A:property></A:expand-property>"
    )
    href = "/alice/calendar-proxy-read/"
    group = only_response(multistatus(server, "REPORT", href, body, "alice"), href)
    members = expanded(group, "D:group-member-set")
    assert list(members) == ["/dave/", "/erin/"]
    for name, member in members.items():
        user = name.strip("/")
        assert prop(member, "D:displayname").text == user
        emails = prop(member, "CS:email-address-set").findall("CS:email-address", NS)
        assert [e.text for e in emails] == [f"{user}@example.org"]


# --- principal-property-search and principal-search-property-set (RFC 3744 9.4, 9.5) ------


def found_principals(server: LiveServer, body: str, user: str = "bob") -> dict[str, ET.Element]:
    root = multistatus(server, "REPORT", "/", body, user)
    return {
        unquote(r.findtext("D:href", namespaces=NS) or ""): r
        for r in root.findall("D:response", NS)
    }


def test_people_search_by_name_and_email(server: LiveServer) -> None:
    found = found_principals(server, APPLE_PEOPLE_SEARCH.replace("TEXT", "car"))
    assert list(found) == ["/carol/"]
    carol = found["/carol/"]
    assert prop(carol, "D:displayname").text == "carol"
    assert hrefs(prop(carol, "D:principal-URL")) == ["/carol/"]
    emails = prop(carol, "CS:email-address-set").findall("CS:email-address", NS)
    assert [e.text for e in emails] == ["carol@example.org"]
    prop(carol, "CS:first-name", status=404)

    # by e-mail address; every principal whose address starts with the text
    assert list(found_principals(server, APPLE_PEOPLE_SEARCH.replace("TEXT", "ERIN@"))) == [
        "/erin/"
    ]
    # RFC 3744's default: all conditions (allof), caseless substring match
    both = (
        '<D:principal-property-search xmlns:D="DAV:" '
        'xmlns:CS="http://calendarserver.org/ns/">'
        "<D:property-search><D:prop><D:displayname/></D:prop><D:match>AV</D:match>"
        "</D:property-search><D:property-search><D:prop><CS:email-address-set/></D:prop>"
        "<D:match>example.org</D:match></D:property-search>"
        "<D:prop><D:displayname/></D:prop></D:principal-property-search>"
    )
    assert list(found_principals(server, both)) == ["/dave/"]
    assert list(found_principals(server, both.replace("example.org", "example.com"))) == []
    # an empty match lists nobody
    assert found_principals(server, APPLE_PEOPLE_SEARCH.replace("TEXT", "")) == {}
    # disabled accounts are not found
    cli(server, "user", "disable", "erin")
    try:
        assert found_principals(server, APPLE_PEOPLE_SEARCH.replace("TEXT", "erin")) == {}
    finally:
        cli(server, "user", "enable", "erin")


def test_principal_search_property_set_names_what_can_be_searched(server: LiveServer) -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<A:principal-search-property-set xmlns:A="DAV:"/>'
    )
    reply = send(server, "REPORT", "/", body, XML, user="bob")
    assert reply.status == 200, reply.text
    names = [
        child.tag for child in reply.xml().iterfind("D:principal-search-property/D:prop/*", NS)
    ]
    assert names == [
        "{DAV:}displayname",
        "{http://calendarserver.org/ns/}email-address-set",
        "{urn:ietf:params:xml:ns:caldav}calendar-user-address-set",
    ]
    assert send(server, "REPORT", "/", body, XML, user=None).status == 401


# --- read-only, and following the grants ------------------------------------------------------


def test_delegation_is_read_only(server: LiveServer) -> None:
    set_members = (
        '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:group-member-set>'
        "<D:href>/carol/</D:href></D:group-member-set></D:prop></D:set></D:propertyupdate>"
    )
    reply = send(server, "PROPPATCH", "/alice/calendar-proxy-write/", set_members, XML)
    assert reply.status == 403
    assert "cannot-modify-protected-property" in reply.text
    set_for = (
        '<D:propertyupdate xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:set>'
        "<D:prop><CS:calendar-proxy-write-for><D:href>/carol/</D:href>"
        "</CS:calendar-proxy-write-for></D:prop></D:set></D:propertyupdate>"
    )
    assert send(server, "PROPPATCH", "/bob/", set_for, XML, user="bob").status == 403
    assert send(server, "MKCALENDAR", "/alice/calendar-proxy-read/", b"", {}).status == 403

    body = propfind_body("D:group-member-set")
    href = "/alice/calendar-proxy-write/"
    group = only_response(multistatus(server, "PROPFIND", href, body, "alice"), href)
    assert hrefs(prop(group, "D:group-member-set")) == ["/bob/"]
    bob = only_response(
        multistatus(server, "PROPFIND", "/bob/", APPLE_PRINCIPAL_PROPFIND, "bob"), "/bob/"
    )
    assert hrefs(prop(bob, "CS:calendar-proxy-write-for")) == ["/alice/"]


def test_proxies_follow_grants_on_the_next_request(server: LiveServer) -> None:
    body = propfind_body("CS:calendar-proxy-read-for", "CS:calendar-proxy-write-for")

    def acts_for(user: str) -> tuple[list[str], list[str]]:
        response = only_response(
            multistatus(server, "PROPFIND", f"/{user}/", body, user), f"/{user}/"
        )
        return (
            hrefs(prop(response, "CS:calendar-proxy-read-for")),
            hrefs(prop(response, "CS:calendar-proxy-write-for")),
        )

    assert acts_for("erin") == (["/alice/"], [])
    cli(server, "share", "alice/home", "--with", "erin", "--level", "write")
    try:
        # the higher level wins: erin is now a write proxy only
        assert acts_for("erin") == ([], ["/alice/"])
    finally:
        cli(server, "unshare", "alice/home", "--with", "erin")
    assert acts_for("erin") == (["/alice/"], [])
    cli(server, "group", "remove-member", "team", "erin")
    try:
        assert acts_for("erin") == ([], [])
    finally:
        cli(server, "group", "add-member", "team", "erin")
