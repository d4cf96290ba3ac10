"""CardDAV (RFC 6352) on calserver's SQL storage (issue 21, part 1).

In-process WSGI requests on SQLite and PostgreSQL, with the bodies iOS (Contacts,
vCard 3.0) and DAVx5 (vCard 4.0) send: address books (tag VADDRESSBOOK) in the same
store as calendars, vCards stored with their UID rules and refused with the RFC 6352
6.3.2.1 precondition when they are not address object resources, discovery,
multiget, query with text-match, sync-collection, sharing and group address books.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from calserver.db.models import items
from tests.conftest import WSGIClient

pytestmark = pytest.mark.storage

NS = {"D": "DAV:", "CR": "urn:ietf:params:xml:ns:carddav", "CS": "http://calendarserver.org/ns/"}
VCF = {"Content-Type": "text/vcard; charset=utf-8"}

MKCOL_ADDRESSBOOK = """<?xml version="1.0" encoding="UTF-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>
    <D:displayname>Friends</D:displayname>
  </D:prop></D:set>
</D:mkcol>"""


def card3(uid: str, fn: str = "John Appleseed", extra: str = "") -> str:
    """A vCard 3.0 as iOS Contacts PUTs it."""
    given, _, family = fn.partition(" ")
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.1//EN\r\n"
        f"N:{family};{given};;;\r\nFN:{fn}\r\n"
        "EMAIL;type=INTERNET;type=HOME;type=pref:john@example.org\r\n"
        "TEL;type=CELL;type=VOICE;type=pref:+1 555 0100\r\n"
        f"{extra}UID:{uid}\r\nEND:VCARD\r\n"
    )


def card4(uid: str, fn: str = "Erika Mustermann", extra: str = "") -> str:
    """A vCard 4.0 as DAVx5 PUTs it (ez-vcard)."""
    given, _, family = fn.partition(" ")
    return (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nPRODID:ez-vcard 0.12.1\r\n"
        f"UID:{uid}\r\nFN:{fn}\r\nN:{family};{given};;;\r\n"
        "EMAIL;TYPE=work:erika@example.com\r\nTEL;TYPE=cell;VALUE=uri:tel:+49-170-0000\r\n"
        f"{extra}REV:20261201T120000Z\r\nEND:VCARD\r\n"
    )


def make_book(client: WSGIClient, path: str, user: str = "alice") -> None:
    answer = client.request("MKCOL", path, MKCOL_ADDRESSBOOK, user=user)
    assert answer.status == 201, answer.text


def stored_rows(client: WSGIClient) -> list[tuple[str, str]]:
    from calserver import db

    engine = db.engine_for(client.configuration)
    with engine.connect() as conn:
        return [(r.href, r.uid) for r in conn.execute(select(items.c.href, items.c.uid))]


def test_vcard_3_and_4_are_stored_in_an_address_book_and_read_back(client: WSGIClient) -> None:
    make_book(client, "/alice/friends/")
    for href, body in (("ios.vcf", card3("ios-1")), ("davx5.vcf", card4("davx5-1"))):
        put = client.request("PUT", f"/alice/friends/{href}", body, headers=VCF)
        assert put.status == 201, put.text
        etag = put.headers["etag"]
        got = client.request("GET", f"/alice/friends/{href}")
        assert got.status == 200
        assert got.headers["etag"] == etag
        assert got.text == body  # the client's own text, vCard 4.0 not rewritten as 3.0
        assert got.headers["content-type"].startswith("text/vcard")
    assert sorted(stored_rows(client)) == [("davx5.vcf", "davx5-1"), ("ios.vcf", "ios-1")]


def test_a_changed_vcard_replaces_the_old_one_and_changes_its_etag(client: WSGIClient) -> None:
    make_book(client, "/alice/friends/")
    first = client.request("PUT", "/alice/friends/a.vcf", card3("a"), headers=VCF)
    again = client.request(
        "PUT",
        "/alice/friends/a.vcf",
        card3("a", "Johnny Appleseed"),
        headers={**VCF, "If-Match": first.headers["etag"]},
    )
    assert again.status == 204, again.text
    assert again.headers["etag"] != first.headers["etag"]
    assert "FN:Johnny Appleseed" in client.request("GET", "/alice/friends/a.vcf").text
    gone = client.request("DELETE", "/alice/friends/a.vcf")
    assert gone.status == 200
    assert stored_rows(client) == []


def error_element(body: str) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == "{DAV:}error", body
    return root


@pytest.mark.parametrize(
    ("body", "status", "precondition"),
    [
        pytest.param(card3("x").replace("UID:x\r\n", ""), 400, "valid-address-data", id="no-uid"),
        pytest.param(
            card3("x").replace("FN:John Appleseed\r\n", ""), 400, "valid-address-data", id="no-fn"
        ),
        pytest.param(
            card3("x", extra="NOTE:a\\qb\r\n"), 400, "valid-address-data", id="bad-escape"
        ),
        pytest.param(card3("x") + card3("y"), 400, "valid-address-data", id="two-cards"),
        pytest.param(
            card3("x").replace("END:VCARD\r\n", ""), 400, "valid-address-data", id="no-end"
        ),
        pytest.param(
            card3("x").replace("VERSION:3.0", "VERSION:2.1"),
            403,
            "supported-address-data",
            id="vcard-2.1",
        ),
        pytest.param(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:e\r\n"
            "DTSTAMP:20261101T000000Z\r\nDTSTART:20261123T100000Z\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n",
            403,
            "supported-address-data",
            id="icalendar",
        ),
        pytest.param("hello", 400, "valid-address-data", id="garbage"),
    ],
)
def test_bad_address_data_is_refused_with_its_precondition_and_nothing_is_stored(
    client: WSGIClient, body: str, status: int, precondition: str
) -> None:
    make_book(client, "/alice/friends/")
    answer = client.request("PUT", "/alice/friends/bad.vcf", body, headers=VCF)
    assert answer.status == status, answer.text
    root = error_element(answer.text)
    assert root.find(f"CR:{precondition}", NS) is not None, answer.text
    assert stored_rows(client) == []


# --- UID, size, kind -------------------------------------------------------------------


def test_a_second_vcard_with_the_same_uid_is_a_conflict_naming_the_first(
    client: WSGIClient,
) -> None:
    make_book(client, "/alice/friends/")
    assert client.request("PUT", "/alice/friends/a.vcf", card3("same"), headers=VCF).status == 201
    answer = client.request("PUT", "/alice/friends/b.vcf", card4("same"), headers=VCF)
    assert answer.status == 409, answer.text
    conflict = error_element(answer.text).find("CR:no-uid-conflict", NS)
    assert conflict is not None, answer.text
    assert conflict.findtext("D:href", namespaces=NS) == "/alice/friends/a.vcf"
    assert stored_rows(client) == [("a.vcf", "same")]
    # the same UID in another address book is no conflict (RFC 6352 5.1: per collection)
    make_book(client, "/alice/work/")
    assert client.request("PUT", "/alice/work/b.vcf", card4("same"), headers=VCF).status == 201


def test_a_vcard_larger_than_max_resource_size_is_refused_with_the_limit(
    client: WSGIClient, configuration: object, tmp_path: object
) -> None:
    from calserver.app import make_app
    from tests.conftest import make_configuration

    small = make_configuration(
        configuration.get("storage", "database_url"),  # type: ignore[attr-defined]
        tmp_path,  # type: ignore[arg-type]
        server={"max_resource_size": "2000"},
    )
    limited = WSGIClient(make_app(small), small, default_user="alice")
    make_book(limited, "/alice/friends/")
    big = card3("big", extra="NOTE:" + "x" * 2500 + "\r\n")
    answer = limited.request("PUT", "/alice/friends/big.vcf", big, headers=VCF)
    assert answer.status == 403, answer.text
    assert error_element(answer.text).find("CR:max-resource-size", NS) is not None
    assert "2000" in answer.text
    assert stored_rows(limited) == []
    listing = limited.request(
        "PROPFIND",
        "/alice/friends/",
        '<propfind xmlns="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">'
        "<prop><CR:max-resource-size/></prop></propfind>",
        headers={"Depth": "0"},
    )
    assert "<CR:max-resource-size>2000</CR:max-resource-size>" in listing.text, listing.text


def test_a_vcard_put_into_a_calendar_is_refused_with_supported_calendar_data(
    client: WSGIClient,
) -> None:
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    answer = client.request("PUT", "/alice/cal/card.ics", card3("c"), headers=VCF)
    # RFC 4791 5.3.2.1 (a precondition: 403, as for every other media type)
    assert answer.status == 403, answer.text
    root = error_element(answer.text)
    assert root.find("{urn:ietf:params:xml:ns:caldav}supported-calendar-data") is not None
    assert stored_rows(client) == []


def test_vcards_stay_out_of_the_time_index_and_pass_the_integrity_check(
    client: WSGIClient,
) -> None:
    from calserver import db
    from calserver.check import check_storage
    from calserver.db.models import instances

    make_book(client, "/alice/friends/")
    client.request("PUT", "/alice/friends/a.vcf", card3("a"), headers=VCF)
    client.request("PUT", "/alice/friends/b.vcf", card4("b"), headers=VCF)
    engine = db.engine_for(client.configuration)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                items.c.component,
                items.c.start_ts,
                items.c.end_ts,
                items.c.indexed_until,
                items.c.klass,
                items.c.name,
            )
        ).all()
        assert conn.execute(select(instances)).all() == []
    assert {tuple(row) for row in rows} == {("", 0, 0, None, "PUBLIC", "VCARD")}
    assert check_storage(engine) == []


def test_a_vcard_3_class_private_does_not_hide_the_card_from_a_reader(
    client: WSGIClient,
) -> None:
    from calserver import db
    from calserver.sharing import manage

    make_book(client, "/alice/friends/")
    body = card3("p", extra="CLASS:PRIVATE\r\n")
    assert client.request("PUT", "/alice/friends/p.vcf", body, headers=VCF).status == 201
    manage.share(db.engine_for(client.configuration), "alice/friends", "bob", "read")
    got = client.request("GET", "/alice/friends/p.vcf", user="bob")
    assert got.status == 200 and got.text == body


# --- discovery and reports (iOS, DAVx5) ----------------------------------------------------


def multistatus(body: str) -> dict[str, ET.Element]:
    root = ET.fromstring(body)
    assert root.tag == "{DAV:}multistatus", body
    return {r.findtext("D:href", namespaces=NS) or "": r for r in root.findall("D:response", NS)}


def prop(response: ET.Element, name: str, status: str = "200") -> ET.Element | None:
    for propstat in response.findall("D:propstat", NS):
        if status in (propstat.findtext("D:status", namespaces=NS) or ""):
            found = propstat.find(f"D:prop/{name}", NS)
            if found is not None:
                return found
    return None


IOS_PRINCIPAL = """<?xml version="1.0" encoding="UTF-8"?>
<A:propfind xmlns:A="DAV:"><A:prop><A:current-user-principal/><A:principal-URL/>
<A:resourcetype/></A:prop></A:propfind>"""

IOS_HOME = """<?xml version="1.0" encoding="UTF-8"?>
<A:propfind xmlns:A="DAV:" xmlns:B="urn:ietf:params:xml:ns:carddav">
<A:prop><B:addressbook-home-set/><A:displayname/><A:principal-URL/>
<A:current-user-principal/></A:prop></A:propfind>"""

IOS_BOOKS = """<?xml version="1.0" encoding="UTF-8"?>
<A:propfind xmlns:A="DAV:" xmlns:B="urn:ietf:params:xml:ns:carddav"
 xmlns:C="http://calendarserver.org/ns/">
