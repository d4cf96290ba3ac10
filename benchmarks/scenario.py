"""The CalDAV operations the benchmark times, each checked against what it must return."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from benchmarks import davxml
from benchmarks.davclient import DavClient, Response
from benchmarks.model import Event
from benchmarks.render import render_resource
from benchmarks.timing import CheckFailed

_XML = {"Content-Type": "application/xml; charset=utf-8"}
_ICS = {"Content-Type": "text/calendar; charset=utf-8"}
_UID_LINE = re.compile(rb"^UID:(.+?)\r?$", re.MULTILINE)
_VEVENT_LINE = re.compile(r"^BEGIN:VEVENT\r?$", re.MULTILINE)


@dataclass(frozen=True)
class Timed:
    """The time of a request and what was counted in its answer."""

    seconds: float
    count: int
    response: Response


def _expect(
    response: Response, statuses: tuple[int, ...], method: str, path: str, body: str | None = None
) -> None:
    if response.status not in statuses:
        sent = f"\n  request body: {body[:400]}" if body else ""
        raise CheckFailed(
            f"{method} {path} → {response.status} (expected {'/'.join(map(str, statuses))})"
            f"{sent}\n  response: {response.excerpt()}"
        )


class Scenario:
    """Operations on one calendar collection of one server."""

    def __init__(self, client: DavClient, calendar_path: str) -> None:
        self.client = client
        self.calendar = calendar_path  # e.g. "/bench/cal/"

    def href(self, event: Event) -> str:
        return self.calendar + event.href

    def _report(self, body: str, depth: str | None = "1") -> tuple[Response, davxml.Multistatus]:
        headers = dict(_XML, **({"Depth": depth} if depth is not None else {}))
        response = self.client.request("REPORT", self.calendar, body, headers)
        _expect(response, (207,), "REPORT", self.calendar, body)
        return response, davxml.parse_multistatus(response.body)

    def week_query(self, start: datetime, end: datetime) -> tuple[Timed, list[str]]:
        """calendar-query (time-range, calendar-data); returns the hrefs too."""
        response, status = self._report(davxml.calendar_query(start, end))
        hrefs = status.hrefs(".ics")
        return Timed(response.seconds, len(hrefs), response), hrefs

    def expand_query(self, start: datetime, end: datetime) -> tuple[Timed, list[str], int]:
        """calendar-query with ``C:expand``; returns hrefs and the expanded instance count."""
        response, status = self._report(davxml.calendar_query(start, end, expand=True))
        data = davxml.clark(davxml.CALDAV, "calendar-data")
        instances = sum(len(_VEVENT_LINE.findall(r.props.get(data, ""))) for r in status.responses)
        hrefs = status.hrefs(".ics")
        return Timed(response.seconds, len(hrefs), response), hrefs, instances

    def multiget(self, hrefs: Sequence[str]) -> Timed:
        response, status = self._report(davxml.calendar_multiget(hrefs))
        data = davxml.clark(davxml.CALDAV, "calendar-data")
        found = sum(1 for r in status.responses if r.props.get(data))
        if found != len(hrefs):
            raise CheckFailed(f"calendar-multiget of {len(hrefs)} hrefs returned {found} with data")
        return Timed(response.seconds, found, response)

    def propfind(self, depth: str) -> tuple[Timed, davxml.Multistatus]:
        """Depth 0: getctag + sync-token; Depth 1: getetag of every member."""
        body = davxml.propfind_ctag() if depth == "0" else davxml.propfind_etags()
        response = self.client.request("PROPFIND", self.calendar, body, dict(_XML, Depth=depth))
        _expect(response, (207,), "PROPFIND", self.calendar, body)
        status = davxml.parse_multistatus(response.body)
        if depth == "0":
            props = status.responses[0].props if status.responses else {}
            if not props.get(davxml.clark(davxml.CS, "getctag")) or not props.get(
                davxml.clark(davxml.DAV, "sync-token")
            ):
                raise CheckFailed(
                    f"PROPFIND Depth 0 lacks getctag/sync-token: {response.excerpt()}"
                )
        return Timed(response.seconds, len(status.hrefs(".ics")), response), status

    def sync(self, token: str) -> tuple[Timed, davxml.Multistatus]:
        """sync-collection; ``token`` empty for the initial sync."""
        response, status = self._report(davxml.sync_collection(token), depth=None)
        if not status.sync_token:
            raise CheckFailed(f"sync-collection answer without sync-token: {response.excerpt()}")
        return Timed(response.seconds, len(status.hrefs(".ics")), response), status

    def put(self, event: Event, sequence: int = 0, create: bool = True) -> Timed:
        """PUT an event; ``create`` adds ``If-None-Match: *``."""
        path = self.href(event)
        headers = dict(_ICS, **({"If-None-Match": "*"} if create else {}))
        response = self.client.request("PUT", path, render_resource(event, sequence), headers)
        _expect(response, (201,) if create else (201, 204), "PUT", path)
        return Timed(response.seconds, 1, response)

    def delete(self, href: str) -> Timed:
        response = self.client.request("DELETE", href)
        _expect(response, (200, 204), "DELETE", href)
        return Timed(response.seconds, 1, response)

    def get_calendar(self) -> Timed:
        """GET of the whole calendar; counts the distinct UIDs served."""
        response = self.client.request("GET", self.calendar)
        _expect(response, (200,), "GET", self.calendar)
        uids = {match.strip() for match in _UID_LINE.findall(response.body)}
        return Timed(response.seconds, len(uids), response)
