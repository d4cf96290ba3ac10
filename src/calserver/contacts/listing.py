"""The address books a user may read and their contacts, as the web app lists them:
each book with its name and the user's level on it (``calserver.sharing.levels``:
owner, write, read; RFC 6352 books are read or written whole), and its vCards read
into the fields a list shows (``calserver.contacts.card``). A book the user may not
read is not there at all (:class:`NotFound`, its name stays secret).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from calserver.contacts import card
from calserver.contacts.people import readable_books
from calserver.db.models import collections, items
from calserver.errors import NotFound
from calserver.sharing.levels import level_for
from calserver.sharing.visibility import Level
from calserver.storage import Storage
from calserver.storage.context import read_connection


@dataclass(frozen=True)
class Book:
    path: str
    name: str
    level: Level

    @property
    def own(self) -> bool:
        return self.level == Level.OWNER

    @property
    def writable(self) -> bool:
        return self.level >= Level.WRITE


@dataclass(frozen=True)
class Contact:
    book: str
    href: str
    etag: str
    fields: card.ContactFields

    @property
    def sort_key(self) -> tuple[str, str]:
        return (self.fields.name.casefold(), self.href)

    def matches(self, needle: str) -> bool:
        f = self.fields
        texts = (f.name, f.given, f.family, f.org, *f.emails, *f.phones)
        return any(needle in text.casefold() for text in texts)


def books(storage: Storage, user: str) -> list[Book]:
    """The address books ``user`` may read: their own first, then by path."""
    with read_connection(storage.engine) as conn:
        found = readable_books(conn, user)
        ids = [book_id for book_id, _ in found]
        names = {
            row.path: json.loads(row.props or "{}").get("D:displayname", "")
            for row in conn.execute(
                select(collections.c.path, collections.c.props).where(collections.c.id.in_(ids))
            )
        }
        listed = [
            Book(path, names.get(path) or path.rpartition("/")[2], level_for(conn, user, path))
            for _, path in found
        ]
    listed = [book for book in listed if book.level >= Level.READ]
    listed.sort(key=lambda b: (not b.own, b.path))
    return listed


def book(storage: Storage, user: str, path: str) -> Book:
    """The address book at ``path`` as ``user`` sees it; NotFound unless they may read it."""
    for found in books(storage, user):
        if found.path == path.strip("/"):
            return found
    raise NotFound("there is no such address book")


def contacts(storage: Storage, paths: list[str], needle: str = "") -> list[Contact]:
    """The contacts of the books at ``paths`` (ones the caller checked), sorted by name;
    only those matching ``needle`` (case-insensitive, anywhere) when one is given."""
    needle = needle.casefold().strip()
    found: list[Contact] = []
    with read_connection(storage.engine) as conn:
        rows = conn.execute(
            select(collections.c.path, items.c.href, items.c.etag, items.c.text)
            .join(collections, collections.c.id == items.c.collection_id)
            .where(collections.c.path.in_(paths))
        ).all()
    for row in rows:
        contact = Contact(row.path, row.href, row.etag or "", card.read(row.text))
        if not needle or contact.matches(needle):
            found.append(contact)
    found.sort(key=lambda c: c.sort_key)
    return found
