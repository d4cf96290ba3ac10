"""vdirsyncer's ``carddav`` storage against a live ``calserver serve`` (SQLite and
PostgreSQL): discovery of the address books from the server's root, 200 contacts
synced both ways (100 made on the phone side, 100 on the server), a contact changed
on both sides (a conflict vdirsyncer reports, then resolves as configured), and
deletions both ways.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, LiveServer
from tests.e2e_support import ENGINES, calserver, module_server, send

pytestmark = pytest.mark.live

CONTACTS = 200
VCF = {"Content-Type": "text/vcard; charset=utf-8"}


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from module_server(request, tmp_path_factory)


def card(uid: str, fn: str, version: str = "3.0") -> str:
    given, _, family = fn.partition(" ")
    return (
        f"BEGIN:VCARD\r\nVERSION:{version}\r\nUID:{uid}\r\nFN:{fn}\r\n"
        f"N:{family};{given};;;\r\nEMAIL:{uid}@example.org\r\nEND:VCARD\r\n"
    )


def vdirsyncer_config(server: LiveServer, folder: Path, resolution: str | None) -> Path:
    config = folder / "config"
    resolve = f'conflict_resolution = "{resolution}"\n' if resolution else ""
    config.write_text(
        f"""[general]
status_path = "{folder / "status"}"

[pair contacts]
a = "phone"
b = "server"
collections = ["friends"]
{resolve}
[storage phone]
type = "filesystem"
path = "{folder / "local"}"
fileext = ".vcf"

[storage server]
type = "carddav"
url = "{server.url}/"
username = "alice"
password = "{PASSWORD}"
""",
        encoding="utf-8",
    )
    return config


def vdirsyncer(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("vdirsyncer"))
    return subprocess.run(
        [exe, "-c", str(config), *args],
        input="y\n" * 10,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def local_uids(folder: Path) -> dict[str, str]:
    """UID -> FN of the vCards in the local folder."""
    found = {}
    for path in (folder / "local" / "friends").glob("*.vcf"):
        lines = path.read_text(encoding="utf-8").splitlines()
        uid = next(line[4:] for line in lines if line.startswith("UID:"))
        found[uid] = next(line[3:] for line in lines if line.startswith("FN:"))
    return found


def server_cards(server: LiveServer) -> dict[str, str]:
    """UID -> FN of the vCards in alice/friends, read with one addressbook-query."""
    body = (
        '<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">'
        "<D:prop><C:address-data/></D:prop></C:addressbook-query>"
    )
    answer = send(server, "REPORT", "/alice/friends/", body, {"Depth": "1"})
    assert answer.status == 207, answer.text
    found = {}
    for chunk in answer.text.split("BEGIN:VCARD")[1:]:
        lines = chunk.replace("\r\n", "\n").splitlines()
        uid = next(line[4:] for line in lines if line.startswith("UID:"))
        found[uid] = next(line[3:] for line in lines if line.startswith("FN:"))
    return found


def test_vdirsyncer_syncs_200_contacts_both_ways_with_a_conflict(
    server: LiveServer, tmp_path: Path
) -> None:
    calserver(server, "addressbook", "create", "alice/friends", "--name", "Friends")
    half = CONTACTS // 2
    for n in range(half):  # made on the server (DAVx5 would PUT vCard 4.0)
        put = send(
            server, "PUT", f"/alice/friends/s{n}.vcf", card(f"s{n}", f"Server {n}", "4.0"), VCF
        )
        assert put.status == 201, put.text
    phone = tmp_path / "local" / "friends"
    phone.mkdir(parents=True)
    for n in range(half):  # made on the phone side
        (phone / f"p{n}.vcf").write_text(card(f"p{n}", f"Phone {n}"), encoding="utf-8")

    config = vdirsyncer_config(server, tmp_path, None)
    discovered = vdirsyncer(config, "discover")
    assert discovered.returncode == 0, discovered.stdout + discovered.stderr
    synced = vdirsyncer(config, "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    expected = {f"s{n}": f"Server {n}" for n in range(half)} | {
        f"p{n}": f"Phone {n}" for n in range(half)
    }
    assert local_uids(tmp_path) == expected
    assert server_cards(server) == expected

    # the same contact changed on both sides: a conflict vdirsyncer reports ...
    (phone / "p0.vcf").write_text(card("p0", "Phone Side"), encoding="utf-8")
    href = next(
        path.name for path in phone.glob("*.vcf") if "UID:p0" in path.read_text(encoding="utf-8")
    )
    server_href = _server_href_of(server, "p0")
    changed = send(server, "PUT", server_href, card("p0", "Server Side"), VCF)
    assert changed.status == 204, changed.text
    conflicted = vdirsyncer(config, "sync")
    assert conflicted.returncode != 0
    assert "conflict" in (conflicted.stdout + conflicted.stderr).lower()
    assert server_cards(server)["p0"] == "Server Side"
    assert local_uids(tmp_path)["p0"] == "Phone Side"
    # ... and resolves as configured (the phone wins), the other 199 untouched
    resolved = vdirsyncer(vdirsyncer_config(server, tmp_path, "a wins"), "sync")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert server_cards(server) == expected | {"p0": "Phone Side"}
    assert local_uids(tmp_path) == expected | {"p0": "Phone Side"}
    assert href  # the phone kept its file

    # deletions both ways
    (phone / href).unlink()
    gone = send(server, "DELETE", _server_href_of(server, "s1"))
    assert gone.status == 200
    again = vdirsyncer(config, "sync")
    assert again.returncode == 0, again.stdout + again.stderr
    remaining = {k: v for k, v in expected.items() if k not in ("p0", "s1")}
    assert server_cards(server) == remaining
    assert local_uids(tmp_path) == remaining


def _server_href_of(server: LiveServer, uid: str) -> str:
    """The path of the vCard with ``uid`` in alice/friends (an addressbook-query on UID)."""
    body = (
        '<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">'
        "<D:prop><D:getetag/></D:prop><C:filter>"
        f'<C:prop-filter name="UID"><C:text-match match-type="equals">{uid}</C:text-match>'
        "</C:prop-filter></C:filter></C:addressbook-query>"
    )
    answer = send(server, "REPORT", "/alice/friends/", body, {"Depth": "1"})
    assert answer.status == 207, answer.text
    hrefs = [part.split("</", 1)[0] for part in answer.text.split("<href>")[1:] if ".vcf" in part]
    assert len(hrefs) == 1, answer.text
    return hrefs[0]