<A:prop><A:resourcetype/><A:displayname/><C:getctag/><A:sync-token/>
<A:current-user-privilege-set/><B:max-resource-size/><A:supported-report-set/></A:prop>
</A:propfind>"""

DAVX5_BOOK = """<?xml version="1.0" encoding="UTF-8"?>
<propfind xmlns="DAV:" xmlns:CARD="urn:ietf:params:xml:ns:carddav"
 xmlns:CS="http://calendarserver.org/ns/">
<prop><resourcetype/><CS:getctag/><getetag/><sync-token/><CARD:supported-address-data/>
<displayname/><CARD:addressbook-description/><current-user-privilege-set/></prop></propfind>"""


def test_ios_discovers_the_default_address_book_from_well_known_carddav(
    client: WSGIClient,
) -> None:
    moved = client.request("PROPFIND", "/.well-known/carddav", IOS_PRINCIPAL)
    assert moved.status == 301 and moved.headers["location"] == "/"
    root = multistatus(client.request("PROPFIND", "/", IOS_PRINCIPAL, headers={"Depth": "0"}).text)
    principal = prop(root["/"], "D:current-user-principal")
    assert principal is not None and principal.findtext("D:href", namespaces=NS) == "/alice/"
    home = multistatus(client.request("PROPFIND", "/alice/", IOS_HOME, headers={"Depth": "0"}).text)
    home_set = prop(home["/alice/"], "CR:addressbook-home-set")
    assert home_set is not None and home_set.findtext("D:href", namespaces=NS) == "/alice/"
    books = multistatus(
        client.request("PROPFIND", "/alice/", IOS_BOOKS, headers={"Depth": "1"}).text
    )
    contacts = books["/alice/contacts/"]
    resourcetype = prop(contacts, "D:resourcetype")
    assert resourcetype is not None and resourcetype.find("CR:addressbook", NS) is not None
    assert prop(contacts, "D:displayname").text == "Contacts"  # type: ignore[union-attr]
    assert prop(contacts, "CS:getctag") is not None
    size = prop(contacts, "CR:max-resource-size")
    assert size is not None and int(size.text or "0") > 0
    reports = prop(contacts, "D:supported-report-set")
    assert reports is not None
    assert reports.find(".//CR:addressbook-multiget", NS) is not None
    assert reports.find(".//CR:addressbook-query", NS) is not None
    assert reports.find(".//D:sync-collection", NS) is not None
    # made once: looking again, or deleting it and making another book, adds none
    again = multistatus(
        client.request("PROPFIND", "/alice/", IOS_BOOKS, headers={"Depth": "1"}).text
    )
    assert [h for h in again if h.endswith("/contacts/")] == ["/alice/contacts/"]


def test_davx5_depth_1_lists_ctag_etags_and_both_vcard_versions(client: WSGIClient) -> None:
    make_book(client, "/alice/friends/")
    etags = {}
    for href, body in (("a.vcf", card3("a")), ("b.vcf", card4("b"))):
        etags[f"/alice/friends/{href}"] = client.request(
            "PUT", f"/alice/friends/{href}", body, headers=VCF
        ).headers["etag"]
    answer = client.request("PROPFIND", "/alice/friends/", DAVX5_BOOK, headers={"Depth": "1"})
    assert answer.status == 207
    listing = multistatus(answer.text)
    book = listing.pop("/alice/friends/")
    data = prop(book, "CR:supported-address-data")
    assert data is not None
    versions = {t.get("version") for t in data.findall("CR:address-data-type", NS)}
    assert versions == {"3.0", "4.0"}
    ctag = prop(book, "CS:getctag")
    assert ctag is not None and ctag.text
    assert {href: prop(r, "D:getetag").text for href, r in listing.items()} == etags  # type: ignore[union-attr]
    # a change changes the ctag
    client.request("PUT", "/alice/friends/c.vcf", card3("c"), headers=VCF)
    after = multistatus(
        client.request("PROPFIND", "/alice/friends/", DAVX5_BOOK, headers={"Depth": "0"}).text
    )
    assert prop(after["/alice/friends/"], "CS:getctag").text != ctag.text  # type: ignore[union-attr]


MULTIGET = """<?xml version="1.0" encoding="UTF-8"?>
<CARD:addressbook-multiget xmlns="DAV:" xmlns:CARD="urn:ietf:params:xml:ns:carddav">
<prop><getetag/><CARD:address-data/></prop>
{hrefs}</CARD:addressbook-multiget>"""


def test_addressbook_multiget_returns_each_card_as_stored(client: WSGIClient) -> None:
    make_book(client, "/alice/friends/")
    bodies = {"/alice/friends/a.vcf": card3("a"), "/alice/friends/b.vcf": card4("b")}
    for href, body in bodies.items():
        client.request("PUT", href, body, headers=VCF)
    hrefs = "".join(f"<href>{h}</href>" for h in [*bodies, "/alice/friends/missing.vcf"])
    answer = client.request(
        "REPORT", "/alice/friends/", MULTIGET.format(hrefs=hrefs), headers={"Depth": "1"}
    )
    assert answer.status == 207, answer.text
    found = multistatus(answer.text)
    for href, body in bodies.items():
        data = prop(found[href], "CR:address-data")
        assert data is not None and data.text is not None
        assert data.text.replace("\r\n", "\n") == body.replace("\r\n", "\n")
    missing = found["/alice/friends/missing.vcf"]
    assert "404" in (missing.findtext("D:status", namespaces=NS) or "")


QUERY = """<?xml version="1.0" encoding="UTF-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
<D:prop><D:getetag/></D:prop>
<C:filter test="{test}">{filters}</C:filter></C:addressbook-query>"""


def text_filter(name: str, text: str, match: str = "contains", collation: str = "") -> str:
    attrs = f' match-type="{match}"' + (f' collation="{collation}"' if collation else "")
    return (
        f'<C:prop-filter name="{name}"><C:text-match{attrs}>{text}</C:text-match></C:prop-filter>'
    )


def query(client: WSGIClient, *filters: str, test: str = "anyof", user: str = "alice") -> set[str]:
    body = QUERY.format(test=test, filters="".join(filters))
    answer = client.request("REPORT", "/alice/friends/", body, headers={"Depth": "1"}, user=user)
    assert answer.status == 207, answer.text
    return {h.rpartition("/")[2] for h in multistatus(answer.text)}


def test_addressbook_query_text_match_on_the_properties_clients_search(
    client: WSGIClient,
) -> None:
    make_book(client, "/alice/friends/")
    cards = {
        "john.vcf": card3(
            "john", "John Appleseed", "NICKNAME:Johnny\r\nORG:Apple Inc.;Engineering\r\n"
        ),
        "erika.vcf": card4("erika", "Erika Mustermann", "NICKNAME:Eri\r\nORG:Beispiel GmbH\r\n"),
        "zoe.vcf": card4("zoe", "Zoë Ünal", "ORG:Café Zürich\r\n"),
    }
    for href, body in cards.items():
        assert client.request("PUT", f"/alice/friends/{href}", body, headers=VCF).status == 201
    assert query(client, text_filter("FN", "APPLE", collation="i;ascii-casemap")) == {"john.vcf"}
    assert query(client, text_filter("FN", "zoë ü", collation="i;unicode-casemap")) == {"zoe.vcf"}
    assert query(client, text_filter("N", "Mustermann")) == {"erika.vcf"}
    assert query(client, text_filter("EMAIL", "EXAMPLE.ORG", "ends-with")) == {"john.vcf"}
    assert query(client, text_filter("TEL", "555")) == {"john.vcf"}
    assert query(client, text_filter("NICKNAME", "johnny", "equals")) == {"john.vcf"}
    assert query(client, text_filter("ORG", "café", "starts-with")) == {"zoe.vcf"}
    assert query(client, text_filter("FN", "nobody")) == set()
    assert query(client, text_filter("FN", "john"), text_filter("FN", "erika"), test="anyof") == {
        "john.vcf",
        "erika.vcf",
    }
    assert query(client, text_filter("FN", "john"), text_filter("ORG", "apple"), test="allof") == {
        "john.vcf"
    }


SYNC = """<?xml version="1.0" encoding="UTF-8"?>
<sync-collection xmlns="DAV:"><sync-token>{token}</sync-token><sync-level>1</sync-level>
<prop><getetag/></prop></sync-collection>"""


def sync(client: WSGIClient, token: str = "") -> tuple[str, dict[str, str]]:
    answer = client.request("REPORT", "/alice/friends/", SYNC.format(token=token))
    assert answer.status == 207, answer.text
    root = ET.fromstring(answer.text)
    changed = {}
    for response in root.findall("D:response", NS):
        href = (response.findtext("D:href", namespaces=NS) or "").rpartition("/")[2]
        status = response.findtext("D:status", namespaces=NS) or ""
        changed[href] = "gone" if "404" in status else "changed"
    return root.findtext("D:sync-token", namespaces=NS) or "", changed


def test_sync_collection_initial_then_incremental_from_the_change_log(
    client: WSGIClient,
) -> None:
    make_book(client, "/alice/friends/")
    for name in ("a", "b", "c"):
        client.request("PUT", f"/alice/friends/{name}.vcf", card3(name), headers=VCF)
    token, first = sync(client)
    assert first == {"a.vcf": "changed", "b.vcf": "changed", "c.vcf": "changed"}
    client.request("PUT", "/alice/friends/b.vcf", card3("b", "Bea Changed"), headers=VCF)
    client.request("DELETE", "/alice/friends/c.vcf")
    client.request("PUT", "/alice/friends/d.vcf", card4("d"), headers=VCF)
    token2, second = sync(client, token)
    assert second == {"b.vcf": "changed", "c.vcf": "gone", "d.vcf": "changed"}
    assert token2 != token
    assert sync(client, token2)[1] == {}
    stale = client.request("REPORT", "/alice/friends/", SYNC.format(token=token + "x"))
    assert stale.status == 403 and "valid-sync-token" in stale.text


# --- sharing and groups --------------------------------------------------------------------


def test_an_address_book_is_shared_to_read_or_write_never_busy(client: WSGIClient) -> None:
    from calserver import db
    from calserver.errors import InvalidInput
    from calserver.sharing import manage

    engine = db.engine_for(client.configuration)
    make_book(client, "/alice/friends/")
    client.request("PUT", "/alice/friends/a.vcf", card3("a"), headers=VCF)
    with pytest.raises(InvalidInput, match="address book"):
        manage.share(engine, "alice/friends", "bob", "busy")
    api = client.request(
        "PUT",
        "/.api/v1/calendars/alice/friends/shares/bob",
        '{"level": "busy"}',
        headers={"Content-Type": "application/json"},
    )
    assert api.status == 400 and "address book" in api.text, api.text
    assert client.request("GET", "/alice/friends/a.vcf", user="bob").status in (403, 404)

    manage.share(engine, "alice/friends", "bob", "read")
    listing = multistatus(
        client.request("PROPFIND", "/bob/", IOS_BOOKS, headers={"Depth": "1"}, user="bob").text
    )
    alias = "/bob/alice~friends/"
    assert alias in listing
    assert prop(listing[alias], "D:resourcetype").find("CR:addressbook", NS) is not None  # type: ignore[union-attr]
    assert client.request("GET", f"{alias}a.vcf", user="bob").text == card3("a")
    assert query(client, text_filter("FN", "john"), user="bob") == {"a.vcf"}
    refused = client.request("PUT", f"{alias}b.vcf", card3("b"), headers=VCF, user="bob")
    assert refused.status == 403
    assert client.request("DELETE", f"{alias}a.vcf", user="bob").status == 403

    manage.share(engine, "alice/friends", "bob", "write")
    assert client.request("PUT", f"{alias}b.vcf", card3("b"), headers=VCF, user="bob").status == 201
    assert ("b.vcf", "b") in stored_rows(client)


def test_group_address_book_members_read_admins_write_outsiders_nothing(
    client: WSGIClient,
) -> None:
    from calserver import addressbooks, db
    from calserver.accounts import users
    from calserver.sharing import manage
    from calserver.storage import Storage
    from tests.conftest import PASSWORD

    engine = db.engine_for(client.configuration)
    for name in ("carol", "dave"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    manage.create_group(engine, "team", admin="alice")
    manage.add_member(engine, "team", "bob")  # the administrator (CLI): accepted
    manage.add_member(engine, "team", "dave", actor="alice")  # invited, not accepted
    addressbooks.create(Storage(client.configuration), "@team/people", "Team")
    book = "/@team/people/"
    assert client.request("PUT", f"{book}a.vcf", card3("a"), headers=VCF).status == 201
    # bob (member) reads, through the group's URL and through his home
    assert client.request("GET", f"{book}a.vcf", user="bob").text == card3("a")
    home = multistatus(
        client.request("PROPFIND", "/bob/", IOS_BOOKS, headers={"Depth": "1"}, user="bob").text
    )
    assert "/bob/%40team~people/" in home
    assert client.request("GET", "/bob/@team~people/a.vcf", user="bob").status == 200
    assert client.request("PUT", f"{book}b.vcf", card3("b"), headers=VCF, user="bob").status == 403
    # carol (outsider) and dave (invitation pending) see nothing
    for outsider in ("carol", "dave"):
        assert client.request("GET", f"{book}a.vcf", user=outsider).status in (403, 404)
        put = client.request("PUT", f"{book}c.vcf", card3("c"), headers=VCF, user=outsider)
        assert put.status in (403, 404)
        books = client.request(
            "PROPFIND", f"/{outsider}/", IOS_BOOKS, headers={"Depth": "1"}, user=outsider
        ).text
        assert "people" not in books
    assert sorted(stored_rows(client)) == [("a.vcf", "a")]


def test_addressbook_query_with_an_unknown_collation_is_refused(client: WSGIClient) -> None:
    make_book(client, "/alice/friends/")
    body = QUERY.format(test="anyof", filters=text_filter("FN", "john", collation="i;klingon"))
    answer = client.request("REPORT", "/alice/friends/", body, headers={"Depth": "1"})
    assert answer.status == 403, answer.text
    assert error_element(answer.text).find("CR:supported-collation", NS) is not None


def test_a_vcard_radicale_cannot_parse_is_refused_as_invalid_address_data(
    client: WSGIClient,
) -> None:
    make_book(client, "/alice/friends/")
    body = card3("photo", extra="PHOTO;ENCODING=b;TYPE=JPEG:!!!not base64\r\n")
    answer = client.request("PUT", "/alice/friends/photo.vcf", body, headers=VCF)
    assert answer.status == 400, answer.text
    assert error_element(answer.text).find("CR:valid-address-data", NS) is not None
    assert stored_rows(client) == []


def test_a_whole_vcf_file_put_as_a_new_address_book_names_its_cards_vcf(
    client: WSGIClient,
) -> None:
    body = card3("w1") + card4("w2")
    answer = client.request("PUT", "/alice/imported/", body, headers=VCF)
    assert answer.status == 201, answer.text
    assert sorted(stored_rows(client)) == [("w1.vcf", "w1"), ("w2.vcf", "w2")]
    assert client.request("GET", "/alice/imported/w2.vcf").text.startswith("BEGIN:VCARD")


def cli_main(client: WSGIClient, *args: str) -> tuple[int, str, str]:
    """``calserver ARGS`` in this process on the client's database: (exit code, out, err)."""
    import contextlib
    import io

    from calserver import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(
            [
                "--storage-database-url",
                client.configuration.get("storage", "database_url"),
                "--storage-data-folder",
                client.configuration.get("storage", "data_folder"),
                *args,
            ]
        )
    return code, out.getvalue(), err.getvalue()


