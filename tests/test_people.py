"""The people directory for pickers (``calserver.contacts.people``, ``GET
/.api/v1/me/people``): contacts of the address books a user may read, the members of
their groups and the accounts; never a contact of a book they cannot read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from radicale import item as radicale_item

from calserver.accounts import users
from calserver.contacts import people
from calserver.errors import InvalidInput
from calserver.sharing import manage
from calserver.storage import Storage
from tests.conftest import PASSWORD, WSGIClient


def _card(uid: str, name: str, *emails: str) -> str:
    lines = [f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\n"]
    lines += [f"EMAIL;TYPE=INTERNET:{email}\r\n" for email in emails]
    return "".join(lines) + "END:VCARD\r\n"


def _book(storage: Storage, path: str, *cards: str) -> None:
    """An address book holding ``cards``, made as Radicale's PUT of a whole book makes
    one (``Storage.create_collection`` with its items)."""
    owner = path.split("/")[0]
    storage.create_collection(f"/{owner}/", props=None)
    found = [
        radicale_item.Item(collection_path=path, vobject_item=component)
        for card in cards
        for component in radicale_item.read_components(card)
    ]
    storage.create_collection(
        f"/{path}/", items=found, props={"tag": "VADDRESSBOOK", "D:displayname": path}
    )


@dataclass
class Site:
    client: WSGIClient
    engine: Any

    def search(self, user: str, q: str, limit: int = people.LIMIT) -> list[dict[str, Any]]:
        return [entry.as_json() for entry in people.search(self.engine, user, q, limit)]

    def api(self, user: str | None, query: str) -> tuple[int, Any]:
        answer = self.client.request("GET", f"/.api/v1/me/people?{query}", user=user)
        return answer.status, json.loads(answer.body) if answer.body else None


@pytest.fixture
def site(client: WSGIClient, engine: Any, configuration: Any) -> Site:
    """Alice (alice@example.org) and Bob exist; Carol shares a book with Alice at read
    and one with Bob; Dave is in Alice's group ``team``, Erin only invited to it;
    Mallory is an outsider with a book of her own."""
    for name in ("carol", "dave", "erin", "mallory"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    manage.create_group(engine, "team", admin="alice")
    manage.add_member(engine, "team", "dave")
    manage.add_member(engine, "team", "erin", actor="alice")  # pending
    storage = Storage(configuration)
    _book(
        storage,
        "alice/contacts",
        _card("z1", "Zoe Zimmer", "zoe@zimmer.example", "Z.Zimmer@home.example"),
        _card("b1", "Bobby from Work", "BOB@example.org"),
        _card("n1", "No Mail Nora"),
    )
    _book(storage, "carol/friends", _card("f1", "Fiona Friend", "fiona@friends.example"))
    _book(storage, "carol/private", _card("p1", "Paul Private", "paul@private.example"))
    _book(storage, "@team/contacts", _card("g1", "Gina Group", "gina@team.example"))
    _book(
        storage,
        "mallory/contacts",
        _card("s1", "Secret Sam", "sam@secret.example"),
        _card("s2", "Zoe Secretly", "zoe.secret@secret.example"),
    )
    manage.share(engine, "carol/friends", "alice", "read", actor="carol")
    manage.share(engine, "carol/private", "bob", "write", actor="carol")
    return Site(client, engine)


def _names(found: list[dict[str, Any]]) -> list[str]:
    return [entry["name"] for entry in found]


def test_own_book_is_searched_by_name_and_email(site):
    assert site.search("alice", "zimmer") == [
        {
            "name": "Zoe Zimmer",
            "emails": ["zoe@zimmer.example", "Z.Zimmer@home.example"],
            "source": "contact",
            "book": "alice/contacts",
        }
    ]
    assert _names(site.search("alice", "HOME.EXAMPLE")) == ["Zoe Zimmer"]
    assert _names(site.search("alice", "nora")) == ["No Mail Nora"]


def test_a_book_shared_with_you_is_searched_one_shared_with_another_is_not(site):
    assert _names(site.search("alice", "fiona")) == ["Fiona Friend"]
    assert site.search("alice", "fiona")[0]["book"] == "carol/friends"
    assert site.search("alice", "paul") == []  # shared with Bob only
    assert _names(site.search("bob", "paul")) == ["Paul Private"]
    assert site.search("bob", "fiona") == []  # not shared with Bob
    manage.unshare(site.engine, "carol/friends", "alice", actor="carol")
    assert site.search("alice", "fiona") == []


def test_group_members_and_group_books_count_once_accepted(site):
    dave = site.search("alice", "dave")
    assert dave == [
        {"name": "dave", "emails": ["dave@example.org"], "source": "group member", "user": "dave"}
    ]
    assert _names(site.search("alice", "gina")) == ["Gina Group"]
    assert _names(site.search("dave", "gina")) == ["Gina Group"]
    assert site.search("erin", "gina") == []  # a pending invitation reveals nothing
    assert [e["source"] for e in site.search("erin", "alice")] == ["account"]
    manage.accept(site.engine, "team", "erin")
    assert _names(site.search("erin", "gina")) == ["Gina Group"]
    assert [e["source"] for e in site.search("erin", "alice")] == ["group member"]


def test_accounts_are_found_and_deduplicated_by_email(site):
    found = site.search("alice", "bob")
    # Alice's contact "Bobby from Work" has Bob's address in other letters: one person
    assert found == [
        {"name": "bob", "emails": ["bob@example.org"], "source": "account", "user": "bob"}
    ]
    assert [e["user"] for e in site.search("alice", "mallory")] == ["mallory"]
    assert site.search("alice", "alice") == []  # not oneself
    users.set_disabled(site.engine, "mallory", True)
    assert site.search("alice", "mallory") == []


def test_an_outsiders_book_never_leaks(site):
    for q in ("sam", "secret", "zoe secretly", "secret.example"):
        assert site.search("alice", q) == [], q
        assert site.api("alice", f"q={q}") == (200, {"people": []})
    assert _names(site.search("mallory", "secret")) == ["Secret Sam", "Zoe Secretly"]
    assert _names(site.search("alice", "zoe")) == ["Zoe Zimmer"]


def test_results_are_limited_and_best_matches_come_first(site, configuration):
    cards = [_card(f"m{i}", f"Member {i:02d}", f"member{i}@many.example") for i in range(30)]
    _book(Storage(configuration), "alice/many", *cards)
    found = site.search("alice", "member")
    assert len(found) == people.LIMIT
    assert _names(site.search("alice", "member", limit=3)) == [
        "Member 00",
        "Member 01",
        "Member 02",
    ]
    # a word starting with the query before the query inside a word
    _book(Storage(configuration), "alice/more", _card("k1", "Ann Kirkland", "ann@k.example"))
    assert _names(site.search("alice", "kir")) == ["Ann Kirkland"]
    _book(Storage(configuration), "alice/third", _card("k2", "Abekir Zed", "zed@z.example"))
    assert _names(site.search("alice", "kir")) == ["Ann Kirkland", "Abekir Zed"]


@pytest.mark.unit
def test_query_must_have_two_characters():
    for q in ("", " ", "a", " b "):
        with pytest.raises(InvalidInput, match="at least 2 characters"):
            people.check_query(q)
    assert people.check_query("  ab  ") == "ab"
    with pytest.raises(InvalidInput, match="at most"):
        people.check_query("x" * 201)


@pytest.mark.unit
def test_merge_keeps_the_first_source_and_joins_addresses():
    merged = people.merge(
        [
            people.PersonEntry("Card", ["b@x.org", "other@x.org"], "contact", book="a/c"),
            people.PersonEntry("bee", ["B@X.org"], "account", user="b"),
            people.PersonEntry("bee", ["B@X.org"], "group member", user="b"),
        ]
    )
    assert [(e.source, e.emails) for e in merged] == [("group member", ["B@X.org", "other@x.org"])]


def test_api_answers_people_and_refuses_a_short_query_and_no_login(site):
    status, body = site.api("alice", "q=fi")
    assert status == 200
    assert body == {
        "people": [
            {
                "name": "Fiona Friend",
                "emails": ["fiona@friends.example"],
                "source": "contact",
                "book": "carol/friends",
            }
        ]
    }
    assert site.api("alice", "q=f")[0] == 400
    status, body = site.api("alice", "")
    assert status == 400 and "at least 2 characters" in body["error"]
    assert site.api(None, "q=fiona")[0] == 401
    assert site.api("alice", "q=%5Ax%5Ax")[0] == 200  # any text is a query, never a 500
