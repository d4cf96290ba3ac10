"""Minimal WebDAV/CalDAV client and check reporter for the compat scripts.

stdlib only (http.client + ElementTree): it talks to our own server on
127.0.0.1 from a test, so it needs no defusedxml and no third-party client.
Every failed expectation carries the request and the response excerpt, so a
report can be pasted into an issue as is.
"""

from __future__ import annotations

import base64
import http.client
import sys
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = {
    "D": "DAV:",
    "C": "urn:ietf:params:xml:ns:caldav",
    "CS": "http://calendarserver.org/ns/",
    "A": "http://apple.com/ns/ical/",
}

PROPFIND_ETAGS = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/>'
    "</D:prop></D:propfind>"
)

REPORT_ALL_EVENTS = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
    '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/>'
    "</C:comp-filter></C:filter></C:calendar-query>"
)


class DavError(AssertionError):
    pass


@dataclass
class Response:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes
    request_body: bytes | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def describe(self, limit: int = 600) -> str:
        req = f"{self.method} {self.path}"
        if self.request_body:
            req += " body=" + _excerpt(self.request_body, 300)
        return f"request: {req} -> response: {self.status} " + _excerpt(self.body, limit)


def _excerpt(data: bytes, limit: int) -> str:
    text = data.decode("utf-8", "replace").replace("\r", "").replace("\n", "⏎")
    return repr(text if len(text) <= limit else text[:limit] + "…")


class Client:
    def __init__(
        self, base_url: str, user: str | None, password: str | None, timeout: float = 30.0
    ) -> None:
        u = urllib.parse.urlsplit(base_url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.base_path = u.path or "/"
        self.timeout = timeout
        self.auth = None
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.auth = "Basic " + token

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if isinstance(body, str):
            body = body.encode("utf-8")
        hdrs = {"Content-Length": str(len(body or b""))}
        if self.auth:
            hdrs["Authorization"] = self.auth
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            rh = {k.lower(): v for k, v in resp.getheaders()}
            return Response(method, path, resp.status, rh, data, body)
        finally:
            conn.close()

    # -- WebDAV/CalDAV helpers ------------------------------------------------

    def expect(self, resp: Response, *statuses: int) -> Response:
        if resp.status not in statuses:
            raise DavError(f"expected {statuses}, got {resp.status}; {resp.describe()}")
        return resp

    def list_etags(self, coll: str) -> dict[str, str]:
        """PROPFIND Depth 1: {href: etag} of the non-collection members."""
        resp = self.expect(
            self.request(
                "PROPFIND",
                coll,
                PROPFIND_ETAGS,
                {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
            ),
            207,
        )
        out: dict[str, str] = {}
        for r in _responses(resp):
            href = _href(r)
            if r.find(".//D:resourcetype/D:collection", NS) is not None:
                continue
            etag = r.findtext(".//D:propstat/D:prop/D:getetag", None, NS)
            if etag is None:
                raise DavError(f"no getetag for {href}; {resp.describe()}")
            out[href] = etag
        return out

    def all_events(self, coll: str) -> dict[str, tuple[str, str]]:
        """calendar-query REPORT: {href: (etag, calendar-data)}."""
        resp = self.expect(
            self.request(
                "REPORT",
                coll,
                REPORT_ALL_EVENTS,
                {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
            ),
            207,
        )
        out: dict[str, tuple[str, str]] = {}
        for r in _responses(resp):
            href = _href(r)
            data = r.findtext(".//D:propstat/D:prop/C:calendar-data", None, NS)
            etag = r.findtext(".//D:propstat/D:prop/D:getetag", None, NS)
            if data is None or etag is None:
                raise DavError(
                    f"REPORT: missing calendar-data/getetag for {href}; {resp.describe()}"
                )
            out[href] = (etag, data)
        return out

    def get(self, href: str) -> tuple[str, str]:
        resp = self.expect(self.request("GET", href), 200)
        etag = resp.header("etag")
        if not etag:
            raise DavError(f"GET without ETag; {resp.describe()}")
        return etag, resp.body.decode("utf-8")

    def put(
        self, href: str, data: str, *, if_match: str | None = None, if_none_match: bool = False
    ) -> Response:
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if if_match:
            headers["If-Match"] = if_match
        if if_none_match:
            headers["If-None-Match"] = "*"
        return self.request("PUT", href, data, headers)

    def delete(self, href: str, *, if_match: str | None = None) -> Response:
        headers = {"If-Match": if_match} if if_match else {}
        return self.request("DELETE", href, None, headers)

    def propfind_props(self, path: str, props_xml: str, depth: str = "0") -> ET.Element:
        body = (
            '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav" '
            'xmlns:A="http://apple.com/ns/ical/" '
            'xmlns:CS="http://calendarserver.org/ns/">'
            f"<D:prop>{props_xml}</D:prop></D:propfind>"
        )
        resp = self.expect(
            self.request(
                "PROPFIND",
                path,
                body,
                {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
            ),
            207,
        )
        return ET.fromstring(resp.body)


def _responses(resp: Response) -> list[ET.Element]:
    try:
        root = ET.fromstring(resp.body)
    except ET.ParseError as exc:
        raise DavError(f"unparsable multistatus ({exc}); {resp.describe()}") from exc
    return root.findall("D:response", NS)


def _href(r: ET.Element) -> str:
    href = r.findtext("D:href", "", NS)
    return urllib.parse.unquote(urllib.parse.urlsplit(href).path)


@dataclass
class Report:
    """Prints TAP-like lines that run.sh counts: 'ok - NAME' / 'not ok - NAME'."""

    prefix: str
    passed: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def ok(self, name: str) -> None:
        self.passed += 1
        print(f"ok - {self.prefix}: {name}", flush=True)

    def fail(self, name: str, detail: str) -> None:
        self.failed += 1
        self.failures.append(name)
        print(f"not ok - {self.prefix}: {name}", flush=True)
        for line in detail.rstrip().splitlines():
            print(f"    # {line}", flush=True)

    def check(self, name: str, cond: bool, detail: str = "") -> bool:
        if cond:
            self.ok(name)
        else:
            self.fail(name, detail or "condition false")
        return cond

    def exit(self) -> None:
        sys.exit(1 if self.failed else 0)