def test_the_cli_makes_group_address_books_and_refuses_a_busy_share(client: WSGIClient) -> None:
    from calserver import db
    from calserver.sharing import manage

    manage.create_group(db.engine_for(client.configuration), "team", admin="alice")
    code, out, err = cli_main(client, "addressbook", "create", "@team/people", "--name", "People")
    assert code == 0, err
    assert "@team/people" in out
    code, out, _ = cli_main(client, "addressbook", "list", "@team")
    assert code == 0 and "@team/people\tPeople\t0 vCards" in out
    assert client.request("PUT", "/@team/people/a.vcf", card3("a"), headers=VCF).status == 201
    code, _, err = cli_main(client, "share", "@team/people", "--with", "bob", "--level", "busy")
    assert code == 1
    assert "address book" in err and "read or write" in err
    code, out, err = cli_main(client, "share", "@team/people", "--with", "bob", "--level", "read")
    assert code == 0, err
    assert client.request("GET", "/@team/people/a.vcf", user="bob").status == 200
    code, _, err = cli_main(client, "addressbook", "create", "@nogroup/people")
    assert code == 1 and "nogroup" in err
    code, _, _ = cli_main(client, "addressbook", "delete", "@team/people")
    assert code == 0
    assert client.request("GET", "/@team/people/a.vcf", user="bob").status in (403, 404)


