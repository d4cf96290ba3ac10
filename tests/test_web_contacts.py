"""The web app's contacts page (issue 21 item 5): the address books a user may read,
their contacts and the search over them, the contact form writing through CardDAV
(``If-None-Match: *`` / ``If-Match``), edits that keep the vCard's other properties,
a stale edit (412), the rights of a reader and an outsider, bad input, ``.vcf`` import
and export, address books created and deleted. In process over the WSGI client, on
SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from calserver import addressbooks
from calserver.sharing import manage
from tests.conftest import WSGIClient
from tests.test_web_core import get, session_of
from tests.test_web_manage import engine_of, post, post_file, storage_of

pytestmark = pytest.mark.storage

BOOK = "alice/contacts"
ANNA = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:anna\r\nFN:Anna Berg\r\nN:Berg;Anna;Maria;Dr.;\r\n"
    "item1.EMAIL;TYPE=INTERNET:anna@example.com\r\nitem1.X-ABLabel:private\r\n"
    "TEL;TYPE=CELL:+46 70 123\r\nORG:Acme;Sales\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAA\r\nX-SOCIALPROFILE:https://x.example/anna\r\n"
    "END:VCARD\r\n"
)
ZED = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:zed\r\nFN:Zed Nord\r\nEMAIL:zed@example.net\r\nEND:VCARD\r\n"
)


def put_card(client: WSGIClient, book: str, href: str, text: str, user: str = "alice") -> None:
    answer = client.request(
        "PUT", f"/{book}/{href}", text, {"Content-Type": "text/vcard"}, user=user
    )
    assert answer.status == 201, answer.text


def card_text(client: WSGIClient, book: str, href: str, user: str = "alice") -> str:
    answer = client.request("GET", f"/{book}/{href}", user=user)
    assert answer.status == 200, answer.text
    return answer.text.replace("\r\n ", "")


@pytest.fixture
def book(client: WSGIClient) -> str:
    addressbooks.create(storage_of(client), BOOK, "Contacts")
    put_card(client, BOOK, "zed.vcf", ZED)
    put_card(client, BOOK, "anna.vcf", ANNA)
    return BOOK


def text_of(answer: object) -> str:
    return html.unescape(answer.text)  # type: ignore[attr-defined]


def location(answer: object) -> str:
    assert answer.status == 303, answer.text  # type: ignore[attr-defined]
    return answer.headers["location"]  # type: ignore[attr-defined]


def form_value(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return html.unescape(found.group(1))


def test_the_list_shows_the_books_contacts_sorted_by_name(client: WSGIClient, book: str) -> None:
    session = session_of(client)
    answer = get(client, "/.web/contacts", session)
    assert answer.status == 200
    page = text_of(answer)
    assert 'href="/.web/contacts" aria-current="page">Contacts' in page
    assert page.index("Anna Berg") < page.index("Zed Nord")
    for shown in ("anna@example.com", "+46 70 123", "Acme Sales", "zed@example.net"):
        assert shown in page
    assert "/.web/contact/edit?book=alice%2Fcontacts&amp;href=anna.vcf" in answer.text


def test_search_filters_within_the_books_the_user_may_read(client: WSGIClient, book: str) -> None:
    addressbooks.create(storage_of(client), "bob/contacts", "Bob's")
    put_card(
        client,
        "bob/contacts",
        "secret.vcf",
        ZED.replace("Zed Nord", "Zed Secret").replace("UID:zed", "UID:secret"),
        user="bob",
    )
    session = session_of(client)
    page = text_of(get(client, "/.web/contacts?q=ZED", session))
    assert "Zed Nord" in page and "Anna Berg" not in page and "Zed Secret" not in page
    page = text_of(get(client, "/.web/contacts?q=acme", session))
    assert "Anna Berg" in page and "Zed Nord" not in page
    assert "No contact matches" in text_of(get(client, "/.web/contacts?q=nobody", session))


def test_add_a_contact_through_the_form(client: WSGIClient, book: str) -> None:
    session = session_of(client)
    form = text_of(get(client, f"/.web/contact/new?book={BOOK}", session))
    assert 'name="name"' in form
    answer = post(
        client,
        "/.web/contact/save",
        session,
        {
            "book": BOOK,
            "href": "",
            "etag": "",
            "name": "Ola, Jr; Smith",
            "given": "Ola",
            "family": "Smith",
            "emails": "ola@example.org\nola.work@example.org",
            "phones": "+47 22 33 44 55",
            "org": "Fjord AS",
            "note": "line one\nline two",
        },
    )
    assert "done=added" in location(answer)
    page = text_of(get(client, "/.web/contacts", session))
    assert "Ola, Jr; Smith" in page and "ola.work@example.org" in page
    href = re.search(r"href=([0-9a-f-]+\.vcf)", page.split("Ola, Jr")[1]).group(1)
    stored = card_text(client, BOOK, href)
    assert "VERSION:3.0" in stored and re.search(r"\r\nUID:[0-9a-f-]{36}\r\n", stored)
    assert "FN:Ola\\, Jr\\; Smith" in stored and "N:Smith;Ola;;;" in stored
    assert "NOTE:line one\\nline two" in stored and "ORG:Fjord AS" in stored


def test_an_edit_keeps_every_property_the_form_does_not_know(client: WSGIClient, book: str) -> None:
    session = session_of(client)
    form = get(client, f"/.web/contact/edit?book={BOOK}&href=anna.vcf", session)
    assert form.status == 200
    page = form.text
    etag = form_value(page, "etag")
    assert etag and "anna@example.com" in page and "+46 70 123" in page
    answer = post(
        client,
        "/.web/contact/save",
        session,
        {
            "book": BOOK,
            "href": "anna.vcf",
            "etag": etag,
            "name": "Anna Berg-Lund",
            "given": "Anna",
            "family": "Berg-Lund",
            "emails": "anna@example.com\nal@example.com",
            "phones": "",
            "org": "Acme Sales",
            "note": "",
        },
    )
    assert "done=saved" in location(answer)
    stored = card_text(client, BOOK, "anna.vcf")
    assert "FN:Anna Berg-Lund" in stored and "Anna Berg\r\n" not in stored
    assert "N:Berg-Lund;Anna;Maria;Dr.;" in stored  # the other parts of N kept
    assert "item1.EMAIL;TYPE=INTERNET:anna@example.com" in stored
    assert "item1.X-ABLabel:private" in stored
    assert "EMAIL;TYPE=INTERNET:al@example.com" in stored
    assert "TEL" not in stored  # the phone was taken out
    assert "ORG:Acme;Sales" in stored  # unchanged: its line kept
    assert "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAA" in stored
    assert "X-SOCIALPROFILE:https://x.example/anna" in stored and "UID:anna" in stored


def test_a_stale_edit_is_a_412_that_keeps_the_input(client: WSGIClient, book: str) -> None:
    session = session_of(client)
    etag = form_value(
        get(client, f"/.web/contact/edit?book={BOOK}&href=zed.vcf", session).text, "etag"
    )
    put_card_again = client.request(
        "PUT",
        f"/{BOOK}/zed.vcf",
        ZED.replace("Zed Nord", "Zed Changed"),
        {"Content-Type": "text/vcard"},
        user="alice",
    )
    assert put_card_again.status == 204
    answer = post(
        client,
        "/.web/contact/save",
        session,
        {
            "book": BOOK,
            "href": "zed.vcf",
            "etag": etag,
            "name": "Zed Mine",
            "emails": "zed@example.net",
            "phones": "",
            "org": "",
            "note": "",
        },
    )
    assert answer.status == 412
    assert "Someone changed or deleted this contact" in text_of(answer)
    assert 'value="Zed Mine"' in answer.text
    assert "FN:Zed Changed" in card_text(client, BOOK, "zed.vcf")


def test_delete_a_contact_with_its_etag_and_a_stale_delete_is_refused(
    client: WSGIClient, book: str
) -> None:
    session = session_of(client)
    refused = post(
        client,
        "/.web/contact/delete",
        session,
        {"book": BOOK, "href": "zed.vcf", "etag": '"stale"'},
    )
    assert refused.status == 412
    etag = form_value(
        get(client, f"/.web/contact/edit?book={BOOK}&href=zed.vcf", session).text, "etag"
    )
    answer = post(
        client, "/.web/contact/delete", session, {"book": BOOK, "href": "zed.vcf", "etag": etag}
    )
    assert "done=deleted" in location(answer)
    assert client.request("GET", f"/{BOOK}/zed.vcf", user="alice").status == 404
    assert "Zed Nord" not in text_of(get(client, "/.web/contacts", session))


def test_a_reader_sees_but_cannot_edit_and_an_outsider_sees_nothing(
    client: WSGIClient, book: str
) -> None:
    bob = session_of(client, "bob")
    assert get(client, f"/.web/contacts?book={BOOK}", bob).status == 404
    assert get(client, f"/.web/contact/edit?book={BOOK}&href=anna.vcf", bob).status == 404
    assert get(client, f"/.web/contacts/export?book={BOOK}", bob).status == 404
    assert "Anna Berg" not in text_of(get(client, "/.web/contacts?q=anna", bob))
    answer = post(client, "/.web/contact/delete", bob, {"book": BOOK, "href": "anna.vcf"})
    assert answer.status == 404

    manage.share(engine_of(client), BOOK, "bob", "read", actor="alice")
    page = get(client, f"/.web/contacts?book={BOOK}", bob)
    assert page.status == 200 and "Anna Berg" in text_of(page)
    assert "/.web/contact/edit" not in page.text and "/.web/contact/new" not in page.text
    assert get(client, f"/.web/contact/new?book={BOOK}", bob).status == 403
    for path, fields in (
        ("/.web/contact/save", {"book": BOOK, "href": "anna.vcf", "name": "Hacked"}),
        ("/.web/contact/save", {"book": BOOK, "name": "New one"}),
        ("/.web/contact/delete", {"book": BOOK, "href": "anna.vcf"}),
        ("/.web/contacts/delete", {"book": BOOK}),
    ):
        assert post(client, path, bob, fields).status == 403, path
    assert "FN:Anna Berg\r\n" in card_text(client, BOOK, "anna.vcf")
    assert "Anna Berg" in text_of(get(client, "/.web/contacts?q=berg", bob))


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "", "emails": "a@example.org"}, "name", "Give the contact a name."),
        (
            {"name": "X", "emails": "not-an-address"},
            "emails",
            "Not an e-mail address: not-an-address",
        ),
        ({"name": "X", "phones": "call me"}, "phones", "Not a phone number: call me"),
    ],
)
def test_bad_input_is_a_400_with_the_message_next_to_the_field(
    client: WSGIClient, book: str, fields: dict[str, str], field: str, message: str
) -> None:
    session = session_of(client)
    answer = post(client, "/.web/contact/save", session, {"book": BOOK, **fields})
    assert answer.status == 400
    assert f'id="{field}-error">{html.escape(message, quote=False)}' in answer.text.replace(
        "&#39;", "'"
    )
    assert 'aria-invalid="true"' in answer.text
    for value in fields.values():
        assert html.escape(value) in answer.text
    assert len(text_of(get(client, "/.web/contacts", session)).split("<tr>")) == 4  # 2 cards


def test_import_a_vcf_file_shows_what_was_added_replaced_and_refused(
    client: WSGIClient, book: str
) -> None:
    session = session_of(client)
    data = (
        ZED.replace("Zed Nord", "Zed Replaced")
        + "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:new1\r\nFN:Nina New\r\nEND:VCARD\r\n"
        + "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bad\r\nEND:VCARD\r\n"
    ).encode()
    answer = post_file(client, "/.web/contacts/import", session, {"book": BOOK}, "c.vcf", data)
    assert answer.status == 200, answer.text
    page = text_of(answer)
    assert "1 contact added, 1 replaced, 1 refused." in page
    assert "vCard 3" in page
    assert "Nina New" in page and "Zed Replaced" in page
    bob = session_of(client, "bob")
    refused = post_file(client, "/.web/contacts/import", bob, {"book": BOOK}, "c.vcf", data)
    assert refused.status == 404


def test_export_downloads_every_card(client: WSGIClient, book: str) -> None:
    session = session_of(client)
    answer = get(client, f"/.web/contacts/export?book={BOOK}", session)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/vcard")
    assert 'filename="Contacts.vcf"' in answer.headers["content-disposition"]
    assert answer.text.count("BEGIN:VCARD") == 2
    assert "UID:anna" in answer.text and "UID:zed" in answer.text


def test_create_and_delete_an_address_book_after_a_confirmation(client: WSGIClient) -> None:
    session = session_of(client)
    answer = post(client, "/.web/contacts/create", session, {"name": "Team Friends"})
    assert "done=book-created" in location(answer)
    assert parse_qs(urlsplit(location(answer)).query)["book"] == ["alice/team-friends"]
    assert "Team Friends" in text_of(get(client, "/.web/contacts", session))
    assert post(client, "/.web/contacts/create", session, {"name": ""}).status == 400
    confirm = get(client, "/.web/contacts/delete?book=alice/team-friends", session)
    assert confirm.status == 200 and "cannot be undone" in confirm.text
    answer = post(client, "/.web/contacts/delete", session, {"book": "alice/team-friends"})
    assert "done=book-deleted" in location(answer)
    assert storage_of(client).load_collection("alice/team-friends") is None


def test_a_post_without_the_csrf_token_is_refused(client: WSGIClient, book: str) -> None:
    session = session_of(client)
    for path, fields in (
        ("/.web/contact/save", {"book": BOOK, "name": "No token"}),
        ("/.web/contact/delete", {"book": BOOK, "href": "zed.vcf"}),
        ("/.web/contacts/create", {"name": "x"}),
        ("/.web/contacts/delete", {"book": BOOK}),
    ):
        assert post(client, path, session, fields, csrf=False).status == 403, path
    assert client.request("GET", f"/{BOOK}/zed.vcf", user="alice").status == 200


def test_a_writer_of_a_shared_book_edits_and_deletes_from_the_list(
    client: WSGIClient, book: str
) -> None:
    manage.share(engine_of(client), BOOK, "bob", "write", actor="alice")
    bob = session_of(client, "bob")
    page = get(client, "/.web/contacts", bob).text
    assert "/.web/contact/edit?book=alice%2Fcontacts&amp;href=anna.vcf" in page
    assert "Delete address book" not in page  # not bob's own
    assert get(client, f"/.web/contacts/delete?book={BOOK}", bob).status == 403
    etag = form_value(page.split('name="href" value="zed.vcf"')[1], "etag")  # the list's own etag
    answer = post(
        client, "/.web/contact/delete", bob, {"book": BOOK, "href": "zed.vcf", "etag": etag}
    )
    assert "done=deleted" in location(answer)
    answer = post(
        client,
        "/.web/contact/save",
        bob,
        {"book": BOOK, "name": "Added by Bob", "emails": "b@example.org"},
    )
    assert "done=added" in location(answer)
    page = text_of(get(client, "/.web/contacts", session_of(client)))
    assert "Added by Bob" in page and "Zed Nord" not in page
