"""Managed attachments (RFC 8607) with the requests Apple Calendar sends: POST
?action=attachment-add/-update/-remove on an event, the ATTACH the server writes, the
downloads under /.attachments/ and who may fetch them, limits and clean-up, on every
database engine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import caldav
import pytest
import requests
from sqlalchemy import func, select

from calserver.accounts import users
from calserver.app import make_app
from calserver.db.models import attachments
from calserver.sharing import manage
from tests.conftest import PASSWORD, Response, WSGIClient, make_configuration
from tests.conftest import event_ics as event

CAL = "/alice/calendar/"
EVENT = CAL + "meeting.ics"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


@pytest.fixture
def configuration(database_url: str, tmp_path: Path) -> Any:
    return make_configuration(
        database_url,
        tmp_path,
        attachments={"max_size": "4096", "max_per_resource": "3", "quota": "10000"},
    )


@pytest.fixture
def alice(client: WSGIClient, engine: Any) -> WSGIClient:
    for name in ("carol", "dave"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    assert client.request("MKCALENDAR", CAL).status == 201
    assert client.request("PUT", EVENT, event("meeting-1")).status == 201
    return client


def apple_add(
    client: WSGIClient,
    body: bytes = PDF,
    filename: str = "agenda.pdf",
    content_type: str = "application/pdf",
    path: str = EVENT,
    user: str = "alice",
) -> Response:
    """Apple Calendar's attachment-add (RFC 8607 3.4 example)."""
    return client.request(
        "POST",
        path + "?action=attachment-add",
        body,
        {
            "Content-Type": content_type,
            "Content-Disposition": f"attachment;filename={filename}",
            "Prefer": "return=representation",
        },
        user=user,
    )


def attach_lines(text: str) -> list[str]:
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    return [line for line in unfolded.splitlines() if line.upper().startswith("ATTACH")]


def url_path(line: str) -> str:
    url = line.split(":", 1)[1]
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_attachment_add_rewrites_the_event_and_the_owner_downloads_it(alice: WSGIClient) -> None:
    answer = apple_add(alice)
    assert answer.status == 201, answer.text
    managed_id = answer.headers["cal-managed-id"]
    assert managed_id and "etag" in answer.headers
    [line] = attach_lines(alice.request("GET", EVENT).text)
    assert f"MANAGED-ID={managed_id}" in line
    assert "FILENAME=agenda.pdf" in line
    assert "FMTTYPE=application/pdf" in line
    assert f"SIZE={len(PDF)}" in line
    assert url_path(line) == f"/.attachments/{managed_id}/agenda.pdf"
    assert attach_lines(answer.text) == [line]  # the new calendar data in the answer
    download = alice.request("GET", url_path(line))
    assert download.status == 200
    assert download.body == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert "attachment" in download.headers["content-disposition"]


def test_a_reader_downloads_a_busy_viewer_and_an_outsider_get_404(
    alice: WSGIClient, engine: Any
) -> None:
    manage.share(engine, "alice/calendar", "bob", "read")
    manage.share(engine, "alice/calendar", "carol", "busy")
    apple_add(alice)
    [line] = attach_lines(alice.request("GET", EVENT).text)
    link = url_path(line)
    # bob sees the event through his alias, ATTACH and all, and fetches it
    [bobs_line] = attach_lines(
        alice.request("GET", "/bob/alice~calendar/meeting.ics", user="bob").text
    )
    assert url_path(bobs_line) == link
    assert alice.request("GET", link, user="bob").body == PDF
    # carol's busy view holds no ATTACH, and the URL is nothing to her
    carols = alice.request("GET", "/carol/alice~calendar/meeting.ics", user="carol")
    assert carols.status == 200 and attach_lines(carols.text) == []
    assert alice.request("GET", link, user="carol").status == 404
    assert alice.request("GET", link, user="dave").status == 404
    assert alice.request("GET", link, user=None).status == 401
    assert alice.request("GET", "/.attachments/unknown/x.pdf", user="dave").status == 404


def test_a_private_event_s_attachment_is_the_owner_s_alone(alice: WSGIClient, engine: Any) -> None:
    manage.share(engine, "alice/calendar", "bob", "write")
    private = CAL + "private.ics"
    assert alice.request("PUT", private, event("p-1", extra="CLASS:PRIVATE\r\n")).status == 201
    answer = apple_add(alice, path=private)
    assert answer.status == 201
    link = url_path(attach_lines(alice.request("GET", private).text)[0])
    assert alice.request("GET", link).status == 200
    assert alice.request("GET", link, user="bob").status == 404


