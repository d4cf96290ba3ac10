"""Contacts in and out: address books written by stock Radicale 3.9 (run as its own
process, ``python -m radicale``, vCards PUT over HTTP) come in through
``calserver migrate-from-radicale`` with the ETags Radicale computed, and ``.vcf`` files
go in and out of address books (``calserver import`` / ``export``, RFC 6350 / 6352)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from calserver import db
from calserver.contacts import books, vcard
from calserver.errors import InvalidInput, NotFound
from calserver.storage import Storage
from tests.conftest import FIXTURES, free_port, run_cli, start_server, wait_until_listening

with open(FIXTURES / "contacts-clients.vcf", encoding="utf-8", newline="") as _f:
    CLIENT_CARDS = _f.read()  # CRLF line ends, as clients send them
PASSWORD = "ann radicale pw"
MKADDRESSBOOK = """<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>
    <D:displayname>{name}</D:displayname>
  </D:prop></D:set>
</D:mkcol>"""
PROPFIND_ETAGS = (
    '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
)
NO_UID = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Nils Nouid\r\nEMAIL:nils@example.org\r\nEND:VCARD\r\n"
BROKEN = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:broken-1\r\nFN:Broken\r\nthis is no line\r\nEND:VCARD\r\n"
)
LEGACY_21 = (
    "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:legacy-1\r\nN:Old;Olaf\r\nFN:Olaf Old\r\n"
    "TEL;CELL:+4912345\r\nEND:VCARD\r\n"
)
NOT_A_CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:evt-in-card\r\nFN:Has an event\r\n"
    "BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCARD\r\n"
)


def _card(uid: str, name: str, email: str) -> str:
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n"
        f"EMAIL:{email}\r\nEND:VCARD\r\n"
    )


def etags_of(multistatus: str, collection: str) -> dict[str, str]:
    """{href name: ETag} of the members in a PROPFIND answer."""
    found: dict[str, str] = {}
    for response in ET.fromstring(multistatus).iter("{DAV:}response"):
        href = unquote(response.findtext("{DAV:}href") or "")
        etag = response.findtext(".//{DAV:}getetag")
        name = href.rstrip("/").rpartition("/")[2]
        if etag and not href.rstrip("/").endswith(collection):
            found[name] = etag
    return found


# --- stock Radicale, as its own process ----------------------------------------------


@dataclass
class RadicaleBooks:
    folder: Path  # [storage] filesystem_folder
    htpasswd: Path
    config: Path
    #: book path -> {href: ETag} as Radicale's PROPFIND answered
    etags: dict[str, dict[str, str]] = field(default_factory=dict)
    #: "book/href" -> body as Radicale's GET answered
    bodies: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def radicale_books(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleBooks]:
    """Ann keeps two address books in stock Radicale: ``contacts``, filled card by card
    (PUT of each, as DAVx5 and Apple Contacts do), and ``club``, uploaded as one .vcf
    (PUT of the whole book: Radicale names the cards and gives the one without a UID a
    UID of its own)."""
    base = tmp_path_factory.mktemp("radicale-contacts")
    folder, htpasswd, config = base / "collections", base / "users", base / "config"
    htpasswd.write_text(f"ann:{PASSWORD}\n")
    port = free_port()
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n\n"
        f"[storage]\ntype = multifilesystem\nfilesystem_folder = {folder}\n\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {htpasswd}\n"
        "htpasswd_encryption = plain\ndelay = 0\n\n"
        "[rights]\ntype = owner_only\n\n[logging]\nlevel = warning\n"
    )
    log = base / "radicale.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(port, process, log, "radicale")
        url = f"http://127.0.0.1:{port}"
        auth = ("ann", PASSWORD)
        site = RadicaleBooks(folder, htpasswd, config)
        answer = requests.request(
            "MKCOL",
            f"{url}/ann/contacts/",
            data=MKADDRESSBOOK.format(name="Contacts"),
            auth=auth,
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        for number, card in enumerate(vcard.split(CLIENT_CARDS), 1):
            answer = requests.put(
                f"{url}/ann/contacts/card-{number}.vcf",
                data=card.text.encode(),
                headers={"Content-Type": "text/vcard; charset=utf-8"},
                auth=auth,
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
        # vCard 2.1 (old Nokia and Outlook exports): Radicale takes it, CardDAV does not
        answer = requests.request(
            "MKCOL",
            f"{url}/ann/legacy/",
            data=MKADDRESSBOOK.format(name="Legacy"),
            auth=auth,
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        for href, text in (
            ("old.vcf", LEGACY_21),
            ("fine.vcf", _card("fine-1", "Fine", "f@x.org")),
        ):
            answer = requests.put(
                f"{url}/ann/legacy/{href}",
                data=text.encode(),
                headers={"Content-Type": "text/vcard"},
                auth=auth,
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
        club = _card("club-1", "Erik Club", "erik@club.example") + NO_UID
        answer = requests.put(
            f"{url}/ann/club/",
            data=club.encode(),
            headers={"Content-Type": "text/vcard; charset=utf-8"},
            auth=auth,
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        for book in ("ann/contacts", "ann/club", "ann/legacy"):
            answer = requests.request(
                "PROPFIND",
                f"{url}/{book}/",
                data=PROPFIND_ETAGS,
                headers={"Depth": "1"},
                auth=auth,
                timeout=30,
            )
            assert answer.status_code == 207, answer.text
            site.etags[book] = etags_of(answer.text, book)
            for href in site.etags[book]:
                got = requests.get(f"{url}/{book}/{href}", auth=auth, timeout=30)
                assert got.status_code == 200
                assert got.headers["ETag"] == site.etags[book][href]
                site.bodies[f"{book}/{href}"] = got.text
        assert len(site.etags["ann/contacts"]) == 3
        assert len(site.etags["ann/club"]) == 2
        props = (folder / "collection-root/ann/club/.Radicale.props").read_text()
        assert "VADDRESSBOOK" in props  # what the migration must recognise
        yield site
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.live  # runs stock Radicale, calserver commands and a server
def test_radicale_address_books_keep_hrefs_and_etags(radicale_books, database_url, tmp_path):
    data = tmp_path / "data"
    result = run_cli(database_url, data, "migrate-from-radicale", str(radicale_books.config))
    assert result.returncode == 0, result.stderr
    assert "collection ann/contacts: created (VADDRESSBOOK, 3 items)" in result.stdout
    assert "collection ann/club: created (VADDRESSBOOK, 2 items)" in result.stdout
    assert "collection ann/legacy: created (VADDRESSBOOK, 1 item)" in result.stdout
    # what a CardDAV PUT would refuse is reported, never stored silently changed
    assert (
        "item ann/legacy/old.vcf: skipped, not valid: vCard version '2.1' is not supported"
        in result.stdout
    )
    assert result.stdout.splitlines()[-1].endswith("6 items migrated, 1 skipped"), result.stdout
    db.dispose_engines()
    server = start_server(database_url, data)
    try:
        auth = ("ann", PASSWORD)  # the htpasswd password still works
        for book, everything in radicale_books.etags.items():
            expected = {href: etag for href, etag in everything.items() if href != "old.vcf"}
            answer = requests.request(
                "PROPFIND",
                f"{server.url}/{book}/",
                data=PROPFIND_ETAGS,
                headers={"Depth": "1"},
                auth=auth,
                timeout=30,
            )
            assert answer.status_code == 207, answer.text
            assert etags_of(answer.text, book) == expected  # clients keep their cache
            for href, etag in expected.items():
                got = requests.get(f"{server.url}/{book}/{href}", auth=auth, timeout=30)
                assert got.status_code == 200
                assert got.headers["ETag"] == etag
                assert got.text == radicale_books.bodies[f"{book}/{href}"]
    finally:
        server.stop()


@pytest.mark.live  # runs calserver commands
def test_cli_imports_and_exports_vcf_of_a_migrated_book(radicale_books, database_url, tmp_path):
    data = tmp_path / "data"
    result = run_cli(database_url, data, "migrate-from-radicale", str(radicale_books.config))
    assert result.returncode == 0, result.stderr
    upload = tmp_path / "more.vcf"
    upload.write_text(
        _card("new-1", "Frida New", "frida@example.org") + BROKEN + NO_UID, newline=""
    )
    refused = run_cli(database_url, data, "import", str(upload), "ann/club")
    assert refused.returncode != 0
    assert "1 of 3 vCards refused, nothing imported" in refused.stderr
    assert "vCard 2 (Broken)" in refused.stderr
    imported = run_cli(database_url, data, "import", "--skip-invalid", str(upload), "ann/club")
    assert imported.returncode == 0, imported.stderr
    assert (
        "imported 2 vCards into ann/club (2 new, 0 replaced, 1 given a UID, "
        "1 refused and skipped)" in imported.stdout
    )
    assert "vCard 3 (Nils Nouid): given the UID" in imported.stderr
    out = tmp_path / "club.vcf"
    exported = run_cli(database_url, data, "export", "ann/club", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    cards = list(vcard.split(out.read_text(encoding="utf-8")))
    names = sorted(vcard.person(card.text).name for card in cards)
    assert names == ["Erik Club", "Frida New", "Nils Nouid", "Nils Nouid"]
    assert all(card.uid for card in cards)
    wrong = run_cli(database_url, data, "import", str(upload), "ann/nothing")
    assert wrong.returncode != 0 and "no address book ann/nothing" in wrong.stderr


# --- .vcf import and export, in process, on every engine ----------------------------


@pytest.fixture
def storage(configuration: Any, engine: Any) -> Storage:
    store = Storage(configuration)
    store.create_collection("/ann/", props=None)
    for name in ("contacts", "copy"):
        store.create_collection(
            f"/ann/{name}/", props={"tag": "VADDRESSBOOK", "D:displayname": name}
        )
    store.create_collection(
        "/ann/work/", props={"tag": "VCALENDAR", "C:supported-calendar-component-set": "VEVENT"}
    )
    return store


def _cards(store: Storage, path: str) -> dict[str, tuple[str, str]]:
    """{UID: (href, text)} of a book."""
    book = store.load_collection(path)
    assert book is not None
    return {item.uid: (item.href, item.serialize()) for item in book.get_all()}


def test_vcf_import_adds_cards_and_a_uid_in_the_file_again_replaces(storage):
    result = books.import_vcf(storage, "ann/contacts", CLIENT_CARDS)
    assert (result.created, result.replaced, result.skipped) == (3, 0, [])
    assert (
        result.summary("ann/contacts") == "imported 3 vCards into ann/contacts (3 new, 0 replaced)"
    )
    first = _cards(storage, "ann/contacts")
    carl = "2f6c1a0e-94b3-4c2e-8f1d-7a5b3c9e0d12"
    assert "Carl Contact" in first[carl][1]
    assert first[carl][0] == carl + ".vcf"
    changed = _card(carl, "Carl Renamed", "carl@example.org") + NO_UID
    again = books.import_vcf(storage, "ann/contacts", changed)
    assert (again.created, again.replaced) == (1, 1)
    assert len(again.uids_given) == 1 and "vCard 2 (Nils Nouid)" in again.uids_given[0]
    after = _cards(storage, "ann/contacts")
    assert len(after) == 5 - 1
    assert after[carl][0] == first[carl][0]  # the href clients know
    assert "Carl Renamed" in after[carl][1]
    given = next(uid for uid in after if uid not in first)
    assert given and "Nils Nouid" in after[given][1]


def test_vcf_import_refuses_the_whole_file_and_names_every_refused_card(storage):
    text = (
        _card("ok-1", "Olga Ok", "olga@example.org")
        + BROKEN
        + _card("ok-1", "Olga Twice", "olga2@example.org")
        + NOT_A_CARD
        + "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:no-fn\r\nEMAIL:nofn@example.org\r\nEND:VCARD\r\n"
    )
    with pytest.raises(InvalidInput) as refused:
        books.import_vcf(storage, "ann/contacts", text)
    message = str(refused.value)
    assert message.startswith("4 of 5 vCards refused, nothing imported")
    assert "vCard 5 (nofn@example.org): a vCard needs an FN" in message
    assert "vCard 2 (Broken)" in message
    assert "vCard 3 (Olga Twice): its UID 'ok-1' is used by vCard 1 already" in message
    assert "vCard 4 (Has an event): a vCard may not contain BEGIN:VEVENT" in message
    assert _cards(storage, "ann/contacts") == {}  # nothing half-written
    kept = books.import_vcf(storage, "ann/contacts", text, skip_invalid=True)
    assert (kept.created, len(kept.skipped)) == (1, 4)
    assert set(_cards(storage, "ann/contacts")) == {"ok-1"}


def test_vcf_import_refuses_what_is_no_vcard_file_and_a_calendar_target(storage):
    with pytest.raises(InvalidInput, match="not a vCard file: line 1: expected BEGIN:VCARD"):
        books.import_vcf(storage, "ann/contacts", (FIXTURES / "thunderbird-task.ics").read_text())
    with pytest.raises(InvalidInput, match="has no END:VCARD"):
        books.import_vcf(storage, "ann/contacts", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\n")
    with pytest.raises(InvalidInput, match="holds no vCard"):
        books.import_vcf(storage, "ann/contacts", "\r\n")
    with pytest.raises(NotFound, match="no address book ann/work"):
        books.import_vcf(storage, "ann/work", CLIENT_CARDS)
    with pytest.raises(NotFound, match="no address book ann/missing"):
        books.export(storage, "ann/missing")
    big = _card("big-1", "Big " + "x" * 300, "big@example.org")
    with pytest.raises(InvalidInput, match="larger than 200 bytes"):
        books.import_vcf(storage, "ann/contacts", big, max_bytes=200)
    assert _cards(storage, "ann/contacts") == {}


def test_vcf_export_then_import_gives_the_same_book(storage):
    books.import_vcf(storage, "ann/contacts", CLIENT_CARDS + NO_UID)
    exported = books.export(storage, "ann/contacts")
    cards = list(vcard.split(exported))
    assert len(cards) == 4 and all(card.uid for card in cards)
    again = books.import_vcf(storage, "ann/copy", exported)
    assert (again.created, again.uids_given, again.skipped) == (4, [], [])
    original, copy = _cards(storage, "ann/contacts"), _cards(storage, "ann/copy")
    assert {uid: text for uid, (_, text) in original.items()} == {
        uid: text for uid, (_, text) in copy.items()
    }
    assert books.export(storage, "ann/copy").count("BEGIN:VCARD") == 4
    assert "Åsa Lindqvist" in books.export(storage, "ann/copy")


# --- the vCard text, without a database ------------------------------------------------


@pytest.mark.unit
def test_split_keeps_each_card_and_its_uid():
    cards = list(vcard.split(CLIENT_CARDS + NO_UID))
    assert [card.number for card in cards] == [1, 2, 3, 4]
    assert cards[0].uid == "6B29A7C4-2E1F-4F0B-9D3A-1C2B3D4E5F60"
    assert cards[3].uid == ""
    assert "".join(card.text for card in cards) == CLIENT_CARDS + NO_UID
    with pytest.raises(vcard.VcfError, match="line 1"):
        list(vcard.split("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"))


@pytest.mark.unit
def test_person_reads_names_and_addresses_of_real_clients():
    asa, carl, dora = (vcard.person(card.text) for card in vcard.split(CLIENT_CARDS))
    assert asa.name == "Åsa Lindqvist"
    assert asa.emails == ("asa.lindqvist@nordictrails.example",)  # Apple's item1.EMAIL
    assert "Nordic Trails AB" in asa.other_names
    assert carl.emails == ("carl@example.org", "carl.home@example.net")
    assert "Calle" in carl.other_names
    assert dora.name == "Dora Dev"
    nameless = vcard.person("BEGIN:VCARD\r\nN:Doe;Jane;;;\r\nEMAIL:mailto:J@x.org\r\nEND:VCARD\r\n")
    assert nameless == vcard.Person("Jane Doe", ("J@x.org",), ("Jane Doe",))
    folded = vcard.person("BEGIN:VCARD\r\nFN:Long\r\n  Name\\, Jr.\r\nEND:VCARD\r\n")
    assert folded.name == "Long Name, Jr."
