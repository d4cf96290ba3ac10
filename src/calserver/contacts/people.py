"""The people directory for pickers: who a user may pick by name or e-mail address.

Three sources, each only what the user may see already:

- **contacts**: the vCards (RFC 6350) of the address books the user may read (RFC 6352
  ``DAV:read``): their own, the group address books (``@GROUP/BOOK``) of the groups
  they have accepted to be in, and the books granted to them or to such a group at
  ``read`` or ``write``. A book of anyone else is never searched;
- **group members**: the accepted members of the groups the user has accepted to be in
  (``calserver.sharing.membership``: a pending invitation reveals nobody);
- **accounts**: every enabled account, as the meeting attendee search lists them
  (RFC 3744 9.4 ``principal-property-search``, ``calserver.dav.delegation``).

A query (at least :data:`MIN_QUERY` characters) matches case-insensitively anywhere in
a name, a nickname, an organisation, an e-mail address or, for accounts, the user
name. People are deduplicated by e-mail address (case-insensitive): a group member
before an account before a contact, the later entry's other addresses joining the
kept one. At most ``limit`` entries are returned, the best-placed matches first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection, Engine, String, literal, or_, select

from calserver.accounts import directory
from calserver.contacts import vcard
from calserver.db import read_transaction
from calserver.db.models import collections, grants, groups, items
from calserver.db.models import users as users_table
from calserver.errors import InvalidInput
from calserver.sharing.membership import accepted_members, groups_of
from calserver.sharing.visibility import GRANT_LEVELS, Level

MIN_QUERY = 2
MAX_QUERY = 200
LIMIT = 20
TAG = "VADDRESSBOOK"

Source = Literal["group member", "account", "contact"]
_RANK: dict[str, int] = {"group member": 0, "account": 1, "contact": 2}
_READ_LEVELS = [name for name, level in GRANT_LEVELS.items() if level >= Level.READ]


@dataclass
class PersonEntry:
    """One person a picker offers."""

    name: str
    emails: list[str]
    source: Source
    #: The account's user name (accounts and group members), else "".
    user: str = ""
    #: The address book a contact comes from (``OWNER/BOOK``), else "".
    book: str = ""
    _texts: tuple[str, ...] = field(default=(), repr=False)

    def as_json(self) -> dict[str, object]:
        found: dict[str, object] = {"name": self.name, "emails": self.emails, "source": self.source}
        if self.user:
            found["user"] = self.user
        if self.book:
            found["book"] = self.book
        return found


def check_query(q: str | None) -> str:
    """The query, stripped; :class:`InvalidInput` when it is too short or too long."""
    text = " ".join((q or "").split())
    if len(text) < MIN_QUERY:
        raise InvalidInput(f"q must have at least {MIN_QUERY} characters")
    if len(text) > MAX_QUERY:
        raise InvalidInput(f"q may have at most {MAX_QUERY} characters")
    return text


def readable_books(conn: Connection, user: str) -> list[tuple[int, str]]:
    """(id, path) of the address books ``user`` may read (see the module): the books
    ``calserver.sharing.levels.level_for`` gives them READ or more, in one query."""
    user_id = directory.user_id(conn, user)
    if user_id is None:
        return []
    own = collections.c.parent == user
    group_names = select(literal("@", String) + groups.c.name).where(
        groups.c.id.in_(groups_of(user_id))
    )
    granted = select(grants.c.collection_id).where(
        or_(grants.c.user_id == user_id, grants.c.group_id.in_(groups_of(user_id))),
        grants.c.level.in_(_READ_LEVELS),
    )
    rows = conn.execute(
        select(collections.c.id, collections.c.path)
        .where(
            collections.c.tag == TAG,
            or_(own, collections.c.parent.in_(group_names), collections.c.id.in_(granted)),
        )
        .order_by(collections.c.path)
    ).all()
    return [(row.id, row.path) for row in rows]


def _contacts(conn: Connection, books: list[tuple[int, str]]) -> Iterable[PersonEntry]:
    paths = dict(books)
    ids = list(paths)
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(items.c.collection_id, items.c.text)
            .where(items.c.collection_id.in_(ids[start : start + 500]))
            .order_by(items.c.id)
        )
        for row in rows:
            found = vcard.person(row.text)
            yield PersonEntry(
                found.name,
                list(found.emails),
                "contact",
                book=paths[row.collection_id],
                _texts=(found.name, *found.emails, *found.other_names),
            )


def _group_members(conn: Connection, user: str) -> Iterable[PersonEntry]:
    user_id = directory.user_id(conn, user)
    if user_id is None:
        return
    members = accepted_members()
    names = conn.execute(
        select(users_table.c.name)
        .join(members, members.c.user_id == users_table.c.id)
        .where(
            members.c.group_id.in_(groups_of(user_id)),
            users_table.c.disabled.is_(False),
            users_table.c.name != user,
        )
        .distinct()
    ).scalars()
    for principal in directory.principals(conn, names).values():
        yield _from_principal(principal, "group member")


def _from_principal(principal: directory.Principal, source: Source) -> PersonEntry:
    emails = [principal.email] if principal.email else []
    return PersonEntry(
        principal.displayname,
        emails,
        source,
        user=principal.name,
        _texts=(principal.displayname, principal.name, *emails),
    )


def _accounts(conn: Connection, user: str) -> Iterable[PersonEntry]:
    for principal in directory.enabled_principals(conn):
        if principal.name != user:
            yield _from_principal(principal, "account")


def _placement(entry: PersonEntry, needle: str) -> int:
    """0: a word of a name starts with the query; 1: it occurs somewhere."""
    for text in entry._texts:
        lowered = text.lower()
        if lowered.startswith(needle) or f" {needle}" in lowered or f"@{needle}" in lowered:
            return 0
    return 1


def merge(entries: Iterable[PersonEntry]) -> list[PersonEntry]:
    """The entries deduplicated by e-mail address (see the module), in source order."""
    kept: list[PersonEntry] = []
    by_email: dict[str, PersonEntry] = {}
    by_user: set[str] = set()
    for entry in sorted(entries, key=lambda e: _RANK[e.source]):
        if entry.user and entry.user in by_user:
            continue  # a group member is an account too
        earlier = next((by_email[e.lower()] for e in entry.emails if e.lower() in by_email), None)
        if earlier is not None:
            for email in entry.emails:
                if email.lower() not in by_email:
                    earlier.emails.append(email)
                    by_email[email.lower()] = earlier
            continue
        kept.append(entry)
        by_email.update((email.lower(), entry) for email in entry.emails)
        if entry.user:
            by_user.add(entry.user)
    return kept


def search_connection(conn: Connection, user: str, q: str, limit: int = LIMIT) -> list[PersonEntry]:
    """:func:`search` in the caller's transaction."""
    needle = check_query(q).lower()

    def matches(entry: PersonEntry) -> bool:
        return any(needle in text.lower() for text in entry._texts)

    found = [
        entry
        for entry in (
            *_group_members(conn, user),
            *_accounts(conn, user),
            *_contacts(conn, readable_books(conn, user)),
        )
        if matches(entry)
    ]
    merged = merge(found)
    merged.sort(key=lambda e: (_placement(e, needle), _RANK[e.source], e.name.lower()))
    return merged[: max(0, limit)]


def search(engine: Engine, user: str, q: str, limit: int = LIMIT) -> list[PersonEntry]:
    """The people ``user`` may pick whose name or e-mail address holds ``q``."""
    check_query(q)
    with read_transaction(engine) as conn:
        return search_connection(conn, user, q, limit)


__all__ = ["LIMIT", "MIN_QUERY", "PersonEntry", "check_query", "merge", "readable_books", "search"]