def test_a_writer_adds_through_the_alias_and_a_reader_may_not(
    alice: WSGIClient, engine: Any
) -> None:
    manage.share(engine, "alice/calendar", "bob", "write")
    manage.share(engine, "alice/calendar", "carol", "read")
    alias = "/bob/alice~calendar/meeting.ics"
    answer = apple_add(alice, b"notes", "notes.txt", "text/plain", path=alias, user="bob")
    assert answer.status == 201, answer.text
    [line] = attach_lines(alice.request("GET", EVENT).text)
    assert alice.request("GET", url_path(line)).body == b"notes"
    refused = apple_add(alice, path="/carol/alice~calendar/meeting.ics", user="carol")
    assert refused.status == 403
    assert apple_add(alice, user="dave").status in (403, 404)
    assert len(attach_lines(alice.request("GET", EVENT).text)) == 1


def test_update_gives_a_new_managed_id_and_remove_takes_it_away(alice: WSGIClient) -> None:
    first = apple_add(alice).headers["cal-managed-id"]
    old_link = url_path(attach_lines(alice.request("GET", EVENT).text)[0])
    updated = alice.request(
        "POST",
        EVENT + f"?action=attachment-update&managed-id={first}",
        b"version 2",
        {"Content-Type": "text/plain", "Content-Disposition": 'attachment; filename="v2.txt"'},
    )
    assert updated.status == 200, updated.text
    second = updated.headers["cal-managed-id"]
    assert second != first
    [line] = attach_lines(alice.request("GET", EVENT).text)
    assert f"MANAGED-ID={second}" in line and "FILENAME=v2.txt" in line and "SIZE=9" in line
    assert alice.request("GET", old_link).status == 404
    assert alice.request("GET", url_path(line)).body == b"version 2"
    stale = alice.request("POST", EVENT + f"?action=attachment-remove&managed-id={first}")
    assert stale.status == 403 and "valid-managed-id" in stale.text
    removed = alice.request("POST", EVENT + f"?action=attachment-remove&managed-id={second}")
    assert removed.status == 204
    assert attach_lines(alice.request("GET", EVENT).text) == []
    assert alice.request("GET", url_path(line)).status == 404


def test_limits_name_their_precondition(alice: WSGIClient, engine: Any) -> None:
    too_big = apple_add(alice, b"x" * 4097)
    assert too_big.status == 413 and "max-attachment-size" in too_big.text
    for n in range(3):
        assert apple_add(alice, b"x" * 10, f"f{n}.txt", "text/plain").status == 201
    fourth = apple_add(alice, b"x", "f4.txt", "text/plain")
    assert fourth.status == 403 and "max-attachments-per-resource" in fourth.text
    # the quota: 10000 bytes per calendar owner
    assert alice.request("PUT", CAL + "big.ics", event("big-1")).status == 201
    assert apple_add(alice, b"y" * 4000, path=CAL + "big.ics").status == 201
    assert apple_add(alice, b"y" * 4000, path=CAL + "big.ics").status == 201
    over = apple_add(alice, b"y" * 4000, path=CAL + "big.ics")
    assert over.status == 507 and "quota-not-exceeded" in over.text
    assert len(attach_lines(alice.request("GET", CAL + "big.ics").text)) == 2
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(attachments)).scalar() == 5


def test_deleting_the_event_or_dropping_its_attach_deletes_the_attachment(
    alice: WSGIClient, engine: Any
) -> None:
    apple_add(alice)
    link = url_path(attach_lines(alice.request("GET", EVENT).text)[0])
    assert alice.request("DELETE", EVENT).status in (200, 204)
    assert alice.request("GET", link).status == 404
    assert alice.request("PUT", EVENT, event("meeting-1")).status == 201
    apple_add(alice)
    link = url_path(attach_lines(alice.request("GET", EVENT).text)[0])
    # a client writes the event back without the ATTACH (RFC 8607 3.6 by PUT)
    assert alice.request("PUT", EVENT, event("meeting-1", summary="moved")).status in (201, 204)
    assert alice.request("GET", link).status == 404
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(attachments)).scalar() == 0


