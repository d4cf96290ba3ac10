"""A calendar's occurrences in a window as an RSS 2.0 feed (issue 4, item 5).

RSS 2.0 (https://www.rssboard.org/rss-specification) built with ``feedgen``: one
``<item>`` per occurrence, its ``<guid isPermaLink="false">`` made of the event's UID
and the occurrence's RECURRENCE-ID (RFC 5545 3.8.4.4), so that a reader sees the same
entry on every poll; ``<pubDate>`` is the occurrence's start (in UTC), never the time of
the request (or every poll would look new); ``<ttl>`` and an ``atom:link rel="self"`` (RSS
Advisory Board best practice) tell readers how often and where to poll. In a busy view
an entry says "Busy" and its time, nothing else. Pure function: no I/O.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from feedgen.feed import FeedGenerator

from calserver.ical.occurrences import Occurrence, when

BUSY = "Busy"
TTL_MINUTES = 60
_STATUS = {"TENTATIVE": "tentative", "CANCELLED": "cancelled"}
#: Characters XML 1.0 (2.2) does not allow, which lxml refuses: an event text holding
#: one must not make the whole feed fail.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", text)


def rss(
    occurrences: Sequence[Occurrence],
    *,
    title: str,
    link: str,
    self_url: str,
    guid_prefix: str,
    tz: ZoneInfo,
    event_url: Callable[[Occurrence], str] | None = None,
    busy: bool = False,
    description: str = "",
    now: datetime | None = None,
) -> bytes:
    """The RSS 2.0 document (UTF-8) of ``occurrences``, times in ``tz``.

    Entry: title = summary (``Busy`` when ``busy``) and local date and time; link =
    ``event_url(occurrence)`` or ``link``; description (HTML) = time range with the zone
    name, location and description (only the time range when ``busy``); GUID =
    ``guid_prefix`` + :attr:`Occurrence.guid_key`. Channel: ``lastBuildDate`` =
    ``now`` (default: the current time), ``ttl`` 60 minutes.
    """
    feed = FeedGenerator()
    feed.title(_xml(title))
    # feedgen writes the last link given as the RSS <link>: the calendar's, not the feed's
    feed.link(href=_xml(self_url), rel="self")
    feed.link(href=_xml(link), rel="alternate")
    feed.description(_xml(description or title))
    feed.lastBuildDate(now or datetime.now(UTC))
    feed.ttl(TTL_MINUTES)
    feed.generator("calserver")
    for occurrence in occurrences:
        entry = feed.add_entry(order="append")
        entry.guid(_xml(guid_prefix + occurrence.guid_key), permalink=False)
        entry.title(_xml(f"{_summary(occurrence, busy)} ({when(occurrence, tz)})"))
        entry.link(href=_xml(event_url(occurrence) if event_url else link))
        entry.description(_xml(_description(occurrence, tz, busy)))
        entry.pubDate(occurrence.start.astimezone(UTC))
    result: bytes = feed.rss_str(pretty=True)
    return result


def _summary(occurrence: Occurrence, busy: bool) -> str:
    if busy:
        return BUSY
    summary = occurrence.summary or "(no title)"
    status = _STATUS.get(occurrence.status)
    return f"{summary} [{status}]" if status else summary


def _description(occurrence: Occurrence, tz: ZoneInfo, busy: bool) -> str:
    """The entry's HTML: each text escaped, line breaks kept."""
    parts = [f"<p>{html.escape(when(occurrence, tz))} ({html.escape(tz.key)})</p>"]
    if not busy:
        if occurrence.status in _STATUS:
            parts.append(f"<p>Status: {_STATUS[occurrence.status]}</p>")
        if occurrence.location:
            parts.append(f"<p>Location: {_lines(occurrence.location)}</p>")
        if occurrence.description:
            parts.append(f"<p>{_lines(occurrence.description)}</p>")
    return "".join(parts)


def _lines(text: str) -> str:
    return "<br>".join(html.escape(line) for line in text.splitlines())
