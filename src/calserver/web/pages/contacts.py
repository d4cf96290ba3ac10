"""The contacts page (``/.web/contacts``, issue 21 item 5): the address books the user
may read (own, shared with them, their groups'; calserver.contacts.listing) with the
contacts of one, a search over all of them, a form to add and edit a contact, delete,
import a ``.vcf`` file (calserver.contacts.books, the service of ``calserver import``)
and export one; create and delete an own address book (calserver.addressbooks).

Every change of a contact is a CardDAV request made as the signed-in user
(calserver.web.dav): PUT with ``If-None-Match: *`` for a new card, ``If-Match`` for an
edit and DELETE (RFC 6352 6.3.2, RFC 9110 13.1), so UID, FN, size and rights are
CardDAV's own; a stale edit is a 412 that shows the form again with the input kept.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

from calserver import addressbooks
from calserver.contacts import books as vcf
from calserver.contacts import card, listing
from calserver.contacts.card import ContactFields
from calserver.errors import CalserverError, Forbidden, InvalidInput, NotFound
from calserver.web import dav
from calserver.web.http import Response, WebRequest, download, redirect
from calserver.web.pages.manage_support import reason
from calserver.web.render import page
from calserver.web.routes import route

#: The success notices of this page, by key (never text from the URL).
NOTICES = {
    "added": "The contact was added.",
    "saved": "The contact was saved.",
    "deleted": "The contact was deleted.",
    "book-created": "The address book was created.",
    "book-deleted": "The address book was deleted.",
}
EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]+$")
PHONE = re.compile(r"^[+0-9 ()./#*,;pwxPWX-]+$")
HREF = re.compile(r"^[A-Za-z0-9@._~+-]{1,255}$")
MAX_TEXT = 1000
MAX_NOTE = 10000


def _lines(value: str) -> list[str]:
    """The non-empty lines (or comma-separated parts for e-mails) of a text area."""
    return [line.strip() for line in value.splitlines() if line.strip()]


def _book(request: WebRequest, path: str, write: bool = False) -> listing.Book:
    """The book at ``path``: 404 when the user may not read it, 403 when ``write`` and
    they may only read it."""
    found = listing.book(request.services.storage, request.user, path)
    if write and not found.writable:
        raise Forbidden("you may read this address book but not change it")
    return found


def _contacts_page(request: WebRequest, status: int = 200, **values: object) -> Response:
    storage = request.services.storage
    readable = listing.books(storage, request.user)
    chosen_path = request.arg("book") or str(values.pop("chosen_path", "") or "")
    chosen = next((b for b in readable if b.path == chosen_path), None)
    if chosen_path and chosen is None:
        raise NotFound("there is no such address book")
    if chosen is None and readable:
        chosen = readable[0]
    q = " ".join(request.arg("q").split())[:200]
    if q:
        shown = listing.contacts(storage, [b.path for b in readable], q)
    else:
        shown = listing.contacts(storage, [chosen.path]) if chosen else []
    values.setdefault("create", {"name": ""})
    values.setdefault("summary", None)
    return page(
        request,
        "contacts.html",
        status,
        books=readable,
        by_path={b.path: b for b in readable},
        chosen=chosen,
        q=q,
        contacts=shown,
        notice=values.pop("notice", NOTICES.get(request.arg("done"), "")),
        **values,
    )


@route("GET", "/contacts")
def contacts_page(request: WebRequest) -> Response:
    return _contacts_page(request)


def _form_page(
    request: WebRequest,
    book: listing.Book,
    fields: ContactFields,
    href: str = "",
    etag: str = "",
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    return page(
        request,
        "contact_form.html",
        status,
        book=book,
        form=fields,
        href=href,
        etag=etag,
        errors=errors or {},
    )


@route("GET", "/contact/new")
def new_contact(request: WebRequest) -> Response:
    book = _book(request, request.arg("book"), write=True)
    return _form_page(request, book, ContactFields())


def _href(value: str) -> str:
    if not HREF.match(value) or value in (".", ".."):
        raise NotFound("there is no such contact")
    return value


def _get(request: WebRequest, book: listing.Book, href: str) -> tuple[str, str]:
    """(text, etag) of the card, read as the user through CardDAV."""
    answer = dav.call(request, "GET", f"/{book.path}/{href}")
    if answer.status == 404 or (answer.status == 403 and not book.writable):
        raise NotFound("there is no such contact")
    if not answer.ok:
        raise CalserverError("the contact could not be read", status=answer.status)
    return answer.text, answer.headers.get("etag", "")


@route("GET", "/contact/edit")
def edit_contact(request: WebRequest) -> Response:
    book = _book(request, request.arg("book"), write=True)
    href = _href(request.arg("href"))
    text, etag = _get(request, book, href)
    return _form_page(request, book, card.read(text), href, etag)


def _fields(request: WebRequest) -> tuple[ContactFields, dict[str, str]]:
    """The form's contact and the messages of its bad fields."""
    emails = [e for value in request.fields("emails") for e in _lines(value)]
    phones = [p for value in request.fields("phones") for p in _lines(value)]
    fields = ContactFields(
        name=request.field("name"),
        given=request.field("given"),
        family=request.field("family"),
        emails=emails,
        phones=phones,
        org=request.field("org"),
        note=request.field("note").replace("\r\n", "\n"),
    )
    errors: dict[str, str] = {}
    if not fields.name:
        errors["name"] = "Give the contact a name."
    for key in ("name", "given", "family", "org"):
        if len(getattr(fields, key)) > MAX_TEXT:
            errors[key] = f"At most {MAX_TEXT} characters."
    bad = [e for e in emails if not EMAIL.match(e) or len(e) > 254]
    if bad:
        errors["emails"] = f"Not an e-mail address: {bad[0]}"
    bad = [p for p in phones if not PHONE.match(p) or len(p) > 60]
    if bad:
        errors["phones"] = f"Not a phone number: {bad[0]} (digits, spaces, + ( ) - . /)"
    if len(fields.note) > MAX_NOTE:
        errors["note"] = f"At most {MAX_NOTE} characters."
    return fields, errors