def test_bad_requests_are_refused_clearly(alice: WSGIClient) -> None:
    assert alice.request("POST", EVENT + "?action=attachment-frobnicate", b"x").status == 400
    assert alice.request("POST", EVENT + "?action=attachment-add").status == 400  # no body
    assert apple_add(alice, path=CAL + "missing.ics").status == 404
    assert apple_add(alice, path=CAL).status == 403  # a calendar is no event
    answer = alice.request("POST", EVENT + "?action=attachment-update", b"x")
    assert answer.status == 400 and "valid-managed-id" in answer.text
    mismatch = alice.request(
        "POST",
        EVENT + "?action=attachment-add",
        b"x",
        {"Content-Type": "text/plain", "If-Match": '"not-the-etag"'},
    )
    assert mismatch.status == 412
    # a filename that tries to leave its segment is reduced to its last part
    assert apple_add(alice, b"x", '"../../etc/passwd"', "text/plain").status == 201
    [line] = attach_lines(alice.request("GET", EVENT).text)
    assert "FILENAME=passwd" in line and url_path(line).endswith("/passwd")


def test_an_rfc_5987_filename_is_kept_in_utf8(alice: WSGIClient) -> None:
    answer = alice.request(
        "POST",
        EVENT + "?action=attachment-add",
        b"x",
        {
            "Content-Type": "text/plain",
            "Content-Disposition": "attachment; filename*=UTF-8''r%C3%A9union.txt",
        },
    )
    assert answer.status == 201
    [line] = attach_lines(alice.request("GET", EVENT).text)
    assert "FILENAME=réunion.txt" in line
    download = alice.request("GET", url_path(line))
    assert download.status == 200 and "r%C3%A9union.txt" in download.headers["content-disposition"]


def test_properties_and_dav_header_announce_managed_attachments(alice: WSGIClient) -> None:
    options = alice.request("OPTIONS", CAL)
    assert "calendar-managed-attachments" in options.headers["dav"]
    body = (
        '<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><prop>'
        "<C:max-attachment-size/><C:max-attachments-per-resource/>"
        "<C:managed-attachments-server-URL/></prop></propfind>"
    )
    answer = alice.request("PROPFIND", CAL, body, {"Depth": "0"})
    assert answer.status == 207
    assert re.search(r"max-attachment-size[^>]*>4096<", answer.text), answer.text
    assert re.search(r"max-attachments-per-resource[^>]*>3<", answer.text), answer.text
    assert "404" not in answer.text
    home = alice.request("PROPFIND", "/alice/", body, {"Depth": "0"})
    assert "managed-attachments-server-URL" in home.text and "404" not in home.text


def test_off_means_not_announced(database_url: str, tmp_path: Path, engine: Any) -> None:
    users.add(engine, "alice", PASSWORD, "alice@example.org")
    off = make_configuration(database_url, tmp_path, attachments={"enabled": "False"})
    client = WSGIClient(make_app(off), off, default_user="alice")
    assert "calendar-managed-attachments" not in client.request("OPTIONS", "/alice/").headers["dav"]


@pytest.mark.live
def test_live_an_attachment_added_by_one_client_is_read_by_another(live_server: Any) -> None:
    """Over HTTP: alice's caldav client makes the event, an Apple-shaped POST attaches a
    file, bob (read) downloads it with what his own client fetched; carol (busy) cannot."""
    server = live_server
    server.add_user("carol")
    principal = caldav.DAVClient(server.url + "/", username="alice", password=PASSWORD).principal()
    calendar = principal.make_calendar(name="Team", cal_id="team")
    calendar.save_event(event("live-1"))
    assert server.cli("share", "alice/team", "--with", "bob", "--level", "read").returncode == 0
    assert server.cli("share", "alice/team", "--with", "carol", "--level", "busy").returncode == 0
    [stored] = calendar.events()
    answer = requests.post(
        str(stored.url) + "?action=attachment-add",
        data=PDF,
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": "attachment;filename=agenda.pdf",
        },
        auth=("alice", PASSWORD),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["Cal-Managed-ID"]
    bob = caldav.DAVClient(server.url + "/", username="bob", password=PASSWORD)
    [bobs] = bob.calendar(url=server.url + "/bob/alice~team/").events()
    [line] = attach_lines(bobs.data)
    url = line.split(":", 1)[1]
    assert url.startswith(server.url + "/.attachments/")
    download = requests.get(url, auth=("bob", PASSWORD), timeout=30)
    assert download.status_code == 200 and download.content == PDF
    assert requests.get(url, auth=("carol", PASSWORD), timeout=30).status_code == 404
