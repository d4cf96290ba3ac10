"""Helpers of the end-to-end tests (``tests/test_e2e_*.py``): one live server per module
and engine, a ``caldav`` client per user, raw HTTP for what a client library would hide
(exact paths, exact status codes), and small WebDAV XML readers.

Not a conftest: each e2e module declares its own module-scoped ``server`` fixture with
:func:`module_server`, so one server process serves all tests of a module on an engine.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client as httpclient
import io
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import caldav
import pytest

from tests.conftest import FIXTURES, PASSWORD, LiveServer, Response, serve_with_users

NS = {
    "D": "DAV:",
    "C": "urn:ietf:params:xml:ns:caldav",
    "CS": "http://calendarserver.org/ns/",
    "ICAL": "http://apple.com/ns/ical/",
}

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def module_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Body of a module-scoped, engine-parametrised ``server`` fixture: a fresh
    database, a ``calserver serve`` process, users alice and bob."""
    yield from serve_with_users(request, tmp_path_factory.mktemp("e2e"))


@functools.cache
def password_hash() -> str:
    """One argon2 hash of PASSWORD for every account of :func:`module_server_with`
    (hashing costs about half a second)."""
    from calserver.accounts import passwords

    return passwords.hash_password(PASSWORD)


def module_server_with(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    people: list[str],
    *extra: str,
) -> Iterator[LiveServer]:
    """Like :func:`module_server`, with the accounts ``people`` (password PASSWORD,
    address NAME@example.org) written in this process: quicker than ``calserver user
    add`` once per account. ``extra``: options of ``calserver serve``."""
    from calserver import db
    from calserver.accounts import users
    from tests.conftest import fresh_database, start_server

    folder = tmp_path_factory.mktemp("e2e")
    url = fresh_database(request, folder)
    server = start_server(url, folder / "data", *extra)
    try:
        engine = db.get_engine(url)
        for name in people:
            users.add_with_hash(engine, name, password_hash(), f"{name}@example.org")
        yield server
    finally:
        server.stop()
        db.dispose_engines()


def calserver(server: LiveServer, *args: str) -> str:
    """``calserver ARGS`` on the server's database, in this process (no interpreter to
    start); its output. The server sees the change at its next request."""
    from calserver import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(
            [
                "--storage-database-url",
                server.database_url,
                "--storage-data-folder",
                str(server.data_folder),
                *args,
            ]
        )
    assert code == 0, (args, err.getvalue())
    return out.getvalue()


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def unique(prefix: str = "cal") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def dav(server: LiveServer, user: str = "alice", password: str = PASSWORD) -> caldav.DAVClient:
    return caldav.DAVClient(server.url + "/", username=user, password=password)


def new_calendar(
    server: LiveServer,
    user: str = "alice",
    name: str | None = None,
    components: list[str] | None = None,
) -> caldav.Calendar:
    """A new calendar made by the caldav client (MKCALENDAR)."""
    principal = dav(server, user).principal()
    cal_id = name or unique()
    return principal.make_calendar(
        name=cal_id, cal_id=cal_id, supported_calendar_component_set=components
    )


# --- raw HTTP ----------------------------------------------------------------------


class Reply(Response):
    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)


def send(
    server: LiveServer,
    method: str,
    path: str,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    user: str | None = "alice",
    password: str = PASSWORD,
) -> Reply:
    """One request with ``path`` sent exactly as given (no normalisation)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    parts = urlsplit(server.url)
    conn = httpclient.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        all_headers = {"Content-Length": str(len(body))}
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            all_headers["Authorization"] = "Basic " + token
        all_headers.update(headers or {})
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in all_headers.items():
            conn.putheader(key, value)
        conn.endheaders()
        if body:
            conn.send(body)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def url_path(*segments: str, collection: bool = True) -> str:
    """``/seg/seg/`` with every segment percent-encoded (unicode names)."""
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    return path + "/" if collection else path


def path_of(url: object) -> str:
    """The decoded path of a caldav URL (or string)."""
    return unquote(urlsplit(str(url)).path)


# --- WebDAV XML ----------------------------------------------------------------------


def responses(root: ET.Element) -> dict[str, ET.Element]:
    """``D:response`` elements of a multistatus by decoded href."""
    return {
        unquote(r.findtext("D:href", namespaces=NS) or ""): r
        for r in root.findall("D:response", NS)
    }


def status_code(response: ET.Element) -> int:
    """The status of a response element: its own ``D:status`` or its first propstat's."""
    text = response.findtext("D:status", namespaces=NS)
    if text is None:
        text = response.findtext("D:propstat/D:status", namespaces=NS)
    assert text, ET.tostring(response)
    return int(text.split()[1])


def calendar_data(response: ET.Element) -> str:
    return response.findtext(".//C:calendar-data", namespaces=NS) or ""


def propfind(
    server: LiveServer, path: str, props: list[str], depth: str = "0", user: str = "alice"
) -> ET.Element:
    """A PROPFIND for ``props`` ("D:displayname", "CS:getctag", ...); the multistatus."""
    body = ["<?xml version='1.0' encoding='utf-8'?>"]
    body.append(
        '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
        'xmlns:CS="http://calendarserver.org/ns/" xmlns:ICAL="http://apple.com/ns/ical/">'
    )
    body.append("<D:prop>" + "".join(f"<{p}/>" for p in props) + "</D:prop></D:propfind>")
    reply = send(
        server,
        "PROPFIND",
        path,
        "".join(body),
        {"Depth": depth, "Content-Type": "application/xml"},
        user=user,
    )
    assert reply.status == 207, (reply.status, reply.text)
    return reply.xml()


def prop_text(root: ET.Element, href: str, prop: str) -> str | None:
    """Text of ``prop`` of ``href`` in a 200 propstat, None when not found/200."""
    response = responses(root)[href]
    for propstat in response.findall("D:propstat", NS):
        status = propstat.findtext("D:status", namespaces=NS) or ""
        element = propstat.find(f"D:prop/{prop}", NS)
        if element is not None and " 200 " in status:
            return element.text or ""
    return None


def report(
    server: LiveServer, path: str, body: str, depth: str = "1", user: str = "alice"
) -> Reply:
    return send(
        server,
        "REPORT",
        path,
        body,
        {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
        user=user,
    )


def fixture_path(name: str) -> Path:
    return FIXTURES / name