def test_a_reader_syncs_a_shared_address_book_through_their_alias(client: WSGIClient) -> None:
    from calserver import db
    from calserver.sharing import manage

    make_book(client, "/alice/friends/")
    client.request("PUT", "/alice/friends/a.vcf", card3("a"), headers=VCF)
    manage.share(db.engine_for(client.configuration), "alice/friends", "bob", "read")
    alias = "/bob/alice~friends/"

    def bob_sync(token: str = "") -> tuple[str, set[str]]:
        answer = client.request("REPORT", alias, SYNC.format(token=token), user="bob")
        assert answer.status == 207, answer.text
        root = ET.fromstring(answer.text)
        hrefs = {
            (r.findtext("D:href", namespaces=NS) or "") for r in root.findall("D:response", NS)
        }
        return root.findtext("D:sync-token", namespaces=NS) or "", hrefs

    token, first = bob_sync()
    assert first == {f"{alias}a.vcf"}
    client.request("PUT", "/alice/friends/b.vcf", card4("b"), headers=VCF)
    assert bob_sync(token)[1] == {f"{alias}b.vcf"}


def test_move_takes_a_vcard_between_address_books_never_into_a_calendar(
    client: WSGIClient,
) -> None:
    from tests.conftest import event_ics

    make_book(client, "/alice/friends/")
    make_book(client, "/alice/work/")
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    client.request("PUT", "/alice/friends/a.vcf", card3("a"), headers=VCF)
    client.request("PUT", "/alice/cal/e.ics", event_ics("e"))
    origin = "http://127.0.0.1:5232"
    into_calendar = client.request(
        "MOVE", "/alice/friends/a.vcf", headers={"Destination": origin + "/alice/cal/a.vcf"}
    )
    assert into_calendar.status == 403
    into_book = client.request(
        "MOVE", "/alice/cal/e.ics", headers={"Destination": origin + "/alice/friends/e.ics"}
    )
    assert into_book.status in (400, 403)
    moved = client.request(
        "MOVE", "/alice/friends/a.vcf", headers={"Destination": origin + "/alice/work/a.vcf"}
    )
    assert moved.status == 201
    assert client.request("GET", "/alice/work/a.vcf").text == card3("a")
    assert sorted(stored_rows(client)) == [("a.vcf", "a"), ("e.ics", "e")]
