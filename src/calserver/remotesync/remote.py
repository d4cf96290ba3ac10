"""The other side of a pair: one calendar of another CalDAV server (RFC 4791), through
the ``caldav`` library's client (its HTTP session, authentication and XML parsing).

What it asks:

- ``getctag`` (calendarserver.org) and ``DAV:sync-token`` (RFC 6578 4) of the calendar,
  Depth 0, to learn cheaply whether anything changed;
- ``sync-collection`` (RFC 6578 3.2) from the last token where the server supports
  it, else a Depth 1 PROPFIND of every member's ``getetag`` (RFC 4918 9.1);
- ``calendar-multiget`` (RFC 4791 7.9) for the bodies it needs;
- PUT with ``If-None-Match: *`` to create and ``If-Match`` to change, DELETE with
  ``If-Match`` (RFC 9110 13.1): a change made there meanwhile is not overwritten.

Where it goes is guarded as a subscription's fetch is: the host must resolve to public
addresses only, unless an address lies in ``[sync] allowed_networks`` (checked before
each run, and on the OAuth2 token endpoint); no redirect is followed.

OAuth2 (RFC 6749 6): a bearer token is refreshed at the token endpoint when it has
expired or the server answers 401, and the new tokens are handed to ``on_refresh`` to
be stored.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

from caldav.davclient import DAVClient
from caldav.lib import error as caldav_error
from caldav.requests import HTTPBearerAuth

DAV, CALDAV, CS = "DAV:", "urn:ietf:params:xml:ns:caldav", "http://calendarserver.org/ns/"


class RemoteError(Exception):
    """The remote could not be reached, refused us, or answered what we cannot use."""


class AuthFailed(RemoteError):
    pass


class Refused(RemoteError):
    """An address the worker will not reach (SSRF guard)."""


class TokenExpired(RemoteError):
    """sync-collection refused our token (RFC 6578 3.2, valid-sync-token)."""


def check_address(url: str, allowed: list[Any]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RemoteError(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]))
        if any(ip in network for network in allowed):
            continue
        if not ip.is_global or ip.is_multicast:
            raise Refused(
                f"{parts.hostname} resolves to {ip}, not a public address "
                "(see [sync] allowed_networks)"
            )


@dataclass
class Credentials:
    auth_type: str  # basic | oauth2
    username: str = ""
    values: dict[str, Any] = field(default_factory=dict)


def refresh_token(
    creds: Credentials, allowed: list[Any], timeout: float, now: float | None = None
) -> dict[str, Any]:
    """RFC 6749 6: a new access token for the refresh token; the new values."""
    values = creds.values
    endpoint = str(values.get("token_url", ""))
    if not endpoint or not values.get("refresh_token"):
        raise AuthFailed("OAuth2: no token endpoint or refresh token to get a new access token")
    check_address(endpoint, allowed)
    body = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "refresh_token": values["refresh_token"],
            "client_id": values.get("client_id", ""),
            "client_secret": values.get("client_secret", ""),
        }
    ).encode()
    request = urllib.request.Request(
        endpoint,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as answer:
            data = json.loads(answer.read(1_000_000))
    except urllib.error.HTTPError as exc:
        raise AuthFailed(f"OAuth2 token endpoint answered {exc.code}") from exc
    except (OSError, ValueError) as exc:
        raise RemoteError(f"OAuth2 token endpoint: {exc}") from exc
    if not isinstance(data, dict) or not data.get("access_token"):
        raise AuthFailed("OAuth2 token endpoint gave no access_token")
    now = time.time() if now is None else now
    updated = dict(values)
    updated["access_token"] = str(data["access_token"])
    if data.get("refresh_token"):
        updated["refresh_token"] = str(data["refresh_token"])
    expires_in = data.get("expires_in")
    updated["expires_at"] = now + float(expires_in) if expires_in else 0.0
    return updated


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _href_key(href: str) -> str:
    return unquote(urlsplit(href).path)


class Remote:
    """One remote calendar (its URL ends with ``/``)."""

    def __init__(
        self,
        url: str,
        creds: Credentials,
        *,
        allowed: list[Any],
        timeout: float,
        on_refresh: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.creds = creds
        self.allowed = allowed
        self.timeout = timeout
        self.on_refresh = on_refresh
        check_address(self.url, allowed)
        self.client = self._client()

    def _client(self) -> DAVClient:
        kwargs: dict[str, Any] = {
            "url": self.url,
            "timeout": int(self.timeout) or 1,
            "enable_rfc6764": False,
            "rate_limit_handle": False,
        }
        if self.creds.auth_type == "oauth2":
            values = self.creds.values
            expires = float(values.get("expires_at") or 0)
            if not values.get("access_token") or (expires and expires < time.time() + 30):
                self._refresh()
            kwargs["auth"] = HTTPBearerAuth(str(self.creds.values["access_token"]))
        else:
            kwargs.update(
                username=self.creds.username,
                password=str(self.creds.values.get("password", "")),
                auth_type="basic",
            )
        client = DAVClient(**kwargs)
        client.session.max_redirects = 0  # a redirect is an error, never followed unchecked
        return client

    def _refresh(self) -> None:
        self.creds.values = refresh_token(self.creds, self.allowed, self.timeout)
        if self.on_refresh is not None:
            self.on_refresh(self.creds.values)

    def request(
        self, url: str, method: str, body: str = "", headers: dict[str, str] | None = None
    ) -> Any:
        for attempt in (1, 2):
            try:
                return self.client.request(url, method, body, headers or {})
            except caldav_error.AuthorizationError as exc:
                if self.creds.auth_type == "oauth2" and attempt == 1:
                    self._refresh()  # RFC 6750 3.1: invalid_token -> a new one, once
                    self.client = self._client()
                    continue
                raise AuthFailed(f"{self._host()} refused the credentials ({method})") from exc
            except caldav_error.DAVError as exc:
                raise RemoteError(f"{self._host()}: {exc}") from exc
            except Exception as exc:  # the HTTP library's many kinds: connection, timeout
                raise RemoteError(f"{self._host()}: {exc.__class__.__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def _host(self) -> str:
        return urlsplit(self.url).netloc

    def _multistatus(self, response: Any, what: str) -> Any:
        if response.status != 207 or response.tree is None:
            raise RemoteError(f"{self._host()} answered {what} with {response.status}")
        return response.tree

    # --- reading ------------------------------------------------------------------

    def state(self) -> tuple[str, str]:
        """(ctag, sync-token) of the calendar, "" for what it does not offer."""
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="{DAV}" '
            f'xmlns:cs="{CS}"><d:prop><cs:getctag/><d:sync-token/>'
            "<d:resourcetype/></d:prop></d:propfind>"
        )
        tree = self._multistatus(
            self.request(
                self.url, "PROPFIND", body, {"Depth": "0", "Content-Type": "application/xml"}
            ),
            "PROPFIND",
        )
        calendar = tree.find(f".//{{{DAV}}}resourcetype/{{{CALDAV}}}calendar")
        if calendar is None:
            raise RemoteError(f"{self.url} is not a calendar")
        ctag = tree.findtext(f".//{{{CS}}}getctag") or ""
        token = tree.findtext(f".//{{{DAV}}}sync-token") or ""
        return ctag.strip(), token.strip()

    def listing(self) -> dict[str, str]:
        """{href: ETag} of every member (Depth 1 PROPFIND)."""
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="{DAV}">'
            "<d:prop><d:getetag/><d:resourcetype/></d:prop></d:propfind>"
        )
        tree = self._multistatus(
            self.request(
                self.url, "PROPFIND", body, {"Depth": "1", "Content-Type": "application/xml"}
            ),
            "PROPFIND",
        )
        own = _href_key(self.url)
        found: dict[str, str] = {}
        for response in tree.iter(f"{{{DAV}}}response"):
            href = _href_key(urljoin(self.url, response.findtext(f"{{{DAV}}}href") or ""))
            if href.rstrip("/") == own.rstrip("/") or href.endswith("/"):
                continue
            etag = response.findtext(f".//{{{DAV}}}getetag")
            if etag:
                found[href] = etag.strip()
        return found

    def changes(self, token: str) -> tuple[dict[str, str], set[str], str]:
        """RFC 6578 3.2: ({href: ETag} changed, hrefs removed, new token) since ``token``."""
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="{DAV}">'
            f"<d:sync-token>{escape(token)}</d:sync-token><d:sync-level>1</d:sync-level>"
            "<d:prop><d:getetag/></d:prop></d:sync-collection>"
        )
        response = self.request(
            self.url, "REPORT", body, {"Depth": "1", "Content-Type": "application/xml"}
        )
        if response.status in (403, 409):  # valid-sync-token precondition
            raise TokenExpired(f"{self._host()} refused the sync token")
        tree = self._multistatus(response, "sync-collection")
        changed: dict[str, str] = {}
        removed: set[str] = set()
        for element in tree.findall(f"{{{DAV}}}response"):
            href = _href_key(urljoin(self.url, element.findtext(f"{{{DAV}}}href") or ""))
            if href.endswith("/"):
                continue
            status = element.findtext(f"{{{DAV}}}status") or ""
            etag = element.findtext(f".//{{{DAV}}}getetag")
            if " 404 " in status + " " and not etag:
                removed.add(href)
            elif etag:
                changed[href] = etag.strip()
        new_token = (tree.findtext(f"{{{DAV}}}sync-token") or "").strip()
        return changed, removed, new_token

    def fetch(self, hrefs: list[str]) -> dict[str, tuple[str, str]]:
        """{href: (ETag, text)} of ``hrefs`` that still exist (calendar-multiget)."""
        result: dict[str, tuple[str, str]] = {}
        for start in range(0, len(hrefs), 100):
            chunk = hrefs[start : start + 100]
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="{DAV}" '
                f'xmlns:c="{CALDAV}"><d:prop><d:getetag/><c:calendar-data/></d:prop>'
                + "".join(f"<d:href>{escape(urllib.parse.quote(h))}</d:href>" for h in chunk)
                + "</c:calendar-multiget>"
            )
            tree = self._multistatus(
                self.request(
                    self.url, "REPORT", body, {"Depth": "1", "Content-Type": "application/xml"}
                ),
                "calendar-multiget",
            )
            for element in tree.findall(f"{{{DAV}}}response"):
                href = _href_key(urljoin(self.url, element.findtext(f"{{{DAV}}}href") or ""))
                etag = element.findtext(f".//{{{DAV}}}getetag")
                data = element.findtext(f".//{{{CALDAV}}}calendar-data")
                if etag and data:
                    result[href] = (etag.strip(), data.replace("\r\n", "\n").replace("\n", "\r\n"))
        return result

    # --- writing ------------------------------------------------------------------

    def href_for(self, name: str) -> str:
        return _href_key(self.url) + name

    def put(self, href: str, text: str, etag: str | None) -> str:
        """Create (``etag`` None) or replace the member; its new ETag ("" if not said)."""
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if etag is None:
            headers["If-None-Match"] = "*"
        elif etag:
            headers["If-Match"] = etag
        response = self.request(urljoin(self.url, urllib.parse.quote(href)), "PUT", text, headers)
        if response.status not in (200, 201, 204):
            raise RemoteError(f"{self._host()} answered PUT {href} with {response.status}")
        return str(response.headers.get("ETag") or "").strip()

    def delete(self, href: str, etag: str) -> None:
        headers = {"If-Match": etag} if etag else {}
        response = self.request(urljoin(self.url, urllib.parse.quote(href)), "DELETE", "", headers)
        if response.status not in (200, 204, 404, 412):
            raise RemoteError(f"{self._host()} answered DELETE {href} with {response.status}")