def _refusal(answer: dav.DavAnswer) -> str:
    if answer.status == 412:
        return (
            "Someone changed or deleted this contact since you opened it. "
            "Open it again to see their version; your input is kept below."
        )
    if answer.status == 403:
        return "You may not change this address book."
    if answer.status == 413:
        return "The contact is too large."
    if "no-uid-conflict" in answer.text:
        return "The address book holds another contact with the same UID."
    return f"The address book refused the contact (HTTP {answer.status})."


@route("POST", "/contact/save")
def save_contact(request: WebRequest) -> Response:
    book = _book(request, request.field("book"), write=True)
    href = request.field("href")
    etag = request.field("etag")
    fields, errors = _fields(request)
    if href:
        href = _href(href)
    if errors:
        return _form_page(request, book, fields, href, etag, 400, errors)
    if href:
        current, _ = _get(request, book, href)
        text = card.change(current, fields)
        headers = {"If-Match": etag or '"none"'}
    else:
        href = f"{uuid.uuid4()}.vcf"
        text = card.new(fields)
        headers = {"If-None-Match": "*"}
    headers["Content-Type"] = "text/vcard; charset=utf-8"
    answer = dav.call(request, "PUT", f"/{book.path}/{href}", text.encode("utf-8"), headers)
    if not answer.ok:
        status = answer.status if 400 <= answer.status < 500 else 409
        shown_href = request.field("href")
        return _form_page(request, book, fields, shown_href, etag, status, {"": _refusal(answer)})
    key = "saved" if request.field("href") else "added"
    return redirect(request.url("/contacts", book=book.path, done=key))


@route("POST", "/contact/delete")
def delete_contact(request: WebRequest) -> Response:
    book = _book(request, request.field("book"), write=True)
    href = _href(request.field("href"))
    etag = request.field("etag")
    # always conditional (RFC 9110 13.1.1): a form without the etag it was shown with
    # deletes nothing
    headers = {"If-Match": etag or '"none"'}
    answer = dav.call(request, "DELETE", f"/{book.path}/{href}", b"", headers)
    if answer.status == 404:
        raise NotFound("there is no such contact")
    if not answer.ok:
        raise CalserverError(_refusal(answer), status=answer.status)
    return redirect(request.url("/contacts", book=book.path, done="deleted"))


def _slug(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60] or "contacts"


@route("POST", "/contacts/create")
def create_book(request: WebRequest) -> Response:
    name = request.field("name")
    form = {"name": name}
    if not name or len(name) > 200:
        message = "Give the address book a name." if not name else "At most 200 characters."
        return _contacts_page(request, 400, create=form, errors={"book-name": message})
    storage = request.services.storage
    slug = base = _slug(name)
    count = 1
    while storage.load_collection(f"{request.user}/{slug}") is not None:
        count += 1
        slug = f"{base}-{count}"
    try:
        addressbooks.create(storage, f"{request.user}/{slug}", name)
    except CalserverError as exc:
        return _contacts_page(request, exc.status, create=form, errors={"book-name": reason(exc)})
    return redirect(request.url("/contacts", book=f"{request.user}/{slug}", done="book-created"))


def _own(request: WebRequest, path: str) -> listing.Book:
    book = _book(request, path)
    if not book.own:
        raise Forbidden("only the owner may delete an address book")
    return book


@route("GET", "/contacts/delete")
def delete_book_page(request: WebRequest) -> Response:
    book = _own(request, request.arg("book"))
    count = len(listing.contacts(request.services.storage, [book.path]))
    return page(request, "contacts_delete.html", book=book, count=count)


@route("POST", "/contacts/delete")
def delete_book(request: WebRequest) -> Response:
    book = _own(request, request.field("book"))
    addressbooks.delete(request.services.storage, book.path)
    return redirect(request.url("/contacts", done="book-deleted"))


@route("GET", "/contacts/export")
def export_book(request: WebRequest) -> Response:
    book = _book(request, request.arg("book"))
    text = vcf.export(request.services.storage, book.path)
    return download(text.encode("utf-8"), "text/vcard; charset=utf-8", f"{book.name}.vcf")


@route("POST", "/contacts/import")
def import_book(request: WebRequest) -> Response:
    book = _book(request, request.field("book"), write=True)
    upload = request.files.get("file")
    if upload is None or not upload.data:
        return _contacts_page(
            request, 400, chosen_path=book.path, errors={"file": "Choose a .vcf file."}
        )
    try:
        text = upload.data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _contacts_page(
            request, 400, chosen_path=book.path, errors={"file": "The file is not UTF-8 text."}
        )
    max_bytes = int(request.services.configuration.get("server", "max_content_length") or 0)
    try:
        result = vcf.import_vcf(
            request.services.storage,
            book.path,
            text,
            user=request.user,
            max_bytes=max_bytes,
            skip_invalid=True,
        )
    except InvalidInput as exc:
        return _contacts_page(request, 400, chosen_path=book.path, errors={"file": reason(exc)})
    return _contacts_page(request, 200, chosen_path=book.path, summary=result)
